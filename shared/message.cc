#include "message.h"

#include <simdjson.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace rdv {

namespace od = simdjson::ondemand;

namespace {

// One parser per thread: it keeps its buffers (sized for the largest body seen) from one
// request to the next, so a parse does not allocate.
od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

bool json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

// simdjson's On-Demand API does the scanning: its first stage finds every structural character
// and validates the UTF-8 of the whole body with SIMD instructions; its second stage parses
// each value as it is asked for. On-Demand validates only what it is asked for, so the walker
// below asks for everything: every key and string unescaped, every number converted, every
// literal checked, so a body is accepted exactly when it is valid JSON. The first stage runs
// inside libsimdjson, which picks the machine's best kernel at run time; this file is built
// for the generic target (building it for AVX2 measured no faster), so the binary stays portable.
class MessageParser {
 public:
  explicit MessageParser(Message& m) : m_(m), base_(m.body_.data()) {}

  bool parse(std::string* error) {
    const std::string& b = m_.body_;
    od::document doc;
    od::json_type t;
    simdjson::error_code e = thread_parser().iterate(simdjson::padded_string_view(b.data(), b.size(), b.capacity())).get(doc);
    if (e) {  // nothing but whitespace, or a body simdjson's first stage refuses (bad UTF-8…)
      *error = simdjson::error_message(e);
      return false;
    }
    e = doc.type().get(t);
    if (!e) {
      if (t == od::json_type::object) {
        e = top_object(doc);
        if (!e && !at_end(doc)) e = fail("end of file expected");
      } else if (t != od::json_type::null || !is_null_body(b)) {
        e = fail("body is not a JSON object");
      }
    }
    if (!e) return true;
    *error = err_.empty() ? std::string(simdjson::error_message(e)) : err_;
    const char* at = nullptr;
    if (!doc.current_location().get(at) && at >= base_) *error += " near byte " + std::to_string(at - base_);
    return false;
  }

 private:
  // The reason for a refusal that is ours rather than simdjson's.
  simdjson::error_code fail(const char* what) {
    if (err_.empty()) err_ = what;
    return simdjson::TAPE_ERROR;
  }

  // `null` with only whitespace around it: Go decodes it to an empty map. (Checked by hand:
  // simdjson 3.0's root-level is_null refuses "null" followed by whitespace.)
  static bool is_null_body(std::string_view b) {
    while (!b.empty() && json_ws(b.front())) b.remove_prefix(1);
    while (!b.empty() && json_ws(b.back())) b.remove_suffix(1);
    return b == "null";
  }

  // No bytes after the document: the iterator is past the end once the whole body is consumed
  // (simdjson 3.0 has no document::at_end).
  static bool at_end(od::document& doc) {
    const char* loc = nullptr;
    return doc.current_location().get(loc) == simdjson::OUT_OF_BOUNDS;
  }

  // Offset and length of `text` in the body, without the whitespace a raw token carries after
  // it (raw_json_token spans up to the next token).
  void locate(std::string_view text, uint32_t* off, uint32_t* len) const {
    size_t n = text.size();
    while (n > 0 && json_ws(text[n - 1])) n--;
    *off = uint32_t(text.data() - base_);
    *len = uint32_t(n);
  }

  // A string whose raw text (from `raw`, after the opening quote) has no escape reads as the
  // body's own bytes; one with escapes is copied into decoded_ (simdjson's unescaped copy
  // lives only until the next parse). Returns the decoded_ index, or -1.
  int32_t keep(const char* raw, std::string_view unescaped) {
    if (raw[unescaped.size()] == '"' && std::memchr(raw, '\\', unescaped.size()) == nullptr) return -1;
    m_.decoded_.emplace_back(unescaped);
    return int32_t(m_.decoded_.size() - 1);
  }

  simdjson::error_code top_object(od::document& doc) {
    od::object obj;
    SIMDJSON_TRY(doc.get_object().get(obj));
    for (auto field : obj) {
      od::field f;
      SIMDJSON_TRY(std::move(field).get(f));
      Message::Member mem{};
      const char* key_raw = f.key().raw();
      std::string_view key;
      SIMDJSON_TRY(f.unescaped_key().get(key));
      mem.key_off = uint32_t(key_raw - base_);
      mem.key_len = uint32_t(key.size());
      mem.key_decoded = keep(key_raw, key);
      od::value v = f.value();
      SIMDJSON_TRY(member(v, &mem));
      m_.members_.push_back(mem);
    }
    return simdjson::SUCCESS;
  }

