// /, /api/public-stats, /api/stats, /api/pulse, /api/badge/*, /api/events: the dashboard and
// its data (ops-spec §5.4–§5.6). The pure builders come first, then the hub, then the code
// that gathers figures, then the handlers.
#include "worker-admin/dashboard.h"
#include "worker-admin/replication.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "shared/config.h"
#include "shared/files.h"
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/model.h"
#include "shared/store.h"
#include "shared/util.h"
#include "worker-admin/banner.h"
#include "worker-admin/breakers.h"
#include "worker-admin/pending.h"
#include "worker-admin/process_stats.h"

// The page's assets, embedded by the Makefile (xxd -i of worker-admin/dashboard/*) into
// $(BUILD)/gen/dashboard_assets.cc; each array ends with an extra NUL that *_size excludes.
extern const unsigned char dash_index_html[];
extern const size_t dash_index_html_size;
extern const unsigned char dash_dashboard_css[];
extern const size_t dash_dashboard_css_size;
extern const unsigned char dash_dashboard_js[];
extern const size_t dash_dashboard_js_size;
extern const unsigned char dash_favicon_svg[];
extern const size_t dash_favicon_svg_size;

namespace rdv::admin {

// ---- pure builders ----

const char* component_state_name(ComponentState s) {
  switch (s) {
    case ComponentState::Up: return "up";
    case ComponentState::Down: return "down";
    case ComponentState::Unknown: break;
  }
  return "unknown";
}

JsonPtr public_stats_json(const PublicStatsInput& in) {
  JsonPtr out(json_object());
  json_t* o = out.get();
  json_object_set_new(o, "server_time", json_integer(json_int_t(in.server_time)));
  json_object_set_new(o, "uptime_seconds", json_integer(json_int_t(std::max<int64_t>(in.uptime_seconds, 0))));
  json_object_set_new(o, "active_nodes", json_integer(json_int_t(in.active_nodes)));
  json_object_set_new(o, "total_nodes", json_integer(json_int_t(in.total_nodes)));
  json_object_set_new(o, "total_requests", json_integer(json_int_t(in.total_requests)));
  json_object_set_new(o, "requests_per_sec", json_real(in.requests_per_sec));
  json_object_set_new(o, "components",
                      json_pack("{s:s,s:s,s:s}", "registry", component_state_name(in.registry), "beacon",
                                component_state_name(in.beacon), "dashboard", component_state_name(in.dashboard)));
  if (in.build) {
    json_t* b = json_object();
    auto put = [b](const char* key, const std::string& v) {
      if (!v.empty()) json_object_set_new(b, key, json_stringn(v.data(), v.size()));
    };
    // Always present, even if the build left it empty (the page shows it in the footer).
    json_object_set_new(b, "version", json_stringn(in.build->version.data(), in.build->version.size()));
    put("git_commit", in.build->git_commit);
    put("build_time", in.build->build_time);
    put("binary_sha256", in.build->binary_sha256);
    json_object_set_new(o, "build_info", b);
  }
  return out;
}

double smoothed_rate(const std::deque<PulseSample>& samples, size_t window) {
  if (samples.size() < 2 || window < 2) return 0;
  size_t first = samples.size() - std::min(window, samples.size());
  uint64_t counted = 0;
  for (size_t i = first + 1; i < samples.size(); i++)
    if (samples[i].total > samples[i - 1].total) counted += samples[i].total - samples[i - 1].total;
  int64_t span_ms = samples.back().ts_ms - samples[first].ts_ms;
  if (span_ms <= 0) return 0;
  return double(counted) * 1000.0 / double(span_ms);
}

JsonPtr pulse_json(int64_t now_ms, uint64_t total_requests, const std::deque<PulseSample>& samples) {
  json_t* list = json_array();
  for (const PulseSample& s : samples)
    json_array_append_new(list, json_pack("{s:I,s:I}", "ts", json_int_t(s.ts_ms), "total", json_int_t(s.total)));
  return JsonPtr(json_pack("{s:I,s:I,s:o}", "ts", json_int_t(now_ms), "total_requests", json_int_t(total_requests),
                           "samples", list));
}

std::string format_count(uint64_t n) {
  if (n < 1000) return std::to_string(n);
  static constexpr struct {
    uint64_t scale;
    char suffix;
  } kUnits[] = {{1000000000ull, 'B'}, {1000000ull, 'M'}, {1000ull, 'K'}};
  for (const auto& u : kUnits) {
    if (n < u.scale) continue;
    uint64_t tenths = n / (u.scale / 10);  // truncated: 1999 → 1.9K
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + u.suffix;
  }
  return std::to_string(n);  // unreachable
}

namespace {

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Verdana 11px averages ~6.5 px per character (shields.io sizes its text the same way, more
// precisely); 10 px of padding on each side.
int text_width(std::string_view s) { return int(s.size()) * 13 / 2 + 10; }

}  // namespace

std::string badge_svg(std::string_view label, std::string_view value, std::string_view color) {
  const int lw = text_width(label), vw = text_width(value), w = lw + vw;
  const std::string l = xml_escape(label), v = xml_escape(value), c = xml_escape(color);
  char head[512];
  std::snprintf(head, sizeof head,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" role=\"img\" "
                "aria-label=\"",
                w);
  std::string out = head;
  out += l + ": " + v + "\"><title>" + l + ": " + v + "</title>";
  out += "<linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>"
         "<stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>";
  char body[1024];
  std::snprintf(body, sizeof body,
                "<clipPath id=\"r\"><rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>"
                "<g clip-path=\"url(#r)\"><rect width=\"%d\" height=\"20\" fill=\"#555\"/>"
                "<rect x=\"%d\" width=\"%d\" height=\"20\" fill=\"%s\"/>"
                "<rect width=\"%d\" height=\"20\" fill=\"url(#s)\"/></g>"
                "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" "
                "font-size=\"11\">",
                w, lw, lw, vw, c.c_str(), w);
  out += body;
  char text[256];
  std::snprintf(text, sizeof text, "<text x=\"%d\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">", lw / 2);
  out += text + l + "</text>";
  std::snprintf(text, sizeof text, "<text x=\"%d\" y=\"14\">", lw / 2);
  out += text + l + "</text>";
  std::snprintf(text, sizeof text, "<text x=\"%d\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">", lw + vw / 2);
  out += text + v + "</text>";
  std::snprintf(text, sizeof text, "<text x=\"%d\" y=\"14\">", lw + vw / 2);
  out += text + v + "</text></g></svg>";
  return out;
}

std::string nodes_badge_color(uint64_t online) { return online == 0 ? "#9f9f9f" : "#4c1"; }

JsonPtr stats_json(const StatsInput& in) {
  JsonPtr out(json_object());
  json_t* o = out.get();
  json_object_set_new(o, "total_requests", json_integer(json_int_t(in.total_requests)));
  json_object_set_new(o, "total_nodes", json_integer(json_int_t(in.total_nodes)));
  json_object_set_new(o, "active_nodes", json_integer(json_int_t(in.active_nodes)));
  json_object_set_new(o, "uptime_secs", json_integer(json_int_t(std::max<int64_t>(in.uptime_secs, 0))));
  if (in.restart_events) json_object_set_new(o, "restart_events", json_integer(json_int_t(in.restart_events)));
  if (in.networks_known) {
    json_t* list = json_array();
    for (const NetworkRow& n : in.networks)
      json_array_append_new(list, json_pack("{s:I,s:s%,s:I,s:I}", "id", json_int_t(n.id), "name", n.name.data(),
                                            n.name.size(), "members", json_int_t(n.members), "online",
                                            json_int_t(n.online)));
    json_object_set_new(o, "networks", list);
  }
  json_object_set_new(o, "maintenance_banner",
                      json_stringn(in.maintenance_banner.data(), in.maintenance_banner.size()));
  return out;
}

std::string sse_event(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 8);
  out += "data: ";
  out += data;
  out += "\n\n";
  return out;
}

// ---- the hub ----

struct DashboardHub::Slot {
  explicit Slot(DashboardHub* h) : hub(h) {}
  ~Slot() {
    std::lock_guard lock(hub->mutex_);
    hub->streams_--;
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  DashboardHub* hub;
};

void DashboardHub::add_sample(PulseSample s) {
  std::lock_guard lock(mutex_);
  samples_.push_back(s);
  while (samples_.size() > kPulseCapacity) samples_.pop_front();
}

std::deque<PulseSample> DashboardHub::samples() const {
  std::lock_guard lock(mutex_);
  return samples_;
}

void DashboardHub::set_role(std::string role, int64_t epoch) {
  std::lock_guard lock(mutex_);
  role_ = std::move(role);
  epoch_ = epoch;
}

std::string DashboardHub::role(int64_t* epoch) const {
  std::lock_guard lock(mutex_);
  *epoch = epoch_;
  return role_;
}

void DashboardHub::set_registry_status(std::string json) {
  std::lock_guard lock(mutex_);
  registry_status_ = std::move(json);
}

void DashboardHub::set_replicator_status(std::string json) {
  std::lock_guard lock(mutex_);
  replicator_status_ = std::move(json);
}

void DashboardHub::replication_sources(std::string* registry_status, std::string* replicator_status) const {
  std::lock_guard lock(mutex_);
  *registry_status = registry_status_;
  *replicator_status = replicator_status_;
}

void DashboardHub::publish(std::string public_payload, std::string admin_payload) {
  {
    std::lock_guard lock(mutex_);
    public_payload_ = std::move(public_payload);
    admin_payload_ = std::move(admin_payload);
    version_++;
  }
  changed_.notify_all();
}

uint64_t DashboardHub::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

uint64_t DashboardHub::wait(uint64_t seen, std::chrono::steady_clock::time_point deadline, bool admin,
                            std::string* payload) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return stopping_ || version_ != seen; });
  if (version_ != seen) *payload = admin ? admin_payload_ : public_payload_;
  return version_;
}

void DashboardHub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

bool DashboardHub::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

std::shared_ptr<DashboardHub::Slot> DashboardHub::acquire_stream(int max) {
  std::lock_guard lock(mutex_);
  if (stopping_ || streams_ >= max) return nullptr;
  streams_++;
  return std::make_shared<Slot>(this);
}

int DashboardHub::streams() const {
  std::lock_guard lock(mutex_);
  return streams_;
}

namespace {

// SHA-256 of the running executable, "" when it cannot be read (logged once).
std::string executable_sha256() {
  UniqueFd fd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!fd) {
    log_warn(sys_error("open(/proc/self/exe) failed; build_info has no binary_sha256"));
    return "";
  }
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  // On the heap: this runs on a CivetWeb thread, whose stack is small.
  std::vector<unsigned char> buf(64 * 1024);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      log_warn(sys_error("read(/proc/self/exe) failed; build_info has no binary_sha256"));
      return "";
    }
    crypto_hash_sha256_update(&st, buf.data(), size_t(n));
  }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

}  // namespace

