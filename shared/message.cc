#include "message.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace rdv {

// Recursive-descent over the body; every method returns false with `error` set on bad input.
class MessageParser {
 public:
  MessageParser(const std::string& s, Message& m) : s_(s), m_(m) {}

  bool parse(std::string* error) {
    skip_ws();
    bool ok;
    if (peek() == '{') {
      ok = top_object();
    } else {
      Message::Kind kind;
      double num;
      int32_t decoded;
      ok = value(0, &kind, &num, &decoded);
      if (ok && kind != Message::Kind::Null) fail("body is not a JSON object");
      ok = ok && err_.empty();
    }
    if (ok) {
      skip_ws();
      if (pos_ != s_.size()) ok = fail("end of file expected");
    }
    if (!ok) *error = err_ + " near byte " + std::to_string(pos_);
    return ok;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= s_.size(); }
  bool fail(const char* what) {
    if (err_.empty()) err_ = what;
    return false;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) pos_++;
  }

  bool top_object() {
    pos_++;  // '{'
    skip_ws();
    if (peek() == '}') {
      pos_++;
      return true;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') return fail("string or '}' expected");
      Message::Member mem{};
      size_t key_start = pos_ + 1;
      if (!string(&mem.key_decoded)) return false;
      mem.key_off = uint32_t(key_start);
      mem.key_len = uint32_t(pos_ - 1 - key_start);
      skip_ws();
      if (peek() != ':') return fail("':' expected");
      pos_++;
      skip_ws();
      mem.val_off = uint32_t(pos_);
      if (!value(1, &mem.kind, &mem.number, &mem.str_decoded)) return false;
      mem.val_len = uint32_t(pos_ - mem.val_off);
      m_.members_.push_back(mem);
      skip_ws();
      if (peek() == ',') {
        pos_++;
        continue;
      }
      if (peek() == '}') {
        pos_++;
        return true;
      }
      return fail("',' or '}' expected");
    }
  }

  // Parses any value at pos_. For strings with escapes, *decoded is the index of the decoded
  // text (only at depth 1, where handlers read it); otherwise -1.
  bool value(int depth, Message::Kind* kind, double* number, int32_t* decoded) {
    *decoded = -1;
    *number = 0;
    if (depth > Message::kMaxDepth) return fail("maximum parsing depth reached");
    char c = peek();
    switch (c) {
      case '"':
        *kind = Message::Kind::String;
        return string(depth <= 1 ? decoded : nullptr);
      case '{':
        *kind = Message::Kind::Object;
        return container(depth, true);
      case '[':
        *kind = Message::Kind::Array;
        return container(depth, false);
      case 't':
        *kind = Message::Kind::True;
        return literal("true");
      case 'f':
        *kind = Message::Kind::False;
        return literal("false");
      case 'n':
        *kind = Message::Kind::Null;
        return literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          *kind = Message::Kind::Number;
          return num(number);
        }
        return fail(at_end() ? "unexpected end of input" : "invalid token");
    }
  }

  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return fail("invalid token");
    pos_ += n;
    return true;
  }

  bool num(double* out) {
    size_t start = pos_;
    bool neg = peek() == '-';
    if (neg) pos_++;
    if (peek() == '0') {
      pos_++;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') pos_++;
    } else {
      return fail("invalid number");
    }
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      pos_++;
      if (!(peek() >= '0' && peek() <= '9')) return fail("invalid number");
      while (peek() >= '0' && peek() <= '9') pos_++;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      pos_++;
      if (peek() == '+' || peek() == '-') pos_++;
      if (!(peek() >= '0' && peek() <= '9')) return fail("invalid number");
      while (peek() >= '0' && peek() <= '9') pos_++;
    }
    size_t digits = pos_ - start - (neg ? 1 : 0);
    if (integral && digits <= 15) {
      // Exact in a double: no strtod needed (the common case: ids).
      int64_t v = 0;
      for (size_t i = start + (neg ? 1 : 0); i < pos_; i++) v = v * 10 + (s_[i] - '0');
      *out = double(neg ? -v : v);
      return true;
    }
    std::string text = s_.substr(start, pos_ - start);
    *out = std::strtod(text.c_str(), nullptr);
    if (std::isinf(*out)) return fail("real number overflow");  // Go and jansson refuse it too
    return true;
  }

  static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return fail("invalid escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      int h = hexval(s_[pos_ + i]);
      if (h < 0) return fail("invalid escape");
      v = v << 4 | uint32_t(h);
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | cp >> 6);
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | cp >> 12);
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | cp >> 18);
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  // Validates one UTF-8 sequence starting at pos_ (a byte >= 0x80) and advances past it.
  bool utf8() {
    auto b = [&](size_t i) { return uint8_t(i < s_.size() ? s_[i] : 0); };
    uint8_t c = b(pos_);
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
    else return fail("invalid UTF-8");
    for (size_t i = 1; i < n; i++) {
      uint8_t cc = b(pos_ + i);
      if ((cc & 0xC0) != 0x80) return fail("invalid UTF-8");
      cp = cp << 6 | (cc & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return fail("invalid UTF-8");
    pos_ += n;
    return true;
  }

  // A string literal at pos_ ('"'). With `decoded` non-null, escaped strings are decoded into
  // m_.decoded_ and *decoded gets the index.
  bool string(int32_t* decoded) {
    pos_++;  // opening quote
    size_t start = pos_;
    std::string out;
    bool escaped = false;
    for (;;) {
      if (at_end()) return fail("premature end of input");
      uint8_t c = uint8_t(s_[pos_]);
      if (c == '"') break;
      if (c < 0x20) return fail("control character in string");
      if (c >= 0x80) {
        size_t from = pos_;
        if (!utf8()) return false;
        if (escaped) out.append(s_, from, pos_ - from);
        continue;
      }
      if (c != '\\') {
        if (escaped) out += char(c);
        pos_++;
        continue;
      }
      if (!escaped) {
        out.assign(s_, start, pos_ - start);
        escaped = true;
      }
      pos_++;
      if (at_end()) return fail("premature end of input");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("invalid Unicode: lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (s_.compare(pos_, 2, "\\u") != 0) return fail("invalid Unicode: lone high surrogate");
            pos_ += 2;
            if (!hex4(&lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("invalid Unicode: bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return fail("invalid escape");
      }
    }
    pos_++;  // closing quote
    if (decoded) {
      *decoded = -1;
      if (escaped) {
        m_.decoded_.push_back(std::move(out));
        *decoded = int32_t(m_.decoded_.size() - 1);
      }
    }
    return true;
  }

  // A nested array ('[' … ']') or object ('{' … '}'), validated and skipped: handlers read
  // nested values through Message::json() when they need them.
  bool container(int depth, bool keyed) {
    const char close = keyed ? '}' : ']';
    pos_++;
    skip_ws();
    if (peek() == close) {
      pos_++;
      return true;
    }
    for (;;) {
      skip_ws();
      if (keyed) {
        if (peek() != '"') return fail("string or '}' expected");
        if (!string(nullptr)) return false;
        skip_ws();
        if (peek() != ':') return fail("':' expected");
        pos_++;
        skip_ws();
      }
      Message::Kind k;
      double n;
      int32_t d;
      if (!value(depth + 1, &k, &n, &d)) return false;
      skip_ws();
      if (peek() == ',') {
        pos_++;
        continue;
      }
      if (peek() == close) {
        pos_++;
        return true;
      }
      return fail(keyed ? "',' or '}' expected" : "',' or ']' expected");
    }
  }

  const std::string& s_;
  Message& m_;
  size_t pos_ = 0;
  std::string err_;
};

bool Message::parse(std::string_view body, std::string* error) {
  body_.assign(body);
  members_.clear();
  decoded_.clear();
  if (body_.size() > UINT32_MAX) {
    *error = "body too large";
    return false;
  }
  MessageParser p(body_, *this);
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
  JsonPtr arr = json(key);
  size_t i;
  json_t* v;
  json_array_foreach(arr.get(), i, v) {
    if (json_is_string(v)) out.emplace_back(json_string_value(v), json_string_length(v));
  }
  return out;
}

}  // namespace rdv
