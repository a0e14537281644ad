# Opaque code: DO blocks and CREATE FUNCTION/PROCEDURE carry bodies the analyzer cannot see
# into, so they never run unchecked: refused or held for approval per identity kind
# (data procedural.<kind>: deny | approval; default deny). CALL runs a procedure whose body is
# equally opaque: it needs approval unless the procedure is on calls.allowed_procedures.
package auditgate.rules.statement

import data.auditgate.lib

default procedural_action := "deny"

procedural_action := lib.cfg.procedural[lib.identity_kind] if is_string(lib.cfg.procedural[lib.identity_kind])

default procedural_language := ""

procedural_language := concat("", [" (language ", lib.stmt.procedural.language, ")"]) if {
	is_string(lib.stmt.procedural.language)
}

default procedural_what := "procedural code"

procedural_what := "DO block" if upper(lib.stmt.command_tag) == "DO"

procedural_what := upper(lib.stmt.command_tag) if {
	lib.nonempty_string(lib.stmt.command_tag)
	upper(lib.stmt.command_tag) != "DO"
}

procedural_label := concat("", [procedural_what, procedural_language])

deny contains concat("", [
	procedural_label, " is not allowed for ", lib.describe(lib.identity_kind),
	" identities: its code is opaque to the gateway and would run unchecked",
]) if {
	lib.stmt.kind == "procedural"
	procedural_action != "approval"
}

approval contains {
	"approvers": lib.cfg.approvals.procedural.approvers,
	"reason": concat("", [procedural_label, " requires approval: its code is opaque to the gateway"]),
	"ttl_seconds": lib.cfg.approvals.procedural.ttl_seconds,
	"count": lib.approvals_required(lib.cfg.approvals.procedural),
} if {
	lib.stmt.kind == "procedural"
	procedural_action == "approval"
}

tags contains "procedural" if lib.stmt.kind == "procedural"

# ---- CALL -----------------------------------------------------------------------------------

allowed_procedures := {lower(p) | some p in lib.cfg.calls.allowed_procedures}

# Qualified call: "schema.name" or a bare "name" entry.
procedure_allowed(f) if allowed_procedures[lower(lib.qualified(f))]

procedure_allowed(f) if allowed_procedures[lower(f.name)]

# Unqualified call: the search_path decides, so only entries in a default schema count.
procedure_allowed(f) if {
	not lib.qualified_ref(f)
	some s in lib.cfg.production.default_schemas
	allowed_procedures[concat(".", [lower(s), lower(f.name)])]
}

# Every function of the CALL (procedure and argument expressions) must be allow-listed.
unlisted_calls := {lib.qualified(f) | some f in lib.stmt.functions; not procedure_allowed(f)}

call_needs_approval if {
	lib.stmt.kind == "call"
	count(unlisted_calls) > 0
}

call_needs_approval if {
	lib.stmt.kind == "call"
	count(lib.stmt.functions) == 0
}

default call_target := "an unknown procedure"

call_target := concat("", [concat("(), ", sort(unlisted_calls)), "()"]) if count(unlisted_calls) > 0

approval contains {
	"approvers": lib.cfg.approvals.calls.approvers,
	"reason": concat("", ["CALL of ", call_target, " requires approval: not on the procedure allow-list"]),
	"ttl_seconds": lib.cfg.approvals.calls.ttl_seconds,
	"count": lib.approvals_required(lib.cfg.approvals.calls),
} if {
	call_needs_approval
}

tags contains "call" if lib.stmt.kind == "call"
