// rendezvousctl — the operator's command-line client for a running rendezvous.
//
// Most commands talk to the admin worker's HTTP API (ops-spec §5.3) with libcurl's easy
// interface; `check-config` runs the server's own flag parser, and `registry-status` asks the
// registry worker over its Unix socket in the run dir. Commands live in one table below.
//
// Connection: --admin-addr HOST:PORT (or RENDEZVOUS_ADMIN_ADDR; default 127.0.0.1:3000) and
// the admin token from --admin-token T, --admin-token-file F or RENDEZVOUS_ADMIN_TOKEN. The
// token goes in the X-Admin-Token header only (never the URL, never printed). Localhost-only
// routes (nodes, backup) need the CLI to run on the server's host.
//
// Exit codes (also in --help): 0 ok; 1 server error or unreachable (503 included); 2 usage;
// 3 unauthorized (401/403); 4 not found (404); 5 conflict (409: e.g. a standby refusing a
// write); 78 check-config found a configuration error. promote and demote exit 0 when there is
// nothing to do (already leader, already following that leader).
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "files.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitUnauthorized = 3;
constexpr int kExitNotFound = 4;
constexpr int kExitConflict = 5;
constexpr int kCallTimeoutMs = 2000;
constexpr long kHttpTimeoutMs = 15000;        // a snapshot of a large store takes a while
constexpr size_t kMaxReplyBytes = 64u << 20;  // bounded: a listing of every node fits
constexpr const char* kDefaultAdminAddr = "127.0.0.1:3000";

struct Globals {
  std::string run_dir = rdv::Config{}.run_dir;
  std::string admin_addr;
  std::string admin_token;
  bool json = false;
  // Command options.
  std::string reason;
  std::string n;
  std::string q;
  std::string leader;
};

struct Command {
  const char* name;
  const char* synopsis;
  const char* help;
  int (*run)(const Globals& globals, const std::vector<std::string>& args);
};

int usage(const std::string& text) {
  std::fprintf(stderr, "rendezvousctl: %s (see --help)\n", text.c_str());
  return kExitUsage;
}

// ---- HTTP ----

struct HttpReply {
  bool reached = false;  // false: no HTTP answer (error says why)
  long status = 0;
  std::string body;
  std::string error;
};

size_t collect(char* data, size_t size, size_t n, void* userdata) {
  auto* out = static_cast<std::string*>(userdata);
  if (out->size() + size * n > kMaxReplyBytes) return 0;  // aborts the transfer
  out->append(data, size * n);
  return size * n;
}

std::string url_escape(const std::string& s) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

HttpReply http(const Globals& g, const std::string& method, const std::string& path, const std::string& body = "",
               const char* content_type = "application/json") {
  HttpReply r;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    r.error = "curl_easy_init failed";
    return r;
  }
  const std::string url = "http://" + g.admin_addr + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, kHttpTimeoutMs);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method != "GET" && method != "DELETE") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, long(body.size()));
  }
  struct curl_slist* headers = nullptr;
  std::string token_header = "X-Admin-Token: " + g.admin_token;
  std::string type_header = std::string("Content-Type: ") + content_type;
  if (!g.admin_token.empty()) headers = curl_slist_append(headers, token_header.c_str());
  headers = curl_slist_append(headers, type_header.c_str());
  headers = curl_slist_append(headers, "Expect:");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    r.error = "cannot reach " + g.admin_addr + ": " + curl_easy_strerror(rc);
    return r;
  }
  r.reached = true;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

int exit_for_status(long status) {
  if (status >= 200 && status < 300) return rdv::kExitOk;
  if (status == 401 || status == 403) return kExitUnauthorized;
  if (status == 404) return kExitNotFound;
  if (status == 409) return kExitConflict;
  return rdv::kExitFailure;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
  return s.substr(i);
}

