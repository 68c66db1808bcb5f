// The registry worker's event loop side: connections (accept, framing of JSON and PILT on one
// port, ordered replies, budgets) and the pipeline that carries each request from decoding to
// its reply (docs/architecture.md, "The pass and the pipeline").
//
// A loop pass = one event_base_loop(EVLOOP_ONCE): libevent runs the ready callbacks (reads,
// verify-pool and writer completions, timers, the supervisor's ping), then end_pass():
//  1. opens a read snapshot of the last commit;
//  2. for each connection with news, collects the signature checks of its new requests and
//     sends those to the verify pool, then advances its RequestQueue: reads run here, on the
//     snapshot; writes join the next batch;
//  3. hands the next batch (writes, liveness flush, reap, trim) to the writer if it is idle —
//     otherwise the batch keeps accumulating while the current one commits;
//  4. releases finished replies in order and writes them out; ends the snapshot.
//
// Bounds: a pass decodes at most kPassRequests requests (kConnPassRequests from one
// connection); what is left stays buffered and the next pass does not block in epoll. A
// connection with more than max-conn-output-kb of unread replies, or kMaxQueued requests in
// its queue, is not read until it drains. So no client delays another's reply by more than a
// pass, nor the loop's answer to the supervisor's ping.
//
// Rate limits (wire §2.7): each decoded request of a connection older than 5 s asks the
// RateLimiter (ratelimit.h) before it is queued for dispatch. A refused one is never dispatched:
// it is queued already answered ("rate limited: …", with retry_after_ms in JSON), so it keeps
// its place in the connection's reply order, and the connection stays open.
//
// Replication (docs/replication.md; replication.cc): a subscribe_replication or
// replication_fence frame in JSON mode is taken over before any rate limit and handed, with
// the socket, to the replicator over <run-dir>/replicator.sock; the registry never reads that
// connection again. With -repl-sync a committed write's reply is held (SyncGate, sync_gate.h)
// until the replicator reports a standby's acknowledgement, or the timeout degrades the gate.
//
// Threading: the loop thread only; the verify pool and the writer hand entries back through
// eventfds.
#pragma once

#include <event2/event.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cidr.h"
#include "conn_limits.h"
#include "delivery.h"
#include "event.h"
#include "events.h"
#include "fetcher.h"
#include "ratelimit.h"
#include "registry.h"
#include "sync_gate.h"
#include "tls.h"
#include "handshake_pool.h"
#include "tls_relay.h"
#include "verify.h"
#include "wire.h"
#include "writer.h"

namespace rdv::registry {

class Server {
 public:
  // `tcp_fd`: the registry listener from the supervisor. `control_fd`: the Unix listener of
  // <run-dir>/registry.sock (the local operator and the local bus), or -1.
  Server(event_base* base, Registry& reg, Writer& writer, int tcp_fd, int control_fd);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Ends the loop pass (see above).
  void end_pass();
  // True when buffered input waits for the next pass, or a connection was marked during this
  // one (a reply an ack released, a bus frame published by a request): the loop must not
  // block then.
  bool has_backlog() const { return !backlog_.empty() || !continuing_.empty() || !marked_.empty(); }
  // Timer work for the next batch.
  void request_liveness_flush() { flush_due_ = true; }
  // The reap tick also drops idle per-IP rate-limit buckets (ops-spec §1.4: the reap loop does).
  void request_reap();

  // Stops accepting and reading; requests received are still answered.
  void begin_shutdown();
  // Nothing left to answer, write or commit.
  bool drained() const;

  // The role changed at run time (main.cc: on_role, or a reload that carried one). To a
  // standby or fenced: writes batched but not handed to the writer are answered with the
  // standby refusal, and held replies go out. To the leader: the caller has re-read the epoch
  // and reset liveness (Registry::reset_for_leadership); the gate starts over.
  void role_changed(bool leader_now);
  // A reload (SIGHUP) installed another configuration in the Registry: -repl-sync may differ,
  // and the TLS certificate and the PROXY ranges are read again.
  void config_changed();
  // The TLS identity (-tls, shared/tls.h) and the PROXY protocol's trusted ranges, from the
  // configuration. At start a failure is fatal (the caller exits); on a reload the running
  // identity stays and the error is logged.
  bool configure_transport(std::string* error);
  // False if a pool of worker threads has no eventfd to report back on (then the worker must
  // not serve: what it submits would never come back).
  bool pools_ready() const { return verify_pool_.ok() && handshake_pool_.ok(); }

