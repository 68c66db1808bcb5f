// /api/admin/networks, members, operator kick and role change (ops-spec §5.3 rows 27–30).
//
// Reads come straight from LMDB in one read transaction each (the admin worker is a reader of
// the registry's store); the kick and the role change are Local messages on registry.sock
// (worker-registry/operator_members.cc), so they take the registry's single write path and
// are refused by a standby.
#include "worker-admin/networks.h"

#include <algorithm>
#include <cctype>

#include "shared/log.h"
#include "shared/model.h"
#include "shared/util.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

bool parse_uint_text(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = uint64_t(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v > max) return false;
  *out = v;
  return true;
}

std::optional<int64_t> go_atoi(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  uint64_t v = 0;
  if (!parse_uint_text(s, neg ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX), &v)) return std::nullopt;
  return neg ? int64_t(0 - v) : int64_t(v);
}

int64_t members_limit(const std::optional<std::string>& text) {
  std::optional<int64_t> v = text ? go_atoi(*text) : std::nullopt;
  if (!v || *v <= 0) return kMembersDefaultLimit;
  return std::min(*v, kMembersMaxLimit);
}

int64_t members_offset(const std::optional<std::string>& text, int64_t total) {
  std::optional<int64_t> v = text ? go_atoi(*text) : std::nullopt;
  if (!v || *v < 0) return 0;
  return std::min(*v, total);
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

bool member_matches(std::string_view q, std::string_view hostname, uint32_t node_id) {
  if (q.empty()) return true;
  std::string needle = lower(q);
  return lower(hostname).find(needle) != std::string::npos || std::to_string(node_id).find(needle) != std::string::npos;
}

std::string_view trim_space(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string normalize_operator_role(std::string_view role) {
  std::string r = lower(trim_space(role));
  return r == "admin" || r == "member" ? r : "";
}

namespace {

constexpr size_t kMaxReason = 1024;
constexpr size_t kMaxQuery = 256;  // the q filter

Response store_failure(const char* route, const char* call, int rc) {
  log_error(std::string(route) + ": store read failed", {{"call", call}, {"error", lmdb_error(rc)}});
  return text_error(500, "Internal Server Error");
}

uint16_t key_net(std::string_view k) { return uint16_t(uint8_t(k[0]) << 8 | uint8_t(k[1])); }

// ---- row 27 ----

Response handle_networks(const AdminContext& ctx, const Request&) {
  Txn txn;
  if (int rc = ctx.env->begin_read(&txn)) return store_failure("/api/admin/networks", "mdb_txn_begin", rc);
  JsonPtr list(json_array());
  Cursor c(txn, Db::Networks);
  for (bool ok = c.seek(); ok; ok = c.next()) {
    Network n;
    if (c.key().size() != 2 || !decode_network(c.value(), &n)) continue;
    n.id = key_net(c.key());
    uint64_t members = n.member_count, admins = 0, owners = 0;
    if (n.id == 0) {
      MDB_stat st;
      members = txn.stat(Db::Nodes, &st) == 0 ? st.ms_entries : 0;
    } else {
      // Roles are counted from the members records: one prefix scan per network (the
      // network record keeps only the member count).
      std::string prefix = key_u16(n.id);
      Cursor m(txn, Db::Members);
      for (bool more = m.seek(prefix); more && m.key().substr(0, 2) == prefix; more = m.next()) {
        Member mem;
        if (!decode_member(m.value(), &mem)) continue;
        if (mem.role == "admin") admins++;
        else if (mem.role == "owner") owners++;
      }
      if (m.error()) return store_failure("/api/admin/networks", "mdb_cursor_get", m.error());
    }
    json_t* item = json_object();
    json_object_set_new(item, "id", json_integer(n.id));
    json_object_set_new(item, "name", json_stringn(n.name.data(), n.name.size()));
    json_object_set_new(item, "members_count", json_integer(json_int_t(members)));
    json_object_set_new(item, "admins_count", json_integer(json_int_t(admins)));
    json_object_set_new(item, "owners_count", json_integer(json_int_t(owners)));
    json_object_set_new(item, "enterprise", json_boolean(n.enterprise));
    json_object_set_new(item, "policy_set", json_boolean(!n.expr_policy.empty() || !n.rules.empty()));
    json_array_append_new(list.get(), item);
  }
  if (c.error()) return store_failure("/api/admin/networks", "mdb_cursor_get", c.error());
  txn.abort();
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "count", json_integer(json_int_t(json_array_size(list.get()))));
  json_object_set_new(body.get(), "networks", list.release());
  return json_response(200, body.get());
}

// ---- path parameters ----

bool network_param(const Request& req, uint16_t* out, Response* refusal) {
  uint64_t v = 0;
  if (!parse_uint_text(req.params[0], UINT16_MAX, &v)) {
    *refusal = text_error(400, "bad request: network id must be uint16");
    return false;
  }
  *out = uint16_t(v);
  return true;
}

bool node_param(const Request& req, uint32_t* out, Response* refusal) {
  uint64_t v = 0;
  if (!parse_uint_text(req.params[1], UINT32_MAX, &v)) {
    *refusal = text_error(400, "bad request: node id must be uint32");
    return false;
  }
  *out = uint32_t(v);
  return true;
}

// ---- row 28 ----

struct MemberEntry {
  uint32_t node;
  std::string role;
  std::string hostname;
  int64_t last_seen_ns = 0;
};

Response handle_members(const AdminContext& ctx, const Request& req) {
  Response refusal;
  uint16_t net_id = 0;
  if (!network_param(req, &net_id, &refusal)) return refusal;
  std::string q = req.query_value("q").value_or("");
  if (q.size() > kMaxQuery) return text_error(400, "bad request: q too long (max 256 bytes)");

  Txn txn;
  if (int rc = ctx.env->begin_read(&txn)) return store_failure("/api/admin/networks/members", "mdb_txn_begin", rc);
  std::string_view rec;
  int rc = txn.get(Db::Networks, key_u16(net_id), &rec);
  if (rc == MDB_NOTFOUND) return text_error(404, "network " + std::to_string(net_id) + ": network not found");
  if (rc) return store_failure("/api/admin/networks/members", "mdb_get", rc);

  // The node's hostname and last heartbeat; a member whose node was reaped has neither.
  auto describe = [&](uint32_t node, MemberEntry* e) {
    std::string_view v;
    Node n;
    if (txn.get(Db::Nodes, key_u32(node), &v) == 0 && decode_node(v, &n)) e->hostname = n.hostname;
    if (txn.get(Db::Liveness, key_u32(node), &v) == 0) e->last_seen_ns = int64_t(read_u64(v));
  };
  int64_t total = 0;
  std::vector<MemberEntry> matched;
  if (net_id == 0) {
    // Every live node is a member of the backbone; no role is stored for it.
    Cursor c(txn, Db::Nodes);
    for (bool ok = c.seek(); ok; ok = c.next()) {
      Node n;
      if (c.key().size() != 4 || !decode_node(c.value(), &n)) continue;
      total++;
      uint32_t id = read_u32(c.key());
      if (!member_matches(q, n.hostname, id)) continue;
      MemberEntry e{id, "member", n.hostname};
      std::string_view v;
      if (txn.get(Db::Liveness, c.key(), &v) == 0) e.last_seen_ns = int64_t(read_u64(v));
      matched.push_back(std::move(e));
    }
    if (c.error()) return store_failure("/api/admin/networks/members", "mdb_cursor_get", c.error());
  } else {
    std::string prefix = key_u16(net_id);
    Cursor c(txn, Db::Members);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      Member m;
      if (c.key().size() != 6 || !decode_member(c.value(), &m)) continue;
      total++;
      MemberEntry e{read_u32(c.key().substr(2)), m.role.empty() ? "member" : m.role};
      // Without a filter only the page's rows need their node looked up (below).
      if (!q.empty()) describe(e.node, &e);
      if (member_matches(q, e.hostname, e.node)) matched.push_back(std::move(e));
    }
    if (c.error()) return store_failure("/api/admin/networks/members", "mdb_cursor_get", c.error());
  }

  int64_t filtered = int64_t(matched.size());
  int64_t limit = members_limit(req.query_value("limit"));
  int64_t offset = members_offset(req.query_value("offset"), filtered);
  int64_t end = std::min(filtered, offset + limit);
  if (net_id != 0 && q.empty())
    for (int64_t i = offset; i < end; i++) describe(matched[size_t(i)].node, &matched[size_t(i)]);
  txn.abort();
  JsonPtr list(json_array());
  for (int64_t i = offset; i < end; i++) {
    const MemberEntry& e = matched[size_t(i)];
    json_t* item = json_object();
    json_object_set_new(item, "node_id", json_integer(json_int_t(e.node)));
    json_object_set_new(item, "role", json_stringn(e.role.data(), e.role.size()));
    if (!e.hostname.empty()) json_object_set_new(item, "hostname", json_stringn(e.hostname.data(), e.hostname.size()));
    if (e.last_seen_ns > 0) json_object_set_new(item, "last_seen_unix", json_integer(e.last_seen_ns / 1000000000));
    json_array_append_new(list.get(), item);
  }
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "network_id", json_integer(net_id));
  json_object_set_new(body.get(), "count", json_integer(json_int_t(end - offset)));
  json_object_set_new(body.get(), "total", json_integer(total));
  json_object_set_new(body.get(), "filtered_total", json_integer(filtered));
  json_object_set_new(body.get(), "offset", json_integer(offset));
  json_object_set_new(body.get(), "limit", json_integer(limit));
  json_object_set_new(body.get(), "members", list.release());
  return json_response(200, body.get());
}

