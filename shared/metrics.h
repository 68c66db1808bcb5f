// Registry metrics live in a small shared-memory page (a file in the run dir, mmap'd): the
// registry worker updates plain atomic counters on its hot path with no syscalls or IPC, and
// the admin worker maps the same file read-only and renders Prometheus text at scrape time.
// The page outlives a registry crash, so counters keep counting across worker restarts.
//
// Labels come from a fixed table of the protocol's message types, so a client cannot create
// unbounded label cardinality (ops-spec §6.2 QUIRK): unknown types count as "unknown".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::metrics {

inline constexpr const char* kMessageTypes[] = {
    "register", "deregister", "rotate_key", "set_key_expiry", "get_key_info", "submit_badge",
    "enroll_recovery", "recover_identity", "set_external_id", "get_identity", "validate_token",
    "heartbeat", "lookup", "resolve", "set_hostname", "resolve_hostname", "set_visibility",
    "set_tags", "list_nodes", "create_network", "join_network", "leave_network", "delete_network",
    "rename_network", "set_network_enterprise", "list_networks", "invite_to_network",
    "poll_invites", "respond_invite", "promote_member", "demote_member", "kick_member",
    "transfer_ownership", "get_member_role", "set_member_tags", "get_member_tags", "report_trust",
    "revoke_trust", "check_trust", "request_handshake", "poll_handshakes", "respond_handshake",
    "set_network_policy", "get_network_policy", "set_expr_policy", "get_expr_policy", "punch",
    "beacon_register", "beacon_list", "get_audit_log", "set_webhook", "get_webhook",
    "get_webhook_dlq", "set_identity_webhook", "provision_network", "set_audit_export",
    "get_audit_export", "set_idp_config", "get_idp_config", "get_provision_status",
    "directory_sync", "directory_status", "subscribe_replication", "subscribe_events", "unknown"};
inline constexpr size_t kTypeCount = sizeof(kMessageTypes) / sizeof(kMessageTypes[0]);
inline constexpr size_t kUnknownType = kTypeCount - 1;

// pilot_request_duration_seconds buckets (ops-spec §6.2).
inline constexpr double kBuckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1};
inline constexpr size_t kBucketCount = sizeof(kBuckets) / sizeof(kBuckets[0]);

// Index into kMessageTypes; kUnknownType for anything not in the table.
size_t type_index(std::string_view type);

struct TypeStats {
  std::atomic<uint64_t> requests;
  std::atomic<uint64_t> errors;
  std::atomic<uint64_t> breaker_open;  // refused by an open circuit breaker (ops-spec §9.2)
  std::atomic<uint64_t> bucket[kBucketCount];  // non-cumulative; rendered cumulatively
  std::atomic<uint64_t> count;
  std::atomic<uint64_t> sum_ns;
};

// Pipeline histograms (fixed bounds, so the page layout is fixed): group-commit duration and
// the time a write waits from its turn to its commit, in seconds; requests per commit.
inline constexpr double kCommitBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1,    2.5};
inline constexpr double kBatchBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
inline constexpr size_t kPipelineBucketCount = 12;
static_assert(sizeof(kCommitBuckets) / sizeof(double) == kPipelineBucketCount);
static_assert(sizeof(kBatchBuckets) / sizeof(double) == kPipelineBucketCount);

struct Histogram {
  std::atomic<uint64_t> bucket[kPipelineBucketCount];  // non-cumulative; rendered cumulatively
  std::atomic<uint64_t> count;
  std::atomic<uint64_t> sum;  // nanoseconds for durations, units for sizes
};

inline constexpr uint64_t kPageMagic = 0x5244564d45545235ull;  // "RDVMETR5"

