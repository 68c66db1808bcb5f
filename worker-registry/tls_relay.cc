// The TLS replication relay (tls_relay.h).
#include "tls_relay.h"

#include <sys/socket.h>

#include <cerrno>

#include "log.h"

namespace rdv::registry {

namespace {
constexpr size_t kRelayBuffer = 4u << 20;  // per direction; the leader's frames are at most 4 MiB
constexpr size_t kChunk = 64 * 1024;
}  // namespace

TlsRelay::TlsRelay(event_base* base, UniqueFd tcp, std::unique_ptr<tls::Stream> tls, UniqueFd local, std::string peer)
    : tcp_(std::move(tcp)), local_(std::move(local)), tls_(std::move(tls)), peer_(std::move(peer)) {
  tcp_r_.reset(event_new(base, tcp_.get(), EV_READ | EV_PERSIST, &TlsRelay::on_event, this));
  tcp_w_.reset(event_new(base, tcp_.get(), EV_WRITE | EV_PERSIST, &TlsRelay::on_event, this));
  local_r_.reset(event_new(base, local_.get(), EV_READ | EV_PERSIST, &TlsRelay::on_event, this));
  local_w_.reset(event_new(base, local_.get(), EV_WRITE | EV_PERSIST, &TlsRelay::on_event, this));
  if (!tcp_r_ || !tcp_w_ || !local_r_ || !local_w_) {
    finish("event_new failed");
    return;
  }
  pump();  // bytes OpenSSL already holds (sent behind the subscription) go first
}

TlsRelay::~TlsRelay() {
  for (auto* ev : {&tcp_r_, &tcp_w_, &local_r_, &local_w_})
    if (*ev) event_del(ev->get());
}

void TlsRelay::on_event(evutil_socket_t, short, void* arg) { static_cast<TlsRelay*>(arg)->pump(); }

void TlsRelay::finish(const std::string& why) {
  if (done_) return;
  done_ = true;
  log_info("TLS replication relay closed", {{"peer", peer_}, {"reason", why}});
  for (auto* ev : {&tcp_r_, &tcp_w_, &local_r_, &local_w_})
    if (*ev) event_del(ev->get());
  if (tls_ && tls_->established()) SSL_shutdown(tls_->ssl());
  tls_.reset();
  tcp_.reset();
  local_.reset();
}

// Moves what can move, both ways, until each side would block; then waits for the events
// that can unblock it.
void TlsRelay::pump() {
  if (done_) return;
  char buf[kChunk];
  for (bool progress = true; progress && !done_;) {
    progress = false;
    tls_wants_write_ = false;
    // Peer (TLS) → replicator.
    while (to_local_.size() - to_local_off_ < kRelayBuffer) {
      size_t n = 0;
      tls::Stream::Io io = tls_->read(buf, sizeof buf, &n);
      if (io == tls::Stream::Io::Ok) {
        to_local_.append(buf, n);
        progress = true;
        continue;
      }
      if (io == tls::Stream::Io::WantWrite) tls_wants_write_ = true;
      if (io == tls::Stream::Io::Closed) return finish("the standby closed the connection");
      if (io == tls::Stream::Io::Error) return finish("TLS: " + tls_->error());
      break;
    }
    local_blocked_ = false;
    while (to_local_off_ < to_local_.size()) {
      ssize_t n = ::send(local_.get(), to_local_.data() + to_local_off_, to_local_.size() - to_local_off_, MSG_NOSIGNAL);
      if (n > 0) {
        to_local_off_ += size_t(n);
        progress = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        local_blocked_ = true;
        break;
      }
      return finish("the replicator closed its end");
    }
    if (to_local_off_ == to_local_.size()) {
      to_local_.clear();
      to_local_off_ = 0;
    }
    // Replicator → peer (TLS).
    while (!local_eof_ && to_peer_.size() - to_peer_off_ < kRelayBuffer) {
      ssize_t n = ::recv(local_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        to_peer_.append(buf, size_t(n));
        progress = true;
        continue;
      }
      if (n == 0) {
        // The replicator ended the stream: what it wrote last still goes out.
        local_eof_ = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return finish("the replicator closed its end");
    }
    while (to_peer_off_ < to_peer_.size()) {
      size_t n = 0;
      tls::Stream::Io io = tls_->write(to_peer_.data() + to_peer_off_, to_peer_.size() - to_peer_off_, &n);
      if (io == tls::Stream::Io::Ok) {
        to_peer_off_ += n;
        progress = true;
        continue;
      }
      if (io == tls::Stream::Io::WantWrite) tls_wants_write_ = true;
      if (io == tls::Stream::Io::Closed || io == tls::Stream::Io::Error) return finish("TLS: " + tls_->error());
      break;
    }
    if (to_peer_off_ == to_peer_.size()) {
      to_peer_.clear();
      to_peer_off_ = 0;
      if (local_eof_) return finish("the replicator ended the stream");
    }
  }
  arm();
}

void TlsRelay::arm() {
  auto set = [](event* ev, bool on) {
    if (on) event_add(ev, nullptr);
    else event_del(ev);
  };
  set(tcp_r_.get(), to_local_.size() - to_local_off_ < kRelayBuffer);
  set(tcp_w_.get(), tls_wants_write_);
  set(local_r_.get(), !local_eof_ && to_peer_.size() - to_peer_off_ < kRelayBuffer);
  set(local_w_.get(), local_blocked_);
}

}  // namespace rdv::registry
