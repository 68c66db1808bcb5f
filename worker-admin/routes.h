// The admin worker's HTTP surface (ops-spec §5): the route table, the access classes, and the
// pure helpers that decide an answer from a request's method, path and peer address.
//
// Nothing here knows about CivetWeb: http_server.cc turns a CivetWeb connection into a
// Request and writes the Response back, so the decisions below can be unit-tested with plain
// values. Handlers live in one file per area, named after the path they serve, each with a
// header declaring the handler and its pure builders:
//
//   /healthz, /readyz   health.h / health.cc
//   /metrics            metrics_endpoint.h / metrics_endpoint.cc
//   /api/nodes          nodes.h / nodes.cc
//
// Thread rules: dispatch() and every handler run on CivetWeb worker threads, concurrently.
// Everything they reach through AdminContext is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
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
  // Asks the registry worker for {"type":"status"}; null with *error when it cannot answer.
  // A function so tests can answer without a socket.
  std::function<JsonPtr(std::string* error)> registry_status;
};

struct Request {
  std::string_view method;       // "GET", "POST", …
  std::string_view path;         // URL-decoded path without the query string
  std::string_view remote_addr;  // the TCP peer as text, from the socket (never a header)
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
};

// Access classes (ops-spec §5.2). Admin-token routes are not served yet.
enum class Access {
  Public,         // no credential
  LocalhostOnly,  // the TCP peer must be a loopback address, else 403
};

using Handler = Response (*)(const AdminContext& ctx, const Request& req);

struct Route {
  std::string_view path;     // exact match; no prefix routes, no trailing-slash aliases
  std::string_view methods;  // the Allow header value, e.g. "GET" or "GET, PUT"
  Access access;
  Handler handler;
};

// The whole table, in the order of ops-spec §5.3.
std::span<const Route> route_table();
// The route for an exact path, or nullptr.
const Route* find_route(std::string_view path);

// Decides the answer: 404 for unknown paths, 403 when the access class refuses the peer,
// 405 (with Allow) for a method the route does not serve, otherwise the handler's response.
Response dispatch(const AdminContext& ctx, const Request& req);

// True when `remote_addr` is a loopback IP literal: 127.0.0.0/8, ::1, or an IPv4-mapped
// ::ffff:127.x.y.z. Anything else, including "localhost", "" and malformed text, is false.
bool is_loopback(std::string_view remote_addr);

// True when `method` is one of the comma-separated `methods` (exact, case-sensitive).
bool method_allowed(std::string_view methods, std::string_view method);

// Go http.Error style: text/plain; charset=utf-8, body = text + "\n".
Response text_error(int status, std::string_view text);
// application/json with a compact body.
Response json_response(int status, const json_t* body);

}  // namespace rdv::admin
