// The replicator's client of the registry's local bus (<run-dir>/registry.sock,
// docs/architecture.md "The local bus"): commit and liveness notifications come in, and the
// replicator's own messages to the registry go out on the same connection (bus_ack for each
// standby, repl_acked for synchronous mode, replica_applied on a standby, status while a role
// change settles). Replies to those are frames like any other and are handed to on_frame.
//
// The registry can be restarted at any time: the connection is re-opened with backoff
// (100 ms doubling to 2 s), and on_connected says so, with the newest committed sequence.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>

#include "event.h"
#include "json.h"
#include "link.h"

namespace rdv::replicator {

class Bus {
 public:
  struct Handlers {
    std::function<void(uint64_t last_seq)> on_connected;
    std::function<void(const json_t* frame)> on_frame;  // every frame after bus_subscribe_ok
  };
  Bus(event_base* base, std::string socket_path, Handlers handlers);
  void start();
  bool connected() const { return link_ && subscribed_; }
  // Sends one message (dropped, with a debug line, while not connected: every caller's
  // message is repeated or superseded by a later one).
  void send(const json_t* msg);

 private:
  static void on_retry(evutil_socket_t, short, void* arg);
  void connect();
  void on_input();
  void on_closed(const std::string& why);

  event_base* base_;
  std::string path_;
  Handlers h_;
  std::unique_ptr<Link> link_;
  EventPtr retry_ev_;
  int64_t backoff_ms_ = 100;
  bool subscribed_ = false;
};

}  // namespace rdv::replicator
