// The documents a network carries and the registry only stores and hands out: the managed
// ruleset (`rules`, wire-protocol §6.4.1) and the expression policy (`expr_policy`, §6.4.1,
// §6.6). Pure functions of their input: create_network, set_expr_policy (policy.cc) and
// provision_network validate with the same code, so one document is accepted or refused alike
// everywhere.
//
// Why the Go decoder's words: the Go server validates both documents by json.Unmarshal into a
// struct, and its error texts ("rules: invalid JSON: json: cannot unmarshal string into Go
// struct field NetworkRules.links of type int") pass the §2.8 sanitiser verbatim, so daemons and
// operators see them. We reproduce the decoder's rules that decide acceptance (case-insensitive
// field names, null leaves a field unset, integers must be integer literals, the first type
// error wins) and its type-error texts; JSON syntax errors carry jansson's description instead
// of Go's.
//
// Thread rules: everything here is a pure function; call it from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "message.h"

namespace rdv::registry {

// Stored-size limits (a network record carries both documents). Errors say "too long".
inline constexpr size_t kMaxRulesBytes = 4096;
inline constexpr size_t kMaxExprPolicyBytes = 65536;

// ---- Go durations ----

// time.ParseDuration: "" with *ns set, or Go's error text ("time: invalid duration \"x\"",
// "time: missing unit in duration \"1\"", "time: unknown unit \"d\" in duration \"1d\"").
std::string go_parse_duration(std::string_view text, int64_t* ns);

// ---- the managed ruleset ----

struct ManagedRules {
  int64_t links = 0;
  std::string cycle;     // a Go duration, kept as the client wrote it (the Go server echoes it)
  int64_t prune = 0;
  std::string prune_by;  // score | age | activity
  int64_t fill = 0;
  std::string fill_how;  // random
  std::string grace;     // optional Go duration ("" = none)
};

// The ruleset checks of the common library's ValidateRules, in its order: "" or "rules: …".
std::string rules_error(const ManagedRules& rules);

// The request's `rules` member (§6.4.1, client-expectations D8): a non-empty string is the
// ruleset's JSON text, an object is the ruleset itself; "" and every other type mean "no rules"
// (*canonical = ""). Otherwise the ruleset is decoded and validated; on success *canonical is
// the stored form, a JSON object with integer literals in the Go struct's key order
// ({"links":3,"cycle":"1h","prune":1,"prune_by":"score","fill":1,"fill_how":"random"}, plus
// "grace" when set: client-expectations D10). Returns "" or the error text.
std::string rules_from_message(const Message& msg, std::string* canonical);

// Decodes and validates ruleset JSON text (a string `rules`, or a blueprint's). Same results.
std::string rules_from_text(std::string_view text, std::string* canonical);

// ---- the expression policy ----

// The request's `expr_policy` member as document text: a string as it is (it may be "" or
// "null"; the caller decides what those mean), an object serialised as the Go server stores it
// (json.Marshal of the decoded map: keys sorted, integral numbers as integers, Go's string
// escapes). Absent, null and every other type → false.
bool expr_policy_text(const Message& msg, std::string* text);

// Validates an expression-policy document (§6.4.1, §6.6), in the Go server's order: size
// ("expr_policy too long (max 65536 bytes)"), JSON ("expr_policy: invalid JSON: …"), version
// ("expr_policy: unsupported version <v> (want 1)"), and, with `require_rules` (set_expr_policy,
// provisioning; not create_network), a `rules` member that is present and not null
// ("expr_policy: at least one rule is required"; any non-null value passes, even [] — as in
// Go). Returns "" when the document is acceptable.
std::string expr_policy_error(std::string_view text, bool require_rules);

// The stored (and echoed) form of an accepted document: Go's json.Compact with HTML escaping,
// which is what the Go server's replies carry for a raw document (json.RawMessage). Store
// this, and put it into replies as it is. Precondition: `valid_json` passed
// expr_policy_error (or is otherwise valid JSON).
std::string go_json_compact(std::string_view valid_json);

// ---- Go's JSON text forms (exposed for the unit tests) ----

// encoding/json's float64 text: shortest round trip, plain notation for 1e-6 <= |f| < 1e21,
// exponent form otherwise ("1e+21", "1e-7").
std::string go_json_float(double f);
// encoding/json's Marshal of a decoded JSON value (map keys sorted, HTML-safe string escapes).
std::string go_json_marshal(const json_t* value);

}  // namespace rdv::registry
