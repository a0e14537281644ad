# Functions and commands that reach outside the database's tables (server files, shell
# commands, other servers, server configuration, loaded code) or that run SQL the gateway
# cannot see. Functions are matched by name whatever schema qualifies them, wherever they
# appear (subqueries, lateral joins, column defaults, PREPARE).
package auditgate.rules.statement

import data.auditgate.lib

# ---- functions ------------------------------------------------------------------------------

deny contains concat("", ["function ", lib.qualified(f), "() is not allowed: ", why]) if {
	some f in lib.stmt.functions
	why := lib.cfg.functions.denied[lower(f.name)]
}

deny contains concat("", ["function ", lib.qualified(f), "() is not allowed: ", why]) if {
	some f in lib.stmt.functions
	some prefix, why in lib.cfg.functions.denied_prefixes
	startswith(lower(f.name), prefix)
}

tags contains "dangerous" if {
	some f in lib.stmt.functions
	lib.cfg.functions.denied[lower(f.name)]
}

tags contains "dangerous" if {
	some f in lib.stmt.functions
	some prefix, _ in lib.cfg.functions.denied_prefixes
	startswith(lower(f.name), prefix)
}

# Administrative functions: humans in functions.admin_groups only.
administrator if {
	lib.identity_kind == "human"
	lib.in_any_group(lib.cfg.functions.admin_groups)
}

deny contains concat("", [
	"function ", lib.qualified(f), "() is reserved for administrators (",
	concat(", ", lib.cfg.functions.admin_groups), "): ", why,
]) if {
	some f in lib.stmt.functions
	why := lib.cfg.functions.admin[lower(f.name)]
	not administrator
}

tags contains "admin" if {
	some f in lib.stmt.functions
	lib.cfg.functions.admin[lower(f.name)]
}

# ---- commands -------------------------------------------------------------------------------

# The statement's utility command, command tag and DDL commands, upper-cased.
commands contains upper(c) if {
	some c in [object.get(lib.stmt, "utility", null), object.get(lib.stmt, "command_tag", null)]
	is_string(c)
}

commands contains upper(op.command) if {
	some op in lib.stmt.operations
	is_string(op.command)
}

deny contains concat("", [c, " is not allowed: ", why]) if {
	some c in commands
	why := lib.cfg.commands.denied[c]
}

tags contains "dangerous" if {
	some c in commands
	lib.cfg.commands.denied[c]
}

# ---- COPY -----------------------------------------------------------------------------------

default copy_direction := "?"

copy_direction := upper(lib.stmt.copy.direction) if is_string(lib.stmt.copy.direction)

deny contains concat("", [
	"COPY ", copy_direction, " PROGRAM ", lib.quote(lib.stmt.copy.target),
	" is not allowed: it runs a shell command on the database server",
]) if {
	lib.stmt.copy.program == true
}

deny contains concat("", [
	"COPY ", copy_direction, " server file ", lib.quote(lib.stmt.copy.target),
	" is not allowed: it ", object.get(copy_file_effect, lib.stmt.copy.direction, "reads or writes"),
	" files on the database server (use STDIN/STDOUT)",
]) if {
	is_object(lib.stmt.copy)
	not lib.stmt.copy.program == true
	not lib.stmt.copy.stdio == true
}

copy_file_effect := {"from": "reads", "to": "writes"}

tags contains "dangerous" if {
	is_object(lib.stmt.copy)
	not lib.stmt.copy.stdio == true
}
