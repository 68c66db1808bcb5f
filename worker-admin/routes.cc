#include "worker-admin/routes.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include <cctype>
#include <cstring>

namespace rdv::admin {

namespace {

struct Table {
  std::vector<Route> rows;
  Table() {
    for (auto area : {dashboard_routes(), health_routes(), verify_routes(), nodes_routes(), banner_routes(),
                      backup_routes(), metrics_routes(), runtime_routes(), log_level_routes(), whitelist_routes(),
                      replication_routes(), audit_routes(), breaker_routes(), network_routes(), pending_routes()})
      rows.insert(rows.end(), area.begin(), area.end());
  }
};

const Table& table() {
  static const Table t;
  return t;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// Hashing both sides first makes the compare constant-time in the token's length too.
bool token_matches(std::string_view configured, std::string_view given) {
  unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
  crypto_generichash(a, sizeof a, reinterpret_cast<const unsigned char*>(configured.data()), configured.size(), nullptr, 0);
  crypto_generichash(b, sizeof b, reinterpret_cast<const unsigned char*>(given.data()), given.size(), nullptr, 0);
  return sodium_memcmp(a, b, sizeof a) == 0;
}

}  // namespace

std::span<const Route> route_table() { return table().rows; }

bool match_pattern(std::string_view pattern, std::string_view path, bool trailing_slash,
                   std::vector<std::string_view>* params) {
  if (trailing_slash && path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string_view> found;
  while (true) {
    size_t p = pattern.find('/'), q = path.find('/');
    std::string_view want = pattern.substr(0, p), have = path.substr(0, q);
    if (want == "{}") {
      if (have.empty()) return false;
      found.push_back(have);
    } else if (want != have) {
      return false;
    }
    if (p == std::string_view::npos || q == std::string_view::npos) {
      if (p != q) return false;
      break;
    }
    pattern.remove_prefix(p + 1);
    path.remove_prefix(q + 1);
  }
  if (params) *params = std::move(found);
  return true;
}

const Route* find_route(std::string_view path, std::vector<std::string_view>* params) {
  for (const Route& r : route_table())
    if (match_pattern(r.pattern, path, r.trailing_slash, params)) return &r;
  return nullptr;
}

std::string_view Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequal(n, name)) return v;
  return {};
}

std::string url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += char(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::string> Request::query_value(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    if (url_decode(pair.substr(0, eq)) == name)
      return eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
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

std::string admin_refusal(std::string_view configured_token, const Request& req) {
  if (configured_token.empty()) return "admin token not configured";
  std::string_view header = req.header("X-Admin-Token");
  if (!header.empty()) return token_matches(configured_token, header) ? "" : "unauthorized";
  // The query token is for GET only: a form or link on another site cannot make a browser
  // send a custom header, so a mutation must carry it (ops-spec §5.2, the CSRF rule).
  if (req.method == "GET" || req.method == "HEAD")
    if (std::optional<std::string> q = req.query_value("admin_token"); q && token_matches(configured_token, *q))
      return "";
  return "unauthorized";
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

Response method_not_allowed(std::string_view methods) {
  Response r = text_error(405, "Method not allowed");
  r.headers.emplace_back("Allow", std::string(methods));
  return r;
}

JsonPtr parse_json_body(std::string_view body, std::string* error) {
  json_error_t err;
  JsonPtr v(json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &err));
  if (!v) {
    *error = err.text;
    return nullptr;
  }
  if (!json_is_object(v.get())) {
    *error = "body must be a JSON object";
    return nullptr;
  }
  return v;
}

Response dispatch(const AdminContext& ctx, Request req) {
  const Route* route = find_route(req.path, &req.params);
  if (!route) return text_error(404, "404 page not found");
  // The access check comes before the method check so a refused peer learns nothing about
  // which methods a protected route serves.
  if (route->access == Access::LocalhostOnly && !is_loopback(req.remote_addr))
    return text_error(403, "Forbidden");
  if (route->access == Access::Admin) {
    std::string refusal = admin_refusal(ctx.config->get()->admin_token, req);
    if (!refusal.empty()) return text_error(401, refusal);
  }
  if (!method_allowed(route->methods, req.method)) return method_not_allowed(route->methods);
  if (req.body_too_large)
    return text_error(400, "bad request: body too large (max " + std::to_string(route->max_body) + " bytes)");
  return route->handler(ctx, req);
}

}  // namespace rdv::admin