// Reports a failed reply on stderr and returns its exit code; 0 (nothing printed) on 2xx.
int check(const HttpReply& r, const std::string& what) {
  if (!r.reached) {
    std::fprintf(stderr, "rendezvousctl: %s\n", r.error.c_str());
    return rdv::kExitFailure;
  }
  int code = exit_for_status(r.status);
  if (code != rdv::kExitOk) {
    std::string text = trim(r.body);
    if (text.size() > 500) text = text.substr(0, 500) + "…";
    std::fprintf(stderr, "rendezvousctl: %s: HTTP %ld: %s\n", what.c_str(), r.status, text.c_str());
  }
  return code;
}

// The reply as JSON, or null with a message (exit 1).
rdv::JsonPtr parse_reply(const HttpReply& r, const std::string& what) {
  rdv::JsonPtr j(json_loadb(r.body.data(), r.body.size(), 0, nullptr));
  if (!j) std::fprintf(stderr, "rendezvousctl: %s: the reply is not JSON\n", what.c_str());
  return j;
}

void print_json(const json_t* j) {
  std::unique_ptr<char, rdv::FreeDeleter> text(json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
  std::printf("%s\n", text ? text.get() : "null");
}

// ---- tables ----

std::string cell(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return "-";
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_integer(v)) return std::to_string(json_integer_value(v));
  if (json_is_real(v)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", json_real_value(v));
    return buf;
  }
  if (json_is_true(v)) return "yes";
  if (json_is_false(v)) return "no";
  std::unique_ptr<char, rdv::FreeDeleter> text(json_dumps(v, JSON_COMPACT));
  return text ? text.get() : "";
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); c++) width[c] = header[c].size();
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size() && c < width.size(); c++) width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t c = 0; c < header.size(); c++) {
      const std::string& v = c < row.size() ? row[c] : std::string();
      out += v;
      if (c + 1 < header.size()) out += std::string(width[c] - std::min(width[c], v.size()) + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::printf("%s\n", out.c_str());
  };
  line(header);
  for (const auto& row : rows) line(row);
}

// Rows of an array of objects, one column per key.
void print_objects(const json_t* array, const std::vector<std::string>& header, const std::vector<const char*>& keys) {
  std::vector<std::vector<std::string>> rows;
  size_t i;
  const json_t* item;
  json_array_foreach(array, i, item) {
    std::vector<std::string> row;
    for (const char* k : keys) row.push_back(cell(item, k));
    rows.push_back(std::move(row));
  }
  print_table(header, rows);
}

// GET `path`, then --json prints the body as it is, else `table` renders it.
int get_and_show(const Globals& g, const std::string& path, const std::string& what, void (*table)(const json_t*)) {
  HttpReply r = http(g, "GET", path);
  if (int code = check(r, what)) return code;
  rdv::JsonPtr j = parse_reply(r, what);
  if (!j) return rdv::kExitFailure;
  if (g.json) print_json(j.get());
  else table(j.get());
  return rdv::kExitOk;
}

