#include "config.h"

#include <cstdlib>
#include <cstring>
#include <set>

#include "cidr.h"
#include "json.h"
#include "log.h"
#include "util.h"

namespace rdv {

const char* const kVersion = "rendezvous 0.1.0";

namespace {

enum class Kind { String, Bool, Int, Duration };

struct FlagDef {
  const char* name;
  Kind kind;
  const char* help;
  std::string Config::*str = nullptr;
  bool Config::*boolean = nullptr;
  int64_t Config::*integer = nullptr;
};

FlagDef S(const char* n, std::string Config::*p, const char* h) { return {n, Kind::String, h, p}; }
FlagDef B(const char* n, bool Config::*p, const char* h) { return {n, Kind::Bool, h, nullptr, p}; }
FlagDef I(const char* n, int64_t Config::*p, const char* h) { return {n, Kind::Int, h, nullptr, nullptr, p}; }
FlagDef D(const char* n, int64_t Config::*p, const char* h) { return {n, Kind::Duration, h, nullptr, nullptr, p}; }

const std::vector<FlagDef>& flags() {
  static const std::vector<FlagDef> defs = {
      S("config", &Config::config_path, "JSON config file; command-line flags win over it"),
      S("registry-addr", &Config::registry_addr, "registry TCP listen address"),
      S("beacon-addr", &Config::beacon_addr, "beacon address handed to relay-only lookups"),
      S("store", &Config::store, "Go server snapshot (registry.json) to import into an empty data dir"),
      B("tls", &Config::tls, "TLS on the registry listener"),
      S("tls-cert", &Config::tls_cert, "PEM certificate for -tls"),
      S("tls-key", &Config::tls_key, "PEM key for -tls"),
      S("standby", &Config::standby, "host:port of the leader; run as hot standby"),
      S("http", &Config::http, "admin/dashboard HTTP listen address (empty: none)"),
      S("log-level", &Config::log_level, "debug, info, warn or error"),
      S("log-format", &Config::log_format, "text or json"),
      S("admin-token", &Config::admin_token, "admin token for admin RPCs and the admin HTTP API"),
      S("dashboard-token", &Config::dashboard_token, "legacy dashboard token (accepted, not honoured)"),
      S("maintenance-banner", &Config::maintenance_banner, "initial maintenance banner"),
      S("repl-token", &Config::repl_token, "replication token shared with standbys"),
      D("stale-threshold", &Config::stale_threshold_ns, "silence after which a node is reaped"),
      I("mutex-profile-fraction", &Config::mutex_profile_fraction, "Go runtime knob (accepted, no effect)"),
      I("block-profile-rate", &Config::block_profile_rate, "Go runtime knob (accepted, no effect)"),
      S("wss-addr", &Config::wss_addr, "compat WSS bridge address (not provided by this server)"),
      B("strict-registration-auth", &Config::strict_registration_auth, "refuse unsigned register requests"),
      B("strict-directory-auth", &Config::strict_directory_auth, "private nodes and networks only for signed, entitled requesters (breaks current daemons)"),
      B("strict-heartbeat-freshness", &Config::strict_heartbeat_freshness, "heartbeats must sign a fresh ts; binary heartbeats refused (breaks current daemons)"),
      S("data-dir", &Config::data_dir, "directory of the LMDB environment"),
      S("run-dir", &Config::run_dir, "directory for Unix sockets and metrics pages"),
      I("max-nodes", &Config::max_nodes, "maximum registered nodes (0 = unlimited)"),
      I("max-connections", &Config::max_connections, "maximum concurrent registry connections"),
      I("max-message-bytes", &Config::max_message_bytes, "largest accepted frame (protocol max 64 MiB)"),
      I("map-size-mb", &Config::map_size_mb, "initial LMDB map size in MiB (grows on demand)"),
      I("changelog-keep", &Config::changelog_keep, "change-log records kept for standbys"),
      I("changelog-max-mb", &Config::changelog_max_mb, "disk the change log may use, in MiB"),
      I("heartbeat-flush-ms", &Config::heartbeat_flush_ms, "interval for writing liveness times"),
      I("max-lan-addrs", &Config::max_lan_addrs, "most LAN addresses a node may register"),
      I("max-conn-output-kb", &Config::max_conn_output_kb, "replies a connection may leave unread before it is no longer read, in KiB"),
      D("read-timeout", &Config::read_timeout_ns, "a daemon connection is closed when a frame takes longer than this to arrive (wire 2.5: 5m)"),
      I("rate-limit-global", &Config::rate_limit_global, "requests per second for the whole server (0 = off)"),
      I("rate-limit-per-ip", &Config::rate_limit_per_ip, "requests per second per source IP (0 = off)"),
      I("rate-limit-per-conn", &Config::rate_limit_per_conn, "requests per second per connection (0 = off)"),
      S("rate-limit-whitelist", &Config::rate_limit_whitelist, "whitelist file [{cidr,rate}] (default <data-dir>/rate-limit-whitelist.json)"),
      S("allow-private-endpoints", &Config::allow_private_endpoints, "CIDRs outbound URLs may reach despite being private (a/n,b/m)"),
      S("badge-issuer-keys", &Config::badge_issuer_keys, "badge and enrollment issuer keyring (JSON {keys:[{kid,public_key}]})"),
      S("recovery-keys", &Config::recovery_keys, "cold recovery keyring for recover_identity (same format)"),
      D("beacon-register-cooldown", &Config::beacon_register_cooldown_ns, "least time between two registrations of one beacon id"),
      I("audit-keep", &Config::audit_keep, "audit-log entries kept (the newest)"),
      S("webhook-secret-file", &Config::webhook_secret_file, "file holding the webhook HMAC secret (X-Pilot-Signature-256)"),
      S("accept-mode", &Config::accept_mode, "auto: new keys register at once; manual: they wait for an operator's approval"),
      D("backup-interval", &Config::backup_interval_ns, "how often a compacted copy of the store goes to <data-dir>/backups (0 = never)"),
      D("backups-max-age", &Config::backups_max_age_ns, "backups older than this are swept (0 = no age limit)"),
      I("backups-max-count", &Config::backups_max_count, "most backups kept, newest first (0 = no count limit)"),
      I("http-threads", &Config::http_threads, "admin HTTP worker threads (each open connection holds one)"),
      I("http-max-streams", &Config::http_max_streams, "live dashboard streams served at once (the rest are refused with 503)"),
      B("repl-sync", &Config::repl_sync, "acknowledge a write only once a standby has applied it (degrades to async past -repl-sync-timeout)"),
      D("repl-sync-timeout", &Config::repl_sync_timeout_ns, "how long a write waits for a standby in -repl-sync mode before the leader degrades to async"),
      D("repl-heartbeat", &Config::repl_heartbeat_ns, "replication heartbeat interval, both ways; a peer silent for 3 is dropped"),
      S("repl-id", &Config::repl_id, "this standby's name at its leader (default: the host name)"),
      S("repl-advertise", &Config::repl_advertise, "host:port peers reach our registry on (default: derived from the connection)"),
      B("standby-tls", &Config::standby_tls, "a standby dials its leader (-standby) over TLS"),
      S("standby-tls-ca", &Config::standby_tls_ca, "PEM CA file verifying the leader's certificate (default: the system's roots)"),
      S("standby-tls-pin", &Config::standby_tls_pin, "SHA-256 of the leader's certificate, hex (instead of a CA; as DialTLSPinned)"),
      S("proxy-protocol-from", &Config::proxy_protocol_from, "source CIDRs whose PROXY protocol v1/v2 headers are trusted (a/n,b/m)"),
  };
  return defs;
}

const FlagDef* find_flag(const std::string& name) {
  for (auto& f : flags())
    if (name == f.name) return &f;
  return nullptr;
}

bool parse_bool(const std::string& v, bool* out) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") *out = true;
  else if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") *out = false;
  else return false;
  return true;
}

// Applies one textual value to the flag. `where` names the source in error messages.
bool apply(Config& c, const FlagDef& f, const std::string& value, const std::string& where,
           std::string* error) {
  switch (f.kind) {
    case Kind::String:
      c.*f.str = value;
      return true;
    case Kind::Bool:
      if (!parse_bool(value, &(c.*f.boolean))) {
        *error = where + ": invalid boolean \"" + value + "\" (want true or false)";
        return false;
      }
      return true;
    case Kind::Int: {
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0) {
        *error = where + ": invalid integer \"" + value + "\"";
        return false;
      }
      c.*f.integer = v;
      return true;
    }
    case Kind::Duration: {
      int64_t ns;
      if (!parse_duration(value, &ns)) {
        *error = where + ": invalid duration \"" + value + "\" (examples: 30m, 90s, 1h)";
        return false;
      }
      c.*f.integer = ns;
      return true;
    }
  }
  return false;
}

