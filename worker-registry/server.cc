// Connection I/O of the registry: accept, read and decode, write and close. The pipeline that
// runs the decoded requests is in pipeline.cc.
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "util.h"

namespace rdv::registry {

namespace {
constexpr int64_t kIdleNs = 5LL * 60 * 1000000000;  // wire §2.5
constexpr int kAcceptBatch = 64;
constexpr int kWhitelistPollSeconds = 2;  // ops-spec §10.3

Peer peer_of(const sockaddr* sa) {
  Peer p;
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    p.port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf);
    else inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    p.port = ntohs(in6->sin6_port);
  } else {
    return Peer{"local", 0};
  }
  p.ip = buf;
  return p;
}

EventPtr must_event(event_base* base, int fd, short what, event_callback_fn fn, void* arg, const char* name) {
  EventPtr ev(event_new(base, fd, what, fn, arg));
  if (!ev) log_error("event_new() failed", {{"event", name}});
  return ev;
}

}  // namespace


Server::Server(event_base* base, Registry& reg, Writer& writer, int tcp_fd, int control_fd)
    : base_(base), reg_(reg), writer_(writer), tcp_fd_(tcp_fd), control_fd_(control_fd),
      verify_pool_(std::max(1u, std::thread::hardware_concurrency())) {
  timeval idle{300, 0}, wr{5, 0};
  idle_timeout_ = event_base_init_common_timeout(base_, &idle);
  write_timeout_ = event_base_init_common_timeout(base_, &wr);
  if (!set_nonblocking(tcp_fd_)) log_error("fcntl(O_NONBLOCK) failed on the listener", {{"error", sys_error("fcntl")}});
  accept_ev_ = must_event(base_, tcp_fd_, EV_READ | EV_PERSIST, &Server::on_accept, this, "accept");
  if (accept_ev_) event_add(accept_ev_.get(), nullptr);
  accept_resume_ev_ = must_event(base_, -1, 0, &Server::on_accept_resume, this, "accept_resume");
  if (control_fd_ >= 0) {
    set_nonblocking(control_fd_);
    control_accept_ev_ = must_event(base_, control_fd_, EV_READ | EV_PERSIST, &Server::on_control_accept, this, "control");
    if (control_accept_ev_) event_add(control_accept_ev_.get(), nullptr);
  }
  verified_ev_ = must_event(base_, verify_pool_.notify_fd(), EV_READ | EV_PERSIST, &Server::on_verified, this, "verified");
  if (verified_ev_) event_add(verified_ev_.get(), nullptr);
  committed_ev_ = must_event(base_, writer_.notify_fd(), EV_READ | EV_PERSIST, &Server::on_committed, this, "committed");
  if (committed_ev_) event_add(committed_ev_.get(), nullptr);
  reap_interval_ns_ = std::clamp<int64_t>(reg_.config().stale_threshold_ns / 4, 250000000, 10000000000LL);

  // An operator's escape hatch (wire §2.7): the per-IP limiter only; global and per-connection
  // limits stay.
  if (const char* e = std::getenv("PILOT_REGISTRY_NORATELIMIT"); e && std::string_view(e) == "1") {
    per_ip_enabled_ = false;
    log_info("PILOT_REGISTRY_NORATELIMIT=1: the per-IP rate limit is off");
  }
  sync_limits();
  events_init();
  poll_whitelist();  // a file present at start applies before the first request
  deliverer_.wake(0);  // what the previous worker left undelivered
  sync_ev_ = must_event(base_, -1, 0, &Server::on_sync_timer, this, "sync");
  sync_configure();
  whitelist_ev_ = must_event(base_, -1, EV_PERSIST, &Server::on_whitelist_timer, this, "whitelist");
  if (whitelist_ev_) {
    timeval tv{kWhitelistPollSeconds, 0};
    event_add(whitelist_ev_.get(), &tv);
  }
  read_deadline_ev_ = must_event(base_, -1, 0, &Server::on_read_deadline_timer, this, "read_deadline");
  arm_read_deadline_timer();
}

