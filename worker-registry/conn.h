// A registry connection, shared by server.cc (its I/O) and pipeline.cc (its requests).
// Private to the connection layer: nothing outside Server includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cidr.h"
#include "event.h"
#include "ratelimit.h"
#include "request_queue.h"
#include "server.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

namespace rdv::registry {

// Budgets of a pass and of a connection (server.h explains them).
inline constexpr size_t kReadChunk = 64 * 1024;     // per readable event, for fairness
inline constexpr size_t kPassRequests = 2048;       // requests decoded per pass, all connections
inline constexpr size_t kConnPassRequests = 32;     // …and per turn of one connection
inline constexpr size_t kMaxQueued = 1024;          // a connection's unanswered requests
inline constexpr size_t kBusSkipBytes = 64 * 1024;  // bus frames are skipped past this backlog

struct Server::Conn {
  Server* srv = nullptr;
  UniqueFd fd;
  size_t index = 0;
  uint64_t id = 0;
  bool control = false;
  Peer peer;
  IpAddr ip;       // the peer's address, for the per-IP limit and the whitelist
  ConnRate rate;   // this connection's rate-limit state (its grace starts at the accept)
  wire::Mode mode = wire::Mode::Undetected;
  std::string in;
  size_t in_off = 0;
  std::string out;  // released replies not yet written
  size_t out_off = 0;
  EventPtr rev, wev;  // declared after fd: destroyed (and so deleted) before it closes
  RequestQueue queue;
  size_t away = 0;  // entries at the verify pool or the writer: the Conn must outlive them
  size_t pass_requests = 0;
  bool marked = false, in_backlog = false, closed = false, close_after_flush = false, reading = false;
  bool bus = false;  // a local-bus subscriber
  uint8_t events = 0;  // events.cc: 0 none, 1 subscribe_events queued, 2 event stream, 3 cut off, 4 queued with frames after it
  bool had_request = false;  // a frame was decoded: a replication handshake must come first
  int64_t last_frame_ns = 0;
  // Before the protocol (transport.cc): a PROXY header from a trusted front end, then the TLS
  // handshake; then the framed protocol, over `tls` when the listener is TLS.
  Stage stage = Stage::Open;
  std::unique_ptr<tls::Stream> tls;
  bool tls_busy = false;              // a handshake step is at the HandshakePool: hands off
  HandshakePool::Job hs_job;          // …that step
  int64_t stage_deadline_ns = 0;      // the PROXY header or the handshake must be done by then
  bool tls_read_wants_write = false;  // a TLS read must be retried when the socket is writable
  bool tls_write_wants_read = false;  // …a TLS write when it is readable

  size_t pending_out() const { return out.size() - out_off; }
};

}  // namespace rdv::registry
