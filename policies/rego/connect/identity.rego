# Who may open a session: a trusted issuer, a known identity kind, the claims that kind must
# carry. Every reason here also refuses each statement of the session (statement/identity.rego).
#
# Add your own: `deny contains "why" if { ... }` in package auditgate.rules.connect, any file.
package auditgate.rules.connect

import data.auditgate.lib

deny contains "no identity: the session presented no identity" if not has_identity

has_identity if is_object(input.identity)

deny contains "identity has no subject" if {
	has_identity
	not has_subject
}

has_subject if lib.nonempty_string(input.identity.subject)

deny contains concat("", ["issuer ", lib.describe(issuer), " is not trusted"]) if {
	is_object(input.identity)
	issuer := object.get(input.identity, "issuer", null)
	not trusted_issuers[issuer]
}

trusted_issuers := {i | some i in lib.cfg.connect.trusted_issuers}

deny contains concat("", [
	"identity kind ", lib.quote(kind), " is not allowed (allowed: ",
	concat(", ", sort(object.keys(lib.cfg.identity_kinds))), ")",
]) if {
	is_object(input.identity)
	kind := object.get(input.identity, "kind", null)
	not lib.cfg.identity_kinds[kind]
}

deny contains concat("", [
	lib.identity_kind, " ", lib.describe(input.identity.subject),
	" is missing required claim ", lib.quote(claim),
]) if {
	some claim in lib.kind_config.required_claims
	not lib.nonempty_string(object.get(object.get(input.identity, "claims", {}), claim, null))
}
