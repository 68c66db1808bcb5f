// The live event stream for daemons (subscribe_events; docs/protocol-notes.md, "Live events").
//
// A daemon sends {"type":"subscribe_events","node_id":N,"signature":…} signed over
// "subscribe_events:<N>" and, answered subscribe_events_ok, receives on that connection one
// frame per event it may see:
//   {"type":"event","id":<u64>,"event":"<name>",…fields}
//
// Where events come from (so a daemon never sees something a crash undoes):
//  - committed change-log records: after the writer's batch commits, the loop reads the
//    batch's records back from the store and derives membership, trust, invite and handshake
//    events from their ops (derive_events, below: a pure function of one record);
//  - liveness: a node seen alive after being offline (Registry::seen, registration or a
//    heartbeat after a reap) and a node the reaper removed (after the reap committed).
//
// This file holds the pure parts, each unit-tested (tests/unit/events_test.cc): the
// derivation, the id clock, the resume window, and the subscriber index. The connection side
// (subscribing, fan-out, the output bound, refusing further requests) is in events.cc as
// Server member functions, since it works on connections.
//
// Threading: the loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store.h"

namespace rdv::registry {

// One event before it has an id. Its audience is the subscribers in `network` (0: none; the
// backbone, network 0, is everyone and is never an audience) plus the subscribers of the nodes
// in `to` (0 entries unused).
struct DerivedEvent {
  std::string name;     // node_online, member_joined, …
  uint16_t network = 0;
  uint32_t to[2] = {0, 0};
  std::string fields;   // JSON members to follow "event", each with its leading comma
  // For the subscriber index: a membership that begins or ends (member_joined / member_left).
  uint32_t member = 0;
  bool joined = false, left = false;
};

// The events one committed change-log record implies, in op order:
//   members put, with the node's record in the same change → member_joined {network_id,node_id,role}
//   members put otherwise (role or member tags changed)    → member_updated {network_id,node_id,role,tags}
//   members delete                                          → member_left {network_id,node_id}
//   trust put / delete → trust_established / trust_revoked {node_id: the peer}, to each side
//   invites put        → invite_received {network_id, inviter} to the target
//   handshakes put     → handshake_request {node_id: the requester, justification} to the target
//   responses put      → handshake_response {node_id: the responder, accept} to the requester
// Anything else implies nothing. Malformed keys or values are skipped (the record passed its
// checksum; a value this build cannot decode is not worth an event).
std::vector<DerivedEvent> derive_events(const ChangeRecord& rec);

// node_online / node_offline of `node` for each of its networks (the backbone excluded).
std::vector<DerivedEvent> liveness_events(uint32_t node, bool online, const std::vector<uint16_t>& networks);

// Event ids: microseconds of the wall clock when the event was made, bumped by one when two
// events fall in the same microsecond. So ids increase, and a worker started later (a crash,
// a restart, a failover) starts above every id an earlier one gave, unless the clock went
// back or the earlier worker gave out ids faster than one a microsecond for longer than the
// restart took.
class EventClock {
 public:
  explicit EventClock(uint64_t now_us) : first_(now_us), last_(now_us ? now_us - 1 : 0) {}
  uint64_t next(uint64_t now_us) { return last_ = now_us > last_ ? now_us : last_ + 1; }
  uint64_t last() const { return last_; }    // the newest id given (first() - 1 before any)
  uint64_t first() const { return first_; }  // no id of this worker is lower
 private:
  uint64_t first_, last_;
};

// The resume window: the newest events, bounded by count and age, for a subscriber that
// reconnects with "since". Each stored event keeps its audience, so a replay shows a
// subscriber only what it may see (judged by its networks at the time it resumes).
class EventWindow {
 public:
  static constexpr size_t kMaxEvents = 8192;
  static constexpr int64_t kMaxAgeNs = 5LL * 60 * 1000000000;  // 5 minutes

  struct Stored {
    uint64_t id = 0;
    int64_t at_ns = 0;
    uint16_t network = 0;
    uint32_t to[2] = {0, 0};
    std::string body;  // the whole JSON frame body
  };
  enum class Resume { Ok, TooOld, Restarted, Unknown };

  EventWindow(uint64_t first_id, size_t max_events = kMaxEvents, int64_t max_age_ns = kMaxAgeNs)
      : first_id_(first_id), max_events_(max_events), max_age_ns_(max_age_ns) {}

  void add(Stored e, int64_t now_ns);
  // Drops what is past the age bound (also done by add()).
  void expire(int64_t now_ns);
  // Whether a subscriber that last saw `since` can be brought up to date, with `newest` the
  // newest id given: Ok when every event after `since` is still here; Restarted when `since`
  // is older than this worker (its window went with the previous one); TooOld when events
  // after it were dropped; Unknown when it is newer than any id given (another server's).
  Resume check(uint64_t since, uint64_t newest) const;
  // The stored events after `since` that `visible` accepts, oldest first.
  template <class Visible>
  std::vector<const Stored*> after(uint64_t since, Visible&& visible) const {
    std::vector<const Stored*> out;
    for (const Stored& e : events_)
      if (e.id > since && visible(e)) out.push_back(&e);
    return out;
  }
  size_t size() const { return events_.size(); }
  uint64_t dropped_up_to() const { return dropped_up_to_; }

