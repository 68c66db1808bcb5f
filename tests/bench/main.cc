// rendezvous-bench: closed-loop load generator for the registry's JSON protocol, with reference
// figures measured in the same run (a no-op server on the same framing, this disk's fdatasync
// rate, this core's Ed25519 verify rate) and the ratios to them.
//
//   rendezvous-bench --bin-dir build/bin                 the standard table (~2–3 min)
//   rendezvous-bench --workload lookup --connections 64,256 --duration 10
//   rendezvous-bench --target 127.0.0.1:9000 --workload heartbeat
//   rendezvous-bench --against-noop                      self-test of the load generator
//
// What each workload measures is written in workloads.h and printed at the end of the run.

#include <arpa/inet.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/config.h"
#include "shared/crypto.h"
#include "shared/util.h"
#include "shared/wire.h"
#include "tests/bench/loadgen.h"
#include "tests/bench/noop_server.h"
#include "tests/bench/references.h"
#include "tests/bench/dashboards.h"
#include "tests/bench/events.h"
#include "tests/bench/memory.h"
#include "tests/bench/replication.h"
#include "tests/bench/tls.h"
#include "tests/bench/parser.h"
#include "tests/bench/self_test.h"
#include "tests/bench/soak.h"
#include "tests/bench/server_process.h"
#include "tests/bench/text.h"
#include "tests/bench/workloads.h"

