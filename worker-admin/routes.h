// The admin worker's HTTP surface (ops-spec §5): the route table, the access classes, and the
// pure helpers that decide an answer from a request's method, path, query, headers, body and
// peer address.
//
// Nothing here knows about CivetWeb: http_server.cc turns a CivetWeb connection into a
// Request and writes the Response back, so every decision below can be unit-tested with plain
// values. Handlers live in one file per area; each area exports its rows with a function
// declared at the end of this header, and routes.cc lists the areas in the order of §5.3.
//
// Thread rules: dispatch() and every handler run on CivetWeb worker threads, concurrently.
// Everything they reach through AdminContext is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/json.h"
#include "shared/store.h"
#include "worker-admin/live_config.h"
#include "worker-admin/registry_metrics_source.h"

namespace rdv::admin {

// Everything a handler may use. Owned by main(); outlives the HTTP server.
struct AdminContext {
  Env* env = nullptr;  // the LMDB environment; handlers only begin read transactions
  RegistryMetricsSource* registry_metrics = nullptr;
  LiveConfig* config = nullptr;  // swapped on reload
  int64_t started_unix = 0;      // when this admin worker started (uptime fallback)
  // One request/response turn on the registry's command socket (registry.sock): status,
  // and every operator mutation, so writes take the registry's single write path. Null with
  // *error when the registry cannot answer. A function so unit tests can answer without a socket.
  std::function<JsonPtr(const json_t* request, std::string* error)> registry_call;
  // The same on the replicator's socket (replicator.sock): replication status, promote and
  // demote (docs/replication.md "The replicator's socket"). Null with *error when the
  // replicator cannot answer; an unset function counts as unreachable.
  std::function<JsonPtr(const json_t* request, std::string* error)> replicator_call;
};

struct Request {
  std::string_view method;       // "GET", "POST", …
  std::string_view path;         // URL-decoded path without the query string
  std::string_view query;        // the raw query string (still URL-encoded), without '?'
  std::string_view remote_addr;  // the TCP peer as text, from the socket (never a header)
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // as received
  std::string_view body;         // at most the route's max_body bytes (see dispatch)
  bool body_too_large = false;   // the client sent (or announced) more than max_body
  std::vector<std::string_view> params;  // the path's {} segments, filled by dispatch

  // The first header with this name (case-insensitive), or "" when absent.
  std::string_view header(std::string_view name) const;
  // The URL-decoded value of the first query parameter `name`, or nullopt when absent.
  std::optional<std::string> query_value(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
  // A streamed response (server-sent events): when set, the headers go out without a
  // Content-Length, then stream() runs on the connection's thread and writes with `write`
  // (false once the client is gone) until it returns; the connection then closes.
  std::function<void(const std::function<bool(std::string_view)>& write)> stream;
};

// Access classes (ops-spec §5.2).
enum class Access {
  Public,         // no credential
  LocalhostOnly,  // the TCP peer must be a loopback address, else 403 "Forbidden"
  Admin,          // X-Admin-Token (or ?admin_token= on GET only), else 401
};

using Handler = Response (*)(const AdminContext& ctx, const Request& req);

struct Route {
  // Segments separated by '/'; "{}" matches one non-empty segment, handed to the handler in
  // Request::params. No prefix routes.
  std::string_view pattern;
  std::string_view methods;  // the Allow header value, e.g. "GET" or "GET, PUT, POST"
  Access access;
  Handler handler;
  size_t max_body = 0;          // request body bytes accepted; more → 400 before the handler
  bool trailing_slash = false;  // also match the path with one trailing '/' (§5.3.28–30)
};

// The whole table, in the order of ops-spec §5.3.
std::span<const Route> route_table();
// The route whose pattern matches `path`, or nullptr; *params gets the {} segments.
const Route* find_route(std::string_view path, std::vector<std::string_view>* params = nullptr);
// True when `pattern` matches `path` (see Route::pattern); *params gets the {} segments.
bool match_pattern(std::string_view pattern, std::string_view path, bool trailing_slash,
                   std::vector<std::string_view>* params);

// Decides the answer: 404 for unknown paths, 403 / 401 when the access class refuses the
// request, 405 (with Allow) for a method the route does not serve, 400 for a body over the
// route's limit, otherwise the handler's response.
Response dispatch(const AdminContext& ctx, Request req);

// True when `remote_addr` is a loopback IP literal: 127.0.0.0/8, ::1, or an IPv4-mapped
// ::ffff:127.x.y.z. Anything else, including "localhost", "" and malformed text, is false.
bool is_loopback(std::string_view remote_addr);

// True when `method` is one of the comma-separated `methods` (exact, case-sensitive).
bool method_allowed(std::string_view methods, std::string_view method);

// The admin-token rule of §5.2: "" when `req` carries the configured token (the header, or
// for GET the admin_token query parameter), else the 401 body text. Constant-time compare.
std::string admin_refusal(std::string_view configured_token, const Request& req);

// Percent-decoding of a query component ('+' is a space). Malformed escapes stay as they are.
std::string url_decode(std::string_view text);

// Go http.Error style: text/plain; charset=utf-8, body = text + "\n".
Response text_error(int status, std::string_view text);
// application/json with a compact body.
Response json_response(int status, const json_t* body);
// 405 "Method not allowed" with Allow: methods.
Response method_not_allowed(std::string_view methods);
// Parses a JSON object body; on failure *error says why (jansson's text).
JsonPtr parse_json_body(std::string_view body, std::string* error);

// Each area's rows, one file per area named after what it serves (routes.cc lists them in
// the order of ops-spec §5.3).
std::span<const Route> dashboard_routes();  // /, /api/public-stats, /api/stats, /api/pulse,
                                            // /api/badge/*, /api/events     dashboard.cc
std::span<const Route> health_routes();     // /healthz, /readyz             health.cc
std::span<const Route> verify_routes();     // /api/v1/verify, …/keys        verify.cc
std::span<const Route> nodes_routes();      // /api/nodes                    nodes.cc
std::span<const Route> banner_routes();     // /api/banner                   banner.cc
std::span<const Route> backup_routes();     // /api/snapshot, /api/admin/backups   backups.cc
std::span<const Route> metrics_routes();    // /metrics                      metrics_endpoint.cc
std::span<const Route> runtime_routes();    // /debug/*, /api/runtime, /api/health,
                                            // /api/admin/runtime/*          runtime.cc
std::span<const Route> log_level_routes();  // /api/admin/runtime/log-level  log_level.cc
std::span<const Route> whitelist_routes();  // /api/admin/whitelist          whitelist.cc
std::span<const Route> replication_routes();  // /api/admin/replication-status,
                                              // /api/admin/promote, …/demote   replication.cc
std::span<const Route> audit_routes();      // /api/admin/audit/recent       audit_routes.cc
std::span<const Route> breaker_routes();    // /api/breakers, /api/breakers/{}   breakers.cc
std::span<const Route> network_routes();    // /api/admin/networks/…         networks.cc
std::span<const Route> pending_routes();    // /api/admin/pending/…          pending.cc

}  // namespace rdv::admin
