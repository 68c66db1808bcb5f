#include "fetcher.h"

#include <sys/socket.h>

#include <algorithm>

#include "log.h"
#include "outbound.h"

namespace rdv::registry {

namespace {

struct EasyFree {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

struct Fetcher::Transfer {
  OutboundCall call;
  CidrList allowed;
  size_t max_body = 0;
  std::vector<Done> waiters;
  std::unique_ptr<CURL, EasyFree> easy;
  std::unique_ptr<curl_slist, SlistFree> headers;
  std::string body;
  std::string refused;  // the guard's reason, when it refused an address
  bool too_large = false;
  char errbuf[CURL_ERROR_SIZE] = {};

  // GETs of one URL are the same call; POSTs never are (each carries its own token).
  bool shares(const OutboundCall& c) const {
    return call.body.empty() && c.body.empty() && call.url == c.url && call.headers == c.headers;
  }
};

Fetcher::Fetcher(event_base* base, Limits limits) : base_(base), limits_(limits), multi_(curl_multi_init()) {
  timer_.reset(evtimer_new(base_, &Fetcher::on_timer_event, this));
  deferred_.reset(event_new(base_, -1, 0, &Fetcher::on_deferred_event, this));
  if (!multi_ || !timer_ || !deferred_) {
    log_error("outbound HTTP unavailable: curl_multi_init() or event_new() failed");
    multi_.reset();
    return;
  }
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &Fetcher::on_curl_socket);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &Fetcher::on_curl_timer);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
}

Fetcher::~Fetcher() {
  // Easy handles leave the multi handle first, and the multi handle goes while the socket
  // events its callbacks touch still exist.
  for (auto& t : running_) curl_multi_remove_handle(multi_.get(), t->easy.get());
  running_.clear();
  queued_.clear();
  multi_.reset();
  sockets_.clear();
}

// ---- libcurl's view of the loop ----

int Fetcher::on_curl_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
  auto* f = static_cast<Fetcher*>(userp);
  if (what == CURL_POLL_REMOVE) {
    f->sockets_.erase(s);  // before libcurl closes the descriptor
    return 0;
  }
  short kind = short(EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0));
  // A new event replaces the old one (libevent allows freeing an event from its own callback).
  EventPtr& ev = f->sockets_[s];
  ev.reset(event_new(f->base_, s, kind, &Fetcher::on_socket_event, f));
  if (!ev || event_add(ev.get(), nullptr) != 0) {
    log_error("event_add() failed for an outbound HTTP socket");
    return -1;
  }
  return 0;
}

int Fetcher::on_curl_timer(CURLM*, long timeout_ms, void* userp) {
  auto* f = static_cast<Fetcher*>(userp);
  if (timeout_ms < 0) {
    evtimer_del(f->timer_.get());
    return 0;
  }
  // libcurl must not be called back from inside this callback: a zero timeout fires on the
  // next loop turn instead.
  timeval tv{time_t(timeout_ms / 1000), suseconds_t((timeout_ms % 1000) * 1000)};
  return evtimer_add(f->timer_.get(), &tv) == 0 ? 0 : -1;
}

void Fetcher::on_socket_event(evutil_socket_t fd, short what, void* arg) {
  auto* f = static_cast<Fetcher*>(arg);
  int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  int running = 0;
  curl_multi_socket_action(f->multi_.get(), fd, flags, &running);
  f->collect_done();
}