std::string value_text(const Config& c, const FlagDef& f) {
  switch (f.kind) {
    case Kind::String: return c.*f.str;
    case Kind::Bool: return (c.*f.boolean) ? "true" : "false";
    case Kind::Int: return std::to_string(c.*f.integer);
    case Kind::Duration: return format_duration(c.*f.integer);
  }
  return "";
}

// Converts a JSON config value to the flag's text form (Go: strings, numbers, booleans).
bool json_value_text(const json_t* v, std::string* out) {
  if (json_is_string(v)) *out = std::string(json_string_value(v), json_string_length(v));
  else if (json_is_true(v)) *out = "true";
  else if (json_is_false(v)) *out = "false";
  else if (json_is_integer(v)) *out = std::to_string(json_integer_value(v));
  else if (json_is_real(v)) {
    double d = json_real_value(v);
    char buf[64];
    if (d == double(int64_t(d))) snprintf(buf, sizeof buf, "%lld", (long long)d);
    else snprintf(buf, sizeof buf, "%g", d);
    *out = buf;
  } else {
    return false;
  }
  return true;
}

bool load_file(Config& c, const std::set<std::string>& explicit_flags, std::string* error) {
  json_error_t jerr;
  JsonPtr root(json_load_file(c.config_path.c_str(), 0, &jerr));
  if (!root) {
    *error = "config " + c.config_path + ": " +
             (jerr.line > 0 ? "line " + std::to_string(jerr.line) + ": " : std::string()) + jerr.text;
    return false;
  }
  if (!json_is_object(root.get())) {
    *error = "config " + c.config_path + ": top level must be a JSON object";
    return false;
  }
  for (auto& f : flags()) {
    if (explicit_flags.count(f.name) || std::strcmp(f.name, "config") == 0) continue;
    std::string hyphen = f.name, underscore = f.name;
    for (auto& ch : underscore)
      if (ch == '-') ch = '_';
    const json_t* v = json_object_get(root.get(), hyphen.c_str());
    std::string key = hyphen;
    if (!v) {
      v = json_object_get(root.get(), underscore.c_str());
      key = underscore;
    }
    if (!v) continue;
    std::string text;
    if (!json_value_text(v, &text)) {
      *error = "config " + c.config_path + ": key \"" + key + "\": value must be a string, number or boolean";
      return false;
    }
    if (!apply(c, f, text, "config " + c.config_path + ": key \"" + key + "\"", error)) return false;
  }
  // Unknown keys are ignored, as by the Go server, but named so typos are visible.
  const char* k;
  json_t* v;
  json_object_foreach(root.get(), k, v) {
    std::string name = k;
    for (auto& ch : name)
      if (ch == '_') ch = '-';
    if (!find_flag(name)) log_warn("config: unknown key ignored", {{"file", c.config_path}, {"key", k}});
  }
  return true;
}

}  // namespace

