# Writes and DDL: none in a read-only session; no UPDATE/DELETE without WHERE (every
# operation, data-modifying CTEs and EXPLAIN ANALYZE included); changes to production tables
# need approval (approvals.production_writes). Classification: lib.is_production.
package auditgate.rules.statement

import data.auditgate.lib

# ---- read-only sessions ---------------------------------------------------------------------

deny contains concat("", [lib.op_label(op), " is not allowed: the session is read-only (role ", lib.session_role, ")"]) if {
	lib.session_read_only
	some op in lib.stmt.operations
}

deny contains concat("", [statement_command, " is not allowed: the session is read-only (role ", lib.session_role, ")"]) if {
	lib.session_read_only
	lib.write_kinds[lib.stmt.kind]
	count(lib.stmt.operations) == 0
}

default statement_command := "statement"

statement_command := upper(lib.stmt.command_tag) if lib.nonempty_string(lib.stmt.command_tag)

# ---- UPDATE / DELETE without WHERE ----------------------------------------------------------

deny contains concat("", [lib.op_label(op), " without WHERE is not allowed: it would change every row"]) if {
	some op in lib.stmt.operations
	op.kind in lib.cfg.writes.require_where
	not op.has_where == true
}

# ---- production -----------------------------------------------------------------------------

production_approval(reason) := {
	"approvers": lib.cfg.approvals.production_writes.approvers,
	"reason": reason,
	"ttl_seconds": lib.cfg.approvals.production_writes.ttl_seconds,
	"count": lib.approvals_required(lib.cfg.approvals.production_writes),
}

approval contains production_approval(concat("", [
	lib.op_verb(op), " on production table ", lib.qualified(op.table), " requires approval",
])) if {
	some op in lib.stmt.operations
	lib.has_table(op)
	lib.production_op(op)
}

approval contains production_approval(concat("", [
	lib.op_verb(op), " in a production environment requires approval",
])) if {
	some op in lib.stmt.operations
	not lib.has_table(op)
	lib.production_op(op)
}

approval contains production_approval(concat("", [
	statement_command, " in a production environment requires approval",
])) if {
	lib.stmt.kind == "ddl"
	count(lib.stmt.operations) == 0
	lib.production_env
}

# ---- tags -----------------------------------------------------------------------------------

tags contains "write" if {
	some op in lib.stmt.operations
	op.kind != "ddl"
}

tags contains "write" if lib.stmt.kind in {"insert", "update", "delete", "merge", "copy_from"}

tags contains "ddl" if {
	some op in lib.stmt.operations
	op.kind == "ddl"
}

tags contains "ddl" if lib.stmt.kind == "ddl"

tags contains "production" if lib.production_change
