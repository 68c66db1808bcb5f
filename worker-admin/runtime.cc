// /debug/pprof/*, /debug/locks, /api/runtime, /api/health, /api/admin/runtime/gc and
// /api/admin/runtime/profile-rates (ops-spec §5.3 rows 11, 12, 18–21).
//
// The Go server answers these from its runtime (goroutines, GC, heap, mutex profiles). This
// server is several C++ processes with no garbage collector and no built-in profiler, so each
// route gives the honest equivalent (docs/admin-api.md, "Runtime"):
//   * per-process figures of every worker from /proc (process_stats.h);
//   * the LMDB environment's figures in place of heap/snapshot figures;
//   * the registry pipeline's figures from its shared metrics page (loop passes, verify-queue
//     depth, commit duration/wait/batch-size histograms) in place of lock contention;
//   * profiling (CPU profile, trace) is left to perf: those routes answer 501 saying how.
// Log level (row 13) is another helper's (operator settings) and not served here.
#include "worker-admin/runtime.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/process_stats.h"
#include "worker-admin/replication.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

std::optional<double> histogram_quantile(const double (&bounds)[metrics::kPipelineBucketCount],
                                         const uint64_t (&counts)[metrics::kPipelineBucketCount], uint64_t total,
                                         double q) {
  if (total == 0) return std::nullopt;
  double rank = q * double(total);
  uint64_t below = 0;
  for (size_t i = 0; i < metrics::kPipelineBucketCount; i++) {
    if (counts[i] > 0 && double(below + counts[i]) >= rank) {
      double lower = i == 0 ? 0 : bounds[i - 1];
      double within = (rank - double(below)) / double(counts[i]);
      return lower + (bounds[i] - lower) * std::clamp(within, 0.0, 1.0);
    }
    below += counts[i];
  }
  return bounds[metrics::kPipelineBucketCount - 1];
}

std::optional<double> histogram_max_bound(const double (&bounds)[metrics::kPipelineBucketCount],
                                          const uint64_t (&counts)[metrics::kPipelineBucketCount], uint64_t total) {
  if (total == 0) return std::nullopt;
  uint64_t seen = 0;
  std::optional<double> highest;
  for (size_t i = 0; i < metrics::kPipelineBucketCount; i++) {
    seen += counts[i];
    if (counts[i]) highest = bounds[i];
  }
  if (seen < total || !highest) return bounds[metrics::kPipelineBucketCount - 1];
  return highest;
}

bool parse_profile_rates(std::string_view body, ProfileRates* out, std::string* error) {
  std::string why;
  JsonPtr j = parse_json_body(body, &why);
  if (!j) {
    *error = "bad request: " + why;
    return false;
  }
  for (const char* key : {"mutex_fraction", "block_rate_ns"}) {
    json_t* v = json_object_get(j.get(), key);
    if (!v || json_is_null(v)) continue;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
      *error = std::string("bad request: ") + key + " must be a non-negative integer";
      return false;
    }
    (std::string_view(key) == "mutex_fraction" ? out->mutex_fraction : out->block_rate_ns) =
        int64_t(json_integer_value(v));
  }
  return true;
}