bool Config::parse(const std::vector<std::string>& args, std::string* error) {
  cli_args = args;
  std::set<std::string> explicit_flags;
  // The Go server's environment switch; flags and the config file still win.
  if (const char* e = std::getenv("RENDEZVOUS_STRICT_REGISTRATION_AUTH")) parse_bool(e, &strict_registration_auth);
  if (const char* e = std::getenv("RENDEZVOUS_STRICT_DIRECTORY_AUTH")) parse_bool(e, &strict_directory_auth);
  if (const char* e = std::getenv("RENDEZVOUS_STRICT_HEARTBEAT_FRESHNESS")) parse_bool(e, &strict_heartbeat_freshness);
  for (size_t i = 0; i < args.size(); i++) {
    std::string a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      *error = "unexpected argument \"" + a + "\" (flags start with - or --)";
      return false;
    }
    a.erase(0, a[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    if (a == "help" || a == "h") { show_help = true; continue; }
    if (a == "version") { show_version = true; continue; }
    if (a == "check-config") {
      check_config = true;
      if (has_value && !parse_bool(value, &check_config)) {
        *error = "flag -check-config: invalid boolean \"" + value + "\"";
        return false;
      }
      continue;
    }
    const FlagDef* f = find_flag(a);
    if (!f) {
      *error = "unknown flag -" + a + " (see --help)";
      return false;
    }
    if (!has_value) {
      if (f->kind == Kind::Bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        *error = "flag -" + a + " needs a value";
        return false;
      }
    }
    if (!apply(*this, *f, value, std::string("flag -") + f->name, error)) return false;
    explicit_flags.insert(f->name);
  }
  if (!config_path.empty() && !load_file(*this, explicit_flags, error)) return false;
  return validate(error);
}

bool Config::reload(Config* out, std::string* error) const {
  Config fresh;
  if (!fresh.parse(cli_args, error)) return false;
  *out = std::move(fresh);
  return true;
}

bool split_host_port(const std::string& addr, std::string* host, int* port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  std::string h = addr.substr(0, colon), p = addr.substr(colon + 1);
  if (!h.empty() && h.front() == '[') {
    if (h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return false;  // unbracketed IPv6
  }
  if (p.empty() || p.size() > 5) return false;
  for (char ch : p)
    if (ch < '0' || ch > '9') return false;
  int n = std::atoi(p.c_str());
  if (n > 65535) return false;
  *host = h;
  *port = n;
  return true;
}

bool Config::validate(std::string* error) const {
  std::string h;
  int p;
  if (!split_host_port(registry_addr, &h, &p)) {
    *error = "registry-addr: \"" + registry_addr + "\" is not host:port";
    return false;
  }
  if (!http.empty() && !split_host_port(http, &h, &p)) {
    *error = "http: \"" + http + "\" is not host:port";
    return false;
  }
  if (!http.empty() && h.find(':') != std::string::npos) {
    *error = "http: IPv6 listen addresses are not supported (the CivetWeb build has no IPv6); use an IPv4 address or \":port\"";
    return false;
  }
  if (!standby.empty() && !split_host_port(standby, &h, &p)) {
    *error = "standby: \"" + standby + "\" is not host:port";
    return false;
  }
  LogLevel lvl;
  if (!parse_log_level(log_level, &lvl)) {
    *error = "log-level: \"" + log_level + "\" is not one of debug, info, warn, error";
    return false;
  }
  if (log_format != "text" && log_format != "json") {
    *error = "log-format: \"" + log_format + "\" is not text or json";
    return false;
  }
  if (stale_threshold_ns <= 0) {
    *error = "stale-threshold: must be positive";
    return false;
  }
  if (tls_cert.empty() != tls_key.empty()) {
    *error = tls_cert.empty() ? "tls-key: given without -tls-cert" : "tls-cert: given without -tls-key";
    return false;
  }
  if (!tls && !tls_cert.empty()) {
    *error = "tls-cert: given without -tls (the registry listener would stay plain TCP)";
    return false;
  }
  if (!standby_tls_pin.empty() &&
      (standby_tls_pin.size() != 64 || standby_tls_pin.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
    *error = "standby-tls-pin: \"" + standby_tls_pin + "\" is not a SHA-256 in hex (64 characters)";
    return false;
  }
  if (!standby_tls && (!standby_tls_pin.empty() || !standby_tls_ca.empty())) {
    *error = std::string(standby_tls_pin.empty() ? "standby-tls-ca" : "standby-tls-pin") + ": given without -standby-tls";
    return false;
  }
  {
    CidrList ranges;
    std::string why;
    if (!parse_cidr_list(proxy_protocol_from, &ranges, &why)) {
      *error = "proxy-protocol-from: " + why;
      return false;
    }
  }
  if (!wss_addr.empty()) {
    *error = "wss-addr: the compat WSS bridge is not part of this server";
    return false;
  }
  if (data_dir.empty()) {
    *error = "data-dir: must not be empty";
    return false;
  }
  if (run_dir.empty()) {
    *error = "run-dir: must not be empty";
    return false;
  }
  if (max_nodes < 0) { *error = "max-nodes: must be >= 0"; return false; }
  if (max_connections < 1) { *error = "max-connections: must be >= 1"; return false; }
  if (max_message_bytes < 1024 || max_message_bytes > (64LL << 20)) {
    *error = "max-message-bytes: must be between 1024 and 67108864";
    return false;
  }
  if (map_size_mb < 1 || map_size_mb > (1LL << 24)) { *error = "map-size-mb: must be between 1 and 16777216"; return false; }
  if (changelog_keep < 1000) { *error = "changelog-keep: must be >= 1000"; return false; }
  if (changelog_max_mb < 1) { *error = "changelog-max-mb: must be >= 1"; return false; }
  if (max_lan_addrs < 1 || max_lan_addrs > 1024) { *error = "max-lan-addrs: must be between 1 and 1024"; return false; }
  if (read_timeout_ns < 1000000000LL || read_timeout_ns > 24LL * 3600 * 1000000000) {
    *error = "read-timeout: must be between 1s and 24h";
    return false;
  }
  if (max_conn_output_kb < 64 || max_conn_output_kb > (1 << 20)) {
    *error = "max-conn-output-kb: must be between 64 and 1048576";
    return false;
  }
  for (auto [name, v] : {std::pair{"rate-limit-global", rate_limit_global}, {"rate-limit-per-ip", rate_limit_per_ip},
                         {"rate-limit-per-conn", rate_limit_per_conn}})
    if (v < 0) {
      *error = std::string(name) + ": must be >= 0 (0 turns the limit off)";
      return false;
    }
  if (beacon_register_cooldown_ns < 0) { *error = "beacon-register-cooldown: must be >= 0"; return false; }
  if (audit_keep < 1 || audit_keep > 10000000) { *error = "audit-keep: must be between 1 and 10000000"; return false; }
  if (accept_mode != "auto" && accept_mode != "manual") {
    *error = "accept-mode: must be auto or manual, not " + go_quote(accept_mode);
    return false;
  }
  if (backup_interval_ns < 0 || backups_max_age_ns < 0 || backups_max_count < 0) {
    *error = "backup-interval, backups-max-age and backups-max-count: must be >= 0";
    return false;
  }
  if (http_max_streams < 1 || http_threads < http_max_streams + 8 || http_threads > 4096) {
    *error = "http-threads: must be between http-max-streams + 8 and 4096 (streams must leave threads for probes)";
    return false;
  }
  CidrList private_ranges;
  std::string bad_range;
  if (!parse_cidr_list(allow_private_endpoints, &private_ranges, &bad_range)) {
    *error = "allow-private-endpoints: " + bad_range;
    return false;
  }
  if (repl_sync_timeout_ns < 10000000 || repl_heartbeat_ns < 10000000) {
    *error = "repl-sync-timeout and repl-heartbeat: must be at least 10ms";
    return false;
  }
  if (!repl_advertise.empty() && !split_host_port(repl_advertise, &h, &p)) {
    *error = "repl-advertise: \"" + repl_advertise + "\" is not host:port";
    return false;
  }
  if (repl_id.size() > 200) {
    *error = "repl-id: at most 200 bytes";
    return false;
  }
  if (heartbeat_flush_ms < 10 || heartbeat_flush_ms > 60000) {
    *error = "heartbeat-flush-ms: must be between 10 and 60000";
    return false;
  }
  return true;
}

json_t* Config::to_json() const {
  json_t* o = json_object();
  for (auto& f : flags()) json_object_set_new(o, f.name, json_string(value_text(*this, f).c_str()));
  if (fenced) json_object_set_new(o, "fenced", json_true());
  if (!tls_generated.empty()) json_object_set_new(o, "tls-generated", json_string(tls_generated.c_str()));
  return o;
}

bool Config::from_json(const json_t* obj, std::string* error) {
  if (!json_is_object(obj)) {
    *error = "config message is not an object";
    return false;
  }
  for (auto& f : flags()) {
    const json_t* v = json_object_get(obj, f.name);
    if (!json_is_string(v)) continue;
    if (!apply(*this, f, json_string_value(v), std::string("config ") + f.name, error)) return false;
  }
  fenced = json_is_true(json_object_get(obj, "fenced"));
  if (const char* pem = json_string_value(json_object_get(obj, "tls-generated"))) tls_generated = pem;
  return true;
}

std::string Config::usage() {
  std::string u =
      "usage: rendezvous [flags]\n"
      "\n"
      "Pilot Protocol rendezvous server: supervisor of the registry, admin and replicator workers.\n"
      "Flags take one or two dashes: -flag value, -flag=value, --flag=value.\n\n";
  for (auto& f : flags()) {
    Config d;
    std::string line = std::string("  -") + f.name;
    if (f.kind != Kind::Bool) line += " value";
    while (line.size() < 30) line += ' ';
    line += f.help;
    std::string def = value_text(d, f);
    if (!def.empty() && def != "false") line += " (default " + def + ")";
    u += line + "\n";
  }
  u +=
      "  -check-config               validate flags and config file, then exit\n"
      "  -version                    print the version and exit\n"
      "  -help                       this text\n";
  return u;
}

}  // namespace rdv
