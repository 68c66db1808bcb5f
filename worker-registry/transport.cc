// The registry's connection layer under the protocol (server.h): what comes before the first
// frame, and the byte stream the frames travel on.
//
// Stages of a connection, in order (Conn::stage):
//  1. Proxy: from a source inside -proxy-protocol-from, a PROXY v1 or v2 header may come first
//     (shared/proxy_protocol.h). It is read exactly, never past its end (the bytes after it may
//     be a TLS ClientHello that OpenSSL must read from the socket itself), within
//     kProxyTimeout. The connection's peer becomes the client the header names, so the
//     per-IP limits, the observed address of a registration and the logs see the daemon, not
//     the front end. No header (the first bytes match neither signature) leaves the
//     connection as it is: a front end's health check or a local tool may connect directly.
//     From any other source a header is refused: such a connection is closed.
//  2. Handshake: with -tls, the TLS handshake, driven by the socket's readiness within
//     kHandshakeTimeout. Each step runs on the HandshakePool (handshake_pool.h), never on the
//     loop: a herd of new TLS connections costs the loop nothing but the hand-offs, and the
//     requests of established connections are served in between.
//  3. Open: frames, JSON or PILT (detected inside TLS as on plain TCP).
#include <sys/socket.h>

#include <cerrno>

#include "conn.h"
#include "log.h"
#include "proxy_protocol.h"

