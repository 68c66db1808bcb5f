#include "tests/bench/soak.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shared/crypto.h"
#include "shared/fd_limit.h"
#include "shared/util.h"
#include "shared/wire.h"
#include "tests/bench/memory.h"
#include "tests/bench/noop_server.h"
#include "tests/bench/blocking_io.h"
#include "tests/bench/server_process.h"
#include "tests/bench/text.h"

namespace rdv::bench {
namespace {

constexpr int kThreads = 2;
constexpr int kConnsPerThread = 8;
constexpr double kOpsPerSecondPerThread = 500;
constexpr size_t kStableNodes = 200;   // registered once; looked up, heartbeated, joined/left
constexpr size_t kChurnNodes = 20;     // per thread: each registration deregisters the oldest past this
constexpr double kRssFlatShare = 0.10;
constexpr long kFdsFlat = 16;

// A client socket, closed by its destructor.
class Sock {
 public:
  Sock() = default;
  explicit Sock(int fd) : fd_(fd) {}
  Sock(Sock&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  Sock& operator=(Sock&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      buf_ = std::move(o.buf_);
      o.fd_ = -1;
    }
    return *this;
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
  ~Sock() { close(); }

  static Sock connect_to(uint16_t port) { return Sock(connect_loopback(port, 10)); }
  bool ok() const { return fd_ >= 0; }
  // Closes with a reset: thousands of closes leave no loopback port in TIME_WAIT.
  void close() {
    if (fd_ < 0) return;
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  // One JSON request and its reply body; false on an I/O failure (the socket is then closed).
  bool request(const std::string& body, std::string* reply) {
    std::string frame;
    wire::append_json_frame(frame, body);
    if (send_all(fd_, frame) && recv_frame(fd_, buf_, reply)) return true;
    close();
    return false;
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

struct Identity {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  uint32_t id = 0;
  bool member = false;  // of the soak network

  static Identity generate() {
    Identity k;
    crypto_sign_keypair(k.pk, k.sk);
    return k;
  }
  std::string pub() const { return base64_encode(pk, sizeof pk); }
  std::string sign(const std::string& msg) const {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return base64_encode(sig, sizeof sig);
  }
};

std::string register_body(const Identity& k) {
  const std::string addr = "203.0.113.9:4000", pub = k.pub();
  return R"({"type":"register","public_key":")" + pub + R"(","listen_addr":")" + addr + R"(","signature":")" +
         k.sign("register:" + addr + ":" + pub) + R"(","version":"soak"})";
}
std::string signed_body(const Identity& k, const char* type, const std::string& challenge, const std::string& extra = "") {
  return std::string(R"({"type":")") + type + R"(","node_id":)" + std::to_string(k.id) + extra +
         R"(,"signature":")" + k.sign(challenge) + R"("})";
}
bool is_type(const std::string& reply, const char* type) {
  return reply.find(std::string(R"("type":")") + type + "\"") != std::string::npos;
}
long field_number(const std::string& reply, const char* key) {
  size_t at = reply.find(std::string("\"") + key + "\":");
  return at == std::string::npos ? -1 : std::strtol(reply.c_str() + at + std::strlen(key) + 3, nullptr, 10);
}

long open_fds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  long n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

// ---- part 1: idle connections ----

struct IdleFigure {
  bool ok = false;
  long rss_before = 0, rss_after = 0;  // KiB
  long fds_before = 0, fds_after = 0;
  double bytes_per_connection() const { return double(rss_after - rss_before) * 1024.0 / double(fds_after - fds_before); }
};

// Opens `n` connections to `port` and waits until `pid` holds them (its descriptor count).
IdleFigure measure_idle(pid_t pid, uint16_t port, size_t n) {
  IdleFigure f;
  f.rss_before = rss_kib(pid);
  f.fds_before = open_fds(pid);
  std::vector<Sock> idle;
  idle.reserve(n);
  for (size_t i = 0; i < n; i++) {
    Sock s = Sock::connect_to(port);
    if (!s.ok()) {
      fprintf(stderr, "rendezvous-bench: idle connection %zu: %s\n", i, std::strerror(errno));
      return f;
    }
    idle.push_back(std::move(s));
  }
  int64_t deadline = mono_now_ns() + 30000000000LL;
  while (open_fds(pid) < f.fds_before + long(n) && mono_now_ns() < deadline) usleep(20000);
  usleep(200000);  // the last accepts' allocations
  f.rss_after = rss_kib(pid);
  f.fds_after = open_fds(pid);
  f.ok = f.fds_after >= f.fds_before + long(n);
  if (!f.ok) fprintf(stderr, "rendezvous-bench: only %ld of %zu connections accepted\n", f.fds_after - f.fds_before, n);
  return f;
}

bool run_idle(pid_t registry, uint16_t registry_port, pid_t noop, uint16_t noop_port, size_t n) {
  printf("## idle connections: %zu at once\n", n);
  IdleFigure reg = measure_idle(registry, registry_port, n);
  IdleFigure ref = noop > 0 ? measure_idle(noop, noop_port, n) : IdleFigure{};
  if (!reg.ok) return false;
  printf("| server | RSS before KiB | RSS after KiB | fds before | fds after | bytes/idle conn |\n|---|---:|---:|---:|---:|---:|\n");
  printf("| registry | %s | %s | %ld | %ld | %s |\n", thousands(double(reg.rss_before)).c_str(),
         thousands(double(reg.rss_after)).c_str(), reg.fds_before, reg.fds_after,
         thousands(reg.bytes_per_connection()).c_str());
  if (ref.ok) {
    printf("| noop (reference) | %s | %s | %ld | %ld | %s |\n", thousands(double(ref.rss_before)).c_str(),
           thousands(double(ref.rss_after)).c_str(), ref.fds_before, ref.fds_after,
           thousands(ref.bytes_per_connection()).c_str());
    double r = ref.bytes_per_connection() > 0 ? reg.bytes_per_connection() / ref.bytes_per_connection() : NAN;
    printf("registry / noop per idle connection: %s (kernel socket memory is in neither)\n\n", ratio_text(r).c_str());
  } else {
    printf("(no reference: the noop server did not take the connections)\n\n");
  }
  return true;
}

// ---- part 2: the soak ----

struct Counters {
  std::atomic<uint64_t> lookups{0}, heartbeats{0}, registrations{0}, deregistrations{0}, joins{0}, leaves{0},
      one_shot{0}, reconnects{0}, error_replies{0}, lost{0};
  std::mutex mu;
  std::vector<std::string> first_errors;
  void error(const std::string& what) {
    error_replies++;
    std::lock_guard<std::mutex> g(mu);
    if (first_errors.size() < 5) first_errors.push_back(what);
  }
};

struct Sample {
  double t_min;
  long rss, anon, fds;
};

struct Shared {
  uint16_t port = 0;
  uint16_t network = 0;
  std::vector<Identity>* stable = nullptr;
  Counters* counters = nullptr;
  std::atomic<bool>* stop = nullptr;
};

// One paced client thread: owns stable[from, to) (heartbeats, joins and leaves) and its churn
// nodes; looks up any stable node.
void client_thread(const Shared& sh, size_t from, size_t to, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Counters& n = *sh.counters;
  std::vector<Identity>& stable = *sh.stable;
  std::vector<Sock> conns(kConnsPerThread);
  std::deque<Identity> churn;
  const int64_t period_ns = int64_t(1e9 / kOpsPerSecondPerThread);
  int64_t next = mono_now_ns();
  auto call = [&](Sock& s, const std::string& body, const char* want) {
    if (!s.ok()) {
      s = Sock::connect_to(sh.port);
      if (!s.ok()) return n.lost++, false;
    }
    std::string reply;
    if (!s.request(body, &reply)) return n.lost++, false;
    if (!is_type(reply, want)) {
      n.error(std::string(want) + " expected, got " + reply.substr(0, 200));
      return false;
    }
    return true;
  };
  while (!sh.stop->load(std::memory_order_relaxed)) {
    next += period_ns;
    int64_t wait = next - mono_now_ns();
    if (wait > 0) usleep(useconds_t(wait / 1000));
    Sock& s = conns[rng() % conns.size()];
    Identity& own = stable[from + rng() % (to - from)];
    unsigned r = unsigned(rng() % 100);
    if (r < 45) {
      const Identity& any = stable[rng() % stable.size()];
      if (call(s, R"({"type":"lookup","node_id":)" + std::to_string(any.id) + "}", "lookup_ok")) n.lookups++;
    } else if (r < 70) {
      if (call(s, signed_body(own, "heartbeat", "heartbeat:" + std::to_string(own.id)), "heartbeat_ok")) n.heartbeats++;
    } else if (r < 78) {
      Identity k = Identity::generate();
      std::string reply;
      if (!s.ok()) s = Sock::connect_to(sh.port);
      if (!s.ok() || !s.request(register_body(k), &reply)) {
        n.lost++;
        continue;
      }
      if (!is_type(reply, "register_ok")) {
        n.error("register_ok expected, got " + reply.substr(0, 200));
        continue;
      }
      n.registrations++;
      k.id = uint32_t(field_number(reply, "node_id"));
      churn.push_back(k);
      if (churn.size() > kChurnNodes) {
        Identity old = churn.front();
        churn.pop_front();
        if (call(s, signed_body(old, "deregister", "deregister:" + std::to_string(old.id)), "deregister_ok"))
          n.deregistrations++;
      }
    } else if (r < 90) {
      std::string net = std::to_string(sh.network), extra = R"(,"network_id":)" + net;
      std::string tail = std::to_string(own.id) + ":" + net;
      if (own.member) {
        if (call(s, signed_body(own, "leave_network", "leave_network:" + tail, extra), "leave_network_ok")) {
          n.leaves++;
          own.member = false;
        }
      } else if (call(s, signed_body(own, "join_network", "join_network:" + tail, extra), "join_network_ok")) {
        n.joins++;
        own.member = true;
      }
    } else if (r < 95) {
      Sock once = Sock::connect_to(sh.port);  // a daemon that dials, asks once and hangs up
      const Identity& any = stable[rng() % stable.size()];
      if (call(once, R"({"type":"lookup","node_id":)" + std::to_string(any.id) + "}", "lookup_ok")) n.one_shot++;
    } else {
      s.close();  // reconnect churn: the next request on it dials again
      n.reconnects++;
    }
  }
}

// Least-squares slope of y over t (per minute), for samples from index `from`.
double slope(const std::vector<Sample>& s, size_t from, long Sample::*y) {
  double n = 0, st = 0, sy = 0, stt = 0, sty = 0;
  for (size_t i = from; i < s.size(); i++) {
    double t = s[i].t_min, v = double(s[i].*y);
    n++, st += t, sy += v, stt += t * t, sty += t * v;
  }
  double d = n * stt - st * st;
  return n < 2 || d == 0 ? 0 : (n * sty - st * sy) / d;
}

int soak(ServerProcess& server, pid_t registry, double minutes) {
  printf("## soak: %.1f minutes, %d threads x %.0f requests/s, %d connections each\n", minutes, kThreads,
         kOpsPerSecondPerThread, kConnsPerThread);
  std::vector<Identity> stable;
  Sock admin = Sock::connect_to(server.registry_port());
  std::string reply;
  for (size_t i = 0; i < kStableNodes; i++) {
    Identity k = Identity::generate();
    if (!admin.request(register_body(k), &reply) || !is_type(reply, "register_ok")) {
      fprintf(stderr, "rendezvous-bench: soak set-up register: %s\n", reply.c_str());
      return 1;
    }
    k.id = uint32_t(field_number(reply, "node_id"));
    stable.push_back(k);
  }
  std::string create = R"({"type":"create_network","admin_token":")" + std::string(kAdminToken) +
                       R"(","node_id":)" + std::to_string(stable[0].id) + R"(,"name":"soak-net"})";
  if (!admin.request(create, &reply) || !is_type(reply, "create_network_ok")) {
    fprintf(stderr, "rendezvous-bench: soak set-up create_network: %s\n", reply.c_str());
    return 1;
  }
  stable[0].member = true;  // the creator is a member
  admin.close();

