// The daemon-facing framing (wire-protocol §2, §7) as pure functions over byte buffers, so
// every malformed-input case is unit-testable without sockets.
//
//   JSON mode:   [u32 BE length][JSON object]
//   Binary mode: "PILT" 0x01 once, then [u32 BE length = 1 + payload][u8 type][payload]
//
// The mode is chosen by the first four bytes of a connection: "PILT" selects binary, anything
// else is the length prefix of the first JSON frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::wire {

inline constexpr uint32_t kMaxMessageSize = 64u << 20;  // MaxMessageSize, 67 108 864
inline constexpr uint8_t kMagic[4] = {'P', 'I', 'L', 'T'};
inline constexpr uint8_t kVersion = 1;

// Binary message codes (§2.4).
inline constexpr uint8_t kPassthrough = 0x00;
inline constexpr uint8_t kHeartbeat = 0x01;
inline constexpr uint8_t kLookup = 0x02;
inline constexpr uint8_t kResolve = 0x03;
inline constexpr uint8_t kHeartbeatOk = 0x81;
inline constexpr uint8_t kLookupOk = 0x82;
inline constexpr uint8_t kResolveOk = 0x83;
inline constexpr uint8_t kError = 0xFF;

enum class Mode : uint8_t { Undetected, Json, Binary };

enum class DecodeStatus : uint8_t {
  NeedMore,    // not enough bytes yet; call again when more arrive
  Preamble,    // consumed the binary preamble; mode is now Binary
  Frame,       // a complete frame: see type/payload
  BadVersion,  // binary preamble with a version != 1: send one error frame, then close
  Close,       // fatal framing error (oversize, zero-length binary frame): close without reply
};

struct Decoded {
  DecodeStatus status = DecodeStatus::NeedMore;
  size_t consumed = 0;           // bytes to drop from the front of the buffer
  uint8_t type = 0;              // binary frame type (JSON frames: 0)
  const uint8_t* payload = nullptr;
  size_t payload_len = 0;
  uint8_t version = 0;           // for BadVersion
  const char* reason = nullptr;  // for Close, for logs and metrics
};

// Decodes the next item from `data`. `mode` is updated when the preamble is detected.
// `max_bytes` caps the frame length (never above kMaxMessageSize).
Decoded decode_next(Mode& mode, const uint8_t* data, size_t len, uint32_t max_bytes);

// Frame writers: append to `out`.
void append_json_frame(std::string& out, std::string_view body);
void append_binary_frame(std::string& out, uint8_t type, std::string_view payload);
// 0xFF error frame: [u16 len][text], text truncated to 65 000 bytes (§7.6).
void append_binary_error(std::string& out, std::string_view text);

// The error-text sanitiser (§2.8): the text if it contains one of the twelve keywords,
// otherwise "request failed".
std::string_view sanitize_error(std::string_view message);

// Big-endian helpers.
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint16_t load_be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint64_t load_be64(const uint8_t* p) { return uint64_t(load_be32(p)) << 32 | load_be32(p + 4); }
void put_be16(std::string& out, uint16_t v);
void put_be32(std::string& out, uint32_t v);
void put_be64(std::string& out, uint64_t v);
// str8 / str16: length-prefixed, truncated to the prefix's range.
void put_str8(std::string& out, std::string_view s);
void put_str16(std::string& out, std::string_view s);

}  // namespace rdv::wire
