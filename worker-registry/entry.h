// One request on its way through the registry: decoded on the loop, checked ahead on the
// verify pool, its outbound HTTP call made on the loop (fetcher.h) when its handler needs one,
// run on the loop (reads) or the writer thread (writes), answered in order.
//
// Ownership: an Entry belongs to its connection's queue (server.cc) from decoding until its
// reply is released. While it is on the verify pool or in a writer batch, only that thread
// touches it; the hand-over through a mutex-guarded queue orders the accesses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "outbound_call.h"
#include "message.h"
#include "request.h"
#include "verify.h"

namespace rdv::registry {

struct MessageDesc;

enum class EntryKind : uint8_t {
  Json,         // JSON mode frame
  Native,       // binary opcode (0x01–0x03)
  Passthrough,  // binary 0x00: JSON inside a binary frame
  Control,      // registry.sock: the local operator
};

struct Entry {
  // New: decoded, checks not collected yet. Verifying: at the verify pool. Fetching: waiting
  // for its outbound HTTP call. Ready: may run. Submitted: in a writer batch. Done: its reply
  // is final.
  enum class State : uint8_t { New, Verifying, Fetching, Ready, Submitted, Done };

  void* conn = nullptr;  // the owning connection (opaque outside server.cc)
  const Peer* peer = nullptr;
  EntryKind kind = EntryKind::Json;
  uint8_t opcode = 0;
  std::string payload;   // native binary payload
  Message msg;           // JSON, passthrough and control requests
  bool msg_ok = true;
  std::string decode_error;
  int64_t now_ns = 0;    // unix time at decoding: what the request "saw"
  // null: an error answered at once (unknown type, undecodable passthrough, standby refusal).
  const MessageDesc* desc = nullptr;
  bool is_write = false;
  std::vector<VerifyJob> jobs;  // signature checks run ahead on the pool
  // Its descriptor has an outbound step (MessageDesc::fetch) not decided yet: decided when the
  // request's turn comes, on state that includes the connection's own earlier writes.
  bool fetch_undecided = false;
  std::unique_ptr<HttpResult> fetched;  // the call's result, for the handler (Request::fetched)
  State state = State::Ready;
  bool answered = false;  // the reply was made at decoding (bad wire version)
  bool continuing = false;  // a read in turns (Outcome::more): runs again next pass
  std::string resume, partial;

  // Results, written by whoever ran the request.
  std::string reply;            // the complete reply frame
  std::vector<Effect> effects;  // applied on the loop once final
  size_t type_index = 0;        // metrics label
  bool is_error = false;
  int64_t start_mono_ns = 0;    // decoding time, for the request-duration histogram
  int64_t batched_mono_ns = 0;  // when a write joined a batch, for the commit-wait histogram
};

}  // namespace rdv::registry
