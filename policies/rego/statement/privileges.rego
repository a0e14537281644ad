# Privileges and the session's identity are not the agent's to change: GRANT/REVOKE and role
# management, SET ROLE / SET SESSION AUTHORIZATION / RESET ROLE / RESET ALL, and settings that
# switch off integrity checks. set_config('role', ...) is in functions.denied (dangerous.rego).
package auditgate.rules.statement

import data.auditgate.lib

deny contains concat("", [
	privilege_command,
	" is not allowed: privilege changes go through change management, not through the gateway",
]) if {
	lib.stmt.kind == "privilege"
}

default privilege_command := "privilege change"

privilege_command := upper(lib.stmt.command_tag) if lib.nonempty_string(lib.stmt.command_tag)

tags contains "privilege" if lib.stmt.kind == "privilege"

# ---- SET ROLE and friends -------------------------------------------------------------------

changes_role if lib.stmt.kind == "set_role"

changes_role if lower(lib.stmt.set.name) in {"role", "session_authorization"}

deny contains concat("", [
	set_command,
	" is not allowed: the session role is fixed by the gateway (",
	lib.session_role, ")",
]) if {
	changes_role
}

tags contains "privilege" if changes_role

default set_command := "SET ROLE"

set_command := "RESET ALL" if {
	lib.stmt.set.reset == true
	lower(lib.stmt.set.name) == "all"
}

set_command := concat(" ", ["RESET", setting_words]) if {
	lib.stmt.set.reset == true
	lower(lib.stmt.set.name) != "all"
}

set_command := concat(" ", ["SET", setting_words]) if {
	not lib.stmt.set.reset == true
	is_string(lib.stmt.set.name)
}

setting_words := upper(replace(lib.stmt.set.name, "_", " "))

# ---- settings ---------------------------------------------------------------------------------

deny contains concat("", ["SET ", lower(lib.stmt.set.name), " is not allowed: ", why]) if {
	lib.stmt.kind == "set"
	not lib.stmt.set.reset == true
	why := lib.cfg.settings.denied[lower(lib.stmt.set.name)]
}

tags contains "dangerous" if {
	lib.stmt.kind == "set"
	not lib.stmt.set.reset == true
	lib.cfg.settings.denied[lower(lib.stmt.set.name)]
}
