# Masking: for every classified table the statement touches (any access: read, write with
# RETURNING, COPY TO, joins, subqueries; unqualified names match the table in any schema), each
# classified column the identity is not cleared for gets a mask instruction. Clearance: member
# of one of the class's cleared_groups, or (when masking.clearance_claim is set) the class is
# listed in that identity claim. Such statements also get the content detectors and the tag
# "sensitive", for values whose origin the gateway cannot resolve.
#
# Copies: a write into a table that is not classified (INSERT ... SELECT, CREATE TABLE AS,
# CREATE VIEW, UPDATE ... FROM) in a statement that reads columns the identity would see
# masked needs approval (approvals.sensitive_copies): the copy would be read unmasked later.
package auditgate.rules.statement

import data.auditgate.lib

mask contains {"column": concat(".", [st[0], st[1], column]), "method": lib.mask_method(spec)} if {
	some st in lib.sensitive_tables
	some column, spec in lib.classified_columns(st)
	not lib.cleared(spec)
}

detectors contains d if {
	count(lib.sensitive_tables) > 0
	some d in lib.cfg.masking.detectors
}

tags contains "sensitive" if count(lib.sensitive_tables) > 0

# Classified tables with at least one column masked for this identity.
masked_tables := {concat(".", st) |
	some st in lib.sensitive_tables
	some _, spec in lib.classified_columns(st)
	not lib.cleared(spec)
}

# The operation writes somewhere that is not itself classified.
unclassified_target(op) if count(lib.classified_tables(op.table)) == 0

approval contains {
	"approvers": lib.cfg.approvals.sensitive_copies.approvers,
	"reason": concat("", [
		lib.op_label(op), " with data from classified ", concat(", ", sort(masked_tables)),
		" requires approval: the copy would not be masked",
	]),
	"ttl_seconds": lib.cfg.approvals.sensitive_copies.ttl_seconds,
	"count": lib.approvals_required(lib.cfg.approvals.sensitive_copies),
} if {
	count(masked_tables) > 0
	some op in lib.stmt.operations
	op.kind in {"insert", "update", "merge", "ddl"}
	lib.has_table(op)
	unclassified_target(op)
}
