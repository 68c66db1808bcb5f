#include "link.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "config.h"
#include "log.h"

namespace rdv::replicator {

namespace {
constexpr size_t kReadChunk = 256 * 1024;
}

Link::Link(event_base* base, UniqueFd fd, Handlers handlers, size_t max_output)
    : base_(base), fd_(std::move(fd)), h_(std::move(handlers)), max_output_(max_output) {
  int flags = fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
  int one = 1;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on Unix sockets
  rev_.reset(event_new(base_, fd_.get(), EV_READ | EV_PERSIST, on_read, this));
  wev_.reset(event_new(base_, fd_.get(), EV_WRITE, on_write, this));
  close_ev_.reset(event_new(base_, -1, 0, on_deferred_close, this));
  last_input_ns_ = mono_now_ns();
  if (!rev_ || !wev_ || !close_ev_ || event_add(rev_.get(), nullptr) != 0) fail("event_new/event_add failed");
}

Link::~Link() = default;

void Link::use_tls(std::unique_ptr<tls::Stream> stream, std::string pin) {
  tls_ = std::move(stream);
  pin_ = std::move(pin);
}

void Link::await_connect(std::function<void()> on_connected) {
  connecting_ = true;
  on_connected_ = std::move(on_connected);
  if (wev_) event_add(wev_.get(), nullptr);
}

void Link::consume(size_t n) {
  if (n >= in_.size()) in_.clear();
  else in_.erase(0, n);
}

void Link::send(std::string_view bytes) {
  if (closed_) return;
  if (pending_output() + bytes.size() > max_output_) {
    fail("peer not reading: " + std::to_string(pending_output()) + " bytes unsent");
    return;
  }
  out_.append(bytes);
  if (!connecting_) flush(false);
}

void Link::close(const std::string& why) { fail(why); }

void Link::close_after_flush(const std::string& why) {
  if (closed_) return;
  if (pending_output() == 0 && !connecting_) {
    fail(why);
    return;
  }
  close_when_drained_ = true;
  close_why_ = why;
  set_reading(false);
}

void Link::set_reading(bool on) {
  if (closed_ || on == reading_) return;
  reading_ = on;
  if (on) {
    event_add(rev_.get(), nullptr);
    if (tls_ && tls_->pending()) event_active(rev_.get(), EV_READ, 0);
  } else {
    event_del(rev_.get());
  }
}

void Link::fail(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (&why != &close_why_) close_why_ = why;
  if (rev_) event_del(rev_.get());
  if (wev_) event_del(wev_.get());
  if (tls_ && tls_->established()) SSL_shutdown(tls_->ssl());  // a close_notify, if it fits now
  ::shutdown(fd_.get(), SHUT_RDWR);
  if (close_ev_) event_active(close_ev_.get(), 0, 0);
}

void Link::on_deferred_close(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Link*>(arg);
  // Copies first: the handler usually destroys this Link.
  auto cb = self->h_.on_close;
  std::string why = self->close_why_;
  if (cb) cb(why);
}

void Link::flush(bool from_event) {
  while (out_off_ < out_.size()) {
    if (tls_) {
      size_t n = 0;
      switch (tls_->write(out_.data() + out_off_, out_.size() - out_off_, &n)) {
        case tls::Stream::Io::Ok:
          out_off_ += n;
          continue;
        case tls::Stream::Io::WantWrite:
        case tls::Stream::Io::WantRead:  // the read event (armed while reading) brings it back
          event_add(wev_.get(), nullptr);
          return;
        case tls::Stream::Io::Closed:
        case tls::Stream::Io::Error:
          fail("TLS: " + tls_->error());
          return;
      }
    }
    ssize_t n = ::send(fd_.get(), out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      event_add(wev_.get(), nullptr);
      return;
    }
    fail(sys_error("send"));
    return;
  }
  out_.clear();
  out_off_ = 0;
  if (close_when_drained_) {
    fail(close_why_);
    return;
  }
  if (from_event && h_.on_drained) h_.on_drained();  // never from inside the owner's send()
}

void Link::on_write(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Link*>(arg);
  if (self->closed_) return;
  if (self->connecting_) {
    if (!self->tcp_up_) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(self->fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        self->fail(sys_error("connect"));
        return;
      }
      self->tcp_up_ = true;
    }
    if (self->tls_ && !self->step_handshake()) return;
    self->finish_connect();
    return;
  }
  if (self->tls_read_wants_write_) {
    self->read_tls();
    if (self->closed_) return;
  }
  self->flush(true);
}