namespace {

// The profile rates as last set: accepted and echoed, but nothing samples mutexes here.
std::atomic<int64_t> g_mutex_fraction{0};
std::atomic<int64_t> g_block_rate_ns{0};

// A consistent-enough copy of one histogram of the shared page (each field is atomic; the
// registry may add an observation between loads, which moves a quantile by one sample).
struct HistogramCopy {
  uint64_t counts[metrics::kPipelineBucketCount]{};
  uint64_t total = 0;
  uint64_t sum = 0;
};
HistogramCopy copy(const metrics::Histogram& h) {
  HistogramCopy c;
  c.total = h.count.load(std::memory_order_relaxed);
  c.sum = h.sum.load(std::memory_order_relaxed);
  for (size_t i = 0; i < metrics::kPipelineBucketCount; i++) c.counts[i] = h.bucket[i].load(std::memory_order_relaxed);
  return c;
}

// {"p50","p99","p999","count"} in the histogram's bound units (seconds for durations, requests
// for batch sizes); quantiles are null until the first observation.
json_t* quantiles_json(const HistogramCopy& h, const double (&bounds)[metrics::kPipelineBucketCount]) {
  json_t* o = json_object();
  for (auto [name, q] : {std::pair{"p50", 0.5}, std::pair{"p99", 0.99}, std::pair{"p999", 0.999}}) {
    std::optional<double> v = histogram_quantile(bounds, h.counts, h.total, q);
    json_object_set_new(o, name, v ? json_real(*v) : json_null());
  }
  json_object_set_new(o, "count", json_integer(json_int_t(h.total)));
  return o;
}

const metrics::RegistryPage* page_of(const AdminContext& ctx) {
  return ctx.registry_metrics ? ctx.registry_metrics->page() : nullptr;
}

int64_t own_open_fds() { return read_proc(::getpid()).open_fds; }

// The registry's pipeline figures. Passes per second are measured over kPassWindow during
// the request (two reads of the counter), so they describe now, not an average since start.
constexpr auto kPassWindow = std::chrono::milliseconds(250);
json_t* pipeline_json(const metrics::RegistryPage& p) {
  uint64_t passes0 = p.loop_passes_total.load(std::memory_order_relaxed);
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(kPassWindow);
  uint64_t passes1 = p.loop_passes_total.load(std::memory_order_relaxed);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json_t* o = json_object();
  json_object_set_new(o, "loop_passes_total", json_integer(json_int_t(passes1)));
  json_object_set_new(o, "loop_passes_per_sec", json_real(secs > 0 ? double(passes1 - passes0) / secs : 0));
  json_object_set_new(o, "loop_passes_window_ms", json_integer(kPassWindow.count()));
  json_object_set_new(o, "verify_queue_depth", json_integer(json_int_t(p.verify_queue_depth.load(std::memory_order_relaxed))));
  json_object_set_new(o, "commits_total", json_integer(json_int_t(p.commits_total.load(std::memory_order_relaxed))));
  json_object_set_new(o, "commit_failures_total",
                      json_integer(json_int_t(p.commit_failures_total.load(std::memory_order_relaxed))));
  json_object_set_new(o, "commit_duration_seconds", quantiles_json(copy(p.commit_duration), metrics::kCommitBuckets));
  json_object_set_new(o, "commit_wait_seconds", quantiles_json(copy(p.commit_wait), metrics::kCommitBuckets));
  json_object_set_new(o, "commit_batch_size", quantiles_json(copy(p.commit_batch_size), metrics::kBatchBuckets));
  return o;
}

// ---- GET /api/runtime (row 20) ----

Response handle_runtime(const AdminContext& ctx, const Request&) {
  int64_t now = unix_now();
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "server_time", json_integer(now));
  json_object_set_new(body.get(), "num_cpu", json_integer(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN))));
  json_object_set_new(body.get(), "open_fds", json_integer(own_open_fds()));
  std::vector<WorkerFigures> workers;
  std::string error;
  if (read_workers(ctx.config->get()->run_dir, &workers, &error)) {
    json_t* list = json_array();
    int64_t threads = 0;
    for (const WorkerFigures& w : workers) {
      json_array_append_new(list, worker_json(w, now).release());
      threads += w.proc.threads;
    }
    json_object_set_new(body.get(), "workers", list);
    json_object_set_new(body.get(), "threads_total", json_integer(threads));
  } else {
    json_object_set_new(body.get(), "workers_error", json_string(error.c_str()));
  }
  // Entry counts by mdb_stat (no scan): the registered nodes, and the networks without the
  // backbone (as pilot_networks_total counts them).
  {
    Txn txn;
    MDB_stat st;
    if (ctx.env->begin_read(&txn) == 0) {
      if (txn.stat(Db::Nodes, &st) == 0) json_object_set_new(body.get(), "nodes_total", json_integer(json_int_t(st.ms_entries)));
      std::string_view backbone;
      bool has_backbone = txn.get(Db::Networks, key_u16(0), &backbone) == 0;
      if (txn.stat(Db::Networks, &st) == 0)
        json_object_set_new(body.get(), "networks_total",
                            json_integer(json_int_t(st.ms_entries) - (has_backbone ? 1 : 0)));
    }
  }
  StoreFigures store;
  if (read_store_figures(*ctx.env, &store, &error)) json_object_set_new(body.get(), "store", store_json(store).release());
  else json_object_set_new(body.get(), "store_error", json_string(error.c_str()));
  if (const metrics::RegistryPage* p = page_of(ctx)) json_object_set_new(body.get(), "pipeline", pipeline_json(*p));
  return json_response(200, body.get());
}

