# Change window (uses input.time, so decisions it applies to are not cacheable): identities of
# the kinds in change_window.kinds change production tables only on the listed weekdays
# between start_hour (inclusive) and end_hour (exclusive), UTC. Outside it: deny, or approval
# when change_window.action is "approval". Missing time counts as outside (fail closed).
package auditgate.rules.statement

import data.auditgate.lib

window := lib.cfg.change_window

window_applies if {
	lib.identity_kind in window.kinds
	lib.production_change
}

volatile contains "time" if window_applies

inside_window if {
	input.time.weekday in window.weekdays
	input.time.hour >= window.start_hour
	input.time.hour < window.end_hour
}

two_digits(n) := concat("", ["0", format_int(n, 10)]) if n < 10

two_digits(n) := format_int(n, 10) if n >= 10

window_text := concat("", [
	concat(", ", window.weekdays), " ",
	two_digits(window.start_hour), ":00-", two_digits(window.end_hour), ":00 UTC",
])

default now_text := "unknown"

now_text := concat("", [input.time.now, " (", input.time.weekday, ")"]) if {
	is_string(input.time.now)
	is_string(input.time.weekday)
}

outside_window_reason := concat("", [
	lib.identity_kind, " changes to production tables outside the change window (",
	window_text, "; now ", now_text, ")",
])

deny contains concat("", [outside_window_reason, " are not allowed"]) if {
	window_applies
	not inside_window
	not window.action == "approval"
}

approval contains {
	"approvers": window.approvers,
	"reason": concat("", [outside_window_reason, " require approval"]),
	"ttl_seconds": window.ttl_seconds,
	"count": lib.approvals_required(window),
} if {
	window_applies
	not inside_window
	window.action == "approval"
}

tags contains "outside-change-window" if {
	window_applies
	not inside_window
}
