// Invites to invite-only enterprise networks (wire-protocol §6.4.6), and their descriptors.
//
// State: a node's inbox is Db::Invites (u32 target ‖ u16 net → inviter, time), one invite per
// (target, network), at most 100 per target; Db::SentInvites indexes them by inviter so a
// leaving or kicked member's invitations can be withdrawn (membership.h).
#include <algorithm>

#include "crypto.h"
#include "membership.h"
#include "message_table.h"

namespace rdv::registry {

namespace {

bool expired(const Invite& inv, int64_t now_s) { return now_s - inv.timestamp > kInviteTtlS; }

}  // namespace

Outcome handle_invite_to_network(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t inviter_id = r.msg.u32("inviter_id"), target_id = r.msg.u32("target_node_id");
  // First, even before the network is looked at (§10.5 item 88).
  if (inviter_id == target_id) return Outcome::fail("cannot invite yourself");
  Node inviter;
  if (!r.view.get_node(inviter_id, &inviter))
    return Outcome::fail("inviter node " + std::to_string(inviter_id) + ": node not found");
  if (std::string err = r.authorise(inviter); !err.empty()) return Outcome::fail(err);
  // A global admin token, or the network's own, stands in for the inviter's role.
  bool admin = r.has_admin();
  Network net;
  if (std::string err = r.enterprise(net_id, &net); !err.empty()) return Outcome::fail(err);
  std::string_view token = r.msg.str("admin_token");
  if (!admin && !net.admin_token.empty() && !token.empty() && token_equal(token, net.admin_token)) admin = true;
  if (net.join_rule != "invite")
    return Outcome::fail("network " + std::to_string(net_id) + " is not invite-only (rule: " + net.join_rule + ")");
  if (!admin) {
    Member m;
    if (!r.view.get_member(net_id, inviter_id, &m))
      return Outcome::fail("inviter " + std::to_string(inviter_id) + " is not a member of network " +
                           std::to_string(net_id));
    if (m.role != "owner" && m.role != "admin")
      return Outcome::fail("rbac: inviter " + std::to_string(inviter_id) + " has role \"" + m.role +
                           "\", requires owner or admin");
  }
  Node target;
  if (!r.view.get_node(target_id, &target))
    return Outcome::fail("target node " + std::to_string(target_id) + ": node not found");
  if (r.view.get_member(net_id, target_id))
    return Outcome::fail("node " + std::to_string(target_id) + " is already a member of network " +
                         std::to_string(net_id));
  json_t* out = json_pack("{s:s,s:i,s:i}", "type", "invite_to_network_ok", "network_id", json_int_t(net_id),
                          "target_node_id", json_int_t(target_id));
  // One invite per (target, network): a repeat is a success that changes nothing, so a client
  // that re-sends after a lost reply (client-expectations D2) is not told it failed.
  if (get_invite(r.view, target_id, net_id)) {
    json_object_set_new(out, "status", json_string("already_invited"));
    return Outcome::ok(out);
  }
  // Expired invites still count until the target polls them away, as in Go.
  if (invite_inbox(r.view, target_id).size() >= kMaxInviteInbox) {
    json_decref(out);
    return Outcome::fail("invite inbox full for node " + std::to_string(target_id));
  }
  Write w(r);
  put_invite(w, target_id, net_id, Invite{inviter_id, r.now_ns / 1000000000});
  w.audit("invite.sent", net_id, inviter_id,
          {{"inviter_id", std::to_string(inviter_id)}, {"target_node_id", std::to_string(target_id)}});
  return Outcome::ok(out);
}

// A write on a leader (it prunes invites older than 30 days, §6.4.6); on a standby it is
// served as a read (standby_read: write_txn is null) and only hides the expired ones.
Outcome handle_poll_invites(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  if (std::string err = r.authorise(node); !err.empty()) return Outcome::fail(err);
  int64_t now = r.now_ns / 1000000000;
  std::vector<InboxEntry> inbox = invite_inbox(r.view, id), live;
  size_t stale = 0;
  for (const InboxEntry& e : inbox) {
    if (expired(e.invite, now)) stale++;
    else live.push_back(e);
  }
  if (stale && r.write_txn) {
    Write w(r);
    for (const InboxEntry& e : inbox)
      if (expired(e.invite, now)) del_invite(r, w, id, e.net);
    w.audit("invite.expired_cleanup", 0, id, {{"expired_count", std::to_string(stale)}});
  }
  // Oldest first, as the Go inbox (a list in arrival order) returns them.
  std::stable_sort(live.begin(), live.end(),
                   [](const InboxEntry& a, const InboxEntry& b) { return a.invite.timestamp < b.invite.timestamp; });
  json_t* list = json_array();
  for (const InboxEntry& e : live)
    json_array_append_new(list, json_pack("{s:i,s:i,s:I}", "network_id", json_int_t(e.net), "inviter_id",
                                          json_int_t(e.invite.inviter), "timestamp", json_int_t(e.invite.timestamp)));
  return Outcome::ok(json_pack("{s:s,s:o}", "type", "poll_invites_ok", "invites", list));
}

Outcome handle_respond_invite(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  uint32_t id = r.msg.u32("node_id");
  bool accept = r.msg.boolean("accept");
  Network net;
  if (std::string err = r.enterprise(net_id, &net); !err.empty()) return Outcome::fail(err);
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  if (std::string err = r.authorise(node); !err.empty()) return Outcome::fail(err);
  Invite inv;
  if (!get_invite(r.view, id, net_id, &inv))
    return Outcome::fail("no pending invite for node " + std::to_string(id) + " to network " + std::to_string(net_id));
  if (expired(inv, r.now_ns / 1000000000))
    return Outcome::fail("invite for node " + std::to_string(id) + " to network " + std::to_string(net_id) +
                         " has expired");
  if (accept) {
    if (net.max_members > 0 && net.member_count >= net.max_members)
      return Outcome::fail("network membership limit reached");
    if (r.view.get_member(net_id, id))
      return Outcome::fail("node " + std::to_string(id) + " is already a member of network " + std::to_string(net_id));
  }
  Write w(r);
  // Accepted: a plain member (no RBAC pre-assignment on this path, §6.4.6).
  if (accept) add_member(r, w, net, node, "member");
  del_invite(r, w, id, net_id);
  w.audit(accept ? "invite.accepted" : "invite.rejected", net_id, id, {{"inviter_id", std::to_string(inv.inviter)}});
  return Outcome::ok(json_pack("{s:s,s:b,s:i}", "type", "respond_invite_ok", "accepted", accept, "network_id",
                               json_int_t(net_id)));
}

namespace {

Signer inviter_signer(const Message& m) { return {m.u32("inviter_id"), {}}; }
Signer node_signer(const Message& m) { return {m.u32("node_id"), {}}; }
std::string invite_challenge(const Message& m) {
  return "invite:" + std::to_string(m.u32("inviter_id")) + ":" + std::to_string(m.u16("network_id")) + ":" +
         std::to_string(m.u32("target_node_id"));
}
std::string poll_challenge(const Message& m) { return challenge_node("poll_invites", m.u32("node_id")); }
std::string respond_challenge(const Message& m) {
  return challenge_pair("respond_invite", m.u32("node_id"), m.u16("network_id"));
}

const MessageDesc kMessages[] = {
    {.type = "invite_to_network", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_invite_to_network, .signer = inviter_signer, .challenge = invite_challenge,
     .change = ChangeType::Invite},
    {.type = "poll_invites", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_poll_invites, .signer = node_signer, .challenge = poll_challenge,
     .change = ChangeType::Invite, .standby_read = true},
    {.type = "respond_invite", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_respond_invite, .signer = node_signer, .challenge = respond_challenge,
     .change = ChangeType::Invite},
};

}  // namespace

std::span<const MessageDesc> invites_messages() { return kMessages; }

}  // namespace rdv::registry
