// TLS handshakes off the event loop. A TLS 1.3 server handshake costs about a millisecond of
// CPU here (an ECDHE key pair, the shared secret, an ECDSA signature); on the loop a herd of
// them would hold every other connection's replies for as long. So each handshake step runs on
// one of these threads (work_pool.h), and the loop hears back through an eventfd, as with the
// verify pool.
//
// A step is one non-blocking SSL_do_handshake: it returns at once, wanting more bytes, wanting
// to write, done, or failed. While a step is out, the loop does not touch that connection's
// socket or TLS session (its events are off; Conn::tls_busy), so OpenSSL sees one thread at a
// time. Threading: submit/take_finished on the loop thread only.
#pragma once

#include "tls.h"
#include "work_pool.h"

namespace rdv::registry {

struct HandshakeJob {
  tls::Stream* stream = nullptr;
  void* owner = nullptr;  // the connection, for the loop
  tls::Stream::Io result = tls::Stream::Io::Error;
};

// One step per take: a step is about a millisecond, so a thread never holds queued steps back
// behind its own.
class HandshakePool : public WorkPool<HandshakeJob> {
 public:
  using Job = HandshakeJob;
  explicit HandshakePool(unsigned threads)
      : WorkPool(threads, 1, [](Job& job) { job.result = job.stream->handshake(); }) {}
};

}  // namespace rdv::registry
