// Outbound HTTP calls of the registry — the identity webhook (wire-protocol §6.1.1 step 2) and
// the identity provider's JWKS (§6.1.8) — as asynchronous steps on the event loop: libcurl's
// multi interface driven by the loop's libevent base (curl_multi_socket_action, with curl's
// sockets and timer as libevent events). Neither the loop nor the writer ever waits for a
// remote server; a request that needs a call waits in its own connection's queue
// (Entry::State::Fetching), the way a request waits for the verify pool.
//
// Bounds: at most max_concurrent transfers at once (the others queue, at most max_queued),
// a response body of at most max_body bytes, each call's own total timeout, no redirects,
// only http and https, no proxy from the environment, no connection reuse.
//
// The SSRF guard (shared/outbound.h): before a call starts, its URL must pass
// outbound_url_error; every socket libcurl opens is checked against the address DNS returned
// (outbound_address_error), so a name that resolves to an inner address is refused before a
// packet is sent. `allowed` is -allow-private-endpoints.
//
// Threading: the loop thread only. Results are delivered to `done` on the loop thread, from a
// libevent callback, exactly once, and never inside start(): a caller can start a call in the
// middle of walking its own queues.
#pragma once

#include <curl/curl.h>
#include <event2/event.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cidr.h"
#include "event.h"
#include "outbound_call.h"

namespace rdv::registry {

class Fetcher {
 public:
  struct Limits {
    size_t max_concurrent = 64;
    size_t max_queued = 1024;
    size_t max_body = 64 * 1024;
  };
  using Done = std::function<void(const HttpResult&)>;

  explicit Fetcher(event_base* base) : Fetcher(base, Limits{}) {}
  Fetcher(event_base* base, Limits limits);
  // Frees every transfer, queued call and event. Calls not done are dropped without calling
  // their `done` (the loop is over; nobody waits for them).
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Starts `call` (or queues it behind max_concurrent others). A GET of a URL already being
  // fetched (or queued) shares that transfer: one fetch answers every caller.
  void start(const OutboundCall& call, const CidrList& allowed, Done done);
  // Calls started or queued whose `done` has not run yet.
  size_t in_flight() const { return callers_; }
  // Fails every call not done with `why`, and every later one (the worker is stopping).
  void shutdown(const std::string& why);

 private:
  struct Transfer;
  struct CurlMultiFree {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
  };

  static int on_curl_socket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int on_curl_timer(CURLM* multi, long timeout_ms, void* userp);
  static void on_socket_event(evutil_socket_t fd, short what, void* arg);
  static void on_timer_event(evutil_socket_t fd, short what, void* arg);
  static void on_deferred_event(evutil_socket_t fd, short what, void* arg);
  static curl_socket_t open_checked_socket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static size_t append_body(char* data, size_t size, size_t n, void* userp);

  void launch(std::unique_ptr<Transfer> t);
  void collect_done();
  void fail_later(std::vector<Done> waiters, HttpResult result);
  void launch_queued();

  event_base* base_;
  Limits limits_;
  std::unique_ptr<CURLM, CurlMultiFree> multi_;
  EventPtr timer_, deferred_;
  std::map<curl_socket_t, EventPtr> sockets_;       // libcurl's sockets, as libevent events
  std::vector<std::unique_ptr<Transfer>> running_;  // added to the multi handle
  std::deque<std::unique_ptr<Transfer>> queued_;    // waiting for a free slot
  std::vector<std::pair<Done, HttpResult>> later_;  // results delivered by deferred_
  size_t callers_ = 0;
  bool stopped_ = false;
  std::string stop_reason_;
};

}  // namespace rdv::registry
