// GET /metrics (ops-spec §6, localhost-only): Prometheus text 0.0.4, merged at scrape time
// from three sources, each family exactly once:
//   - the registry's shared metrics page (shared/metrics.h render_registry): request, error
//     and duration families, registrations, node gauges, the pipeline histograms, …;
//   - counts read from LMDB in one read transaction (read_store_counts): trust links,
//     networks, invites, handshake inboxes, enterprise settings, per-network gauges;
//   - the supervisor's workers.json and /proc (process_stats.h): per-worker process figures,
//     and the LMDB environment's own figures.
// A scrape answers 200 even while the registry page or workers.json is unavailable; the
// families of a missing source are then absent (pilot_admin_registry_metrics_available says
// why).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "worker-admin/process_stats.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

Response handle_metrics(const AdminContext& ctx, const Request& req);

// Figures counted in LMDB, read with one read transaction; entry counts come from mdb_stat
// (no scan) except the per-network roles, which take one pass over the members database.
struct NetworkCounts {
  uint32_t members = 0;
  uint32_t admins = 0;
  uint32_t owners = 0;
  bool enterprise = false;
  bool policy_set = false;  // max members or allowed ports configured
};
struct StoreCounts {
  uint64_t trust_links = 0;
  uint64_t networks_total = 0;  // excluding the backbone (network 0)
  uint64_t networks_enterprise = 0;
  uint64_t invites_pending = 0;
  uint64_t handshake_inbox = 0;
  uint64_t handshake_responses = 0;
  uint64_t pubkeys = 0;
  uint64_t preassignments = 0;
  bool webhook_configured = false;  // a webhook URL is set (the Go QUIRK said 1 always)
  bool audit_export_active = false;
  bool idp_configured = false;
  uint64_t webhook_delivered = 0, webhook_failed = 0, webhook_dropped = 0;
  std::map<std::string, NetworkCounts> networks;  // by name: label order
};
bool read_store_counts(Env& env, StoreCounts* out, std::string* error);

// Everything the admin side renders; a pure input so the exposition is unit-tested.
struct AdminFigures {
  bool registry_page_available = false;
  bool counts_available = false;
  StoreCounts counts;
  bool store_available = false;
  StoreFigures store;
  bool workers_available = false;
  std::vector<WorkerFigures> workers;
};

// The admin side's families (never one the registry page renders), with # HELP and # TYPE.
std::string render_admin_families(const AdminFigures& f);

// The replication families from the replicator's status reply (null, or an error reply,
// when it did not answer):
//   rendezvous_replication_replicator_up             1 when the replicator answered
//   pilot_replication_subscribers                    standbys streaming from this leader
//   rendezvous_replication_lag_{records,bytes,seconds}{standby="id"}   per standby (leader)
//   rendezvous_replication_follower_connected, …_follower_lag_records, …_follower_lag_seconds,
//   rendezvous_replication_full_copies_total, …_reconnects_total      (a standby's stream)
// pilot_replication_term, pilot_replication_is_standby and the -repl-sync families come from
// the registry's page (shared/metrics.cc).
std::string render_replication_families(const json_t* replicator_status);

// Checks `text` against the exposition rules this server keeps (ops-spec §6.1): every family
// has one # HELP and one # TYPE line before its samples, appears once, its samples are
// contiguous and named after it (histograms: _bucket/_sum/_count, with le ending in +Inf),
// no series repeats, values parse. Returns "" when it holds, else the first problem found.
std::string exposition_problem(std::string_view text);

}  // namespace rdv::admin