// A mutation: prints the JSON reply with --json, else `ok_text`.
int mutate(const Globals& g, const std::string& method, const std::string& path, const std::string& body,
           const std::string& what, const std::string& ok_text, const char* content_type = "application/json") {
  HttpReply r = http(g, method, path, body, content_type);
  if (int code = check(r, what)) return code;
  if (g.json) {
    rdv::JsonPtr j = parse_reply(r, what);
    if (!j) return rdv::kExitFailure;
    print_json(j.get());
  } else {
    std::printf("%s\n", ok_text.c_str());
  }
  return rdv::kExitOk;
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string json_text(json_t* j) {
  rdv::JsonPtr owned(j);
  return rdv::json_dump_compact(owned.get());
}

std::string unix_time(int64_t t) { return t > 0 ? rdv::rfc3339_utc(t) : "-"; }

// ---- commands ----

int cmd_status(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("status takes no arguments");
  struct Part {
    const char* key;
    const char* path;
    rdv::JsonPtr body;
    long status = 0;
  };
  Part parts[] = {{"healthz", "/healthz", nullptr},
                  {"readyz", "/readyz", nullptr},
                  {"runtime", "/api/runtime", nullptr},
                  {"replication", "/api/admin/replication-status", nullptr}};
  int worst = rdv::kExitOk;
  for (Part& p : parts) {
    HttpReply r = http(g, "GET", p.path);
    if (!r.reached) {
      std::fprintf(stderr, "rendezvousctl: %s\n", r.error.c_str());
      return rdv::kExitFailure;
    }
    p.status = r.status;
    // Routes this server version does not serve are skipped; /readyz answers 503 with a
    // body on a standby, which is information, not a failure.
    if (r.status == 404) continue;
    if (r.status == 401 || r.status == 403) {
      check(r, p.path);
      worst = kExitUnauthorized;
      continue;
    }
    p.body.reset(json_loadb(r.body.data(), r.body.size(), 0, nullptr));
  }
  if (worst != rdv::kExitOk) return worst;
  if (g.json) {
    rdv::JsonPtr all(json_object());
    for (Part& p : parts)
      if (p.body) json_object_set(all.get(), p.key, p.body.get());
    print_json(all.get());
    return rdv::kExitOk;
  }
  const json_t* health = parts[0].body.get();
  const json_t* ready = parts[1].body.get();
  const json_t* runtime = parts[2].body.get();
  const json_t* repl = parts[3].body.get();
  std::vector<std::vector<std::string>> kv;
  if (ready) {
    kv.push_back({"role", cell(ready, "role")});
    kv.push_back({"ready", parts[1].status == 200 ? "yes" : "no (" + cell(ready, "reason") + ")"});
    for (const char* k : {"lag", "lag_records", "lag_seconds"})
      if (json_object_get(ready, k)) kv.push_back({k, cell(ready, k)});
  }
  if (health) {
    kv.push_back({"uptime_seconds", cell(health, "uptime_seconds")});
    kv.push_back({"nodes_online", cell(health, "nodes_online")});
  }
  if (repl) {
    for (const char* k : {"role", "epoch", "leader", "last_seq", "subscribers", "last_push_age_secs"})
      if (json_object_get(repl, k)) kv.push_back({std::string("replication.") + k, cell(repl, k)});
    if (const json_t* sync = json_object_get(repl, "sync"))
      kv.push_back({"replication.sync", cell(sync, "state") + (json_is_true(json_object_get(sync, "enabled"))
                                                                   ? " (held " + cell(sync, "held") + ", degraded " +
                                                                         cell(sync, "degraded_total") + " times)"
                                                                   : "")});
    if (rdv::json_str(repl, "replicator") == "unavailable") kv.push_back({"replication.replicator", "unavailable"});
    if (const json_t* f = json_object_get(repl, "follower"); json_is_object(f)) {
      kv.push_back({"follower.state", cell(f, "state")});
      kv.push_back({"follower.lag", cell(f, "lag_records") + " records, " + cell(f, "lag_seconds") + " s"});
      kv.push_back({"follower.applied_seq", cell(f, "applied_seq")});
      kv.push_back({"follower.reconnects", cell(f, "reconnects")});
      if (!rdv::json_str(f, "last_error").empty()) kv.push_back({"follower.last_error", cell(f, "last_error")});
    }
  }
  if (runtime) {
    for (const char* k : {"nodes_total", "networks_total", "open_fds"})
      if (json_object_get(runtime, k)) kv.push_back({k, cell(runtime, k)});
  }
  print_table({"FIELD", "VALUE"}, kv);
  const json_t* standbys = repl ? json_object_get(repl, "standbys") : nullptr;
  if (json_array_size(standbys) > 0) {
    std::printf("\n");
    print_objects(standbys, {"STANDBY", "ADDR", "STATE", "ACKED_SEQ", "LAG_RECORDS", "LAG_BYTES", "LAG_S", "EXACT"},
                  {"id", "addr", "state", "acked_seq", "lag_records", "lag_bytes", "lag_seconds", "lag_exact"});
  }
  const json_t* workers = runtime ? json_object_get(runtime, "workers") : nullptr;
  if (json_is_array(workers)) {
    std::printf("\n");
    print_objects(workers, {"WORKER", "PID", "STATE", "RESTARTS", "UPTIME_S", "RSS_BYTES", "LAST_EXIT"},
                  {"name", "pid", "state", "restarts", "uptime_seconds", "rss_bytes", "last_exit"});
  }
  return rdv::kExitOk;
}

int cmd_registry_status(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("registry-status takes no arguments");
  rdv::JsonPtr req(json_pack("{s:s}", "type", "status"));
  std::string error;
  rdv::JsonPtr reply = rdv::ipc::registry_call(g.run_dir, req.get(), kCallTimeoutMs, &error);
  if (!reply) {
    std::fprintf(stderr, "rendezvousctl: %s\n", error.c_str());
    return rdv::kExitFailure;
  }
  print_json(reply.get());
  return rdv::json_str(reply.get(), "type") == "error" ? rdv::kExitFailure : rdv::kExitOk;
}

int cmd_nodes(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("nodes takes no arguments");
  return get_and_show(g, "/api/nodes", "nodes", [](const json_t* j) {
    print_objects(json_object_get(j, "nodes"), {"NODE_ID", "ADDRESS", "HOSTNAME", "LAST_SEEN"},
                  {"node_id", "address", "hostname", "last_seen"});
  });
}

int cmd_networks(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("networks takes no arguments");
  return get_and_show(g, "/api/admin/networks", "networks", [](const json_t* j) {
    print_objects(json_object_get(j, "networks"), {"ID", "NAME", "MEMBERS", "ADMINS", "OWNERS", "ENTERPRISE", "POLICY"},
                  {"id", "name", "members_count", "admins_count", "owners_count", "enterprise", "policy_set"});
  });
}

int cmd_members(const Globals& g, const std::vector<std::string>& args) {
  if (args.size() != 1 || !is_number(args[0])) return usage("usage: members NET [-q TEXT]");
  std::string path = "/api/admin/networks/" + args[0] + "/members?limit=5000";
  if (!g.q.empty()) path += "&q=" + url_escape(g.q);
  return get_and_show(g, path, "members", [](const json_t* j) {
    print_objects(json_object_get(j, "members"), {"NODE_ID", "ROLE", "HOSTNAME", "LAST_SEEN_UNIX"},
                  {"node_id", "role", "hostname", "last_seen_unix"});
    if (json_integer_value(json_object_get(j, "filtered_total")) > json_integer_value(json_object_get(j, "count")))
      std::printf("(%lld of %lld shown)\n", (long long)json_integer_value(json_object_get(j, "count")),
                  (long long)json_integer_value(json_object_get(j, "filtered_total")));
  });
}

int cmd_kick(const Globals& g, const std::vector<std::string>& args) {
  if (args.size() != 2 || !is_number(args[0]) || !is_number(args[1]) || trim(g.reason).empty())
    return usage("usage: kick NET NODE --reason R");
  return mutate(g, "DELETE", "/api/admin/networks/" + args[0] + "/members/" + args[1] + "?reason=" + url_escape(g.reason),
                "", "kick", "node " + args[1] + " removed from network " + args[0]);
}

int cmd_role(const Globals& g, const std::vector<std::string>& args) {
  if (args.size() != 3 || !is_number(args[0]) || !is_number(args[1]) || (args[2] != "admin" && args[2] != "member") ||
      trim(g.reason).empty())
    return usage("usage: role NET NODE admin|member --reason R");
  std::string body = json_text(json_pack("{s:s,s:s}", "role", args[2].c_str(), "reason", g.reason.c_str()));
  return mutate(g, "PUT", "/api/admin/networks/" + args[0] + "/members/" + args[1] + "/role", body, "role",
                "node " + args[1] + " is now " + args[2] + " of network " + args[0]);
}

int cmd_pending(const Globals& g, const std::vector<std::string>& args) {
  if (args.size() == 1 && args[0] == "list")
    return get_and_show(g, "/api/admin/pending", "pending", [](const json_t* j) {
      print_objects(json_object_get(j, "pending"), {"ID", "PUBLIC_KEY", "LISTEN_ADDR", "OBSERVED_ADDR", "REQUESTED_AT"},
                    {"id", "public_key", "listen_addr", "observed_addr", "requested_at"});
    });
  if (args.size() == 2 && (args[0] == "approve" || args[0] == "reject")) {
    if (args[1].empty() || args[1].size() > 128 || args[1].find('/') != std::string::npos)
      return usage("pending: bad id");
    return mutate(g, "POST", "/api/admin/pending/" + url_escape(args[1]) + "/" + args[0], "", "pending " + args[0],
                  "pending registration " + args[1] + (args[0] == "approve" ? " approved" : " rejected"));
  }
  return usage("usage: pending list | pending approve ID | pending reject ID");
}

int cmd_log_level(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty())
    return get_and_show(g, "/api/admin/runtime/log-level", "log-level",
                        [](const json_t* j) { std::printf("%s\n", cell(j, "level").c_str()); });
  if (args.size() != 1) return usage("usage: log-level [LEVEL]");
  std::string body = json_text(json_pack("{s:s}", "level", args[0].c_str()));
  return mutate(g, "PUT", "/api/admin/runtime/log-level", body, "log-level", "log level " + args[0]);
}