 private:
  struct Conn;
  enum class Stage : uint8_t { Proxy, Handshake, Open };
  static void on_accept(evutil_socket_t fd, short what, void* arg);
  static void on_control_accept(evutil_socket_t fd, short what, void* arg);
  static void on_readable(evutil_socket_t fd, short what, void* arg);
  static void on_writable(evutil_socket_t fd, short what, void* arg);
  static void on_accept_resume(evutil_socket_t fd, short what, void* arg);
  static void on_verified(evutil_socket_t fd, short what, void* arg);
  static void on_committed(evutil_socket_t fd, short what, void* arg);
  static void on_whitelist_timer(evutil_socket_t fd, short what, void* arg);
  static void on_sync_timer(evutil_socket_t fd, short what, void* arg);
  static void on_handshaken(evutil_socket_t fd, short what, void* arg);
  void handshake_step_done(Conn* c);

  // transport.cc: the stages in front of the protocol (a PROXY header, the TLS handshake) and
  // the byte stream under it (plain or TLS).
  enum class Io { Data, Again, Eof, Error };
  void begin_stages(Conn* c);
  bool begin_handshake(Conn* c);
  void read_proxy_header(Conn* c);
  void drive_handshake(Conn* c);
  void stage_done(Conn* c);
  const timeval* read_timeout(const Conn* c) const;
  Io read_some(Conn* c, char* buf, size_t cap, size_t* n);
  Io write_some(Conn* c, const char* buf, size_t len, size_t* n);
  // Closing a connection that came with a PROXY header it may not send: logged and counted.
  void refuse_proxy(Conn* c, const std::string& why);
  bool looks_like_proxy(const Conn* c) const;

  void accept_from(int listen_fd, bool control);
  void add_conn(int fd, bool control, const sockaddr* peer);
  void read_input(Conn* c);
  void decode_frames(Conn* c);
  void queue_request(Conn* c, std::unique_ptr<Entry> e);
  // replication.cc: takes over a subscribe_replication / replication_fence frame of a JSON
  // connection (`body`: its JSON text). Either hands the connection to the replicator and
  // closes it here, or queues the refusal and closes after it.
  void take_replication(Conn* c, std::unique_ptr<Entry> e, std::string_view body);
  bool hand_to_replicator(Conn* c, std::string_view body, std::string* error);
  // Rate limiting (ratelimit.h): the limits follow the configuration (SIGHUP included); a
  // refused request is answered at once, in its place in the connection's order.
  void sync_limits();
  bool refuse_if_limited(Conn* c, Entry& e);
  void poll_whitelist();
  std::string whitelist_path() const;
  bool can_take_input(const Conn* c) const;
  void mark(Conn* c);
  void advance(Conn* c);
  bool start_fetch(Entry& e);
  bool run_read(Entry& e);
  void finish(Entry& e);
  void submit_batch();
  void batch_done(std::unique_ptr<Batch> b);
  // A batch's write is final for its connection: its reply may leave (in order).
  void write_released(Entry& e);
  void replica_applied(uint64_t seq);
  // -repl-sync: configuration, the replicator's acks, the deadline timer (sync_gate.h).
  void sync_configure();
  void sync_release(SyncGate<Entry*>::Released r, const char* why);
  void sync_arm_timer();
  void note_sync_state();
  void note_writer_state();
  // A standby's batch: its writes were classified before the demotion; answered with the
  // standby refusal instead of being written.
  void refuse_batched_writes();
  void publish(std::string_view frame);
  // The live event stream (events.cc, events.h).
  void events_init();
  bool events_intercept(Conn* c, Entry& e);  // queue_request: true to drop the frame
  void events_refused(Conn* c, Entry& e);
  void events_subscribe(Entry& e, uint32_t node, int64_t since);
  void events_cut(Conn* c, std::string_view why);
  void events_closed(Conn* c);
  void events_emit(DerivedEvent ev, int64_t now_ns);
  void events_committed(uint64_t first_seq, uint64_t last_seq);
  void events_online(uint32_t id);
  void events_reap_planned(const std::vector<uint32_t>& ids);
  void events_reaped(uint32_t id);
  void events_demoted();
  void flush(Conn* c);
  void close_conn(Conn* c, const char* why);
  void update_read_interest(Conn* c);
  // conn_limits.cc: a socket past -max-connections (counted, warned about at most every 5 s),
  // and the read deadline of daemon connections (-read-timeout, wire §2.5).
  void refuse_over_cap();
  static void on_read_deadline_timer(evutil_socket_t fd, short what, void* arg);
  void arm_read_deadline_timer();
  void sweep_read_deadlines();
  void free_dead();
  const Txn& snapshot();

