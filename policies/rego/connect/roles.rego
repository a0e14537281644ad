# Which upstream role a session gets, whether it is read-only, and how long it may last.
#
# role_grants: {role, priority, read_only}; the entrypoint picks the highest priority (ties:
# the first role name in sort order; read-only if any grant of that role says so).
# session_limits: numbers of seconds; the entrypoint takes the smallest.
# Add your own grants or limits from another file of this package.
package auditgate.rules.connect

import data.auditgate.lib

# Only a role configured with read_only: false may write (unknown roles are read-only).
role_read_only(role) := false if lib.cfg.roles.grants[role].read_only == false

role_read_only(role) if not lib.cfg.roles.grants[role].read_only == false

# Everyone of a known kind gets the kind's default role.
role_grants contains {"role": role, "priority": 0, "read_only": role_read_only(role)} if {
	role := lib.kind_config.default_role
}

# Members of the kind's writer groups get the writer role.
role_grants contains {"role": role, "priority": 10, "read_only": role_read_only(role)} if {
	lib.in_any_group(lib.kind_config.writer_groups)
	role := lib.cfg.roles.writer
}

session_limits contains lib.kind_config.max_session_seconds

# A role granted for a while by an approved access request (input.grants: only active ones,
# from the approvals store) outranks the standing grants until it ends.
role_grants contains {"role": g.role, "priority": 20, "read_only": role_read_only(g.role)} if {
	some g in input.grants
	is_string(g.role)
}
