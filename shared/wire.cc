#include "wire.h"

#include <algorithm>
#include <cstring>

namespace rdv::wire {

Decoded decode_next(Mode& mode, const uint8_t* data, size_t len, uint32_t max_bytes) {
  Decoded d;
  max_bytes = std::min(max_bytes, kMaxMessageSize);
  if (len < 4) return d;
  if (mode == Mode::Undetected) {
    if (std::memcmp(data, kMagic, 4) == 0) {
      if (len < 5) return d;
      if (data[4] != kVersion) {
        d.status = DecodeStatus::BadVersion;
        d.version = data[4];
        d.consumed = 5;
        return d;
      }
      mode = Mode::Binary;
      d.status = DecodeStatus::Preamble;
      d.consumed = 5;
      return d;
    }
    mode = Mode::Json;
  }
  // JSON: [len][body]. Binary: [len = 1 + payload][type][payload], so len 0 is malformed.
  uint32_t n = load_be32(data);
  const bool binary = mode == Mode::Binary;
  if (binary && n == 0) {
    d.status = DecodeStatus::Close;
    d.reason = "zero-length binary frame";
    return d;
  }
  if (n > max_bytes) {
    d.status = DecodeStatus::Close;
    d.reason = "frame too large";
    return d;
  }
  if (len - 4 < n) return d;
  d.status = DecodeStatus::Frame;
  d.type = binary ? data[4] : 0;
  d.payload = data + (binary ? 5 : 4);
  d.payload_len = binary ? n - 1 : n;
  d.consumed = 4 + size_t(n);
  return d;
}

void put_be16(std::string& out, uint16_t v) {
  out += char(v >> 8);
  out += char(v);
}
void put_be32(std::string& out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.append(b, 4);
}
void put_be64(std::string& out, uint64_t v) {
  put_be32(out, uint32_t(v >> 32));
  put_be32(out, uint32_t(v));
}
void put_str8(std::string& out, std::string_view s) {
  size_t n = std::min<size_t>(s.size(), 255);
  out += char(n);
  out.append(s.data(), n);
}
void put_str16(std::string& out, std::string_view s) {
  size_t n = std::min<size_t>(s.size(), 65535);
  put_be16(out, uint16_t(n));
  out.append(s.data(), n);
}

void append_json_frame(std::string& out, std::string_view body) {
  put_be32(out, uint32_t(body.size()));
  out.append(body);
}

void append_binary_frame(std::string& out, uint8_t type, std::string_view payload) {
  put_be32(out, uint32_t(payload.size() + 1));
  out += char(type);
  out.append(payload);
}

void append_binary_error(std::string& out, std::string_view text) {
  text = text.substr(0, 65000);
  put_be32(out, uint32_t(text.size() + 3));
  out += char(kError);
  put_be16(out, uint16_t(text.size()));
  out.append(text);
}

std::string_view sanitize_error(std::string_view msg) {
  static constexpr std::string_view kKeywords[] = {
      "rate limited", "enterprise feature", "expired", "already", "not a member", "cannot",
      "too many", "too long", "not found", "invalid", "require", "signature"};
  for (auto k : kKeywords)
    if (msg.find(k) != std::string_view::npos) return msg;
  return "request failed";
}

}  // namespace rdv::wire
