# The statement rules. Each file of package auditgate.rules.statement contributes to:
#   deny      contains "reason"                              refuses the statement
#   approval  contains {"approvers": [...], "reason": "...", "ttl_seconds": n}
#   mask      contains {"column": "schema.table.column", "method": "..."}
#   detectors contains "name"                                content detectors to run
#   tags      contains "tag"
#   volatile  contains "time" | "params" | ...               the decision read something that
#                                                             changes between executions;
#             contains "literals"                            or read the SQL text or a value
#                                                             written in it (a COPY target, a SET
#                                                             value, a body, a name)
# The entrypoint (policies/rego/auditgate.rego) aggregates them.
#
# This file: the session's identity must still pass every connect rule (a bundle reload that
# distrusts an issuer also stops sessions already open).
package auditgate.rules.statement

deny contains reason if {
	some reason in data.auditgate.rules.connect.deny
}
