// Networks and membership: create, join, leave, delete, rename, the enterprise flag and the
// listing (wire-protocol §6.4.1–§6.4.5), and their descriptors.
//
// State: the network record (Db::Networks) with its member count, the name index
// (Db::NetNames, kept in step on create, rename and delete), one members record per membership
// (Db::Members) and the node's own network list; membership.h keeps those consistent. The
// backbone (0) has a record from the first start, but its members are every live node and are
// not stored.
#include <algorithm>

#include "crypto.h"
#include "membership.h"
#include "message_table.h"
#include "policy_rules.h"
#include "util.h"

namespace rdv::registry {

namespace {

// Stored strings of create_network beyond what the name rule bounds. Errors say "too long".
constexpr size_t kMaxJoinRuleBytes = 64;
constexpr size_t kMaxNetworkTokenBytes = 256;

// list_networks writes at most this many entries per turn (as list_nodes does).
constexpr size_t kListChunk = 1000;

std::string net_not_found(uint16_t net) { return "network " + std::to_string(net) + ": network not found"; }
std::string not_registered(uint32_t id) { return "node " + std::to_string(id) + " not registered"; }
std::string too_long(std::string_view field, size_t max) {
  return std::string(field) + " too long (max " + std::to_string(max) + " bytes)";
}

// Appends `,"key":<json>` to an object being written as text: the stored documents (rules,
// expr_policy) are already JSON and go into replies as they are. The caller closes the object.
void append_raw(std::string& body, std::string_view key, std::string_view json) {
  body += ",\"";
  body.append(key);
  body += "\":";
  body.append(json);
}

// The join secret check (§6.4.2): constant time. A token network created without a token
// admits the empty token, as Go's subtle.ConstantTimeCompare("", "") does (token_equal never
// matches an empty configured token, so that case is decided here).
bool join_token_matches(std::string_view presented, std::string_view stored) {
  if (stored.empty()) return presented.empty();
  return token_equal(presented, stored);
}

}  // namespace

Outcome handle_create_network(Request& r) {
  const Message& msg = r.msg;
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  std::string join_rule(msg.str("join_rule")), token(msg.str("token")), net_token(msg.str("network_admin_token"));
  if (join_rule.size() > kMaxJoinRuleBytes) return Outcome::fail(too_long("join_rule", kMaxJoinRuleBytes));
  if (token.size() > kMaxNetworkTokenBytes) return Outcome::fail(too_long("token", kMaxNetworkTokenBytes));
  if (net_token.size() > kMaxNetworkTokenBytes)
    return Outcome::fail(too_long("network_admin_token", kMaxNetworkTokenBytes));

  std::string rules;
  if (std::string err = rules_from_message(msg, &rules); !err.empty()) return Outcome::fail(err);
  // expr_policy: "" is none (D8); here a document needs only version 1, not rules (§6.4.1).
  std::string expr;
  if (expr_policy_text(msg, &expr) && !expr.empty()) {
    if (std::string err = expr_policy_error(expr, false); !err.empty()) return Outcome::fail(err);
    expr = go_json_compact(expr);
  } else {
    expr.clear();
  }
  std::string name(msg.str("name"));
  if (std::string err = network_name_error(name); !err.empty()) return Outcome::fail(err);
  if (join_rule.empty()) join_rule = "open";  // client-expectations D8
  bool enterprise = msg.boolean("enterprise");
  if (join_rule == "invite" && !enterprise)
    return Outcome::fail("enterprise feature: invite-only networks require the enterprise flag");
  uint32_t creator_id = msg.u32("node_id");
  Node creator;
  if (!r.view.get_node(creator_id, &creator)) return Outcome::fail(not_registered(creator_id));

  Write w(r);
  // The id is allocated before the name check, as in Go; a refused request aborts its
  // transaction, so the counter does not move.
  uint16_t id = w.allocate_network_id();
  if (!id) return Outcome::fail("network ID space exhausted (max 65535 networks)");
  if (r.view.network_for_name(name) != 0) return Outcome::fail("network " + go_quote(name) + " already exists");

  Network net;
  net.id = id;
  net.name = name;
  net.join_rule = join_rule;
  net.token = token;
  net.admin_token = net_token;
  net.enterprise = enterprise;
  net.created = r.now_ns / 1000000000;
  net.rules = rules;
  net.expr_policy = expr;
  w.put(Db::NetNames, name, key_u16(id));
  // The creator is the owner, even of a non-enterprise network (§6.4.1).
  add_member(r, w, net, creator, "owner");
  w.audit("network.created", id, creator_id,
          {{"name", name},
           {"join_rule", join_rule},
           {"creator_node_id", std::to_string(creator_id)},
           {"enterprise", enterprise ? "true" : "false"},
           {"managed", rules.empty() ? "false" : "true"}});

  json_t* out = json_pack("{s:s,s:i,s:s%,s:b}", "type", "create_network_ok", "network_id", json_int_t(id), "name",
                          name.data(), name.size(), "enterprise", enterprise);
  if (!rules.empty()) json_object_set_new(out, "managed", json_true());
  return Outcome::ok(out);
}

Outcome handle_join_network(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t node_id = r.msg.u32("node_id");
  if (net_id == 0) return Outcome::fail("cannot join the backbone network");
  Node node;
  if (!r.view.get_node(node_id, &node)) return Outcome::fail(not_registered(node_id));
  if (std::string err = r.authorise(node); !err.empty()) return Outcome::fail(err);
  Network net;
  if (!r.view.get_network(net_id, &net)) return Outcome::fail(net_not_found(net_id));
  if (net.join_rule == "token") {
    if (!join_token_matches(r.msg.str("token"), net.token))
      return Outcome::fail("invalid token for network " + std::to_string(net_id));
  } else if (net.join_rule == "invite") {
    return Outcome::fail("invite-only networks require invite_to_network + respond_invite flow");
  } else if (net.join_rule != "open") {
    return Outcome::fail("unknown join rule: " + net.join_rule);
  }
  // The count includes reaped members, which stay members (§5.5.2), as Go's member list does.
  if (net.max_members > 0 && net.member_count >= net.max_members)
    return Outcome::fail("network membership limit reached");
  if (r.view.get_member(net_id, node_id))
    return Outcome::fail("node " + std::to_string(node_id) + " already in network " + std::to_string(net_id));

  Write w(r);
  std::string role = preassigned_role(r.view, net_id, node);
  bool preassigned = !role.empty();
  if (!preassigned) role = "member";
  add_member(r, w, net, node, role);
  AuditAttrs attrs = {{"role", role}};
  if (preassigned) attrs.push_back({"pre_assigned", "true"});
  w.audit("network.joined", net_id, node_id, attrs);

  std::string body;
  JsonWriter jw(body);
  jw.begin_object()
      .str("type", "join_network_ok")
      .num("network_id", net_id)
      .str("address", format_address(net_id, node_id));
  if (!net.rules.empty()) append_raw(body, "rules", net.rules);
  if (!net.expr_policy.empty()) append_raw(body, "expr_policy", net.expr_policy);
  body += '}';
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_leave_network(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t node_id = r.msg.u32("node_id");
  if (net_id == 0) return Outcome::fail("cannot leave the backbone network");
  Node node;
  if (!r.view.get_node(node_id, &node)) return Outcome::fail(not_registered(node_id));
  if (std::string err = r.authorise(node); !err.empty()) return Outcome::fail(err);
  Network net;
  if (!r.view.get_network(net_id, &net)) return Outcome::fail(net_not_found(net_id));
  Member m;
  bool member = r.view.get_member(net_id, node_id, &m);
  if (net.enterprise && member && m.role == "owner")
    return Outcome::fail("cannot leave network: owner must transfer ownership first");
  if (!member)
    return Outcome::fail("node " + std::to_string(node_id) + " is not a member of network " + std::to_string(net_id));
  Write w(r);
  // A non-enterprise owner may leave: the network becomes ownerless (§6.4.3).
  remove_member(r, w, net, node_id);
  w.audit("network.left", net_id, node_id, {{"role", m.role}});
  return Outcome::ok(json_pack("{s:s,s:i}", "type", "leave_network_ok", "network_id", json_int_t(net_id)));
}

Outcome handle_delete_network(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  if (net_id == 0) return Outcome::fail("cannot delete the backbone network");
  Network net;
  if (std::string err = r.role(net_id, {"owner"}, &net); !err.empty()) return Outcome::fail(err);
  Write w(r);
  delete_network_records(r, w, net);
  w.audit("network.deleted", net_id, r.msg.u32("node_id"),
          {{"name", net.name},
           {"members", std::to_string(net.member_count)},
           {"enterprise", net.enterprise ? "true" : "false"}});
  return Outcome::ok(json_pack("{s:s,s:i}", "type", "delete_network_ok", "network_id", json_int_t(net_id)));
}

Outcome handle_rename_network(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  if (net_id == 0) return Outcome::fail("cannot rename the backbone network");
  Network net;
  if (std::string err = r.role(net_id, {"owner", "admin"}, &net); !err.empty()) return Outcome::fail(err);
  std::string name(r.msg.str("name"));
  if (std::string err = network_name_error(name); !err.empty()) return Outcome::fail(err);
  uint16_t holder = r.view.network_for_name(name);
  if (holder != 0 && holder != net_id) return Outcome::fail("network " + go_quote(name) + " already exists");
  Write w(r);
  std::string old_name = net.name;
  if (name != old_name) {
    if (r.view.network_for_name(old_name) == net_id) w.del(Db::NetNames, old_name);
    w.put(Db::NetNames, name, key_u16(net_id));
    net.name = name;
    w.put_network(net);
  }
  w.audit("network.renamed", net_id, r.msg.u32("node_id"), {{"old_name", old_name}, {"new_name", name}});
  return Outcome::ok(json_pack("{s:s,s:i,s:s%}", "type", "rename_network_ok", "network_id", json_int_t(net_id), "name",
                               name.data(), name.size()));
}

Outcome handle_set_network_enterprise(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  bool enterprise = r.msg.boolean("enterprise");
  if (net_id == 0) return Outcome::fail("cannot set enterprise on the backbone network");
  if (!r.admin().empty()) return Outcome::fail("set_network_enterprise requires admin token");
  Network net;
  if (!r.view.get_network(net_id, &net)) return Outcome::fail(net_not_found(net_id));
  Write w(r);
  std::vector<MemberRow> rows = members_of(r.view, net_id);
  if (!enterprise) {
    // Off: every role goes (§6.4.4); memberships and member tags stay.
    for (MemberRow& row : rows)
      if (!row.member.role.empty()) {
        row.member.role.clear();
        w.put_member(net_id, row.node, row.member);
      }
  } else if (!rows.empty()) {
    // On: members without a role get one, in join order; the first becomes the owner when
    // the network has none.
    bool has_owner = false;
    for (const MemberRow& row : rows) has_owner = has_owner || row.member.role == "owner";
    std::stable_sort(rows.begin(), rows.end(),
                     [](const MemberRow& a, const MemberRow& b) { return a.member.joined_at < b.member.joined_at; });
    for (MemberRow& row : rows) {
      if (!row.member.role.empty()) continue;
      row.member.role = has_owner ? "member" : "owner";
      has_owner = true;
      w.put_member(net_id, row.node, row.member);
    }
  }
  net.enterprise = enterprise;
  w.put_network(net);
  w.audit("network.enterprise_changed", net_id, 0,
          {{"enterprise", enterprise ? "true" : "false"}, {"members", std::to_string(net.member_count)}});
  return Outcome::ok(json_pack("{s:s,s:i,s:b}", "type", "set_network_enterprise_ok", "network_id", json_int_t(net_id),
                               "enterprise", enterprise));
}

namespace {

std::string list_networks_challenge(const Message& m) { return challenge_node("list_networks", m.u32("requester_id")); }
Signer requester_signer(const Message& m) { return {m.u32("requester_id"), {}}; }

// Strict directory auth (§4.6): the networks of the requester when it signed the request with
// its registered key; empty otherwise (then only open networks are listed).
std::vector<uint16_t> verified_requester_networks(Request& r) {
  uint32_t id = r.msg.u32("requester_id");
  Node n;
  Signature sig;
  if (!r.view.get_node(id, &n) || !n.has_key || !decode_signature(r.msg.str("signature"), &sig)) return {};
  if (!r.verify(n.public_key, list_networks_challenge(r.msg), sig.data())) return {};
  return n.networks;
}

}  // namespace

// A read on the loop, built as text in turns: r.partial holds the reply so far, r.resume the
// next network key. Every turn takes the admin and requester decisions again (cheap: one
// node read and a pre-verified signature).
Outcome handle_list_networks(Request& r) {
  bool first = r.resume->empty();
  bool admin = r.has_admin();
  bool filter = r.cfg.strict_directory_auth && !admin;
  std::vector<uint16_t> visible;
  if (filter) visible = verified_requester_networks(r);
  if (first) *r.partial = "{\"type\":\"list_networks_ok\",\"networks\":[";
  std::string& body = *r.partial;
  Cursor c(r.view.txn(), Db::Networks);
  size_t done = 0;
  for (bool ok = c.seek(first ? std::string_view() : std::string_view(*r.resume)); ok; ok = c.next()) {
    if (done == kListChunk) {
      *r.resume = std::string(c.key());
      return Outcome::more();
    }
    done++;
    Network n;
    if (c.key().size() != 2 || !decode_network(c.value(), &n)) continue;
    n.id = uint16_t(uint8_t(c.key()[0]) << 8 | uint8_t(c.key()[1]));
    if (filter && n.join_rule != "open" && std::find(visible.begin(), visible.end(), n.id) == visible.end()) continue;
    if (body.back() != '[') body += ',';
    JsonWriter w(body);
    w.begin_object()
        .num("id", n.id)
        .str("name", n.name)
        .str("join_rule", n.join_rule)
        .boolean("enterprise", n.enterprise)
        .num("created", n.created);
    if (admin) w.num("members", n.id == 0 ? int64_t(r.view.node_count()) : int64_t(n.member_count));
    if (n.enterprise) {
      if (n.max_members > 0) w.num("max_members", n.max_members);
      if (!n.description.empty()) w.str("description", n.description);
    }
    if (!n.expr_policy.empty()) w.boolean("has_expr_policy", true);
    if (!n.rules.empty()) {
      w.boolean("managed", true);
      append_raw(body, "rules", n.rules);
    }
    body += '}';
  }
  r.view.note(c.error());
  body += "]}";
  return Outcome::ok_raw(std::move(body));
}

namespace {

Signer node_signer(const Message& m) { return {m.u32("node_id"), {}}; }
std::string join_challenge(const Message& m) {
  return challenge_pair("join_network", m.u32("node_id"), m.u16("network_id"));
}
std::string leave_challenge(const Message& m) {
  return challenge_pair("leave_network", m.u32("node_id"), m.u16("network_id"));
}

// ROLE and ADMIN messages are Open in the table: the handler decides, in the spec's check
// order (wire §6.4.4 puts the backbone refusal before the role check).
const MessageDesc kMessages[] = {
    {.type = "create_network", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_create_network, .change = ChangeType::Network},
    {.type = "join_network", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_join_network, .signer = node_signer, .challenge = join_challenge,
     .change = ChangeType::Membership},
    {.type = "leave_network", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_leave_network, .signer = node_signer, .challenge = leave_challenge,
     .change = ChangeType::Membership},
    {.type = "delete_network", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_delete_network, .change = ChangeType::Network},
    {.type = "rename_network", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_rename_network, .change = ChangeType::Network},
    {.type = "set_network_enterprise", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_network_enterprise, .change = ChangeType::Network},
    // Open; under strict directory auth an optional signed requester widens what is listed.
    {.type = "list_networks", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_list_networks, .signer = requester_signer, .challenge = list_networks_challenge},
};

}  // namespace

std::span<const MessageDesc> networks_messages() { return kMessages; }

}  // namespace rdv::registry