namespace rdv::registry {

namespace {
constexpr timeval kProxyTimeout{5, 0};
constexpr timeval kHandshakeTimeout{10, 0};
}  // namespace

bool Server::configure_transport(std::string* error) {
  const Config& cfg = reg_.config();
  if (!proxy_timeout_) {
    proxy_timeout_ = event_base_init_common_timeout(base_, &kProxyTimeout);
    handshake_timeout_ = event_base_init_common_timeout(base_, &kHandshakeTimeout);
    handshaken_ev_.reset(event_new(base_, handshake_pool_.notify_fd(), EV_READ | EV_PERSIST, &Server::on_handshaken, this));
    if (!handshaken_ev_ || event_add(handshaken_ev_.get(), nullptr) != 0) {
      *error = "event_new/event_add failed for the TLS handshake pool";
      return false;
    }
  }
  CidrList ranges;
  if (!parse_cidr_list(cfg.proxy_protocol_from, &ranges, error)) {
    *error = "proxy-protocol-from: " + *error;
    return false;
  }
  proxy_from_ = std::move(ranges);
  if (!cfg.tls) return true;
  auto id = std::make_unique<tls::ServerIdentity>();
  bool generated = cfg.tls_cert.empty();
  bool ok = generated ? tls::server_identity_from_pem(cfg.tls_generated, id.get(), error)
                      : tls::load_server_identity(cfg.tls_cert, cfg.tls_key, id.get(), error);
  if (!ok) {
    *error = "TLS setup: " + *error;
    return false;
  }
  if (!tls_ || tls_->fingerprint != id->fingerprint)
    log_info(tls_ ? "TLS certificate reloaded; new connections use it" : "TLS on the registry listener",
             {{"fingerprint_sha256", id->fingerprint}, {"subject", id->subject}, {"not_after", id->not_after},
              {"source", generated ? "self-signed, generated at start" : cfg.tls_cert}});
  // Connections already open keep the context they were accepted with (OpenSSL counts its
  // references), so a reload never drops one.
  tls_ = std::move(id);
  return true;
}

void Server::begin_stages(Conn* c) {
  if (c->control) return;
  if (!proxy_from_.empty() && cidr_list_contains(proxy_from_, c->ip)) {
    c->stage = Stage::Proxy;
    c->stage_deadline_ns = mono_now_ns() + kProxyTimeout.tv_sec * 1000000000LL;
  } else if (tls_) {
    begin_handshake(c);
  }
}

// The TLS stage: a session on the socket, and the handshake's deadline.
bool Server::begin_handshake(Conn* c) {
  c->stage = Stage::Handshake;
  c->stage_deadline_ns = mono_now_ns() + kHandshakeTimeout.tv_sec * 1000000000LL;
  std::string err;
  c->tls = tls::Stream::accept(tls_->ctx.get(), c->fd.get(), &err);
  if (c->tls) return true;
  log_error("cannot start a TLS session; closing the connection", {{"peer", c->peer.ip}, {"error", err}});
  close_conn(c, "TLS session failed");
  return false;
}

const timeval* Server::read_timeout(const Conn* c) const {
  switch (c->stage) {
    case Stage::Proxy:
      return proxy_timeout_;
    case Stage::Handshake:
      return handshake_timeout_;
    case Stage::Open:
      break;
  }
  // Daemon connections: the read-deadline sweep (conn_limits.h) times them out.
  return c->control ? idle_timeout_ : nullptr;
}

// The next stage, with its own deadline: the read event is re-added with it.
void Server::stage_done(Conn* c) {
  if (c->stage == Stage::Proxy && tls_) {
    if (!begin_handshake(c)) return;
  } else {
    c->stage = Stage::Open;
  }
  c->last_frame_ns = mono_now_ns();  // the read deadline starts with the protocol
  if (c->reading) event_add(c->rev.get(), read_timeout(c));
}

void Server::refuse_proxy(Conn* c, const std::string& why) {
  if (auto* p = reg_.page()) p->proxy_refused_total.fetch_add(1, std::memory_order_relaxed);
  log_debug("closing connection: PROXY header refused", {{"peer", c->peer.ip}, {"reason", why}});
  close_conn(c, "PROXY header refused");
}

bool Server::looks_like_proxy(const Conn* c) const {
  auto* data = reinterpret_cast<const uint8_t*>(c->in.data()) + c->in_off;
  proxy::Status s = proxy::parse(data, c->in.size() - c->in_off).status;
  return s != proxy::Status::NotProxy;
}

void Server::read_proxy_header(Conn* c) {
  // c->in holds the header bytes consumed so far. Peek at what follows, then consume only what
  // belongs to the header: everything peeked while it is incomplete (a prefix of a header is
  // all header), or exactly up to its end.
  uint8_t buf[proxy::kMaxV2Bytes];
  size_t have = c->in.size();
  std::memcpy(buf, c->in.data(), have);
  ssize_t n;
  do n = ::recv(c->fd.get(), buf + have, sizeof buf - have, MSG_PEEK);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n < 0) return close_conn(c, "read error");
  if (n == 0) return close_conn(c, have ? "closed inside its PROXY header" : "closed before a byte");
  proxy::Result r = proxy::parse(buf, have + size_t(n));
  size_t take = 0;
  switch (r.status) {
    case proxy::Status::NotProxy:
      c->in.clear();
      return stage_done(c);
    case proxy::Status::Invalid:
      return refuse_proxy(c, r.error);
    case proxy::Status::NeedMore:
      take = size_t(n);
      break;
    case proxy::Status::Header:
      take = r.consumed - have;
      break;
  }
  // Consumes what the peek saw (the kernel cannot have less now).
  std::string sink(take, '\0');
  ssize_t got;
  do got = ::recv(c->fd.get(), sink.data(), take, 0);
  while (got < 0 && errno == EINTR);
  if (got != ssize_t(take)) return close_conn(c, "read error");
  if (r.status == proxy::Status::NeedMore) {
    c->in.append(sink);
    return;
  }
  c->in.clear();
  if (auto* p = reg_.page()) p->proxy_headers_total.fetch_add(1, std::memory_order_relaxed);
  if (r.header.has_address) {
    std::string front = c->peer.ip;
    c->ip = r.header.src;
    c->peer.ip = ip_text(r.header.src);
    c->peer.port = r.header.src_port;
    c->peer.local_ip = ip_text(r.header.dst);
    log_debug("PROXY header", {{"version", std::to_string(r.header.version)}, {"front_end", front},
                               {"peer", c->peer.ip}, {"port", std::to_string(c->peer.port)}});
  }
  stage_done(c);
}

void Server::drive_handshake(Conn* c) {
  if (c->tls_busy) return;
  // The deadline holds across steps: a client that dribbles its handshake out a byte at a
  // time is closed at its first step past it.
  if (mono_now_ns() > c->stage_deadline_ns) {
    if (auto* p = reg_.page()) p->tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
    return close_conn(c, "TLS handshake timeout");
  }
  c->tls_busy = true;
  c->away++;  // the connection outlives the step, even if it closes meanwhile
  event_del(c->wev.get());
  update_read_interest(c);  // off while the step is out
  c->hs_job.stream = c->tls.get();
  c->hs_job.owner = c;
  handshake_pool_.submit(&c->hs_job);
  handshake_pool_.flush();
}