int cmd_banner(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty())
    return get_and_show(g, "/api/banner", "banner", [](const json_t* j) { std::printf("%s\n", cell(j, "banner").c_str()); });
  std::string text;
  for (size_t i = 0; i < args.size(); i++) text += (i ? " " : "") + args[i];
  return mutate(g, "PUT", "/api/banner", text, "banner", text.empty() ? "banner cleared" : "banner set",
                "text/plain; charset=utf-8");
}

int cmd_breakers(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty())
    return get_and_show(g, "/api/breakers", "breakers", [](const json_t* j) {
      print_objects(json_object_get(j, "breakers"), {"NAME", "STATE", "REASON", "UPDATED_AT", "ALLOWED", "DENIED"},
                    {"name", "state", "reason", "updated_at", "allowed_total", "denied_total"});
    });
  auto bad_name = [](const std::string& n) { return n.empty() || n.size() > 200 || n.find('/') != std::string::npos; };
  if (args.size() == 3 && args[0] == "set") {
    if (bad_name(args[1]) || trim(g.reason).empty()) return usage("usage: breakers set NAME STATE --reason R");
    std::string body = json_text(json_pack("{s:s,s:s}", "state", args[2].c_str(), "reason", g.reason.c_str()));
    return mutate(g, "PUT", "/api/breakers/" + url_escape(args[1]), body, "breakers set",
                  "breaker " + args[1] + " set to " + args[2]);
  }
  if (args.size() == 2 && args[0] == "delete") {
    if (bad_name(args[1])) return usage("breakers delete: bad name");
    return mutate(g, "DELETE", "/api/breakers/" + url_escape(args[1]), "", "breakers delete",
                  "breaker " + args[1] + " deleted");
  }
  return usage("usage: breakers [set NAME STATE --reason R | delete NAME]");
}

