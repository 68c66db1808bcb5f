// The request pipeline of wire-protocol §2.9 over the message table: classify a decoded
// request (which descriptor, read or write, refused outright), list the signatures to verify
// ahead, and run it — handler, authorisation decision, the request's nested transaction for
// writes, reply envelope and the error-text sanitiser (§2.8).
//
// Threading: classify() and collect_checks() run on the loop thread (snapshot reads);
// run_entry() runs reads on the loop and writes on the writer thread. None of them touches
// Registry state except through `state` on the loop.
#pragma once

#include <string>

#include "entry.h"
#include "registry.h"

namespace rdv::registry {

// Decides e.desc and e.is_write. A request refused before any handler (undecodable
// passthrough, unknown type, a write on a standby, a local message from the network) gets
// desc == nullptr or is run as a read that answers the refusal.
void classify(Entry& e, bool standby);

// Fills e.jobs with the signature checks the request will need (its descriptor's signer and
// challenge), reading signer keys from `snapshot`. Skips a heartbeat inside its verify window.
void collect_checks(Entry& e, const Txn& snapshot, const Registry& state);

// Everything a request runs against.
struct RunContext {
  const Config& cfg;
  uint64_t epoch;
  bool standby;
  Registry* state;              // loop thread only; null on the writer
  metrics::RegistryPage* page;
  const Txn* snapshot;          // reads: the loop's committed snapshot
  Txn* batch_txn;               // writes: the writer's batch transaction
  int store_error = 0;          // set when a write hit a store error (MDB_MAP_FULL: replay)
};

// subscribe_replication and replication_fence: the connection belongs to the replicator
// (docs/replication.md, "Connection and handshake"; server.h).
bool is_replication_frame(std::string_view type);

// Runs the request and fills e.reply, e.effects, e.is_error, e.type_index.
void run_entry(Entry& e, RunContext& ctx);

// The reply to a request whose write could not be committed (disk full, I/O error…).
void fail_entry(Entry& e, const std::string& text);

}  // namespace rdv::registry