void Server::on_handshaken(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  for (HandshakePool::Job* job : s->handshake_pool_.take_finished()) s->handshake_step_done(static_cast<Conn*>(job->owner));
}

void Server::handshake_step_done(Conn* c) {
  c->tls_busy = false;
  c->away--;
  if (c->closed) {
    // Closed while the step was out (shutdown): what close_conn left for us.
    c->tls.reset();
    c->fd.reset();
    return;
  }
  switch (c->hs_job.result) {
    case tls::Stream::Io::Ok:
      if (auto* p = reg_.page()) p->tls_handshakes_total.fetch_add(1, std::memory_order_relaxed);
      log_debug("TLS established", {{"peer", c->peer.ip}, {"tls", c->tls->describe()}});
      stage_done(c);
      update_read_interest(c);  // the first request may have come with the last flight
      return;
    case tls::Stream::Io::WantRead:
      update_read_interest(c);
      return;
    case tls::Stream::Io::WantWrite:
      update_read_interest(c);
      event_add(c->wev.get(), handshake_timeout_);
      return;
    case tls::Stream::Io::Closed:
    case tls::Stream::Io::Error:
      if (auto* p = reg_.page()) p->tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
      log_debug("TLS handshake failed", {{"peer", c->peer.ip}, {"error", c->tls->error()}});
      return close_conn(c, "TLS handshake failed");
  }
}

Server::Io Server::read_some(Conn* c, char* buf, size_t cap, size_t* n) {
  *n = 0;
  if (!c->tls) {
    for (;;) {
      ssize_t got = ::read(c->fd.get(), buf, cap);
      if (got > 0) {
        *n = size_t(got);
        return Io::Data;
      }
      if (got == 0) return Io::Eof;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? Io::Again : Io::Error;
    }
  }
  // One record per readable event, as one read() on plain TCP: the kernel still holds the
  // rest and announces it. What OpenSSL itself holds re-arms the event (read_input).
  c->tls_read_wants_write = false;
  switch (c->tls->read(buf, cap, n)) {
    case tls::Stream::Io::Ok:
      return Io::Data;
    case tls::Stream::Io::WantRead:
      return Io::Again;
    case tls::Stream::Io::WantWrite:
      // A TLS 1.3 KeyUpdate answer waits for the socket: retried from on_writable.
      c->tls_read_wants_write = true;
      event_add(c->wev.get(), write_timeout_);
      return Io::Again;
    case tls::Stream::Io::Closed:
      return Io::Eof;
    case tls::Stream::Io::Error:
      log_debug("TLS read failed", {{"peer", c->peer.ip}, {"error", c->tls->error()}});
      return Io::Error;
  }
  return Io::Error;
}

Server::Io Server::write_some(Conn* c, const char* buf, size_t len, size_t* n) {
  *n = 0;
  if (!c->tls) {
    for (;;) {
      ssize_t put = ::send(c->fd.get(), buf, len, MSG_NOSIGNAL);
      if (put > 0) {
        *n = size_t(put);
        return Io::Data;
      }
      if (put < 0 && errno == EINTR) continue;
      return put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? Io::Again : Io::Error;
    }
  }
  c->tls_write_wants_read = false;
  switch (c->tls->write(buf, len, n)) {
    case tls::Stream::Io::Ok:
      return Io::Data;
    case tls::Stream::Io::WantWrite:
      return Io::Again;
    case tls::Stream::Io::WantRead:
      // Retried from on_readable, which the read event brings (it is armed while reading;
      // otherwise the write deadline closes the connection).
      c->tls_write_wants_read = true;
      if (!c->reading) event_add(c->rev.get(), write_timeout_);
      return Io::Again;
    case tls::Stream::Io::Closed:
    case tls::Stream::Io::Error:
      log_debug("TLS write failed", {{"peer", c->peer.ip}, {"error", c->tls->error()}});
      return Io::Error;
  }
  return Io::Error;
}

}  // namespace rdv::registry