BuildInfo DashboardHub::build_info() const {
  std::call_once(build_once_, [this] {
    std::string_view v = kVersion;  // "rendezvous 0.1.0"
    if (size_t sp = v.rfind(' '); sp != std::string_view::npos) v.remove_prefix(sp + 1);
    build_.version = std::string(v);
#ifdef RDV_GIT_COMMIT
    build_.git_commit = RDV_GIT_COMMIT;
#endif
#ifdef RDV_BUILD_TIME
    build_.build_time = RDV_BUILD_TIME;
#endif
    build_.binary_sha256 = executable_sha256();
  });
  return build_;
}

namespace {
std::atomic<DashboardHub*> g_hub{nullptr};
}  // namespace

void set_dashboard_hub(DashboardHub* hub) { g_hub.store(hub); }
DashboardHub* dashboard_hub() { return g_hub.load(); }

// ---- gathering ----

namespace {

// A registry whose loop has not run its timer for this long is taken as down: its heartbeat
// is written every second, and the loop never waits for a disk.
constexpr int64_t kRegistryHeartbeatStaleS = 5;
// Accept-queue entries the token view lists (the count is always the whole queue).
constexpr size_t kDashboardPendingShown = 50;

ComponentState registry_state(const metrics::RegistryPage* page, int64_t now) {
  if (!page) return ComponentState::Unknown;
  int64_t beat = page->heartbeat_unix.load(std::memory_order_relaxed);
  if (beat <= 0) return ComponentState::Unknown;
  bool serving = page->serving.load(std::memory_order_relaxed) != 0;
  return serving && now - beat <= kRegistryHeartbeatStaleS ? ComponentState::Up : ComponentState::Down;
}

int64_t service_started(const AdminContext& ctx, const metrics::RegistryPage* page) {
  int64_t started = page ? page->started_unix.load(std::memory_order_relaxed) : 0;
  return started > 0 ? started : ctx.started_unix;
}

// meta next_node - 1: every node id ever handed out, including reaped and deregistered ones.
bool read_total_allocated(Env& env, uint64_t* total) {
  Txn txn;
  if (int rc = env.begin_read(&txn)) {
    log_warn("dashboard: store read failed", {{"call", "mdb_txn_begin"}, {"error", lmdb_error(rc)}});
    return false;
  }
  uint64_t next = meta_u64(txn, "next_node", 1);
  *total = next > 0 ? next - 1 : 0;
  return true;
}

// The per-network table: members from Db::Members (key u16 net ‖ u32 node), online = members
// whose last-seen time (Db::Liveness, flushed in batches) is within the stale threshold.
bool read_network_rows(Env& env, int64_t stale_threshold_ns, std::vector<NetworkRow>* rows) {
  Txn txn;
  if (int rc = env.begin_read(&txn)) {
    log_warn("dashboard: store read failed", {{"call", "mdb_txn_begin"}, {"error", lmdb_error(rc)}});
    return false;
  }
  const int64_t cutoff = unix_now_ns() - stale_threshold_ns;
  std::unordered_map<uint32_t, size_t> index;
  {
    Cursor c(txn, Db::Networks);
    for (bool more = c.seek(); more; more = c.next()) {
      Network n;
      if (c.key().size() != 2 || !decode_network(c.value(), &n)) continue;
      index[n.id] = rows->size();
      rows->push_back(NetworkRow{.id = n.id, .name = n.name});
    }
    if (c.error()) return false;
  }
  Cursor c(txn, Db::Members);
  for (bool more = c.seek(); more; more = c.next()) {
    std::string_view k = c.key();
    if (k.size() != 6) continue;
    uint32_t net = uint32_t(uint8_t(k[0])) << 8 | uint8_t(k[1]);
    auto it = index.find(net);
    if (it == index.end()) continue;
    NetworkRow& row = (*rows)[it->second];
    row.members++;
    std::string_view seen;
    if (txn.get(Db::Liveness, k.substr(2), &seen) == MDB_SUCCESS) {
      int64_t ns = int64_t(read_u64(seen));
      if (ns != 0 && ns >= cutoff) row.online++;
    }
  }
  return c.error() == 0;
}

// workers.json and /proc (process_stats.h) as the dashboard shows them: name, state, pid,
// restarts, uptime, and the process figures.
JsonPtr workers_json(const Config& cfg, int64_t now) {
  JsonPtr list(json_array());
  std::vector<WorkerFigures> workers;
  std::string error;
  if (!read_workers(cfg.run_dir, &workers, &error)) return list;
  for (const WorkerFigures& w : workers)
    if (w.name != "supervisor") json_array_append_new(list.get(), worker_json(w, now).release());
  return list;
}

}  // namespace