Server::~Server() {
  handshake_pool_.stop();  // no thread touches a connection's TLS session any more
  conns_.clear();
}

// ---- accept ----

void Server::on_accept(evutil_socket_t fd, short, void* arg) { static_cast<Server*>(arg)->accept_from(fd, false); }
void Server::on_control_accept(evutil_socket_t fd, short, void* arg) { static_cast<Server*>(arg)->accept_from(fd, true); }

void Server::on_accept_resume(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  if (!s->shutting_down_) event_add(s->accept_ev_.get(), nullptr);
}

void Server::accept_from(int listen_fd, bool control) {
  for (int i = 0; i < kAcceptBatch; i++) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: leave new connections in the kernel backlog for a moment
        // instead of spinning on accept.
        log_warn("accept4() failed; pausing accepts for 100 ms", {{"error", sys_error("accept4")}});
        event_del(accept_ev_.get());
        timeval tv{0, 100000};
        evtimer_add(accept_resume_ev_.get(), &tv);
        return;
      }
      log_warn("accept4() failed", {{"error", sys_error("accept4")}});
      return;
    }
    UniqueFd owned(fd);
    if (!control && reg_.server.tcp_connections >= size_t(reg_.config().max_connections)) {
      refuse_over_cap();
      continue;  // above the cap: closed at once, unread (wire §2.5)
    }
    if (!control) {
      int one = 1;
      if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_debug("setsockopt(TCP_NODELAY) failed", {{"error", sys_error("setsockopt")}});
    }
    add_conn(owned.release(), control, reinterpret_cast<sockaddr*>(&ss));
  }
}

void Server::add_conn(int fd, bool control, const sockaddr* peer) {
  auto c = std::make_unique<Conn>();
  c->srv = this;
  c->fd.reset(fd);
  c->id = next_conn_id_++;
  c->control = control;
  c->peer = peer_of(peer);
  if (!control) ip_from_sockaddr(peer, &c->ip);
  sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (!control && getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0)
    c->peer.local_ip = peer_of(reinterpret_cast<sockaddr*>(&local)).ip;
  if (control) c->mode = wire::Mode::Json;
  c->last_frame_ns = mono_now_ns();
  c->rate.start_ns = c->last_frame_ns;
  c->rev.reset(event_new(base_, fd, EV_READ | EV_PERSIST, &Server::on_readable, c.get()));
  c->wev.reset(event_new(base_, fd, EV_WRITE, &Server::on_writable, c.get()));
  if (!c->rev || !c->wev) {
    log_error("event_new() failed for a connection; closing it", {{"peer", c->peer.ip}});
    return;  // c (and its fd) freed here
  }
  c->index = conns_.size();
  Conn* raw = c.get();
  conns_.push_back(std::move(c));
  if (!control) {
    reg_.server.tcp_connections++;
    if (auto* p = reg_.page()) {
      p->tcp_connections.store(reg_.server.tcp_connections, std::memory_order_relaxed);
      p->connections_accepted_total.fetch_add(1, std::memory_order_relaxed);
    }
  }
  begin_stages(raw);  // a PROXY header, a TLS handshake (transport.cc)
  if (raw->closed) return;
  update_read_interest(raw);
}

// ---- reading and decoding ----

bool Server::can_take_input(const Conn* c) const {
  return !c->closed && !c->close_after_flush && !shutting_down_ &&
         c->pending_out() < size_t(reg_.config().max_conn_output_kb) * 1024 && c->queue.size() < kMaxQueued;
}

void Server::update_read_interest(Conn* c) {
  // A connection whose buffered requests wait their turn in the backlog is not read either:
  // its input stays in the kernel, and its memory here is one read chunk at most.
  bool want = can_take_input(c) && !c->in_backlog && !c->tls_busy;
  if (want == c->reading) return;
  c->reading = want;
  if (want) {
    event_add(c->rev.get(), read_timeout(c));
    // Plaintext OpenSSL already decrypted is announced by no socket event.
    if (c->tls && c->tls->pending()) event_active(c->rev.get(), EV_READ, 0);
  } else {
    event_del(c->rev.get());
  }
}

