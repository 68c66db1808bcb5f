#include "metrics.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "util.h"

namespace rdv::metrics {

size_t type_index(std::string_view type) {
  static const std::unordered_map<std::string_view, size_t> index = [] {
    std::unordered_map<std::string_view, size_t> m;
    for (size_t i = 0; i < kUnknownType; i++) m.emplace(kMessageTypes[i], i);
    return m;
  }();
  auto it = index.find(type);
  return it == index.end() ? kUnknownType : it->second;
}

RegistryPage* map_registry_page(const std::string& path, bool writable, std::string* error) {
  // O_NOFOLLOW: the page lives in the run dir; a symlink planted there must not make the
  // registry truncate and scribble over (or the admin worker serve) a file of someone's choosing.
  UniqueFd fd(::open(path.c_str(), (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    *error = path + ": " + sys_error("open");
    return nullptr;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    *error = path + ": " + sys_error("fstat");
    return nullptr;
  }
  bool fresh = size_t(st.st_size) < sizeof(RegistryPage);
  if (fresh) {
    if (!writable) {
      *error = path + ": metrics page not initialised yet";
      return nullptr;
    }
    if (ftruncate(fd.get(), sizeof(RegistryPage)) != 0) {
      *error = path + ": " + sys_error("ftruncate");
      return nullptr;
    }
  }
  void* p = mmap(nullptr, sizeof(RegistryPage), writable ? PROT_READ | PROT_WRITE : PROT_READ,
                 MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) {
    *error = path + ": " + sys_error("mmap");
    return nullptr;
  }
  auto* page = static_cast<RegistryPage*>(p);
  if (writable && (fresh || page->magic != kPageMagic || page->type_count != kTypeCount)) {
    // New file or a page from a different build: start from zero (the file's pages are
    // zero-filled by ftruncate, and all-zero bytes are valid atomics).
    std::memset(static_cast<void*>(page), 0, sizeof(RegistryPage));
    page->type_count = kTypeCount;
    page->started_unix.store(unix_now());
    page->magic = kPageMagic;
  }
  if (!writable && page->magic != kPageMagic) {
    unmap_registry_page(page);
    *error = path + ": not a metrics page of this build";
    return nullptr;
  }
  return page;
}

void unmap_registry_page(RegistryPage* page) {
  // munmap fails only for an address that is not a mapping of ours: an invariant, not an
  // input error.
  if (!page) return;
  const int rc = munmap(page, sizeof(RegistryPage));
  RDV_ASSERT(rc == 0);
}

void observe(RegistryPage* page, size_t type, int64_t duration_ns, bool error) {
  if (!page) return;
  TypeStats& t = page->types[type < kTypeCount ? type : kUnknownType];
  t.requests.fetch_add(1, std::memory_order_relaxed);
  if (error) t.errors.fetch_add(1, std::memory_order_relaxed);
  double sec = double(duration_ns) / 1e9;
  for (size_t i = 0; i < kBucketCount; i++) {
    if (sec <= kBuckets[i]) {
      t.bucket[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  t.count.fetch_add(1, std::memory_order_relaxed);
  t.sum_ns.fetch_add(uint64_t(duration_ns < 0 ? 0 : duration_ns), std::memory_order_relaxed);
}

std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // Shortest representation that round-trips.
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}
void sample(std::string& out, std::string_view name, double v) {
  out += name;
  out += ' ';
  out += format_number(v);
  out += '\n';
}

namespace {
uint64_t ld(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }
}  // namespace

void observe(Histogram& h, const double (&bounds)[kPipelineBucketCount], double value, uint64_t sum_units) {
  for (size_t i = 0; i < kPipelineBucketCount; i++)
    if (value <= bounds[i]) {
      h.bucket[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  h.count.fetch_add(1, std::memory_order_relaxed);
  h.sum.fetch_add(sum_units, std::memory_order_relaxed);
}

namespace {
void render_histogram(std::string& out, const char* name, const char* help, const Histogram& h,
                      const double (&bounds)[kPipelineBucketCount], double sum_scale) {
  family(out, name, "histogram", help);
  uint64_t cum = 0;
  for (size_t b = 0; b < kPipelineBucketCount; b++) {
    cum += ld(h.bucket[b]);
    out += std::string(name) + "_bucket{le=\"" + format_number(bounds[b]) + "\"} " + format_number(double(cum)) + "\n";
  }
  const uint64_t count = ld(h.count);
  out += std::string(name) + "_bucket{le=\"+Inf\"} " + format_number(double(count)) + "\n";
  out += std::string(name) + "_sum " + format_number(double(ld(h.sum)) * sum_scale) + "\n";
  out += std::string(name) + "_count " + format_number(double(count)) + "\n";
}
}  // namespace

std::string render_registry(const RegistryPage& p) {
  std::string out;
  out.reserve(16384);
  // Labelled series sorted by label value.
  size_t order[kTypeCount];
  for (size_t i = 0; i < kTypeCount; i++) order[i] = i;
  std::sort(order, order + kTypeCount,
            [](size_t a, size_t b) { return std::strcmp(kMessageTypes[a], kMessageTypes[b]) < 0; });

  family(out, "pilot_requests_total", "counter", "Registry requests by message type.");
  for (size_t i : order)
    if (uint64_t n = ld(p.types[i].requests))
      out += std::string("pilot_requests_total{type=\"") + kMessageTypes[i] + "\"} " + format_number(double(n)) + "\n";
  family(out, "pilot_errors_total", "counter", "Registry requests answered with an error, by message type.");
  // "<type>:breaker_open" sorts right after "<type>" (':' is below every other character a
  // type name continues with), so the series stay in label order.
  for (size_t i : order) {
    if (uint64_t n = ld(p.types[i].errors))
      out += std::string("pilot_errors_total{type=\"") + kMessageTypes[i] + "\"} " + format_number(double(n)) + "\n";
    if (uint64_t n = ld(p.types[i].breaker_open))
      out += std::string("pilot_errors_total{type=\"") + kMessageTypes[i] + ":breaker_open\"} " +
             format_number(double(n)) + "\n";
  }
  family(out, "pilot_request_duration_seconds", "histogram", "Time to handle a registry request, by message type.");
  for (size_t i : order) {
    const TypeStats& t = p.types[i];
    uint64_t count = ld(t.count);
    if (!count) continue;
    std::string lbl = std::string("{type=\"") + kMessageTypes[i] + "\",le=\"";
    uint64_t cum = 0;
    for (size_t b = 0; b < kBucketCount; b++) {
      cum += ld(t.bucket[b]);
      out += "pilot_request_duration_seconds_bucket" + lbl + format_number(kBuckets[b]) + "\"} " +
             format_number(double(cum)) + "\n";
    }
    out += "pilot_request_duration_seconds_bucket" + lbl + "+Inf\"} " + format_number(double(count)) + "\n";
    out += std::string("pilot_request_duration_seconds_sum{type=\"") + kMessageTypes[i] + "\"} " +
           format_number(double(ld(t.sum_ns)) / 1e9) + "\n";
    out += std::string("pilot_request_duration_seconds_count{type=\"") + kMessageTypes[i] + "\"} " +
           format_number(double(count)) + "\n";
  }

  struct Scalar {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  int64_t started = p.started_unix.load(std::memory_order_relaxed);
  const Scalar scalars[] = {
      {"pilot_nodes_online", "gauge", "Registered nodes seen within the stale threshold.", double(ld(p.nodes_online))},
      {"pilot_nodes_total", "gauge", "Registered nodes.", double(ld(p.nodes_total))},
      {"pilot_registrations_total", "counter", "Successful register requests.", double(ld(p.registrations_total))},
      {"pilot_deregistrations_total", "counter", "Successful deregister requests.", double(ld(p.deregistrations_total))},
      {"pilot_nodes_reaped_total", "counter", "Nodes removed by the stale-node reaper.", double(ld(p.reaped_total))},
      {"pilot_registry_tcp_connections", "gauge", "Open registry TCP connections.", double(ld(p.tcp_connections))},
      {"pilot_uptime_seconds", "gauge", "Seconds since the metrics page was created.", double(started ? unix_now() - started : 0)},
      {"pilot_store_commits_total", "counter", "LMDB write transactions committed (one per group commit).", double(ld(p.commits_total))},
      {"pilot_store_commit_failures_total", "counter", "LMDB commits that failed.", double(ld(p.commit_failures_total))},
      {"pilot_store_map_resizes_total", "counter", "Times the LMDB map was grown.", double(ld(p.map_resizes_total))},
      {"pilot_store_map_size_bytes", "gauge", "Current LMDB map size.", double(ld(p.map_size_bytes))},
      {"pilot_changelog_last_seq", "gauge", "Sequence number of the newest change-log record.", double(ld(p.changelog_last_seq))},
      {"pilot_frames_rejected_total", "counter", "Connections closed for a fatal framing error.", double(ld(p.frames_rejected_total))},
      {"pilot_registry_connections_accepted_total", "counter", "Registry connections accepted.", double(ld(p.connections_accepted_total))},
      {"pilot_registry_worker_starts_total", "counter", "Registry worker starts (restarts included).", double(ld(p.worker_starts_total))},
      {"pilot_replication_term", "gauge", "Replication epoch.", double(ld(p.epoch))},
      {"pilot_replication_is_standby", "gauge", "1 when this instance is a standby.", double(ld(p.is_standby))},
      {"pilot_loop_passes_total", "counter", "Registry event-loop passes that handled requests.", double(ld(p.loop_passes_total))},
      {"pilot_verify_queue_depth", "gauge", "Requests waiting in the signature-verify pool.", double(ld(p.verify_queue_depth))},
      {"pilot_replication_sync_state", "gauge", "Synchronous replication: 0 off, 1 sync, 2 degraded to asynchronous.",
       double(ld(p.repl_sync_state))},
      {"pilot_replication_sync_degraded", "gauge", "1 while synchronous replication is degraded to asynchronous.",
       double(ld(p.repl_sync_state) == 2 ? 1 : 0)},
      {"pilot_replication_sync_degraded_total", "counter", "Times synchronous replication degraded to asynchronous.",
       double(ld(p.repl_sync_degraded_total))},
      {"pilot_replication_sync_held", "gauge", "Committed write replies waiting for a standby's acknowledgement.",
       double(ld(p.repl_sync_held))},
      {"pilot_replication_handoffs_total", "counter", "Replication connections handed to the replicator.",
       double(ld(p.repl_handoffs_total))},
      {"pilot_tls_handshakes_total", "counter", "TLS handshakes completed on the registry listener.",
       double(ld(p.tls_handshakes_total))},
      {"pilot_tls_handshake_failures_total", "counter", "TLS handshakes that failed or timed out on the registry listener.",
       double(ld(p.tls_handshake_failures_total))},
      {"pilot_proxy_headers_total", "counter", "PROXY protocol headers accepted from -proxy-protocol-from sources.",
       double(ld(p.proxy_headers_total))},
      {"pilot_proxy_refused_total", "counter", "Connections closed for a PROXY header: untrusted source, malformed or too slow.",
       double(ld(p.proxy_refused_total))},
      {"pilot_registry_connections_refused_total", "counter", "Registry connections closed at accept: -max-connections were open.",
       double(ld(p.connections_refused_total))},
      {"pilot_registry_read_timeouts_total", "counter", "Registry connections closed because a frame did not arrive within -read-timeout.",
       double(ld(p.read_timeouts_total))},
  };
  for (auto& s : scalars) {
    family(out, s.name, s.type, s.help);
    sample(out, s.name, s.value);
  }
  family(out, "pilot_signature_verify_total", "counter", "Ed25519 verifications by result.");
  out += "pilot_signature_verify_total{result=\"fail\"} " + format_number(double(ld(p.signature_verify_fail))) + "\n";
  out += "pilot_signature_verify_total{result=\"ok\"} " + format_number(double(ld(p.signature_verify_ok))) + "\n";
  family(out, "pilot_ratelimit_denied_total", "counter", "Requests refused by the rate limiter, by the limit that refused.");
  const std::pair<const char*, const std::atomic<uint64_t>*> denied[] = {
      {"bucket_table", &p.ratelimit_denied_bucket_table},
      {"connection", &p.ratelimit_denied_connection},
      {"global", &p.ratelimit_denied_global},
      {"ip", &p.ratelimit_denied_ip}};
  for (auto& [kind, n] : denied)
    out += std::string("pilot_ratelimit_denied_total{kind=\"") + kind + "\"} " + format_number(double(ld(*n))) + "\n";
  render_histogram(out, "pilot_commit_duration_seconds", "Time of one group commit (LMDB write transaction).",
                   p.commit_duration, kCommitBuckets, 1e-9);
  render_histogram(out, "pilot_commit_wait_seconds", "Time a write waited from its turn until its commit.",
                   p.commit_wait, kCommitBuckets, 1e-9);
  render_histogram(out, "pilot_commit_batch_size", "Requests per group commit.", p.commit_batch_size, kBatchBuckets, 1);
  render_histogram(out, "pilot_replication_sync_wait_seconds",
                   "Time a committed write's reply waited for a standby's acknowledgement (-repl-sync).", p.repl_sync_wait,
                   kCommitBuckets, 1e-9);
  return out;
}

}  // namespace rdv::metrics
