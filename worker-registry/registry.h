// The registry worker's in-memory state: configuration, epoch, liveness and the heartbeat
// verify cache. Everything durable is in LMDB; this is what is hot or derived.
//
// Threading: owned by the event-loop thread. The writer thread never touches it (its
// requests ask for Effects instead, applied here after their commit), so none of this needs
// a lock.
//
// Liveness (last-seen times from heartbeats) is hot: kept here and flushed to the `liveness`
// database every heartbeat-flush-ms through the writer, outside the change log (its own lossy
// channel, docs/architecture.md). A crash loses at most that much liveness, never a
// registration, key, hostname, tag or visibility change.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cidr.h"
#include "config.h"
#include "jwt.h"
#include "liveness_table.h"
#include "metrics.h"
#include "node_events.h"
#include "request.h"
#include "store.h"

namespace rdv::registry {

// The beacon address published for relay-only nodes (wire §6.3.1). Daemons send UDP to it, so
// it must be dialable (client-expectations D11): a host-less -beacon-addr (":9001", the
// default) gets the address this connection reached us on, where the beacon runs alongside.
std::string beacon_endpoint(const Config& cfg, const Peer& peer);

// One last-seen time to write in a liveness flush.
struct LivenessRow {
  uint32_t id;
  int64_t last_seen_ns;
};

class Registry {
 public:
  Registry(Config cfg, Env& env, metrics::RegistryPage* page);

  // Start-up, before the writer thread exists: on a leader, initialises a fresh store (meta
  // counters, backbone network) in one change record; reads the epoch. Liveness is not read
  // here, so a restarted worker serves at once even with a million nodes: last-seen times are
  // read on first use and by load_liveness_step(). Returns false with *error on a store problem.
  bool load(std::string* error);
  // Reads up to `max` more last-seen times into memory; true once all are in. The reaper
  // and the online gauge wait for that.
  bool load_liveness_step(size_t max);
  bool liveness_loaded() const { return liveness_loaded_; }

  const Config& config() const { return *cfg_; }
  // The configuration as a shared value: a batch handed to the writer keeps the one it
  // started with while SIGHUP installs another.
  std::shared_ptr<const Config> config_ptr() const { return cfg_; }
  void set_config(const Config& cfg);
  // -allow-private-endpoints, parsed: ranges the outbound calls may reach despite the guard.
  const CidrList& outbound_allowed() const { return outbound_allowed_; }
  Env& env() { return env_; }
  metrics::RegistryPage* page() { return page_; }
  // Writes are refused on a standby (-standby, or a demotion) and on a fenced leader alike
  // (docs/replication.md, "Roles"); the role can change at run time (main.cc, on_role).
  bool is_standby() const { return !cfg_->standby.empty() || cfg_->fenced; }
  uint64_t epoch() const { return epoch_; }
  // Re-reads <data-dir>/epoch (the replicator raises it on a promotion and as a standby follows
  // a newer leader). False with *error on an unreadable or corrupt file; the epoch is kept then.
  bool reload_epoch(std::string* error);
  // This instance just became the leader: the replicator wrote last-seen times and the change
  // log as a standby, so the liveness table is read again from LMDB (load_liveness_step), the
  // node events start from "unknown", and last_seq is read from meta.
  void reset_for_leadership();

  // ---- liveness and the verify cache ----
  // Last-seen time; reads the flushed value through `txn` on first use after a start. On a
  // standby always through `txn`: the replicator writes the leader's liveness rows there, and
  // a heartbeat served here is not kept (it changes nothing a client reads).
  int64_t last_seen_ns(const Txn& txn, uint32_t id);
  int64_t last_verified_ns(uint32_t id) const { return live_.get(id).last_verified_ns; }
  // The verify cache of §4.5: a heartbeat within 120 s of the last verified one is accepted
  // without checking its signature.
  bool recently_verified(uint32_t id, int64_t now_ns) const;
  void apply(const Effect& e);

  // The dirty last-seen times for a flush. They stay dirty until liveness_flushed() is told
  // the rows it wrote committed, and only those whose time has not moved on since.
  std::vector<LivenessRow> liveness_to_flush() const;
  void liveness_flushed(const std::vector<LivenessRow>& written, bool committed);
  // Ids whose last-seen time is older than the stale threshold, scanning a slice of the table
  // per call so that a full sweep takes at most half the stale threshold (registry.cc). The
  // sweep also frees the table's pages that hold only forgotten ids (liveness_table.h).
  std::vector<uint32_t> reap_candidates(int64_t now_ns, int64_t interval_ns);
  size_t liveness_pages() const { return live_.pages_allocated(); }

  // ---- the identity provider's keys (validate_token, wire §6.1.8) ----
  // The JWKS last fetched from `url`, if it is younger than kJwksTtlNs at `now_ns` and has at
  // least one key; null otherwise. One document is kept (one identity provider is configured
  // at a time). Valid until the next cache_jwks().
  static constexpr int64_t kJwksTtlNs = 5LL * 60 * 1000000000;
  const jwt::Jwks* cached_jwks(std::string_view url, int64_t now_ns) const;
  void cache_jwks(std::string url, jwt::Jwks keys, int64_t now_ns);

  // ---- node.online / node.offline (node_events.h) ----
  // The reaper removed `id` for silence: its offline event (once; leader only).
  void node_went_offline(uint32_t id);
  NodeEvents node_events;
  // The live event stream (events.cc): told when a node comes online (Registry::seen).
  std::function<void(uint32_t)> on_online;

  // Recomputes the gauges in the metrics page.
  void update_gauges(int64_t now_ns);

  // What the connection layer reports for the status command (server.cc keeps it current).
  struct ServerFigures {
    size_t tcp_connections = 0;
    bool serving = true;
    uint64_t last_seq = 0;  // the newest committed change-log sequence (on a standby: applied)
    // No batch at the writer and none accumulating: after a demotion the replicator waits for
    // this before it follows the new leader (docs/replication.md, "Promotion, demotion").
    bool writer_idle = true;
    // -repl-sync (sync_gate.h): the state's name, replies held now, degradations so far.
    bool sync_enabled = false;
    const char* sync_state = "off";
    size_t sync_held = 0;
    uint64_t sync_degraded_total = 0;
  } server;

 private:
  Liveness& live(uint32_t id);
  // A heartbeat or registration of `id` at `ns`: its online event if it was offline.
  void seen(Liveness& l, uint32_t id, int64_t ns);

  std::shared_ptr<const Config> cfg_;
  CidrList outbound_allowed_;
  struct {
    std::string url;
    jwt::Jwks keys;
    int64_t fetched_ns = 0;
  } jwks_;
  Env& env_;
  metrics::RegistryPage* page_;
  uint64_t epoch_ = 1;
  LivenessTable live_;  // by node id, in pages (ids are allocated from 1, never reused)
  std::vector<uint32_t> dirty_;
  size_t reap_cursor_ = 0;
  uint32_t liveness_cursor_ = 0;  // next id for load_liveness_step()
  bool liveness_loaded_ = false;
};

}  // namespace rdv::registry