int cmd_audit(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("usage: audit [-n N]");
  if (!g.n.empty() && !is_number(g.n)) return usage("audit: -n takes a number");
  std::string path = "/api/admin/audit/recent" + (g.n.empty() ? "" : "?n=" + g.n);
  return get_and_show(g, path, "audit", [](const json_t* j) {
    const json_t* events = json_object_get(j, "events");
    if (!json_is_array(events)) {
      std::printf("(no audit events)\n");
      return;
    }
    print_objects(events, {"TIMESTAMP", "ACTION", "NETWORK", "NODE", "DETAILS"},
                  {"timestamp", "action", "network_id", "node_id", "details"});
  });
}

int cmd_backup(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("backup takes no arguments");
  HttpReply r = http(g, "POST", "/api/snapshot");
  if (int code = check(r, "backup")) return code;
  rdv::JsonPtr j = parse_reply(r, "backup");
  if (!j) return rdv::kExitFailure;
  if (g.json) print_json(j.get());
  else std::printf("backup written: %s\n", cell(j.get(), "name").c_str());
  return rdv::kExitOk;
}

int cmd_backups(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("backups takes no arguments");
  return get_and_show(g, "/api/admin/backups", "backups", [](const json_t* j) {
    std::vector<std::vector<std::string>> rows;
    size_t i;
    const json_t* e;
    json_array_foreach(json_object_get(j, "entries"), i, e) {
      rows.push_back({cell(e, "name"), cell(e, "size_bytes"),
                      unix_time(json_integer_value(json_object_get(e, "mod_unix")))});
    }
    print_table({"NAME", "SIZE_BYTES", "MODIFIED"}, rows);
    std::printf("%s backups, %s bytes\n", cell(j, "count").c_str(), cell(j, "total_size_bytes").c_str());
  });
}

