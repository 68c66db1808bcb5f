#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "log.h"
#include "util.h"

namespace rdv::registry {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadBudget = 256 * 1024;          // per readable event, for fairness
constexpr size_t kOutputHighWater = 4 * 1024 * 1024;  // stop reading a client that does not read
constexpr int64_t kIdleNs = 5LL * 60 * 1000000000;   // wire §2.5
constexpr int kAcceptBatch = 64;
constexpr int kMaxReplays = 16;

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

size_t native_type_index(uint8_t type) {
  switch (type) {
    case wire::kHeartbeat: return metrics::type_index("heartbeat");
    case wire::kLookup: return metrics::type_index("lookup");
    case wire::kResolve: return metrics::type_index("resolve");
  }
  return metrics::kUnknownType;
}

}  // namespace

struct Server::Conn {
  Server* srv = nullptr;
  int fd = -1;
  size_t index = 0;
  uint64_t id = 0;
  bool control = false;
  Peer peer;
  wire::Mode mode = wire::Mode::Undetected;
  std::string in;
  size_t in_off = 0;
  std::string staged;  // replies of the current pass, released after commit
  std::string out;     // committed replies not yet written
  size_t out_off = 0;
  EventPtr rev, wev;
  bool touched = false, closed = false, close_after_flush = false, reading = false;
  bool pass_writes = false;  // sent a request this pass that is not a snapshot read
  int64_t last_frame_ns = 0;

  ~Conn() {
    rev.reset();  // events before their fd
    wev.reset();
    if (fd >= 0) ::close(fd);
  }
  size_t pending_out() const { return out.size() - out_off; }
};

Server::Server(event_base* base, Registry& reg, int tcp_fd, int control_fd)
    : base_(base), reg_(reg), tcp_fd_(tcp_fd), control_fd_(control_fd),
      verify_pool_(std::max(1u, std::thread::hardware_concurrency()) - 1) {
  timeval idle{300, 0}, wr{5, 0};
  idle_timeout_ = event_base_init_common_timeout(base_, &idle);
  write_timeout_ = event_base_init_common_timeout(base_, &wr);
  set_nonblocking(tcp_fd_);
  accept_ev_.reset(event_new(base_, tcp_fd_, EV_READ | EV_PERSIST, &Server::on_accept, this));
  event_add(accept_ev_.get(), nullptr);
  accept_resume_ev_.reset(evtimer_new(base_, &Server::on_accept_resume, this));
  if (control_fd_ >= 0) {
    set_nonblocking(control_fd_);
    control_accept_ev_.reset(event_new(base_, control_fd_, EV_READ | EV_PERSIST, &Server::on_control_accept, this));
    event_add(control_accept_ev_.get(), nullptr);
  }
}

Server::~Server() { conns_.clear(); }

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
    if (!control && tcp_connections_ >= size_t(reg_.config().max_connections)) {
      ::close(fd);  // above the cap: closed at once (wire §2.5)
      continue;
    }
    if (!control) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    add_conn(fd, control, reinterpret_cast<sockaddr*>(&ss));
  }
}

Server::Conn* Server::add_conn(int fd, bool control, const sockaddr* peer) {
  auto c = std::make_unique<Conn>();
  c->srv = this;
  c->fd = fd;
  c->id = next_conn_id_++;
  c->control = control;
  c->peer = peer_of(peer);
  sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (!control && getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0)
    c->peer.local_ip = peer_of(reinterpret_cast<sockaddr*>(&local)).ip;
  if (control) c->mode = wire::Mode::Json;
  c->last_frame_ns = mono_now_ns();
  c->rev.reset(event_new(base_, fd, EV_READ | EV_PERSIST, &Server::on_readable, c.get()));
  c->wev.reset(event_new(base_, fd, EV_WRITE, &Server::on_writable, c.get()));
  c->index = conns_.size();
  Conn* raw = c.get();
  conns_.push_back(std::move(c));
  if (!control) {
    tcp_connections_++;
    if (auto* p = reg_.page()) {
      p->tcp_connections.store(tcp_connections_, std::memory_order_relaxed);
      p->connections_accepted_total.fetch_add(1, std::memory_order_relaxed);
    }
  }
  update_read_interest(raw);
  return raw;
}

// ---- reading and decoding ----

void Server::update_read_interest(Conn* c) {
  bool want = !c->closed && !c->close_after_flush && !shutting_down_ && c->pending_out() < kOutputHighWater;
  if (want == c->reading) return;
  c->reading = want;
  if (want) event_add(c->rev.get(), idle_timeout_);
  else event_del(c->rev.get());
}