void Server::on_readable(evutil_socket_t, short what, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  Server* s = c->srv;
  if (what & EV_TIMEOUT) {
    if (c->stage == Stage::Proxy) return s->refuse_proxy(c, "no complete PROXY header within 5 s");
    if (c->stage == Stage::Handshake) {
      if (auto* p = s->reg_.page()) p->tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
      return s->close_conn(c, "TLS handshake timeout");
    }
    if (c->tls_write_wants_read) return s->close_conn(c, "write timeout");
    return s->close_conn(c, "idle timeout");
  }
  if (c->tls_write_wants_read) {
    s->flush(c);
    if (c->closed) return;
    if (!c->reading) event_del(c->rev.get());
  }
  s->read_input(c);
}

void Server::read_input(Conn* c) {
  if (c->in_backlog || !can_take_input(c)) return;
  if (c->stage == Stage::Proxy) {
    read_proxy_header(c);
    if (c->closed || c->stage == Stage::Proxy) return;
  }
  if (c->stage == Stage::Handshake) {
    drive_handshake(c);
    return;  // established: the next event (or event_active) reads the first request
  }
  // One scratch buffer for all connections: a connection's own buffer holds only the bytes of
  // requests not decoded yet, so idle connections cost almost nothing.
  static char scratch[kReadChunk];
  bool eof = false;
  size_t n = 0;
  switch (read_some(c, scratch, kReadChunk, &n)) {
    case Io::Data:
      c->in.append(scratch, n);
      break;
    case Io::Eof:
      eof = true;
      break;
    case Io::Again:
      break;
    case Io::Error:
      return close_conn(c, "read error");
  }
  decode_frames(c);
  if (c->closed) return;
  // The read stopped at the chunk with whole records still inside OpenSSL: read on next pass.
  if (!eof && c->tls && c->tls->pending() && c->reading && !c->in_backlog) event_active(c->rev.get(), EV_READ, 0);
  if (eof) {
    c->close_after_flush = true;  // the peer half-closed: answer what it sent, then close
    update_read_interest(c);
    mark(c);
  } else if (c->control && mono_now_ns() - c->last_frame_ns > kIdleNs) {
    close_conn(c, "no complete request for 5 minutes");  // daemons: sweep_read_deadlines
  }
}