// The role from /readyz (public: no token needed, so it can ask a peer): one line,
// "leader", "standby HOST:PORT", "fenced" or "unknown", then " (not ready: …)" when the
// instance is not ready for another reason. Exit 0 whenever the admin API answered with a
// role, ready or not; the notify scripts use it to ask the peer before demoting a leader.
int cmd_role_of_instance(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("whoami takes no arguments");
  HttpReply r = http(g, "GET", "/readyz");
  if (!r.reached) {
    std::fprintf(stderr, "rendezvousctl: %s\n", r.error.c_str());
    return rdv::kExitFailure;
  }
  rdv::JsonPtr j(json_loadb(r.body.data(), r.body.size(), 0, nullptr));
  if (!j || rdv::json_str(j.get(), "role").empty()) {
    std::fprintf(stderr, "rendezvousctl: whoami: /readyz answered HTTP %ld without a role\n", r.status);
    return rdv::kExitFailure;
  }
  if (g.json) {
    json_object_set_new(j.get(), "ready", json_boolean(r.status == 200));
    print_json(j.get());
    return rdv::kExitOk;
  }
  std::string line(rdv::json_str(j.get(), "role"));
  if (line == "standby" && !rdv::json_str(j.get(), "leader").empty()) line += " " + std::string(rdv::json_str(j.get(), "leader"));
  std::string reason(rdv::json_str(j.get(), "reason"));
  if (r.status != 200 && reason != "standby" && reason.rfind("fenced", 0) != 0) line += " (not ready: " + reason + ")";
  std::printf("%s\n", line.c_str());
  return rdv::kExitOk;
}

// promote and demote: idempotent, so a VIP manager's notify script may run them twice (a
// promote on a leader, a demote to the leader already followed, exit 0 and say so).
int cmd_promote(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) return usage("usage: promote [--reason R]");
  if (g.reason.size() > 500 || g.reason.find_first_of("\r\n") != std::string::npos)
    return usage("promote: --reason takes one line of at most 500 bytes");
  std::string body = g.reason.empty() ? "{}" : json_text(json_pack("{s:s}", "reason", g.reason.c_str()));
  HttpReply r = http(g, "POST", "/api/admin/promote", body);
  if (int code = check(r, "promote")) return code;
  rdv::JsonPtr j = parse_reply(r, "promote");
  if (!j) return rdv::kExitFailure;
  if (g.json) print_json(j.get());
  else if (rdv::json_str(j.get(), "status") == "already leader")
    std::printf("already leader (epoch %s)\n", cell(j.get(), "epoch").c_str());
  else
    std::printf("promoted: epoch %s -> %s in %s ms\n", cell(j.get(), "previous_epoch").c_str(),
                cell(j.get(), "epoch").c_str(), cell(j.get(), "took_ms").c_str());
  return rdv::kExitOk;
}

