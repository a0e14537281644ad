# Fail closed: a statement the gateway could not parse or fully analyse, of a kind this policy
# does not know, or whose meaning is hidden (EXECUTE of a statement the gateway never saw
# prepared) is refused.
package auditgate.rules.statement

import data.auditgate.lib

known_kinds := {
	"select", "insert", "update", "delete", "merge", "copy_from", "copy_to", "ddl",
	"privilege", "set_role", "set", "transaction", "procedural", "call", "prepare",
	"execute", "deallocate", "explain", "utility", "empty",
}

deny contains "no statement facts: the gateway could not analyse the statement" if not has_statement

# Reads and data changes are decided on facts that hold no constant's value. For every other kind
# some rule reads a value written in the statement (a COPY target, a SET value, a body, a name,
# the text itself), so its decision holds for this exact text only.
literal_free_kinds := {"select", "insert", "update", "delete", "merge"}

volatile contains "literals" if not literal_free_kinds[lib.stmt.kind]

has_statement if is_object(input.statement)

deny contains concat("", ["statement could not be parsed: ", parse_message]) if {
	lib.stmt.kind == "parse_error"
}

default parse_message := "the parser gave no message"

parse_message := lib.stmt.error.message if is_string(lib.stmt.error.message)

deny contains concat("", ["statement kind ", lib.quote(kind), " is not recognised"]) if {
	has_statement
	kind := object.get(lib.stmt, "kind", null)
	kind != "parse_error"
	not known_kinds[kind]
}

deny contains concat("", ["statement facts are incomplete: ", lib.quote(field), " is missing"]) if {
	has_statement
	not lib.stmt.kind == "parse_error"
	some field in ["tables", "functions", "operations"]
	not is_array(object.get(lib.stmt, field, null))
}

deny contains concat("", [
	"EXECUTE of prepared statement ", lib.quote(prepared_name),
	" is not allowed: the gateway did not see it prepared, so it cannot tell what it runs",
]) if {
	unknown_prepared
}

unknown_prepared if lib.stmt.kind == "execute"

unknown_prepared if {
	lib.stmt.prepared.known == false
	lib.stmt.kind != "prepare"
}

default prepared_name := "(unnamed)"

prepared_name := lib.stmt.prepared.name if is_string(lib.stmt.prepared.name)

deny contains concat("", ["COPY is not allowed: the gateway has no COPY facts for ", lib.quote(lib.stmt.sql)]) if {
	lib.stmt.kind in {"copy_from", "copy_to"}
	not has_copy_facts
}

has_copy_facts if is_object(lib.stmt.copy)

tags contains "empty" if lib.stmt.kind == "empty"

tags contains "explain" if lib.stmt.kind == "explain"

tags contains "explain-analyze" if lib.stmt.explain.analyze == true

tags contains "read" if {
	lib.stmt.kind in {"select", "copy_to"}
	count(lib.stmt.tables) > 0
}
