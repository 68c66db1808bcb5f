// A daemon request, parsed once: the top-level members of one JSON object, read with the wire
// protocol's lenient typed readers (wire-protocol §3.1, the semantics of Go's json.Unmarshal
// into a map: numbers are doubles, non-strings read as "", only `true` is true).
//
// Why not jansson for this: every request is a small flat object, and building a jansson
// object (a hashtable, one allocation per member) cost more than handling a lookup. Here a
// request is one pass of simdjson's On-Demand API over a padded copy of the bytes into a small
// table of offsets, with no allocation for scalars and plain strings. Nested arrays and objects
// are validated and kept as text; string_list() and json() decode them when a handler asks.
// (A hand-written scanner did this before; rendezvous-bench --parser measured simdjson 1.7x
// faster on the protocol's request mix and equally strict, so it replaced it.)
//
// Accepted input is what jansson accepts with JSON_DECODE_ANY | JSON_ALLOW_NUL: one JSON value,
// valid UTF-8, escapes including \u0000 and surrogate pairs, nesting up to kMaxDepth. A `null`
// body is an empty request (Go decodes it to an empty map); any other non-object is rejected.
//
// Thread rules: a Message is a value; const methods may be called from any thread (each
// thread has its own simdjson parser).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace rdv {

class Message {
 public:
  static constexpr int kMaxDepth = 512;

  // Parses `body` (copied into the Message). Returns false with a reason in *error when the
  // body is not valid JSON or not an object.
  bool parse(std::string_view body, std::string* error);

  bool has(std::string_view key) const { return find(key) != nullptr; }
  std::string_view str(std::string_view key) const;  // "" unless a string
  uint32_t u32(std::string_view key) const;          // 0 unless a number in 0..2^32-1 (fraction cut)
  uint16_t u16(std::string_view key) const;          // likewise, 0..65535
  bool boolean(std::string_view key) const;          // only JSON true
  bool is_null(std::string_view key) const;
  // The strings of an array member, in order; non-string elements are skipped; absent,
  // null or non-array → empty.
  std::vector<std::string> string_list(std::string_view key) const;
  // Any member as a jansson value (numbers as doubles), or null when absent.
  JsonPtr json(std::string_view key) const;
  // A member's JSON text exactly as sent (a string with its quotes and escapes), or "" when
  // absent: its first byte tells the kind, and a document stored as given keeps its integers.
  std::string_view raw(std::string_view key) const;
  std::string_view type() const { return str("type"); }
  size_t size() const { return members_.size(); }

 private:
  enum class Kind : uint8_t { String, Number, True, False, Null, Array, Object };
  struct Member {
    uint32_t key_off, key_len;  // into body_ (or decoded_ when key_decoded >= 0)
    int32_t key_decoded;
    Kind kind;
    uint32_t val_off, val_len;  // raw text of the value in body_
    int32_t str_decoded;        // strings with escapes: index into decoded_
    double number;
  };
  const Member* find(std::string_view key) const;
  std::string_view key_of(const Member& m) const;
  uint64_t number_in_range(std::string_view key, double max) const;

  std::string body_;
  std::vector<Member> members_;
  std::vector<std::string> decoded_;
  friend class MessageParser;
};

}  // namespace rdv
