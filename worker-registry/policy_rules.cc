#include "policy_rules.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "json.h"
#include "util.h"

namespace rdv::registry {

// ---- Go durations (time.ParseDuration, reproduced rule for rule) ----

namespace {

// time's own quote(): bytes outside printable ASCII as \xHH, '"' and '\' escaped.
std::string time_quote(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c >= 0x80 || c < ' ') {
      q += "\\x";
      q += hex[c >> 4];
      q += hex[c & 15];
      continue;
    }
    if (c == '"' || c == '\\') q += '\\';
    q += char(c);
  }
  return q + "\"";
}

constexpr uint64_t kTwo63 = uint64_t(1) << 63;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [0-9]* as an integer; false on overflow past 2^63.
bool leading_int(std::string_view& s, uint64_t* x) {
  *x = 0;
  size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); i++) {
    if (*x > kTwo63 / 10) return false;
    *x = *x * 10 + uint64_t(s[i] - '0');
    if (*x > kTwo63) return false;
  }
  s.remove_prefix(i);
  return true;
}

// [0-9]* after a '.': the digits that fit, and 10^(their count).
void leading_fraction(std::string_view& s, uint64_t* x, double* scale) {
  *x = 0;
  *scale = 1;
  bool overflow = false;
  size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); i++) {
    if (overflow) continue;
    if (*x > (kTwo63 - 1) / 10) {
      overflow = true;
      continue;
    }
    uint64_t y = *x * 10 + uint64_t(s[i] - '0');
    if (y > kTwo63) {
      overflow = true;
      continue;
    }
    *x = y;
    *scale *= 10;
  }
  s.remove_prefix(i);
}

uint64_t unit_ns(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1000;  // µ (U+00B5), μ (U+03BC)
  if (u == "ms") return 1000000;
  if (u == "s") return 1000000000;
  if (u == "m") return 60ull * 1000000000;
  if (u == "h") return 3600ull * 1000000000;
  return 0;
}

}  // namespace

std::string go_parse_duration(std::string_view orig, int64_t* ns) {
  std::string invalid = "time: invalid duration " + time_quote(orig);
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    *ns = 0;
    return "";
  }
  if (s.empty()) return invalid;
  uint64_t d = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return invalid;
    size_t before = s.size();
    uint64_t v = 0, f = 0;
    double scale = 1;
    if (!leading_int(s, &v)) return invalid;
    bool pre = before != s.size();
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t at = s.size();
      leading_fraction(s, &f, &scale);
      post = at != s.size();
    }
    if (!pre && !post) return invalid;
    size_t i = 0;
    while (i < s.size() && !(s[i] == '.' || is_digit(s[i]))) i++;
    if (i == 0) return "time: missing unit in duration " + time_quote(orig);
    std::string_view u = s.substr(0, i);
    s.remove_prefix(i);
    uint64_t unit = unit_ns(u);
    if (!unit) return "time: unknown unit " + time_quote(u) + " in duration " + time_quote(orig);
    if (v > kTwo63 / unit) return invalid;
    v *= unit;
    if (f > 0) {
      // As Go: float64 keeps fractions of hours nanosecond-accurate.
      v += uint64_t(double(f) * (double(unit) / scale));
      if (v > kTwo63) return invalid;
    }
    d += v;
    if (d > kTwo63) return invalid;
  }
  if (neg) {
    *ns = d == kTwo63 ? INT64_MIN : -int64_t(d);
    return "";
  }
  if (d > kTwo63 - 1) return invalid;
  *ns = int64_t(d);
  return "";
}

// ---- Go's JSON text forms ----

std::string go_json_float(double f) {
  char buf[64];
  double a = std::fabs(f);
  bool exp = a != 0 && (a < 1e-6 || a >= 1e21);
  auto r = std::to_chars(buf, buf + sizeof buf, f, exp ? std::chars_format::scientific : std::chars_format::fixed);
  std::string out(buf, size_t(r.ptr - buf));
  if (exp) {
    // Go cleans up e-09 to e-9 (positive exponents keep their digits: 1e+21).
    size_t n = out.size();
    if (n >= 4 && out[n - 4] == 'e' && out[n - 3] == '-' && out[n - 2] == '0') out.erase(n - 2, 1);
  }
  return out;
}

