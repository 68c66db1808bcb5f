#include "tests/bench/replication.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "shared/crypto.h"
#include "shared/ipc.h"
#include "shared/json.h"
#include "shared/util.h"
#include "shared/wire.h"
#include "tests/bench/histogram.h"
#include "tests/bench/loadgen.h"
#include "tests/bench/references.h"
#include "tests/bench/server_process.h"
#include "tests/bench/text.h"
#include "tests/bench/workloads.h"

namespace rdv::bench {
namespace {

constexpr const char* kToken = "bench-replication-token";
constexpr double kWarmupS = 0.5;       // timed cells: uncounted warm-up
constexpr double kLagSkipS = 0.5;      // lag samples start this long after the paced writer
constexpr int kLagSampleMs = 100;
constexpr int kPacedStepMs = 10;       // the paced writer sends what is due every 10 ms
// ... spread over this many connections, at most kPacedMaxInFlight waiting on each: the
// registry takes a connection's requests one at a time (a write's reply before its next
// request), so one pipelined connection could not reach the rate, and an unbounded queue would
// outlive the window on a leader that cannot keep up (it is counted as skipped instead).
constexpr int kPacedConnections = 64;
constexpr int kPacedMaxInFlight = 8;
constexpr double kPacedDrainS = 3;     // replies awaited after the last send
constexpr size_t kPromoteRecords = 200;  // written on each promotion pair before the trial

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double ms_of(uint64_t ns) { return double(ns) / 1e6; }

// Median, p99 and max of a sample (sorted in place); NaN when empty.
struct Spread {
  double median = NAN, p99 = NAN, max = NAN;
  size_t n = 0;
};
Spread spread_of(std::vector<double> v) {
  Spread s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v[v.size() / 2];
  size_t rank = size_t(std::ceil(0.99 * double(v.size())));
  s.p99 = v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  s.max = v.back();
  return s;
}

// ---- signed registrations, made before any timed phase ----

std::string make_register_frame() {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  std::string pub = base64_encode(pk, sizeof pk);
  std::string challenge = challenge_register(kListenAddr, pub);
  uint8_t sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(challenge.data()),
                       challenge.size(), sk);
  sodium_memzero(sk, sizeof sk);
  std::string body = R"({"type":"register","public_key":")" + pub + R"(","listen_addr":")" +
                     kListenAddr + R"(","signature":")" + base64_encode(sig, sizeof sig) + "\"}";
  std::string frame;
  wire::append_json_frame(frame, body);
  return frame;
}

// Every frame is a brand-new key, registered at most once (a refused one may be sent again: it
// stored nothing). take() hands out ranges; ensure() makes more on every core.
class KeyPool {
 public:
  void ensure(size_t n) {
    if (frames_.size() - next_ >= n) return;
    size_t old = frames_.size(), want = next_ + n;
    frames_.resize(want);
    parallel_for(want - old, [&](size_t i) { frames_[old + i] = make_register_frame(); });
  }
  std::pair<size_t, size_t> take(size_t n) {
    ensure(n);
    size_t b = next_;
    next_ += n;
    return {b, next_};
  }
  const std::string& frame(size_t i) const { return frames_[i]; }

 private:
  std::vector<std::string> frames_;
  size_t next_ = 0;
};

// The node ids of register_ok replies (the lookup cells' node set).
struct Ids {
  std::mutex mu;
  std::vector<uint32_t> ids;
};

// Registers pool frames [begin, end): thread t of T takes its own slice.
SourceFactory register_factory(const KeyPool& pool, size_t begin, size_t end, Ids* ids) {
  return [&pool, begin, end, ids](int index, int count) -> std::unique_ptr<RequestSource> {
    size_t n = end - begin;
    auto at = std::make_shared<size_t>(begin + n * size_t(index) / size_t(count));
    size_t stop = begin + n * size_t(index + 1) / size_t(count);
    return std::make_unique<LambdaSource>(
        [&pool, at, stop](std::string* out, Op* op) {
          if (*at >= stop) return false;
          out->append(pool.frame((*at)++));
          *op = Op{OpKind::Register, "register_ok", 0};
          return true;
        },
        [ids](const Op&, std::string_view body) {
          uint64_t id = 0;
          if (ids && json_uint_field(body, "node_id", &id)) {
            std::lock_guard<std::mutex> g(ids->mu);
            ids->ids.push_back(uint32_t(id));
          }
        });
  };
}

// The lookup workload's request ({"type":"lookup","node_id":id}, a random node of `frames`).
SourceFactory lookup_factory(const std::vector<std::string>& frames) {
  return [&frames](int index, int) -> std::unique_ptr<RequestSource> {
    uint64_t seed = 0;
    randombytes_buf(&seed, sizeof seed);
    auto state = std::make_shared<uint64_t>(seed + uint64_t(index));
    return std::make_unique<LambdaSource>([&frames, state](std::string* out, Op* op) {
      uint64_t z = (*state += 0x9E3779B97F4A7C15ull);  // splitmix64
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      out->append(frames[size_t(z % frames.size())]);
      *op = Op{OpKind::Lookup, "lookup_ok", 0};
      return true;
    });
  };
}

std::string run_line(const RunResult& r) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s/s  p50 %.3f ms  p99 %.3f ms  errors %llu  (%.2f s)",
           thousands(r.rate).c_str(), ms_of(r.latency.quantile_ns(0.5)),
           ms_of(r.latency.quantile_ns(0.99)), static_cast<unsigned long long>(r.errors()),
           r.elapsed_s);
  std::string s = buf;
  if (r.exhausted) s += "  [key pool ran out: rate over the time it ran]";
  for (auto& e : r.error_samples) s += "\n      error sample: " + e;
  return s;
}

