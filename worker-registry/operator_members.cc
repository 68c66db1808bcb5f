// Operator kicks and role changes (ops-spec §5.3 rows 29–30), sent by the admin worker on
// registry.sock. They bypass network RBAC (the admin-token holder is the registry operator)
// and are audited with the operator's reason.
//
//   {"type":"operator_kick_member","network_id":N,"target_node_id":M,"reason":R}
//     → {"type":"operator_kick_member_ok","network_id":N,"target_node_id":M,"role":old}
//   {"type":"operator_set_member_role","network_id":N,"target_node_id":M,"role":"admin|member","reason":R}
//     → {"type":"operator_set_member_role_ok","network_id":N,"target_node_id":M,"role":new,"old_role":old}
//
// Errors are the usual {"type":"error","error":text}; a missing network's text ends with
// "network not found", which the admin route turns into 404 (every other refusal is 400).
// They go through membership.h like the daemon-facing kick, so the members record, the node's
// network list, the member count and the invites stay consistent.
#include "membership.h"
#include "message_table.h"

namespace rdv::registry {

namespace {

constexpr size_t kMaxReason = 1024;  // the admin route refuses longer ones first

std::string net_not_found(uint16_t net) { return "network " + std::to_string(net) + ": network not found"; }
std::string not_member(uint32_t node, uint16_t net) {
  return "node " + std::to_string(node) + " is not a member of network " + std::to_string(net);
}

// The network and the target's membership, or the refusal text.
std::string load_target(Request& r, uint16_t net_id, uint32_t target, Network* net, Member* m) {
  if (!r.view.get_network(net_id, net)) return net_not_found(net_id);
  if (!r.view.get_member(net_id, target, m)) return not_member(target, net_id);
  return "";
}

Outcome handle_operator_kick(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  std::string reason(r.msg.str("reason"));
  if (reason.empty()) return Outcome::fail("reason is required");
  if (reason.size() > kMaxReason) return Outcome::fail("reason too long (max 1024 bytes)");
  // The backbone's members are the live nodes themselves: leaving it is deregistering.
  if (net_id == 0) return Outcome::fail("cannot kick from the backbone network");
  Network net;
  Member m;
  if (std::string err = load_target(r, net_id, target, &net, &m); !err.empty()) return Outcome::fail(err);
  // An owner is removed by transferring ownership first, as for daemons (§6.4.7).
  if (m.role == "owner") return Outcome::fail("cannot kick the network owner");
  Write w(r);
  remove_member(r, w, net, target);
  w.audit("member.kicked", net_id, target,
          {{"target_node_id", std::to_string(target)}, {"role", m.role}, {"by", "operator"}, {"reason", reason}});
  return Outcome::ok(json_pack("{s:s,s:I,s:I,s:s}", "type", "operator_kick_member_ok", "network_id", json_int_t(net_id),
                               "target_node_id", json_int_t(target), "role", m.role.c_str()));
}

Outcome handle_operator_set_role(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t target = r.msg.u32("target_node_id");
  std::string role(r.msg.str("role"));
  std::string reason(r.msg.str("reason"));
  if (role != "admin" && role != "member") return Outcome::fail("role must be \"admin\" or \"member\"");
  if (reason.size() > kMaxReason) return Outcome::fail("reason too long (max 1024 bytes)");
  if (net_id == 0) return Outcome::fail("cannot change roles on the backbone network");
  Network net;
  Member m;
  if (std::string err = load_target(r, net_id, target, &net, &m); !err.empty()) return Outcome::fail(err);
  // Demoting the owner would leave the network without one; transfer ownership instead.
  if (m.role == "owner") return Outcome::fail("cannot change the owner's role (transfer ownership first)");
  std::string old_role = m.role;
  if (old_role != role) {
    Write w(r);
    m.role = role;
    w.put_member(net_id, target, m);
    AuditAttrs attrs = {{"target_node_id", std::to_string(target)}, {"old_role", old_role}, {"new_role", role},
                        {"by", "operator"}};
    if (!reason.empty()) attrs.emplace_back("reason", reason);
    w.audit("member.role_changed", net_id, target, attrs);
  }
  return Outcome::ok(json_pack("{s:s,s:I,s:I,s:s,s:s}", "type", "operator_set_member_role_ok", "network_id",
                               json_int_t(net_id), "target_node_id", json_int_t(target), "role", role.c_str(),
                               "old_role", old_role.c_str()));
}

const MessageDesc kMessages[] = {
    {.type = "operator_kick_member", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_operator_kick, .change = ChangeType::Membership},
    {.type = "operator_set_member_role", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_operator_set_role, .change = ChangeType::Membership},
};

}  // namespace

std::span<const MessageDesc> operator_member_messages() { return kMessages; }

}  // namespace rdv::registry
