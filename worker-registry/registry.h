// The registry worker's state and the request context every handler receives.
//
// Threading: everything here runs on the worker's single libevent thread.
//
// Durability model (ARCHITECTURE.md "Registry worker"):
//  * All requests handled in one loop pass share one LMDB write transaction (group commit).
//    Replies produced during the pass are staged per connection and released only after the
//    commit succeeded, so an acknowledged write is on disk.
//  * Liveness (last-seen times from heartbeats) is hot: kept in memory and written to the
//    `liveness` database every heartbeat-flush-ms; a crash loses at most that much liveness,
//    never a registration, key, hostname, tag or visibility change.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <string_view>
#include <vector>

#include "config.h"
#include "json.h"
#include "message.h"
#include "metrics.h"
#include "model.h"
#include "store.h"
#include "verify.h"

namespace rdv::registry {

// What a handler returns: a JSON success object, a pre-encoded success body, or an error text
// (before the sanitiser).
struct Outcome {
  JsonPtr json;
  std::string raw;
  std::string error;
  bool failed = false;

  static Outcome ok(json_t* j) {
    Outcome o;
    o.json.reset(j);
    return o;
  }
  static Outcome ok_raw(std::string body) {
    Outcome o;
    o.raw = std::move(body);
    return o;
  }
  static Outcome fail(std::string text) {
    Outcome o;
    o.error = std::move(text);
    o.failed = true;
    return o;
  }
};

// The TCP peer of the connection a request came in on.
struct Peer {
  std::string ip;  // IPv4-mapped IPv6 reduced to IPv4
  uint16_t port = 0;
  std::string local_ip;  // our address on this connection (the one the daemon dialled)
};

// The beacon address published for relay-only nodes (wire §6.3.1). Daemons send UDP to it, so
// it must be dialable (client-expectations D11): a host-less -beacon-addr (":9001", the
// default) gets the address this connection reached us on, where the beacon runs alongside.
std::string beacon_endpoint(const Config& cfg, const Peer& peer);

// In-memory liveness per node id (dense: ids are allocated sequentially from 1).
struct Liveness {
  int64_t last_seen_ns = 0;
  int64_t last_verified_ns = 0;  // last successful heartbeat signature check (§4.5)
  bool dirty = false;            // last_seen not yet written to LMDB
  bool loaded = false;           // last_seen reflects the liveness database (see load())
};

class Registry {
 public:
  Registry(Config cfg, Env& env, metrics::RegistryPage* page);

  // Initialises a fresh store (meta counters, backbone network). Returns false with *error
  // on a store problem. Liveness is not read here, so a restarted worker serves at once even
  // with a million nodes: last-seen times are read on first use and by load_liveness_step().
  bool load(std::string* error);
  // Reads up to `max` more last-seen times into memory; true once all are in. The reaper
  // and the online gauge wait for that.
  bool load_liveness_step(size_t max);
  bool liveness_loaded() const { return liveness_loaded_; }

  const Config& config() const { return cfg_; }
  void set_config(const Config& cfg) { cfg_ = cfg; }
  Env& env() { return env_; }
  metrics::RegistryPage* page() { return page_; }
  bool is_standby() const { return !cfg_.standby.empty(); }
  uint64_t epoch() const { return epoch_; }

  // ---- the pass transaction ----
  // The transaction for the current loop pass, begun on first use. Handlers read and write
  // through it; Registry::commit_pass() commits it at the end of the pass.
  Txn& txn();
  // Ends the pass: commits. Returns 0, or an LMDB error (MDB_MAP_FULL: caller grows the map
  // and replays the pass).
  int commit_pass();
  void abort_pass() { txn_.abort(); }
  // Records a store error of the pass: its commit is then refused, and the pass is replayed
  // (MDB_MAP_FULL) or every request in it answered with an error. Errors in snapshot mode
  // only affect the read that hit them.
  void note_store_error(int rc) {
    if (rc && !pass_error_ && !snapshot_) pass_error_ = rc;
  }
  // Snapshot mode: txn() is a read transaction on the last committed state. Reads from
  // connections that wrote nothing in the pass run there first, so their replies leave before
  // the pass's writes are verified and committed (they are ordered before those writes).
  void begin_snapshot() { snapshot_ = true; }
  void end_snapshot() {
    snapshot_ = false;
    read_txn_.abort();
  }
  int pass_error() const { return pass_error_; }

  // ---- nodes ----
  bool get_node(uint32_t id, Node* out);
  // Writes the node record through `m` (the caller finishes the mutation).
  void put_node(Mutation& m, const Node& n);
  uint32_t node_for_key(const PublicKey& key);
  uint32_t node_for_hostname(std::string_view hostname);
  uint32_t node_for_owner(std::string_view owner);
  bool trust_pair(uint32_t a, uint32_t b);
  // True when the two nodes share a network other than the backbone.
  static bool share_network(const Node& a, const Node& b);
  uint64_t node_count();
  // Finishes a mutation with the current epoch and records store errors.
  void finish(Mutation& m);