void Fetcher::on_timer_event(evutil_socket_t, short, void* arg) {
  auto* f = static_cast<Fetcher*>(arg);
  int running = 0;
  curl_multi_socket_action(f->multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
  f->collect_done();
}

void Fetcher::on_deferred_event(evutil_socket_t, short, void* arg) {
  auto* f = static_cast<Fetcher*>(arg);
  std::vector<std::pair<Done, HttpResult>> ready;
  ready.swap(f->later_);
  for (auto& [done, result] : ready) {
    f->callers_--;
    done(result);
  }
}

// ---- the guard and the bounds, inside libcurl ----

curl_socket_t Fetcher::open_checked_socket(void* clientp, curlsocktype, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(clientp);
  IpAddr ip;
  if (!ip_from_sockaddr(&a->addr, &ip)) {
    t->refused = "address family " + std::to_string(a->family) + " not allowed";
    return CURL_SOCKET_BAD;
  }
  // A refused address never sees a packet; libcurl tries the next address, if any.
  if (std::string why = outbound_address_error(ip, t->allowed); !why.empty()) {
    t->refused = why;
    return CURL_SOCKET_BAD;
  }
  int fd = ::socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

size_t Fetcher::append_body(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * n;
  if (t->body.size() + len > t->max_body) {
    t->too_large = true;
    return 0;  // anything but len aborts the transfer
  }
  t->body.append(data, len);
  return len;
}

// ---- calls ----

void Fetcher::start(const OutboundCall& call, const CidrList& allowed, Done done) {
  callers_++;
  auto fail = [&](std::string why) {
    std::vector<Done> w;
    w.push_back(std::move(done));
    fail_later(std::move(w), HttpResult{call.url, std::move(why), 0, {}});
  };
  if (stopped_) return fail(stop_reason_);
  if (!multi_) return fail("outbound HTTP is unavailable");
  // Checked before anything is resolved: the scheme, the syntax, address literals.
  if (std::string why = outbound_url_error(call.url, allowed); !why.empty()) return fail(why);
  for (auto& t : running_)
    if (t->shares(call)) {
      t->waiters.push_back(std::move(done));
      return;
    }
  for (auto& t : queued_)
    if (t->shares(call)) {
      t->waiters.push_back(std::move(done));
      return;
    }
  auto t = std::make_unique<Transfer>();
  t->call = call;
  t->allowed = allowed;
  t->max_body = limits_.max_body;
  t->waiters.push_back(std::move(done));
  if (running_.size() < limits_.max_concurrent) return launch(std::move(t));
  if (queued_.size() >= limits_.max_queued) {
    std::vector<Done> w = std::move(t->waiters);
    fail_later(std::move(w), HttpResult{call.url, "too many outbound calls waiting", 0, {}});
    return;
  }
  queued_.push_back(std::move(t));
}

void Fetcher::launch(std::unique_ptr<Transfer> t) {
  CURL* e = curl_easy_init();
  if (!e) return fail_later(std::move(t->waiters), HttpResult{t->call.url, "curl_easy_init() failed", 0, {}});
  t->easy.reset(e);
  const OutboundCall& c = t->call;
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption opt, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, value);
  };
  set(CURLOPT_URL, c.url.c_str());
  set(CURLOPT_PRIVATE, static_cast<void*>(t.get()));
  set(CURLOPT_ERRORBUFFER, t->errbuf);
  set(CURLOPT_NOSIGNAL, 1L);
  // Only the two schemes, never a redirect (a 3xx is an answer like any other), and no proxy
  // from the environment: the guard must see the real endpoint's address.
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_PROXY, "");
  // Every call opens its own connection, so every connection passes the guard as it is now.
  set(CURLOPT_FORBID_REUSE, 1L);
  set(CURLOPT_FRESH_CONNECT, 1L);
  set(CURLOPT_TIMEOUT_MS, long(c.timeout_ms));
  set(CURLOPT_CONNECTTIMEOUT_MS, long(c.timeout_ms));
  set(CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits_.max_body));
  set(CURLOPT_WRITEFUNCTION, &Fetcher::append_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(t.get()));
  set(CURLOPT_OPENSOCKETFUNCTION, &Fetcher::open_checked_socket);
  set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(t.get()));
  set(CURLOPT_USERAGENT, "rendezvous");
  curl_slist* h = curl_slist_append(nullptr, "Accept: application/json");
  if (h && !c.body.empty()) {
    // No "Expect: 100-continue" round trip before the body.
    h = curl_slist_append(h, ("Content-Type: " + c.content_type).c_str());
    if (h) h = curl_slist_append(h, "Expect:");
  }
  for (const std::string& line : c.headers)
    if (h) h = curl_slist_append(h, line.c_str());
  t->headers.reset(h);
  set(CURLOPT_HTTPHEADER, t->headers.get());
  if (!c.body.empty()) {
    set(CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(c.body.size()));
    set(CURLOPT_COPYPOSTFIELDS, c.body.c_str());
  }
  if (rc != CURLE_OK || !h) {
    std::string why = std::string("cannot set up the call: ") + (rc != CURLE_OK ? curl_easy_strerror(rc) : "out of memory");
    return fail_later(std::move(t->waiters), HttpResult{c.url, why, 0, {}});
  }
  if (CURLMcode mc = curl_multi_add_handle(multi_.get(), e); mc != CURLM_OK) {
    return fail_later(std::move(t->waiters),
                      HttpResult{c.url, std::string("cannot start the call: ") + curl_multi_strerror(mc), 0, {}});
  }
  running_.push_back(std::move(t));
}

void Fetcher::collect_done() {
  CURLMsg* m;
  int left = 0;
  while ((m = curl_multi_info_read(multi_.get(), &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* e = m->easy_handle;
    CURLcode code = m->data.result;
    auto it = std::find_if(running_.begin(), running_.end(), [&](auto& t) { return t->easy.get() == e; });
    if (it == running_.end()) continue;
    std::unique_ptr<Transfer> t = std::move(*it);
    running_.erase(it);
    curl_multi_remove_handle(multi_.get(), e);
    HttpResult r;
    r.url = t->call.url;
    if (code == CURLE_OK) {
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
      r.body = std::move(t->body);
    } else if (!t->refused.empty()) {
      r.error = t->refused;
    } else if (t->too_large || code == CURLE_FILESIZE_EXCEEDED) {
      r.error = "response body over " + std::to_string(limits_.max_body) + " bytes";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      r.error = "timed out after " + std::to_string(t->call.timeout_ms) + " ms";
    } else {
      r.error = t->errbuf[0] ? std::string(t->errbuf) : std::string(curl_easy_strerror(code));
    }
    // Delivered through the deferred event like every other result: the order of callbacks
    // stays simple, and nothing runs inside libcurl's call stack.
    fail_later(std::move(t->waiters), std::move(r));
  }
  launch_queued();
}

void Fetcher::launch_queued() {
  while (!queued_.empty() && running_.size() < limits_.max_concurrent && !stopped_) {
    std::unique_ptr<Transfer> t = std::move(queued_.front());
    queued_.pop_front();
    launch(std::move(t));
  }
}

void Fetcher::fail_later(std::vector<Done> waiters, HttpResult result) {
  if (waiters.empty()) return;
  for (Done& d : waiters) later_.emplace_back(std::move(d), result);
  if (deferred_) event_active(deferred_.get(), EV_TIMEOUT, 0);
}

void Fetcher::shutdown(const std::string& why) {
  stopped_ = true;
  stop_reason_ = why;
  for (auto& t : running_) {
    curl_multi_remove_handle(multi_.get(), t->easy.get());
    fail_later(std::move(t->waiters), HttpResult{t->call.url, why, 0, {}});
  }
  running_.clear();
  for (auto& t : queued_) fail_later(std::move(t->waiters), HttpResult{t->call.url, why, 0, {}});
  queued_.clear();
}

}  // namespace rdv::registry
