// Membership bookkeeping shared by every area that adds or removes members (networks, invites,
// roles, directory sync, deregister): the members record, the node's own network list, the
// network's member count and the invites that stop making sense, kept consistent in one place.
// Everything goes through the request's Write, so it lands in the request's transaction.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace rdv::registry
