// RBAC and member tags over the wire (wire-protocol §4.3 ROLE/ENTERPRISE, §6.4.7, §6.4.8,
// §10.5 items 84–86, 93): promote, demote, kick, transfer_ownership, get_member_role,
// set_member_tags, get_member_tags, and their survival of a registry SIGKILL.
#include <signal.h>

#include "network_helpers.h"

namespace rt {
namespace {

using Roles = ServerTest;

// An RBAC request as the Go client sends it: node_id (unsigned), optional admin_token.
rdv::JsonPtr rbac(Conn& c, const char* type, uint16_t net, uint32_t caller, uint32_t target,
                  const std::string& admin_token = "") {
  rdv::JsonPtr req(json_pack("{s:s,s:i,s:I,s:I}", "type", type, "network_id", int(net), "node_id", json_int_t(caller),
                             "target_node_id", json_int_t(target)));
  if (!admin_token.empty()) json_object_set_new(req.get(), "admin_token", json_string(admin_token.c_str()));
  return c.request(req.get());
}

rdv::JsonPtr transfer(Conn& c, uint16_t net, uint32_t caller, json_t* new_owner) {
  rdv::JsonPtr req(json_pack("{s:s,s:i,s:I}", "type", "transfer_ownership", "network_id", int(net), "node_id",
                             json_int_t(caller)));
  if (new_owner) json_object_set_new(req.get(), "new_owner_id", new_owner);
  return c.request(req.get());
}

std::string role_of(Conn& c, uint16_t net, uint32_t target) {
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:i,s:I}", "type", "get_member_role", "network_id", int(net),
                                     "target_node_id", json_int_t(target)));
  return is_ok(r, "get_member_role_ok") ? str(r.get(), "role") : "error: " + str(r.get(), "error");
}

rdv::JsonPtr set_tags(Conn& c, const Server& s, uint16_t net, uint32_t target, json_t* tags) {
  rdv::JsonPtr req(json_pack("{s:s,s:i,s:I,s:s}", "type", "set_member_tags", "network_id", int(net), "target_node_id",
                             json_int_t(target), "admin_token", s.admin_token.c_str()));
  if (tags) json_object_set_new(req.get(), "tags", tags);
  return c.request(req.get());
}

rdv::JsonPtr get_tags(Conn& c, uint16_t net, uint32_t target) {
  return call(c, json_pack("{s:s,s:i,s:I}", "type", "get_member_tags", "network_id", int(net), "target_node_id",
                           json_int_t(target)));
}

// An enterprise network owned by `owner` with `members` joined.
uint16_t team(Conn& c, const Server& s, const Daemon& owner, const std::vector<const Daemon*>& members,
              const std::string& name = "team") {
  uint16_t net = create_enterprise(c, s, owner, name);
  for (const Daemon* m : members) EXPECT_TRUE(is_ok(join(c, *m, net), "join_network_ok"));
  return net;
}

// §10.5 item 84.
TEST_F(Roles, PromoteAndDemote) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), m = register_daemon(c);
  uint16_t net = team(c, server, owner, {&m});
  rdv::JsonPtr r = rbac(c, "promote_member", net, owner.id, m.id);
  ASSERT_TRUE(is_ok(r, "promote_member_ok"));
  EXPECT_EQ(str(r.get(), "role"), "admin");
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "target_node_id"), m.id);
  EXPECT_EQ(role_of(c, net, m.id), "admin");
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, owner.id, m.id), "node 2 is already an admin"));
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, owner.id, owner.id), "cannot promote the owner"));
  r = rbac(c, "demote_member", net, owner.id, m.id);
  ASSERT_TRUE(is_ok(r, "demote_member_ok"));
  EXPECT_EQ(str(r.get(), "role"), "member");
  EXPECT_EQ(role_of(c, net, m.id), "member");
  EXPECT_TRUE(is_error(rbac(c, "demote_member", net, owner.id, m.id), "node 2 is already a member"));
  EXPECT_TRUE(is_error(rbac(c, "demote_member", net, owner.id, owner.id), "cannot demote the owner"));
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, owner.id, 77), "node 77 is not a member of network 1"));
  EXPECT_TRUE(is_error(rbac(c, "demote_member", net, owner.id, 77), "node 77 is not a member of network 1"));
}

