#include "tests/bench/loadgen.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cerrno>
#include <cstring>
#include <thread>

#include "shared/util.h"
#include "shared/wire.h"

namespace rdv::bench {

volatile std::sig_atomic_t g_interrupted = 0;

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::Lookup: return "lookup";
    case OpKind::ResolveHostname: return "resolve_hostname";
    case OpKind::Heartbeat: return "heartbeat";
    case OpKind::Register: return "register";
    case OpKind::SetVisibility: return "set_visibility";
    case OpKind::RequestHandshake: return "request_handshake";
    case OpKind::PollHandshakes: return "poll_handshakes";
    case OpKind::RespondHandshake: return "respond_handshake";
    case OpKind::JoinNetwork: return "join_network";
    case OpKind::LeaveNetwork: return "leave_network";
    case OpKind::Other: break;
  }
  return "other";
}

// ---------------------------------------------------------------------------------------------
// Reply checks

namespace {

size_t skip_spaces(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

// Position just after the ':' of the first occurrence of "key" used as a key, or npos.
// A quoted "key" followed by ':' can only be a key in valid JSON: inside a string value the
// quotes would be escaped (\"key\"), so the closing quote would be preceded by a backslash and
// the text would not match.
size_t find_key_value(std::string_view body, std::string_view key) {
  size_t from = 0;
  while (true) {
    size_t p = body.find(key, from);
    if (p == std::string_view::npos) return p;
    from = p + 1;
    if (p == 0 || body[p - 1] != '"') continue;
    size_t end = p + key.size();
    if (end >= body.size() || body[end] != '"') continue;
    size_t c = skip_spaces(body, end + 1);
    if (c < body.size() && body[c] == ':') return skip_spaces(body, c + 1);
  }
}

}  // namespace

bool json_has_key(std::string_view body, std::string_view key) {
  return find_key_value(body, key) != std::string_view::npos;
}

bool json_string_field(std::string_view body, std::string_view key, std::string_view* value) {
  size_t v = find_key_value(body, key);
  if (v == std::string_view::npos || v >= body.size() || body[v] != '"') return false;
  size_t end = v + 1;
  while (end < body.size() && body[end] != '"') {
    if (body[end] == '\\') end++;  // the reply types we compare never contain escapes
    end++;
  }
  if (end >= body.size()) return false;
  *value = body.substr(v + 1, end - v - 1);
  return true;
}

bool json_uint_field(std::string_view body, std::string_view key, uint64_t* value) {
  size_t v = find_key_value(body, key);
  if (v == std::string_view::npos || v >= body.size() || body[v] < '0' || body[v] > '9')
    return false;
  uint64_t n = 0;
  for (; v < body.size() && body[v] >= '0' && body[v] <= '9'; v++) {
    if (n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + uint64_t(body[v] - '0');
  }
  *value = n;
  return true;
}

ReplyClass classify_reply(std::string_view body, std::string_view expect_type) {
  std::string_view type;
  bool has_type = json_string_field(body, "type", &type);
  if (json_has_key(body, "error") || (has_type && type == "error")) return ReplyClass::ErrorReply;
  if (!has_type || type != expect_type) return ReplyClass::WrongType;
  return ReplyClass::Ok;
}

// ---------------------------------------------------------------------------------------------
// Blocking helpers

int connect_loopback(const std::string& host, uint16_t port, std::string* error) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    *error = "not an IPv4 address: " + host;
    return -1;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = sys_error("socket()");
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    *error = sys_error("connect() to " + host + ":" + std::to_string(port));
    ::close(fd);
    return -1;
  }
  return fd;
}