  event_base* base_;
  Registry& reg_;
  Writer& writer_;
  int tcp_fd_, control_fd_;
  EventPtr accept_ev_, control_accept_ev_, accept_resume_ev_, verified_ev_, committed_ev_;
  const timeval* idle_timeout_ = nullptr;   // common timeout, 5 min: the local socket only
  const timeval* write_timeout_ = nullptr;  // common timeout, 5 s
  VerifyPool verify_pool_;
  uint64_t verify_inflight_ = 0;           // entries handed to verify_pool_, not yet taken back
  Fetcher fetcher_{base_};                 // outbound HTTP steps (identity webhook, JWKS)
  Deliverer deliverer_{base_, reg_, fetcher_};  // audit webhook and export (delivery.h)
  uint64_t audit_seq_seen_ = 0;            // newest audit sequence the deliverer was woken for
  Txn snapshot_;                           // the loop's read snapshot, within a pass
  std::unique_ptr<Batch> next_batch_;      // accumulating while the writer is busy
  std::vector<Conn*> marked_;              // connections with news this pass
  std::vector<Conn*> backlog_;             // buffered input left for the next pass
  std::vector<Conn*> continuing_;          // a read in turns (list_nodes) goes on next pass
  std::vector<Conn*> bus_;                 // local-bus subscribers (publish() visits only these)
  std::unique_ptr<EventStream> events_;    // subscribe_events streams (events.cc)
  std::vector<Conn*> dead_;
  std::vector<std::unique_ptr<Conn>> conns_;  // owner; index kept in Conn
  size_t pass_requests_ = 0;
  bool flush_due_ = false, reap_due_ = false, shutting_down_ = false;
  uint64_t next_conn_id_ = 1;
  int64_t reap_interval_ns_ = 0;
  RateLimiter limiter_;
  bool per_ip_enabled_ = true;             // PILOT_REGISTRY_NORATELIMIT=1 turns it off
  RateLimits limits_applied_;              // as configured (limiter_ clamps them)
  bool limits_synced_ = false;
  WhitelistFile whitelist_file_;
  EventPtr whitelist_ev_;                  // polls the whitelist file every 2 s
  SyncGate<Entry*> sync_;                  // -repl-sync: committed replies waiting for an ack
  EventPtr sync_ev_;                       // fires at the oldest held reply's deadline
  // transport.cc
  std::unique_ptr<tls::ServerIdentity> tls_;  // -tls: what new connections are accepted with
  std::vector<std::unique_ptr<TlsRelay>> relays_;  // replication connections that came over TLS
  CidrList proxy_from_;                    // -proxy-protocol-from
  HandshakePool handshake_pool_{std::max(1u, std::thread::hardware_concurrency())};
  EventPtr handshaken_ev_;                 // the pool's finished steps
  const timeval* proxy_timeout_ = nullptr;      // common timeout for the PROXY header
  const timeval* handshake_timeout_ = nullptr;  // common timeout for the TLS handshake
  EventPtr read_deadline_ev_;              // the read-deadline sweep (conn_limits.h)
  WarnEvery refusal_warn_{5LL * 1000000000};  // -max-connections refusals: one warning per 5 s
};

}  // namespace rdv::registry