// ROLE(owner) for promote/demote, and ENTERPRISE after it (§6.4.7, §4.3).
TEST_F(Roles, RoleAndEnterpriseChecks) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), adm = register_daemon(c), m = register_daemon(c), outsider = register_daemon(c);
  rdv::JsonPtr extra(json_pack("{s:b,s:s}", "enterprise", 1, "network_admin_token", "net-secret"));
  uint16_t net = create_network(c, server, owner, "team", extra.get());
  ASSERT_TRUE(is_ok(join(c, adm, net), "join_network_ok"));
  ASSERT_TRUE(is_ok(join(c, m, net), "join_network_ok"));
  ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, owner.id, adm.id), "promote_member_ok"));
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, adm.id, m.id),
                       "rbac: node 2 has role \"admin\", requires one of [owner]"));
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, m.id, m.id),
                       "rbac: node 3 has role \"member\", requires one of [owner]"));
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, outsider.id, m.id), "request failed"));  // has no role
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, 0, m.id), "rbac: node_id required for role-based authorization"));
  EXPECT_TRUE(is_error(rbac(c, "promote_member", 9, owner.id, m.id), "network 9: network not found"));
  // The per-network token and the global one stand in for the owner's role.
  EXPECT_TRUE(is_ok(rbac(c, "promote_member", net, 0, m.id, "net-secret"), "promote_member_ok"));
  EXPECT_TRUE(is_ok(rbac(c, "demote_member", net, outsider.id, m.id, server.admin_token), "demote_member_ok"));
  EXPECT_TRUE(is_error(rbac(c, "demote_member", net, 0, adm.id, "wrong"), "rbac: node_id required for role-based authorization"));
  // Not enterprise: refused after the role check passed.
  uint16_t plain = create_network(c, server, owner, "plain");
  ASSERT_TRUE(is_ok(join(c, m, plain), "join_network_ok"));
  for (const char* type : {"promote_member", "demote_member", "kick_member"})
    EXPECT_TRUE(is_error(rbac(c, type, plain, owner.id, m.id), "enterprise feature: requires enterprise network")) << type;
  EXPECT_TRUE(is_error(transfer(c, plain, owner.id, json_integer(m.id)), "enterprise feature: requires enterprise network"));
  // …and the role check comes first.
  EXPECT_TRUE(is_error(rbac(c, "promote_member", plain, m.id, m.id),
                       "rbac: node 3 has role \"member\", requires one of [owner]"));
}

// §10.5 item 85.
TEST_F(Roles, TransferOwnership) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), m = register_daemon(c), outsider = register_daemon(c);
  uint16_t net = team(c, server, owner, {&m});
  EXPECT_TRUE(is_error(transfer(c, net, owner.id, nullptr), "new_owner_id is required"));
  EXPECT_TRUE(is_error(transfer(c, 9, owner.id, nullptr), "new_owner_id is required"));  // checked first
  EXPECT_TRUE(is_error(transfer(c, net, owner.id, json_integer(owner.id)), "node 1 is already the owner"));
  EXPECT_TRUE(is_error(transfer(c, net, owner.id, json_integer(outsider.id)), "node 3 is not a member of network 1"));
  EXPECT_TRUE(is_error(transfer(c, net, m.id, json_integer(m.id)),
                       "rbac: node 2 has role \"member\", requires one of [owner]"));
  rdv::JsonPtr r = transfer(c, net, owner.id, json_integer(m.id));
  ASSERT_TRUE(is_ok(r, "transfer_ownership_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "old_owner"), owner.id);
  EXPECT_EQ(num(r.get(), "new_owner"), m.id);
  EXPECT_EQ(role_of(c, net, owner.id), "admin");
  EXPECT_EQ(role_of(c, net, m.id), "owner");
  // The old owner may leave now; the new one may not.
  EXPECT_TRUE(is_error(leave(c, m, net), "cannot leave network: owner must transfer ownership first"));
  EXPECT_TRUE(is_ok(leave(c, owner, net), "leave_network_ok"));
  // The admin token transfers on behalf of the owner it finds.
  ASSERT_TRUE(is_ok(join(c, outsider, net), "join_network_ok"));
  rdv::JsonPtr req(json_pack("{s:s,s:i,s:I,s:s}", "type", "transfer_ownership", "network_id", int(net), "new_owner_id",
                             json_int_t(outsider.id), "admin_token", server.admin_token.c_str()));
  r = c.request(req.get());
  ASSERT_TRUE(is_ok(r, "transfer_ownership_ok"));
  EXPECT_EQ(num(r.get(), "old_owner"), m.id);
  // An ownerless network: its non-enterprise owner left, and the enterprise flag set later
  // assigns no owner because the remaining member already has a role (Go's rule).
  Daemon x = register_daemon(c);
  uint16_t bare = create_network(c, server, x, "bare");
  ASSERT_TRUE(is_ok(join(c, m, bare), "join_network_ok"));
  ASSERT_TRUE(is_ok(leave(c, x, bare), "leave_network_ok"));
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:b,s:s}", "type", "set_network_enterprise", "network_id", int(bare),
                                      "enterprise", 1, "admin_token", server.admin_token.c_str())),
                    "set_network_enterprise_ok"));
  EXPECT_EQ(role_of(c, bare, m.id), "member");
  req.reset(json_pack("{s:s,s:i,s:I,s:s}", "type", "transfer_ownership", "network_id", int(bare), "new_owner_id",
                      json_int_t(m.id), "admin_token", server.admin_token.c_str()));
  EXPECT_TRUE(is_error(c.request(req.get()), "request failed"));  // network <n> has no owner
}