// ---- rows 29–30: operator mutations on registry.sock ----

// The registry's answer as an HTTP response: 409 on a standby (with the leader it follows),
// 404 for a missing network, 400 with the registry's text for every other refusal, 502 when
// the registry cannot be reached.
Response registry_mutation(const AdminContext& ctx, const json_t* request, const char* ok_type, JsonPtr* reply_out) {
  std::string error;
  JsonPtr reply = ctx.registry_call(request, &error);
  if (!reply) {
    log_warn("operator member change: registry unreachable", {{"error", error}});
    return text_error(502, "registry unavailable");
  }
  std::string_view type = json_str(reply.get(), "type");
  if (type == ok_type) {
    *reply_out = std::move(reply);
    return Response{};
  }
  std::string text(json_str(reply.get(), "error"));
  if (text.rfind("standby mode", 0) == 0) {
    std::string leader = ctx.config->get()->standby;
    return text_error(409, "standby: write operations are accepted by the leader" +
                               (leader.empty() ? std::string() : " (" + leader + ")"));
  }
  if (text.empty()) text = "unexpected registry reply";
  std::string_view missing = "network not found";
  if (text.size() >= missing.size() && text.compare(text.size() - missing.size(), missing.size(), missing) == 0)
    return text_error(404, text);
  return text_error(400, text);
}

