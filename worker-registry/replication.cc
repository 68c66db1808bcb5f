// The registry's side of replication (docs/replication.md): the hand-over of a standby's
// connection to the replicator, and -repl-sync's held replies (the gate is sync_gate.h; the
// pipeline calls in from batch_done, pipeline.cc).
//
// Why a hand-over rather than a second port: a standby dials the leader's registry address,
// the one address operators already route and firewall (as the Go server did), and the
// registry's checks (token, first request) run before any replication code sees a byte. The
// replicator then owns the socket; this process never reads or writes it again, so a slow
// standby can never take loop time from daemons.
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "conn.h"
#include "crypto.h"
#include "dispatch.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"

namespace rdv::registry {

namespace {

// Bounds of a hand-over: the frame and what followed it travel in one sendmsg (ipc.h), and a
// standby sends nothing after its subscribe until it is answered.
constexpr size_t kMaxHandshakeBytes = 16 * 1024;
constexpr size_t kMaxBufferedBytes = 16 * 1024;

std::string peer_address(const Peer& p) {
  const bool v6 = p.ip.find(':') != std::string::npos;
  return (v6 ? "[" + p.ip + "]" : p.ip) + ":" + std::to_string(p.port);
}

}  // namespace

bool is_replication_frame(std::string_view type) {
  return type == "subscribe_replication" || type == "replication_fence";
}

void Server::take_replication(Conn* c, std::unique_ptr<Entry> e, std::string_view body) {
  const Config& cfg = reg_.config();
  const std::string type(e->msg.type());
  e->type_index = metrics::type_index(type);
  // The order of docs/replication.md: configuration, token, then whether the replicator takes
  // it. The token is compared hashed, in constant time (token_equal), like the admin token.
  std::string refusal;
  if (cfg.repl_token.empty()) refusal = "replication not configured";
  else if (!token_equal(e->msg.str("token"), cfg.repl_token)) refusal = "invalid replication token";
  else if (c->had_request || !c->queue.empty() || c->pending_out() > 0)
    refusal = type + " must be the connection's first request";
  else if (body.size() > kMaxHandshakeBytes)
    refusal = type + " too large (" + std::to_string(body.size()) + " bytes, max " + std::to_string(kMaxHandshakeBytes) + ")";
  else if (c->in.size() - c->in_off > kMaxBufferedBytes)
    refusal = type + ": " + std::to_string(c->in.size() - c->in_off) + " bytes sent after it before its answer";
  c->had_request = true;

  if (refusal.empty()) {
    std::string why;
    if (hand_to_replicator(c, body, &why)) {
      log_info("replication connection handed to the replicator", {{"type", type}, {"peer", peer_address(c->peer)}});
      if (auto* p = reg_.page()) p->repl_handoffs_total.fetch_add(1, std::memory_order_relaxed);
      if (e->type_index != metrics::kUnknownType)
        metrics::observe(reg_.page(), e->type_index, mono_now_ns() - e->start_mono_ns, false);
      // Forgotten without a byte more: the replicator holds its own descriptor, so closing
      // ours leaves the TCP connection open.
      c->in_off = c->in.size();
      close_conn(c, "handed to the replicator");
      return;
    }
    log_warn("replication connection refused: the replicator cannot be reached",
             {{"type", type}, {"peer", peer_address(c->peer)}, {"error", why}});
    refusal = "replication unavailable: replicator not running";
  } else {
    log_info("replication connection refused", {{"type", type}, {"peer", peer_address(c->peer)}, {"reason", refusal}});
  }
  if (e->type_index != metrics::kUnknownType)
    metrics::observe(reg_.page(), e->type_index, mono_now_ns() - e->start_mono_ns, true);
  // Verbatim (never sanitised): the standby's operator must see why. Then the connection
  // closes; earlier replies, if any, still go out first.
  e->reply.clear();
  std::string out;
  JsonWriter w(out);
  w.begin_object().str("type", "error").str("error", refusal).end_object();
  wire::append_json_frame(e->reply, out);
  e->desc = nullptr;
  e->is_write = false;
  e->is_error = true;
  e->answered = true;
  e->state = Entry::State::Ready;
  c->close_after_flush = true;
  queue_request(c, std::move(e));
}

// One sendmsg on a fresh non-blocking connection to <run-dir>/replicator.sock: the daemon
// framed {"type":"handoff",…} and the socket (SCM_RIGHTS). The loop never waits: a listener
// that is absent or whose backlog is full is "not running" for this attempt, and the standby
// retries with its backoff.
bool Server::hand_to_replicator(Conn* c, std::string_view body, std::string* error) {
  JsonPtr request(json_loadb(body.data(), body.size(), 0, nullptr));
  if (!json_is_object(request.get())) {
    // Our request parser accepted it; the replicator reads it with jansson.
    *error = "the request is not a JSON object jansson reads";
    return false;
  }
  const size_t buffered = c->in.size() - c->in_off;
  JsonPtr msg(json_object());
  json_object_set_new(msg.get(), "type", json_string("handoff"));
  json_object_set_new(msg.get(), "peer", json_string(peer_address(c->peer).c_str()));
  json_object_set(msg.get(), "request", request.get());
  json_object_set_new(
      msg.get(), "buffered",
      json_string(base64_encode(reinterpret_cast<const uint8_t*>(c->in.data()) + c->in_off, buffered).c_str()));
  std::string frame;
  wire::append_json_frame(frame, json_dump_compact(msg.get()));

  const std::string path = ipc::replicator_socket_path(reg_.config().run_dir);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    *error = "socket path too long: " + path;
    return false;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock) {
    *error = sys_error("socket");
    return false;
  }
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    *error = path + ": " + sys_error("connect");
    return false;
  }
  if (!c->tls) {
    if (!ipc::send_with_fd(sock.get(), frame, c->fd.get())) {
      *error = path + ": " + sys_error("sendmsg");
      return false;
    }
    return true;  // `sock` closes here; the message and the descriptor in it stay queued
  }
  // Over TLS the session stays here: the replicator gets a socketpair's end, and a relay
  // carries the bytes between it and the TLS connection (tls_relay.h).
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    *error = sys_error("socketpair");
    return false;
  }
  UniqueFd ours(pair[0]), theirs(pair[1]);
  if (!ipc::send_with_fd(sock.get(), frame, theirs.get())) {
    *error = path + ": " + sys_error("sendmsg");
    return false;
  }
  event_del(c->rev.get());
  event_del(c->wev.get());
  relays_.push_back(std::make_unique<TlsRelay>(base_, std::move(c->fd), std::move(c->tls), std::move(ours),
                                               peer_address(c->peer)));
  return true;
}

