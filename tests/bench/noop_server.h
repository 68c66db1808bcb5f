// The "noop" reference server: the registry's JSON framing on a single-threaded libevent loop
// that answers every frame with one fixed ~210-byte JSON reply shaped like lookup_ok, and does
// nothing else. Benching "lookup" against it gives the ceiling this machine and this load
// generator allow for one event loop; registry rate / noop rate is the share of that ceiling
// the registry reaches.
//
// It runs in a forked child (so it has its own core and does not share the bench's event
// loops), started before the bench creates any thread. The child dies with the parent
// (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::bench {

class NoopServer {
 public:
  NoopServer() = default;
  NoopServer(const NoopServer&) = delete;
  NoopServer& operator=(const NoopServer&) = delete;
  ~NoopServer() { stop(); }

  // Binds 127.0.0.1:<ephemeral> and forks the serving child. Call before starting threads.
  bool start(std::string* error);
  // SIGTERM and reap the child. Idempotent.
  void stop();

  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // the serving child (its /proc figures)

  // The fixed reply body.
  static std::string_view reply_body();

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace rdv::bench