  Counters counters;
  std::atomic<bool> stop{false};
  Shared sh{server.registry_port(), uint16_t(field_number(reply, "network_id")), &stable, &counters, &stop};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    // stable[0] (the network's creator) is left out of join/leave: it owns the network.
    size_t from = 1 + (kStableNodes - 1) * size_t(t) / kThreads, to = 1 + (kStableNodes - 1) * size_t(t + 1) / kThreads;
    threads.emplace_back(client_thread, std::cref(sh), from, to, 7000 + uint64_t(t));
  }

  const int64_t t0 = mono_now_ns(), end = t0 + int64_t(minutes * 60e9);
  const int64_t every_ns = std::clamp<int64_t>(int64_t(minutes * 60e9 / 60), 1000000000LL, 5000000000LL);
  std::vector<Sample> samples;
  int64_t next_print = t0;
  printf("| min | RSS KiB | anon KiB | fds | requests | errors |\n|---:|---:|---:|---:|---:|---:|\n");
  for (int64_t now = mono_now_ns(); now < end; now = mono_now_ns()) {
    Sample s{double(now - t0) / 60e9, rss_kib(registry), rss_kib(registry, "RssAnon:"), open_fds(registry)};
    samples.push_back(s);
    if (now >= next_print) {
      uint64_t reqs = counters.lookups + counters.heartbeats + counters.registrations + counters.deregistrations +
                      counters.joins + counters.leaves + counters.one_shot;
      printf("| %.1f | %s | %s | %ld | %s | %llu |\n", s.t_min, thousands(double(s.rss)).c_str(),
             thousands(double(s.anon)).c_str(), s.fds, thousands(double(reqs)).c_str(),
             (unsigned long long)counters.error_replies.load());
      next_print += std::max<int64_t>(every_ns, int64_t(minutes * 60e9 / 10));
    }
    usleep(useconds_t(std::min<int64_t>(every_ns, std::max<int64_t>(1, end - mono_now_ns())) / 1000));
  }
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed_s = double(mono_now_ns() - t0) / 1e9;
  usleep(500000);  // closed connections reach the registry
  const Sample after{elapsed_s / 60, rss_kib(registry), rss_kib(registry, "RssAnon:"), open_fds(registry)};