// ---- GET /debug/locks (row 12) ----

Response handle_locks(const AdminContext& ctx, const Request&) {
  int64_t now = unix_now();
  const metrics::RegistryPage* p = page_of(ctx);
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "captured_at", json_string(rfc3339_utc(now).c_str()));
  int64_t started = p ? p->started_unix.load(std::memory_order_relaxed) : 0;
  if (started <= 0) started = ctx.started_unix;
  json_object_set_new(body.get(), "uptime_seconds", json_integer(std::max<int64_t>(0, now - started)));
  json_object_set_new(body.get(), "note",
                      json_string("no mutex profile: the registry is one event loop and one writer thread; "
                                  "contention shows as verify-queue depth and commit wait"));
  if (p) {
    json_object_set_new(body.get(), "verify_queue_depth",
                        json_integer(json_int_t(p->verify_queue_depth.load(std::memory_order_relaxed))));
    json_object_set_new(body.get(), "commit_wait_seconds", quantiles_json(copy(p->commit_wait), metrics::kCommitBuckets));
    json_object_set_new(body.get(), "commit_duration_seconds",
                        quantiles_json(copy(p->commit_duration), metrics::kCommitBuckets));
    json_object_set_new(body.get(), "commit_batch_size", quantiles_json(copy(p->commit_batch_size), metrics::kBatchBuckets));
  }
  std::vector<WorkerFigures> workers;
  std::string error;
  json_t* threads = json_object();
  if (read_workers(ctx.config->get()->run_dir, &workers, &error))
    for (const WorkerFigures& w : workers) json_object_set_new(threads, w.name.c_str(), json_integer(w.proc.threads));
  json_object_set_new(body.get(), "threads", threads);
  return json_response(200, body.get());
}

// ---- /debug/pprof/* (row 11) ----

Response plain(int status, std::string text) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(text);
  return r;
}

std::string worker_pids(const AdminContext& ctx) {
  std::vector<WorkerFigures> workers;
  std::string error, out;
  if (!read_workers(ctx.config->get()->run_dir, &workers, &error)) return "(workers unknown: " + error + ")";
  for (const WorkerFigures& w : workers)
    if (w.pid > 0) out += (out.empty() ? "" : ", ") + w.name + " " + std::to_string(w.pid);
  return out;
}

Response handle_pprof_index(const AdminContext& ctx, const Request&) {
  return plain(200,
               "rendezvous has no Go profiler; these are its equivalents:\n"
               "  /debug/pprof/cmdline   each worker's command line (from /proc/<pid>/cmdline)\n"
               "  /debug/pprof/profile   501: CPU profiles come from perf (see its text)\n"
               "  /debug/pprof/trace     501: likewise\n"
               "  /debug/pprof/symbol    num_symbols: 0 (no symbol service; use addr2line or perf report)\n"
               "  /debug/locks           pipeline contention (verify queue, commit wait)\n"
               "  /api/runtime           per-worker /proc figures, LMDB figures, pipeline figures (admin)\n"
               "workers: " + worker_pids(ctx) + "\n");
}