uint64_t registry_total_requests(const AdminContext& ctx) {
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  if (!page) return 0;
  uint64_t total = 0;
  for (const metrics::TypeStats& t : page->types) total += t.requests.load(std::memory_order_relaxed);
  return total;
}

JsonPtr current_public_stats(const AdminContext& ctx, DashboardHub& hub) {
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  const int64_t now = unix_now();
  PublicStatsInput in;
  in.server_time = now;
  in.uptime_seconds = now - service_started(ctx, page);
  in.active_nodes = page ? page->nodes_online.load(std::memory_order_relaxed) : 0;
  if (!read_total_allocated(*ctx.env, &in.total_nodes) && page)
    in.total_nodes = page->nodes_total.load(std::memory_order_relaxed);
  in.total_requests = registry_total_requests(ctx);
  in.requests_per_sec = smoothed_rate(hub.samples());
  in.registry = registry_state(page, now);
  in.beacon = ComponentState::Unknown;  // this server has no beacon to probe (docs/admin-api.md)
  in.dashboard = ComponentState::Up;    // we are answering
  BuildInfo build = hub.build_info();
  in.build = &build;
  return public_stats_json(in);
}

JsonPtr current_stats(const AdminContext& ctx, DashboardHub&) {
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  std::shared_ptr<const Config> cfg = ctx.config->get();
  StatsInput in;
  in.total_requests = registry_total_requests(ctx);
  in.total_nodes = page ? page->nodes_total.load(std::memory_order_relaxed) : 0;
  in.active_nodes = page ? page->nodes_online.load(std::memory_order_relaxed) : 0;
  in.uptime_secs = unix_now() - service_started(ctx, page);
  uint64_t starts = page ? page->worker_starts_total.load(std::memory_order_relaxed) : 0;
  in.restart_events = starts > 1 ? starts - 1 : 0;
  in.networks_known = read_network_rows(*ctx.env, cfg->stale_threshold_ns, &in.networks);
  // The backbone (network 0) has no member rows: every node is in it, so its figures are
  // the registry's own gauges.
  for (NetworkRow& row : in.networks)
    if (row.id == 0) {
      row.members = in.total_nodes;
      row.online = in.active_nodes;
    }
  in.maintenance_banner = read_banner(*ctx.env, cfg->maintenance_banner);
  return stats_json(in);
}

