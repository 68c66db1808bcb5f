#include "worker-admin/routes.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "worker-admin/health.h"
#include "worker-admin/metrics_endpoint.h"
#include "worker-admin/nodes.h"

namespace rdv::admin {

namespace {

// Find a route from its path here; the handler's file is named after the area (routes.h).
constexpr Route kRoutes[] = {
    {"/healthz", "GET", Access::Public, handle_healthz},
    {"/readyz", "GET", Access::Public, handle_readyz},
    {"/metrics", "GET", Access::LocalhostOnly, handle_metrics},
    {"/api/nodes", "GET", Access::LocalhostOnly, handle_nodes},
};

}  // namespace

std::span<const Route> route_table() { return kRoutes; }

const Route* find_route(std::string_view path) {
  for (const Route& r : kRoutes)
    if (r.path == path) return &r;
  return nullptr;
}

bool is_loopback(std::string_view remote_addr) {
  // inet_pton needs a NUL-terminated string; anything longer than an IPv6 literal is not one.
  char text[INET6_ADDRSTRLEN];
  if (remote_addr.empty() || remote_addr.size() >= sizeof text) return false;
  std::memcpy(text, remote_addr.data(), remote_addr.size());
  text[remote_addr.size()] = '\0';

  in_addr v4;
  if (inet_pton(AF_INET, text, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, text, &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

bool method_allowed(std::string_view methods, std::string_view method) {
  while (!methods.empty()) {
    size_t comma = methods.find(',');
    std::string_view one = methods.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one == method) return true;
    if (comma == std::string_view::npos) break;
    methods.remove_prefix(comma + 1);
  }
  return false;
}

Response text_error(int status, std::string_view text) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body.assign(text);
  r.body += '\n';
  return r;
}

Response json_response(int status, const json_t* body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json_dump_compact(body);
  return r;
}

Response dispatch(const AdminContext& ctx, const Request& req) {
  const Route* route = find_route(req.path);
  if (!route) return text_error(404, "404 page not found");
  // The access check comes before the method check so a refused peer learns nothing about
  // which methods a protected route serves.
  if (route->access == Access::LocalhostOnly && !is_loopback(req.remote_addr))
    return text_error(403, "Forbidden");
  if (!method_allowed(route->methods, req.method)) {
    Response r = text_error(405, "Method not allowed");
    r.headers.emplace_back("Allow", std::string(route->methods));
    return r;
  }
  return route->handler(ctx, req);
}

}  // namespace rdv::admin
