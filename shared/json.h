// RAII for jansson values and a few typed accessors with the wire protocol's lenient rules
// (wire-protocol §3.1): numbers are doubles, out-of-range ids read as 0, non-strings as "".
#pragma once

#include <jansson.h>

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rdv {

struct JsonDecref {
  void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

struct FreeDeleter {
  void operator()(char* p) const { free(p); }
};

// Compact serialisation. Never fails for values we build (it only fails on OOM or invalid
// UTF-8 from our own code, both bugs).
std::string json_dump_compact(const json_t* j);

// Field readers for request objects; see wire-protocol §3.1.
uint32_t json_u32(const json_t* obj, const char* key);
uint16_t json_u16(const json_t* obj, const char* key);
bool json_bool(const json_t* obj, const char* key);           // only JSON true is true
std::string_view json_str(const json_t* obj, const char* key);  // non-strings read as ""
bool json_has(const json_t* obj, const char* key);

// Appends `s` as a JSON string literal (quotes, escapes; bytes >= 0x80 copied as they are,
// so valid UTF-8 stays valid).
void json_append_string(std::string& out, std::string_view s);

// A streaming writer for hot replies, where building a jansson object and dumping it would
// cost more than the request itself. Keys are written in the order given; the caller keeps
// the document well-formed (every begin has its end).
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter& begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter& end_object() { out_ += '}'; first_ = false; return *this; }
  JsonWriter& begin_array(std::string_view k) { key(k); out_ += '['; first_ = true; return *this; }
  JsonWriter& end_array() { out_ += ']'; first_ = false; return *this; }
  // Keys are our own identifiers (letters, digits, '_'), so they are written without escaping.
  JsonWriter& key(std::string_view k) {
    sep();
    out_ += '"';
    out_.append(k);
    out_.append("\":", 2);
    first_ = true;  // the value follows without a comma
    return *this;
  }
  JsonWriter& str(std::string_view k, std::string_view v) { key(k); return value_str(v); }
  JsonWriter& num(std::string_view k, int64_t v) { key(k); return value_num(v); }
  JsonWriter& boolean(std::string_view k, bool v) { key(k); sep(); out_ += v ? "true" : "false"; return *this; }
  JsonWriter& value_str(std::string_view v) { sep(); json_append_string(out_, v); return *this; }
  JsonWriter& value_num(int64_t v) {
    sep();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, size_t(r.ptr - buf));
    return *this;
  }

 private:
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace rdv
