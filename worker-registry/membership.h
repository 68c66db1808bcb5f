// Membership bookkeeping shared by every area that adds or removes members (networks, invites,
// roles, directory sync, deregister): the members record, the node's own network list, the
// network's member count and the invites that stop making sense, kept consistent in one place.
// Everything goes through the request's Write, so it lands in the request's transaction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "request.h"

namespace rdv::registry {

// Adds live node `node` to `net` with `role` ("" for none) and writes all three records.
void add_member(Request& r, Write& w, Network& net, Node& node, std::string role);

// Removes `node_id` from `net`: its members record, the network from the node's list (when the
// node is live), the member count, and the invites to it for this network and those it sent
// for this network (§6.4.3). Writes the network record.
void remove_member(Request& r, Write& w, Network& net, uint32_t node_id);

// Invites (store.h invites + sentinvites). put_invite replaces an existing one.
void put_invite(Write& w, uint32_t target, uint16_t net, const Invite& inv);
void del_invite(Request& r, Write& w, uint32_t target, uint16_t net);
// Every invite addressed to `node` and every invite it sent (deregister, §6.1.2).
void drop_invites_of_node(Request& r, Write& w, uint32_t node);
// Every invite for `net`, in every inbox (delete_network). Scans the invites database: invites
// are few and networks are rarely deleted.
void drop_invites_for_network(Request& r, Write& w, uint16_t net);
// Invites to `target` for `net` and sent by `node` for `net`: remove_member's cleanup.
void drop_invites_of_member(Request& r, Write& w, uint16_t net, uint32_t node);

// The invite in `target`'s inbox for `net`; false when there is none.
bool get_invite(View& view, uint32_t target, uint16_t net, Invite* out = nullptr);
// The invites in `target`'s inbox, by network id (an inbox holds at most kMaxInviteInbox).
struct InboxEntry {
  uint16_t net;
  Invite invite;
};
std::vector<InboxEntry> invite_inbox(View& view, uint32_t target);
inline constexpr size_t kMaxInviteInbox = 100;             // per target (§5.4)
inline constexpr int64_t kInviteTtlS = 30LL * 24 * 3600;   // pruned when the target polls

// ---- whole networks ----

// Every membership of `net` (not the backbone), in node-id order: the write paths that visit a
// whole network (delete, the enterprise switch, finding the owner). Reaped members included.
struct MemberRow {
  uint32_t node;
  Member member;
};
std::vector<MemberRow> members_of(View& view, uint16_t net);

// Deletes `net` and everything that hangs on it: every members record, the network in its live
// members' lists, every invite for it, its RBAC pre-assignments, its name and its record.
void delete_network_records(Request& r, Write& w, const Network& net);

// ---- RBAC pre-assignments (store.h preassign) ----

// The key of a pre-assignment: u16 net ‖ the external id in ASCII lower case, so a lookup
// matches case-insensitively. Writers (provision_network, directory_sync) and join_network
// must all build keys with this function.
std::string preassign_key(uint16_t net, std::string_view external_id);
// The role pre-assigned to `node` in `net`: "owner" or "admin" as stored, any other stored role
// as "member" (as the Go server maps them); "" when none or the node has no external id.
std::string preassigned_role(View& view, uint16_t net, const Node& node);

}  // namespace rdv::registry
