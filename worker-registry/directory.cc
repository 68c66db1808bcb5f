// Directory messages: lookup, resolve, hostnames, visibility, tags, listing
// (wire-protocol §6.3).
#include "crypto.h"
#include "registry.h"
#include "util.h"

namespace rdv::registry {

namespace {

json_t* jstr(const std::string& s) { return json_stringn(s.data(), s.size()); }

// The endpoint published for a public node: its real address, or the registry's beacon
// address when it is relay-only (§6.3.1).
std::string published_endpoint(const Request& r, const Node& n) {
  return n.relay_only ? beacon_endpoint(r.reg.config(), r.peer) : n.real_addr;
}

void add_badge(json_t* out, const Node& n) {
  if (n.badge.empty()) return;
  json_object_set_new(out, "verified", json_true());
  json_object_set_new(out, "badge", jstr(n.badge));
  json_object_set_new(out, "badge_sig", jstr(n.badge_sig));
  if (!n.verification_provider.empty()) json_object_set_new(out, "verification_provider", jstr(n.verification_provider));
  if (n.verified_at) json_object_set_new(out, "verified_at", json_string(rfc3339_utc(n.verified_at).c_str()));
}

int64_t key_age_days(const Node& n, int64_t now) {
  int64_t since = n.rotated_at ? n.rotated_at : n.created_at;
  return since ? whole_days(since, now) : 0;
}

// A node message's common start: parse node_id, load the node, authorise SIG|ADMIN over
// "<verb>:<id>". Returns "" with *node filled, or the error.
std::string load_and_authorise(Request& r, const char* verb, Node* node) {
  uint32_t id = r.msg.u32("node_id");
  if (!r.reg.get_node(id, node)) return node_not_found(id);
  return check_signature_or_admin(r, *node, challenge_node(verb, id));
}

}  // namespace

// The hottest read: written with JsonWriter rather than built as a jansson object.
Outcome handle_lookup(Request& r) {
  Registry& reg = r.reg;
  uint32_t id = r.msg.u32("node_id");
  Node n;
  if (!reg.get_node(id, &n)) return Outcome::fail(node_not_found(id));
  std::string body;
  body.reserve(320);
  JsonWriter w(body);
  w.begin_object();
  w.str("type", "lookup_ok").num("node_id", n.id).str("address", format_address(0, n.id));
  w.begin_array("networks");
  for (uint16_t net : n.networks) w.value_num(net);
  w.end_array();
  w.str("public_key", n.has_key ? base64_encode(n.public_key.data(), 32) : std::string());
  w.boolean("public", n.is_public);
  w.num("last_seen_unix", reg.last_seen_ns(n.id) / 1000000000);
  w.num("key_generation", n.rotate_count);
  if (!n.hostname.empty()) w.str("hostname", n.hostname);
  if (!n.tags.empty()) {
    w.begin_array("tags");
    for (auto& t : n.tags) w.value_str(t);
    w.end_array();
  }
  if (n.task_exec) w.boolean("task_exec", true);
  if (n.is_public) {
    std::string ep = published_endpoint(r, n);
    w.str("real_addr", ep).str("endpoint", ep);
    if (n.relay_only) w.boolean("relay_only", true);
  }
  if (!n.badge.empty()) {
    w.boolean("verified", true).str("badge", n.badge).str("badge_sig", n.badge_sig);
    if (!n.verification_provider.empty()) w.str("verification_provider", n.verification_provider);
    if (n.verified_at) w.str("verified_at", rfc3339_utc(n.verified_at));
  }
  if (!n.version.empty()) w.str("version", n.version);
  w.end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_resolve(Request& r) {
  Registry& reg = r.reg;
  uint32_t target = r.msg.u32("node_id");
  uint32_t requester = r.msg.u32("requester_id");
  Node req;
  if (!reg.get_node(requester, &req))
    return Outcome::fail("resolve denied: requester node " + std::to_string(requester) + " is not registered");
  std::string err = check_signature(r, req, challenge_pair("resolve", requester, target));
  if (!err.empty()) return Outcome::fail(err);
  Node n;
  if (!reg.get_node(target, &n)) return Outcome::fail(node_not_found(target));
  if (!n.is_public && !reg.trust_pair(requester, target) && !Registry::share_network(req, n))
    return Outcome::fail("resolve denied: node " + std::to_string(target) + " is private (establish mutual trust first)");
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("resolve_ok"));
  json_object_set_new(out, "node_id", json_integer(n.id));
  if (n.relay_only) {
    json_object_set_new(out, "real_addr", jstr(beacon_endpoint(reg.config(), r.peer)));
    json_object_set_new(out, "relay_only", json_true());
  } else {
    json_object_set_new(out, "real_addr", jstr(n.real_addr));
    if (!n.lan_addrs.empty()) json_object_set_new(out, "lan_addrs", json_string_list(n.lan_addrs));
  }
  json_object_set_new(out, "key_age_days", json_integer(key_age_days(n, r.now_ns / 1000000000)));
  return Outcome::ok(out);
}

Outcome handle_set_hostname(Request& r) {
  Registry& reg = r.reg;
  std::string hostname(r.msg.str("hostname"));
  if (!hostname.empty()) {
    std::string rule = hostname_error(hostname);
    if (!rule.empty()) return Outcome::fail("invalid hostname: " + rule);
  }
  Node n;
  std::string err = load_and_authorise(r, "set_hostname", &n);
  if (!err.empty()) return Outcome::fail(err);
  if (hostname != n.hostname) {
    Mutation m(reg.txn(), ChangeType::SetHostname);
    if (!hostname.empty()) {
      uint32_t holder = reg.node_for_hostname(hostname);
      Node other;
      if (holder && holder != n.id && reg.get_node(holder, &other) && other.hostname == hostname)
        return Outcome::fail("hostname \"" + hostname + "\" already in use by node " + std::to_string(holder));
      reg.note_store_error(m.put(Db::HostIndex, hostname, key_u32(n.id)));
    }
    if (!n.hostname.empty() && reg.node_for_hostname(n.hostname) == n.id)
      reg.note_store_error(m.del(Db::HostIndex, n.hostname));
    n.hostname = hostname;
    reg.put_node(m, n);
    reg.finish(m);
  }
  return Outcome::ok(json_pack("{s:s,s:i,s:s%}", "type", "set_hostname_ok", "node_id", json_int_t(n.id), "hostname",
                               hostname.data(), hostname.size()));
}

Outcome handle_resolve_hostname(Request& r) {
  Registry& reg = r.reg;
  std::string hostname(r.msg.str("hostname"));
  if (hostname.empty()) return Outcome::fail("hostname required");
  std::string not_found = "hostname \"" + hostname + "\" not found";
  uint32_t id = reg.node_for_hostname(hostname);
  if (!id) return Outcome::fail(not_found);
  Node n;
  if (!reg.get_node(id, &n))
    return Outcome::fail("hostname \"" + hostname + "\" maps to missing node " + std::to_string(id));
  if (!n.is_public) {
    // Private: the node itself, a trusted peer or a network neighbour (requester_id is taken
    // on faith outside strict mode, as in the Go server).
    uint32_t requester = r.msg.u32("requester_id");
    bool allowed = requester == id;
    Node req;
    if (!allowed && requester && reg.get_node(requester, &req))
      allowed = reg.trust_pair(requester, id) || Registry::share_network(req, n);
    if (!allowed) return Outcome::fail(not_found);
  }
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .str("type", "resolve_hostname_ok")
      .num("node_id", n.id)
      .str("address", format_address(0, n.id))
      .boolean("public", n.is_public)
      .str("hostname", n.hostname)
      .num("last_seen_unix", reg.last_seen_ns(n.id) / 1000000000)
      .end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_set_visibility(Request& r) {
  Registry& reg = r.reg;
  Node n;
  std::string err = load_and_authorise(r, "set_visibility", &n);
  if (!err.empty()) return Outcome::fail(err);
  bool pub = r.msg.boolean("public");
  if (pub != n.is_public) {
    Mutation m(reg.txn(), ChangeType::SetVisibility);
    n.is_public = pub;
    reg.put_node(m, n);
    reg.finish(m);
  }
  return Outcome::ok(json_pack("{s:s,s:i,s:s}", "type", "set_visibility_ok", "node_id", json_int_t(n.id), "visibility",
                               pub ? "public" : "private"));
}

Outcome handle_set_tags(Request& r) {
  Registry& reg = r.reg;
  // null or missing clears (client-expectations D9); non-strings are ignored.
  std::vector<std::string> given = r.msg.string_list("tags"), tags;
  std::string rule = normalize_tags(given, &tags);
  if (!rule.empty()) return Outcome::fail(rule);
  Node n;
  std::string err = load_and_authorise(r, "set_tags", &n);
  if (!err.empty()) return Outcome::fail(err);
  if (tags != n.tags) {
    Mutation m(reg.txn(), ChangeType::SetTags);
    n.tags = tags;
    reg.put_node(m, n);
    reg.finish(m);
  }
  json_t* out = json_pack("{s:s,s:i}", "type", "set_tags_ok", "node_id", json_int_t(n.id));
  json_object_set_new(out, "tags", tags.empty() ? json_null() : json_string_list(tags));
  return Outcome::ok(out);
}

Outcome handle_list_nodes(Request& r) {
  Registry& reg = r.reg;
  uint16_t net = r.msg.u16("network_id");
  json_t* nodes = json_array();
  JsonPtr guard(nodes);
  if (net == 0) {
    if (!check_admin(r).empty())
      return Outcome::fail("listing backbone nodes is not permitted (use lookup with a specific node_id)");
    Cursor c(reg.txn(), Db::Nodes);
    for (bool ok = c.seek(); ok; ok = c.next()) {
      Node n;
      if (!decode_node(c.value(), &n)) continue;
      json_t* e = json_object();
      json_object_set_new(e, "node_id", json_integer(n.id));
      json_object_set_new(e, "address", json_string(format_address(0, n.id).c_str()));
      json_object_set_new(e, "public", json_boolean(n.is_public));
      if (!n.hostname.empty()) json_object_set_new(e, "hostname", jstr(n.hostname));
      if (n.task_exec) json_object_set_new(e, "task_exec", json_true());
      if (n.is_public) json_object_set_new(e, "real_addr", jstr(n.real_addr));
      if (!n.tags.empty()) json_object_set_new(e, "tags", json_string_list(n.tags));
      if (!n.external_id.empty()) json_object_set_new(e, "external_id", jstr(n.external_id));
      if (!n.version.empty()) json_object_set_new(e, "version", jstr(n.version));
      json_object_set_new(e, "last_seen", json_string(rfc3339_utc(reg.last_seen_ns(n.id) / 1000000000).c_str()));
      json_array_append_new(nodes, e);
    }
  } else {
    std::string_view rec;
    if (reg.txn().get(Db::Networks, key_u16(net), &rec) != 0)
      return Outcome::fail("network " + std::to_string(net) + ": network not found");
    std::string prefix = key_u16(net);
    Cursor c(reg.txn(), Db::Members);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      uint32_t id = read_u32(c.key().substr(2));
      json_t* e = json_object();
      json_object_set_new(e, "node_id", json_integer(id));
      json_object_set_new(e, "address", json_string(format_address(net, id).c_str()));
      Node n;
      if (!reg.get_node(id, &n)) {
        json_object_set_new(e, "offline", json_true());
      } else {
        json_object_set_new(e, "public", json_boolean(n.is_public));
        if (!n.hostname.empty()) json_object_set_new(e, "hostname", jstr(n.hostname));
        if (n.task_exec) json_object_set_new(e, "task_exec", json_true());
        if (n.is_public) json_object_set_new(e, "real_addr", jstr(n.real_addr));
        if (!n.tags.empty()) json_object_set_new(e, "tags", json_string_list(n.tags));
        add_badge(e, n);
        if (!n.version.empty()) json_object_set_new(e, "version", jstr(n.version));
        json_object_set_new(e, "last_seen", json_string(rfc3339_utc(reg.last_seen_ns(n.id) / 1000000000).c_str()));
      }
      json_array_append_new(nodes, e);
    }
  }
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("list_nodes_ok"));
  json_object_set(out, "nodes", nodes);
  return Outcome::ok(out);
}

}  // namespace rdv::registry