namespace {

void go_append_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  auto u = [&](unsigned v) {
    out += "\\u";
    out += hex[(v >> 12) & 15];
    out += hex[(v >> 8) & 15];
    out += hex[(v >> 4) & 15];
    out += hex[v & 15];
  };
  out += '"';
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '<': case '>': case '&': u(c); break;  // Marshal's HTML-safe escaping
      default:
        if (c < 0x20) {
          u(c);
        } else if (c == 0xE2 && i + 2 < s.size() && uint8_t(s[i + 1]) == 0x80 &&
                   (uint8_t(s[i + 2]) == 0xA8 || uint8_t(s[i + 2]) == 0xA9)) {
          u(uint8_t(s[i + 2]) == 0xA8 ? 0x2028 : 0x2029);  // JavaScript line separators
          i += 2;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

void go_marshal_into(std::string& out, const json_t* v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      std::vector<std::pair<std::string_view, const json_t*>> members;
      const char* k;
      json_t* member;
      json_object_foreach(const_cast<json_t*>(v), k, member) members.emplace_back(k, member);
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      for (size_t i = 0; i < members.size(); i++) {
        if (i) out += ',';
        go_append_string(out, members[i].first);
        out += ':';
        go_marshal_into(out, members[i].second);
      }
      out += '}';
      return;
    }
    case JSON_ARRAY: {
      out += '[';
      for (size_t i = 0; i < json_array_size(v); i++) {
        if (i) out += ',';
        go_marshal_into(out, json_array_get(v, i));
      }
      out += ']';
      return;
    }
    case JSON_STRING: go_append_string(out, std::string_view(json_string_value(v), json_string_length(v))); return;
    case JSON_INTEGER: out += std::to_string(json_integer_value(v)); return;
    case JSON_REAL: out += go_json_float(json_real_value(v)); return;
    case JSON_TRUE: out += "true"; return;
    case JSON_FALSE: out += "false"; return;
    case JSON_NULL: out += "null"; return;
  }
}

}  // namespace

std::string go_json_marshal(const json_t* value) {
  std::string out;
  go_marshal_into(out, value);
  return out;
}