Response handle_kick(const AdminContext& ctx, const Request& req) {
  Response refusal;
  uint16_t net_id = 0;
  uint32_t node = 0;
  if (!network_param(req, &net_id, &refusal) || !node_param(req, &node, &refusal)) return refusal;
  std::string reason(trim_space(req.query_value("reason").value_or("")));
  if (reason.empty()) return text_error(400, "bad request: reason is required");
  if (reason.size() > kMaxReason) return text_error(400, "bad request: reason too long (max 1024 bytes)");
  JsonPtr msg(json_pack("{s:s,s:I,s:I,s:s%}", "type", "operator_kick_member", "network_id", json_int_t(net_id),
                        "target_node_id", json_int_t(node), "reason", reason.data(), reason.size()));
  JsonPtr reply;
  Response r = registry_mutation(ctx, msg.get(), "operator_kick_member_ok", &reply);
  if (!reply) return r;
  log_info("operator kicked a member", {{"network_id", std::to_string(net_id)}, {"node_id", std::to_string(node)}});
  JsonPtr body(json_pack("{s:b,s:I,s:I}", "ok", 1, "network_id", json_int_t(net_id), "node_id", json_int_t(node)));
  return json_response(200, body.get());
}

Response handle_role(const AdminContext& ctx, const Request& req) {
  Response refusal;
  uint16_t net_id = 0;
  uint32_t node = 0;
  if (!network_param(req, &net_id, &refusal) || !node_param(req, &node, &refusal)) return refusal;
  std::string error;
  JsonPtr in = parse_json_body(req.body, &error);
  if (!in) return text_error(400, "bad request: " + error);
  json_t* role_v = json_object_get(in.get(), "role");
  json_t* reason_v = json_object_get(in.get(), "reason");
  if ((role_v && !json_is_string(role_v)) || (reason_v && !json_is_string(reason_v) && !json_is_null(reason_v)))
    return text_error(400, "bad request: role and reason must be strings");
  std::string role = normalize_operator_role(json_str(in.get(), "role"));
  if (role.empty()) return text_error(400, "bad request: role must be \"admin\" or \"member\"");
  std::string reason(trim_space(json_str(in.get(), "reason")));
  if (reason.size() > kMaxReason) return text_error(400, "bad request: reason too long (max 1024 bytes)");
  JsonPtr msg(json_pack("{s:s,s:I,s:I,s:s,s:s%}", "type", "operator_set_member_role", "network_id",
                        json_int_t(net_id), "target_node_id", json_int_t(node), "role", role.c_str(), "reason",
                        reason.data(), reason.size()));
  JsonPtr reply;
  Response r = registry_mutation(ctx, msg.get(), "operator_set_member_role_ok", &reply);
  if (!reply) return r;
  log_info("operator changed a member's role",
           {{"network_id", std::to_string(net_id)}, {"node_id", std::to_string(node)}, {"role", role}});
  JsonPtr body(json_pack("{s:b,s:I,s:I,s:s}", "ok", 1, "network_id", json_int_t(net_id), "node_id", json_int_t(node),
                         "role", role.c_str()));
  return json_response(200, body.get());
}