namespace rdv::bench {
namespace {

// Canonical order: the order cells run in, whatever order the user names them in. register
// runs before heartbeat_first because the nodes it registers are the first-heartbeat nodes.
// handshake and join run twice each, against two servers of their own that differ only in
// their rate limits (see LimiterServer). slow_disk runs last, against another server of its own
// (started under the slow-fsync shim), as two cells: lookups alone, then lookups while 8
// connections register.
const std::vector<std::string> kWorkloads = {"noop",     "lookup",          "resolve_hostname",
                                             "heartbeat", "register",       "heartbeat_first",
                                             "mixed",     "handshake",      "join",
                                             "slow_disk"};

// The slow-disk cells (see run_slow_disk_cell).
constexpr const char* kSlowAlone = "slow:lookup";
constexpr const char* kSlowWriters = "slow:lookup+reg";
constexpr int kSlowFsyncMs = 20;       // per fsync/fdatasync/msync, the issue's figure
constexpr int kSlowWriterConns = 8;    // connections registering continuously
constexpr size_t kSlowBaseNodes = 2000;
// The Go server's published signed-registration rate, for comparison (not measured here).
constexpr double kGoRegisterRate = 14500;

// The rate-limiter cells: "<workload>:rl-on" against a server with the limiter on (default
// limits) and loopback whitelisted, "<workload>:rl-off" against one with every limit at 0.
constexpr const char* kLimiterOn = ":rl-on";
constexpr const char* kLimiterOff = ":rl-off";
// Chains (handshake pairs, joining nodes) per load-generator connection: a connection asking
// for its next request finds a chain whose previous step has completed (step_scheduler.h).
constexpr size_t kChainsPerConnection = 8;
// The limiter leaves a connection alone for its first 5 s (wire §2.7). The limiter cells warm
// up that much longer, so every request they count went through its checks.
constexpr double kLimiterGraceS = 5.0;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The workload a cell belongs to: "slow:lookup" → slow_disk, "join:rl-off" → join.
std::string base_workload(const std::string& cell) {
  if (cell.rfind("slow:", 0) == 0) return "slow_disk";
  return cell.substr(0, cell.find(':'));
}

// Cells that run against a server of their own rather than the main server under test.
bool own_server_cell(const std::string& cell) { return cell.find(':') != std::string::npos; }

struct Options {
  std::string bin_dir = "build/bin";
  std::vector<int> connections;   // empty = default
  std::vector<std::string> workloads;  // empty = default
  double duration_s = 5;
  bool duration_explicit = false;  // --duration given (--parser defaults to 1 s otherwise)
  std::string target;             // host:port; empty = start a server
  int threads = 1;
  size_t nodes = 20000;
  size_t fresh_keys_cap = 200000;
  std::string tmp_root;           // empty = <bin-dir>/..
  bool against_noop = false;
  bool self_test = false;
  size_t memory_nodes = 0;        // --memory N: the scale run instead of the table
  size_t dashboard_streams = 0;   // --dashboards N: probes with N live dashboards open
  size_t event_subscribers = 0;   // --events N: N subscribe_events streams (events.h)
  bool replication = false;       // --replication or --workload replication (replication.h)
  bool tls = false;               // --tls: the TLS section alone (tls.h)
  bool soak = false;              // --soak: the long mixed run (soak.h)
  double soak_minutes = 30;
  size_t idle_connections = 0;    // --idle-connections N (0 = the soak's default, 10 000)
  bool parser = false;            // --parser: the request parser vs simdjson (parser.h)
};

[[noreturn]] void usage(int code) {
  printf(
      "usage: rendezvous-bench [options]\n"
      "  --bin-dir DIR         where the rendezvous binary lives (default build/bin)\n"
      "  --connections N[,N]   closed-loop connections per cell (default: the standard table)\n"
      "  --duration S          seconds per cell (default 5)\n"
      "  --workload W[,W]      noop lookup resolve_hostname heartbeat register heartbeat_first\n"
      "                        mixed handshake join slow_disk replication, or all (default:\n"
      "                        the standard table, then the replication section)\n"
      "  --replication         only the replication section (same as --workload replication)\n"
      "  --tls                 only the TLS section: lookups over TLS, handshakes, stalls (tls.h)\n"
      "  --target HOST:PORT    bench an already running registry (loopback only)\n"
      "  --threads T           load-generator threads (default 1)\n"
      "  --memory N            scale run: register N nodes, report RSS per node and restart time\n"
      "  --dashboards N        /healthz, /readyz, /metrics latency with N live dashboard streams open\n"
      "  --soak                N idle connections (memory per connection, noop reference), then a\n"
      "                        paced mixed load; RSS, fds and error replies must stay flat (soak.h)\n"
      "  --soak-minutes M      length of the soak's mixed load (default 30)\n"
      "  --idle-connections N  idle connections of --soak (default 10000); alone: only that part\n"
      "  --events [N]          N subscribe_events streams (default 10000): delivery latency, RSS per subscriber\n"
      "  --nodes K             base nodes registered for lookup/heartbeat (default 20000)\n"
      "  --fresh-keys N        cap on precomputed fresh key pairs (default 200000)\n"
      "  --tmp-dir DIR         where the temp dir (data dir + fdatasync probe) goes\n"
      "                        (default: <bin-dir>/.., i.e. the project's build dir)\n"
      "  --against-noop        run the workloads against the noop server (tests the client;\n"
      "                        any reply counts as success)\n"
      "  --self-test           check the reply checker and the histogram, then exit\n"
      "  --parser              the request parser vs simdjson On-Demand: parses/s and strictness\n"
      "                        (--duration S per cell, default 1 here)\n");
  exit(code);
}

bool parse_int_list(const std::string& s, std::vector<int>* out) {
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long v = strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 20000) return false;
    out->push_back(int(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return !out->empty();
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i], v;
    bool has_eq = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_eq = true;
    }
    auto value = [&]() -> std::string {
      if (has_eq) return v;
      if (i + 1 >= argc) {
        fprintf(stderr, "rendezvous-bench: %s needs a value\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    auto bad = [&](const std::string& what) {
      fprintf(stderr, "rendezvous-bench: invalid %s\n", what.c_str());
      exit(2);
    };
    if (a == "-h" || a == "--help") {
      usage(0);
    } else if (a == "--bin-dir") {
      o.bin_dir = value();
    } else if (a == "--connections") {
      if (!parse_int_list(value(), &o.connections)) bad("--connections (1..20000, comma list)");
    } else if (a == "--duration") {
      std::string s = value();
      char* end = nullptr;
      o.duration_s = strtod(s.c_str(), &end);
      o.duration_explicit = true;
      if (*end || !(o.duration_s >= 0.1 && o.duration_s <= 3600)) bad("--duration (0.1..3600)");
    } else if (a == "--workload") {
      std::string s = value();
      size_t pos = 0;
      while (true) {
        size_t comma = s.find(',', pos);
        std::string w = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (w == "all") {
          o.workloads = kWorkloads;
          o.replication = true;
        } else if (w == "replication") {
          o.replication = true;  // a section of its own, not a cell (replication.h)
        } else if (std::find(kWorkloads.begin(), kWorkloads.end(), w) != kWorkloads.end()) {
          o.workloads.push_back(w);
        } else {
          bad("--workload '" + w + "'");
        }
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    } else if (a == "--target") {
      o.target = value();
    } else if (a == "--threads") {
      std::string s = value();
      char* end = nullptr;
      long t = strtol(s.c_str(), &end, 10);
      if (*end || t < 1 || t > 64) bad("--threads (1..64)");
      o.threads = int(t);
    } else if (a == "--soak") {
      o.soak = true;
    } else if (a == "--soak-minutes") {
      std::string s = value();
      char* end = nullptr;
      double m = strtod(s.c_str(), &end);
      if (*end || !(m >= 0.1 && m <= 24 * 60)) bad("--soak-minutes (0.1..1440)");
      o.soak_minutes = m;
    } else if (a == "--idle-connections") {
      std::string s = value();
      char* end = nullptr;
      long k = strtol(s.c_str(), &end, 10);
      if (*end || k < 100 || k > 1000000) bad("--idle-connections (100..1000000)");
      o.idle_connections = size_t(k);
    } else if (a == "--memory") {
      std::string s = value();
      char* end = nullptr;
      long k = strtol(s.c_str(), &end, 10);
      if (*end || k < 1000 || k > 5000000) bad("--memory (1000..5000000)");
      o.memory_nodes = size_t(k);
    } else if (a == "--events") {
      // An optional count: the next argument when it is a number.
      long k = 10000;
      if (has_eq || (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9')) {
        std::string s = value();
        char* end = nullptr;
        k = strtol(s.c_str(), &end, 10);
        if (*end || k < 1 || k > 100000) bad("--events (1..100000)");
      }
      o.event_subscribers = size_t(k);
    } else if (a == "--dashboards") {
      std::string s = value();
      char* end = nullptr;
      long k = strtol(s.c_str(), &end, 10);
      if (*end || k < 1 || k > 1000) bad("--dashboards (1..1000)");
      o.dashboard_streams = size_t(k);
    } else if (a == "--nodes") {
      std::string s = value();
      char* end = nullptr;
      long k = strtol(s.c_str(), &end, 10);
      if (*end || k < 1 || k > 500000) bad("--nodes (1..500000)");
      o.nodes = size_t(k);
    } else if (a == "--fresh-keys") {
      std::string s = value();
      char* end = nullptr;
      long k = strtol(s.c_str(), &end, 10);
      if (*end || k < 100 || k > 2000000) bad("--fresh-keys (100..2000000)");
      o.fresh_keys_cap = size_t(k);
    } else if (a == "--tmp-dir") {
      o.tmp_root = value();
    } else if (a == "--replication") {
      o.replication = true;
    } else if (a == "--tls") {
      o.tls = true;
    } else if (a == "--against-noop") {
      o.against_noop = true;
    } else if (a == "--self-test") {
      o.self_test = true;
    } else if (a == "--parser") {
      o.parser = true;
    } else {
      fprintf(stderr, "rendezvous-bench: unknown option %s\n", a.c_str());
      usage(2);
    }
  }
  return o;
}

struct Cell {
  std::string workload;
  int connections = 0;
  RunResult result;
  bool ran = false;
  std::string skipped;      // reason, when not run
  std::string reference;    // e.g. "noop 180 000 req/s"
  double ratio = NAN;
  std::string target;       // e.g. "≥ 0.7×": what the design promises for this ratio
  std::string note;
};

std::string ms(uint64_t ns) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", double(ns) / 1e6);
  return buf;
}

void print_cell_line(const Cell& c) {
  const RunResult& r = c.result;
  printf("[%-16s c=%-4d] %9s req/s  p50 %s ms  p99 %s ms  p999 %s ms  errors %llu  (%.2f s)",
         c.workload.c_str(), c.connections, thousands(r.rate).c_str(),
         ms(r.latency.quantile_ns(0.50)).c_str(), ms(r.latency.quantile_ns(0.99)).c_str(),
         ms(r.latency.quantile_ns(0.999)).c_str(), static_cast<unsigned long long>(r.errors()),
         r.elapsed_s);
  if (!c.reference.empty())
    printf("  vs %s → %s", c.reference.c_str(), ratio_text(c.ratio).c_str());
  if (!c.target.empty()) printf(" (target %s)", c.target.c_str());
  printf("\n");
  if (r.errors())
    printf("    errors: %llu error replies, %llu wrong type, %llu lost with a connection\n",
           static_cast<unsigned long long>(r.error_replies),
           static_cast<unsigned long long>(r.wrong_type),
           static_cast<unsigned long long>(r.conn_failures));
  int kinds = 0;
  for (int k = 0; k < kOpKinds; k++) kinds += r.ok_by_kind[k] > 0;
  if (kinds > 1) {
    for (int ki = 0; ki < kOpKinds; ki++) {
      if (r.ok_by_kind[ki] == 0) continue;
      OpKind k = OpKind(ki);
      const Histogram& h = r.latency_by_kind[int(k)];
      printf("    %-17s %5.1f%% of successes, %7s/s, p50 %s ms, p99 %s ms, p999 %s ms\n",
             op_kind_name(k), 100.0 * double(r.ok_by_kind[int(k)]) / double(r.ok),
             thousands(r.rate_by_kind[int(k)]).c_str(),
             ms(h.quantile_ns(0.5)).c_str(), ms(h.quantile_ns(0.99)).c_str(),
             ms(h.quantile_ns(0.999)).c_str());
    }
  }
  if (!c.note.empty()) printf("    note: %s\n", c.note.c_str());
  for (auto& s : r.error_samples) printf("    error sample: %s\n", s.c_str());
}

void on_signal(int) { g_interrupted = 1; }

// Signals (SIGINT/SIGTERM stop the run cleanly, SIGPIPE is ignored) and libsodium.
bool prepare_process() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (!crypto_init()) {
    fprintf(stderr, "rendezvous-bench: sodium_init failed\n");
    return false;
  }
  return true;
}

// ---- slow disk: a second server whose every fsync/fdatasync/msync takes 20 ms longer ----
//
// Started under tests/shim/slow_fsync.c (LD_PRELOAD, RENDEZVOUS_SLOW_FSYNC_MS; the supervisor
// passes its environment to the workers), with base nodes of its own. Two cells against it:
// lookups alone (no writes, so no fsync at all), then the same lookups while 8 connections
// register continuously. A registry whose loop waits for its commits answers the lookups only
// between fsyncs; one whose writer thread owns the commit keeps answering them.
struct SlowDisk {
  ServerProcess server;
  std::unique_ptr<Fixture> fx;
  bool ok = false;