std::string go_json_compact(std::string_view in) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(in.size());
  bool in_string = false;
  for (size_t i = 0; i < in.size(); i++) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (!in_string) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
      if (c == '"') in_string = true;
      out += char(c);
      continue;
    }
    if (c == '\\' && i + 1 < in.size()) {  // an escape: copied whole
      out += char(c);
      out += in[++i];
      continue;
    }
    if (c == '"') in_string = false;
    if (c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else if (c == 0xE2 && i + 2 < in.size() && uint8_t(in[i + 1]) == 0x80 &&
               (uint8_t(in[i + 2]) == 0xA8 || uint8_t(in[i + 2]) == 0xA9)) {
      out += uint8_t(in[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += char(c);
    }
  }
  return out;
}

// ---- struct decoding as encoding/json does it ----

namespace {

enum class FieldKind { Int, String, Raw };

struct Field {
  std::string_view name;  // the json tag
  FieldKind kind;
  int64_t* i = nullptr;
  std::string* s = nullptr;
  bool* present = nullptr;  // Raw: set when the member is there and not null
};

// The value names Go's UnmarshalTypeError uses.
const char* go_kind(const json_t* v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "number";
  }
}

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Decodes the JSON value `obj` (loaded from text) into `fields` the way json.Unmarshal fills a
// struct: members in document order, an exact key match first, else a case-insensitive one;
// null leaves a field alone; unknown keys are ignored; an int needs an integer literal; on a
// type mismatch the first error is kept and decoding goes on.
std::string decode_struct(const json_t* obj, std::vector<Field>& fields, std::string_view struct_name,
                          std::string_view type_name) {
  if (json_is_null(obj)) return "";
  if (!json_is_object(obj))
    return std::string("json: cannot unmarshal ") + go_kind(obj) + " into Go value of type " + std::string(type_name);
  std::vector<std::string> keys;
  const char* k;
  json_t* member;
  json_object_foreach(const_cast<json_t*>(obj), k, member) keys.emplace_back(k);
  std::string first_error;
  for (const std::string& key : keys) {
    const json_t* v = json_object_get(obj, key.c_str());
    Field* f = nullptr;
    for (Field& cand : fields)
      if (cand.name == key) f = &cand;
    if (!f)
      for (Field& cand : fields)
        if (ascii_iequal(cand.name, key)) {
          f = &cand;
          break;
        }
    if (!f) continue;
    if (f->kind == FieldKind::Raw) {
      if (f->present) *f->present = !json_is_null(v);
      continue;
    }
    if (json_is_null(v)) continue;
    std::string value;  // set on a mismatch: the UnmarshalTypeError's Value
    std::string type = f->kind == FieldKind::Int ? "int" : "string";
    if (f->kind == FieldKind::String) {
      if (json_is_string(v)) *f->s = std::string(json_string_value(v), json_string_length(v));
      else value = go_kind(v);
    } else if (json_is_integer(v)) {
      *f->i = json_integer_value(v);
    } else if (json_is_real(v)) {
      // Go prints the literal; jansson kept only the double (an integral one was written with a
      // fraction or an exponent, so it is shown with one).
      std::string lit = go_json_float(json_real_value(v));
      if (lit.find_first_of(".e") == std::string::npos) lit += ".0";
      value = "number " + lit;
    } else {
      value = go_kind(v);
    }
    if (!value.empty() && first_error.empty())
      first_error = "json: cannot unmarshal " + value + " into Go struct field " + std::string(struct_name) + "." +
                    std::string(f->name) + " of type " + type;
  }
  return first_error;
}

// JSON text as encoding/json would see it: one value, nothing after it.
JsonPtr load_text(std::string_view text, std::string* error) {
  json_error_t err;
  JsonPtr j(json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err));
  if (!j) *error = err.text;
  return j;
}

std::string too_long(std::string_view what, size_t max) {
  return std::string(what) + " too long (max " + std::to_string(max) + " bytes)";
}

std::string decode_rules(const json_t* v, std::string* canonical) {
  ManagedRules r;
  std::vector<Field> fields = {
      {"links", FieldKind::Int, &r.links},       {"cycle", FieldKind::String, nullptr, &r.cycle},
      {"prune", FieldKind::Int, &r.prune},       {"prune_by", FieldKind::String, nullptr, &r.prune_by},
      {"fill", FieldKind::Int, &r.fill},         {"fill_how", FieldKind::String, nullptr, &r.fill_how},
      {"grace", FieldKind::String, nullptr, &r.grace},
  };
  std::string err = decode_struct(v, fields, "NetworkRules", "wire.NetworkRules");
  if (!err.empty()) return "rules: invalid JSON: " + err;
  err = rules_error(r);
  if (!err.empty()) return err;
  canonical->clear();
  JsonWriter w(*canonical);
  w.begin_object()
      .num("links", r.links)
      .str("cycle", r.cycle)
      .num("prune", r.prune)
      .str("prune_by", r.prune_by)
      .num("fill", r.fill)
      .str("fill_how", r.fill_how);
  if (!r.grace.empty()) w.str("grace", r.grace);
  w.end_object();
  return "";
}

}  // namespace