int cmd_demote(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty() || g.leader.empty()) return usage("usage: demote --leader HOST:PORT [--reason R]");
  std::string host;
  int port = 0;
  if (g.leader.size() > 300 || !rdv::split_host_port(g.leader, &host, &port) || host.empty() || port < 1)
    return usage("demote: --leader takes HOST:PORT (the new leader's registry address)");
  if (g.reason.size() > 500 || g.reason.find_first_of("\r\n") != std::string::npos)
    return usage("demote: --reason takes one line of at most 500 bytes");
  rdv::JsonPtr req(json_pack("{s:s}", "leader", g.leader.c_str()));
  if (!g.reason.empty()) json_object_set_new(req.get(), "reason", json_string(g.reason.c_str()));
  HttpReply r = http(g, "POST", "/api/admin/demote", rdv::json_dump_compact(req.get()));
  if (int code = check(r, "demote")) return code;
  rdv::JsonPtr j = parse_reply(r, "demote");
  if (!j) return rdv::kExitFailure;
  if (g.json) print_json(j.get());
  else if (rdv::json_str(j.get(), "status") == "already following")
    std::printf("already following %s\n", cell(j.get(), "leader").c_str());
  else
    std::printf("demoted: now a standby of %s\n", cell(j.get(), "leader").c_str());
  return rdv::kExitOk;
}

int cmd_check_config(const Globals&, const std::vector<std::string>& args) {
  rdv::Config cfg;
  std::string error;
  if (!cfg.parse(args, &error)) {
    std::fprintf(stderr, "rendezvousctl: %s\n", error.c_str());
    return rdv::kExitConfig;
  }
  std::printf("config ok\n");
  return rdv::kExitOk;
}

int cmd_help(const Globals&, const std::vector<std::string>&);

const Command kCommands[] = {
    {"status", "status", "role, readiness, lag, counts and workers (admin API)", cmd_status},
    {"nodes", "nodes", "registered nodes (localhost-only route)", cmd_nodes},
    {"networks", "networks", "networks with member, admin and owner counts", cmd_networks},
    {"members", "members NET [-q TEXT]", "members of network NET", cmd_members},
    {"kick", "kick NET NODE --reason R", "remove NODE from network NET (audited)", cmd_kick},
    {"role", "role NET NODE admin|member --reason R", "set a member's role (audited)", cmd_role},
    {"pending", "pending list|approve ID|reject ID", "the registration accept queue", cmd_pending},
    {"log-level", "log-level [LEVEL]", "show or set the log level", cmd_log_level},
    {"banner", "banner [TEXT]", "show or set the maintenance banner (empty TEXT: \"\" clears)", cmd_banner},
    {"breakers", "breakers [set NAME STATE --reason R | delete NAME]", "list or override circuit breakers",
     cmd_breakers},
    {"audit", "audit [-n N]", "recent audit events, newest first", cmd_audit},
    {"backup", "backup", "take a backup now (localhost-only route)", cmd_backup},
    {"backups", "backups", "list the backups", cmd_backups},
    {"whoami", "whoami", "this instance's replication role from /readyz (public: works against a peer)",
     cmd_role_of_instance},
    {"promote", "promote [--reason R]", "make this standby the leader (raises the epoch; no-op on a leader)",
     cmd_promote},
    {"demote", "demote --leader HOST:PORT [--reason R]", "make this instance a standby of HOST:PORT (registry port)",
     cmd_demote},
    {"registry-status", "registry-status", "the registry worker's status over its Unix socket (-run-dir)",
     cmd_registry_status},
    {"check-config", "check-config [flags...]", "validate server flags and config file (exit 78 on error)",
     cmd_check_config},
    {"help", "help", "this text", cmd_help},
};

