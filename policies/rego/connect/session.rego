# Where a session may be opened: the target environment must be a known one.
package auditgate.rules.connect

import data.auditgate.lib

known_environments := {e | some e in lib.cfg.connect.environments}

known_text := concat(", ", lib.cfg.connect.environments)

deny contains concat("", ["environment ", lib.quote(env), " is not a known environment (known: ", known_text, ")"]) if {
	count(known_environments) > 0
	env := lib.environment
	env != null
	not known_environments[env]
}

deny contains concat("", ["the session has no environment (known: ", known_text, ")"]) if {
	count(known_environments) > 0
	lib.environment == null
}