  // A top-level member's value: its kind, its raw text, and what the typed readers need.
  simdjson::error_code member(od::value& v, Message::Member* mem) {
    od::json_type t;
    SIMDJSON_TRY(v.type().get(t));
    std::string_view token = v.raw_json_token();
    mem->str_decoded = -1;
    switch (t) {
      case od::json_type::string: {
        mem->kind = Message::Kind::String;
        std::string_view s;
        SIMDJSON_TRY(v.get_string().get(s));
        mem->str_decoded = keep(token.data() + 1, s);
        break;
      }
      case od::json_type::number:
        mem->kind = Message::Kind::Number;
        SIMDJSON_TRY(number(v, &mem->number));
        break;
      case od::json_type::boolean: {
        bool b;
        SIMDJSON_TRY(v.get_bool().get(b));
        mem->kind = b ? Message::Kind::True : Message::Kind::False;
        break;
      }
      case od::json_type::null:
        mem->kind = Message::Kind::Null;
        SIMDJSON_TRY(null(v));
        break;
      case od::json_type::object:
      case od::json_type::array: {
        mem->kind = t == od::json_type::object ? Message::Kind::Object : Message::Kind::Array;
        SIMDJSON_TRY(walk(v, t, 1));
        // The container ends where the next token (',' or '}') begins.
        const char* end = nullptr;
        SIMDJSON_TRY(v.current_location().get(end));
        locate(std::string_view(token.data(), size_t(end - token.data())), &mem->val_off, &mem->val_len);
        return simdjson::SUCCESS;
      }
    }
    locate(token, &mem->val_off, &mem->val_len);
    return simdjson::SUCCESS;
  }

  static simdjson::error_code number(od::value& v, double* out) {
    // Any JSON number as a double, as Go decodes into interface{}: integers beyond 2^64 too.
    // simdjson 3.0 refuses some valid numbers (an exponent of many digits, 0.5E0000000000000000050,
    // found by the fuzzer); those are checked against the grammar and converted here. A failed
    // get_double leaves the token unconsumed, and the enclosing iteration skips it.
    if (v.get_double().get(*out) != simdjson::SUCCESS && !slow_number(v.raw_json_token(), out))
      return simdjson::NUMBER_ERROR;
    if (std::isinf(*out)) return simdjson::NUMBER_ERROR;  // Go and jansson refuse it too
    return simdjson::SUCCESS;
  }

  // RFC 8259's number grammar over the whole token (less the whitespace after it), then strtod.
  static bool slow_number(std::string_view token, double* out) {
    while (!token.empty() && json_ws(token.back())) token.remove_suffix(1);
    size_t i = 0;
    auto digits = [&] {
      size_t from = i;
      while (i < token.size() && token[i] >= '0' && token[i] <= '9') i++;
      return i > from;
    };
    auto at = [&](char c) { return i < token.size() && token[i] == c; };
    if (at('-')) i++;
    if (at('0')) {
      i++;
    } else if (i < token.size() && token[i] >= '1' && token[i] <= '9') {
      digits();
    } else {
      return false;
    }
    if (at('.')) {
      i++;
      if (!digits()) return false;
    }
    if (at('e') || at('E')) {
      i++;
      if (at('+') || at('-')) i++;
      if (!digits()) return false;
    }
    if (i != token.size()) return false;
    *out = std::strtod(std::string(token).c_str(), nullptr);
    return true;
  }

  static simdjson::error_code null(od::value& v) {
    bool null = false;
    SIMDJSON_TRY(v.is_null().get(null));
    return null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
  }

  // A nested array or object at `depth` (the top-level object is depth 0), validated to its
  // end: handlers read nested values through Message::json() when they need them.
  simdjson::error_code walk(od::value& v, od::json_type t, int depth) {
    if (depth > Message::kMaxDepth) return fail("maximum parsing depth reached");
    if (t == od::json_type::object) {
      od::object o;
      SIMDJSON_TRY(v.get_object().get(o));
      for (auto field : o) {
        od::field f;
        SIMDJSON_TRY(std::move(field).get(f));
        std::string_view key;
        SIMDJSON_TRY(f.unescaped_key().get(key));
        SIMDJSON_TRY(value(f.value(), depth));
      }
    } else {
      od::array a;
      SIMDJSON_TRY(v.get_array().get(a));
      for (auto element : a) {
        od::value ev;
        SIMDJSON_TRY(std::move(element).get(ev));
        SIMDJSON_TRY(value(ev, depth));
      }
    }
    return simdjson::SUCCESS;
  }

