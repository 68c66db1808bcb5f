// <run-dir>/replicator.sock: the replicator's command socket (docs/replication.md, "The
// replicator's socket"). The registry hands replication connections over it (the socket
// rides along with SCM_RIGHTS); the admin worker and rendezvousctl ask for status, promote
// and demote. Mode 0600 in the run dir: only the service's user reaches it.
#pragma once

#include <event2/event.h>

#include <memory>
#include <string>
#include <vector>

#include "event.h"
#include "util.h"

namespace rdv::replicator {

class Replicator;

class ControlSocket {
 public:
  ControlSocket(event_base* base, Replicator& r, const std::string& path);
  ~ControlSocket();

 private:
  struct Client;
  static void on_accept(evutil_socket_t, short, void* arg);
  static void on_readable(evutil_socket_t, short, void* arg);
  void handle(Client& c, const std::string& body, int fd);
  void reply(uint64_t client_id, const std::string& body);
  void close(Client* c);

  event_base* base_;
  Replicator& r_;
  std::string path_;
  UniqueFd listen_fd_;
  EventPtr accept_ev_;
  std::vector<std::unique_ptr<Client>> clients_;
  uint64_t next_id_ = 1;
};

}  // namespace rdv::replicator