void Server::decode_frames(Conn* c) {
  uint32_t max = uint32_t(reg_.config().max_message_bytes);
  sync_limits();
  while (!c->closed && !c->close_after_flush) {
    if (!can_take_input(c)) break;  // replies backed up: flush() brings it back once they drain
    if (pass_requests_ >= kPassRequests || c->pass_requests >= kConnPassRequests) {
      // Its turn is over: the rest waits in c->in, at the back of the backlog (round robin).
      if (c->in_off < c->in.size() && !c->in_backlog) {
        c->in_backlog = true;
        backlog_.push_back(c);
      }
      break;
    }
    auto* data = reinterpret_cast<const uint8_t*>(c->in.data()) + c->in_off;
    const bool first_bytes = c->mode == wire::Mode::Undetected;
    wire::Decoded d = wire::decode_next(c->mode, data, c->in.size() - c->in_off, max);
    if (d.status == wire::DecodeStatus::NeedMore) break;
    c->in_off += d.consumed;
    switch (d.status) {
      case wire::DecodeStatus::Preamble:
        continue;
      case wire::DecodeStatus::BadVersion: {
        auto e = std::make_unique<Entry>();
        wire::append_binary_error(e->reply, "unsupported wire version " + std::to_string(d.version));
        e->answered = true;
        e->state = Entry::State::Ready;
        c->close_after_flush = true;
        queue_request(c, std::move(e));
        break;
      }
      case wire::DecodeStatus::Close:
        // A PROXY header where none may come (outside -proxy-protocol-from, or a second one):
        // its signature reads as an oversize length. Said as what it is.
        if (first_bytes && looks_like_proxy(c)) {
          refuse_proxy(c, "PROXY header from a source outside -proxy-protocol-from");
          break;
        }
        if (auto* p = reg_.page()) p->frames_rejected_total.fetch_add(1, std::memory_order_relaxed);
        log_debug("closing connection", {{"reason", d.reason}, {"peer", c->peer.ip}});
        c->close_after_flush = true;
        mark(c);
        break;
      case wire::DecodeStatus::Frame: {
        auto e = std::make_unique<Entry>();
        e->kind = c->control ? EntryKind::Control
                  : c->mode == wire::Mode::Json ? EntryKind::Json
                  : d.type == wire::kPassthrough ? EntryKind::Passthrough
                                                 : EntryKind::Native;
        e->opcode = d.type;
        e->now_ns = unix_now_ns();
        e->start_mono_ns = mono_now_ns();
        std::string_view body(reinterpret_cast<const char*>(d.payload), d.payload_len);
        if (e->kind == EntryKind::Native) e->payload.assign(body);
        else e->msg_ok = e->msg.parse(body, &e->decode_error);
        c->last_frame_ns = e->start_mono_ns;
        if (!e->msg_ok && (e->kind == EntryKind::Json || e->kind == EntryKind::Control)) {
          // JSON mode: a body that is not a JSON object is a fatal framing error (§2.6);
          // replies to earlier requests are still delivered.
          if (auto* p = reg_.page()) p->frames_rejected_total.fetch_add(1, std::memory_order_relaxed);
          log_debug("closing connection: undecodable request", {{"error", e->decode_error}, {"peer", c->peer.ip}});
          c->close_after_flush = true;
          mark(c);
          break;
        }
        // A standby's replicator (or a promoted peer's fence) on the daemon port: taken over
        // here, before any rate limit (wire §2.9 step 1). Binary passthrough is refused by
        // the dispatcher instead (run_entry), on a connection that stays open.
        if (e->kind == EntryKind::Json && is_replication_frame(e->msg.type())) {
          take_replication(c, std::move(e), body);
          pass_requests_++;
          c->pass_requests++;
          break;
        }
        c->had_request = true;
        classify(*e, reg_.is_standby());
        // A refused request is queued answered (State::Ready); the others go on to end_pass,
        // which collects their signature checks.
        if (!refuse_if_limited(c, *e)) e->state = Entry::State::New;
        queue_request(c, std::move(e));
        pass_requests_++;
        c->pass_requests++;
        break;
      }
      case wire::DecodeStatus::NeedMore:
        break;
    }
  }
  // Keep the unconsumed tail; compact once the consumed prefix is worth moving.
  if (c->in_off == c->in.size()) {
    if (c->in.capacity() > 4096) std::string().swap(c->in);  // give back a large frame's buffer
    else c->in.clear();
    c->in_off = 0;
  } else if (c->in_off > 65536) {
    c->in.erase(0, c->in_off);
    c->in_off = 0;
  }
  update_read_interest(c);
}

void Server::queue_request(Conn* c, std::unique_ptr<Entry> e) {
  if (events_intercept(c, *e)) return;  // a frame on an event stream ends it (events.cc)
  e->conn = c;
  e->peer = &c->peer;
  c->queue.push(std::move(e));
  mark(c);
}

// ---- rate limiting ----

void Server::sync_limits() {
  // Compared by value once per connection turn: a SIGHUP that changed a limit applies at once.
  const Config& cfg = reg_.config();
  RateLimits want{cfg.rate_limit_global, cfg.rate_limit_per_ip, cfg.rate_limit_per_conn, per_ip_enabled_};
  const RateLimits& cur = limits_applied_;
  if (limits_synced_ && cur.global == want.global && cur.per_ip == want.per_ip && cur.per_conn == want.per_conn &&
      cur.per_ip_enabled == want.per_ip_enabled)
    return;
  limits_synced_ = true;
  limits_applied_ = want;
  limiter_.set_limits(want);
}