JsonPtr current_admin_snapshot(const AdminContext& ctx, DashboardHub& hub) {
  std::shared_ptr<const Config> cfg = ctx.config->get();
  const int64_t now_ms = unix_now_ns() / 1000000;
  int64_t epoch = 0;
  std::string role = hub.role(&epoch);
  if (role.empty()) {
    // No status reply yet: the registry's page says as much.
    if (const metrics::RegistryPage* page = ctx.registry_metrics->page()) {
      role = page->is_standby.load(std::memory_order_relaxed) ? "standby" : "leader";
      epoch = int64_t(page->epoch.load(std::memory_order_relaxed));
    } else {
      role = "unknown";
    }
  }
  JsonPtr out(json_object());
  json_object_set_new(out.get(), "stats", current_stats(ctx, hub).release());
  json_object_set_new(out.get(), "public", current_public_stats(ctx, hub).release());
  json_object_set_new(out.get(), "workers", workers_json(*cfg, now_ms / 1000).release());
  // The accept queue (-accept-mode manual): its size and the oldest entries, so an operator
  // sees who waits without the stream carrying a 10 000-entry queue four times a second.
  std::string pending_error;
  JsonPtr pending = pending_json(*ctx.env, kDashboardPendingShown, &pending_error);
  if (!pending) pending.reset(json_pack("{s:i,s:[],s:s}", "count", 0, "pending", "error", pending_error.c_str()));
  json_object_set_new(out.get(), "pending", pending.release());
  // The panel shows what /api/admin/replication-status shows; without a registry reply yet,
  // role and epoch come from the metrics page (above).
  std::string reg_text, rep_text;
  hub.replication_sources(&reg_text, &rep_text);
  JsonPtr reg(reg_text.empty() ? nullptr : json_loads(reg_text.c_str(), 0, nullptr));
  JsonPtr rep(rep_text.empty() ? nullptr : json_loads(rep_text.c_str(), 0, nullptr));
  JsonPtr replication = replication_status_json(reg.get(), rep.get(), cfg->standby, cfg->repl_sync, now_ms / 1000);
  if (!reg) {
    json_object_set_new(replication.get(), "role", json_stringn(role.data(), role.size()));
    json_object_set_new(replication.get(), "epoch", json_integer(json_int_t(epoch)));
  }
  json_object_set_new(out.get(), "replication", replication.release());
  json_object_set_new(out.get(), "pulse",
                      pulse_json(now_ms, registry_total_requests(ctx), hub.samples()).release());
  return out;
}