namespace {

// Waits for `events` on fd until `deadline_ns`; false on timeout or error.
bool wait_fd(int fd, short events, int64_t deadline_ns) {
  while (true) {
    int64_t left_ms = (deadline_ns - mono_now_ns()) / 1000000;
    if (left_ms <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, int(std::min<int64_t>(left_ms, 1000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (g_interrupted) return false;
  }
}

}  // namespace

bool blocking_rpc(int fd, std::string_view json_body, std::string* reply, int timeout_ms,
                  std::string* error) {
  int64_t deadline = mono_now_ns() + int64_t(timeout_ms) * 1000000;
  std::string frame;
  wire::append_json_frame(frame, json_body);
  size_t off = 0;
  while (off < frame.size()) {
    ssize_t n = ::send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += size_t(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd, POLLOUT, deadline)) {
        *error = "send timed out";
        return false;
      }
    } else {
      *error = sys_error("send()");
      return false;
    }
  }
  std::string in;
  char buf[65536];
  while (true) {
    if (in.size() >= 4) {
      uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(in.data()));
      if (len > wire::kMaxMessageSize) {
        *error = "reply frame too large";
        return false;
      }
      if (in.size() >= 4 + size_t(len)) {
        reply->assign(in, 4, len);
        return true;
      }
    }
    if (!wait_fd(fd, POLLIN, deadline)) {
      *error = "no reply within " + std::to_string(timeout_ms) + " ms";
      return false;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      in.append(buf, size_t(n));
    } else if (n == 0) {
      *error = "connection closed by server";
      return false;
    } else if (errno != EAGAIN && errno != EINTR) {
      *error = sys_error("recv()");
      return false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The event-driven engine

namespace {

constexpr int kMaxReconnects = 5;  // per connection per run
constexpr size_t kMaxErrorSamples = 4;

struct Worker;

struct Conn {
  Worker* w = nullptr;
  int fd = -1;
  event* rev = nullptr;
  event* wev = nullptr;
  evbuffer* in = nullptr;
  std::string out;
  size_t out_off = 0;
  Op op;
  int64_t sent_ns = 0;
  bool in_flight = false;
  bool write_armed = false;
  bool done = false;
  int reconnects = 0;
};

struct Worker {
  const RunSpec* spec = nullptr;
  int index = 0;
  event_base* base = nullptr;
  event* deadline_ev = nullptr;
  event* tick_ev = nullptr;
  std::unique_ptr<RequestSource> src;
  std::vector<std::unique_ptr<Conn>> conns;
  RunResult res;
  int64_t t0 = 0;
  int64_t window_start = 0;      // replies completing before this are warm-up, not counted
  int64_t deadline = INT64_MAX;  // timed mode: replies completing after this are not counted
  int64_t end_ns = 0;
  int active = 0;
  bool stopping = false;

  bool timed() const { return spec->duration_s > 0; }
};

void on_readable(evutil_socket_t fd, short, void* arg);
void on_writable(evutil_socket_t fd, short, void* arg);

void note_error(Worker* w, std::string text) {
  if (text.size() > 200) text = text.substr(0, 200) + "…";
  auto& s = w->res.error_samples;
  if (s.size() < kMaxErrorSamples && std::find(s.begin(), s.end(), text) == s.end())
    s.push_back(std::move(text));
}

void stop_worker(Worker* w) {
  if (w->stopping) return;
  w->stopping = true;
  w->end_ns = mono_now_ns();
  event_base_loopbreak(w->base);
}

void close_conn(Conn* c) {
  if (c->rev) event_free(c->rev);
  if (c->wev) event_free(c->wev);
  if (c->in) evbuffer_free(c->in);
  if (c->fd >= 0) ::close(c->fd);
  c->rev = c->wev = nullptr;
  c->in = nullptr;
  c->fd = -1;
  c->out.clear();
  c->out_off = 0;
  c->in_flight = false;
  c->write_armed = false;
}

bool open_conn(Conn* c, std::string* error) {
  Worker* w = c->w;
  int fd = connect_loopback(w->spec->host, w->spec->port, error);
  if (fd < 0) return false;
  if (!set_nonblocking(fd)) {
    *error = sys_error("fcntl(O_NONBLOCK)");
    ::close(fd);
    return false;
  }
  c->fd = fd;
  c->in = evbuffer_new();
  c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, c);
  c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
  if (!c->in || !c->rev || !c->wev || event_add(c->rev, nullptr) != 0) {
    *error = "libevent allocation failed";
    close_conn(c);
    return false;
  }
  return true;
}

void conn_finished(Conn* c) {
  if (c->done) return;
  c->done = true;
  Worker* w = c->w;
  if (--w->active == 0) stop_worker(w);
}

void conn_failed(Conn* c, const std::string& why);

// Writes what is pending; arms the write event if the socket is full.
void flush(Conn* c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!c->write_armed) {
        event_add(c->wev, nullptr);
        c->write_armed = true;
      }
      return;
    }
    conn_failed(c, sys_error("send()"));
    return;
  }
  c->out.clear();
  c->out_off = 0;
  if (c->write_armed) {
    event_del(c->wev);
    c->write_armed = false;
  }
}

