// Connection handling for the registry worker: accept, framing (JSON and PILT on one port),
// per-connection ordered replies, and the group commit that ends every loop pass.
//
// A loop pass = one event_base_loop(EVLOOP_ONCE). Requests decoded during the pass are
// recorded; end_pass() then
//  1. runs the plain reads (lookup, resolve_hostname, list_nodes, an already-verified
//     heartbeat) of connections that sent no write in this pass on a read snapshot of the last
//     commit, and releases those connections' replies at once: they saw only committed data,
//     so they are ordered before the pass's writes and need not wait for its fsync;
//  2. verifies the remaining requests' signatures on all cores (verify.h), runs them in arrival
//     order against the pass's write transaction (later requests see earlier writes), stages
//     each reply on its connection, commits, and only then releases the staged replies. If LMDB reports MDB_MAP_FULL the map is grown and the whole pass is
// replayed from the recorded requests; any other commit failure answers every request of the
// pass with an error, so nothing unwritten is ever acknowledged.
//
// Threading: single-threaded, on the worker's event loop.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "event.h"
#include "message.h"
#include "registry.h"
#include "wire.h"

namespace rdv::registry {

class Server {
 public:
  // `tcp_fd`: the registry listener from the supervisor. `control_fd`: the Unix listener of
  // <run-dir>/registry.sock (local commands, e.g. from the admin worker), or -1.
  Server(event_base* base, Registry& reg, int tcp_fd, int control_fd);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Ends the loop pass: timer work, commit, reply release, deferred frees.
  void end_pass();
  // Requests timer work for the end of the current pass.
  void request_liveness_flush() { flush_due_ = true; }
  void request_reap() { reap_due_ = true; }

  // Stops accepting and reading; staged and queued replies are still written.
  void begin_shutdown();
  bool outputs_drained() const;
  size_t tcp_connections() const { return tcp_connections_; }

 private:
  struct Conn;
  enum class EntryKind : uint8_t { Json, Native, Passthrough, Control };
  struct Entry {
    Conn* conn;
    EntryKind kind;
    uint8_t type;
    std::string payload;  // native binary payload (JSON entries keep theirs in msg)
    int64_t now_ns;
    Message msg;          // the decoded request (JSON, control and passthrough entries)
    bool msg_ok;
    std::string decode_error;
    bool snapshot_read = false;  // may run on the committed snapshot (see is_snapshot_read)
    bool done = false;           // already ran in this pass's snapshot phase
  };

  static void on_accept(evutil_socket_t fd, short what, void* arg);
  static void on_control_accept(evutil_socket_t fd, short what, void* arg);
  static void on_readable(evutil_socket_t fd, short what, void* arg);
  static void on_writable(evutil_socket_t fd, short what, void* arg);
  static void on_accept_resume(evutil_socket_t fd, short what, void* arg);

  void accept_from(int listen_fd, bool control);
  Conn* add_conn(int fd, bool control, const sockaddr* peer);
  void read_input(Conn* c);
  void decode_frames(Conn* c);
  bool is_snapshot_read(const Entry& e) const;
  void run_snapshot_reads();
  void execute_batch();
  void run_entry(const Entry& e);
  void stage(Conn* c, std::string_view bytes);
  void fail_pass(int rc);
  void release(Conn* c);
  void flush(Conn* c);
  void close_conn(Conn* c, const char* why);
  void update_read_interest(Conn* c);

  event_base* base_;
  Registry& reg_;
  int tcp_fd_, control_fd_;
  EventPtr accept_ev_, control_accept_ev_, accept_resume_ev_;
  const timeval* idle_timeout_ = nullptr;   // common timeout, 5 min
  const timeval* write_timeout_ = nullptr;  // common timeout, 5 s
  std::vector<Entry> batch_;
  VerifyPool verify_pool_;
  std::vector<VerifyJob> verify_jobs_;
  std::vector<Conn*> touched_;
  std::vector<Conn*> dead_;
  std::vector<std::unique_ptr<Conn>> conns_;  // owner; index kept in Conn
  size_t tcp_connections_ = 0;
  bool flush_due_ = false, reap_due_ = false, shutting_down_ = false;
  uint64_t next_conn_id_ = 1;
};

}  // namespace rdv::registry