// §10.5 item 86.
TEST_F(Roles, KickMember) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), a1 = register_daemon(c), a2 = register_daemon(c), m = register_daemon(c),
         outsider = register_daemon(c);
  uint16_t net = team(c, server, owner, {&a1, &a2, &m});
  ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, owner.id, a1.id), "promote_member_ok"));
  ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, owner.id, a2.id), "promote_member_ok"));
  EXPECT_TRUE(is_error(rbac(c, "kick_member", 0, owner.id, m.id), "cannot kick from the backbone network"));
  EXPECT_TRUE(is_error(rbac(c, "kick_member", 9, owner.id, m.id), "network 9: network not found"));
  EXPECT_TRUE(is_error(rbac(c, "kick_member", net, a1.id, owner.id), "cannot kick the network owner"));
  EXPECT_TRUE(is_error(rbac(c, "kick_member", net, a1.id, a2.id), "admins cannot kick other admins"));
  EXPECT_TRUE(is_error(rbac(c, "kick_member", net, owner.id, outsider.id), "node 5 is not a member of network 1"));
  EXPECT_TRUE(is_error(rbac(c, "kick_member", net, m.id, a1.id),
                       "rbac: node 4 has role \"member\", requires one of [owner admin]"));
  rdv::JsonPtr r = rbac(c, "kick_member", net, a1.id, m.id);  // an admin kicks a member
  ASSERT_TRUE(is_ok(r, "kick_member_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "target_node_id"), m.id);
  EXPECT_EQ(role_of(c, net, m.id), "error: node 4 is not a member of network 1");
  EXPECT_EQ(dump(json_object_get(do_lookup(c, m.id).get(), "networks")), "[0]");
  EXPECT_TRUE(is_ok(rbac(c, "kick_member", net, owner.id, a2.id), "kick_member_ok"));  // the owner kicks an admin
  // A token holder is not "an admin": the admins rule does not apply to it.
  ASSERT_TRUE(is_ok(join(c, a2, net), "join_network_ok"));
  ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, owner.id, a2.id), "promote_member_ok"));
  EXPECT_TRUE(is_ok(rbac(c, "kick_member", net, a1.id, a2.id, server.admin_token), "kick_member_ok"));
  // A kicked member may join an open network again, as a member.
  ASSERT_TRUE(is_ok(join(c, m, net), "join_network_ok"));
  EXPECT_EQ(role_of(c, net, m.id), "member");
}

