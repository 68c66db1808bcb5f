// TLS handshakes off the event loop. A TLS 1.3 server handshake costs about a millisecond of
// CPU here (an ECDHE key pair, the shared secret, an ECDSA signature); on the loop a herd of
// them would hold every other connection's replies for as long. So each handshake step runs on
// one of these threads, and the loop hears back through an eventfd, as with the verify pool.
//
// A step is one non-blocking SSL_do_handshake: it returns at once, wanting more bytes, wanting
// to write, done, or failed. While a step is out, the loop does not touch that connection's
// socket or TLS session (its events are off; Conn::tls_busy), so OpenSSL sees one thread at a
// time. Threading: submit/take_finished on the loop thread only.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "tls.h"
#include "util.h"

namespace rdv::registry {

class HandshakePool {
 public:
  struct Job {
    tls::Stream* stream = nullptr;
    void* owner = nullptr;  // the connection, for the loop
    tls::Stream::Io result = tls::Stream::Io::Error;
  };

  explicit HandshakePool(unsigned threads);
  ~HandshakePool() { stop(); }
  HandshakePool(const HandshakePool&) = delete;
  HandshakePool& operator=(const HandshakePool&) = delete;

  int notify_fd() const { return notify_.get(); }
  // The job (and its stream) must stay untouched until take_finished returns it.
  void submit(Job* job);
  std::vector<Job*> take_finished();
  // Joins the threads; queued jobs are dropped (the server is going away).
  void stop();

 private:
  void worker_loop();
  std::vector<std::thread> threads_;
  UniqueFd notify_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::vector<Job*> finished_;
  bool stop_ = false;
};

}  // namespace rdv::registry