std::string rules_error(const ManagedRules& r) {
  auto n = [](int64_t v) { return std::to_string(v); };
  if (r.links < 1) return "rules: links must be >= 1 (got " + n(r.links) + ")";
  if (r.cycle.empty()) return "rules: cycle is required";
  int64_t cycle = 0;
  std::string err = go_parse_duration(r.cycle, &cycle);
  if (!err.empty()) return "rules: invalid cycle duration " + go_quote(r.cycle) + ": " + err;
  if (cycle < 60LL * 1000000000) return "rules: cycle must be >= 1m (got " + r.cycle + ")";
  if (r.prune < 0) return "rules: prune must be >= 0 (got " + n(r.prune) + ")";
  if (r.fill < 0) return "rules: fill must be >= 0 (got " + n(r.fill) + ")";
  if (r.prune > r.links) return "rules: prune (" + n(r.prune) + ") cannot exceed links (" + n(r.links) + ")";
  if (r.fill > r.links) return "rules: fill (" + n(r.fill) + ") cannot exceed links (" + n(r.links) + ")";
  if (r.prune_by.empty()) return "rules: prune_by is required";
  if (r.prune_by != "score" && r.prune_by != "age" && r.prune_by != "activity")
    return "rules: unknown prune_by strategy " + go_quote(r.prune_by) + " (want score|age|activity)";
  if (r.fill_how.empty()) return "rules: fill_how is required";
  if (r.fill_how != "random") return "rules: unknown fill_how strategy " + go_quote(r.fill_how) + " (want random)";
  if (!r.grace.empty()) {
    int64_t grace = 0;
    err = go_parse_duration(r.grace, &grace);
    if (!err.empty()) return "rules: invalid grace duration " + go_quote(r.grace) + ": " + err;
    if (grace < 0) return "rules: grace must be >= 0";
  }
  return "";
}

std::string rules_from_text(std::string_view text, std::string* canonical) {
  canonical->clear();
  if (text.size() > kMaxRulesBytes) return too_long("rules", kMaxRulesBytes);
  std::string syntax;
  JsonPtr j = load_text(text, &syntax);
  if (!j) return "rules: invalid JSON: " + syntax;
  return decode_rules(j.get(), canonical);
}

std::string rules_from_message(const Message& msg, std::string* canonical) {
  canonical->clear();
  if (!msg.has("rules")) return "";
  std::string_view text = msg.str("rules");
  if (!text.empty()) return rules_from_text(text, canonical);
  JsonPtr v = msg.json("rules");
  if (!json_is_object(v.get())) return "";  // "" (D8), null, numbers, arrays: no rules
  // The Go server re-marshals the decoded map and decodes that text: keys sorted, numbers
  // float64 (so 3.0 is the integer 3, 3.5 a type error).
  return rules_from_text(go_json_marshal(v.get()), canonical);
}

bool expr_policy_text(const Message& msg, std::string* text) {
  text->clear();
  if (!msg.has("expr_policy")) return false;
  JsonPtr v = msg.json("expr_policy");
  if (json_is_string(v.get())) {
    text->assign(json_string_value(v.get()), json_string_length(v.get()));
    return true;
  }
  if (!json_is_object(v.get())) return false;
  *text = go_json_marshal(v.get());
  return true;
}

std::string expr_policy_error(std::string_view text, bool require_rules) {
  if (text.size() > kMaxExprPolicyBytes) return too_long("expr_policy", kMaxExprPolicyBytes);
  std::string syntax;
  JsonPtr j = load_text(text, &syntax);
  if (!j) return "expr_policy: invalid JSON: " + syntax;
  int64_t version = 0;
  bool has_rules = false;
  std::vector<Field> fields = {{"version", FieldKind::Int, &version}};
  if (require_rules) fields.push_back({"rules", FieldKind::Raw, nullptr, nullptr, &has_rules});
  std::string_view type = require_rules
                              ? "struct { Version int \"json:\\\"version\\\"\"; Rules json.RawMessage \"json:\\\"rules\\\"\" }"
                              : "struct { Version int \"json:\\\"version\\\"\" }";
  std::string err = decode_struct(j.get(), fields, "", type);
  if (!err.empty()) return "expr_policy: invalid JSON: " + err;
  if (version != 1) return "expr_policy: unsupported version " + std::to_string(version) + " (want 1)";
  if (require_rules && !has_rules) return "expr_policy: at least one rule is required";
  return "";
}

}  // namespace rdv::registry
