// RBAC management and member tags (wire-protocol §6.4.7, §6.4.8), and their descriptors.
//
// Roles and member tags live in the members record (Db::Members, shared/model.h Member). ROLE
// checks are Request::role(): a global admin token, the network's own admin token, or the
// role of the unsigned `node_id` (the official client signs none of these, §4.3).
#include <algorithm>

#include "crypto.h"
#include "membership.h"
#include "message_table.h"
#include "policy_rules.h"

namespace rdv::registry {

namespace {

// get_member_tags (all members) writes at most this many entries per turn.
constexpr size_t kListChunk = 1000;

std::string net_not_found(uint16_t net) { return "network " + std::to_string(net) + ": network not found"; }
std::string not_member(uint32_t node, uint16_t net) {
  return "node " + std::to_string(node) + " is not a member of network " + std::to_string(net);
}

// Whether the request was authorised by a token (global, or the network's own) rather than
// by the role of its node_id.
bool by_token(Request& r, const Network& net) {
  if (r.has_admin()) return true;
  std::string_view token = r.msg.str("admin_token");
  return !net.admin_token.empty() && !token.empty() && token_equal(token, net.admin_token);
}

// The common start of promote/demote/kick/transfer: ROLE(roles) and then ENTERPRISE, in that
// order (§6.4.7). Returns "" with *net filled.
std::string role_then_enterprise(Request& r, uint16_t net_id, std::initializer_list<std::string_view> roles,
                                 Network* net) {
  if (std::string err = r.role(net_id, roles, net); !err.empty()) return err;
  return r.enterprise(net_id, net);
}

// ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ (the node tag rule, §6.3.7).
bool valid_member_tag(std::string_view t) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (t.empty() || t.size() > 32 || !alnum(t.front()) || !alnum(t.back())) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return alnum(c) || c == '-'; });
}

json_t* role_reply(const char* type, uint16_t net, uint32_t target, const char* role) {
  return json_pack("{s:s,s:i,s:i,s:s}", "type", type, "network_id", json_int_t(net), "target_node_id",
                   json_int_t(target), "role", role);
}

}  // namespace

Outcome handle_kick_member(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  if (net_id == 0) return Outcome::fail("cannot kick from the backbone network");
  Network net;
  if (std::string err = role_then_enterprise(r, net_id, {"owner", "admin"}, &net); !err.empty())
    return Outcome::fail(err);
  Member m;
  bool member = r.view.get_member(net_id, target, &m);
  if (member && m.role == "owner") return Outcome::fail("cannot kick the network owner");
  if (member && m.role == "admin" && !by_token(r, net)) {
    Member caller;
    if (r.view.get_member(net_id, r.msg.u32("node_id"), &caller) && caller.role == "admin")
      return Outcome::fail("admins cannot kick other admins");
  }
  if (!member) return Outcome::fail(not_member(target, net_id));
  Write w(r);
  // Membership, role and tags, the target's invites for the network and those it sent.
  remove_member(r, w, net, target);
  w.audit("member.kicked", net_id, target,
          {{"target_node_id", std::to_string(target)}, {"role", m.role}, {"by_node_id", std::to_string(r.msg.u32("node_id"))}});
  return Outcome::ok(json_pack("{s:s,s:i,s:i}", "type", "kick_member_ok", "network_id", json_int_t(net_id),
                               "target_node_id", json_int_t(target)));
}

namespace {

// promote_member and demote_member: the same checks with the roles swapped.
Outcome change_role(Request& r, bool promote) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  Network net;
  if (std::string err = role_then_enterprise(r, net_id, {"owner"}, &net); !err.empty()) return Outcome::fail(err);
  Member m;
  if (!r.view.get_member(net_id, target, &m) || m.role.empty()) return Outcome::fail(not_member(target, net_id));
  if (m.role == "owner") return Outcome::fail(promote ? "cannot promote the owner" : "cannot demote the owner");
  const char* wanted = promote ? "admin" : "member";
  if (m.role == wanted)
    return Outcome::fail("node " + std::to_string(target) + (promote ? " is already an admin" : " is already a member"));
  Write w(r);
  std::string old_role = m.role;
  m.role = wanted;
  w.put_member(net_id, target, m);
  w.audit(promote ? "member.promoted" : "member.demoted", net_id, target,
          {{"target_node_id", std::to_string(target)}, {"old_role", old_role}, {"new_role", wanted}});
  return Outcome::ok(role_reply(promote ? "promote_member_ok" : "demote_member_ok", net_id, target, wanted));
}

}  // namespace

Outcome handle_promote_member(Request& r) { return change_role(r, true); }
Outcome handle_demote_member(Request& r) { return change_role(r, false); }

Outcome handle_transfer_ownership(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t new_owner = r.msg.u32("new_owner_id");
  if (new_owner == 0) return Outcome::fail("new_owner_id is required");
  Network net;
  if (std::string err = role_then_enterprise(r, net_id, {"owner"}, &net); !err.empty()) return Outcome::fail(err);
  // The current owner: the caller when it is one (several owners can exist after directory
  // sync, §5.5.6), else the lowest-numbered owner. A scan of the network: a rare write.
  uint32_t caller = r.msg.u32("node_id"), old_owner = 0;
  Member caller_m;
  if (caller && r.view.get_member(net_id, caller, &caller_m) && caller_m.role == "owner") {
    old_owner = caller;
  } else {
    for (const MemberRow& row : members_of(r.view, net_id))
      if (row.member.role == "owner") {
        old_owner = row.node;
        break;
      }
  }
  if (old_owner == 0) return Outcome::fail("network " + std::to_string(net_id) + " has no owner");
  if (new_owner == old_owner) return Outcome::fail("node " + std::to_string(new_owner) + " is already the owner");
  Member target, old_m;
  if (!r.view.get_member(net_id, new_owner, &target) || target.role.empty())
    return Outcome::fail(not_member(new_owner, net_id));
  r.view.get_member(net_id, old_owner, &old_m);
  Write w(r);
  std::string target_old_role = target.role;
  old_m.role = "admin";
  target.role = "owner";
  w.put_member(net_id, old_owner, old_m);
  w.put_member(net_id, new_owner, target);
  w.audit("network.ownership_transferred", net_id, 0,
          {{"old_owner", std::to_string(old_owner)},
           {"new_owner", std::to_string(new_owner)},
           {"new_owner_old_role", target_old_role}});
  return Outcome::ok(json_pack("{s:s,s:i,s:i,s:i}", "type", "transfer_ownership_ok", "network_id", json_int_t(net_id),
                               "old_owner", json_int_t(old_owner), "new_owner", json_int_t(new_owner)));
}