  // Warm-up: the first tenth of the run (at least the first sample).
  size_t warm = std::min(samples.size() - 1, std::max<size_t>(1, samples.size() / 10));
  const Sample &first = samples.front(), &base = samples[warm], &last = samples.back();
  auto max_of = [&](long Sample::*y) {
    long m = 0;
    for (auto& s : samples) m = std::max(m, s.*y);
    return m;
  };
  uint64_t reqs = counters.lookups + counters.heartbeats + counters.registrations + counters.deregistrations +
                  counters.joins + counters.leaves + counters.one_shot;
  printf("\nrequests: %s in %.0f s (%s/s): lookup %s, heartbeat %s, register %s, deregister %s, join %s, leave %s, "
         "one-shot connections %s; reconnects %s\n",
         thousands(double(reqs)).c_str(), elapsed_s, thousands(double(reqs) / elapsed_s).c_str(),
         thousands(double(counters.lookups)).c_str(), thousands(double(counters.heartbeats)).c_str(),
         thousands(double(counters.registrations)).c_str(), thousands(double(counters.deregistrations)).c_str(),
         thousands(double(counters.joins)).c_str(), thousands(double(counters.leaves)).c_str(),
         thousands(double(counters.one_shot)).c_str(), thousands(double(counters.reconnects)).c_str());
  printf("| figure | start | after warm-up (%.1f min) | end | max | slope after warm-up /min |\n|---|---:|---:|---:|---:|---:|\n",
         base.t_min);
  for (auto [name, field] : {std::pair{"RSS KiB", &Sample::rss}, std::pair{"anon KiB", &Sample::anon},
                             std::pair{"fds", &Sample::fds}})
    printf("| %s | %s | %s | %s | %s | %.1f |\n", name, thousands(double(first.*field)).c_str(),
           thousands(double(base.*field)).c_str(), thousands(double(last.*field)).c_str(),
           thousands(double(max_of(field))).c_str(), slope(samples, warm, field));
  printf("after the clients closed: RSS %s KiB (anon %s), fds %ld (%ld at the start)\n", thousands(double(after.rss)).c_str(),
         thousands(double(after.anon)).c_str(), after.fds, first.fds);
  // The verdict is on the anonymous part (the heap: connections, indexes, queues), where a leak
  // shows. The rest of RSS is the LMDB map's pages, which grow with the change log the writes
  // append to (trimmed at -changelog-keep), and are the kernel's page cache, not ours to free.
  const double rss_growth = double(last.anon - base.anon) / double(std::max(1L, base.anon));
  const bool rss_flat = std::fabs(rss_growth) <= kRssFlatShare;
  // Under load: the same number of client connections open, give or take churn in flight;
  // once the clients are gone: back to the start.
  const bool fds_flat = std::labs(last.fds - base.fds) <= kFdsFlat && after.fds <= first.fds + 2;
  const bool no_errors = counters.error_replies == 0;
  // Node ids are never reused (registry.h: liveness is dense by id), so each registration,
  // even one deregistered since, may leave a few bytes of heap behind: shown per registration
  // so a per-id cost is told apart from a leak per request.
  if (counters.registrations > 0)
    printf("anon growth since the warm-up per registration (each one a new node id): %.0f bytes over %s registrations\n",
           double(last.anon - base.anon) * 1024.0 / double(counters.registrations),
           thousands(double(counters.registrations)).c_str());
  printf("error replies: %llu; connections lost (I/O failure): %llu\n",
         (unsigned long long)counters.error_replies.load(), (unsigned long long)counters.lost.load());
  for (auto& e : counters.first_errors) printf("  %s\n", e.c_str());
  printf("verdict: heap RSS %s (anon %+.1f %% since the warm-up, flat = within %.0f %%; all of RSS %+.1f %%)\n",
         rss_flat ? "flat" : "NOT FLAT", rss_growth * 100, kRssFlatShare * 100,
         100.0 * double(last.rss - base.rss) / double(std::max(1L, base.rss)));
  printf("verdict: fds %s (%+ld under load since the warm-up, flat = within %ld; %+ld once the clients left)\n",
         fds_flat ? "flat" : "NOT FLAT", last.fds - base.fds, kFdsFlat, after.fds - first.fds);
  printf("verdict: error replies %s\n", no_errors ? "none" : "SOME");
  return rss_flat && fds_flat && no_errors && counters.lost == 0 ? 0 : 1;
}

}  // namespace