void Server::on_readable(evutil_socket_t, short what, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (what & EV_TIMEOUT) return c->srv->close_conn(c, "idle timeout");
  c->srv->read_input(c);
}

void Server::read_input(Conn* c) {
  // One scratch buffer for all connections: a connection's own buffer holds only the bytes of
  // an incomplete frame, so idle connections cost almost nothing.
  static char scratch[kReadChunk];
  size_t budget = kReadBudget;
  bool eof = false;
  while (budget > 0) {
    ssize_t n = ::read(c->fd, scratch, kReadChunk);
    if (n > 0) {
      c->in.append(scratch, size_t(n));
      budget -= std::min(budget, size_t(n));
      if (size_t(n) < kReadChunk) break;
      continue;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    return close_conn(c, "read error");
  }
  decode_frames(c);
  if (c->closed) return;
  if (eof) c->close_after_flush = true;  // the peer half-closed: answer what it sent, then close
  if (c->close_after_flush) {
    update_read_interest(c);
    // A touched connection is flushed (and closed) by end_pass once its replies commit.
    if (!c->touched) flush(c);
  } else if (mono_now_ns() - c->last_frame_ns > kIdleNs) {
    close_conn(c, "no complete request for 5 minutes");
  }
}

void Server::decode_frames(Conn* c) {
  uint32_t max = uint32_t(reg_.config().max_message_bytes);
  while (!c->closed && !c->close_after_flush) {
    auto* data = reinterpret_cast<const uint8_t*>(c->in.data()) + c->in_off;
    wire::Decoded d = wire::decode_next(c->mode, data, c->in.size() - c->in_off, max);
    if (d.status == wire::DecodeStatus::NeedMore) break;
    c->in_off += d.consumed;
    switch (d.status) {
      case wire::DecodeStatus::Preamble:
        continue;
      case wire::DecodeStatus::BadVersion: {
        std::string frame;
        wire::append_binary_error(frame, "unsupported wire version " + std::to_string(d.version));
        stage(c, frame);
        c->close_after_flush = true;
        break;
      }
      case wire::DecodeStatus::Close:
        if (auto* p = reg_.page()) p->frames_rejected_total.fetch_add(1, std::memory_order_relaxed);
        log_debug("closing connection", {{"reason", d.reason}, {"peer", c->peer.ip}});
        c->close_after_flush = true;
        break;
      case wire::DecodeStatus::Frame: {
        EntryKind kind = c->control ? EntryKind::Control
                         : c->mode == wire::Mode::Json ? EntryKind::Json
                         : d.type == wire::kPassthrough ? EntryKind::Passthrough
                                                        : EntryKind::Native;
        Entry e{c, kind, d.type, {}, unix_now_ns(), {}, true, {}};
        std::string_view body(reinterpret_cast<const char*>(d.payload), d.payload_len);
        if (kind == EntryKind::Native) e.payload.assign(body);
        else e.msg_ok = e.msg.parse(body, &e.decode_error);
        c->last_frame_ns = mono_now_ns();
        if (!e.msg_ok && (kind == EntryKind::Json || kind == EntryKind::Control)) {
          // JSON mode: a body that is not a JSON object is a fatal framing error (§2.6);
          // replies to earlier requests are still delivered.
          if (auto* p = reg_.page()) p->frames_rejected_total.fetch_add(1, std::memory_order_relaxed);
          log_debug("closing connection: undecodable request", {{"error", e.decode_error}, {"peer", c->peer.ip}});
          c->close_after_flush = true;
          break;
        }
        // Reserve the connection's place in the pass now so end_pass releases its replies.
        stage(c, {});
        e.snapshot_read = is_snapshot_read(e);
        if (!e.snapshot_read) c->pass_writes = true;
        batch_.push_back(std::move(e));
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
  if (c->close_after_flush) update_read_interest(c);
}

void Server::run_entry(const Entry& e) {
  Conn* c = e.conn;
  int64_t t0 = mono_now_ns();
  std::string frame;
  size_t type_index = metrics::kUnknownType;
  bool is_error = false;
  switch (e.kind) {
    case EntryKind::Json:
    case EntryKind::Control: {
      const Message& msg = e.msg;
      std::string body = e.kind == EntryKind::Control
                             ? dispatch_control(reg_, msg, tcp_connections_, !shutting_down_)
                             : dispatch_json(reg_, msg, c->peer, e.now_ns, &is_error, &type_index);
      wire::append_json_frame(frame, body);
      break;
    }
    case EntryKind::Passthrough: {
      const Message& msg = e.msg;
      if (!e.msg_ok) {
        wire::append_binary_error(frame, "json decode: " + e.decode_error);
        is_error = true;
      } else if (msg.str("type") == "subscribe_replication") {
        wire::append_binary_error(frame, "replication not supported over binary protocol");
        is_error = true;
        type_index = metrics::type_index("subscribe_replication");
      } else {
        wire::append_binary_frame(frame, wire::kPassthrough,
                                  dispatch_json(reg_, msg, c->peer, e.now_ns, &is_error, &type_index));
      }
      break;
    }
    case EntryKind::Native:
      handle_binary(reg_, e.type, reinterpret_cast<const uint8_t*>(e.payload.data()), e.payload.size(), c->peer,
                    e.now_ns, frame);
      type_index = native_type_index(e.type);
      is_error = frame.size() > 4 && uint8_t(frame[4]) == wire::kError;
      break;
  }
  if (e.kind != EntryKind::Control) metrics::observe(reg_.page(), type_index, mono_now_ns() - t0, is_error);
  stage(c, frame);
}

void Server::stage(Conn* c, std::string_view bytes) {
  if (!c->touched) {
    c->touched = true;
    touched_.push_back(c);
  }
  c->staged.append(bytes);
}

// ---- end of pass: group commit ----

// Reads that need neither a signature check nor a write, and so may be answered from the
// committed snapshot ahead of the pass's writes.
bool Server::is_snapshot_read(const Entry& e) const {
  switch (e.kind) {
    case EntryKind::Control:
      return false;
    case EntryKind::Native:
      if (e.type == wire::kLookup) return true;
      if (e.type == wire::kHeartbeat)
        return e.payload.size() >= 68 &&
               heartbeat_recently_verified(reg_, wire::load_be32(reinterpret_cast<const uint8_t*>(e.payload.data())),
                                           e.now_ns);
      return false;
    case EntryKind::Json:
    case EntryKind::Passthrough: {
      if (!e.msg_ok) return true;  // only an error frame to write
      std::string_view type = e.msg.type();
      if (type == "lookup" || type == "resolve_hostname" || type == "list_nodes") return true;
      if (type == "heartbeat") return heartbeat_recently_verified(reg_, e.msg.u32("node_id"), e.now_ns);
      return false;
    }
  }
  return false;
}

void Server::run_snapshot_reads() {
  bool any = false;
  for (Entry& e : batch_) {
    if (!e.snapshot_read || e.conn->pass_writes) continue;
    if (!any) reg_.begin_snapshot();
    any = true;
    run_entry(e);
    e.done = true;
  }
  if (!any) return;
  reg_.end_snapshot();
  for (Conn* c : touched_) {
    if (c->pass_writes || c->closed) continue;
    c->touched = false;
    release(c);
  }
  std::erase_if(touched_, [](Conn* c) { return !c->touched; });
}

// Verifies the pass's signatures on all cores, then runs its requests in arrival order.
void Server::execute_batch() {
  verify_jobs_.clear();
  for (const Entry& e : batch_) {
    if (e.done) continue;
    if (e.kind == EntryKind::Native)
      collect_native_checks(reg_, e.type, reinterpret_cast<const uint8_t*>(e.payload.data()), e.payload.size(),
                            e.now_ns, verify_jobs_);
    else if (e.msg_ok && e.kind != EntryKind::Control)
      collect_json_checks(reg_, e.msg, e.now_ns, verify_jobs_);
  }
  verify_pool_.run(verify_jobs_);
  reg_.remember_verified(verify_jobs_);
  for (const Entry& e : batch_)
    if (!e.done) run_entry(e);
}

void Server::end_pass() {
  run_snapshot_reads();
  int64_t now = unix_now_ns();
  execute_batch();
  auto timer_work = [&] {
    if (flush_due_) reg_.write_liveness();
    if (reap_due_) {
      reg_.reap_stale(now);
      reg_.trim_changelog();
    }
  };
  timer_work();
  int rc = reg_.commit_pass();
  for (int attempt = 0; rc == MDB_MAP_FULL && attempt < kMaxReplays; attempt++) {
    // The map is full: grow it and run the whole pass again from the recorded requests.
    // Nothing was acknowledged yet, so the replay is invisible to clients.
    reg_.abort_pass();
    int grc = reg_.env().grow();
    if (auto* p = reg_.page()) p->map_resizes_total.fetch_add(1, std::memory_order_relaxed);
    log_info("LMDB map full; grown", {{"map_size", std::to_string(reg_.env().map_size())}, {"error", grc ? lmdb_error(grc) : ""}});
    if (grc) break;
    for (Conn* c : touched_) c->staged.clear();
    for (const Entry& e : batch_)
      if (!e.done) run_entry(e);  // signatures are still in the pass cache
    timer_work();
    rc = reg_.commit_pass();
  }
  if (rc) {
    fail_pass(rc);
  } else {
    if (flush_due_) reg_.liveness_committed();
    flush_due_ = reap_due_ = false;
  }
  for (Conn* c : touched_) {
    c->touched = false;
    c->pass_writes = false;
    if (!c->closed) release(c);
  }
  touched_.clear();
  batch_.clear();
  reg_.forget_verified();
  for (Conn* c : dead_) {
    size_t i = c->index;
    if (i + 1 != conns_.size()) {
      std::swap(conns_[i], conns_.back());
      conns_[i]->index = i;
    }
    conns_.pop_back();  // frees c
  }
  dead_.clear();
}

void Server::fail_pass(int rc) {
  // The commit failed (disk full, I/O error…): nothing of this pass is durable, so every
  // request of the pass is answered with an error and nothing is acknowledged.
  reg_.abort_pass();
  std::string text = "registry cannot store the request: " + lmdb_error(rc);
  log_error("commit failed; pass answered with errors",
            {{"error", lmdb_error(rc)}, {"requests", std::to_string(batch_.size())}});
  for (Conn* c : touched_) c->staged.clear();
  JsonPtr err(json_pack("{s:s,s:s%}", "type", "error", "error", text.data(), text.size()));
  std::string body = json_dump_compact(err.get());
  for (const Entry& e : batch_) {
    if (e.done) continue;  // answered from the snapshot, already sent
    std::string frame;
    if (e.kind == EntryKind::Native) wire::append_binary_error(frame, text);
    else if (e.kind == EntryKind::Passthrough) wire::append_binary_frame(frame, wire::kPassthrough, body);
    else wire::append_json_frame(frame, body);
    e.conn->staged.append(frame);
  }
}

// ---- writing and closing ----

// Moves the staged replies of this pass behind the connection's pending output and writes.
void Server::release(Conn* c) {
  if (c->out.empty()) c->out.swap(c->staged);
  else c->out.append(c->staged);
  c->staged.clear();
  flush(c);
}

void Server::on_writable(evutil_socket_t, short what, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (what & EV_TIMEOUT) return c->srv->close_conn(c, "write timeout");
  c->srv->flush(c);
}

void Server::flush(Conn* c) {
  while (c->pending_out() > 0) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->pending_out(), MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Re-armed for each partial write: the 5 s deadline is per chunk of progress.
      event_add(c->wev.get(), write_timeout_);
      update_read_interest(c);
      return;
    }
    return close_conn(c, "write error");
  }
  if (c->out.capacity() > 4096) std::string().swap(c->out);
  else c->out.clear();
  c->out_off = 0;
  event_del(c->wev.get());
  if (c->close_after_flush || shutting_down_) return close_conn(c, "done");
  update_read_interest(c);
}

void Server::close_conn(Conn* c, const char* why) {
  if (c->closed) return;
  log_debug("connection closed", {{"reason", why}, {"peer", c->peer.ip}});
  c->closed = true;
  c->reading = false;
  event_del(c->rev.get());
  event_del(c->wev.get());
  ::close(c->fd);
  c->fd = -1;
  if (!c->control) {
    tcp_connections_--;
    if (auto* p = reg_.page()) p->tcp_connections.store(tcp_connections_, std::memory_order_relaxed);
  }
  dead_.push_back(c);
}

void Server::begin_shutdown() {
  shutting_down_ = true;
  event_del(accept_ev_.get());
  if (control_accept_ev_) event_del(control_accept_ev_.get());
  for (auto& c : conns_) {
    if (c->closed) continue;
    update_read_interest(c.get());
    if (c->pending_out() == 0 && !c->touched) close_conn(c.get(), "shutdown");
  }
}

bool Server::outputs_drained() const {
  for (auto& c : conns_)
    if (!c->closed && c->pending_out() > 0) return false;
  return true;
}

}  // namespace rdv::registry