  bool ready() const { return ok; }

  bool start(const std::string& bin_dir, const std::string& tmp, const std::string& tag,
             const RunSpec& setup_spec, std::string* error) {
    if (ok) return true;
    std::string want = bin_dir + "/../lib/libslowfsync.so";
    char resolved[PATH_MAX];
    if (!realpath(want.c_str(), resolved)) {
      *error = "slow-fsync shim " + want + " not found (the Makefile builds it with the bench)";
      return false;
    }
    std::string dir = tmp + "/slow-disk";
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = sys_error("mkdir(" + dir + ")");
      return false;
    }
    printf("\n## slow disk: a second server, every fsync/fdatasync/msync +%d ms (%s)\n",
           kSlowFsyncMs, resolved);
    server.extra_env = {std::string("LD_PRELOAD=") + resolved,
                        "RENDEZVOUS_SLOW_FSYNC_MS=" + std::to_string(kSlowFsyncMs)};
    if (!server.start(bin_dir, dir, error) || !server.wait_ready(30, error)) return false;
    // The supervisor itself runs under the shim if LD_PRELOAD took effect (its workers inherit
    // the same environment).
    std::ifstream maps("/proc/" + std::to_string(server.pid()) + "/maps");
    std::stringstream text;
    text << maps.rdbuf();
    if (text.str().find("libslowfsync.so") == std::string::npos) {
      *error = "the server does not run under the slow-fsync shim (LD_PRELOAD ignored?)";
      return false;
    }
    RunSpec setup = setup_spec;
    setup.host = "127.0.0.1";
    setup.port = server.registry_port();
    setup.accept_any = false;
    fx = std::make_unique<Fixture>(tag, false);
    if (!fx->prepare_base(setup, kSlowBaseNodes, 0, error)) return false;
    ok = true;
    return true;
  }
};

// Runs one slow-disk cell: lookups on `spec_in.connections` connections, alone or while
// kSlowWriterConns connections register fresh keys for the whole cell (warm-up included).
void run_slow_disk_cell(SlowDisk& slow, const RunSpec& spec_in, bool with_writers, Cell* cell) {
  RunSpec spec = spec_in;
  spec.host = "127.0.0.1";
  spec.port = slow.server.registry_port();
  spec.accept_any = false;
  SourceFactory lookups = slow.fx->lookup();
  if (!with_writers) {
    cell->result = run_closed_loop(spec, lookups);
  } else {
    RunSpec w = spec;
    w.connections = kSlowWriterConns;
    w.threads = 1;
    w.warmup_s = 0;
    w.duration_s = spec.warmup_s + spec.duration_s + 0.5;  // outlasts the lookups' window
    // A commit takes at least one slowed sync, and each writer has one request in flight, so
    // at most kSlowWriterConns registrations per kSlowFsyncMs.
    double bound = kSlowWriterConns * 1000.0 / kSlowFsyncMs;
    slow.fx->ensure_fresh(size_t(std::max(1000.0, bound * w.duration_s * 1.5)));
    SourceFactory registers = slow.fx->register_fresh();  // built here, used by the thread
    double commits0 = slow.server.metric("pilot_store_commits_total");
    double regs0 = slow.server.metric("pilot_registrations_total");
    RunResult wres;
    std::thread writers([&] { wres = run_closed_loop(w, registers); });
    cell->result = run_closed_loop(spec, lookups);
    writers.join();
    double commits = slow.server.metric("pilot_store_commits_total") - commits0;
    double regs = slow.server.metric("pilot_registrations_total") - regs0;
    char buf[320];
    snprintf(buf, sizeof buf,
             "meanwhile %d connections registered %s/s (p50 %s ms, p99 %s ms, errors %llu%s)",
             kSlowWriterConns, thousands(wres.rate).c_str(),
             ms(wres.latency.quantile_ns(0.5)).c_str(), ms(wres.latency.quantile_ns(0.99)).c_str(),
             static_cast<unsigned long long>(wres.errors()),
             wres.exhausted ? ", key pool ran out" : "");
    cell->note = buf;
    if (commits > 0 && regs > 0) {
      snprintf(buf, sizeof buf, "; %.0f registrations in %.0f commits", regs, commits);
      cell->note += buf;
    }
    for (auto& e : wres.error_samples) cell->note += "; writer error: " + e;
  }
  cell->ran = cell->result.setup_error.empty() && cell->result.elapsed_s > 0;
  if (!cell->ran)
    cell->skipped = !cell->result.setup_error.empty() ? cell->result.setup_error
                    : cell->result.interrupted        ? "interrupted during warm-up"
                                                      : "no measurement";
}


// ---- rate limiter on / off: two servers of their own for handshake and join ----
//
// Both started like the main server, in <tmp>/limiter-on and <tmp>/limiter-off, each with the
// same number of base nodes of its own, so the two differ only in their rate limits:
// Limits::Whitelisted (the limiter on with its default limits, 127.0.0.0/8 whitelisted) and
// Limits::Off (every limit 0). Started when their first cell comes, stopped at the end.
struct LimiterServer {
  Limits limits;
  const char* label;  // "on" / "off", for the directory and the messages
  ServerProcess server;
  std::unique_ptr<Fixture> fx;
  bool ok = false;
  std::string failed;  // why the first start failed: later cells do not try again

