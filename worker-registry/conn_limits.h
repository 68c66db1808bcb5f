// Connection limits of the registry port, the pure parts: the read deadline of wire §2.5
// (-read-timeout) and the rate of the warning logged when -max-connections refuses sockets.
// The loop code that applies them is in conn_limits.cc (Server::refuse_over_cap,
// Server::sweep_read_deadlines).
//
// Why a sweep and not a libevent timeout per read: a persistent read event's timeout is
// re-armed by every readable event, so a client that sends one byte every few seconds (a
// slowloris) would never time out. The deadline is instead measured from the last complete
// frame (Conn::last_frame_ns), and a periodic sweep closes the connections past it, whatever
// bytes they keep sending.
#pragma once

#include <algorithm>
#include <cstdint>

namespace rdv::registry {

enum class DeadlineAction {
  Keep,   // still within its deadline
  Rearm,  // the server owes it something (a reply, a request in flight): its deadline starts again
  Close,  // no complete frame within the read timeout
};

// `waiting_on_client`: the connection is read, has no request in flight and no reply unsent,
// so the next frame is the client's to send (Go re-arms its deadline before each frame read,
// which is after the previous reply). `last_frame_ns`: when its last frame was decoded (the
// accept for the first one), or the last Rearm. Monotonic nanoseconds.
inline DeadlineAction read_deadline_action(bool waiting_on_client, int64_t last_frame_ns, int64_t now_ns,
                                           int64_t timeout_ns) {
  if (!waiting_on_client) return DeadlineAction::Rearm;
  return now_ns - last_frame_ns > timeout_ns ? DeadlineAction::Close : DeadlineAction::Keep;
}

// How often the sweep runs for a timeout: a quarter of it, so a connection is closed at most
// 25 % late, between 250 ms (short timeouts in tests) and 10 s (a sweep of a million
// connections every 10 s costs milliseconds).
inline int64_t read_deadline_sweep_ns(int64_t timeout_ns) {
  return std::clamp<int64_t>(timeout_ns / 4, 250000000LL, 10000000000LL);
}

// A warning that may fire on every one of many events (a refused socket) but is logged at
// most once per `every_ns`; the ones in between are counted and reported with the next line.
class WarnEvery {
 public:
  explicit WarnEvery(int64_t every_ns) : every_ns_(every_ns) {}
  // Records one event at `now_ns`. True when it is to be logged now; *suppressed is then the
  // number of events since the previous logged one that were not logged.
  bool note(int64_t now_ns, uint64_t* suppressed) {
    if (logged_ && now_ns - last_ns_ < every_ns_) {
      pending_++;
      return false;
    }
    *suppressed = pending_;
    pending_ = 0;
    last_ns_ = now_ns;
    logged_ = true;
    return true;
  }

 private:
  int64_t every_ns_;
  int64_t last_ns_ = 0;
  bool logged_ = false;
  uint64_t pending_ = 0;
};

}  // namespace rdv::registry
