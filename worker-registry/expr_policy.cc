// Expression-policy documents: the Go server's structural check (policy/policy.go, the
// create_network path of membership.go), without its reflection.
#include "expr_policy.h"

#include <cmath>
#include <cstdio>
#include <strings.h>

#include "json.h"

namespace rdv::registry {

namespace {

const char* kind_name(const json_t* v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_NULL: return "null";
  }
  return "value";
}

// The last member whose key equals `name` ignoring ASCII case: Go's decoder assigns every
// matching key in document order, so the last one wins. Null when there is none.
const json_t* field_ci(const json_t* obj, const char* name) {
  const json_t* found = nullptr;
  const char* k;
  json_t* v;
  json_object_foreach(const_cast<json_t*>(obj), k, v) {
    if (strcasecmp(k, name) == 0) found = v;
  }
  return found;
}

}  // namespace

std::string expr_policy_error(std::string_view document, ExprPolicyRules rules) {
  if (document.size() > kMaxExprPolicyBytes)
    return "expr_policy too long (max " + std::to_string(kMaxExprPolicyBytes) + " bytes)";
  json_error_t err;
  // Integers stay integers here (no JSON_DECODE_INT_AS_REAL): Go decodes "version" into an
  // int, which refuses 1.0 and 1e0 as it refuses 1.5. (So an integer beyond 64 bits anywhere
  // in the document is refused as "too big", where Go kept it as raw text.)
  JsonPtr doc(json_loadb(document.data(), document.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err));
  if (!doc) return std::string("expr_policy: invalid JSON: ") + err.text;
  if (json_is_null(doc.get())) return "expr_policy: unsupported version 0 (want 1)";
  if (!json_is_object(doc.get()))
    return std::string("expr_policy: invalid JSON: the document must be an object, not ") + kind_name(doc.get());

  long long version = 0;
  const json_t* v = field_ci(doc.get(), "version");
  if (v && !json_is_null(v)) {
    if (json_is_integer(v)) {
      version = json_integer_value(v);
    } else if (json_is_real(v)) {
      char buf[48];
      snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
      return std::string("expr_policy: invalid JSON: version must be an integer, got ") + buf;
    } else {
      return std::string("expr_policy: invalid JSON: version must be an integer, got ") + kind_name(v);
    }
  }
  if (version != 1) return "expr_policy: unsupported version " + std::to_string(version) + " (want 1)";

  if (rules == ExprPolicyRules::Required) {
    const json_t* r = field_ci(doc.get(), "rules");
    // As Go: an absent or null "rules" is refused; any other value passes, even [] (the rules
    // are the daemons' to compile, and Go's check is len(raw) == 0 || raw == "null").
    if (!r || json_is_null(r))
      return "expr_policy: at least one rule is required";
  }
  return "";
}

ExprPolicyField expr_policy_field(const Message& msg, std::string_view key) {
  ExprPolicyField f;
  std::string_view raw = msg.raw(key);
  if (raw.empty()) return f;
  if (raw[0] == '"') {
    f.kind = ExprPolicyField::String;
    f.text = std::string(msg.str(key));
  } else if (raw[0] == '{') {
    f.kind = ExprPolicyField::Object;
    f.text = std::string(raw);
  } else {
    f.kind = ExprPolicyField::Other;
  }
  return f;
}

}  // namespace rdv::registry