TEST_F(Roles, GetMemberRole) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), m = register_daemon(c);
  uint16_t net = team(c, server, owner, {&m});
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:i,s:I}", "type", "get_member_role", "network_id", int(net),
                                     "target_node_id", json_int_t(m.id)));
  ASSERT_TRUE(is_ok(r, "get_member_role_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "target_node_id"), m.id);
  EXPECT_EQ(str(r.get(), "role"), "member");
  EXPECT_EQ(role_of(c, 9, m.id), "error: network 9: network not found");
  EXPECT_EQ(role_of(c, net, 77), "error: node 77 is not a member of network 1");
  EXPECT_EQ(role_of(c, 0, m.id), "error: node 2 is not a member of network 0");  // the backbone has no roles
}

// §10.5 item 93.
TEST_F(Roles, SetMemberTags) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), m = register_daemon(c), outsider = register_daemon(c);
  uint16_t net = team(c, server, owner, {&m});
  json_t* eleven = json_array();
  for (int i = 0; i < 11; i++) json_array_append_new(eleven, json_string(("t" + std::to_string(i)).c_str()));
  EXPECT_TRUE(is_error(set_tags(c, server, net, m.id, eleven), "too many member tags (max 10)"));
  EXPECT_TRUE(is_error(set_tags(c, server, net, m.id, json_pack("[s,s]", "ok", "")), "request failed"));  // empty tag
  EXPECT_TRUE(is_error(set_tags(c, server, net, m.id, json_pack("[s]", "Upper")), "request failed"));
  EXPECT_TRUE(is_error(set_tags(c, server, net, m.id, json_pack("[s]", "#web")), "request failed"));  // no '#' stripping
  EXPECT_TRUE(is_error(set_tags(c, server, net, m.id, json_pack("[s]", std::string(33, 'a').c_str())), "request failed"));
  EXPECT_TRUE(is_error(set_tags(c, server, 9, m.id, json_pack("[s]", "web")), "network 9: network not found"));
  EXPECT_TRUE(is_error(set_tags(c, server, net, outsider.id, json_pack("[s]", "web")),
                       "node 3 is not a member of network 1"));
  EXPECT_TRUE(is_error(set_tags(c, server, 0, m.id, json_pack("[s]", "web")), "cannot set member tags on the backbone network"));

  rdv::JsonPtr r = set_tags(c, server, net, m.id, json_pack("[s,s,s,i]", "web", "db-1", "web", 5));
  ASSERT_TRUE(is_ok(r, "set_member_tags_ok"));
  EXPECT_EQ(dump(json_object_get(r.get(), "tags")), R"(["web","db-1","web"])");  // no de-duplication
  EXPECT_EQ(num(r.get(), "target_node_id"), m.id);
  EXPECT_EQ(dump(json_object_get(get_tags(c, net, m.id).get(), "tags")), R"(["web","db-1","web"])");

  // An empty list clears; so does null (client-expectations D9) and a missing key.
  r = set_tags(c, server, net, m.id, json_array());
  ASSERT_TRUE(is_ok(r, "set_member_tags_ok"));
  EXPECT_TRUE(json_is_null(json_object_get(r.get(), "tags"))) << dump(r.get());
  EXPECT_EQ(dump(json_object_get(get_tags(c, net, m.id).get(), "tags")), "[]");
  ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, json_pack("[s]", "web")), "set_member_tags_ok"));
  ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, json_null()), "set_member_tags_ok"));
  EXPECT_EQ(dump(json_object_get(get_tags(c, net, m.id).get(), "tags")), "[]");
  ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, json_pack("[s]", "web")), "set_member_tags_ok"));
  ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, nullptr), "set_member_tags_ok"));
  EXPECT_EQ(dump(json_object_get(get_tags(c, net, m.id).get(), "tags")), "[]");

  // ROLE(owner, admin) by node_id: a member may not tag.
  rdv::JsonPtr req(json_pack("{s:s,s:i,s:I,s:I,s:[s]}", "type", "set_member_tags", "network_id", int(net), "node_id",
                             json_int_t(m.id), "target_node_id", json_int_t(m.id), "tags", "web"));
  EXPECT_TRUE(is_error(c.request(req.get()), "rbac: node 2 has role \"member\", requires one of [owner admin]"));
  json_object_set_new(req.get(), "node_id", json_integer(owner.id));
  EXPECT_TRUE(is_ok(c.request(req.get()), "set_member_tags_ok"));
}

