// Synchronous replication (-repl-sync, docs/replication.md "Synchronous mode"): which committed
// writes may be answered now and which wait for a standby's acknowledgement. A pure planner,
// unit-tested without sockets (tests/unit/sync_gate_test.cc); the pipeline (pipeline.cc) owns
// one, holds the replies it says to hold and arms a timer at next_deadline().
//
// Rules:
//  * Off (not enabled): nothing is ever held.
//  * Sync: a batch that committed records up to `seq` is held until the replicator reports an
//    ack at or past `seq` (repl_acked). Held batches are released oldest first; their sequences
//    only grow, so an ack releases a prefix.
//  * A held batch still waiting at its deadline (commit time + timeout) releases everything
//    held and the gate degrades: from then on nothing is held, so a leader without a reachable
//    standby answers at asynchronous speed instead of one timeout per write. With no streaming
//    standby at all, the first write waits the timeout, then the gate degrades.
//  * Degraded → Sync once an ack from a streaming standby (standbys > 0) reaches the last
//    committed sequence: the standby has everything, so holding is meaningful again.
//
// The acknowledged sequence is taken as reported, not as a maximum: the replicator reports the
// highest ack among the standbys streaming now, and when that standby goes away a lower figure
// is the truth for writes still to come.
//
// Threading: the registry's loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace rdv::registry {

enum class SyncState : uint8_t { Off = 0, Sync = 1, Degraded = 2 };

inline const char* sync_state_name(SyncState s) {
  return s == SyncState::Off ? "off" : s == SyncState::Sync ? "sync" : "degraded";
}

template <class Item>
class SyncGate {
 public:
  enum class Transition : uint8_t { None, Degraded, Recovered };
  struct Released {
    std::vector<Item> items;        // in commit order
    std::vector<int64_t> held_ns;   // how long each item waited (parallel to items)
    Transition transition = Transition::None;
  };

  // From the configuration (SIGHUP included). Turning it off releases everything held;
  // turning it on starts in Sync. `last_committed`: the newest committed sequence now.
  Released configure(bool enabled, int64_t timeout_ns, uint64_t last_committed, int64_t now_ns) {
    timeout_ns_ = timeout_ns > 0 ? timeout_ns : 1;
    if (last_committed > last_committed_) last_committed_ = last_committed;
    Released r;
    if (!enabled && state_ != SyncState::Off) {
      r = release_all(now_ns);
      state_ = SyncState::Off;
    } else if (enabled && state_ == SyncState::Off) {
      state_ = SyncState::Sync;
    }
    return r;
  }

  // A batch committed records up to `seq` (a batch that wrote none passes seq == 0). True:
  // `items` are held (the gate owns them until a Released hands them back); false: answer them
  // now, they stay with the caller.
  bool hold(uint64_t seq, std::vector<Item>& items, int64_t now_ns) {
    if (seq > last_committed_) last_committed_ = seq;
    if (state_ != SyncState::Sync || items.empty() || seq == 0 || seq <= acked_) return false;
    held_count_ += items.size();
    held_.push_back(Held{seq, now_ns, now_ns + timeout_ns_, std::move(items)});
    items.clear();
    return true;
  }

  // The replicator's report: the highest streaming standby acknowledged `seq`; `standbys` are
  // streaming.
  Released ack(uint64_t seq, uint64_t standbys, int64_t now_ns) {
    acked_ = seq;
    standbys_ = standbys;
    Released r;
    while (!held_.empty() && held_.front().seq <= acked_) take_front(&r, now_ns);
    if (state_ == SyncState::Degraded && standbys_ > 0 && acked_ >= last_committed_) {
      state_ = SyncState::Sync;
      r.transition = Transition::Recovered;
    }
    return r;
  }

  // The timer: past the oldest held batch's deadline, everything goes and the gate degrades.
  Released expire(int64_t now_ns) {
    Released r;
    if (held_.empty() || held_.front().deadline_ns > now_ns) return r;
    r = release_all(now_ns);
    if (state_ == SyncState::Sync) {
      state_ = SyncState::Degraded;
      degraded_total_++;
      r.transition = Transition::Degraded;
    }
    return r;
  }

  // Shutdown, a demotion, sync turned off: everything held goes now (the state is unchanged).
  Released release_all(int64_t now_ns) {
    Released r;
    while (!held_.empty()) take_front(&r, now_ns);
    return r;
  }

  // The oldest held batch's deadline, or 0 when nothing is held.
  int64_t next_deadline() const { return held_.empty() ? 0 : held_.front().deadline_ns; }
  SyncState state() const { return state_; }
  size_t held() const { return held_count_; }
  uint64_t degraded_total() const { return degraded_total_; }
  uint64_t acked() const { return acked_; }
  uint64_t standbys() const { return standbys_; }

 private:
  struct Held {
    uint64_t seq;
    int64_t since_ns, deadline_ns;
    std::vector<Item> items;
  };
  void take_front(Released* r, int64_t now_ns) {
    Held& h = held_.front();
    for (Item& it : h.items) {
      r->items.push_back(std::move(it));
      r->held_ns.push_back(now_ns - h.since_ns);
    }
    held_count_ -= h.items.size();
    held_.pop_front();
  }

  SyncState state_ = SyncState::Off;
  int64_t timeout_ns_ = 1000000000;
  uint64_t acked_ = 0, standbys_ = 0, last_committed_ = 0, degraded_total_ = 0;
  size_t held_count_ = 0;
  std::deque<Held> held_;
};

}  // namespace rdv::registry