// Any other shape under /api/admin/networks/ (5.3.28–30: "Shapes other than the three → 404").
Response handle_other_shape(const AdminContext&, const Request&) { return text_error(404, "not found"); }

constexpr std::string_view kAnyMethod = "GET, HEAD, PUT, POST, DELETE, PATCH, OPTIONS";

const Route kRoutes[] = {
    {.pattern = "/api/admin/networks", .methods = "GET", .access = Access::Admin, .handler = handle_networks,
     .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/members", .methods = "GET", .access = Access::Admin,
     .handler = handle_members, .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/members/{}", .methods = "DELETE", .access = Access::Admin,
     .handler = handle_kick, .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/members/{}/role", .methods = "PUT, POST", .access = Access::Admin,
     .handler = handle_role, .max_body = 8192, .trailing_slash = true},
    // The other shapes (the router has no prefix routes: one row per depth the API could
    // plausibly be probed at).
    {.pattern = "/api/admin/networks/{}", .methods = kAnyMethod, .access = Access::Admin,
     .handler = handle_other_shape, .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/{}", .methods = kAnyMethod, .access = Access::Admin,
     .handler = handle_other_shape, .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/{}/{}", .methods = kAnyMethod, .access = Access::Admin,
     .handler = handle_other_shape, .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/{}/{}/{}", .methods = kAnyMethod, .access = Access::Admin,
     .handler = handle_other_shape, .trailing_slash = true},
    {.pattern = "/api/admin/networks/{}/{}/{}/{}/{}", .methods = kAnyMethod, .access = Access::Admin,
     .handler = handle_other_shape, .trailing_slash = true},
};

}  // namespace

std::span<const Route> network_routes() { return kRoutes; }

}  // namespace rdv::admin