int cmd_help(const Globals&, const std::vector<std::string>&) {
  std::printf(
      "usage: rendezvousctl [options] <command> [args…]\n\n"
      "Talks to a running rendezvous through its admin HTTP API.\n\n"
      "options:\n"
      "  --admin-addr HOST:PORT     admin API address (env RENDEZVOUS_ADMIN_ADDR; default %s)\n"
      "  --admin-token T            admin token (env RENDEZVOUS_ADMIN_TOKEN)\n"
      "  --admin-token-file F       read the admin token from F\n"
      "  --json                     print the API's JSON instead of a table\n"
      "  --reason R, -n N, -q TEXT  command options (see below)\n"
      "  --leader HOST:PORT         demote: the leader to follow (its registry address)\n"
      "  -run-dir DIR               run dir of the server, for registry-status (default %s)\n\n"
      "commands:\n",
      kDefaultAdminAddr, Globals{}.run_dir.c_str());
  for (auto& c : kCommands) std::printf("  %-50s %s\n", c.synopsis, c.help);
  std::printf(
      "\nexit codes:\n"
      "  0   ok\n"
      "  1   server error, unexpected reply, or server unreachable (also HTTP 503: e.g.\n"
      "      promote/demote while the replicator is not running)\n"
      "  2   usage error\n"
      "  3   unauthorized (HTTP 401 or 403: wrong or missing token, not on localhost)\n"
      "  4   not found (HTTP 404: no such network, node, pending id, or route)\n"
      "  5   conflict (HTTP 409: e.g. a standby refuses writes, a role change already under way)\n"
      "  78  check-config: configuration error\n");
  return rdv::kExitOk;
}

// "-flag", "--flag" → "flag"; anything else → "".
std::string flag_name(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return "";
  return arg.substr(arg[1] == '-' ? 2 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  rdv::log_init("rendezvousctl");
  rdv::log_set_level(rdv::LogLevel::Warn);
  Globals g;
  std::string token_file;
  bool token_given = false;
  std::string command;
  std::vector<std::string> rest;
  std::vector<std::string> args(argv + 1, argv + argc);
  // Options may come before or after the command; check-config hands everything after it to
  // the server's own parser.
  for (size_t i = 0; i < args.size(); i++) {
    std::string name = flag_name(args[i]);
    if (command == "check-config" || name.empty() || args[i] == "-") {
      if (command.empty()) command = args[i];
      else rest.push_back(args[i]);
      continue;
    }
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "help" || name == "h") return cmd_help(g, {});
    if (name == "json") {
      g.json = true;
      continue;
    }
    std::string* target = nullptr;
    if (name == "admin-addr") target = &g.admin_addr;
    else if (name == "admin-token") target = &g.admin_token, token_given = true;
    else if (name == "admin-token-file") target = &token_file;
    else if (name == "run-dir") target = &g.run_dir;
    else if (name == "reason") target = &g.reason;
    else if (name == "n") target = &g.n;
    else if (name == "q") target = &g.q;
    else if (name == "leader") target = &g.leader;
    if (!target) return usage("unknown option " + args[i]);
    if (!has_value) {
      if (i + 1 >= args.size()) return usage("option " + args[i] + " needs a value");
      value = args[++i];
    }
    *target = value;
  }
  if (command.empty()) {
    cmd_help(g, {});
    return kExitUsage;
  }
  if (g.admin_addr.empty())
    if (const char* env = std::getenv("RENDEZVOUS_ADMIN_ADDR")) g.admin_addr = env;
  if (g.admin_addr.empty()) g.admin_addr = kDefaultAdminAddr;
  if (g.admin_addr.find('/') != std::string::npos || g.admin_addr.find('@') != std::string::npos)
    return usage("--admin-addr takes HOST:PORT");
  if (!token_file.empty()) {
    std::string content, error;
    bool exists = false;
    if (!rdv::read_small_file(token_file, 4096, &content, &exists, &error) || !exists) {
      std::fprintf(stderr, "rendezvousctl: admin token file: %s\n", exists ? error.c_str() : "does not exist");
      return kExitUsage;
    }
    g.admin_token = trim(content);
  } else if (!token_given) {
    if (const char* env = std::getenv("RENDEZVOUS_ADMIN_TOKEN")) g.admin_token = env;
  }
  if (g.admin_token.find_first_of("\r\n") != std::string::npos) return usage("the admin token holds a line break");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (auto& c : kCommands)
    if (command == c.name) {
      int code = c.run(g, rest);
      curl_global_cleanup();
      return code;
    }
  return usage("unknown command \"" + command + "\"");
}
