// Fuzz target: the replication stream (shared/replication.h): decode_frame over a byte
// stream, then the payload decoder of each frame's kind, and the change records inside a
// Records frame (decode_change).
//
// Input: byte 0 bit 0 set → the rest is a list of [u8 kind][u16 BE len][len bytes] pieces,
// each sent through append_frame (valid length and CRC32C), so the payload decoders see
// arbitrary payloads; clear → the rest is the raw stream. Invariants: a frame re-encodes
// to the bytes it was read from; every payload that decodes re-encodes to itself (the
// payload formats are fixed-width or length-prefixed with fixed-width prefixes: bijective);
// the assembled stream decodes to exactly the pieces that went in.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "shared/replication.h"
#include "shared/store.h"

namespace {

using namespace rdv::repl;

void check(bool ok) {
  if (!ok) std::abort();
}

void payload_round_trip(const Frame& f) {
  std::string_view p = f.payload;
  switch (f.kind) {
    case Kind::Records: {
      std::vector<std::string_view> records;
      if (!decode_records(p, &records)) return;
      RecordsBuilder b;
      for (std::string_view rec : records) {
        b.add(rec);
        rdv::ChangeRecord r;
        std::string why;
        if (rdv::decode_change(rec, &r, &why)) check(rdv::encode_change(r).size() <= rec.size());
      }
      check(b.count() == records.size());
      check(b.take() == p);
      return;
    }
    case Kind::CopyChunk: {
      uint64_t off;
      std::string_view bytes;
      if (decode_copy_chunk(p, &off, &bytes)) check(encode_copy_chunk(off, bytes) == p);
      return;
    }
    case Kind::CopyEnd: {
      uint64_t n;
      uint32_t crc;
      if (decode_copy_end(p, &n, &crc)) check(encode_copy_end(n, crc) == p);
      return;
    }
    case Kind::Liveness: {
      std::vector<LivenessRow> rows;
      if (decode_liveness(p, &rows)) check(encode_liveness(rows) == p);
      return;
    }
    case Kind::Heartbeat: {
      Heartbeat h;
      if (decode_heartbeat(p, &h)) check(encode_heartbeat(h) == p);
      return;
    }
    case Kind::Ack: {
      uint64_t seq;
      if (decode_ack(p, &seq)) check(encode_ack(seq) == p);
      return;
    }
    case Kind::StandbyBeat: {
      StandbyBeat b;
      if (decode_standby_beat(p, &b)) check(encode_standby_beat(b) == p);
      return;
    }
    case Kind::Error:
      return;  // free text
  }
  check(false);  // decode_frame let an unknown kind through
}

// Decodes frames from the front of `in` until NeedMore or Bad.
std::vector<std::pair<Kind, std::string>> decode_all(std::string_view in, bool* bad) {
  std::vector<std::pair<Kind, std::string>> out;
  *bad = false;
  for (;;) {
    Frame f;
    size_t consumed = 0;
    std::string why;
    DecodeStatus st = decode_frame(in, &f, &consumed, &why);
    if (st == DecodeStatus::NeedMore) return out;
    if (st == DecodeStatus::Bad) {
      check(!why.empty());
      *bad = true;
      return out;
    }
    check(consumed >= 9 && consumed <= in.size());
    std::string again;
    append_frame(again, f.kind, f.payload);
    check(again == in.substr(0, consumed));
    check(kind_name(f.kind) != std::string_view("unknown"));
    payload_round_trip(f);
    out.emplace_back(f.kind, std::string(f.payload));
    in.remove_prefix(consumed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  bool bad;
  if (!(data[0] & 1)) {
    decode_all(rest, &bad);
    return 0;
  }
  std::string stream;
  std::vector<std::pair<Kind, std::string>> sent;
  while (rest.size() >= 3) {
    Kind kind = Kind(uint8_t(rest[0]));
    size_t len = std::min<size_t>(size_t(uint8_t(rest[1])) << 8 | uint8_t(rest[2]), rest.size() - 3);
    std::string payload(rest.substr(3, len));
    rest.remove_prefix(3 + len);
    append_frame(stream, kind, payload);
    sent.emplace_back(kind, std::move(payload));
  }
  auto got = decode_all(stream, &bad);
  // Frames decode in order up to the first kind this build does not know, which is refused.
  check(got.size() <= sent.size());
  for (size_t i = 0; i < got.size(); i++) check(got[i] == sent[i]);
  check(bad == (got.size() < sent.size()));
  return 0;
}
