// Directory messages: lookup, resolve, hostnames, visibility, tags, listing
// (wire-protocol §6.3).
#include "crypto.h"
#include "message_table.h"
#include "registry.h"
#include "util.h"
#include "wire.h"

namespace rdv::registry {

namespace {

json_t* jstr(const std::string& s) { return json_stringn(s.data(), s.size()); }

// The endpoint published for a public node: its real address, or the registry's beacon
// address when it is relay-only (§6.3.1).
std::string published_endpoint(const Request& r, const Node& n) {
  return n.relay_only ? beacon_endpoint(r.cfg, r.peer) : n.real_addr;
}

void write_badge(JsonWriter& w, const Node& n) {
  if (n.badge.empty()) return;
  w.boolean("verified", true).str("badge", n.badge).str("badge_sig", n.badge_sig);
  if (!n.verification_provider.empty()) w.str("verification_provider", n.verification_provider);
  if (n.verified_at) w.str("verified_at", rfc3339_utc(n.verified_at));
}

// True when the two nodes share a network other than the backbone.
bool share_network(const Node& a, const Node& b) {
  for (uint16_t x : a.networks)
    if (x != 0)
      for (uint16_t y : b.networks)
        if (x == y) return true;
  return false;
}

// StrictDirectoryAuth (wire §4.6): may the request's requester see private node `target`?
// Yes for the global admin token (the operator); otherwise requester_id must name a registered
// node that is the target, shares a non-backbone network with it or has a trust pair with it,
// and the request must carry that node's signature over `challenge`. Every "no" is answered
// exactly like a miss by the caller, so a denial tells nothing about the target.
bool strict_entitled(Request& r, const Node& target, const std::string& challenge) {
  if (r.has_admin()) return true;
  uint32_t requester = r.msg.u32("requester_id");
  Node req;
  if (!r.view.get_node(requester, &req)) return false;
  // The relation first: these are snapshot reads; the signature was verified ahead.
  if (requester != target.id && !share_network(req, target) && !r.view.trust_pair(requester, target.id))
    return false;
  return r.signed_by(req, challenge).empty();
}

int64_t key_age_days(const Node& n, int64_t now) {
  int64_t since = n.rotated_at ? n.rotated_at : n.created_at;
  return since ? whole_days(since, now) : 0;
}

// A node message's common start: parse node_id, load the node, authorise it (SIG|ADMIN over
// the descriptor's challenge). Returns "" with *node filled, or the error.
std::string load_and_authorise(Request& r, Node* node) {
  uint32_t id = r.msg.u32("node_id");
  if (!r.view.get_node(id, node)) return node_not_found(id);
  return r.authorise(*node);
}

}  // namespace

// The hottest read: written with JsonWriter rather than built as a jansson object.
Outcome handle_lookup(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node n;
  if (!r.view.get_node(id, &n)) return Outcome::fail(node_not_found(id));
  if (r.cfg.strict_directory_auth && !n.is_public &&
      !strict_entitled(r, n, challenge_pair("lookup", r.msg.u32("requester_id"), id)))
    return Outcome::fail(node_not_found(id));
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
  w.num("last_seen_unix", r.last_seen_ns(n.id) / 1000000000);
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
  write_badge(w, n);
  if (!n.version.empty()) w.str("version", n.version);
  w.end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_resolve(Request& r) {
  uint32_t target = r.msg.u32("node_id");
  uint32_t requester = r.msg.u32("requester_id");
  Node req;
  if (!r.view.get_node(requester, &req))
    return Outcome::fail("resolve denied: requester node " + std::to_string(requester) + " is not registered");
  std::string err = r.authorise(req);
  if (!err.empty()) return Outcome::fail(err);
  Node n;
  if (!r.view.get_node(target, &n)) return Outcome::fail(node_not_found(target));
  if (!n.is_public && !r.view.trust_pair(requester, target) && !share_network(req, n))
    return Outcome::fail(r.cfg.strict_directory_auth
                             ? node_not_found(target)  // strict: indistinguishable from a miss
                             : "resolve denied: node " + std::to_string(target) +
                                   " is private (establish mutual trust first)");
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("resolve_ok"));
  json_object_set_new(out, "node_id", json_integer(n.id));
  if (n.relay_only) {
    json_object_set_new(out, "real_addr", jstr(beacon_endpoint(r.cfg, r.peer)));
    json_object_set_new(out, "relay_only", json_true());
  } else {
    json_object_set_new(out, "real_addr", jstr(n.real_addr));
    if (!n.lan_addrs.empty()) json_object_set_new(out, "lan_addrs", json_string_list(n.lan_addrs));
  }
  json_object_set_new(out, "key_age_days", json_integer(key_age_days(n, r.now_ns / 1000000000)));
  return Outcome::ok(out);
}

Outcome handle_set_hostname(Request& r) {
  std::string hostname(r.msg.str("hostname"));
  if (!hostname.empty()) {
    std::string rule = hostname_error(hostname);
    if (!rule.empty()) return Outcome::fail("invalid hostname: " + rule);
  }
  Node n;
  std::string err = load_and_authorise(r, &n);
  if (!err.empty()) return Outcome::fail(err);
  if (hostname != n.hostname) {
    if (!hostname.empty()) {
      uint32_t holder = r.view.node_for_hostname(hostname);
      Node other;
      if (holder && holder != n.id && r.view.get_node(holder, &other) && other.hostname == hostname)
        return Outcome::fail("hostname \"" + hostname + "\" already in use by node " + std::to_string(holder));
    }
    Write w(r);
    if (!n.hostname.empty() && r.view.node_for_hostname(n.hostname) == n.id) w.del(Db::HostIndex, n.hostname);
    if (!hostname.empty()) w.put(Db::HostIndex, hostname, key_u32(n.id));
    n.hostname = hostname;
    w.put_node(n);
  }
  return Outcome::ok(json_pack("{s:s,s:i,s:s%}", "type", "set_hostname_ok", "node_id", json_int_t(n.id), "hostname",
                               hostname.data(), hostname.size()));
}

Outcome handle_resolve_hostname(Request& r) {
  std::string hostname(r.msg.str("hostname"));
  if (hostname.empty()) return Outcome::fail("hostname required");
  std::string not_found = "hostname \"" + hostname + "\" not found";
  uint32_t id = r.view.node_for_hostname(hostname);
  if (!id) return Outcome::fail(not_found);
  Node n;
  if (!r.view.get_node(id, &n))
    return Outcome::fail("hostname \"" + hostname + "\" maps to missing node " + std::to_string(id));
  if (!n.is_public && r.cfg.strict_directory_auth) {
    // Strict: the same relations, proven by the requester's signature.
    if (!strict_entitled(r, n, challenge_node("resolve_hostname", r.msg.u32("requester_id"))))
      return Outcome::fail(not_found);
  } else if (!n.is_public) {
    // Private: the node itself, a trusted peer or a network neighbour (requester_id is taken
    // on faith outside strict mode, as in the Go server).
    uint32_t requester = r.msg.u32("requester_id");
    bool allowed = requester == id;
    Node req;
    if (!allowed && requester && r.view.get_node(requester, &req))
      allowed = r.view.trust_pair(requester, id) || share_network(req, n);
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
      .num("last_seen_unix", r.last_seen_ns(n.id) / 1000000000)
      .end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_set_visibility(Request& r) {
  Node n;
  std::string err = load_and_authorise(r, &n);
  if (!err.empty()) return Outcome::fail(err);
  bool pub = r.msg.boolean("public");
  if (pub != n.is_public) {
    Write w(r);
    n.is_public = pub;
    w.put_node(n);
  }
  return Outcome::ok(json_pack("{s:s,s:i,s:s}", "type", "set_visibility_ok", "node_id", json_int_t(n.id), "visibility",
                               pub ? "public" : "private"));
}

Outcome handle_set_tags(Request& r) {
  // null or missing clears (client-expectations D9); non-strings are ignored.
  std::vector<std::string> given = r.msg.string_list("tags"), tags;
  std::string rule = normalize_tags(given, &tags);
  if (!rule.empty()) return Outcome::fail(rule);
  Node n;
  std::string err = load_and_authorise(r, &n);
  if (!err.empty()) return Outcome::fail(err);
  if (tags != n.tags) {
    Write w(r);
    n.tags = tags;
    w.put_node(n);
  }
  json_t* out = json_pack("{s:s,s:i}", "type", "set_tags_ok", "node_id", json_int_t(n.id));
  json_object_set_new(out, "tags", tags.empty() ? json_null() : json_string_list(tags));
  return Outcome::ok(out);
}

namespace {

// list_nodes writes at most this many entries per turn; a longer listing continues in later
// passes (Outcome::more), so a huge network delays nobody else by more than one turn.
constexpr size_t kListChunk = 1000;

void list_entry_common(JsonWriter& w, const Node& n) {
  w.boolean("public", n.is_public);
  if (!n.hostname.empty()) w.str("hostname", n.hostname);
  if (n.task_exec) w.boolean("task_exec", true);
  if (n.is_public) w.str("real_addr", n.real_addr);
  if (!n.tags.empty()) {
    w.begin_array("tags");
    for (auto& t : n.tags) w.value_str(t);
    w.end_array();
  }
}

}  // namespace

// Built as text in turns: r.partial holds the reply so far, r.resume the next key.
Outcome handle_list_nodes(Request& r) {
  uint16_t net = r.msg.u16("network_id");
  bool first = r.resume->empty();
  if (first) {
    if (net == 0 && !r.admin().empty())
      return Outcome::fail("listing backbone nodes is not permitted (use lookup with a specific node_id)");
    if (net != 0 && r.cfg.strict_directory_auth && !r.has_admin()) {
      // Strict: a signed member only. A network that does not exist gets the non-member
      // answer too, so the listing does not reveal which ids exist (the admin still sees
      // "network not found").
      uint32_t requester = r.msg.u32("requester_id");
      Node req;
      if (!r.view.get_node(requester, &req))
        return Outcome::fail("list_nodes denied: requester node " + std::to_string(requester) + " is not registered");
      std::string err = r.signed_by(req, challenge_pair("list_nodes", requester, net));
      if (!err.empty()) return Outcome::fail(err);
      if (!r.view.get_member(net, requester))
        return Outcome::fail("list_nodes denied: node " + std::to_string(requester) + " is not a member of network " +
                             std::to_string(net));
    }
    std::string_view rec;
    if (net != 0 && r.view.txn().get(Db::Networks, key_u16(net), &rec) != 0)
      return Outcome::fail("network " + std::to_string(net) + ": network not found");
    *r.partial = "{\"type\":\"list_nodes_ok\",\"nodes\":[";
  }
  std::string& body = *r.partial;
  std::string prefix = net == 0 ? std::string() : key_u16(net);
  Cursor c(r.view.txn(), net == 0 ? Db::Nodes : Db::Members);
  bool ok = c.seek(first ? prefix : *r.resume);
  size_t n_done = 0;
  for (; ok && (net == 0 || c.key().substr(0, 2) == prefix); ok = c.next()) {
    if (n_done == kListChunk) {
      *r.resume = std::string(c.key());
      return Outcome::more();
    }
    n_done++;
    if (body.back() != '[') body += ',';
    JsonWriter w(body);
    if (net == 0) {
      Node n;
      if (!decode_node(c.value(), &n)) {
        body.pop_back();  // the comma
        continue;
      }
      w.begin_object().num("node_id", n.id).str("address", format_address(0, n.id));
      list_entry_common(w, n);
      if (!n.external_id.empty()) w.str("external_id", n.external_id);
      if (!n.version.empty()) w.str("version", n.version);
      w.str("last_seen", rfc3339_utc(r.last_seen_ns(n.id) / 1000000000)).end_object();
      continue;
    }
    uint32_t id = read_u32(c.key().substr(2));
    w.begin_object().num("node_id", id).str("address", format_address(net, id));
    Node n;
    if (!r.view.get_node(id, &n)) {
      w.boolean("offline", true).end_object();
      continue;
    }
    list_entry_common(w, n);
    write_badge(w, n);
    if (!n.version.empty()) w.str("version", n.version);
    w.str("last_seen", rfc3339_utc(r.last_seen_ns(n.id) / 1000000000)).end_object();
  }
  if (c.error()) r.view.note(c.error());
  body += "]}";
  return Outcome::ok_raw(std::move(body));
}

namespace {

// ---- native binary opcodes (§7.4, §7.5): 0xFF errors with verbatim texts (no sanitiser)
// and "node <id>: not found" wording, as the Go server sends them ----

std::string binary_not_found(uint32_t id) { return "node " + std::to_string(id) + ": not found"; }

void binary_lookup(Request& r, std::string& out) {
  auto* p = reinterpret_cast<const uint8_t*>(r.payload.data());
  size_t len = r.payload.size();
  if (len < 4) return wire::append_binary_error(out, "lookup request too short: " + std::to_string(len) + " bytes");
  uint32_t id = wire::load_be32(p);
  Node n;
  if (!r.view.get_node(id, &n)) return wire::append_binary_error(out, binary_not_found(id));
  // The native lookup carries no requester: with strict directory auth a private node is never
  // disclosed over it (§7.4).
  if (r.cfg.strict_directory_auth && !n.is_public) return wire::append_binary_error(out, binary_not_found(id));
  std::string payload;
  wire::put_be32(payload, n.id);
  payload += char((n.is_public ? 1 : 0) | (n.task_exec ? 2 : 0));
  wire::put_be32(payload, 0);  // reserved (formerly a reputation score)
  wire::put_be16(payload, uint16_t(n.networks.size()));
  for (uint16_t net : n.networks) wire::put_be16(payload, net);
  wire::put_str8(payload, n.has_key ? std::string_view(reinterpret_cast<const char*>(n.public_key.data()), 32) : "");
  wire::put_str8(payload, n.hostname);
  size_t tags = std::min<size_t>(n.tags.size(), 255);
  payload += char(tags);
  for (size_t i = 0; i < tags; i++) wire::put_str8(payload, n.tags[i]);
  wire::put_str16(payload, n.is_public ? published_endpoint(r, n) : "");
  wire::put_str8(payload, "");  // external_id is never disclosed
  wire::append_binary_frame(out, wire::kLookupOk, payload);
}

void binary_resolve(Request& r, std::string& out) {
  auto* p = reinterpret_cast<const uint8_t*>(r.payload.data());
  size_t len = r.payload.size();
  if (len < 72) return wire::append_binary_error(out, "resolve request too short: " + std::to_string(len) + " bytes");
  uint32_t target = wire::load_be32(p), requester = wire::load_be32(p + 4);
  Node req;
  if (!r.view.get_node(requester, &req))
    return wire::append_binary_error(out, "resolve denied: requester node " + std::to_string(requester) + " is not registered");
  if (!req.has_key) return wire::append_binary_error(out, "requester has no public key");
  if (!r.verify(req.public_key, challenge_pair("resolve", requester, target), p + 8))
    return wire::append_binary_error(out, "signature verification failed");
  Node n;
  if (!r.view.get_node(target, &n)) return wire::append_binary_error(out, binary_not_found(target));
  if (!n.is_public && !r.view.trust_pair(requester, target) && !share_network(req, n))
    return wire::append_binary_error(
        out, r.cfg.strict_directory_auth
                 ? binary_not_found(target)
                 : "resolve denied: node " + std::to_string(target) + " is private (establish mutual trust first)");
  std::string payload;
  wire::put_be32(payload, n.id);
  if (n.relay_only) {
    wire::put_str16(payload, beacon_endpoint(r.cfg, r.peer));
    wire::put_be16(payload, 0);
  } else {
    wire::put_str16(payload, n.real_addr);
    size_t count = std::min<size_t>(n.lan_addrs.size(), 1024);
    wire::put_be16(payload, uint16_t(count));
    for (size_t i = 0; i < count; i++) wire::put_str16(payload, n.lan_addrs[i]);
  }
  int64_t since = n.rotated_at ? n.rotated_at : n.created_at;
  wire::put_be32(payload, since ? uint32_t(whole_days(since, r.now_ns / 1000000000)) : 0xFFFFFFFFu);
  wire::append_binary_frame(out, wire::kResolveOk, payload);
}

bool binary_resolve_signature(std::string_view payload, uint32_t* signer, std::string* challenge,
                              const uint8_t** sig) {
  if (payload.size() < 72) return false;
  auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  uint32_t target = wire::load_be32(p);
  *signer = wire::load_be32(p + 4);
  *challenge = challenge_pair("resolve", *signer, target);
  *sig = p + 8;
  return true;
}

// The native lookup has no requester and so nothing to verify (strict mode refuses private
// targets over it instead).
bool binary_lookup_signature(std::string_view, uint32_t*, std::string*, const uint8_t**) { return false; }

Signer node_signer(const Message& m) { return {m.u32("node_id"), {}}; }
Signer requester_signer(const Message& m) { return {m.u32("requester_id"), {}}; }
std::string resolve_challenge(const Message& m) {
  return challenge_pair("resolve", m.u32("requester_id"), m.u32("node_id"));
}
// Strict directory auth's challenges (§4.2), verified ahead whenever a signature is sent.
std::string lookup_challenge(const Message& m) { return challenge_pair("lookup", m.u32("requester_id"), m.u32("node_id")); }
std::string resolve_hostname_challenge(const Message& m) { return challenge_node("resolve_hostname", m.u32("requester_id")); }
std::string list_nodes_challenge(const Message& m) {
  return challenge_pair("list_nodes", m.u32("requester_id"), m.u16("network_id"));
}
std::string set_hostname_challenge(const Message& m) { return challenge_node("set_hostname", m.u32("node_id")); }
std::string set_visibility_challenge(const Message& m) { return challenge_node("set_visibility", m.u32("node_id")); }
std::string set_tags_challenge(const Message& m) { return challenge_node("set_tags", m.u32("node_id")); }

const MessageDesc kMessages[] = {
    // lookup, resolve_hostname and list_nodes are open; their signer and challenge serve the
    // strict switch (a signed requester), so that signature too is verified on the pool.
    {.type = "lookup", .access = Access::Read, .auth = Auth::Open, .standby_ok = true, .handler = handle_lookup,
     .signer = requester_signer, .challenge = lookup_challenge, .opcode = wire::kLookup, .binary = binary_lookup,
     .binary_signature = binary_lookup_signature},
    {.type = "resolve", .access = Access::Read, .auth = Auth::Sig, .standby_ok = true, .handler = handle_resolve,
     .signer = requester_signer, .challenge = resolve_challenge, .opcode = wire::kResolve, .binary = binary_resolve,
     .binary_signature = binary_resolve_signature},
    {.type = "set_hostname", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_set_hostname, .signer = node_signer, .challenge = set_hostname_challenge,
     .change = ChangeType::SetHostname},
    {.type = "resolve_hostname", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_resolve_hostname, .signer = requester_signer, .challenge = resolve_hostname_challenge},
    {.type = "set_visibility", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_set_visibility, .signer = node_signer, .challenge = set_visibility_challenge,
     .change = ChangeType::SetVisibility},
    {.type = "set_tags", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_set_tags, .signer = node_signer, .challenge = set_tags_challenge,
     .change = ChangeType::SetTags},
    // list_nodes of the backbone is ADMIN; of a network, open (wire §6.3.8).
    {.type = "list_nodes", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_list_nodes, .signer = requester_signer, .challenge = list_nodes_challenge},
};

}  // namespace

std::span<const MessageDesc> directory_messages() { return kMessages; }

}  // namespace rdv::registry
