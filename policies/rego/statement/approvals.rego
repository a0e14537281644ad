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