  LimiterServer(Limits l, const char* name) : limits(l), label(name) {}

  bool start(const std::string& bin_dir, const std::string& tmp, const std::string& tag,
             const RunSpec& setup_spec, size_t nodes, std::string* error) {
    if (ok) return true;
    if (failed.empty() && !try_start(bin_dir, tmp, tag, setup_spec, nodes, &failed)) {
      if (failed.empty()) failed = "start failed";
    }
    if (!failed.empty()) *error = failed;
    return failed.empty();
  }

  bool try_start(const std::string& bin_dir, const std::string& tmp, const std::string& tag,
                 const RunSpec& setup_spec, size_t nodes, std::string* error) {
    std::string dir = tmp + "/limiter-" + label;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = sys_error("mkdir(" + dir + ")");
      return false;
    }
    printf("\n## rate limiter %s: a server of its own (%s), %zu base nodes\n", label,
           limits == Limits::Off ? "-rate-limit-global 0 -rate-limit-per-ip 0 "
                                   "-rate-limit-per-conn 0"
                                 : "default limits, -rate-limit-whitelist with 127.0.0.0/8",
           nodes);
    server.limits = limits;
    if (!server.start(bin_dir, dir, error) || !server.wait_ready(30, error)) return false;
    fx = std::make_unique<Fixture>(tag, false);
    if (!fx->prepare_base(setup(setup_spec), nodes, 0, error)) return false;
    ok = true;
    return true;
  }

  RunSpec setup(const RunSpec& spec_in) const {
    RunSpec spec = spec_in;
    spec.host = "127.0.0.1";
    spec.port = server.registry_port();
    spec.accept_any = false;
    return spec;
  }
};

// One handshake or join cell against `ls` (started on first use, with `nodes` base nodes; the
// chains are prepared on first use, `pairs` handshake pairs and `joiners` joining nodes).
// Reference: the Ed25519 verify rate on every core, since every request is signed and verified
// (3 per handshake round, 1 per join or leave) and is a durable write, like a registration.
void run_limiter_cell(LimiterServer& ls, const std::string& bin_dir, const std::string& tmp,
                      const std::string& tag, const RunSpec& setup_spec, size_t nodes,
                      size_t pairs, size_t joiners, const RunSpec& spec_in,
                      double verify_rate_all, unsigned cores, Cell* cell) {
  const bool handshake = base_workload(cell->workload) == "handshake";
  std::string err;
  if (!ls.ok && !ls.start(bin_dir, tmp, tag + (ls.limits == Limits::Off ? "f" : "n"), setup_spec,
                          nodes, &err)) {
    cell->skipped = "limiter-" + std::string(ls.label) + " server: " + err;
    return;
  }
  RunSpec setup = ls.setup(setup_spec);
  const ChainSet* chains = nullptr;
  SourceFactory factory;
  if (handshake) {
    ls.fx->prepare_handshakes(pairs);
    chains = &ls.fx->handshake_chains();
    factory = ls.fx->handshake();
  } else {
    if (!ls.fx->prepare_join(setup, joiners, kAdminToken, &err)) {
      cell->skipped = err;
      return;
    }
    chains = &ls.fx->join_chains();
    factory = ls.fx->join();
  }
  size_t live0 = chains->live();
  if (live0 <= size_t(spec_in.connections)) {
    cell->skipped = "only " + std::to_string(live0) + " usable chains left for " +
                    std::to_string(spec_in.connections) + " connections";
    return;
  }
  RunSpec spec = spec_in;
  spec.host = setup.host;
  spec.port = setup.port;
  spec.accept_any = false;
  spec.warmup_s = spec_in.warmup_s + kLimiterGraceS;
  cell->result = run_closed_loop(spec, factory);
  const RunResult& r = cell->result;
  cell->ran = r.setup_error.empty() && r.elapsed_s > 0;
  if (!cell->ran) {
    cell->skipped = !r.setup_error.empty() ? r.setup_error
                    : r.interrupted        ? "interrupted during warm-up"
                    : r.exhausted          ? "every chain failed during the warm-up"
                                           : "no measurement";
    if (!r.error_samples.empty()) cell->skipped += " (" + r.error_samples.front() + ")";
    return;
  }
  if (verify_rate_all > 0) {
    cell->reference = "ed25519 " + thousands(verify_rate_all) + " verify/s on " +
                      std::to_string(cores) + " threads";
    cell->ratio = r.rate / verify_rate_all;  // one verified signature per request
  }
  char buf[320];
  size_t retired = live0 - chains->live();
  if (handshake) {
    snprintf(buf, sizeof buf,
             "%s rounds/s (completed respond_handshake; request_handshake + poll_handshakes + "
             "respond_handshake, 3 signatures each) over %zu pairs; %zu pairs retired "
             "(in flight at the end, or failed)",
             thousands(r.rate_by_kind[int(OpKind::RespondHandshake)]).c_str(), live0, retired);
  } else {
    snprintf(buf, sizeof buf,
             "%s joins/s + %s leaves/s over %zu nodes, open network %u; %zu nodes retired "
             "(in flight at the end, or failed)",
             thousands(r.rate_by_kind[int(OpKind::JoinNetwork)]).c_str(),
             thousands(r.rate_by_kind[int(OpKind::LeaveNetwork)]).c_str(), live0,
             ls.fx->join_network_id(), retired);
  }
  cell->note = buf;
  cell->note += ls.limits == Limits::Off ? "; rate limiter off (all limits 0)"
                                         : "; rate limiter on, loopback whitelisted";
  char warm[96];
  snprintf(warm, sizeof warm, "; %.1f s warm-up (the limiter's 5 s grace per connection, + %.1f s)",
           spec.warmup_s, spec_in.warmup_s);
  cell->note += warm;
  if (r.exhausted) cell->note += "; no ready chain left before the end: the rate is over the time it ran";
}

// The replication section (replication.h): pairs of instances of its own, after the cells.
int run_replication_section(const Options& opt) {
  ReplicationOptions r;
  r.bin_dir = opt.bin_dir;
  r.tmp_root = opt.tmp_root;
  r.window_s = opt.duration_s;
  r.threads = opt.threads;
  return run_replication(r);
}

bool is_loopback_v4(const std::string& host) {
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24) == 127;
}