// ---- -repl-sync ----

void Server::sync_configure() {
  const Config& cfg = reg_.config();
  const bool enabled = cfg.repl_sync && !reg_.is_standby();
  const bool was_on = sync_.state() != SyncState::Off;
  sync_release(sync_.configure(enabled, cfg.repl_sync_timeout_ns, reg_.server.last_seq, mono_now_ns()),
               "synchronous replication turned off");
  if (enabled != was_on)
    log_info(enabled ? "synchronous replication on: write replies wait for a standby's acknowledgement"
                     : "synchronous replication off",
             {{"timeout_ms", std::to_string(cfg.repl_sync_timeout_ns / 1000000)}});
  note_sync_state();
}

void Server::sync_release(SyncGate<Entry*>::Released r, const char* why) {
  metrics::RegistryPage* page = reg_.page();
  for (size_t i = 0; i < r.items.size(); i++) {
    if (page) metrics::observe(page->repl_sync_wait, metrics::kCommitBuckets, double(r.held_ns[i]) / 1e9, uint64_t(r.held_ns[i]));
    write_released(*r.items[i]);
  }
  if (r.transition == SyncGate<Entry*>::Transition::Degraded) {
    log_warn("synchronous replication degraded to asynchronous: no standby acknowledged a held write within "
             "-repl-sync-timeout; writes are answered without waiting until a standby catches up",
             {{"timeout_ms", std::to_string(reg_.config().repl_sync_timeout_ns / 1000000)},
              {"streaming_standbys", std::to_string(sync_.standbys())},
              {"acked_seq", std::to_string(sync_.acked())},
              {"last_seq", std::to_string(reg_.server.last_seq)},
              {"released", std::to_string(r.items.size())}});
  } else if (r.transition == SyncGate<Entry*>::Transition::Recovered) {
    log_info("synchronous replication restored: a standby has every committed record",
             {{"acked_seq", std::to_string(sync_.acked())}, {"streaming_standbys", std::to_string(sync_.standbys())}});
  } else if (!r.items.empty() && std::string_view(why) != "ack") {
    log_debug("held write replies released", {{"reason", why}, {"count", std::to_string(r.items.size())}});
  }
  note_sync_state();
  sync_arm_timer();
}