 private:
  void drop_front();
  uint64_t first_id_;
  size_t max_events_;
  int64_t max_age_ns_;
  uint64_t dropped_up_to_ = 0;  // the newest id that left the window (0: none)
  std::deque<Stored> events_;
};

// Who receives what: subscribers by network and by node, so a change costs a lookup and a
// visit of its recipients only, never a scan of every subscriber. `T` is the subscriber's
// handle (the connection).
template <class T>
class SubscriberIndex {
 public:
  void add(T s, uint32_t node, const std::vector<uint16_t>& networks) {
    Sub& sub = subs_[s];
    sub.node = node;
    by_node_[node].insert(s);
    for (uint16_t n : networks)
      if (n != 0 && sub.networks.insert(n).second) by_net_[n].insert(s);
  }
  void remove(T s) {
    auto it = subs_.find(s);
    if (it == subs_.end()) return;
    for (uint16_t n : it->second.networks) erase_from(by_net_, n, s);
    erase_from(by_node_, it->second.node, s);
    subs_.erase(it);
  }
  // `node` joined or left `net`: every subscription of that node follows.
  void joined(uint32_t node, uint16_t net) {
    if (net == 0) return;
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return;
    for (T s : it->second)
      if (subs_[s].networks.insert(net).second) by_net_[net].insert(s);
  }
  void left(uint32_t node, uint16_t net) {
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return;
    for (T s : it->second)
      if (subs_[s].networks.erase(net)) erase_from(by_net_, net, s);
  }
  // The recipients of an event, each once.
  void recipients(uint16_t net, const uint32_t (&to)[2], std::vector<T>* out) const {
    out->clear();
    if (net != 0)
      if (auto it = by_net_.find(net); it != by_net_.end()) out->assign(it->second.begin(), it->second.end());
    for (int i = 0; i < 2; i++) {
      const uint32_t node = to[i];
      if (node == 0 || (i == 1 && node == to[0])) continue;
      auto it = by_node_.find(node);
      if (it == by_node_.end()) continue;
      for (T s : it->second)
        if (net == 0 || !subs_.at(s).networks.count(net)) out->push_back(s);
    }
  }
  // Whether subscriber `s` may see an event of this audience (the resume window's filter).
  bool sees(T s, uint16_t net, const uint32_t (&to)[2]) const {
    auto it = subs_.find(s);
    if (it == subs_.end()) return false;
    if (to[0] == it->second.node || to[1] == it->second.node) return true;
    return net != 0 && it->second.networks.count(net);
  }
  // Whether any subscriber is in `net` (a cheap filter).
  bool watches_network(uint16_t net) const { return by_net_.count(net) != 0; }
  bool empty() const { return subs_.empty(); }
  size_t size() const { return subs_.size(); }
  bool contains(T s) const { return subs_.count(s) != 0; }

 private:
  struct Sub {
    uint32_t node = 0;
    std::unordered_set<uint16_t> networks;
  };
  template <class K>
  static void erase_from(std::unordered_map<K, std::unordered_set<T>>& m, K k, T s) {
    auto it = m.find(k);
    if (it == m.end()) return;
    it->second.erase(s);
    if (it->second.empty()) m.erase(it);
  }
  std::unordered_map<T, Sub> subs_;
  std::unordered_map<uint16_t, std::unordered_set<T>> by_net_;
  std::unordered_map<uint32_t, std::unordered_set<T>> by_node_;
};

// The stream's state in the Server (events.cc): ids, the resume window, the index, and the
// networks of nodes being reaped (their records are gone once the reap commits). It installs
// Registry::on_online for its lifetime.
class Registry;
struct EventStream {
  EventStream(uint64_t now_us, Registry& r);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;
  EventClock clock;
  EventWindow window;
  SubscriberIndex<void*> index;
  std::unordered_map<uint32_t, std::vector<uint16_t>> reaping;
  std::vector<void*> scratch;
  // Events are made while someone subscribes, and for the window's age after the last one
  // left, so a daemon that reconnects can resume; a registry nobody subscribes to does nothing.
  int64_t warm_until_ns = 0;
  bool active(int64_t now_ns) const { return !index.empty() || now_ns < warm_until_ns; }
  Registry& reg;
  std::function<void(uint32_t)> server_online;
};

// The frame body of an event: {"type":"event","id":…,"event":"<name>"<fields>}.
std::string event_body(uint64_t id, std::string_view name, std::string_view fields);

// The challenge a subscriber signs.
std::string subscribe_events_challenge_text(uint32_t node_id);

}  // namespace rdv::registry