  // ---- liveness ----
  int64_t last_seen_ns(uint32_t id);         // reads the database on first use after a start
  void touch(uint32_t id, int64_t now_ns);   // last_seen = now, mark dirty
  void set_last_seen(uint32_t id, int64_t ns);  // already written by the caller's mutation
  void forget(uint32_t id);                  // node removed: clear liveness and verify cache
  int64_t last_verified_ns(uint32_t id);
  void set_verified(uint32_t id, int64_t now_ns);
  // Writes dirty last-seen times into the pass transaction (one Liveness change record).
  // They stay dirty until liveness_committed(), so a replayed pass writes them again.
  void write_liveness();
  void liveness_committed();
  // Removes nodes silent for longer than the stale threshold (up to 10 000 ids per call,
  // round-robin). Returns the number reaped.
  size_t reap_stale(int64_t now_ns);
  // Drops the oldest change-log records beyond changelog-keep (bounded work per call).
  // Trimming is not itself logged: it changes no state a standby applies.
  void trim_changelog();
  // Recomputes the gauges in the metrics page.
  void update_gauges(int64_t now_ns);

  // ---- signature results verified ahead of the pass (verify.h) ----
  void remember_verified(const std::vector<VerifyJob>& jobs);
  // 1 verified, 0 failed, -1 not checked ahead.
  int verified_ahead(const PublicKey& key, std::string_view msg, const uint8_t* sig) const;
  void forget_verified() { verified_.clear(); }

  // Allocates the next node id, recording the counter in `m`; 0 when the space is exhausted.
  uint32_t allocate_node_id(Mutation& m);

 private:
  Config cfg_;
  Env& env_;
  metrics::RegistryPage* page_;
  Txn txn_;
  Txn read_txn_;  // snapshot mode only
  bool snapshot_ = false;
  int pass_error_ = 0;
  uint64_t epoch_ = 1;
  std::vector<Liveness> live_;
  std::vector<uint32_t> dirty_;
  uint32_t reap_cursor_ = 0;
  uint32_t liveness_cursor_ = 0;  // next id for load_liveness_step()
  bool liveness_loaded_ = false;
  Liveness& live(uint32_t id);
  std::unordered_map<std::string, bool> verified_;
};

// ---- handlers ----
// A request as the dispatcher hands it to a handler.
struct Request {
  Registry& reg;
  const Message& msg;  // the decoded request
  const Peer& peer;
  int64_t now_ns;
};

using JsonHandler = Outcome (*)(Request&);

// nodes.cc
Outcome handle_register(Request& r);
Outcome handle_deregister(Request& r);
Outcome handle_heartbeat(Request& r);
// directory.cc
Outcome handle_lookup(Request& r);
Outcome handle_resolve(Request& r);
Outcome handle_set_hostname(Request& r);
Outcome handle_resolve_hostname(Request& r);
Outcome handle_set_visibility(Request& r);
Outcome handle_set_tags(Request& r);
Outcome handle_list_nodes(Request& r);

// auth.cc — authorisation classes of wire-protocol §4.3.
// SIG: the node's signature over `challenge` (admin token only for key-less legacy nodes).
// Returns "" when authorised, otherwise the error text.
std::string check_signature(Request& r, const Node& node, std::string_view challenge);
// SIG|ADMIN: signature first, then the global admin token; the signature error otherwise.
std::string check_signature_or_admin(Request& r, const Node& node, std::string_view challenge);
// ADMIN: the global admin token ("network creation is disabled" when none is configured).
std::string check_admin(Request& r);
// Counts a real Ed25519 verification in the metrics.
bool verify_counted(Registry& reg, const PublicKey& key, std::string_view msg, const uint8_t* sig);
// "invalid signature encoding: …" detail for undecodable base64, in Go's words.
std::string base64_error_detail(std::string_view text);

// Heartbeat pieces shared by the JSON and binary paths (nodes.cc).
bool heartbeat_recently_verified(Registry& reg, uint32_t id, int64_t now_ns);
std::string heartbeat_accept(Registry& reg, const Node& node, int64_t now_ns, bool* warning);

// precheck.cc — the signature checks a request will need, for VerifyPool.
void collect_json_checks(Registry& reg, const Message& msg, int64_t now_ns, std::vector<VerifyJob>& jobs);
void collect_native_checks(Registry& reg, uint8_t type, const uint8_t* payload, size_t len, int64_t now_ns,
                           std::vector<VerifyJob>& jobs);

// dispatch.cc — the JSON pipeline (§2.9): standby gate, type lookup, handler, envelope.
// Returns the reply body (success or {"type":"error",…}) and sets *is_error and *type_index.
std::string dispatch_json(Registry& reg, const Message& msg, const Peer& peer, int64_t now_ns,
                          bool* is_error, size_t* type_index);

// binary.cc — native binary opcodes (§7.3–7.5). Appends one reply frame to `out`.
void handle_binary(Registry& reg, uint8_t type, const uint8_t* payload, size_t len,
                   const Peer& peer, int64_t now_ns, std::string& out);

// control.cc — commands on the local registry.sock (status for the admin and rendezvousctl).
std::string dispatch_control(Registry& reg, const Message& msg, size_t tcp_connections, bool serving);

// Helpers shared by handlers.
std::string node_not_found(uint32_t id);  // "node <id>: node not found"
json_t* json_string_list(const std::vector<std::string>& v);

}  // namespace rdv::registry
