# Helpers shared by the default rules (and usable by yours): configuration, identity,
# table naming and classification. No decisions are made here.
#
# Only builtins in policies/capabilities.json compile: the bundle runs in opa-wasm.
#
# Two things to know when writing rules for this bundle:
#  - OPA evaluates the arguments of a call before a `not`: `not is_string(x.y)` is FALSE, not
#    true, when x.y is undefined. Never pass a possibly undefined reference to a function
#    under `not`; test a helper rule or function of a defined value instead (has_table(op),
#    qualified_ref(t) below), or use `else`.
#  - wasm has no rule indexing: prefer object lookups (data.x[key]) to scanning lists.
package auditgate.lib

# All tunables: policies/data/auditgate_config/data.yaml.
cfg := data.auditgate_config

stmt := input.statement

# ---- identity -------------------------------------------------------------------------------

identity_kind := input.identity.kind

default kind_config := null

kind_config := cfg.identity_kinds[identity_kind]

is_agent if identity_kind == "agent"

# Any of `wanted` (an array or set of group names) is among the identity's groups.
in_any_group(wanted) if {
	some g in wanted
	g in input.identity.groups
}

# ---- session --------------------------------------------------------------------------------

# The session's environment, null when it has none.
environment := input.session.environment if is_string(input.session.environment)

else := null

# A session is read-only unless the connect decision said otherwise (fail closed: a missing
# or non-boolean read_only counts as read-only).
default session_read_only := true

session_read_only := false if input.session.read_only == false

session_role := input.session.upstream_role if is_string(input.session.upstream_role)

else := "(no role)"

# ---- strings --------------------------------------------------------------------------------

nonempty_string(x) if {
	is_string(x)
	trim_space(x) != ""
}

# Any value as text, for messages.
describe(x) := x if is_string(x)

else := json.marshal(x)

quote(x) := concat("", ["'", describe(x), "'"])

# ---- tables, functions, operations ----------------------------------------------------------

# The SQL qualified the name with a schema (tables, functions: {schema, name}).
qualified_ref(t) if is_string(t.schema)

# "schema.name", or "name" when the SQL did not qualify it.
qualified(t) := concat(".", [t.schema, t.name]) if {
	is_string(t.schema)
	is_string(t.name)
} else := t.name if is_string(t.name)

else := "(unnamed)"

# The operation targets a table ({schema, name}); table-less DDL (CREATE SCHEMA) does not.
has_table(op) if is_object(op.table)

# What an operation is, in words: "DELETE", "COPY FROM", "CREATE TABLE" ...
op_verb(op) := upper(op.command) if {
	op.kind == "ddl"
	is_string(op.command)
} else := "DDL" if {
	op.kind == "ddl"
} else := upper(replace(op.kind, "_", " ")) if {
	is_string(op.kind)
} else := "(unknown operation)"

# "DELETE on public.orders", "CREATE SCHEMA" (no table).
op_label(op) := concat(" on ", [op_verb(op), qualified(op.table)]) if has_table(op)

else := op_verb(op)

# ---- production classification --------------------------------------------------------------
#
# Data (lower case): production.schemas [schema], production.tables {schema: [table]},
# production.default_schemas [schema], production.environments [environment].

# A session with no environment counts as production (fail closed).
production_env if environment in cfg.production.environments

production_env if environment == null

# is_production(t): t ({schema, name}) is a production table (ignores the environment).
is_production(t) if {
	qualified_ref(t)
	lower(t.schema) in cfg.production.schemas
}

is_production(t) if {
	qualified_ref(t)
	lower(t.name) in cfg.production.tables[lower(t.schema)]
}

# Unqualified: conservative, a production table of that name in any schema ...
is_production(t) if {
	not qualified_ref(t)
	some names in cfg.production.tables
	lower(t.name) in names
}

# ... or the search_path itself points at a production schema.
is_production(t) if {
	not qualified_ref(t)
	some s in cfg.production.default_schemas
	s in cfg.production.schemas
}

# production_op(op): the operation changes production data or schema in a production
# environment. Table-less DDL (CREATE SCHEMA, DROP SCHEMA ... CASCADE) counts as production.
production_op(op) if {
	production_env
	has_table(op)
	is_production(op.table)
}

production_op(op) if {
	production_env
	not has_table(op)
}

# ---- statement shape ------------------------------------------------------------------------

# Kinds whose statements change data or schema.
write_kinds := {"insert", "update", "delete", "merge", "copy_from", "ddl"}

# The statement writes production tables (or runs production DDL).
production_change if {
	some op in stmt.operations
	production_op(op)
}

production_change if {
	stmt.kind == "ddl"
	count(stmt.operations) == 0
	production_env
}

# ---- masking classification -----------------------------------------------------------------
#
# Data (lower case): masking.columns {schema: {table: {column: spec}}}, masking.classes.

# Classified tables a table reference may denote, as [schema, table] (unqualified: any schema).
classified_tables(t) := {[s, n] |
	s := lower(t.schema)
	n := lower(t.name)
	cfg.masking.columns[s][n]
} if {
	qualified_ref(t)
} else := {[s, n] |
	n := lower(t.name)
	some s, tables in cfg.masking.columns
	tables[n]
}

# Classified tables the statement touches (any access), as [schema, table].
sensitive_tables := {st |
	some t in stmt.tables
	some st in classified_tables(t)
}

# The classified columns of a [schema, table]: {column: spec}.
classified_columns(st) := cfg.masking.columns[st[0]][st[1]]

# The identity may see values of the column's class unmasked: member of one of the class's
# cleared_groups, or (when masking.clearance_claim names a claim) the class is in that claim.
cleared(spec) if cleared_classes[spec.class]

# Computed once per decision: the classes this identity is cleared for.
cleared_classes contains class if {
	some class, config in cfg.masking.classes
	in_any_group(config.cleared_groups)
}

cleared_classes contains class if {
	claim := cfg.masking.clearance_claim
	is_string(claim)
	some class in input.identity.claims[claim]
	is_string(class)
}

# The column's method, else its class's, else masking.default_method, else "redact".
mask_method(spec) := spec.method if {
	is_string(spec.method)
} else := cfg.masking.classes[spec.class].method if {
	is_string(cfg.masking.classes[spec.class].method)
} else := cfg.masking.default_method if {
	is_string(cfg.masking.default_method)
} else := "redact"

# How many distinct approvers an approval setting demands (`count`, default 1).
approvals_required(setting) := object.get(setting, "count", 1)
