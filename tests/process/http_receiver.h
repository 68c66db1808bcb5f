// A small HTTP/1.1 server inside the test process, on a loopback port: the far end of the
// registry's outbound calls (identity webhook, JWKS, audit webhooks). Each connection is
// served by its own thread, so a reply held back (a slow receiver) holds up only its own
// caller. It records every request, so tests can count fetches and read what was sent.
//
// One request per connection (replies carry "Connection: close"). Not for production: no TLS,
// no chunked request bodies, requests up to 1 MiB.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util.h"

namespace rt {

struct ReceivedRequest {
  std::string method, path, headers, body;
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::string> headers;  // more header lines, e.g. "Location: …"
  // Sent only once release_held() is called or the receiver stops: a receiver slower than
  // any timeout, under the test's control.
  bool hold = false;
};

class HttpReceiver {
 public:
  using Handler = std::function<HttpReply(const ReceivedRequest&)>;

  // Listens on 127.0.0.1 at a free port and serves with `handler` (called on a connection's
  // thread; it may be called concurrently). ok() is false if the socket could not be set up.
  explicit HttpReceiver(Handler handler);
  // Stops accepting, sends held replies, joins every thread.
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  bool ok() const { return bool(listener_); }
  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(const std::string& path) const;

  // Requests received so far (those for `path` when given).
  size_t count(const std::string& path = "") const;
  std::vector<ReceivedRequest> received() const;
  // Polls until at least `n` requests were received. False on timeout.
  bool wait_for(size_t n, int timeout_ms) const;
  // Replies currently held back.
  size_t held() const;
  // Sends every held reply (and any later one marked hold, at once).
  void release_held();

 private:
  void accept_loop();
  void serve(int fd);

  Handler handler_;
  rdv::UniqueFd listener_, wake_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> received_;
  size_t held_ = 0;
  bool released_ = false, stopping_ = false;
  std::vector<std::thread> threads_;  // connection threads; guarded by mu_
  std::thread acceptor_;
};

}  // namespace rt
