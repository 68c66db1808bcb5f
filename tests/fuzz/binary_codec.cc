// Fuzz target: the binary codec of wire-protocol §7 — the native payload decoders of the
// heartbeat (0x01), lookup (0x02) and resolve (0x03) opcodes and the JSON passthrough
// (0x00), dispatched through the real message table on the throwaway store of
// registry_fixture.h, and the encoders of their replies.
//
// Input: byte 0 is the frame type, the rest its payload (what decode_next hands the server
// after the preamble). Every request is answered with exactly one binary frame, decoded here
// as a daemon would: 0x81 heartbeat_ok (u64 unix time, u8 warning), 0x82 lookup_ok, 0x83
// resolve_ok, 0xFF error (u16 length, text) for a native request; for 0x00 a passthrough
// frame holding a JSON object with a "type", or 0xFF when the body is not a JSON object. Each
// field list must end exactly at the frame's end.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/message.h"
#include "tests/fuzz/registry_fixture.h"

namespace {

using rdv::fuzz::check;

// A cursor over a reply payload; every read fails (and stays failed) past the end.
struct Reader {
  std::string_view p;
  bool ok = true;
  uint64_t n(size_t bytes) {
    if (p.size() < bytes) return ok = false, 0;
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) v = v << 8 | uint8_t(p[i]);
    p.remove_prefix(bytes);
    return v;
  }
  void skip(size_t bytes) {
    if (p.size() < bytes) ok = false, p = {};
    else p.remove_prefix(bytes);
  }
  void str8() { skip(n(1)); }
  void str16() { skip(n(2)); }
  bool done() const { return ok && p.empty(); }
};

void check_native_reply(uint8_t opcode, uint8_t type, std::string_view payload) {
  Reader r{payload};
  if (type == rdv::wire::kError) {
    size_t len = r.n(2);
    r.skip(len);
    check(r.done() && len > 0, "0xFF: u16 length + text");
    return;
  }
  check(type == (opcode | 0x80), "a reply to a native request is its opcode | 0x80 or an error");
  switch (type) {
    case rdv::wire::kHeartbeatOk:
      r.n(8);
      check(r.n(1) <= 1, "warning flag");
      break;
    case rdv::wire::kLookupOk: {
      r.n(4), r.n(1), r.n(4);
      size_t nets = r.n(2);
      r.skip(2 * nets);
      r.str8(), r.str8();
      size_t tags = r.n(1);
      for (size_t i = 0; i < tags && r.ok; i++) r.str8();
      r.str16(), r.str8();
      break;
    }
    case rdv::wire::kResolveOk: {
      r.n(4);
      r.str16();
      size_t lans = r.n(2);
      for (size_t i = 0; i < lans && r.ok; i++) r.str16();
      r.n(4);
      break;
    }
    default:
      check(false, "unknown reply type");
  }
  check(r.done(), "reply fields end at the frame's end");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto& reg = rdv::fuzz::FuzzRegistry::get();
  const uint8_t type = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto e = std::make_unique<rdv::registry::Entry>();
  e->opcode = type;
  if (type == rdv::wire::kPassthrough) {
    e->kind = rdv::registry::EntryKind::Passthrough;
    e->msg_ok = e->msg.parse(body, &e->decode_error);
  } else {
    e->kind = rdv::registry::EntryKind::Native;
    e->payload.assign(body);
  }
  std::string reply = reg.run(std::move(e));
  check(reply.size() >= 5, "a binary reply frame");
  uint32_t n = rdv::wire::load_be32(reinterpret_cast<const uint8_t*>(reply.data()));
  check(n >= 1 && n == reply.size() - 4, "exactly one frame");
  uint8_t reply_type = uint8_t(reply[4]);
  std::string_view payload = std::string_view(reply).substr(5);
  if (type == rdv::wire::kPassthrough && reply_type == rdv::wire::kError) {
    // Only a body that is not a JSON object, or a replication message, is refused in 0xFF
    // (dispatch.cc run_entry); the connection stays open.
    check_native_reply(type, reply_type, payload);
  } else if (type == rdv::wire::kPassthrough) {
    check(reply_type == rdv::wire::kPassthrough, "passthrough is answered in passthrough");
    rdv::Message out;
    std::string err;
    check(out.parse(payload, &err) && !out.type().empty(), "the passthrough reply is a JSON object with a type");
  } else {
    check_native_reply(type, reply_type, payload);
  }
  return 0;
}
