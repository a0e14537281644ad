# The two decisions the gateway asks for (wasm entrypoints auditgate/connect and
# auditgate/statement). This file only aggregates: rules live in the packages
# auditgate.rules.connect and auditgate.rules.statement (one file per concern under
# policies/rego/connect and policies/rego/statement). Add a rule by adding a file to one of
# those packages; you should not need to edit this file. See docs/policy-default.md.
#
# Every field of both decisions is always present; arrays are sorted and deduplicated.
package auditgate

import data.auditgate.rules.connect as rc
import data.auditgate.rules.statement as rs

# ==== connect =================================================================================
#
# {allow, upstream_role, deny, read_only, max_session_seconds}

connect := {
	"allow": connect_allowed,
	"upstream_role": connect_role,
	"deny": sort(connect_deny),
	"read_only": connect_read_only,
	"max_session_seconds": connect_max_session_seconds,
}

# The rule sets, empty when no rule file contributes to them.
connect_rule_deny := {r | some r in rc.deny}

grants := {g | some g in rc.role_grants}

connect_deny := connect_rule_deny | connect_gaps

# Nothing refused the identity, yet no rule gave it a role or a session limit: refuse.
connect_gaps contains "no upstream role is granted to this identity" if {
	count(connect_rule_deny) == 0
	count(grants) == 0
}

connect_gaps contains "no session limit is configured for this identity" if {
	count(connect_rule_deny) == 0
	count(session_limits) == 0
}

session_limits := {n |
	some n in rc.session_limits
	is_number(n)
	n > 0
}

default connect_allowed := false

connect_allowed if count(connect_deny) == 0

top_priority := max({p | some g in grants; p := g.priority})

top_roles := sort({g.role | some g in grants; g.priority == top_priority})

default connect_role := null

connect_role := top_roles[0] if connect_allowed

default connect_read_only := true

# Writable only when every grant of the chosen role says so.
connect_read_only := false if {
	connect_allowed
	not chosen_role_read_only
}

chosen_role_read_only if {
	some g in grants
	g.role == connect_role
	g.read_only != false
}

default connect_max_session_seconds := 0

connect_max_session_seconds := min(session_limits) if connect_allowed

# ==== statement ===============================================================================
#
# {allow, deny, approval: {required, approvers, reason, ttl_seconds}, mask, detectors, tags,
#  cacheable, ignores_literals}
#
# Precedence: any deny reason refuses; otherwise a needed approval holds the statement
# (approval.required) until an approval from one of the approver groups releases it
# (input.approval); otherwise the statement runs. approval.required is false when the statement
# is refused (no approval can release it); approvers/reason/ttl_seconds still describe what was
# asked for.

# The rule sets, empty when no rule file contributes to them.
statement_deny := {r | some r in rs.deny}

approval_requests := {a | some a in rs.approval}

volatile := {v | some v in rs.volatile}

statement := {
	"allow": statement_allowed,
	"deny": sort(statement_deny),
	"approval": {
		"required": approval_required,
		"approvers": sort(approvers),
		"reason": approval_reason,
		"ttl_seconds": approval_ttl_seconds,
		"count": approvals_count,
	},
	"mask": sort({m | some m in rs.mask}),
	"detectors": sort({d | some d in rs.detectors}),
	"tags": sort(statement_tags),
	"cacheable": cacheable,
	"ignores_literals": ignores_literals,
}

default statement_allowed := false

statement_allowed if {
	count(statement_deny) == 0
	not approval_required
}

approval_needed if count(approval_requests) > 0

approvers := {g | some a in approval_requests; some g in a.approvers}

approval_reason := concat("; ", sort({r | some a in approval_requests; r := a.reason; is_string(r)}))

default approval_ttl_seconds := 0

# How many distinct approvers must approve: the most any rule asks for (at least 1).
default approvals_count := 1

approvals_count := max(counts) if {
	counts := {c | some a in approval_requests; c := a.count; is_number(c)}
	count(counts) > 0
}

approval_ttl_seconds := min(ttls) if {
	ttls := {t | some a in approval_requests; t := a.ttl_seconds; is_number(t)}
	count(ttls) > 0
}

# The approval that released this statement came from one of the approver groups (and not from
# the requester: statement/approvals.rego refuses that).
approval_satisfied if {
	approval_needed
	is_object(input.approval)
	input.approval.approved_by != input.identity.subject
	some g in input.approval.approver_groups
	approvers[g]
}

default approval_required := false

approval_required if {
	approval_needed
	not approval_satisfied
	count(statement_deny) == 0
}

statement_tags := {t | some t in rs.tags} | {"approved" | approval_satisfied}

# A decision that read input.time, bound parameters (rules say so in rs.volatile) or an approval
# must not be reused for another execution. "literals" in rs.volatile (a rule read the SQL text or
# a value written in it) only stops the reuse for statements that differ in their constants.
default cacheable := false

cacheable if {
	count(volatile - {"literals"}) == 0
	not released_by_approval
}

# The decision holds for every statement that differs from this one only in its constants: no
# rule read the SQL text or a constant's value. The gateway then decides `... WHERE id = 2` with
# the decision it made for `... WHERE id = 1` (docs/policies.md, "Decision cache").
default ignores_literals := false

ignores_literals if {
	cacheable
	not "literals" in volatile
}

released_by_approval if {
	is_object(input.approval)
}
