// Supervisor <-> worker control channel, and the local command socket of the registry.
//
// Control channel: a SOCK_SEQPACKET socketpair created by the supervisor; the worker end is
// fd 3 (kControlFd). Each datagram is one JSON object with an "op":
//
//   supervisor -> worker                      worker -> supervisor
//   {"op":"config","config":{…}}  (first)     {"op":"ready"}
//   {"op":"ping","seq":N}                     {"op":"pong","seq":N}
//   {"op":"reload","config":{…}}              {"op":"status","text":"…"}
//   {"op":"peer_died","worker":"admin"}       {"op":"fatal","message":"…"}  then exit 78
//   {"op":"log_level","level":L}              {"op":"log_level","level":L}  (an operator's)
//   {"op":"role","role":R,"leader":A}         {"op":"role","role":R,"leader":A}  (replicator)
//
// A role message (R = leader | standby | fenced, A = the leader's host:port for a standby)
// comes from the replicator after a promotion, demotion or fence, once it has written
// <data-dir>/role; the supervisor applies it to its configuration and sends it to every
// worker, which calls Handlers::on_role.
//
// Shutdown is SIGTERM. A worker whose control socket reports EOF (the supervisor is gone)
// exits by itself, so killing the supervisor never leaves orphans.
//
// Registry command socket: <run-dir>/registry.sock, SOCK_STREAM, the JSON framing of the
// daemon protocol ([u32 BE length][JSON]). The admin worker sends {"type":"status"} and
// (later) mutations there, so there is one writer and one validation path.
#pragma once

#include <event2/event.h>

#include <functional>
#include <string>
#include <string_view>

#include "config.h"
#include "event.h"
#include "json.h"
#include "role.h"

namespace rdv::ipc {

inline constexpr size_t kMaxControlMessage = 1 << 20;

// Sends one message; false on error (errno set). Blocking semantics on a blocking fd.
bool send_msg(int fd, const json_t* msg);
bool send_op(int fd, const char* op);
// Receives one message. Returns null on EOF (*eof = true), on EAGAIN (*eof = false), or on a
// malformed datagram (logged, *eof = false).
JsonPtr recv_msg(int fd, bool* eof);

std::string registry_socket_path(const std::string& run_dir);
std::string registry_metrics_path(const std::string& run_dir);
// <run-dir>/workers.json, rewritten by the supervisor whenever a worker changes state:
//   {"supervisor_pid":P,"updated_unix":T,"workers":[{"name","pid","state","starts","restarts",
//    "started_unix","last_exit"?}…]}
// pid is 0 while a worker has no process; restarts = starts - 1. The admin worker reads it for
// the dashboard, /api/runtime and the per-worker metrics.
std::string workers_file_path(const std::string& run_dir);
// <run-dir>/replicator.sock: the replicator's command socket (daemon framing). The registry
// hands replication connections to it (send_with_fd); the admin worker and rendezvousctl ask
// it for status, promote and demote (docs/replication.md, "The replicator's socket").
std::string replicator_socket_path(const std::string& run_dir);

// Blocking request/response on a local command socket in the daemon framing, with a timeout.
// Returns null and sets *error (naming the socket) when it cannot be reached or does not
// answer in time.
JsonPtr unix_call(const std::string& path, const json_t* request, int timeout_ms, std::string* error);

// Passes `fd` with the bytes `data` over the connected Unix socket `sock` (SCM_RIGHTS, one
// sendmsg; `data` must fit the socket buffer: a few KiB). False with errno set on failure.
bool send_with_fd(int sock, std::string_view data, int fd);
// Receives bytes (at most `max`) and, when one came with them, a descriptor (*fd, else -1;
// O_CLOEXEC set). Returns the byte count, 0 at EOF, -1 with errno on error.
ssize_t recv_with_fd(int sock, std::string* data, size_t max, int* fd);

// Blocking request/response on the registry command socket, with a timeout. Returns null and
// sets *error when the registry cannot be reached or does not answer in time.
JsonPtr registry_call(const std::string& run_dir, const json_t* request, int timeout_ms,
                      std::string* error);

// Worker side of the control channel.
class WorkerControl {
 public:
  struct Handlers {
    std::function<void(const Config&)> on_reload;
    std::function<void(std::string_view worker)> on_peer_died;
    std::function<void()> on_supervisor_gone;  // default: exit(0)
    // The replication role changed (see the header comment); `cfg`-style: role.h Role.
    std::function<void(const Role&)> on_role;
  };

  // Worker start-up, before anything else: names the process for logs, reads the initial
  // configuration from fd 3 (blocking), applies log level and format, initialises libsodium,
  // and asks the kernel to SIGTERM us if the supervisor dies. Exits kExitConfig on failure.
  static Config boot(const char* process_name);

  // Watches kControlFd on `base` (which must outlive this object). Exits kExitFailure, with
  // the failing call in the log, when the event cannot be set up: a worker that cannot hear
  // its supervisor would be killed as hung anyway.
  WorkerControl(event_base* base, Handlers handlers);
  ~WorkerControl() = default;
  WorkerControl(const WorkerControl&) = delete;
  WorkerControl& operator=(const WorkerControl&) = delete;

  // Report to the supervisor; a failed send is logged (the supervisor's hang check or SIGCHLD
  // deals with what follows).
  void ready();
  void status(std::string_view text);
  // Asks the supervisor to set the log level of every process ({"op":"log_level","level"}),
  // e.g. for the admin API. One SEQPACKET send is atomic, so any thread may call it. False
  // (errno set) when the send failed.
  static bool request_log_level(std::string_view level);
  // Asks the supervisor to give every process a new replication role ({"op":"role"}); the
  // replicator calls it after writing <data-dir>/role. False (errno set) when the send failed.
  static bool request_role(const Role& role);
  // Reports a configuration/store error and exits kExitConfig.
  [[noreturn]] static void fatal(std::string_view message);

 private:
  static void on_readable(evutil_socket_t fd, short what, void* arg);
  Handlers handlers_;
  EventPtr ev_;
};

}  // namespace rdv::ipc