void issue(Conn* c) {
  Worker* w = c->w;
  if (w->stopping || c->done) return;
  c->out.clear();
  c->out_off = 0;
  c->op = Op{};
  if (!w->src->next(&c->out, &c->op)) {
    if (w->timed()) {
      // A finite pool ran out: end this thread's window here so its rate stays honest.
      w->res.exhausted = true;
      stop_worker(w);
    } else {
      conn_finished(c);
    }
    return;
  }
  c->in_flight = true;
  c->sent_ns = mono_now_ns();
  flush(c);
}

void conn_failed(Conn* c, const std::string& why) {
  Worker* w = c->w;
  int64_t now = mono_now_ns();
  bool counted = c->in_flight && now >= w->window_start && now <= w->deadline;
  if (c->in_flight) {
    c->in_flight = false;
    w->src->on_failure(c->op);
  }
  if (counted) {
    w->res.conn_failures++;
    w->res.err_by_kind[int(c->op.kind)]++;
  }
  note_error(w, "connection: " + why);
  close_conn(c);
  if (w->stopping) return;
  std::string err;
  if (c->reconnects < kMaxReconnects && !g_interrupted) {
    c->reconnects++;
    if (open_conn(c, &err)) {
      issue(c);
      return;
    }
    note_error(w, "reconnect: " + err);
  }
  conn_finished(c);
}

void handle_frame(Conn* c, std::string_view body, int64_t now) {
  Worker* w = c->w;
  RunResult& r = w->res;
  if (!c->in_flight) {
    r.wrong_type++;
    note_error(w, "unsolicited frame: " + std::string(body));
    return;
  }
  c->in_flight = false;
  bool counted = now >= w->window_start && now <= w->deadline;
  ReplyClass cls = w->spec->accept_any ? ReplyClass::Ok : classify_reply(body, c->op.expect_type);
  if (cls == ReplyClass::Ok) {
    w->src->on_success(c->op, body);
    if (counted) {
      r.ok++;
      r.ok_by_kind[int(c->op.kind)]++;
      r.latency.record(now - c->sent_ns);
      r.latency_by_kind[int(c->op.kind)].record(now - c->sent_ns);
    }
    return;
  }
  w->src->on_failure(c->op);
  if (!counted) {
    // Not an error of the cell, but the only clue when every request fails during warm-up.
    if (now < w->window_start)
      note_error(w, "(warm-up) " + std::string(op_kind_name(c->op.kind)) + ": " + std::string(body));
    return;
  }
  r.err_by_kind[int(c->op.kind)]++;
  if (cls == ReplyClass::ErrorReply) {
    r.error_replies++;
  } else {
    r.wrong_type++;
  }
  note_error(w, std::string(op_kind_name(c->op.kind)) + ": " + std::string(body));
}

void on_readable(evutil_socket_t fd, short, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  Worker* w = c->w;
  int n = evbuffer_read(c->in, fd, 65536);
  if (n == 0) {
    conn_failed(c, "closed by server");
    return;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    conn_failed(c, sys_error("recv()"));
    return;
  }
  int64_t now = mono_now_ns();
  bool replied = false;
  while (true) {
    size_t have = evbuffer_get_length(c->in);
    if (have < 4) break;
    uint8_t hdr[4];
    evbuffer_copyout(c->in, hdr, 4);
    uint32_t len = wire::load_be32(hdr);
    if (len > w->spec->max_frame) {
      conn_failed(c, "reply frame of " + std::to_string(len) + " bytes");
      return;
    }
    if (have < 4 + size_t(len)) break;
    const unsigned char* p = evbuffer_pullup(c->in, ssize_t(4 + len));
    handle_frame(c, std::string_view(reinterpret_cast<const char*>(p) + 4, len), now);
    evbuffer_drain(c->in, 4 + len);
    replied = true;
  }
  if (replied && !c->in_flight) issue(c);
}

void on_writable(evutil_socket_t, short, void* arg) { flush(static_cast<Conn*>(arg)); }

void on_deadline(evutil_socket_t, short, void* arg) { stop_worker(static_cast<Worker*>(arg)); }

void on_tick(evutil_socket_t, short, void* arg) {
  Worker* w = static_cast<Worker*>(arg);
  if (g_interrupted) {
    w->res.interrupted = true;
    stop_worker(w);
  } else if (!w->timed() && mono_now_ns() - w->t0 > int64_t(w->spec->timeout_s * 1e9)) {
    w->res.timed_out = true;
    stop_worker(w);
  }
}

timeval to_timeval(int64_t ns) {
  timeval tv;
  tv.tv_sec = time_t(ns / 1000000000);
  tv.tv_usec = suseconds_t((ns % 1000000000) / 1000);
  return tv;
}