// ---- an instance and its local sockets ----

double jnum(const json_t* obj, const char* key, double dflt = NAN) {
  const json_t* v = obj ? json_object_get(obj, key) : nullptr;
  return json_is_number(v) ? json_number_value(v) : dflt;
}
std::string jstr(const json_t* obj, const char* key) {
  const json_t* v = obj ? json_object_get(obj, key) : nullptr;
  return json_is_string(v) ? json_string_value(v) : "";
}

struct Instance {
  std::string dir;
  ServerProcess server;

  // Starts the instance in <parent>/<name> (kept across restarts) with `args`; with `ready`, waits
  // until its registry answers.
  bool start(const std::string& bin_dir, const std::string& parent, const std::string& name,
             const std::vector<std::string>& args, bool ready, std::string* error) {
    dir = parent + "/" + name;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = sys_error("mkdir(" + dir + ")");
      return false;
    }
    server.extra_args = args;
    if (!server.start(bin_dir, dir, error)) return false;
    return !ready || server.wait_ready(30, error);
  }

  JsonPtr call(bool replicator, const char* type, int timeout_ms, std::string* error,
               const char* by = nullptr) const {
    JsonPtr req(by ? json_pack("{s:s,s:s}", "type", type, "by", by) : json_pack("{s:s}", "type", type));
    std::string path = replicator ? ipc::replicator_socket_path(server.run_dir())
                                  : ipc::registry_socket_path(server.run_dir());
    std::string ignored;
    return ipc::unix_call(path, req.get(), timeout_ms, error ? error : &ignored);
  }

  // The registry's last committed sequence (registry.sock status), or 0.
  uint64_t last_seq() const {
    JsonPtr st = call(false, "status", 3000, nullptr);
    double v = jnum(st.get(), "last_seq", 0);
    return v > 0 ? uint64_t(v) : 0;
  }
  std::string standby_args_target() const {
    return "127.0.0.1:" + std::to_string(server.registry_port());
  }
};

std::vector<std::string> leader_args(bool sync) {
  std::vector<std::string> a = {"-repl-token", kToken};
  if (sync) a.push_back("-repl-sync");
  return a;
}
std::vector<std::string> standby_args(const Instance& leader) {
  return {"-standby", leader.standby_args_target(), "-repl-token", kToken};
}

struct FollowerView {
  bool ok = false;
  std::string state, last_error;
  uint64_t applied = 0;
  int64_t full_copies = -1;
};
FollowerView follower_of(const Instance& s) {
  FollowerView v;
  JsonPtr st = s.call(true, "status", 2000, nullptr);
  const json_t* f = st ? json_object_get(st.get(), "follower") : nullptr;
  if (!json_is_object(f)) return v;
  v.ok = true;
  v.state = jstr(f, "state");
  v.last_error = jstr(f, "last_error");
  v.applied = uint64_t(std::max(0.0, jnum(f, "applied_seq", 0)));
  v.full_copies = int64_t(jnum(f, "full_copies", -1));
  return v;
}

struct StandbyView {
  bool ok = false;
  std::string state;
  double lag_records = NAN, lag_seconds = NAN;
  bool exact = true;
};
// The leader's view of its first standby (replicator.sock status, standbys[0]).
StandbyView standby_of(const Instance& leader) {
  StandbyView v;
  JsonPtr st = leader.call(true, "status", 2000, nullptr);
  const json_t* arr = st ? json_object_get(st.get(), "standbys") : nullptr;
  const json_t* s = json_array_size(arr) > 0 ? json_array_get(arr, 0) : nullptr;
  if (!json_is_object(s)) return v;
  v.ok = true;
  v.state = jstr(s, "state");
  v.lag_records = jnum(s, "lag_records");
  v.lag_seconds = jnum(s, "lag_seconds");
  const json_t* e = json_object_get(s, "lag_exact");
  v.exact = !json_is_false(e);
  return v;
}