  // Any value inside a container at `depth`.
  simdjson::error_code value(od::value& v, int depth) {
    od::json_type t;
    SIMDJSON_TRY(v.type().get(t));
    switch (t) {
      case od::json_type::string: {
        std::string_view s;
        return v.get_string().get(s);
      }
      case od::json_type::number: {
        double d;
        return number(v, &d);
      }
      case od::json_type::boolean: {
        bool b;
        return v.get_bool().get(b);
      }
      case od::json_type::null:
        return null(v);
      case od::json_type::object:
      case od::json_type::array:
        return walk(v, t, depth + 1);
    }
    return simdjson::INCORRECT_TYPE;
  }

  Message& m_;
  const char* base_;
  std::string err_;
};

bool Message::parse(std::string_view body, std::string* error) {
  members_.clear();
  members_.reserve(12);  // one allocation for the members of any request (most have 2-8)
  decoded_.clear();
  if (body.size() > UINT32_MAX - simdjson::SIMDJSON_PADDING) {
    *error = "body too large";
    return false;
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: the copy carries them.
  body_.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  body_.assign(body);
  MessageParser p(*this);
  return p.parse(error);
}

std::string_view Message::key_of(const Member& m) const {
  if (m.key_decoded >= 0) return decoded_[size_t(m.key_decoded)];
  return std::string_view(body_).substr(m.key_off, m.key_len);
}

const Message::Member* Message::find(std::string_view key) const {
  // Duplicate keys: the last one wins, as in Go and jansson.
  for (size_t i = members_.size(); i-- > 0;)
    if (key_of(members_[i]) == key) return &members_[i];
  return nullptr;
}

std::string_view Message::str(std::string_view key) const {
  const Member* m = find(key);
  if (!m || m->kind != Kind::String) return {};
  if (m->str_decoded >= 0) return decoded_[size_t(m->str_decoded)];
  return std::string_view(body_).substr(m->val_off + 1, m->val_len - 2);
}

uint64_t Message::number_in_range(std::string_view key, double max) const {
  const Member* m = find(key);
  if (!m || m->kind != Kind::Number) return 0;
  double d = m->number;
  if (!(d >= 0) || d > max) return 0;
  return uint64_t(std::trunc(d));
}

uint32_t Message::u32(std::string_view key) const { return uint32_t(number_in_range(key, 4294967295.0)); }
uint16_t Message::u16(std::string_view key) const { return uint16_t(number_in_range(key, 65535.0)); }

bool Message::boolean(std::string_view key) const {
  const Member* m = find(key);
  return m && m->kind == Kind::True;
}

bool Message::is_null(std::string_view key) const {
  const Member* m = find(key);
  return m && m->kind == Kind::Null;
}

JsonPtr Message::json(std::string_view key) const {
  const Member* m = find(key);
  if (!m) return nullptr;
  json_error_t err;
  return JsonPtr(json_loadb(body_.data() + m->val_off, m->val_len,
                            JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err));
}

std::string_view Message::raw(std::string_view key) const {
  const Member* m = find(key);
  return m ? std::string_view(body_).substr(m->val_off, m->val_len) : std::string_view();
}

std::vector<std::string> Message::string_list(std::string_view key) const {
  std::vector<std::string> out;
  const Member* m = find(key);
  if (!m || m->kind != Kind::Array) return out;
  // The array was validated by parse(); On-Demand reads it again in place. The body's copy is
  // padded for simdjson unless this Message was copied (a copied string loses its spare room).
  std::string_view text = std::string_view(body_).substr(m->val_off, m->val_len);
  simdjson::padded_string copy;
  simdjson::padded_string_view view;
  if (body_.capacity() - m->val_off >= m->val_len + simdjson::SIMDJSON_PADDING) {
    view = simdjson::padded_string_view(text.data(), text.size(), body_.capacity() - m->val_off);
  } else {
    copy = simdjson::padded_string(text);
    view = copy;
  }
  od::document doc;
  od::array array;
  if (thread_parser().iterate(view).get(doc) || doc.get_array().get(array)) return out;
  for (auto element : array) {
    std::string_view s;
    if (!element.get_string().get(s)) out.emplace_back(s);
  }
  return out;
}

}  // namespace rdv
