// Fuzz target: the daemon framing (shared/wire.h decode_next), JSON and binary mode.
//
// Input: byte 0 picks the options (bit 0: start the stream with the binary preamble, so both
// modes are reached from any seed; bits 1-3: the frame cap), bytes 1-4 seed the chunk splits,
// the rest is the stream. The stream is decoded twice, whole and then delivered in random
// chunks the way the server's read buffer receives it; both runs must yield the same items.
// Every frame re-encodes (append_json_frame / append_binary_frame) to exactly the bytes it
// was decoded from.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shared/wire.h"

namespace {

using namespace rdv::wire;

struct Item {
  DecodeStatus status;
  uint8_t type, version;
  std::string payload;
  bool operator==(const Item&) const = default;
};

void check(bool ok) {
  if (!ok) std::abort();
}

// Decodes everything decodable in `buf` (from the front), appending items; returns bytes used.
// Stops at NeedMore or at an item after which the server closes the connection.
size_t drain(Mode& mode, const std::string& buf, uint32_t max_bytes, std::vector<Item>* out, bool* closed) {
  size_t off = 0;
  while (!*closed) {
    const auto* p = reinterpret_cast<const uint8_t*>(buf.data()) + off;
    size_t len = buf.size() - off;
    Mode before = mode;
    Decoded d = decode_next(mode, p, len, max_bytes);
    check(d.consumed <= len);
    if (d.status == DecodeStatus::NeedMore) {
      check(d.consumed == 0);
      break;
    }
    Item it{d.status, d.type, d.version, {}};
    if (d.status == DecodeStatus::Frame) {
      check(d.payload >= p && d.payload + d.payload_len <= p + d.consumed);
      check(d.payload_len <= std::min<size_t>(max_bytes, kMaxMessageSize));
      it.payload.assign(reinterpret_cast<const char*>(d.payload), d.payload_len);
      std::string again;
      if (mode == Mode::Binary) append_binary_frame(again, d.type, it.payload);
      else append_json_frame(again, it.payload);
      check(again == std::string(reinterpret_cast<const char*>(p), d.consumed));
    } else if (d.status == DecodeStatus::Preamble) {
      check(before == Mode::Undetected && mode == Mode::Binary && d.consumed == 5);
    } else {
      // BadVersion and Close end the connection.
      check(d.status == DecodeStatus::BadVersion ? d.version != kVersion : d.reason != nullptr);
      *closed = true;
    }
    check(d.consumed > 0 || *closed);
    off += d.consumed;
    out->push_back(std::move(it));
  }
  return off;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const uint8_t opts = data[0];
  uint32_t rng = load_be32(data + 1) | 1;
  static const uint32_t kCaps[8] = {0, 1, 5, 16, 256, 65536, 1u << 20, kMaxMessageSize};
  const uint32_t max_bytes = kCaps[(opts >> 1) & 7];
  std::string stream;
  if (opts & 1) stream.append("PILT\x01", 5);
  stream.append(reinterpret_cast<const char*>(data + 5), size - 5);

  Mode whole_mode = Mode::Undetected;
  std::vector<Item> whole;
  bool whole_closed = false;
  size_t used = drain(whole_mode, stream, max_bytes, &whole, &whole_closed);
  check(used <= stream.size());

  // The same bytes in chunks of 1..64, kept in a buffer whose decoded front is dropped.
  Mode mode = Mode::Undetected;
  std::vector<Item> chunked;
  bool closed = false;
  std::string buf;
  size_t fed = 0;
  while (fed < stream.size() && !closed) {
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    size_t n = std::min<size_t>(1 + rng % 64, stream.size() - fed);
    buf.append(stream, fed, n);
    fed += n;
    buf.erase(0, drain(mode, buf, max_bytes, &chunked, &closed));
  }
  check(mode == whole_mode);
  check(chunked == whole);
  return 0;
}