TEST_F(Roles, GetMemberTags) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), m = register_daemon(c), outsider = register_daemon(c);
  uint16_t net = team(c, server, owner, {&m});
  ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, json_pack("[s,s]", "web", "prod")), "set_member_tags_ok"));
  rdv::JsonPtr r = get_tags(c, net, m.id);
  ASSERT_TRUE(is_ok(r, "get_member_tags_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "target_node_id"), m.id);
  // Anyone else: [] (members without tags and non-members alike, as in Go).
  EXPECT_EQ(dump(json_object_get(get_tags(c, net, owner.id).get(), "tags")), "[]");
  EXPECT_EQ(dump(json_object_get(get_tags(c, net, outsider.id).get(), "tags")), "[]");
  // Every member: a map keyed by the decimal id.
  r = get_tags(c, net, 0);
  ASSERT_TRUE(is_ok(r, "get_member_tags_ok"));
  EXPECT_FALSE(has(r.get(), "target_node_id"));
  EXPECT_EQ(dump(json_object_get(r.get(), "members")), R"({"1":[],"2":["web","prod"]})");
  EXPECT_TRUE(is_error(get_tags(c, 9, 0), "network 9: network not found"));
  // The backbone: every live node, none tagged.
  r = get_tags(c, 0, 0);
  ASSERT_TRUE(is_ok(r, "get_member_tags_ok"));
  EXPECT_EQ(dump(json_object_get(r.get(), "members")), R"({"1":[],"2":[],"3":[]})");
  EXPECT_EQ(dump(json_object_get(get_tags(c, 0, m.id).get(), "tags")), "[]");
}

class BigNetwork : public ::testing::Test {
 protected:
  void SetUp() override {
    server.extra_args = {"-rate-limit-global", "0", "-rate-limit-per-ip", "0", "-rate-limit-per-conn", "0"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
};

// get_member_tags of every member runs in turns beyond 1 000 members; the reply is complete.
TEST_F(BigNetwork, GetMemberTagsOfAllMembersInTurns) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = create_network(c, server, owner, "big");
  constexpr int kMembers = 1500;
  std::vector<Daemon> ds(kMembers);
  std::vector<std::string> bodies;
  for (auto& d : ds) {
    d.key = Key::generate();
    std::string pub = d.key.pub_b64();
    bodies.push_back(R"({"type":"register","listen_addr":"203.0.113.9:4000","public_key":")" + pub +
                     R"(","signature":")" + d.key.sign_b64("register:203.0.113.9:4000:" + pub) + "\"}");
  }
  std::vector<rdv::JsonPtr> regs = pipelined(c, bodies);
  bodies.clear();
  for (size_t i = 0; i < ds.size(); i++) {
    ASSERT_TRUE(is_ok(regs[i], "register_ok"));
    ds[i].id = uint32_t(num(regs[i].get(), "node_id"));
    bodies.push_back(R"({"type":"join_network","network_id":)" + std::to_string(net) + R"(,"node_id":)" +
                     std::to_string(ds[i].id) + R"(,"signature":")" +
                     ds[i].sign("join_network:" + std::to_string(ds[i].id) + ":" + std::to_string(net)) + "\"}");
  }
  for (auto& r : pipelined(c, bodies)) ASSERT_TRUE(is_ok(r, "join_network_ok"));
  ASSERT_TRUE(is_ok(set_tags(c, server, net, ds.back().id, json_pack("[s]", "last")), "set_member_tags_ok"));
  rdv::JsonPtr r = get_tags(c, net, 0);
  ASSERT_TRUE(is_ok(r, "get_member_tags_ok"));
  const json_t* members = json_object_get(r.get(), "members");
  EXPECT_EQ(json_object_size(members), size_t(kMembers + 1));
  EXPECT_EQ(dump(json_object_get(members, std::to_string(ds.back().id).c_str())), R"(["last"])");
  EXPECT_EQ(dump(json_object_get(members, std::to_string(owner.id).c_str())), "[]");
  // The backbone listing is as complete.
  r = get_tags(c, 0, 0);
  ASSERT_TRUE(is_ok(r, "get_member_tags_ok"));
  EXPECT_EQ(json_object_size(json_object_get(r.get(), "members")), size_t(kMembers + 1));
}

