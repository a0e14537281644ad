# Approvals that released a statement (input.approval).
package auditgate.rules.statement

import data.auditgate.lib

# Segregation of duties: nobody approves their own statement.
deny contains concat("", [
	"approval ", lib.describe(input.approval.id), " was given by the requester ",
	lib.describe(input.identity.subject), ": an approval must come from someone else",
]) if {
	is_object(input.approval)
	input.approval.approved_by == input.identity.subject
}

# A session whose upstream role came from an approved access request (input.session.grant)
# may use it until the grant ends: statements after that are refused, without a reconnect.
# Times are RFC 3339 UTC strings of the same shape, so they compare as strings.
deny contains concat("", [
	"the access grant ", lib.describe(input.session.grant.request_id), " for role ",
	lib.describe(input.session.grant.role), " ended at ", input.session.grant.until,
]) if {
	is_object(input.session.grant)
	input.time.now >= input.session.grant.until
}

volatile contains "time" if is_object(input.session.grant)