void run_worker(Worker* w, int nconns, std::barrier<>* ready) {
  w->base = event_base_new();
  bool ok = w->base != nullptr;
  if (!ok) w->res.setup_error = "event_base_new failed";
  for (int i = 0; ok && i < nconns; i++) {
    auto c = std::make_unique<Conn>();
    c->w = w;
    std::string err;
    if (!open_conn(c.get(), &err)) {
      w->res.setup_error = err;
      ok = false;
    }
    w->conns.push_back(std::move(c));
  }
  ready->arrive_and_wait();  // all threads connected: start together
  if (ok && nconns > 0) {
    w->t0 = mono_now_ns();
    w->active = nconns;
    w->window_start = w->t0;
    if (w->timed()) {
      int64_t warm = int64_t(w->spec->warmup_s * 1e9);
      int64_t d = int64_t(w->spec->duration_s * 1e9);
      w->window_start = w->t0 + warm;
      w->deadline = w->window_start + d;
      w->deadline_ev = evtimer_new(w->base, on_deadline, w);
      timeval tv = to_timeval(warm + d);
      evtimer_add(w->deadline_ev, &tv);
    }
    w->tick_ev = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    timeval tick = to_timeval(100 * 1000000);
    evtimer_add(w->tick_ev, &tick);
    for (auto& c : w->conns) issue(c.get());
    if (!w->stopping) event_base_dispatch(w->base);
    if (w->end_ns == 0) w->end_ns = mono_now_ns();
    if (w->timed() && !w->res.exhausted && !w->res.interrupted)
      w->end_ns = std::min(w->end_ns, w->deadline);
    w->res.elapsed_s = std::max(0.0, double(w->end_ns - w->window_start) / 1e9);
    w->res.rate = w->res.elapsed_s > 0 ? double(w->res.ok) / w->res.elapsed_s : 0;
    for (int k = 0; k < kOpKinds; k++)
      w->res.rate_by_kind[k] =
          w->res.elapsed_s > 0 ? double(w->res.ok_by_kind[k]) / w->res.elapsed_s : 0;
  }
  for (auto& c : w->conns) close_conn(c.get());
  w->conns.clear();
  if (w->deadline_ev) event_free(w->deadline_ev);
  if (w->tick_ev) event_free(w->tick_ev);
  w->src.reset();  // sources may own thread-local state; destroy on this thread
  if (w->base) event_base_free(w->base);
  w->base = nullptr;
}

}  // namespace

RunResult run_closed_loop(const RunSpec& spec, const SourceFactory& factory) {
  int threads = std::max(1, std::min(spec.threads, spec.connections));
  std::vector<Worker> workers(static_cast<size_t>(threads));
  std::barrier<> ready(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    Worker& w = workers[size_t(t)];
    w.spec = &spec;
    w.index = t;
    w.src = factory(t, threads);
    int n = spec.connections / threads + (t < spec.connections % threads ? 1 : 0);
    pool.emplace_back(run_worker, &w, n, &ready);
  }
  for (auto& th : pool) th.join();

  RunResult total;
  double elapsed_sum = 0;
  for (auto& w : workers) {
    RunResult& r = w.res;
    if (!r.setup_error.empty() && total.setup_error.empty()) total.setup_error = r.setup_error;
    total.ok += r.ok;
    total.error_replies += r.error_replies;
    total.wrong_type += r.wrong_type;
    total.conn_failures += r.conn_failures;
    for (int k = 0; k < kOpKinds; k++) {
      total.ok_by_kind[k] += r.ok_by_kind[k];
      total.err_by_kind[k] += r.err_by_kind[k];
    }
    total.latency.merge(r.latency);
    for (int k = 0; k < kOpKinds; k++) total.latency_by_kind[k].merge(r.latency_by_kind[k]);
    total.rate += r.rate;
    for (int k = 0; k < kOpKinds; k++) total.rate_by_kind[k] += r.rate_by_kind[k];
    elapsed_sum += r.elapsed_s;
    total.exhausted |= r.exhausted;
    total.timed_out |= r.timed_out;
    total.interrupted |= r.interrupted;
    for (auto& s : r.error_samples)
      if (total.error_samples.size() < kMaxErrorSamples &&
          std::find(total.error_samples.begin(), total.error_samples.end(), s) ==
              total.error_samples.end())
        total.error_samples.push_back(s);
  }
  total.elapsed_s = elapsed_sum / threads;
  return total;
}

}  // namespace rdv::bench
