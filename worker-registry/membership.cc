#include "membership.h"

#include <algorithm>
#include <vector>

namespace rdv::registry {

namespace {
std::string invite_key(uint32_t target, uint16_t net) { return key_u32(target) + key_u16(net); }
std::string sent_key(uint32_t inviter, uint16_t net, uint32_t target) {
  return key_u32(inviter) + key_u16(net) + key_u32(target);
}
uint16_t u16_at(std::string_view b, size_t at) { return uint16_t(uint8_t(b[at]) << 8 | uint8_t(b[at + 1])); }

// Keys of `db` that start with `prefix` (copied: deleting while iterating moves the cursor).
std::vector<std::string> keys_with_prefix(Request& r, Db db, const std::string& prefix) {
  std::vector<std::string> keys;
  Cursor c(*r.write_txn, db);
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next())
    keys.emplace_back(c.key());
  r.view.note(c.error());
  return keys;
}
}  // namespace

void add_member(Request& r, Write& w, Network& net, Node& node, std::string role) {
  Member m;
  m.role = std::move(role);
  m.joined_at = r.now_ns / 1000000000;
  w.put_member(net.id, node.id, m);
  if (std::find(node.networks.begin(), node.networks.end(), net.id) == node.networks.end()) {
    node.networks.push_back(net.id);
    w.put_node(node);
  }
  net.member_count++;
  w.put_network(net);
}

void remove_member(Request& r, Write& w, Network& net, uint32_t node_id) {
  w.del(Db::Members, key_u16(net.id) + key_u32(node_id));
  Node node;
  if (r.view.get_node(node_id, &node)) {
    auto it = std::find(node.networks.begin(), node.networks.end(), net.id);
    if (it != node.networks.end()) {
      node.networks.erase(it);
      w.put_node(node);
    }
  }
  if (net.member_count) net.member_count--;
  w.put_network(net);
  drop_invites_of_member(r, w, net.id, node_id);
}

void put_invite(Write& w, uint32_t target, uint16_t net, const Invite& inv) {
  w.put(Db::Invites, invite_key(target, net), encode_invite(inv));
  w.put(Db::SentInvites, sent_key(inv.inviter, net, target), "");
}

void del_invite(Request& r, Write& w, uint32_t target, uint16_t net) {
  std::string_view v;
  Invite inv;
  if (r.write_txn->get(Db::Invites, invite_key(target, net), &v) != 0) return;
  if (decode_invite(v, &inv)) w.del(Db::SentInvites, sent_key(inv.inviter, net, target));
  w.del(Db::Invites, invite_key(target, net));
}

void drop_invites_of_node(Request& r, Write& w, uint32_t node) {
  for (const std::string& k : keys_with_prefix(r, Db::Invites, key_u32(node))) del_invite(r, w, node, u16_at(k, 4));
  for (const std::string& k : keys_with_prefix(r, Db::SentInvites, key_u32(node)))
    del_invite(r, w, read_u32(std::string_view(k).substr(6, 4)), u16_at(k, 4));
}

void drop_invites_for_network(Request& r, Write& w, uint16_t net) {
  std::vector<uint32_t> targets;
  {
    Cursor c(*r.write_txn, Db::Invites);
    for (bool ok = c.seek(); ok; ok = c.next())
      if (c.key().size() == 6 && u16_at(c.key(), 4) == net) targets.push_back(read_u32(c.key().substr(0, 4)));
    r.view.note(c.error());
  }
  for (uint32_t t : targets) del_invite(r, w, t, net);
}

void drop_invites_of_member(Request& r, Write& w, uint16_t net, uint32_t node) {
  del_invite(r, w, node, net);
  for (const std::string& k : keys_with_prefix(r, Db::SentInvites, key_u32(node) + key_u16(net)))
    del_invite(r, w, read_u32(std::string_view(k).substr(6, 4)), net);
}

bool get_invite(View& view, uint32_t target, uint16_t net, Invite* out) {
  std::string_view v;
  int rc = view.txn().get(Db::Invites, invite_key(target, net), &v);
  if (rc) {
    view.note(rc);
    return false;
  }
  Invite inv;
  if (!decode_invite(v, &inv)) return false;
  if (out) *out = inv;
  return true;
}

std::vector<InboxEntry> invite_inbox(View& view, uint32_t target) {
  std::vector<InboxEntry> out;
  std::string prefix = key_u32(target);
  Cursor c(view.txn(), Db::Invites);
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, 4) == prefix; ok = c.next()) {
    Invite inv;
    if (c.key().size() == 6 && decode_invite(c.value(), &inv)) out.push_back({u16_at(c.key(), 4), inv});
  }
  view.note(c.error());
  return out;
}

std::vector<MemberRow> members_of(View& view, uint16_t net) {
  std::vector<MemberRow> out;
  if (net == 0) return out;
  std::string prefix = key_u16(net);
  Cursor c(view.txn(), Db::Members);
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
    MemberRow row;
    if (c.key().size() != 6 || !decode_member(c.value(), &row.member)) continue;
    row.node = read_u32(c.key().substr(2));
    out.push_back(std::move(row));
  }
  view.note(c.error());
  return out;
}

void delete_network_records(Request& r, Write& w, const Network& net) {
  for (const MemberRow& row : members_of(r.view, net.id)) {
    w.del(Db::Members, key_u16(net.id) + key_u32(row.node));
    Node node;
    if (!r.view.get_node(row.node, &node)) continue;  // reaped: no list to update
    auto it = std::find(node.networks.begin(), node.networks.end(), net.id);
    if (it == node.networks.end()) continue;
    node.networks.erase(it);
    w.put_node(node);
  }
  drop_invites_for_network(r, w, net.id);
  for (const std::string& k : keys_with_prefix(r, Db::PreAssign, key_u16(net.id))) w.del(Db::PreAssign, k);
  if (r.view.network_for_name(net.name) == net.id) w.del(Db::NetNames, net.name);
  w.del(Db::Networks, key_u16(net.id));
}

std::string preassign_key(uint16_t net, std::string_view external_id) {
  std::string k = key_u16(net);
  for (char c : external_id) k += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  return k;
}

std::string preassigned_role(View& view, uint16_t net, const Node& node) {
  if (node.external_id.empty()) return "";
  std::string_view v;
  int rc = view.txn().get(Db::PreAssign, preassign_key(net, node.external_id), &v);
  if (rc) {
    view.note(rc);
    return "";
  }
  if (v == "owner" || v == "admin") return std::string(v);
  return "member";
}

}  // namespace rdv::registry