Outcome handle_get_member_role(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  Network net;
  if (!r.view.get_network(net_id, &net)) return Outcome::fail(net_not_found(net_id));
  Member m;
  if (!r.view.get_member(net_id, target, &m) || m.role.empty()) return Outcome::fail(not_member(target, net_id));
  return Outcome::ok(role_reply("get_member_role_ok", net_id, target, m.role.c_str()));
}

Outcome handle_set_member_tags(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  Network net;
  if (std::string err = r.role(net_id, {"owner", "admin"}, &net); !err.empty()) return Outcome::fail(err);
  // No '#' stripping, no de-duplication (§6.4.8); null or missing is [] (D9).
  std::vector<std::string> tags = r.msg.string_list("tags");
  if (tags.size() > 10) return Outcome::fail("too many member tags (max 10)");
  for (const std::string& t : tags) {
    if (t.empty()) return Outcome::fail("empty tag not allowed");
    if (!valid_member_tag(t)) return Outcome::fail("tag " + go_quote(t) + " must be lowercase alphanumeric with hyphens");
  }
  // Backbone memberships are not stored (every live node is a member), so neither are tags.
  if (net_id == 0) return Outcome::fail("cannot set member tags on the backbone network");
  Member m;
  if (!r.view.get_member(net_id, target, &m)) return Outcome::fail(not_member(target, net_id));
  if (m.tags != tags) {
    Write w(r);
    m.tags = tags;
    w.put_member(net_id, target, m);
    std::string joined;
    for (const std::string& t : tags) joined += (joined.empty() ? "" : ",") + t;
    w.audit("member.tags_set", net_id, target, {{"target_node_id", std::to_string(target)}, {"tags", joined}});
  }
  json_t* out = json_pack("{s:s,s:i,s:i}", "type", "set_member_tags_ok", "network_id", json_int_t(net_id),
                          "target_node_id", json_int_t(target));
  // An empty list is Go's nil slice: null.
  json_object_set_new(out, "tags", tags.empty() ? json_null() : json_string_list(tags));
  return Outcome::ok(out);
}

// One member, or (target 0) every member, in turns: r.partial holds the reply so far, r.resume
// the next key. The backbone's members are the live nodes, none with tags.
Outcome handle_get_member_tags(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  bool first = r.resume->empty();
  if (first) {
    std::string_view rec;
    if (r.view.txn().get(Db::Networks, key_u16(net_id), &rec) != 0) return Outcome::fail(net_not_found(net_id));
    if (target != 0) {
      Member m;
      r.view.get_member(net_id, target, &m);  // any target: [] unless it has tags
      json_t* out = json_pack("{s:s,s:i,s:i}", "type", "get_member_tags_ok", "network_id", json_int_t(net_id),
                              "target_node_id", json_int_t(target));
      json_object_set_new(out, "tags", json_string_list(m.tags));
      return Outcome::ok(out);
    }
    *r.partial = "{\"type\":\"get_member_tags_ok\",\"network_id\":" + std::to_string(net_id) + ",\"members\":{";
  }
  std::string& body = *r.partial;
  bool backbone = net_id == 0;
  std::string prefix = backbone ? std::string() : key_u16(net_id);
  Cursor c(r.view.txn(), backbone ? Db::Nodes : Db::Members);
  size_t done = 0;
  for (bool ok = c.seek(first ? std::string_view(prefix) : std::string_view(*r.resume));
       ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) {
    if (done == kListChunk) {
      *r.resume = std::string(c.key());
      return Outcome::more();
    }
    done++;
    uint32_t id = read_u32(c.key().substr(prefix.size()));
    Member m;
    if (id == 0 || (!backbone && !decode_member(c.value(), &m))) continue;
    if (body.back() != '{') body += ',';
    json_append_string(body, std::to_string(id));
    body += ":[";
    for (size_t i = 0; i < m.tags.size(); i++) {
      if (i) body += ',';
      json_append_string(body, m.tags[i]);
    }
    body += ']';
  }
  r.view.note(c.error());
  body += "}}";
  return Outcome::ok_raw(std::move(body));
}

namespace {

const MessageDesc kMessages[] = {
    {.type = "promote_member", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_promote_member, .change = ChangeType::Membership},
    {.type = "demote_member", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_demote_member, .change = ChangeType::Membership},
    {.type = "kick_member", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_kick_member, .change = ChangeType::Membership},
    {.type = "transfer_ownership", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_transfer_ownership, .change = ChangeType::Membership},
    {.type = "get_member_role", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_get_member_role},
    {.type = "set_member_tags", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_set_member_tags, .change = ChangeType::Membership},
    {.type = "get_member_tags", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_get_member_tags},
};

}  // namespace

std::span<const MessageDesc> roles_messages() { return kMessages; }

}  // namespace rdv::registry