// Every membership mutation writes its audit entry (ops-spec §7) in the same transaction; read
// from the stopped server's store (get_audit_log belongs to another area).
TEST_F(Roles, MutationsAreAudited) {
  {
    Conn c = server.connect();
    Daemon owner = register_daemon(c), m = register_daemon(c), t = register_daemon(c);
    rdv::JsonPtr tok(json_pack("{s:b,s:s,s:s}", "enterprise", 1, "network_admin_token", "hush", "token", "join-secret"));
    uint16_t net = create_network(c, server, owner, "team", tok.get());
    ASSERT_TRUE(is_ok(join(c, m, net), "join_network_ok"));
    ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, owner.id, m.id), "promote_member_ok"));
    ASSERT_TRUE(is_ok(rbac(c, "demote_member", net, owner.id, m.id), "demote_member_ok"));
    ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, json_pack("[s,s]", "web", "db")), "set_member_tags_ok"));
    ASSERT_TRUE(is_ok(transfer(c, net, owner.id, json_integer(m.id)), "transfer_ownership_ok"));
    ASSERT_TRUE(is_ok(rbac(c, "kick_member", net, m.id, owner.id), "kick_member_ok"));
    uint16_t inv = create_enterprise(c, server, m, "inv", "invite");
    ASSERT_TRUE(is_ok(invite(c, m, inv, t.id), "invite_to_network_ok"));
    ASSERT_TRUE(is_ok(respond_invite(c, t, inv, false), "respond_invite_ok"));
    ASSERT_TRUE(is_ok(invite(c, m, inv, t.id), "invite_to_network_ok"));
    ASSERT_TRUE(is_ok(respond_invite(c, t, inv, true), "respond_invite_ok"));
    ASSERT_TRUE(is_ok(leave(c, t, inv), "leave_network_ok"));
    ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:s,s:I}", "type", "rename_network", "network_id", int(inv), "name",
                                        "invites", "node_id", json_int_t(m.id))),
                      "rename_network_ok"));
    ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:b,s:s}", "type", "set_network_enterprise", "network_id", int(net),
                                        "enterprise", 0, "admin_token", server.admin_token.c_str())),
                      "set_network_enterprise_ok"));
    ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:I}", "type", "delete_network", "network_id", int(inv), "node_id",
                                        json_int_t(m.id))),
                      "delete_network_ok"));
  }
  ASSERT_NE(server.stop(), -1);
  std::string err;
  std::vector<std::string> lines = audit_lines(server, &err);
  ASSERT_TRUE(err.empty()) << err;
  std::vector<std::string> actions;
  std::string all;
  for (const std::string& l : lines) {
    all += l + "\n";
    std::string action = l.substr(0, l.find(' '));
    if (action.rfind("node.", 0) != 0) actions.push_back(action);
  }
  EXPECT_EQ(actions, (std::vector<std::string>{
                         "network.created", "network.joined", "member.promoted", "member.demoted", "member.tags_set",
                         "network.ownership_transferred", "member.kicked", "network.created", "invite.sent",
                         "invite.rejected", "invite.sent", "invite.accepted", "network.left", "network.renamed",
                         "network.enterprise_changed", "network.deleted"}))
      << all;
  EXPECT_NE(all.find("network.created net=1 node=1 name=team, join_rule=open, creator_node_id=1, enterprise=true"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("member.tags_set net=1 node=2 target_node_id=2, tags=web,db"), std::string::npos) << all;
  EXPECT_NE(all.find("network.renamed net=2 node=2 old_name=inv, new_name=invites"), std::string::npos) << all;
  // No secret reaches the log.
  EXPECT_EQ(all.find("hush"), std::string::npos) << all;
  EXPECT_EQ(all.find("join-secret"), std::string::npos) << all;
}

// Acknowledged roles and member tags survive a SIGKILL of the registry worker, and a restart.
TEST_F(Roles, RolesAndTagsSurviveRegistryKillAndRestart) {
  Daemon owner, adm, m;
  uint16_t net = 0;
  {
    Conn c = server.connect();
    owner = register_daemon(c);
    adm = register_daemon(c);
    m = register_daemon(c);
    net = team(c, server, owner, {&adm, &m});
    ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, owner.id, adm.id), "promote_member_ok"));
    ASSERT_TRUE(is_ok(set_tags(c, server, net, m.id, json_pack("[s,s]", "web", "edge")), "set_member_tags_ok"));
    ASSERT_TRUE(is_ok(transfer(c, net, owner.id, json_integer(adm.id)), "transfer_ownership_ok"));
  }
  auto check = [&](Conn& c) {
    EXPECT_EQ(role_of(c, net, owner.id), "admin");
    EXPECT_EQ(role_of(c, net, adm.id), "owner");
    EXPECT_EQ(role_of(c, net, m.id), "member");
    EXPECT_EQ(dump(json_object_get(get_tags(c, net, m.id).get(), "tags")), R"(["web","edge"])");
  };
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);
  ASSERT_EQ(kill(registry, SIGKILL), 0);
  ASSERT_GT(server.wait_worker("rendezvous-registry", registry, 20000), 0);
  int64_t deadline = mono_ms() + 20000;
  rdv::JsonPtr probe;
  while (mono_ms() < deadline) {
    Conn c = server.connect();
    if (c.ok() && (probe = get_tags(c, net, m.id)) && str(probe.get(), "type") == "get_member_tags_ok") break;
    sleep_ms(20);
  }
  {
    Conn c = server.connect();
    check(c);
  }
  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  check(c);
  // Still enforced: the old owner (now admin) cannot promote.
  EXPECT_TRUE(is_error(rbac(c, "promote_member", net, owner.id, m.id),
                       "rbac: node 1 has role \"admin\", requires one of [owner]"));
}

}  // namespace
}  // namespace rt
