// node.online / node.offline audit actions (the "Node events", after Tailscale
// #11166 and #5967): a node that starts heartbeating — registers new, or comes back after
// being reaped — is online; a node the reaper removes for silence past -stale-threshold is
// offline. Both reach the webhook and the export like every other audit action.
//
// Where: liveness is in memory first (docs/architecture.md), so the transitions are seen there
// (Registry::apply and the reap results on the loop) and cost nothing per heartbeat beyond a
// flag. The entries are appended with the next batch (Batch::audit), so a crash can lose the
// events of at most that one batch, never a registration or a reap (those have their own
// node.registered / node.reaped entries, written with the change).
//
// Rate bound: at most `per_window` individual entries per window (100 a minute); beyond that
// the events are counted, and when the window ends one summary entry per action carries the
// count ("count=N", no node id). A mass outage costs a receiver 100 events and one summary a
// minute, not one event per node.
//
// Threading: the loop thread only. Pure logic apart from the clock it is given.
#pragma once

#include <cstdint>
#include <vector>

#include "model.h"

namespace rdv::registry {

class NodeEvents {
 public:
  static constexpr size_t kPerWindow = 100;
  static constexpr int64_t kWindowNs = 60LL * 1000000000;

  explicit NodeEvents(size_t per_window = kPerWindow, int64_t window_ns = kWindowNs)
      : per_window_(per_window), window_ns_(window_ns) {}

  void online(uint32_t id) { add(true, id); }
  void offline(uint32_t id) { add(false, id); }
  // Whether take() has something to write at `now_ns`.
  bool due(int64_t now_ns) const;
  // The entries to append now (timestamps from now_ns), oldest first.
  std::vector<AuditEntry> take(int64_t now_ns);

 private:
  struct Event {
    bool online;
    uint32_t id;
  };
  // Queued until the next batch; past what one window may send they are only counted.
  void add(bool online, uint32_t id) {
    if (queue_.size() < per_window_) queue_.push_back({online, id});
    else (online ? suppressed_online_ : suppressed_offline_)++;
  }
  size_t per_window_;
  int64_t window_ns_;
  int64_t window_start_ns_ = 0;
  size_t used_ = 0;
  uint64_t suppressed_online_ = 0, suppressed_offline_ = 0;
  std::vector<Event> queue_;
};

}  // namespace rdv::registry