bool Server::refuse_if_limited(Conn* c, Entry& e) {
  if (c->control) return false;  // the local operator is never limited
  // subscribe_replication never gets here in JSON mode: decode_frames hands it over first.
  Verdict v = limiter_.admit(c->rate, c->ip, e.start_mono_ns);
  if (v.kind == DenyKind::None) return false;

  if (auto* p = reg_.page()) {
    std::atomic<uint64_t>& n = v.kind == DenyKind::Ip            ? p->ratelimit_denied_ip
                               : v.kind == DenyKind::BucketTable ? p->ratelimit_denied_bucket_table
                               : v.kind == DenyKind::Global      ? p->ratelimit_denied_global
                                                                 : p->ratelimit_denied_connection;
    n.fetch_add(1, std::memory_order_relaxed);
  }
  // The time the refusing buckets really need, at least 1 ms (the Go server always said 1000).
  int64_t retry_ms = std::max<int64_t>(1, (v.retry_ns + 999999) / 1000000);
  log_debug("request rate limited", {{"peer", c->peer.ip}, {"limit", deny_kind_name(v.kind)},
                                     {"retry_after_ms", std::to_string(retry_ms)}});
  std::string text = "rate limited: too many requests from " + c->peer.ip;
  e.reply.clear();
  if (e.kind == EntryKind::Native) {
    wire::append_binary_error(e.reply, text);
  } else {
    std::string body;
    JsonWriter w(body);
    w.begin_object().str("type", "error").str("error", text).num("retry_after_ms", retry_ms).end_object();
    if (e.kind == EntryKind::Passthrough) wire::append_binary_frame(e.reply, wire::kPassthrough, body);
    else wire::append_json_frame(e.reply, body);
  }
  // Not dispatched: no descriptor, nothing to verify or write; it waits only for its turn.
  e.desc = nullptr;
  e.is_write = false;
  e.is_error = true;
  e.answered = true;
  e.state = Entry::State::Ready;
  return true;
}

void Server::request_reap() {
  reap_due_ = true;
  limiter_.evict_idle(mono_now_ns());
}

std::string Server::whitelist_path() const {
  const Config& cfg = reg_.config();
  return cfg.rate_limit_whitelist.empty() ? cfg.data_dir + "/rate-limit-whitelist.json" : cfg.rate_limit_whitelist;
}

void Server::on_whitelist_timer(evutil_socket_t, short, void* arg) { static_cast<Server*>(arg)->poll_whitelist(); }

void Server::poll_whitelist() {
  const std::string path = whitelist_path();
  Whitelist list;
  std::string err;
  switch (whitelist_file_.poll(path, &list, &err)) {
    case WhitelistFile::Change::None:
      return;
    case WhitelistFile::Change::Loaded: {
      std::string n = std::to_string(list.size());
      limiter_.set_whitelist(std::move(list));
      log_info("rate-limit-whitelist reloaded", {{"file", path}, {"entries", n}});
      return;
    }
    case WhitelistFile::Change::Cleared:
      limiter_.set_whitelist({});
      log_info("rate-limit-whitelist removed; no source is whitelisted now", {{"file", path}});
      return;
    case WhitelistFile::Change::Failed:
      log_warn("rate-limit-whitelist not applied; keeping the previous list",
               {{"file", path}, {"error", err}, {"entries", std::to_string(limiter_.whitelist().size())}});
      return;
  }
}

void Server::mark(Conn* c) {
  if (c->marked) return;
  c->marked = true;
  marked_.push_back(c);
}

// ---- writing and closing ----

void Server::on_writable(evutil_socket_t, short what, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  Server* s = c->srv;
  if (what & EV_TIMEOUT) {
    if (c->stage == Stage::Handshake) {
      if (auto* p = s->reg_.page()) p->tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
      return s->close_conn(c, "TLS handshake timeout");
    }
    return s->close_conn(c, "write timeout");
  }
  if (c->stage == Stage::Handshake) return s->drive_handshake(c);
  if (c->tls_read_wants_write) {
    s->read_input(c);
    if (c->closed) return;
  }
  s->flush(c);
}

