// The dashboard's live feed, on the admin worker's libevent loop (main thread).
//
// It keeps one connection to the registry's local bus (<run-dir>/registry.sock,
// {"type":"bus_subscribe"}; docs/architecture.md "The local bus") and, once a second, samples
// the registry's request counters into the pulse ring. Each bus frame (a commit, a liveness
// flush) and each sample asks for a new dashboard snapshot; requests are coalesced so at most
// one snapshot is built per kMinRebuildInterval (≤ 4 pushes a second), however busy the
// registry is. A snapshot is published to the hub, which wakes every /api/events stream.
//
// The same connection carries {"type":"status"} once a second: its reply's role and epoch
// are the replication role the admin view shows; the replicator's status (standbys, lag, the
// follower) is asked for on the same tick over replicator.sock. When the registry goes away (restart,
// crash) the connection is closed and opened again with backoff (250 ms doubling to 5 s);
// until then the counters still come from the metrics page and the streams stay open.
//
// Thread rules: construct, start() and destroy on the loop thread; nothing here is touched by
// the HTTP threads (they read the hub).
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shared/event.h"
#include "shared/util.h"
#include "worker-admin/dashboard.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

// Pure pieces of the feed, unit-tested without sockets.
//
// Moves every complete [u32 BE length][JSON] frame off the front of *buffer into *frames
// (a body that is not JSON is skipped); an incomplete tail stays in *buffer. False when a
// frame announces more than max_frame bytes: the peer is not the registry, drop it.
bool take_bus_frames(std::string* buffer, uint32_t max_frame, std::vector<JsonPtr>* frames);
// How long to wait before the next rebuild so that rebuilds stay min_interval_ms apart.
int64_t rebuild_delay_ms(int64_t last_rebuild_ms, int64_t now_ms, int64_t min_interval_ms);
// The reconnect delay after `current`: doubled, at most max_ms.
inline int64_t next_backoff_ms(int64_t current, int64_t max_ms) { return current * 2 < max_ms ? current * 2 : max_ms; }

class LiveFeed {
 public:
  static constexpr int64_t kMinRebuildIntervalMs = 250;
  static constexpr int64_t kSampleIntervalMs = 1000;
  static constexpr int64_t kReconnectMinMs = 250;
  static constexpr int64_t kReconnectMaxMs = 5000;
  static constexpr int kReplicatorPollTimeoutMs = 250;

  // `base`, `ctx` and `hub` must outlive this object.
  LiveFeed(event_base* base, const AdminContext* ctx, DashboardHub* hub, std::string socket_path);
  ~LiveFeed() = default;
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  // Arms the timers and connects. False (logged) when libevent cannot create an event.
  bool start();

 private:
  static void on_sample(evutil_socket_t, short, void* arg);
  static void on_rebuild(evutil_socket_t, short, void* arg);
  static void on_reconnect(evutil_socket_t, short, void* arg);
  static void on_readable(evutil_socket_t, short, void* arg);

  void connect_bus();
  void drop_bus(const std::string& why);
  void handle_frame(const json_t* frame);
  bool send_frame(const json_t* msg);
  void request_rebuild();
  void poll_replicator();
  void rebuild();

  event_base* base_;
  const AdminContext* ctx_;
  DashboardHub* hub_;
  const std::string socket_path_;

  EventPtr sample_timer_, rebuild_timer_, reconnect_timer_;
  UniqueFd bus_fd_;
  EventPtr bus_event_;  // declared after bus_fd_: freed before the fd closes
  std::string in_;      // bytes of a frame not yet complete
  bool subscribed_ = false;
  int64_t backoff_ms_ = kReconnectMinMs;
  std::string last_drop_reason_;  // logged on change only

  bool rebuild_pending_ = false;
  int64_t last_rebuild_ms_ = 0;  // monotonic
};

}  // namespace rdv::admin
