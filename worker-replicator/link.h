// One non-blocking stream socket on the replicator's libevent loop, with an input and an
// output buffer: the leader's connection to each standby, the standby's connection to its
// leader, and the replicator's client of the registry's bus all use it.
//
// The owner reads frames out of in() and consumes them; writes append to the output buffer,
// which is flushed as the socket takes it. When the peer closes, an I/O error happens, or the
// output grows past its bound, on_close runs once (on the loop, never from inside a write
// call the owner is making) and the Link is dead: the owner destroys it.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "config.h"
#include "event.h"
#include "tls.h"
#include "util.h"

namespace rdv::replicator {

class Link {
 public:
  struct Handlers {
    std::function<void()> on_input;              // new bytes in in()
    std::function<void(const std::string&)> on_close;  // why
    std::function<void()> on_drained;            // the output buffer emptied after being full
  };
  // Takes `fd` (made non-blocking). `max_output` bounds unsent bytes; past it the link closes.
  Link(event_base* base, UniqueFd fd, Handlers handlers, size_t max_output = 256u << 20);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // For a socket whose connect() is in progress: on_connected runs once it completes (or
  // on_close with the error). Call right after construction.
  void await_connect(std::function<void()> on_connected);
  // TLS on this link (a standby's stream to a -tls leader): after the TCP connect, the
  // handshake runs before on_connected; with `pin`, a leaf whose SHA-256 differs closes the
  // link. Call before await_connect.
  void use_tls(std::unique_ptr<tls::Stream> stream, std::string pin);

  std::string& in() { return in_; }
  // Drops the first n bytes of in().
  void consume(size_t n);
  void send(std::string_view bytes);
  size_t pending_output() const { return out_.size() - out_off_; }
  bool alive() const { return !closed_; }
  int fd() const { return fd_.get(); }
  // Closes now (on_close runs from the loop soon after, with `why`).
  void close(const std::string& why);
  // Closes once everything queued is sent (a refusal's error frame reaches the peer).
  void close_after_flush(const std::string& why);
  // Stops or resumes reading (back-pressure while the owner cannot take more input).
  void set_reading(bool on);
  int64_t last_input_ns() const { return last_input_ns_; }  // monotonic

 private:
  static void on_read(evutil_socket_t, short, void* arg);
  static void on_write(evutil_socket_t, short, void* arg);
  static void on_deferred_close(evutil_socket_t, short, void* arg);
  void flush(bool from_event);
  void fail(const std::string& why);
  // Connecting: the TLS handshake's next step; true once it is done (and the pin holds).
  bool step_handshake();
  void finish_connect();
  void read_tls();

  event_base* base_;
  UniqueFd fd_;
  Handlers h_;
  size_t max_output_;
  std::string in_, out_;
  size_t out_off_ = 0;
  EventPtr rev_, wev_, close_ev_;
  std::function<void()> on_connected_;
  bool closed_ = false, reading_ = true, connecting_ = false, close_when_drained_ = false;
  bool tcp_up_ = false;               // the TCP connect completed (TLS may still be shaking hands)
  std::unique_ptr<tls::Stream> tls_;
  std::string pin_;
  bool tls_read_wants_write_ = false;
  std::string close_why_;
  int64_t last_input_ns_ = 0;
};

// Starts a non-blocking TCP connect to host:port (resolved with getaddrinfo, numeric or
// names). Returns the socket, or an invalid fd with *error.
UniqueFd start_tcp_connect(const std::string& host_port, std::string* error);

// A link to a leader's registry port (the follower's stream, the fence probe): TCP, and with
// -standby-tls the TLS client on it, verified by -standby-tls-pin, -standby-tls-ca or the
// system's roots against the host of `host_port`. Null with *error when it cannot start.
std::unique_ptr<Link> dial_leader(event_base* base, const Config& cfg, const std::string& host_port,
                                  Link::Handlers handlers, std::string* error);

}  // namespace rdv::replicator
