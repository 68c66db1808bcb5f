// Expression policies (wire-protocol §6.6, §6.4.1): the structural check the registry makes
// before it stores a network's policy document. The registry only stores and hands out the
// document; daemons compile and enforce its expressions, so the check is the Go server's:
// the document is JSON, its "version" is 1 and (when setting a policy) it has rules.
//
// Pure functions: no state, callable from any thread. Used by set_expr_policy (policy.cc),
// create_network (networks.cc) and the blueprint of provision_network.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "message.h"

namespace rdv::registry {

// The largest document stored. The Go server had no limit beyond the 64 MiB frame; every
// daemon fetches the document of each policy network every 5 minutes, so it stays small.
inline constexpr size_t kMaxExprPolicyBytes = 64 * 1024;

// Whether the document must carry rules. set_expr_policy and provision_network require them;
// create_network does not (the Go server checks only the version there).
enum class ExprPolicyRules { Required, Optional };

// Checks a document given as JSON text, in the Go server's order. Returns "" when it may be
// stored, otherwise the error text:
//   "expr_policy too long (max 65536 bytes)"                   over kMaxExprPolicyBytes
//   "expr_policy: invalid JSON: <detail>"                      not JSON; not an object (a
//                                                              top-level null counts as an
//                                                              object without keys, as in Go);
//                                                              "version" not an integer
//   "expr_policy: unsupported version <v> (want 1)"            version absent/null (0) or ≠ 1
//   "expr_policy: at least one rule is required"               (Required only) "rules" absent
//                                                              or null (any other value, even
//                                                              [], passes, as in Go)
// Keys match case-insensitively (ASCII), as Go's decoder matches struct fields.
std::string expr_policy_error(std::string_view document, ExprPolicyRules rules);

// The expr_policy member of a request as the Go handlers read it: a JSON string's contents,
// or an object's JSON text as sent (so its numbers keep their spelling; the Go server
// re-marshalled a decoded map, which gives the same values). Anything else (absent, null,
// number, array, bool) is Other / Absent: set_expr_policy answers "expr_policy field is
// required", create_network ignores it.
struct ExprPolicyField {
  enum Kind : uint8_t { Absent, String, Object, Other };
  Kind kind = Absent;
  std::string text;  // String: the decoded string; Object: the raw object text; else ""
};
ExprPolicyField expr_policy_field(const Message& msg, std::string_view key = "expr_policy");

}  // namespace rdv::registry
