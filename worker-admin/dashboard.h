// The dashboard's data (ops-spec §5.4–§5.6): pure builders for every payload it serves, and
// the hub that the live feed (live_feed.h, on the admin worker's event loop) fills and the
// HTTP threads read.
//
// Split so the rules are testable without sockets: the builders below are functions of plain
// values (the public-stats key set, the badge SVG, the number formatting, the pulse
// smoothing); dashboard.cc gathers those values from LMDB, the registry's metrics page and
// workers.json, and serves them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/json.h"
#include "worker-admin/rate_window.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

// ---- pure builders ----

enum class ComponentState { Unknown, Up, Down };
const char* component_state_name(ComponentState s);  // "unknown" | "up" | "down"

// What this build knows about itself. Empty fields are left out of build_info.
struct BuildInfo {
  std::string version;
  std::string git_commit;
  std::string build_time;
  std::string binary_sha256;
};

struct PublicStatsInput {
  int64_t server_time = 0;     // unix seconds
  int64_t uptime_seconds = 0;  // since the first-ever start (the metrics page's started_unix)
  uint64_t active_nodes = 0;   // seen within the stale threshold
  uint64_t total_nodes = 0;    // cumulative ever allocated: meta next_node - 1
  uint64_t total_requests = 0;
  double requests_per_sec = 0;
  ComponentState registry = ComponentState::Unknown;
  ComponentState beacon = ComponentState::Unknown;
  ComponentState dashboard = ComponentState::Unknown;
  const BuildInfo* build = nullptr;  // null: no build_info key
};

// The §5.4 payload: exactly server_time, uptime_seconds, active_nodes, total_nodes,
// total_requests, requests_per_sec, components{registry,beacon,dashboard} and build_info
// (when `build` is set). Nothing else can reach it: it is built from PublicStatsInput only.
JsonPtr public_stats_json(const PublicStatsInput& in);

struct PulseSample {
  int64_t ts_ms = 0;
  uint64_t total = 0;  // total requests the registry had counted at ts_ms
};

// Requests per second over the newest `window` samples (10 per §5.4): the sum of the positive
// steps divided by the time they span. A step down (the counters restarted) counts as 0, not
// as a negative rate. 0 when fewer than 2 samples or no time passed.
double smoothed_rate(const std::deque<PulseSample>& samples, size_t window = 10);

// {"ts":now_ms,"total_requests":N,"samples":[{"ts","total"}…]} in chronological order.
JsonPtr pulse_json(int64_t now_ms, uint64_t total_requests, const std::deque<PulseSample>& samples);

// Badge numbers (§5.3 rows 23–24): below 1000 as is; then one decimal with K, M, B
// (1234 → "1.2K", 3400000 → "3.4M", 1e9 → "1.0B"). Truncated, not rounded, so a badge never
// shows a figure that has not been reached yet.
std::string format_count(uint64_t n);

// A shields-style flat badge: grey label on the left, `value` on `color` on the right. Both
// texts are XML-escaped.
std::string badge_svg(std::string_view label, std::string_view value, std::string_view color);
// Colours of §5.3: nodes grey #9f9f9f at 0 else #4c1; requests #a855f7.
std::string nodes_badge_color(uint64_t online);
inline constexpr const char* kRequestsBadgeColor = "#a855f7";

// One row of the per-network table (§5.5). Names are shown to token holders only.
struct NetworkRow {
  uint32_t id = 0;
  std::string name;
  uint64_t members = 0;
  uint64_t online = 0;
};

struct StatsInput {
  uint64_t total_requests = 0;
  uint64_t total_nodes = 0;  // current node count (§5.5), not the ever-allocated figure
  uint64_t active_nodes = 0;
  int64_t uptime_secs = 0;
  uint64_t restart_events = 0;  // registry worker restarts, from the metrics page
  std::vector<NetworkRow> networks;
  bool networks_known = false;  // false: the store could not be read, leave the key out
  std::string maintenance_banner;
};
// The §5.5 payload (the subset this server knows; see docs/admin-api.md "Dashboard").
JsonPtr stats_json(const StatsInput& in);

// One server-sent event carrying `data` (which must not contain a newline: compact JSON).
std::string sse_event(std::string_view data);
inline constexpr std::string_view kSseKeepAlive = ": keep-alive\n\n";

// ---- the hub ----

// Shared between the live feed (the event-loop thread: samples, snapshots) and the HTTP
// threads (routes and streams). Every member is thread-safe.
class DashboardHub {
 public:
  static constexpr size_t kPulseCapacity = 120;

  // Pulse ring: one sample per second, the newest kPulseCapacity kept.
  void add_sample(PulseSample s);
  std::deque<PulseSample> samples() const;

  // The replication role and epoch from the registry's status reply ("" while unknown).
  void set_role(std::string role, int64_t epoch);
  std::string role(int64_t* epoch) const;
  // The newest status replies for the replication panel, as compact JSON ("" while none or
  // unreachable): the registry's (from the bus connection) and the replicator's (polled).
  void set_registry_status(std::string json);
  void set_replicator_status(std::string json);
  void replication_sources(std::string* registry_status, std::string* replicator_status) const;

  // The newest payloads pushed to streams; publish() wakes every waiting stream.
  void publish(std::string public_payload, std::string admin_payload);
  uint64_t version() const;  // of the newest published payloads (0: none yet)
  // Blocks until a payload newer than `seen` is published, `deadline` passes or stop() was
  // called. Returns the newest version (== seen on timeout) and copies the payload asked for.
  uint64_t wait(uint64_t seen, std::chrono::steady_clock::time_point deadline, bool admin, std::string* payload);
  // Ends every stream (before the HTTP server stops, so its threads can be joined).
  void stop();
  bool stopping() const;

  // Stream slots: a live stream holds one until it ends. Null when `max` are in use.
  struct Slot;
  std::shared_ptr<Slot> acquire_stream(int max);
  int streams() const;

  FixedWindowLimiter badge_limiter{30, 60LL * 1000000000, 65536};  // §5.3 rows 23–24: 30/min/IP
  BuildInfo build_info() const;  // version + binary_sha256 (hashed once, lazily)

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<PulseSample> samples_;
  std::string role_;
  int64_t epoch_ = 0;
  std::string registry_status_, replicator_status_;
  std::string public_payload_, admin_payload_;
  uint64_t version_ = 0;
  bool stopping_ = false;
  int streams_ = 0;
  mutable std::once_flag build_once_;
  mutable BuildInfo build_;
};

// The hub the routes use; set by main() before the HTTP server starts (null: the dashboard
// routes answer 503 — unit tests of other routes need no hub).
void set_dashboard_hub(DashboardHub* hub);
DashboardHub* dashboard_hub();

// Gathers the current figures (store, metrics page, workers.json, hub) and builds the
// payloads. Called from HTTP threads and from the live feed.
JsonPtr current_public_stats(const AdminContext& ctx, DashboardHub& hub);
JsonPtr current_stats(const AdminContext& ctx, DashboardHub& hub);
// The admin stream's payload: {"stats":…,"workers":[…],"replication":{…},"pulse":…}, where
// replication is the /api/admin/replication-status body (role, epoch, leader, standbys with
// lag, follower, sync) built from the hub's newest status replies.
JsonPtr current_admin_snapshot(const AdminContext& ctx, DashboardHub& hub);
// Total requests the registry has counted (the sum of the per-type counters), 0 without page.
uint64_t registry_total_requests(const AdminContext& ctx);

}  // namespace rdv::admin