// ---- handlers ----

namespace {

Response unavailable() { return text_error(503, "dashboard not available"); }

void add_cors(Response* r) { r->headers.emplace_back("Access-Control-Allow-Origin", "*"); }

Response asset(const unsigned char* bytes, size_t size, const char* type) {
  Response r;
  r.content_type = type;
  r.body.assign(reinterpret_cast<const char*>(bytes), size);
  r.headers.emplace_back("Content-Security-Policy", "default-src 'self'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

Response handle_index(const AdminContext&, const Request&) {
  Response r = asset(dash_index_html, dash_index_html_size, "text/html; charset=utf-8");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}
Response handle_css(const AdminContext&, const Request&) {
  return asset(dash_dashboard_css, dash_dashboard_css_size, "text/css; charset=utf-8");
}
Response handle_js(const AdminContext&, const Request&) {
  return asset(dash_dashboard_js, dash_dashboard_js_size, "text/javascript; charset=utf-8");
}
Response handle_favicon(const AdminContext&, const Request&) {
  return asset(dash_favicon_svg, dash_favicon_svg_size, "image/svg+xml");
}

Response handle_public_stats(const AdminContext& ctx, const Request&) {
  if (std::string why; !breaker_allows(ctx, "dashboard.public_stats", &why)) {
    Response r = breaker_unavailable(why);
    add_cors(&r);
    return r;
  }
  DashboardHub* hub = dashboard_hub();
  if (!hub) return unavailable();
  JsonPtr body = current_public_stats(ctx, *hub);
  Response r = json_response(200, body.get());
  add_cors(&r);
  return r;
}

Response handle_stats(const AdminContext& ctx, const Request&) {
  DashboardHub* hub = dashboard_hub();
  if (!hub) return unavailable();
  JsonPtr body = current_stats(ctx, *hub);
  Response r = json_response(200, body.get());
  add_cors(&r);
  return r;
}

Response handle_pulse(const AdminContext& ctx, const Request&) {
  DashboardHub* hub = dashboard_hub();
  if (!hub) return unavailable();
  JsonPtr body = pulse_json(unix_now_ns() / 1000000, registry_total_requests(ctx), hub->samples());
  return json_response(200, body.get());
}

Response badge(const Request& req, std::string_view label, std::string value, std::string color) {
  DashboardHub* hub = dashboard_hub();
  if (!hub) return unavailable();
  if (!hub->badge_limiter.allow(limiter_key(req), mono_now_ns())) return text_error(429, "Too Many Requests");
  Response r;
  r.content_type = "image/svg+xml";
  r.body = badge_svg(label, value, color);
  r.headers.emplace_back("Cache-Control", "no-cache, no-store, must-revalidate");
  add_cors(&r);
  return r;
}

Response handle_badge_nodes(const AdminContext& ctx, const Request& req) {
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  uint64_t online = page ? page->nodes_online.load(std::memory_order_relaxed) : 0;
  return badge(req, "online nodes", format_count(online), nodes_badge_color(online));
}

Response handle_badge_requests(const AdminContext& ctx, const Request& req) {
  return badge(req, "requests", format_count(registry_total_requests(ctx)), kRequestsBadgeColor);
}

// Keep-alive comments this often, so a client that vanished without a FIN is noticed (the
// write fails) and its CivetWeb thread is freed.
constexpr auto kKeepAliveInterval = std::chrono::seconds(15);

Response handle_events(const AdminContext& ctx, const Request& req) {
  DashboardHub* hub = dashboard_hub();
  if (!hub) return unavailable();
  std::shared_ptr<const Config> cfg = ctx.config->get();
  // EventSource cannot send headers: the admin view is asked for with ?admin_token= (a GET,
  // so §5.2 allows it). A token that is present but wrong is refused rather than silently
  // downgraded, so a typo in the token box shows up.
  bool admin = false;
  if (req.query_value("admin_token") || !req.header("X-Admin-Token").empty()) {
    std::string refusal = admin_refusal(cfg->admin_token, req);
    if (!refusal.empty()) return text_error(401, refusal);
    admin = true;
  }
  std::shared_ptr<DashboardHub::Slot> slot = hub->acquire_stream(cfg->http_max_streams);
  if (!slot) return text_error(503, "too many live streams");
  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");  // a reverse proxy must not buffer it
  if (!admin) add_cors(&r);
  r.stream = [slot, admin, hub, ctx = &ctx](const std::function<bool(std::string_view)>& write) {
    // The current figures at once, then every snapshot the live feed publishes.
    uint64_t seen = hub->version();
    JsonPtr first = admin ? current_admin_snapshot(*ctx, *hub) : current_public_stats(*ctx, *hub);
    if (!write("retry: 2000\n\n") || !write(sse_event(json_dump_compact(first.get())))) return;
    std::string payload;
    while (!hub->stopping()) {
      uint64_t now_seen = hub->wait(seen, std::chrono::steady_clock::now() + kKeepAliveInterval, admin, &payload);
      if (hub->stopping()) return;
      bool ok = now_seen != seen ? write(sse_event(payload)) : write(kSseKeepAlive);
      if (!ok) return;
      seen = now_seen;
    }
  };
  return r;
}

const Route kRoutes[] = {
    {.pattern = "/", .methods = "GET", .access = Access::Public, .handler = handle_index},
    {.pattern = "/assets/dashboard.css", .methods = "GET", .access = Access::Public, .handler = handle_css},
    {.pattern = "/assets/dashboard.js", .methods = "GET", .access = Access::Public, .handler = handle_js},
    {.pattern = "/assets/favicon.svg", .methods = "GET", .access = Access::Public, .handler = handle_favicon},
    {.pattern = "/api/public-stats", .methods = "GET", .access = Access::Public, .handler = handle_public_stats},
    {.pattern = "/api/stats", .methods = "GET", .access = Access::Admin, .handler = handle_stats},
    {.pattern = "/api/pulse", .methods = "GET", .access = Access::Admin, .handler = handle_pulse},
    {.pattern = "/api/badge/nodes", .methods = "GET", .access = Access::Admin, .handler = handle_badge_nodes},
    {.pattern = "/api/badge/requests", .methods = "GET", .access = Access::Admin, .handler = handle_badge_requests},
    {.pattern = "/api/events", .methods = "GET", .access = Access::Public, .handler = handle_events},
};

}  // namespace

std::span<const Route> dashboard_routes() { return kRoutes; }

}  // namespace rdv::admin