void Server::sync_arm_timer() {
  if (!sync_ev_) return;
  const int64_t deadline = sync_.next_deadline();
  if (deadline == 0) {
    event_del(sync_ev_.get());
    return;
  }
  const int64_t wait = std::max<int64_t>(0, deadline - mono_now_ns());
  timeval tv{time_t(wait / 1000000000), suseconds_t((wait % 1000000000) / 1000 + 1)};
  event_add(sync_ev_.get(), &tv);
}

void Server::on_sync_timer(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  s->sync_release(s->sync_.expire(mono_now_ns()), "timeout");
}

void Server::note_sync_state() {
  Registry::ServerFigures& f = reg_.server;
  f.sync_enabled = sync_.state() != SyncState::Off;
  f.sync_state = sync_state_name(sync_.state());
  f.sync_held = sync_.held();
  f.sync_degraded_total = sync_.degraded_total();
  if (metrics::RegistryPage* p = reg_.page()) {
    p->repl_sync_state.store(uint64_t(sync_.state()), std::memory_order_relaxed);
    p->repl_sync_held.store(sync_.held(), std::memory_order_relaxed);
    p->repl_sync_degraded_total.store(sync_.degraded_total(), std::memory_order_relaxed);
  }
}

// ---- the role at run time ----

void Server::role_changed(bool leader_now) {
  if (!leader_now) {
    refuse_batched_writes();
    // Committed here, so answered as committed; a new leader's full copy may discard them
    // (docs/replication.md, "Demote").
    sync_release(sync_.release_all(mono_now_ns()), "demotion");
    events_demoted();  // events.cc: a standby makes none; its subscribers go to the leader
  } else {
    deliverer_.wake(0);  // audit deliveries a standby never made
  }
  sync_configure();
  note_writer_state();
}

void Server::refuse_batched_writes() {
  if (!next_batch_) return;
  std::unique_ptr<Batch> b = std::move(next_batch_);
  for (Entry* e : b->entries) {
    // Verbatim, as the dispatcher words it for a write that arrives on a standby.
    fail_entry(*e, "standby mode: write operations not accepted (use primary)");
    finish(*e);
    write_released(*e);
  }
  if (!b->entries.empty())
    log_info("writes queued before the role change answered with the standby refusal",
             {{"count", std::to_string(b->entries.size())}});
  note_writer_state();
}

void Server::note_writer_state() { reg_.server.writer_idle = !writer_.busy() && !next_batch_; }

void Server::config_changed() {
  sync_configure();
  std::string err;
  if (!configure_transport(&err)) log_error("reload: keeping the running TLS certificate and PROXY ranges", {{"error", err}});
}

}  // namespace rdv::registry
