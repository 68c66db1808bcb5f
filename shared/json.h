// RAII for jansson values and a few typed accessors with the wire protocol's lenient rules
// (wire-protocol §3.1): numbers are doubles, out-of-range ids read as 0, non-strings as "".
#pragma once

#include <jansson.h>

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

}  // namespace rdv