bool Link::step_handshake() {
  switch (tls_->handshake()) {
    case tls::Stream::Io::Ok:
      if (!pin_.empty() && !tls::check_pin(tls_->ssl(), pin_)) {
        fail("TLS: the leader's certificate (sha256 " + tls::peer_fingerprint(tls_->ssl()) +
             ") does not match -standby-tls-pin");
        return false;
      }
      return true;
    case tls::Stream::Io::WantRead:
      event_del(wev_.get());
      return false;
    case tls::Stream::Io::WantWrite:
      event_add(wev_.get(), nullptr);
      return false;
    case tls::Stream::Io::Closed:
    case tls::Stream::Io::Error:
      fail("TLS handshake: " + tls_->error());
      return false;
  }
  return false;
}

void Link::finish_connect() {
  connecting_ = false;
  if (on_connected_) {
    auto cb = std::move(on_connected_);
    cb();
    if (closed_) return;
  }
  flush(true);
}

// Everything OpenSSL can give now: decrypted bytes it holds are announced by no socket event.
void Link::read_tls() {
  tls_read_wants_write_ = false;
  bool got_any = false;
  std::string why;
  for (;;) {
    size_t old = in_.size(), n = 0;
    in_.resize(old + kReadChunk);
    tls::Stream::Io io = tls_->read(in_.data() + old, kReadChunk, &n);
    in_.resize(old + n);
    if (io == tls::Stream::Io::Ok) {
      got_any = true;
      continue;
    }
    if (io == tls::Stream::Io::WantWrite) {
      tls_read_wants_write_ = true;
      event_add(wev_.get(), nullptr);
    } else if (io == tls::Stream::Io::Closed) {
      why = "peer closed the connection";
    } else if (io == tls::Stream::Io::Error) {
      why = "TLS: " + tls_->error();
    }
    break;
  }
  if (got_any) {
    last_input_ns_ = mono_now_ns();
    if (h_.on_input) h_.on_input();
  }
  if (!why.empty() && !closed_) fail(why);
}

void Link::on_read(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Link*>(arg);
  if (self->closed_) return;
  if (self->tls_) {
    if (!self->connecting_) return self->read_tls();
    if (self->tcp_up_ && self->step_handshake()) self->finish_connect();
    return;
  }
  size_t old = self->in_.size();
  self->in_.resize(old + kReadChunk);
  ssize_t n = ::recv(self->fd_.get(), self->in_.data() + old, kReadChunk, 0);
  if (n > 0) {
    self->in_.resize(old + size_t(n));
    self->last_input_ns_ = mono_now_ns();
    if (self->h_.on_input) self->h_.on_input();
    return;
  }
  self->in_.resize(old);
  if (n == 0) {
    self->fail("peer closed the connection");
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    self->fail(sys_error("recv"));
  }
}

UniqueFd start_tcp_connect(const std::string& host_port, std::string* error) {
  std::string host;
  int port = 0;
  if (!split_host_port(host_port, &host, &port) || port == 0) {
    *error = "\"" + host_port + "\" is not host:port";
    return UniqueFd();
  }
  if (host.empty()) host = "127.0.0.1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    *error = "resolving " + host + ": " + gai_strerror(rc);
    return UniqueFd();
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(res, freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = sys_error("socket");
    return fd;
  }
  if (::connect(fd.get(), res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
    *error = "connect to " + host_port + ": " + sys_error("connect");
    return UniqueFd();
  }
  return fd;
}

std::unique_ptr<Link> dial_leader(event_base* base, const Config& cfg, const std::string& host_port,
                                  Link::Handlers handlers, std::string* error) {
  UniqueFd fd = start_tcp_connect(host_port, error);
  if (!fd) return nullptr;
  std::unique_ptr<tls::Stream> stream;
  if (cfg.standby_tls) {
    std::string host;
    int port = 0;
    split_host_port(host_port, &host, &port);
    if (host.empty()) host = "127.0.0.1";
    const bool pinned = !cfg.standby_tls_pin.empty();
    tls::CtxPtr ctx;
    if (!tls::client_context(cfg.standby_tls_ca, pinned, &ctx, error)) return nullptr;
    // The stream holds its own reference to the context.
    stream = tls::Stream::connect(ctx.get(), fd.get(), host, !pinned, error);
    if (!stream) return nullptr;
  }
  auto link = std::make_unique<Link>(base, std::move(fd), std::move(handlers));
  if (stream) link->use_tls(std::move(stream), cfg.standby_tls_pin);
  return link;
}

}  // namespace rdv::replicator