void Server::flush(Conn* c) {
  while (c->pending_out() > 0) {
    size_t n = 0;
    Io io = write_some(c, c->out.data() + c->out_off, c->pending_out(), &n);
    if (io == Io::Data) {
      c->out_off += n;
      continue;
    }
    if (io == Io::Again) {
      // Re-armed for each partial write: the 5 s deadline is per chunk of progress.
      if (!c->tls_write_wants_read) event_add(c->wev.get(), write_timeout_);
      update_read_interest(c);
      return;
    }
    return close_conn(c, "write error");
  }
  if (c->out.capacity() > 4096) std::string().swap(c->out);
  else c->out.clear();
  c->out_off = 0;
  event_del(c->wev.get());
  if ((c->close_after_flush || shutting_down_) && c->queue.empty()) return close_conn(c, "done");
  update_read_interest(c);
  // Output drained: input the caps held back can be decoded now.
  if (c->in_off < c->in.size() && !c->in_backlog && can_take_input(c)) {
    c->in_backlog = true;
    backlog_.push_back(c);
  }
}

void Server::close_conn(Conn* c, const char* why) {
  if (c->closed) return;
  log_debug("connection closed", {{"reason", why}, {"peer", c->peer.ip}});
  c->closed = true;
  c->reading = false;
  if (c->bus) std::erase(bus_, c);
  c->bus = false;
  events_closed(c);
  event_del(c->rev.get());
  event_del(c->wev.get());
  c->rev.reset();
  c->wev.reset();
  // A handshake step at the pool still uses the session and the socket: the step's return
  // releases them (handshake_step_done).
  if (!c->tls_busy) {
    // A close_notify, if the socket takes it now: the peer learns the close was meant.
    if (c->tls && c->tls->established()) SSL_shutdown(c->tls->ssl());
    c->tls.reset();
    c->fd.reset();
  }
  if (!c->control) {
    reg_.server.tcp_connections--;
    if (auto* p = reg_.page()) p->tcp_connections.store(reg_.server.tcp_connections, std::memory_order_relaxed);
  }
  dead_.push_back(c);
}

// Frees closed connections once nothing on the pool or the writer still points at them.
void Server::free_dead() {
  std::erase_if(relays_, [](const std::unique_ptr<TlsRelay>& r) { return r->done(); });
  std::erase_if(dead_, [&](Conn* c) {
    if (c->away > 0 || c->marked || c->in_backlog ||
        std::find(continuing_.begin(), continuing_.end(), c) != continuing_.end())
      return false;
    size_t i = c->index;
    if (i + 1 != conns_.size()) {
      std::swap(conns_[i], conns_.back());
      conns_[i]->index = i;
    }
    conns_.pop_back();  // frees c and its queue
    return true;
  });
}

void Server::begin_shutdown() {
  shutting_down_ = true;
  // Held replies are committed: they go out now rather than wait for an ack that a standby
  // may never send before the deadline of the shutdown.
  sync_release(sync_.release_all(mono_now_ns()), "shutdown");
  reg_.server.serving = false;
  event_del(accept_ev_.get());
  if (control_accept_ev_) event_del(control_accept_ev_.get());
  for (auto& c : conns_) {
    if (c->closed) continue;
    update_read_interest(c.get());
    if (c->pending_out() == 0 && c->queue.empty()) close_conn(c.get(), "shutdown");
  }
}

bool Server::drained() const {
  if (writer_.busy() || next_batch_ || verify_pool_.in_flight() > 0 || sync_.held() > 0) return false;
  for (auto& c : conns_)
    if (!c->closed && (c->pending_out() > 0 || !c->queue.empty())) return false;
  return true;
}

}  // namespace rdv::registry