int run(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  Options opt = parse_options(argc, argv);
  if (opt.self_test) return run_self_test();
  if (opt.soak || opt.idle_connections) {
    SoakOptions so;
    so.bin_dir = opt.bin_dir;
    so.tmp_root = opt.tmp_root.empty() ? opt.bin_dir + "/.." : opt.tmp_root;
    so.minutes = opt.soak_minutes;
    if (opt.idle_connections) so.idle_connections = opt.idle_connections;
    so.idle_only = !opt.soak;
    return run_soak(so);
  }
  if (opt.parser) return run_parser_bench(opt.duration_explicit ? opt.duration_s : 1.0);
  if (opt.memory_nodes) {
    std::string root = opt.tmp_root.empty() ? opt.bin_dir + "/.." : opt.tmp_root;
    return run_memory(opt.bin_dir, root, opt.memory_nodes);
  }
  if (opt.event_subscribers) {
    if (!prepare_process()) return 1;
    std::string root = opt.tmp_root.empty() ? opt.bin_dir + "/.." : opt.tmp_root;
    return run_events(opt.bin_dir, root, opt.event_subscribers);
  }
  if (opt.dashboard_streams) {
    std::string root = opt.tmp_root.empty() ? opt.bin_dir + "/.." : opt.tmp_root;
    return run_dashboards(opt.bin_dir, root, opt.dashboard_streams);
  }

  if (opt.tls) {
    if (!prepare_process()) return 1;
    printf("# rendezvous-bench --tls\n%s", machine_facts().c_str());
    TlsBenchOptions t;
    t.bin_dir = opt.bin_dir;
    t.tmp_root = opt.tmp_root.empty() ? opt.bin_dir + "/.." : opt.tmp_root;
    t.window_s = opt.duration_s;
    return run_tls_bench(t);
  }
  if (opt.replication && opt.workloads.empty() && opt.connections.empty()) {
    if (!prepare_process()) return 1;
    printf("# rendezvous-bench --replication\n%s", machine_facts().c_str());
    return run_replication_section(opt);
  }

  // Fork the noop reference first: no thread exists yet.
  NoopServer noop;
  std::string err;
  if (!noop.start(&err)) {
    fprintf(stderr, "rendezvous-bench: noop server: %s\n", err.c_str());
    return 1;
  }

  if (!prepare_process()) return 1;

  // ---- plan ----
  bool default_table = opt.connections.empty() && opt.workloads.empty();
  std::vector<Cell> plan;
  auto add = [&](const std::string& w, int c) {
    for (auto& x : plan)
      if (x.workload == w && x.connections == c) return;
    Cell cell;
    cell.workload = w;
    cell.connections = c;
    plan.push_back(cell);
  };
  if (default_table) {
    add("noop", 64);
    add("lookup", 64);
    add("noop", 256);
    add("lookup", 256);
    for (const char* w : {"resolve_hostname", "heartbeat", "register", "heartbeat_first"})
      add(w, 64);
    add("mixed", 256);  // right after noop 256 would be fairer, but it needs the fresh-key nodes
    for (const char* w : {"handshake", "join"}) {
      add(std::string(w) + kLimiterOn, 64);
      add(std::string(w) + kLimiterOff, 64);
    }
    add(kSlowAlone, 128);
    add(kSlowWriters, 128);
  } else {
    std::vector<int> conns = opt.connections.empty() ? std::vector<int>{64} : opt.connections;
    std::vector<std::string> ws = opt.workloads;
    if (ws.empty()) ws = kWorkloads;
    for (int c : conns) {
      for (const auto& w : kWorkloads) {
        if (std::find(ws.begin(), ws.end(), w) == ws.end()) continue;
        // lookup / resolve_hostname / mixed are compared with noop at the same connections.
        if (w == "lookup" || w == "resolve_hostname" || w == "mixed") add("noop", c);
        if (w == "slow_disk") {
          int lookups = opt.connections.empty() ? 128 : c;
          add(kSlowAlone, lookups);
          add(kSlowWriters, lookups);
          continue;
        }
        if (w == "handshake" || w == "join") {
          add(w + kLimiterOn, c);
          add(w + kLimiterOff, c);
          continue;
        }
        add(w, c);
      }
    }
    // noop cells run right before the first cell they are the reference of.
    std::stable_sort(plan.begin(), plan.end(), [](const Cell& a, const Cell& b) {
      auto rank = [](const Cell& c) {
        auto it = std::find(kWorkloads.begin(), kWorkloads.end(), base_workload(c.workload));
        return int(it - kWorkloads.begin());
      };
      if (rank(a) != rank(b)) return rank(a) < rank(b);
      return a.connections < b.connections;
    });
  }
  bool need_base = false, need_heartbeat = false, need_own = false;
  // Chains the limiter servers need: kChainsPerConnection per connection of every cell of the
  // workload against one server (a cell retires the chains still in flight when it ends).
  size_t handshake_pairs = 0, join_nodes = 0;
  for (auto& c : plan) {
    bool own = own_server_cell(c.workload);
    need_own |= own;
    need_base |= c.workload != "noop" && !own;
    need_heartbeat |= c.workload == "heartbeat" || c.workload == "mixed";
    if (c.workload == std::string("handshake") + kLimiterOn)
      handshake_pairs += kChainsPerConnection * size_t(c.connections);
    if (c.workload == std::string("join") + kLimiterOn)
      join_nodes += kChainsPerConnection * size_t(c.connections);
  }
  // Pair i is base nodes 2i and 2i+1; the joining nodes are the first ones, plus the network's
  // creator.
  const size_t limiter_nodes = std::max<size_t>({2, 2 * handshake_pairs, join_nodes + 1});

  // ---- machine facts and temp dir ----
  std::string tmp_root = opt.tmp_root;
  if (tmp_root.empty()) {
    // The project's build dir (bin-dir's parent): same filesystem as the project. Without a
    // usable bin-dir (e.g. --target), the current directory.
    std::error_code ec;
    tmp_root = ".";
    if (std::filesystem::is_directory(opt.bin_dir, ec)) {
      auto p = std::filesystem::canonical(std::filesystem::path(opt.bin_dir) / "..", ec);
      if (!ec) tmp_root = p.string();
    }
  }
  std::string tmp = make_temp_dir(tmp_root, &err);
  if (tmp.empty()) {
    fprintf(stderr, "rendezvous-bench: %s\n", err.c_str());
    return 1;
  }
  printf("# rendezvous-bench\n%s", machine_facts().c_str());
  bool own_server = !opt.against_noop && opt.target.empty() && need_base;
  printf("temp dir: %s (filesystem %s; holds the fdatasync probe%s)\n", tmp.c_str(),
         filesystem_type(tmp).c_str(), (own_server || need_own) ? " and the servers' data dirs" : "");
  printf("load generator: %d thread(s), closed loop (one request in flight per connection), "
         "%.1f s per cell after %.1f s uncounted warm-up\n",
         opt.threads, opt.duration_s, std::min(1.0, opt.duration_s / 10));

  int exit_code = 0;
  ServerProcess server;
  RunSpec base_spec;
  base_spec.threads = opt.threads;
  base_spec.duration_s = opt.duration_s;
  base_spec.warmup_s = std::min(1.0, opt.duration_s / 10);

  // ---- references that need no server ----
  printf("\n## reference figures (same run)\n");
  SyncFigure sync = measure_fdatasync(tmp, 1.0);
  if (sync.error.empty())
    printf("fdatasync: %s syncs/s (mean %.3f ms; 4 KiB pwrite + fdatasync, %s)\n",
           thousands(sync.syncs_per_s).c_str(), sync.mean_ms, filesystem_type(tmp).c_str());
  else
    printf("fdatasync: failed: %s\n", sync.error.c_str());
  double verify_rate = measure_ed25519_verify(1.0);
  printf("ed25519: %s verifies/s on one core (crypto_sign_verify_detached, libsodium %s)\n",
         thousands(verify_rate).c_str(), sodium_version_string());
  // What a server verifying one signature per request could reach on all of this machine's
  // cores (the server under test runs here too, so that is its CPU bound).
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  double verify_rate_all = measure_ed25519_verify_threads(1.0, cores);
  printf("ed25519: %s verifies/s on %u threads (hardware_concurrency)\n",
         thousands(verify_rate_all).c_str(), cores);

  // ---- the server under test ----
  std::string target_desc;
  if (opt.against_noop) {
    base_spec.port = noop.port();
    base_spec.accept_any = true;
    target_desc = "the noop server (self-test: any reply counts)";
  } else if (!opt.target.empty()) {
    std::string host;
    int port = 0;
    if (!split_host_port(opt.target, &host, &port) || port <= 0) {
      fprintf(stderr, "rendezvous-bench: --target must be host:port\n");
      exit_code = 2;
    } else {
      if (host == "localhost") host = "127.0.0.1";
      if (!is_loopback_v4(host)) {
        fprintf(stderr, "rendezvous-bench: --target must be a 127.0.0.0/8 address\n");
        exit_code = 2;
      }
      base_spec.host = host;
      base_spec.port = uint16_t(port);
      target_desc = "running server at " + host + ":" + std::to_string(port) +
                    " (its data dir and rate limits are not ours)";
    }
  } else if (need_base) {
    if (!server.start(opt.bin_dir, tmp, &err) || !server.wait_ready(30, &err)) {
      fprintf(stderr, "rendezvous-bench: server under test: %s\n", err.c_str());
      exit_code = 1;
    } else {
      base_spec.port = server.registry_port();
      target_desc = opt.bin_dir + "/rendezvous on 127.0.0.1:" +
                    std::to_string(server.registry_port()) + ", data dir " +
                    server.data_dir() + " (" + filesystem_type(server.data_dir()) +
                    "), rate limiter off (-rate-limit-global/-per-ip/-per-conn 0)";
    }
  }
  if (exit_code == 0 && need_base) printf("server under test: %s\n", target_desc.c_str());

  // ---- setup ----
  unsigned char tag_bytes[3];
  randombytes_buf(tag_bytes, sizeof tag_bytes);
  char tag[8];
  snprintf(tag, sizeof tag, "%02x%02x%02x", tag_bytes[0], tag_bytes[1], tag_bytes[2]);
  Fixture fx(tag, base_spec.accept_any);
  RunSpec setup_spec = base_spec;
  setup_spec.connections = 32;
  setup_spec.duration_s = 0;
  std::string probe_fresh, probe_warm;
  if (exit_code == 0 && need_base && !g_interrupted) {
    printf("\n## setup (untimed)\n");
    if (!fx.prepare_base(setup_spec, opt.nodes, std::min<size_t>(opt.nodes, 10000), &err)) {
      fprintf(stderr, "rendezvous-bench: setup: %s\n", err.c_str());
      exit_code = 1;
    } else if (need_heartbeat) {
      probe_fresh = fx.probe_bad_heartbeat(setup_spec, 0);
    }
  }

  // ---- cells ----
  std::map<int, double> noop_rate, lookup_rate;
  double slow_alone_rate = NAN;
  SlowDisk slow;
  LimiterServer limiter_on(Limits::Whitelisted, "on"), limiter_off(Limits::Off, "off");
  // Rates of the limiter cells by workload and connections, for the on/off comparison.
  std::map<std::pair<std::string, int>, double> limiter_on_rate, limiter_off_rate;
  const double cap = double(opt.fresh_keys_cap);
  const double cell_s = opt.duration_s + base_spec.warmup_s;
  if (exit_code == 0) printf("\n## cells\n");
  for (auto& cell : plan) {
    if (exit_code != 0 || g_interrupted) break;
    RunSpec spec = base_spec;
    spec.connections = cell.connections;
    SourceFactory factory;
    const std::string& w = cell.workload;
    if (w == kSlowAlone || w == kSlowWriters) {
      if (opt.against_noop || !opt.target.empty()) {
        cell.skipped = "needs a server of its own, started under the slow-fsync shim";
        printf("[%-16s c=%-4d] not run: %s\n", w.c_str(), cell.connections, cell.skipped.c_str());
        continue;
      }
      if (!slow.ready() && !slow.start(opt.bin_dir, tmp, std::string(tag) + "s", setup_spec, &err)) {
        cell.skipped = err;
        printf("[%-16s c=%-4d] not run: %s\n", w.c_str(), cell.connections, cell.skipped.c_str());
        continue;
      }
      run_slow_disk_cell(slow, spec, w == kSlowWriters, &cell);
      if (!cell.ran) {
        printf("[%-16s c=%-4d] not run: %s\n", w.c_str(), cell.connections, cell.skipped.c_str());
        continue;
      }
      if (w == kSlowAlone) {
        slow_alone_rate = cell.result.rate;
      } else if (std::isfinite(slow_alone_rate) && slow_alone_rate > 0) {
        cell.reference = "slow:lookup alone " + thousands(slow_alone_rate) + " req/s";
        cell.ratio = cell.result.rate / slow_alone_rate;
        cell.target = "≥ 0.9×";
      }
      print_cell_line(cell);
      continue;
    }
    if (base_workload(w) == "handshake" || base_workload(w) == "join") {
      if (opt.against_noop || !opt.target.empty()) {
        cell.skipped = "needs servers of its own, with known rate limits";
        printf("[%-16s c=%-4d] not run: %s\n", w.c_str(), cell.connections, cell.skipped.c_str());
        continue;
      }
      run_limiter_cell(ends_with(w, kLimiterOn) ? limiter_on : limiter_off, opt.bin_dir, tmp,
                       tag, setup_spec, limiter_nodes, handshake_pairs, join_nodes, spec,
                       verify_rate_all, cores, &cell);
      if (!cell.ran) {
        printf("[%-16s c=%-4d] not run: %s\n", w.c_str(), cell.connections, cell.skipped.c_str());
        continue;
      }
      auto key = std::make_pair(base_workload(w), cell.connections);
      (ends_with(w, kLimiterOn) ? limiter_on_rate : limiter_off_rate)[key] = cell.result.rate;
      print_cell_line(cell);
      continue;
    }
    if (w == "noop") {
      spec.host = "127.0.0.1";
      spec.port = noop.port();
      spec.accept_any = true;
      // Any node ids will do: the noop server does not look at the request.
      factory = [](int, int) {
        auto n = std::make_shared<uint32_t>(0);
        return std::make_unique<LambdaSource>([n](std::string* out, Op* op) {
          std::string body =
              R"({"type":"lookup","node_id":)" + std::to_string(++*n % 20000 + 1) + "}";
          rdv::wire::append_json_frame(*out, body);
          *op = Op{OpKind::Lookup, "lookup_ok", 0};
          return true;
        });
      };
    } else if (w == "lookup") {
      factory = fx.lookup();
    } else if (w == "resolve_hostname") {
      if (fx.base_public() == 0) {
        cell.skipped = "no public node with a hostname";
        continue;
      }
      factory = fx.resolve_hostname();
    } else if (w == "heartbeat") {
      if (!fx.warm_heartbeats(setup_spec, &err)) {
        fprintf(stderr, "rendezvous-bench: heartbeat warm-up: %s\n", err.c_str());
        exit_code = 1;
        break;
      }
      if (probe_warm.empty()) probe_warm = fx.probe_bad_heartbeat(setup_spec, 0);
      factory = fx.heartbeat_steady();
    } else if (w == "register") {
      // Each signed registration costs the server one Ed25519 verify, so the verify rate on all
      // cores bounds it; 20 % head-room.
      fx.ensure_fresh(size_t(
          std::max(1000.0, std::min(cap, std::max(verify_rate, verify_rate_all) * cell_s * 1.2))));
      // A shared disk's sync rate drifts a lot: measure it again right before the cell.
      SyncFigure again = measure_fdatasync(tmp, 1.0);
      if (again.error.empty()) {
        printf("  fdatasync re-measured before register: %s syncs/s (mean %.3f ms)\n",
               thousands(again.syncs_per_s).c_str(), again.mean_ms);
        sync = again;
      }
      factory = fx.register_fresh();
    } else if (w == "heartbeat_first") {
      size_t want = size_t(std::max(1000.0, std::min(cap, verify_rate * cell_s * 1.2)));
      if (!fx.ensure_first_heartbeat_nodes(setup_spec, want, &err)) {
        fprintf(stderr, "rendezvous-bench: first-heartbeat nodes: %s\n", err.c_str());
        exit_code = 1;
        break;
      }
      factory = fx.heartbeat_first();
    } else if (w == "mixed") {
      if (!fx.warm_heartbeats(setup_spec, &err)) {
        fprintf(stderr, "rendezvous-bench: heartbeat warm-up: %s\n", err.c_str());
        exit_code = 1;
        break;
      }
      double est = lookup_rate.count(cell.connections) ? lookup_rate[cell.connections] : 50000;
      fx.ensure_fresh(size_t(std::max(1000.0, std::min(cap, 0.05 * est * cell_s * 1.5))));
      factory = fx.mixed();
    }
    // Group commit shows in the server's own counters: registrations per LMDB commit.
    double commits0 = server.metric("pilot_store_commits_total");
    double regs0 = server.metric("pilot_registrations_total");
    cell.result = run_closed_loop(spec, factory);
    double commits = server.metric("pilot_store_commits_total") - commits0;
    double regs = server.metric("pilot_registrations_total") - regs0;
    cell.ran = cell.result.setup_error.empty() && cell.result.elapsed_s > 0;
    if (!cell.ran) {
      cell.skipped = !cell.result.setup_error.empty() ? cell.result.setup_error
                     : cell.result.interrupted       ? "interrupted during warm-up"
                                                     : "the precomputed pool ran out during the "
                                                       "warm-up (raise --fresh-keys)";
      printf("[%-16s c=%-4d] not run: %s\n", w.c_str(), cell.connections, cell.skipped.c_str());
      continue;
    }
    const RunResult& r = cell.result;
    if (w == "noop") noop_rate[cell.connections] = r.rate;
    if (w == "lookup") lookup_rate[cell.connections] = r.rate;
    if ((w == "lookup" || w == "resolve_hostname" || w == "mixed") &&
        noop_rate.count(cell.connections)) {
      cell.reference = "noop " + thousands(noop_rate[cell.connections]) + " req/s";
      cell.ratio = noop_rate[cell.connections] > 0 ? r.rate / noop_rate[cell.connections] : NAN;
      if (w == "mixed") cell.target = "≥ 0.7×";
    } else if (w == "heartbeat" || w == "heartbeat_first") {
      cell.reference = "ed25519 " + thousands(verify_rate) + " verify/s";
      cell.ratio = verify_rate > 0 ? r.rate / verify_rate : NAN;
    } else if (w == "register") {
      // Each signed durable registration costs the server one verify: the verify rate on every
      // core is its CPU bound, and group commit must keep fsync from being the bound instead.
      if (verify_rate_all > 0) {
        cell.reference = "ed25519 " + thousands(verify_rate_all) + " verify/s on " +
                         std::to_string(cores) + " threads";
        cell.ratio = r.rate / verify_rate_all;
        cell.target = "≥ 0.8×";
      }
      cell.note = "Go server: " + thousands(kGoRegisterRate) + " registrations/s → this run " +
                  ratio_text(r.rate / kGoRegisterRate) + " of it";
      if (sync.syncs_per_s > 0)
        cell.note += "; = " + ratio_text(r.rate / sync.syncs_per_s) + " the single-fdatasync rate " +
                     thousands(sync.syncs_per_s) + "/s (group commit target ≥ 20×)";
    }
    auto add_note = [&](const std::string& n) { cell.note += (cell.note.empty() ? "" : "; ") + n; };
    if (r.exhausted) {
      char buf[128];
      snprintf(buf, sizeof buf,
               "precomputed pool ran out after %.2f s; the rate is over that time "
               "(raise --fresh-keys)",
               r.elapsed_s);
      add_note(buf);
    }
    if (r.interrupted) add_note("interrupted");
    if (w == "register" && commits > 0 && regs > 0) {
      char buf[160];
      snprintf(buf, sizeof buf, "%.0f registrations in %.0f durable commits: %.1f per commit (group commit)", regs,
               commits, regs / commits);
      add_note(buf);
    }
    print_cell_line(cell);
  }
  if (g_interrupted) exit_code = 130;

  // ---- verify-cache probes ----
  if (!probe_fresh.empty() || !probe_warm.empty()) {
    printf("\nverify-cache probe (heartbeat with a wrong signature, §4.5):\n");
    if (!probe_fresh.empty())
      printf("  node never heartbeated:      %s\n"
             "      (expected: rejected → first heartbeats are verified)\n",
             probe_fresh.c_str());
    if (!probe_warm.empty())
      printf("  node verified < 60 s before: %s\n"
             "      (expected: accepted → steady-state heartbeats skip the verify)\n",
             probe_warm.c_str());
  }

  // ---- summary ----
  bool any = false;
  for (auto& c : plan) any |= c.ran;
  if (any) {
    printf("\n## summary\n\n");
    printf("| workload | connections | req/s | p50 ms | p99 ms | p999 ms | errors | reference "
           "| ratio | target |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---|---:|---|\n");
    for (auto& c : plan) {
      if (!c.ran) continue;
      const RunResult& r = c.result;
      std::string name = c.workload;
      const std::string base = base_workload(c.workload);
      if (c.workload == "heartbeat") name = "heartbeat (steady, cached)";
      if (c.workload == "heartbeat_first") name = "heartbeat (first, verified)";
      if (base == "handshake" || base == "join") {
        bool hs = base == "handshake";
        name = base +
               (ends_with(c.workload, kLimiterOn) ? " (limiter on, loopback whitelisted): "
                                                   : " (limiter off): ") +
               thousands(r.rate_by_kind[int(hs ? OpKind::RespondHandshake : OpKind::JoinNetwork)]) +
               (hs ? " rounds/s" : " joins/s");
      }
      if (r.exhausted) name += " *";
      if (r.interrupted) name += " (interrupted)";
      if (c.workload == kSlowWriters) name += " (" + std::to_string(kSlowWriterConns) + " writers)";
      printf("| %s | %d | %s | %s | %s | %s | %llu | %s | %s | %s |\n", name.c_str(),
             c.connections, thousands(r.rate).c_str(), ms(r.latency.quantile_ns(0.50)).c_str(),
             ms(r.latency.quantile_ns(0.99)).c_str(), ms(r.latency.quantile_ns(0.999)).c_str(),
             static_cast<unsigned long long>(r.errors()),
             c.reference.empty() ? "-" : c.reference.c_str(), ratio_text(c.ratio).c_str(),
             c.target.empty() ? "-" : c.target.c_str());
    }
    printf("\n");
    bool starred = false;
    for (auto& c : plan) starred |= c.ran && c.result.exhausted;
    if (starred) printf("* the precomputed key/node pool ran out before the end of the cell; the "
                        "rate is over the time it ran.\n");
    for (auto& [key, on] : limiter_on_rate) {
      auto off = limiter_off_rate.find(key);
      if (off == limiter_off_rate.end() || !(off->second > 0)) continue;
      printf("rate limiter cost, %s at %d connections: limiter on (loopback whitelisted) %s req/s "
             "vs off %s req/s → %s\n",
             key.first.c_str(), key.second, thousands(on).c_str(), thousands(off->second).c_str(),
             ratio_text(on / off->second).c_str());
    }
    printf(
        "req/s counts only replies that passed the check (right \"type\", no \"error\" key), "
        "completed inside the cell's window; latency = send → complete reply, successes only.\n"
        "noop: lookup frames against a forked single-threaded libevent server replying a fixed "
        "%zu-byte lookup_ok-like body (ratio = registry / noop at the same connections).\n"
        "heartbeat (steady): base nodes in turn, each verified < 60 s earlier (server's 120 s "
        "cache hits); heartbeat (first): nodes registered but never heartbeated, one request "
        "each (server must verify). Ratio = rate / single-core ed25519 verify rate.\n"
        "register: brand-new precomputed key pairs, signed, durable, listen_addr %s, one "
        "registration per key; ratio = rate / ed25519 verify rate on every core "
        "(hardware_concurrency threads), the CPU bound of one verify per registration; "
        "the Go server's %s/s and the single-fdatasync ratio are in the cell's note.\n"
        "mixed: 70 %% lookup, 25 %% heartbeat (steady), 5 %% register (fresh keys), vs noop at "
        "the same connections.\n"
        "handshake: trust-handshake rounds between pairs of base nodes (request_handshake A→B, "
        "poll_handshakes B, respond_handshake B accepts A; a pair's next step only after the "
        "last one's reply), req/s = all three; join: join_network then leave_network of one "
        "open network, per node in turn. Each runs against two servers of its own, with the "
        "rate limiter on (default limits, 127.0.0.0/8 whitelisted) and off (all limits 0); "
        "ratio = req/s (one verified signature each) / ed25519 verify rate on every core.\n"
        "slow:lookup: lookups on a second server whose every fsync/fdatasync/msync takes "
        "+%d ms (LD_PRELOAD shim), no writes; slow:lookup+reg: the same while %d connections "
        "register continuously (ratio = with writers / alone: commits must not hold up reads).\n",
        NoopServer::reply_body().size(), kListenAddr, thousands(kGoRegisterRate).c_str(),
        kSlowFsyncMs, kSlowWriterConns);
  }

  // ---- tear down ----
  if (own_server) {
    std::string how = server.stop();
    if (!how.empty()) printf("server under test stopped: %s\n", how.c_str());
    if (how != "exit 0" && !how.empty()) {
      printf("server log tail:\n%s\n", server.log_tail(1500).c_str());
    }
  }
  for (LimiterServer* ls : {&limiter_on, &limiter_off}) {
    if (ls->server.pid() <= 0) continue;
    std::string how = ls->server.stop();
    printf("limiter-%s server stopped: %s\n", ls->label, how.c_str());
    if (how != "exit 0")
      printf("limiter-%s server log tail:\n%s\n", ls->label, ls->server.log_tail(1500).c_str());
  }
  if (slow.server.pid() > 0) {
    std::string how = slow.server.stop();
    printf("slow-disk server stopped: %s\n", how.c_str());
    if (how != "exit 0") printf("slow-disk server log tail:\n%s\n", slow.server.log_tail(1500).c_str());
  }
  noop.stop();
  remove_tree(tmp);
  if (exit_code == 0 && !any && !plan.empty()) exit_code = 1;
  // The replication section runs last, on servers of its own, once the others are stopped.
  if ((default_table || opt.replication) && exit_code == 0 && !g_interrupted &&
      !opt.against_noop && opt.target.empty()) {
    int rc = run_replication_section(opt);
    if (rc != 0) exit_code = rc;
  }
  return exit_code;
}

}  // namespace
}  // namespace rdv::bench

int main(int argc, char** argv) { return rdv::bench::run(argc, argv); }
