// Configuration: the Go server's flags (one or two dashes), its JSON config file, and our own
// additions. Precedence: command line > config file > built-in default.
//
// The supervisor parses argv and the file, validates, and hands every worker the effective
// configuration as JSON over its control socket (Config::to_json / Config::from_json), so all
// processes agree on one parsed value and workers never re-read files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <jansson.h>

namespace rdv {

struct Config {
  // Go server flags (ops-spec §2.1), same names and defaults.
  std::string config_path;            // -config
  std::string registry_addr = ":9000";
  std::string beacon_addr = ":9001";
  std::string store;                  // Go snapshot path: accepted for compatibility (import source)
  bool tls = false;
  std::string tls_cert, tls_key;
  std::string standby;                // host:port of the leader; non-empty = hot standby
  std::string http;                   // admin/dashboard listen address; empty = no HTTP surface
  std::string log_level = "info";
  std::string log_format = "text";
  std::string admin_token;
  std::string dashboard_token;
  std::string maintenance_banner;
  std::string repl_token;
  // Not a flag: set from <data-dir>/role (shared/role.h) when a leader was fenced by a higher
  // epoch and knows no leader to follow. It refuses writes like a standby.
  bool fenced = false;
  int64_t stale_threshold_ns = 30LL * 60 * 1000000000;  // -stale-threshold 30m
  int64_t mutex_profile_fraction = 1000;  // Go runtime knobs: accepted, no effect here
  int64_t block_profile_rate = 10000;
  std::string wss_addr;
  bool strict_registration_auth = false;  // -strict-registration-auth (wire §4.6)
  bool strict_directory_auth = false;     // -strict-directory-auth
  bool strict_heartbeat_freshness = false;  // -strict-heartbeat-freshness

  // Ours.
  std::string data_dir = "/var/lib/rendezvous";  // the LMDB environment
  std::string run_dir = "/run/rendezvous";       // Unix sockets and shared metrics pages
  int64_t max_nodes = 1000000;                   // 0 = unlimited
  int64_t max_connections = 1100000;
  int64_t max_message_bytes = 64LL << 20;        // protocol maximum (wire §2.3)
  int64_t map_size_mb = 1024;                    // initial LMDB map; grows on demand
  int64_t changelog_keep = 1000000;              // change-log records kept beyond what standbys need
  int64_t changelog_max_mb = 512;                // …and at most this much disk for them
  int64_t heartbeat_flush_ms = 1000;             // how often liveness times are written to LMDB
  int64_t max_lan_addrs = 32;                    // register: most lan_addrs entries
  int64_t max_conn_output_kb = 256;              // unread replies before a connection is not read
  // Wire §2.5's read deadline: a daemon connection must complete each frame (the first one
  // counted from the accept, each next one from the previous reply) within this, whether it
  // sends nothing or a byte at a time. -read-timeout 5m; live on SIGHUP.
  int64_t read_timeout_ns = 5LL * 60 * 1000000000;
  // Rate limits (wire §2.7, ops-spec §10), requests per second; 0 turns a limit off.
  int64_t rate_limit_global = 1000;
  int64_t rate_limit_per_ip = 100;
  int64_t rate_limit_per_conn = 500;
  std::string rate_limit_whitelist;              // "" = <data-dir>/rate-limit-whitelist.json
  // Outbound URLs (webhooks, identity webhook, JWKS, audit export) may not reach loopback,
  // link-local or private addresses unless inside one of these CIDRs ("a/n,b/m").
  std::string allow_private_endpoints;
  // Keyrings (JSON files {"keys":[{"kid","public_key"}]}): badge and enrollment issuers
  // (submit_badge, enroll_recovery), and the cold recovery keys (recover_identity).
  std::string badge_issuer_keys;
  std::string recovery_keys;
  int64_t beacon_register_cooldown_ns = 10LL * 1000000000;  // same beacon id re-registering
  int64_t audit_keep = 1000;                     // audit entries kept (the newest)
  std::string webhook_secret_file;               // HMAC secret for webhook deliveries (ops-spec §8.3)
  std::string accept_mode = "auto";              // auto | manual: the pending-registration queue
  int64_t backup_interval_ns = 24LL * 3600 * 1000000000;     // periodic compacted copies; 0 = none
  int64_t backups_max_age_ns = 14LL * 24 * 3600 * 1000000000;  // -backups-max-age 336h (Go: 14 days)
  int64_t backups_max_count = 50;                // -backups-max-count
  // CivetWeb holds one thread per open connection; live dashboard streams are capped below
  // the thread count so health probes and scrapes always find a free thread.
  int64_t http_threads = 192;
  int64_t http_max_streams = 128;
  // Replication (docs/replication.md).
  bool repl_sync = false;                        // acknowledge writes once a standby has them
  int64_t repl_sync_timeout_ns = 1000000000;     // …or, past this, degrade to asynchronous
  int64_t repl_heartbeat_ns = 1000000000;        // beats both ways; 3 missed drop the peer
  std::string repl_id;                           // this instance's name to its leader ("" = hostname)
  std::string repl_advertise;                    // our registry address as peers reach it ("" = derived)
  // A standby's stream to a leader started with -tls (shared/tls.h): verified by a pin of the
  // leader's certificate (lowercase hex SHA-256, as DialTLSPinned), else by a CA file, else
  // by the system's roots against the -standby host.
  bool standby_tls = false;
  std::string standby_tls_ca, standby_tls_pin;
  // PROXY protocol v1/v2 headers are taken only from these source ranges ("a/n,b/m"; "" =
  // from nowhere): the front ends (nginx proxy_protocol, HAProxy send-proxy) that put the
  // client's own address in front of its bytes.
  std::string proxy_protocol_from;
  // With -tls and no -tls-cert: the self-signed certificate and key (PEM) the supervisor
  // generated at start (not a flag; secret). Kept across SIGHUP and worker restarts so pins hold.
  std::string tls_generated;

  bool check_config = false;
  bool show_help = false;
  bool show_version = false;

  // Parses argv (without argv[0]) and then the -config file. On error returns false and sets
  // *error to a message that names the flag or key and says why.
  bool parse(const std::vector<std::string>& args, std::string* error);

  // Re-reads the config file while keeping the command-line values (SIGHUP): parses the same
  // command line again into *out.
  bool reload(Config* out, std::string* error) const;

  // Checks cross-field rules (addresses parse, durations positive, supported features).
  bool validate(std::string* error) const;

  // Effective configuration as a JSON object keyed by flag name (hyphen form), and back.
  json_t* to_json() const;
  bool from_json(const json_t* obj, std::string* error);

  static std::string usage();

  // Set by parse(): which flags were given on the command line, kept for reload().
  std::vector<std::string> cli_args;
};

// Splits "host:port" (host may be empty or a bracketed IPv6 literal). Returns false if the
// port is missing or not a number in 0..65535.
bool split_host_port(const std::string& addr, std::string* host, int* port);

extern const char* const kVersion;

}  // namespace rdv
