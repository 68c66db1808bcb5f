#include "json.h"

#include <cmath>

namespace rdv {

std::string json_dump_compact(const json_t* j) {
  std::unique_ptr<char, FreeDeleter> s(json_dumps(j, JSON_COMPACT));
  return s ? std::string(s.get()) : std::string("{}");
}

namespace {
// Go semantics: a JSON number converted to an unsigned integer field; negative or too large
// reads as 0, the fraction is truncated, anything that is not a number reads as 0.
uint64_t number_in_range(const json_t* v, double max) {
  double d;
  if (json_is_real(v)) d = json_real_value(v);
  else if (json_is_integer(v)) d = double(json_integer_value(v));
  else return 0;
  if (!(d >= 0) || d > max || std::isnan(d)) return 0;
  return uint64_t(std::trunc(d));
}
}  // namespace

uint32_t json_u32(const json_t* obj, const char* key) {
  return uint32_t(number_in_range(json_object_get(obj, key), 4294967295.0));
}
uint16_t json_u16(const json_t* obj, const char* key) {
  return uint16_t(number_in_range(json_object_get(obj, key), 65535.0));
}
bool json_bool(const json_t* obj, const char* key) { return json_is_true(json_object_get(obj, key)); }
std::string_view json_str(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  if (!json_is_string(v)) return {};
  return std::string_view(json_string_value(v), json_string_length(v));
}
bool json_has(const json_t* obj, const char* key) { return json_object_get(obj, key) != nullptr; }

void json_append_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the current run of bytes that need no escaping
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(esc, 6);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

}  // namespace rdv