struct RegistryPage {
  uint64_t magic;
  uint64_t type_count;
  TypeStats types[kTypeCount];
  std::atomic<uint64_t> registrations_total;
  std::atomic<uint64_t> deregistrations_total;
  std::atomic<uint64_t> reaped_total;
  std::atomic<uint64_t> signature_verify_ok;
  std::atomic<uint64_t> signature_verify_fail;
  std::atomic<uint64_t> commits_total;
  std::atomic<uint64_t> commit_failures_total;
  std::atomic<uint64_t> map_resizes_total;
  std::atomic<uint64_t> frames_rejected_total;   // fatal framing errors (connection closed)
  std::atomic<uint64_t> connections_accepted_total;
  std::atomic<uint64_t> worker_starts_total;     // registry worker (re)starts
  // Gauges, written by the registry.
  std::atomic<uint64_t> nodes_online;
  std::atomic<uint64_t> nodes_total;
  std::atomic<uint64_t> tcp_connections;
  std::atomic<uint64_t> changelog_last_seq;
  std::atomic<uint64_t> map_size_bytes;
  std::atomic<int64_t> started_unix;             // first start of this page (uptime base)
  std::atomic<int64_t> heartbeat_unix;           // last time the registry loop ran its timer
  std::atomic<uint64_t> serving;                 // 1 while the registry accepts requests
  std::atomic<uint64_t> is_standby;
  std::atomic<uint64_t> epoch;
  // Requests refused by the rate limiter (wire §2.7, ops-spec §10.6), by the limit that refused.
  std::atomic<uint64_t> ratelimit_denied_ip;
  std::atomic<uint64_t> ratelimit_denied_bucket_table;  // a new IP found the per-IP table full
  std::atomic<uint64_t> ratelimit_denied_global;
  std::atomic<uint64_t> ratelimit_denied_connection;
  // The pipeline (docs/architecture.md): loop passes, the verify pool's backlog, and each
  // group commit's duration, size and what its writes waited.
  std::atomic<uint64_t> loop_passes_total;
  std::atomic<uint64_t> verify_queue_depth;  // requests handed to the verify pool, not yet back
  Histogram commit_duration;                 // kCommitBuckets, sum in ns
  Histogram commit_wait;                     // kCommitBuckets, sum in ns
  Histogram commit_batch_size;               // kBatchBuckets, sum in requests
  // Replication, the registry's side (docs/replication.md): synchronous mode's state (0 off,
  // 1 sync, 2 degraded), its degradations, the replies it holds now and how long each waited
  // for a standby's ack; subscriptions and fences handed to the replicator.
  std::atomic<uint64_t> repl_sync_state;
  std::atomic<uint64_t> repl_sync_degraded_total;
  std::atomic<uint64_t> repl_sync_held;
  Histogram repl_sync_wait;                  // kCommitBuckets, sum in ns
  std::atomic<uint64_t> repl_handoffs_total;
  // The connection layer in front of the protocol (worker-registry/transport.cc): TLS
  // handshakes done and failed, PROXY headers taken, and connections closed for a PROXY header
  // (one from outside -proxy-protocol-from, a malformed one, or one that came too late).
  std::atomic<uint64_t> tls_handshakes_total;
  std::atomic<uint64_t> tls_handshake_failures_total;
  std::atomic<uint64_t> proxy_headers_total;
  std::atomic<uint64_t> proxy_refused_total;
  // Connection limits (docs/operations.md, "Connections and descriptors"): sockets closed at
  // accept because -max-connections were open, and daemon connections closed by the read
  // deadline (-read-timeout, wire §2.5).
  std::atomic<uint64_t> connections_refused_total;
  std::atomic<uint64_t> read_timeouts_total;
};

// Maps `path` (creating and sizing it when `writable`). A symlink at `path` is refused
// (O_NOFOLLOW: the page lives in the run dir). Returns nullptr with *error naming the path and
// the failing call.
RegistryPage* map_registry_page(const std::string& path, bool writable, std::string* error);
// Unmaps a page map_registry_page returned; null is a no-op.
void unmap_registry_page(RegistryPage* page);

// Records one request. Called on the registry's hot path: relaxed atomics only.
void observe(RegistryPage* page, size_t type, int64_t duration_ns, bool error);

// Records one value in a pipeline histogram: `value` is compared with `bounds`, `sum_units`
// is added to the sum (nanoseconds for durations). Relaxed atomics only.
void observe(Histogram& h, const double (&bounds)[kPipelineBucketCount], double value, uint64_t sum_units);

// Prometheus text 0.0.4 number formatting (ops-spec §6.1): integers without a decimal point,
// others shortest %g, +Inf/-Inf/NaN.
std::string format_number(double v);

// Exposition pieces shared by the registry page and the admin worker's own families:
// "# HELP name help\n# TYPE name type\n", and one unlabelled "name value\n" sample.
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help);
void sample(std::string& out, std::string_view name, double v);

// Renders every registry family. `uptime_seconds` is supplied by the caller.
std::string render_registry(const RegistryPage& page);

}  // namespace rdv::metrics
