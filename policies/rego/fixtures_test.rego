# Shared inputs for the Rego unit tests (connect_test.rego, statement_test.rego). No tests here.
package auditgate.fixtures_test

agent := {
	"subject": "agent:claude@acme",
	"issuer": "https://idp.acme.test",
	"groups": ["agents"],
	"kind": "agent",
	"claims": {"model": "claude-sonnet-4", "repository": "acme/shop", "ticket": "OPS-1"},
}

writer_agent := object.union(agent, {"subject": "agent:deployer@acme", "groups": ["agents", "agent-writers"]})

human := {
	"subject": "alice@acme.test",
	"issuer": "https://idp.acme.test",
	"groups": ["engineering"],
	"kind": "human",
	"claims": {},
}

dba := object.union(human, {"subject": "dana@acme.test", "groups": ["dba", "dba-oncall"]})

session := {
	"id": "test-session",
	"client_address": "127.0.0.1",
	"application_name": "auditgate-policy-test",
	"database": "app",
	"target": "default",
	"environment": "production",
}

reader_session := object.union(session, {"upstream_role": "auditgate_reader", "read_only": true})

writer_session := object.union(session, {"upstream_role": "auditgate_writer", "read_only": false})

monday_10 := {"now": "2026-01-05T10:00:00Z", "hour": 10, "weekday": "monday"}

saturday_03 := {"now": "2026-01-10T03:00:00Z", "hour": 3, "weekday": "saturday"}

base_facts := {
	"sql": "SELECT 1",
	"fingerprint": "0",
	"kind": "select",
	"command_tag": "SELECT",
	"tables": [],
	"columns": [],
	"functions": [],
	"operations": [],
	"read_only": true,
	"has_where": false,
	"has_limit": false,
	"in_transaction": false,
	"protocol": "simple",
	"param_count": 0,
	"copy": null,
	"set": null,
	"explain": null,
	"prepared": null,
	"procedural": null,
	"utility": null,
	"error": null,
}

# Statement facts: base_facts with some fields replaced.
facts(fields) := object.union(base_facts, fields)

connect_input(identity) := {"identity": identity, "session": session, "time": monday_10}

# A statement input for `identity` in a session, at monday 10:00 UTC, not released by approval.
statement_input(identity, sess, fields) := {
	"identity": identity,
	"session": sess,
	"time": monday_10,
	"statement": facts(fields),
	"approval": null,
}

orders := {"schema": "public", "name": "orders"}

# Some reason in `reasons` contains `text`.
any_contains(reasons, text) if {
	some r in reasons
	contains(r, text)
}
