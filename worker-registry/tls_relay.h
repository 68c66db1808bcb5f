// A replication connection that arrived over TLS (-tls leader, -standby-tls standby). The
// plain hand-over passes the socket itself to the replicator (replication.cc), but a TLS
// session lives in this process: so the replicator gets one end of a Unix socketpair instead,
// and the relay moves bytes between the TLS connection and the other end. The replicator
// cannot tell the difference.
//
// Cost on the registry's loop: the replication stream's bytes once each way, a few MB/s at
// most at the leader's full write rate; each buffer is bounded (kRelayBuffer) and the side
// that fills it is not read until it drains. Either side closing, or an error, ends both.
#pragma once

#include <event2/event.h>

#include <memory>
#include <string>

#include "event.h"
#include "tls.h"
#include "util.h"

namespace rdv::registry {

class TlsRelay {
 public:
  TlsRelay(event_base* base, UniqueFd tcp, std::unique_ptr<tls::Stream> tls, UniqueFd local, std::string peer);
  ~TlsRelay();
  TlsRelay(const TlsRelay&) = delete;
  TlsRelay& operator=(const TlsRelay&) = delete;

  bool done() const { return done_; }

 private:
  static void on_event(evutil_socket_t, short, void* arg);
  void pump();
  void finish(const std::string& why);
  void arm();

  UniqueFd tcp_, local_;
  std::unique_ptr<tls::Stream> tls_;
  std::string peer_;
  std::string to_local_, to_peer_;  // bytes read from one side, not yet written to the other
  size_t to_local_off_ = 0, to_peer_off_ = 0;
  bool tls_wants_write_ = false;    // a TLS read or write waits for the socket to be writable
  bool local_blocked_ = false;      // the last write to `local_` found its buffer full
  bool local_eof_ = false;          // the replicator ended the stream; to_peer_ drains, then done
  bool done_ = false;
  EventPtr tcp_r_, tcp_w_, local_r_, local_w_;
};

}  // namespace rdv::registry