// /proc/<pid>/cmdline: NUL-separated, reported as size 0 by stat, so read it directly (bounded).
std::string read_cmdline(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return "";
  std::string out(8192, '\0');
  ssize_t n = ::read(fd, out.data(), out.size());
  ::close(fd);
  out.resize(n > 0 ? size_t(n) : 0);
  while (!out.empty() && out.back() == '\0') out.pop_back();
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out;
}

Response handle_pprof_cmdline(const AdminContext& ctx, const Request&) {
  std::vector<WorkerFigures> workers;
  std::string error;
  if (!read_workers(ctx.config->get()->run_dir, &workers, &error)) return text_error(503, error);
  std::string out;
  for (const WorkerFigures& w : workers)
    if (w.pid > 0 && w.proc.alive) out += w.name + " " + std::to_string(w.pid) + ": " + read_cmdline(w.pid) + "\n";
  return plain(200, out);
}

Response handle_pprof_perf(const AdminContext& ctx, const Request&) {
  return text_error(501, "not available: rendezvous has no built-in profiler; record the worker with "
                         "`perf record -F 99 -g -p <pid>` (then `perf report`); pids: " + worker_pids(ctx));
}

Response handle_pprof_symbol(const AdminContext&, const Request&) { return plain(200, "num_symbols: 0\n"); }

Response handle_pprof_named(const AdminContext& ctx, const Request& req) {
  static constexpr std::string_view kGoProfiles[] = {"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"};
  if (std::find(std::begin(kGoProfiles), std::end(kGoProfiles), req.params[0]) == std::end(kGoProfiles))
    return text_error(404, "Unknown profile");
  return text_error(501, "not available: " + std::string(req.params[0]) +
                             " is a Go runtime profile; see /api/runtime and /debug/locks, or use perf on the "
                             "worker (pids: " + worker_pids(ctx) + ")");
}

// ---- POST /api/admin/runtime/gc (row 18) ----

Response handle_gc(const AdminContext&, const Request&) {
  // No garbage collector: the nearest operation is giving the admin worker's free heap back to
  // the kernel. It touches nothing else and is timed like the Go GC was.
  auto t0 = std::chrono::steady_clock::now();
  int released = malloc_trim(0);
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  JsonPtr body(json_pack("{s:b,s:I,s:b,s:s}", "ok", 1, "duration_ms", json_int_t(ms), "released", released,
                         "note", "no garbage collector: ran malloc_trim(0) in the admin worker"));
  return json_response(200, body.get());
}

// ---- PUT|POST /api/admin/runtime/profile-rates (row 19) ----

Response handle_profile_rates(const AdminContext&, const Request& req) {
  ProfileRates rates;
  std::string error;
  if (!parse_profile_rates(req.body, &rates, &error)) return text_error(400, error);
  if (rates.mutex_fraction) g_mutex_fraction.store(*rates.mutex_fraction, std::memory_order_relaxed);
  if (rates.block_rate_ns) g_block_rate_ns.store(*rates.block_rate_ns, std::memory_order_relaxed);
  JsonPtr body(json_pack("{s:b,s:I}", "ok", 1, "mutex_fraction", json_int_t(g_mutex_fraction.load())));
  if (rates.block_rate_ns) json_object_set_new(body.get(), "block_rate_ns", json_integer(*rates.block_rate_ns));
  json_object_set_new(body.get(), "note", json_string("accepted for compatibility; nothing here samples mutexes or blocking"));
  return json_response(200, body.get());
}

// ---- GET /api/health (row 21) ----