// Start (t0) → the standby's replicator answers, → its follower is streaming, → applied_seq
// reaches `target`. Polled every 5 ms.
struct CatchUp {
  bool ok = false;
  double answer_s = NAN, streaming_s = NAN, done_s = NAN;
  int64_t full_copies = -1;
  std::string error;
};
CatchUp time_catch_up(const Instance& standby, int64_t t0, uint64_t target, double timeout_s) {
  CatchUp c;
  int64_t limit = t0 + int64_t(timeout_s * 1e9);
  FollowerView last;
  while (mono_now_ns() < limit && !g_interrupted) {
    FollowerView f = follower_of(standby);
    double at = double(mono_now_ns() - t0) / 1e9;
    if (f.ok) {
      last = f;
      if (std::isnan(c.answer_s)) c.answer_s = at;
      if (std::isnan(c.streaming_s) && f.state == "streaming") c.streaming_s = at;
      if (f.applied >= target) {
        c.ok = true;
        c.done_s = at;
        c.full_copies = f.full_copies;
        return c;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  c.error = "standby not caught up within " + fixed(timeout_s, 0) + " s (applied " +
            std::to_string(last.applied) + " of " + std::to_string(target) + ", state '" +
            last.state + "', last error '" + last.last_error + "'); log:\n" +
            standby.server.log_tail(1500);
  return c;
}

// Waits until the leader reports its standby streaming with nothing unacknowledged.
bool wait_streaming(const Instance& leader, double timeout_s) {
  int64_t limit = mono_now_ns() + int64_t(timeout_s * 1e9);
  while (mono_now_ns() < limit && !g_interrupted) {
    StandbyView v = standby_of(leader);
    if (v.ok && v.state == "streaming" && v.lag_records == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// ---- the rate-paced writer ----
//
// Open loop: every kPacedStepMs it sends the registrations due by then (rate × elapsed, so the
// steps average out to the rate), round-robin over kPacedConnections connections, without
// waiting for replies; a reader thread per connection takes the replies (in order per
// connection, so each pairs with the oldest send time). A slow reply never slows the offer;
// a leader that falls behind fills every connection's kPacedMaxInFlight, and what is due then
// is skipped and counted.
struct PacedResult {
  uint64_t offered = 0;       // writes due at the rate over the window
  uint64_t skipped = 0;       // due but not sent: every connection had kPacedMaxInFlight waiting
  uint64_t sent = 0, ok = 0, errors = 0;
  uint64_t ok_in_window = 0;  // accepted before the last send: the rate the leader kept up with
  double offered_s = 0;  // first send → last send
  Histogram latency;
  std::vector<std::string> error_samples;
  std::string setup_error;
};

class PacedWriter {
 public:
  PacedWriter(const KeyPool& pool, size_t begin, size_t end) : pool_(pool), begin_(begin), end_(end) {}
  ~PacedWriter() { join(); }

  bool start(uint16_t port, double rate, double seconds, std::string* error) {
    for (int i = 0; i < kPacedConnections; i++) {
      auto c = std::make_unique<Conn>();
      c->fd = connect_loopback("127.0.0.1", port, error);
      if (c->fd < 0) return false;
      conns_.push_back(std::move(c));
    }
    for (auto& c : conns_) c->reader = std::thread([this, cp = c.get()] { read_loop(cp); });
    sender_ = std::thread([this, rate, seconds] { send_loop(rate, seconds); });
    return true;
  }
  bool done() const { return done_.load(); }
  // Waits for the sender and for every reply (or kPacedDrainS after the last send: the replies
  // still missing then are reported as unanswered).
  PacedResult join() {
    if (joined_) return res_;
    joined_ = true;
    if (sender_.joinable()) sender_.join();
    for (auto& c : conns_)
      if (c->reader.joinable()) c->reader.join();
    for (auto& c : conns_) {
      if (c->fd >= 0) ::close(c->fd);
      c->fd = -1;
      res_.ok += c->ok;
      res_.ok_in_window += c->ok_in_window;
      res_.errors += c->errors;
      res_.latency.merge(c->latency);
      for (auto& e : c->samples)
        if (res_.error_samples.size() < 3) res_.error_samples.push_back(e);
    }
    return res_;
  }

 private:
  struct Conn {
    int fd = -1;
    std::thread reader;
    std::mutex mu;
    std::deque<int64_t> sent_at;
    uint64_t sent = 0;
    uint64_t ok = 0, errors = 0, ok_in_window = 0;
    Histogram latency;
    std::vector<std::string> samples;
  };

  static bool send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += size_t(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    return true;
  }

  void send_loop(double rate, double seconds) {
    const int64_t t0 = mono_now_ns();
    const int64_t end = t0 + int64_t(seconds * 1e9);
    size_t next = begin_, rr = 0;
    uint64_t sent = 0, offered = 0;
    std::vector<std::string> out(conns_.size());
    for (int64_t step = t0; step <= end && !g_interrupted; step += int64_t(kPacedStepMs) * 1000000) {
      int64_t now = mono_now_ns();
      if (now < step) std::this_thread::sleep_for(std::chrono::nanoseconds(step - now));
      uint64_t due = uint64_t(rate * double(std::min(mono_now_ns(), end) - t0) / 1e9) + 1;
      for (auto& o : out) o.clear();
      std::vector<uint64_t> per(conns_.size(), 0), room(conns_.size(), 0);
      for (size_t ci = 0; ci < conns_.size(); ci++) {
        std::lock_guard<std::mutex> g(conns_[ci]->mu);
        size_t inflight = conns_[ci]->sent_at.size();
        room[ci] = inflight < size_t(kPacedMaxInFlight) ? size_t(kPacedMaxInFlight) - inflight : 0;
      }
      while (offered < due && next < end_) {
        size_t tries = 0;
        while (tries < conns_.size() && room[rr % conns_.size()] == 0) rr++, tries++;
        if (tries == conns_.size()) {  // every connection full: the leader is behind
          res_.skipped += due - offered;
          offered = due;
          break;
        }
        size_t ci = rr++ % conns_.size();
        out[ci] += pool_.frame(next++);
        per[ci]++;
        room[ci]--;
        offered++;
        sent++;
      }
      int64_t at = mono_now_ns();
      for (size_t ci = 0; ci < conns_.size(); ci++) {
        if (!per[ci]) continue;
        Conn& c = *conns_[ci];
        {
          std::lock_guard<std::mutex> g(c.mu);
          for (uint64_t k = 0; k < per[ci]; k++) c.sent_at.push_back(at);
          c.sent += per[ci];
        }
        if (!send_all(c.fd, out[ci])) {
          res_.setup_error = sys_error("send() to the registry");
          goto finished;
        }
      }
      if (next >= end_) {
        res_.setup_error = "the paced writer's key pool ran out";
        break;
      }
    }
  finished:
    res_.sent = sent;
    res_.offered = offered;
    res_.offered_s = double(mono_now_ns() - t0) / 1e9;
    last_send_ns_.store(mono_now_ns());
    done_.store(true);
  }

  void read_loop(Conn* c) {
    std::string in;
    char buf[65536];
    uint64_t received = 0;
    while (!g_interrupted) {
      if (done_.load()) {
        std::lock_guard<std::mutex> g(c->mu);
        if (received >= c->sent) break;
        if (mono_now_ns() - last_send_ns_.load() > int64_t(kPacedDrainS * 1e9)) break;
      }
      pollfd p{c->fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, size_t(n));
      size_t off = 0;
      while (in.size() - off >= 4) {
        uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(in.data() + off));
        if (in.size() - off < 4 + size_t(len)) break;
        std::string_view body(in.data() + off + 4, len);
        int64_t sent_at = 0;
        {
          std::lock_guard<std::mutex> g(c->mu);
          if (!c->sent_at.empty()) {
            sent_at = c->sent_at.front();
            c->sent_at.pop_front();
          }
        }
        received++;
        if (classify_reply(body, "register_ok") == ReplyClass::Ok) {
          c->ok++;
          int64_t now = mono_now_ns();
          if (!done_.load() || now <= last_send_ns_.load()) c->ok_in_window++;
          if (sent_at) c->latency.record(now - sent_at);
        } else {
          c->errors++;
          if (c->samples.size() < 3) c->samples.emplace_back(body.substr(0, 200));
        }
        off += 4 + size_t(len);
      }
      in.erase(0, off);
    }
  }

  const KeyPool& pool_;
  size_t begin_, end_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::thread sender_;
  std::atomic<bool> done_{false};
  std::atomic<int64_t> last_send_ns_{0};
  bool joined_ = false;
  PacedResult res_;
};

struct LagFigure {
  bool ran = false;
  std::string error;
  PacedResult writes;
  Spread records, seconds;
  int inexact = 0, missing = 0;
};

// The paced writer on `leader` for `window_s`, the leader's lag for its standby sampled every
// 100 ms meanwhile (from kLagSkipS on).
LagFigure measure_lag(const Instance& leader, KeyPool& pool, double rate, double window_s) {
  LagFigure f;
  auto [b, e] = pool.take(size_t(rate * window_s * 1.1) + 1000);
  PacedWriter w(pool, b, e);
  if (!w.start(leader.server.registry_port(), rate, window_s, &f.error)) return f;
  std::vector<double> recs, secs;
  const int64_t t0 = mono_now_ns();
  int64_t next = t0;
  while (!w.done() && !g_interrupted) {
    next += int64_t(kLagSampleMs) * 1000000;
    int64_t now = mono_now_ns();
    if (now < next) std::this_thread::sleep_for(std::chrono::nanoseconds(next - now));
    if (mono_now_ns() - t0 < int64_t(kLagSkipS * 1e9) || w.done()) continue;
    StandbyView v = standby_of(leader);
    if (!v.ok || !std::isfinite(v.lag_records) || !std::isfinite(v.lag_seconds)) {
      f.missing++;
      continue;
    }
    recs.push_back(v.lag_records);
    secs.push_back(v.lag_seconds);
    f.inexact += !v.exact;
  }
  f.writes = w.join();
  f.records = spread_of(recs);
  f.seconds = spread_of(secs);
  f.ran = f.records.n > 0;
  if (!f.writes.setup_error.empty()) f.error = f.writes.setup_error;
  if (!f.ran && f.error.empty()) f.error = "no lag sample";
  return f;
}

void print_lag(const char* label, const LagFigure& f) {
  if (!f.ran) {
    printf("  %s: not measured: %s\n", label, f.error.c_str());
    return;
  }
  const PacedResult& w = f.writes;
  const double offered = double(w.offered) / w.offered_s, kept = double(w.ok_in_window) / w.offered_s;
  const uint64_t unanswered = w.sent - std::min(w.sent, w.ok + w.errors);
  printf("  %s: offered %s writes in %.2f s (%s/s), %s skipped (%d waiting on each of %d "
         "connections); accepted %s/s during the window, %s in all, %s errors, %s unanswered "
         "%.0f s after the last send; write latency p50 %.3f ms p99 %.3f ms max %.3f ms\n",
         label, thousands(double(w.offered)).c_str(), w.offered_s, thousands(offered).c_str(),
         thousands(double(w.skipped)).c_str(), kPacedMaxInFlight, kPacedConnections,
         thousands(kept).c_str(), thousands(double(w.ok)).c_str(),
         thousands(double(w.errors)).c_str(), thousands(double(unanswered)).c_str(), kPacedDrainS,
         ms_of(w.latency.quantile_ns(0.5)), ms_of(w.latency.quantile_ns(0.99)),
         ms_of(w.latency.max_ns()));
  if (kept < 0.95 * offered)
    printf("    the leader did not keep up with the offered rate: the lag below is the lag of what "
           "it committed (about %s/s); the rest of the offer waited on the connections or was skipped\n",
           thousands(kept).c_str());
  printf("    lag_records  median %s  p99 %s  max %s   (%zu samples, every %d ms)\n",
         fixed(f.records.median, 0).c_str(), fixed(f.records.p99, 0).c_str(),
         fixed(f.records.max, 0).c_str(), f.records.n, kLagSampleMs);
  printf("    lag_seconds  median %s ms  p99 %s ms  max %s ms\n",
         fixed(f.seconds.median * 1e3, 1).c_str(), fixed(f.seconds.p99 * 1e3, 1).c_str(),
         fixed(f.seconds.max * 1e3, 1).c_str());
  if (f.inexact || f.missing)
    printf("    %d samples with lag_exact false (lower bounds), %d status calls without a figure\n",
           f.inexact, f.missing);
  for (auto& e : w.error_samples) printf("    error sample: %s\n", e.c_str());
  if (!f.error.empty()) printf("    note: %s\n", f.error.c_str());
}

// ---- promotion ----

struct PromoteTrial {
  bool ok = false;
  std::string error;
  double took_ms = NAN;         // promote_ok's took_ms (the replicator's own figure)
  double call_ms = NAN;         // promote sent → promote_ok received
  double first_write_ms = NAN;  // kill (or promote sent) → first register_ok on the standby
  int attempts = 0;             // registers sent until one was accepted
};

PromoteTrial promote_trial(const std::string& bin_dir, const std::string& tmp, int index,
                           bool kill_leader, KeyPool& pool, int threads) {
  PromoteTrial t;
  const std::string name = std::string(kill_leader ? "promote-kill-" : "promote-live-") +
                           std::to_string(index);
  Instance leader, standby;
  std::string err;
  if (!leader.start(bin_dir, tmp, name + "-leader", leader_args(false), true, &err) ||
      !standby.start(bin_dir, tmp, name + "-standby", standby_args(leader), true, &err)) {
    t.error = err;
    return t;
  }
  auto [b, e] = pool.take(kPromoteRecords);
  RunSpec spec;
  spec.port = leader.server.registry_port();
  spec.connections = 8;
  spec.threads = threads;
  spec.duration_s = 0;
  spec.timeout_s = 60;
  RunResult r = run_closed_loop(spec, register_factory(pool, b, e, nullptr));
  if (r.ok != kPromoteRecords) {
    t.error = "setup writes: " + std::to_string(r.ok) + " of " + std::to_string(kPromoteRecords);
    return t;
  }
  CatchUp c = time_catch_up(standby, mono_now_ns(), leader.last_seq(), 30);
  if (!c.ok) {
    t.error = c.error;
    return t;
  }
  if (!wait_streaming(leader, 10)) {
    t.error = "the leader never reported its standby streaming with zero lag";
    return t;
  }
  // The first write: one fresh key; until the standby takes writes it is refused ("standby
  // mode: …"), which stores nothing, so the same frame is sent again.
  const std::string body = pool.frame(pool.take(1).first).substr(4);
  int fd = connect_loopback("127.0.0.1", standby.server.registry_port(), &err);
  if (fd < 0) {
    t.error = err;
    return t;
  }
  const int64_t t0 = mono_now_ns();
  if (kill_leader) ::kill(-leader.server.pid(), SIGKILL);  // its process group: every worker
  const int64_t p0 = mono_now_ns();
  JsonPtr p = standby.call(true, "promote", 10000, &err, "bench");
  const int64_t p1 = mono_now_ns();
  if (!p || jstr(p.get(), "type") != "promote_ok") {
    ::close(fd);
    t.error = "promote: " + (p ? json_dump_compact(p.get()) : err);
    return t;
  }
  t.took_ms = jnum(p.get(), "took_ms");
  t.call_ms = double(p1 - p0) / 1e6;
  std::string reply, last;
  const int64_t limit = mono_now_ns() + 10LL * 1000000000;
  while (mono_now_ns() < limit && !g_interrupted) {
    t.attempts++;
    if (fd < 0) fd = connect_loopback("127.0.0.1", standby.server.registry_port(), &err);
    if (fd >= 0 && blocking_rpc(fd, body, &reply, 2000, &err)) {
      if (classify_reply(reply, "register_ok") == ReplyClass::Ok) {
        t.first_write_ms = double(mono_now_ns() - t0) / 1e6;
        t.ok = true;
        break;
      }
      last = reply.substr(0, 200);
    } else {
      last = err;
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) ::close(fd);
  if (!t.ok) t.error = "no write accepted within 10 s of the promotion (last: " + last + ")";
  return t;
}

struct Summary {
  struct Row {
    std::string figure, value, reference, ratio;
  };
  std::vector<Row> rows;
  void add(std::string f, std::string v, std::string ref = "-", double ratio = NAN) {
    rows.push_back({std::move(f), std::move(v), std::move(ref), ratio_text(ratio)});
  }
};

// Summary rows of one lag measurement: what the leader took, lag_records, lag_seconds.
void add_lag_rows(Summary& sum, const std::string& mode, double rate, const LagFigure& f) {
  if (!f.ran) return;
  const std::string at = mode + " pair, " + thousands(rate) + " writes/s offered";
  sum.add("lag, " + at + ": accepted during the window; write latency p50 / p99",
          thousands(double(f.writes.ok_in_window) / f.writes.offered_s) + "/s; " +
              fixed(ms_of(f.writes.latency.quantile_ns(0.5)), 1) + " / " +
              fixed(ms_of(f.writes.latency.quantile_ns(0.99)), 1) + " ms",
          "offered " + thousands(double(f.writes.offered) / f.writes.offered_s) + "/s",
          double(f.writes.ok_in_window) / double(f.writes.offered));
  sum.add("lag, " + at + ": lag_records median / p99 / max",
          fixed(f.records.median, 0) + " / " + fixed(f.records.p99, 0) + " / " +
              fixed(f.records.max, 0));
  sum.add("lag, " + at + ": lag_seconds median / p99 / max",
          fixed(f.seconds.median * 1e3, 1) + " / " + fixed(f.seconds.p99 * 1e3, 1) + " / " +
              fixed(f.seconds.max * 1e3, 1) + " ms");
}

}  // namespace

int run_replication(const ReplicationOptions& opt) {
  std::string err;
  std::string tmp = make_temp_dir(opt.tmp_root.empty() ? opt.bin_dir + "/.." : opt.tmp_root, &err);
  if (tmp.empty()) {
    fprintf(stderr, "rendezvous-bench: %s\n", err.c_str());
    return 1;
  }
  const int64_t section_t0 = mono_now_ns();
  printf("\n## replication (pairs of instances on loopback, -repl-token; docs/replication.md)\n");
  printf("temp dir %s (%s). Leader, standby and load generator share this machine's %u cores: "
         "every figure is noisy, and on a shared box more so.\n",
         tmp.c_str(), filesystem_type(tmp).c_str(), std::max(1u, std::thread::hardware_concurrency()));
  int rc = 0;
  Summary sum;
  KeyPool pool;
  Ids ids;
  double leader_rate = NAN, async_rate = NAN, sync_rate = NAN;
  RunResult lookup_leader, lookup_standby;

  RunSpec base;
  base.threads = opt.threads;
  base.connections = opt.connections;

  // ---- 1. catch-up: a loaded leader, a fresh standby; then a gap of records only ----
  printf("\n### catch-up\n");
  printf("  making %zu signed registrations (untimed, every core)…\n",
         opt.load_records + opt.gap_records);
  pool.ensure(opt.load_records + opt.gap_records);
  Instance leader, standby;
  do {
    if (!leader.start(opt.bin_dir, tmp, "async-leader", leader_args(false), true, &err)) {
      printf("  not measured: leader: %s\n", err.c_str());
      rc = 1;
      break;
    }
    RunSpec load = base;
    load.port = leader.server.registry_port();
    load.duration_s = 0;
    load.timeout_s = 300;
    auto [b, e] = pool.take(opt.load_records);
    RunResult r = run_closed_loop(load, register_factory(pool, b, e, &ids));
    leader_rate = r.rate;
    const uint64_t seq = leader.last_seq();
    printf("  leader alone (no standby): %zu signed registrations at %d connections: %s\n",
           opt.load_records, load.connections, run_line(r).c_str());
    struct stat st{};
    std::string mdb = leader.server.data_dir() + "/data.mdb";
    printf("  leader last_seq %llu, data.mdb %.1f MiB\n", static_cast<unsigned long long>(seq),
           ::stat(mdb.c_str(), &st) == 0 ? double(st.st_size) / 1048576.0 : NAN);
    sum.add("leader write rate, no standby (" + thousands(double(opt.load_records)) +
                " signed registrations, c=" + std::to_string(load.connections) + ")",
            thousands(leader_rate) + "/s");

    int64_t t0 = mono_now_ns();
    if (!standby.start(opt.bin_dir, tmp, "async-standby", standby_args(leader), false, &err)) {
      printf("  not measured: standby: %s\n", err.c_str());
      rc = 1;
      break;
    }
    CatchUp c = time_catch_up(standby, t0, seq, 120);
    if (!c.ok) {
      printf("  fresh standby: not measured: %s\n", c.error.c_str());
      rc = 1;
      break;
    }
    double full_rate = double(seq) / c.done_s;
    printf("  fresh standby: start → replicator answering %.3f s → streaming (copy done) %.3f s → "
           "applied_seq %llu %.3f s; full copies %lld\n",
           c.answer_s, c.streaming_s, static_cast<unsigned long long>(seq), c.done_s,
           static_cast<long long>(c.full_copies));
    printf("    = %s records/s from the process start (%s records/s from the replicator "
           "answering) vs the leader's write rate %s/s → %s\n",
           thousands(full_rate).c_str(), thousands(double(seq) / (c.done_s - c.answer_s)).c_str(),
           thousands(leader_rate).c_str(), ratio_text(full_rate / leader_rate).c_str());
    sum.add("fresh standby, start → caught up (full copy, " + thousands(double(seq)) + " records, " +
                fixed(c.done_s, 2) + " s)",
            thousands(full_rate) + " records/s", "leader writes " + thousands(leader_rate) + "/s",
            full_rate / leader_rate);

    // Records only: the standby away while the leader takes M writes.
    std::string how = standby.server.stop();
    if (how != "exit 0") printf("  (standby stopped: %s)\n", how.c_str());
    auto [gb, ge] = pool.take(opt.gap_records);
    RunResult g = run_closed_loop(load, register_factory(pool, gb, ge, &ids));
    const uint64_t seq2 = leader.last_seq();
    printf("  standby stopped; %zu more registrations on the leader: %s\n", opt.gap_records,
           run_line(g).c_str());
    t0 = mono_now_ns();
    if (!standby.start(opt.bin_dir, tmp, "async-standby", standby_args(leader), false, &err)) {
      printf("  not measured: standby restart: %s\n", err.c_str());
      rc = 1;
      break;
    }
    CatchUp c2 = time_catch_up(standby, t0, seq2, 120);
    if (!c2.ok) {
      printf("  restarted standby: not measured: %s\n", c2.error.c_str());
      rc = 1;
      break;
    }
    const double gap = double(seq2 - seq);
    double gap_rate = gap / c2.done_s;
    double gap_rate_repl = gap / (c2.done_s - c2.answer_s);
    printf("  restarted standby: start → replicator answering %.3f s → applied_seq %llu %.3f s "
           "(%s records behind; full copies %lld%s)\n",
           c2.answer_s, static_cast<unsigned long long>(seq2), c2.done_s, thousands(gap).c_str(),
           static_cast<long long>(c2.full_copies),
           c2.full_copies == 0 ? ": records only" : ": a copy was taken, not records only");
    printf("    = %s records/s from the process start, %s records/s from the replicator answering "
           "(the start-up excluded) vs the leader's write rate %s/s → %s\n",
           thousands(gap_rate).c_str(), thousands(gap_rate_repl).c_str(),
           thousands(leader_rate).c_str(), ratio_text(gap_rate_repl / leader_rate).c_str());
    sum.add("restarted standby, records only (" + thousands(gap) + " records, " +
                fixed(c2.done_s - c2.answer_s, 2) + " s after its replicator answered)",
            thousands(gap_rate_repl) + " records/s", "leader writes " + thousands(leader_rate) + "/s",
            gap_rate_repl / leader_rate);
    if (!standby.server.wait_ready(30, &err) || !wait_streaming(leader, 30)) {
      printf("  the pair did not settle: %s\n", err.c_str());
      rc = 1;
      break;
    }

    // ---- 2. lag at a steady rate, async ----
    printf("\n### lag at %s writes/s (paced, %d connections, at most %d waiting on each, %d ms "
           "steps; leader status every %d ms)\n",
           thousands(opt.paced_rate).c_str(), kPacedConnections, kPacedMaxInFlight, kPacedStepMs,
           kLagSampleMs);
    LagFigure lag = measure_lag(leader, pool, opt.paced_rate, opt.window_s);
    print_lag("async", lag);
    add_lag_rows(sum, "async", opt.paced_rate, lag);
    wait_streaming(leader, 30);
    // On a machine where the leader alone cannot take that rate, the figure above is the lag at
    // saturation; the same at half the leader's own rate shows the lag of a leader that keeps up.
    if (lag.ran && leader_rate < 1.25 * opt.paced_rate && !g_interrupted) {
      const double low = std::max(100.0, std::floor(leader_rate / 2 / 100) * 100);
      printf("  (the leader alone took %s/s, under 1.25 × %s: again at %s writes/s)\n",
             thousands(leader_rate).c_str(), thousands(opt.paced_rate).c_str(),
             thousands(low).c_str());
      LagFigure lag_low = measure_lag(leader, pool, low, opt.window_s);
      print_lag("async", lag_low);
      add_lag_rows(sum, "async", low, lag_low);
      wait_streaming(leader, 30);
    }

    // ---- 3 (async half). full-rate writes with the standby attached ----
    printf("\n### write rate with a standby (closed loop, %d connections, %.1f s after %.1f s "
           "warm-up)\n",
           base.connections, opt.window_s, kWarmupS);
    RunSpec timed = base;
    timed.port = leader.server.registry_port();
    timed.duration_s = opt.window_s;
    timed.warmup_s = kWarmupS;
    auto [ab, ae] = pool.take(size_t(leader_rate * (opt.window_s + kWarmupS) * 1.5) + 2000);
    RunResult ar = run_closed_loop(timed, register_factory(pool, ab, ae, nullptr));
    async_rate = ar.rate;
    printf("  async: %s\n", run_line(ar).c_str());
    sum.add("write rate, async pair", thousands(async_rate) + "/s",
            "leader alone " + thousands(leader_rate) + "/s", async_rate / leader_rate);

    // ---- 5. lookups: standby vs leader, same nodes ----
    const uint64_t seq3 = leader.last_seq();
    CatchUp c3 = time_catch_up(standby, mono_now_ns(), seq3, 60);
    std::vector<std::string> lookups;
    for (uint32_t id : ids.ids) {
      std::string f;
      wire::append_json_frame(f, R"({"type":"lookup","node_id":)" + std::to_string(id) + "}");
      lookups.push_back(std::move(f));
    }
    printf("\n### lookups (the lookup workload: random node of the %s registered above, %d "
           "connections, %.1f s after %.1f s warm-up)\n",
           thousands(double(lookups.size())).c_str(), base.connections, opt.window_s, kWarmupS);
    if (!c3.ok || lookups.empty()) {
      printf("  not measured: %s\n", lookups.empty() ? "no registered node" : c3.error.c_str());
      rc = 1;
    } else {
      lookup_leader = run_closed_loop(timed, lookup_factory(lookups));
      RunSpec on_standby = timed;
      on_standby.port = standby.server.registry_port();
      lookup_standby = run_closed_loop(on_standby, lookup_factory(lookups));
      printf("  leader:  %s\n", run_line(lookup_leader).c_str());
      printf("  standby: %s\n", run_line(lookup_standby).c_str());
      printf("    standby / leader → %s\n", ratio_text(lookup_standby.rate / lookup_leader.rate).c_str());
      sum.add("lookups on the standby (c=" + std::to_string(base.connections) + ")",
              thousands(lookup_standby.rate) + "/s",
              "leader " + thousands(lookup_leader.rate) + "/s",
              lookup_standby.rate / lookup_leader.rate);
    }
  } while (false);
  standby.server.stop();
  leader.server.stop();

  // ---- 2 and 3, sync half: a -repl-sync pair ----
  if (!g_interrupted) {
    printf("\n### -repl-sync pair (a write's reply waits for the standby's ack; "
           "-repl-sync-timeout 1 s)\n");
    Instance sl, ss;
    do {
      if (!sl.start(opt.bin_dir, tmp, "sync-leader", leader_args(true), true, &err) ||
          !ss.start(opt.bin_dir, tmp, "sync-standby", standby_args(sl), true, &err)) {
        printf("  not measured: %s\n", err.c_str());
        rc = 1;
        break;
      }
      if (!wait_streaming(sl, 30)) {
        printf("  not measured: the standby never streamed\n");
        rc = 1;
        break;
      }
      size_t log_seen = 0;  // the leader's log lines already shown end here
      auto sync_state = [&] {
        JsonPtr st = sl.call(false, "status", 3000, nullptr);
        const json_t* s = st ? json_object_get(st.get(), "sync") : nullptr;
        std::string text = "sync state '" + jstr(s, "state") + "', degraded " +
                           fixed(jnum(s, "degraded_total"), 0) + " times so far";
        // A degradation is a held write that waited the whole -repl-sync-timeout: the leader's
        // own log lines about it say which sequence and ack it was at.
        std::string log = sl.server.log_tail(size_t(1) << 22), lines;
        size_t at = std::min(log_seen, log.size()), shown = 0;
        log_seen = log.size();
        while ((at = log.find("degrad", at)) != std::string::npos && shown < 3) {
          size_t b = log.rfind('\n', at), e = log.find('\n', at);
          b = b == std::string::npos ? 0 : b + 1;
          std::string line = log.substr(b, e == std::string::npos ? std::string::npos : e - b);
          if (lines.find(line) == std::string::npos) {
            lines += "\n      leader log: " + line.substr(0, 400);
            shown++;
          }
          at = e == std::string::npos ? log.size() : e;
        }
        return text + lines;
      };
      LagFigure lag = measure_lag(sl, pool, opt.paced_rate, opt.window_s);
      print_lag("sync", lag);
      printf("    %s\n", sync_state().c_str());
      add_lag_rows(sum, "sync", opt.paced_rate, lag);
      wait_streaming(sl, 30);
      // Writes the paced phase left held must not count in the next cell.
      for (int64_t limit = mono_now_ns() + 10LL * 1000000000; mono_now_ns() < limit;) {
        JsonPtr st = sl.call(false, "status", 3000, nullptr);
        const json_t* sy = st ? json_object_get(st.get(), "sync") : nullptr;
        if (jnum(sy, "held", 0) == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      RunSpec timed = base;
      timed.port = sl.server.registry_port();
      timed.duration_s = opt.window_s;
      timed.warmup_s = kWarmupS;
      double est = std::isfinite(async_rate) ? async_rate : 5000;
      auto [b, e] = pool.take(size_t(est * (opt.window_s + kWarmupS) * 1.5) + 2000);
      RunResult sr = run_closed_loop(timed, register_factory(pool, b, e, nullptr));
      sync_rate = sr.rate;
      printf("  sync, closed loop at %d connections: %s\n", timed.connections, run_line(sr).c_str());
      printf("    %s\n", sync_state().c_str());
      printf("    sync / async (same workload, async pair above) → %s\n",
             ratio_text(sync_rate / async_rate).c_str());
      sum.add("write rate, sync pair (c=" + std::to_string(timed.connections) + ", p50 " +
                  fixed(ms_of(sr.latency.quantile_ns(0.5)), 1) + " ms)",
              thousands(sync_rate) + "/s", "async pair " + thousands(async_rate) + "/s",
              sync_rate / async_rate);
    } while (false);
    ss.server.stop();
    sl.server.stop();
  }

  // ---- 4. promotion → first accepted write ----
  if (!g_interrupted) {
    printf("\n### promotion → first accepted write (fresh pairs, %zu records each; promote on "
           "the standby's replicator.sock, then registers in a tight loop on its registry port)\n",
           kPromoteRecords);
    pool.ensure(size_t(opt.promote_trials) * 2 * (kPromoteRecords + 1));
    for (bool kill_leader : {true, false}) {
      std::vector<double> took, first;
      const char* label = kill_leader ? "leader SIGKILLed" : "leader running";
      for (int i = 0; i < opt.promote_trials && !g_interrupted; i++) {
        PromoteTrial t = promote_trial(opt.bin_dir, tmp, i, kill_leader, pool, opt.threads);
        if (!t.ok) {
          printf("  %s, trial %d: not measured: %s\n", label, i + 1, t.error.c_str());
          rc = 1;
          continue;
        }
        printf("  %s, trial %d: promote took_ms %.1f (call %.1f ms); %s → first accepted write "
               "%.1f ms (%d attempt%s)\n",
               label, i + 1, t.took_ms, t.call_ms, kill_leader ? "SIGKILL" : "promote sent",
               t.first_write_ms, t.attempts, t.attempts == 1 ? "" : "s");
        took.push_back(t.took_ms);
        first.push_back(t.first_write_ms);
      }
      Spread a = spread_of(took), b = spread_of(first);
      if (a.n) {
        sum.add(std::string("promote took_ms, ") + label + " (" + std::to_string(a.n) +
                    " trials): median / max",
                fixed(a.median, 1) + " / " + fixed(a.max, 1) + " ms");
        sum.add(std::string(kill_leader ? "SIGKILL" : "promote sent") +
                    " → first accepted write on the standby: median / max",
                fixed(b.median, 1) + " / " + fixed(b.max, 1) + " ms");
      }
    }
  }

  // ---- summary ----
  printf("\n### replication summary (%.0f s)\n\n| figure | value | reference | ratio |\n"
         "|---|---:|---|---:|\n",
         double(mono_now_ns() - section_t0) / 1e9);
  for (auto& r : sum.rows)
    printf("| %s | %s | %s | %s |\n", r.figure.c_str(), r.value.c_str(), r.reference.c_str(),
           r.ratio.c_str());
  printf("\nAll writes are signed registrations of brand-new keys (one Ed25519 verify each on the "
         "leader). Catch-up rates are records/s to one standby; the reference is the leader's own "
         "write rate measured first, with no standby. Lag = the leader's replicator.sock status for "
         "its standby (lag_records = last_seq − ack; lag_seconds = age of the oldest unacknowledged "
         "record; how often the standby acknowledges sets its floor). Every figure shares 2 cores with "
         "its peer instance and the load generator: noisy.\n");
  remove_tree(tmp);
  if (g_interrupted) rc = 130;
  return rc;
}

}  // namespace rdv::bench