int run_soak(const SoakOptions& o) {
  if (sodium_init() < 0) {
    fprintf(stderr, "rendezvous-bench: sodium_init failed\n");
    return 1;
  }
  // This process holds the idle connections and the servers inherit its limit: raised first.
  FdLimit lim;
  std::string err;
  if (!raise_fd_limit(&lim, &err)) fprintf(stderr, "rendezvous-bench: %s\n", err.c_str());
  if (lim.soft < o.idle_connections + 256) {
    fprintf(stderr, "rendezvous-bench: RLIMIT_NOFILE is %llu, too low for %zu idle connections (raise ulimit -Hn)\n",
            (unsigned long long)lim.soft, o.idle_connections);
    return 1;
  }
  // The reference forks before any thread exists.
  NoopServer noop;
  if (!noop.start(&err)) fprintf(stderr, "rendezvous-bench: noop reference: %s (no reference figure)\n", err.c_str());
  OwnServer own;
  own.server.extra_args = {"-max-connections", std::to_string(o.idle_connections + 1024)};
  if (!own.start(o.bin_dir, o.tmp_root)) return 1;
  ServerProcess& server = own.server;
  int rc = 1;
  do {
    pid_t reg = registry_pid(server.pid());
    if (reg <= 0) {
      fprintf(stderr, "rendezvous-bench: no registry worker found\n");
      break;
    }
    printf("# rendezvous-bench --soak (registry worker pid %d, descriptor limit %llu)\n\n", int(reg),
           (unsigned long long)lim.soft);
    if (!run_idle(reg, server.registry_port(), noop.pid(), noop.port(), o.idle_connections)) break;
    noop.stop();
    rc = o.idle_only ? 0 : soak(server, reg, o.minutes);
    if (registry_pid(server.pid()) != reg) {
      printf("the registry worker was restarted during the run\n");
      rc = 1;
    }
  } while (false);
  return own.finish(rc);
}

}  // namespace rdv::bench