Response handle_health(const AdminContext& ctx, const Request&) {
  const metrics::RegistryPage* p = page_of(ctx);
  if (!p) return text_error(503, "health not available: registry metrics page not mapped");
  int64_t now = unix_now();
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "server_time", json_integer(now));
  json_object_set_new(body.get(), "commits_total", json_integer(json_int_t(p->commits_total.load(std::memory_order_relaxed))));
  json_object_set_new(body.get(), "commit_failures_total",
                      json_integer(json_int_t(p->commit_failures_total.load(std::memory_order_relaxed))));
  HistogramCopy d = copy(p->commit_duration);
  std::optional<double> max = histogram_max_bound(metrics::kCommitBuckets, d.counts, d.total);
  json_object_set_new(body.get(), "max_commit_duration_ms", json_real(max ? *max * 1000 : 0));
  if (d.total) json_object_set_new(body.get(), "mean_commit_duration_ms", json_real(double(d.sum) / double(d.total) / 1e6));
  json_object_set_new(body.get(), "changelog_last_seq",
                      json_integer(json_int_t(p->changelog_last_seq.load(std::memory_order_relaxed))));
  int64_t beat = p->heartbeat_unix.load(std::memory_order_relaxed);
  if (beat > 0) {
    json_object_set_new(body.get(), "registry_heartbeat_unix", json_integer(beat));
    json_object_set_new(body.get(), "registry_heartbeat_age_secs", json_integer(std::max<int64_t>(0, now - beat)));
  }
  json_object_set_new(body.get(), "serving", json_boolean(p->serving.load(std::memory_order_relaxed) != 0));
  StoreFigures store;
  std::string error;
  if (read_store_figures(*ctx.env, &store, &error)) {
    json_object_set_new(body.get(), "map_size_bytes", json_integer(json_int_t(store.map_size_bytes)));
    json_object_set_new(body.get(), "map_used_bytes", json_integer(json_int_t(store.used_bytes)));
    json_object_set_new(body.get(), "map_used_ratio",
                        json_real(store.map_size_bytes ? double(store.used_bytes) / double(store.map_size_bytes) : 0));
    json_object_set_new(body.get(), "map_resizes_total",
                        json_integer(json_int_t(p->map_resizes_total.load(std::memory_order_relaxed))));
  } else {
    json_object_set_new(body.get(), "store_error", json_string(error.c_str()));
  }
  // Standbys streaming from this leader, as /api/admin/replication-status counts them; 0
  // when the replicator does not answer.
  JsonPtr status(json_pack("{s:s}", "type", "status"));
  std::string rep_error;
  JsonPtr rep = ctx.replicator_call ? ctx.replicator_call(status.get(), &rep_error) : nullptr;
  JsonPtr merged = replication_status_json(nullptr, rep.get(), "", false, 0);
  json_object_set(body.get(), "replication_subscribers", json_object_get(merged.get(), "subscribers"));
  return json_response(200, body.get());
}

const Route kRoutes[] = {
    {.pattern = "/debug/pprof", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_pprof_index,
     .trailing_slash = true},
    {.pattern = "/debug/pprof/cmdline", .methods = "GET", .access = Access::LocalhostOnly,
     .handler = handle_pprof_cmdline},
    {.pattern = "/debug/pprof/profile", .methods = "GET", .access = Access::LocalhostOnly,
     .handler = handle_pprof_perf},
    {.pattern = "/debug/pprof/symbol", .methods = "GET, POST", .access = Access::LocalhostOnly,
     .handler = handle_pprof_symbol, .max_body = 4096},
    {.pattern = "/debug/pprof/trace", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_pprof_perf},
    {.pattern = "/debug/pprof/{}", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_pprof_named},
    {.pattern = "/debug/locks", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_locks},
    {.pattern = "/api/admin/runtime/gc", .methods = "POST", .access = Access::Admin, .handler = handle_gc},
    {.pattern = "/api/admin/runtime/profile-rates", .methods = "PUT, POST", .access = Access::Admin,
     .handler = handle_profile_rates, .max_body = 1024},
    {.pattern = "/api/runtime", .methods = "GET", .access = Access::Admin, .handler = handle_runtime},
    {.pattern = "/api/health", .methods = "GET", .access = Access::Admin, .handler = handle_health},
};

}  // namespace

std::span<const Route> runtime_routes() { return kRoutes; }

}  // namespace rdv::admin
