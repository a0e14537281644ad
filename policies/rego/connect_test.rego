# Unit tests for data.auditgate.connect (opa test policies/rego policies/data).
package auditgate.rules.connect_test

import data.auditgate.fixtures_test as fx

test_agent_gets_the_read_only_role if {
	d := data.auditgate.connect with input as fx.connect_input(fx.agent)
	d == {"allow": true, "upstream_role": "auditgate_reader", "deny": [], "read_only": true, "max_session_seconds": 3600}
}

test_writer_group_gets_the_writer_role if {
	d := data.auditgate.connect with input as fx.connect_input(fx.writer_agent)
	d.allow
	d.upstream_role == "auditgate_writer"
	d.read_only == false
}

test_dba_human_writes_for_eight_hours if {
	d := data.auditgate.connect with input as fx.connect_input(fx.dba)
	d.upstream_role == "auditgate_writer"
	d.max_session_seconds == 28800
}

test_untrusted_issuer_is_refused if {
	d := data.auditgate.connect with input as fx.connect_input(object.union(fx.agent, {"issuer": "https://evil.test"}))
	d.allow == false
	d.upstream_role == null
	d.max_session_seconds == 0
	d.deny == ["issuer https://evil.test is not trusted"]
}

test_missing_claim_is_named if {
	d := data.auditgate.connect with input as fx.connect_input(object.union(object.remove(fx.agent, ["claims"]), {"claims": {"model": "m"}}))
	d.allow == false
	fx.any_contains(d.deny, "missing required claim 'repository'")
}

test_unknown_kind_and_missing_identity_are_refused if {
	d1 := data.auditgate.connect with input as fx.connect_input(object.union(fx.agent, {"kind": "service"}))
	fx.any_contains(d1.deny, "identity kind 'service' is not allowed")
	d2 := data.auditgate.connect with input as {"session": fx.session, "time": fx.monday_10}
	d2.allow == false
	fx.any_contains(d2.deny, "no identity")
}

test_environments_come_from_data if {
	d := data.auditgate.connect with input as fx.connect_input(fx.agent)
		with data.auditgate_config.connect.environments as ["staging"]
	d.allow == false
	fx.any_contains(d.deny, "environment 'production' is not a known environment")
}

test_an_active_access_grant_gives_its_role if {
	grant := {"request_id": "r-1", "role": "auditgate_writer", "until": "2030-01-01T00:00:00.000Z"}
	d := data.auditgate.connect with input as object.union(fx.connect_input(fx.agent), {"grants": [grant]})
	d.allow
	d.upstream_role == "auditgate_writer"
	d.read_only == false
}
