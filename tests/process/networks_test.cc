// Networks over the wire (wire-protocol §6.4.1–§6.4.5, §10.5 items 76–83, 87, 91, 92, 94;
// client-expectations D8, D10): create, join, leave, delete, rename, the enterprise flag and
// list_networks, their refusals in the spec's order, and what survives a restart.
#include "network_helpers.h"

namespace rt {
namespace {

using Networks = ServerTest;

rdv::JsonPtr member_role(Conn& c, uint16_t net, uint32_t target) {
  return call(c, json_pack("{s:s,s:i,s:I}", "type", "get_member_role", "network_id", int(net), "target_node_id",
                           json_int_t(target)));
}

rdv::JsonPtr list_networks(Conn& c, const std::string& admin_token = "") {
  if (!admin_token.empty())
    return call(c, json_pack("{s:s,s:s}", "type", "list_networks", "admin_token", admin_token.c_str()));
  return call(c, json_pack("{s:s}", "type", "list_networks"));
}

rdv::JsonPtr create(Conn& c, const Server& s, uint32_t node, const std::string& name, const json_t* extra = nullptr) {
  rdv::JsonPtr req(json_pack("{s:s,s:s,s:I,s:s}", "type", "create_network", "admin_token", s.admin_token.c_str(),
                             "node_id", json_int_t(node), "name", name.c_str()));
  if (extra) json_object_update(req.get(), const_cast<json_t*>(extra));
  return c.request(req.get());
}

// lookup's "networks" (the node's own list).
std::string networks_of(Conn& c, uint32_t id) {
  rdv::JsonPtr r = do_lookup(c, id);
  EXPECT_TRUE(is_ok(r, "lookup_ok"));
  return r ? dump(json_object_get(r.get(), "networks")) : "";
}

// list_nodes of a network: the member node ids.
std::vector<int64_t> member_ids(Conn& c, uint16_t net) {
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:i}", "type", "list_nodes", "network_id", int(net)));
  EXPECT_TRUE(is_ok(r, "list_nodes_ok"));
  return r ? ids_in(r.get(), "nodes", "node_id") : std::vector<int64_t>{};
}

std::string role_of(Conn& c, uint16_t net, uint32_t target) {
  rdv::JsonPtr r = member_role(c, net, target);
  return is_ok(r, "get_member_role_ok") ? str(r.get(), "role") : "error: " + str(r.get(), "error");
}

const char* kRules = R"({"links":3,"cycle":"1h","prune":1,"prune_by":"score","fill":2,"fill_how":"random"})";

// §10.5 item 76.
TEST_F(Networks, CreateNetworkMakesTheCreatorItsOwner) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  rdv::JsonPtr r = create(c, server, a.id, "my-net");
  ASSERT_TRUE(is_ok(r, "create_network_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), 1);
  EXPECT_EQ(str(r.get(), "name"), "my-net");
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "enterprise"))) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "managed"));
  EXPECT_EQ(role_of(c, 1, a.id), "owner");  // even for a non-enterprise network
  EXPECT_EQ(networks_of(c, a.id), "[0,1]");
  EXPECT_EQ(member_ids(c, 1), std::vector<int64_t>{a.id});
  // Ids count up and are not reused.
  EXPECT_EQ(create_network(c, server, a, "second"), 2);
}

// §10.5 item 77.
TEST_F(Networks, CreateNetworkRefusals) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  ASSERT_EQ(create_network(c, server, a, "my-net"), 1);
  EXPECT_TRUE(is_error(create(c, server, a.id, "my-net"), "network \"my-net\" already exists"));
  EXPECT_TRUE(is_error(create(c, server, a.id, "UPPERCASE"), "request failed"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s,s:I,s:s}", "type", "create_network", "node_id", json_int_t(a.id),
                                         "name", "no-token")),
                       "invalid admin token"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s,s:s,s:I,s:s}", "type", "create_network", "admin_token", "wrong",
                                         "node_id", json_int_t(a.id), "name", "bad-token")),
                       "invalid admin token"));
  // node 99 not registered: no sanitiser keyword.
  EXPECT_TRUE(is_error(create(c, server, 99, "orphan"), "request failed"));
  EXPECT_TRUE(is_error(create(c, server, 0, "orphan"), "request failed"));
  // Nothing of the refused requests stayed: the next network still gets id 2.
  EXPECT_EQ(create_network(c, server, a, "next"), 2);
}

class NoAdminToken : public ::testing::Test {
 protected:
  void SetUp() override {
    server.pass_admin_token = false;
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
};

// §10.5 item 77: without a configured admin token, network creation is disabled.
TEST_F(NoAdminToken, CreateNetworkIsDisabled) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  EXPECT_TRUE(is_error(create(c, server, a.id, "my-net"), "request failed"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s,s:I,s:s}", "type", "create_network", "node_id", json_int_t(a.id),
                                         "name", "my-net")),
                       "request failed"));
}

// §10.5 item 78.
TEST_F(Networks, InviteRuleNeedsTheEnterpriseFlag) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  rdv::JsonPtr extra(json_pack("{s:s}", "join_rule", "invite"));
  EXPECT_TRUE(is_error(create(c, server, a.id, "inv", extra.get()),
                       "enterprise feature: invite-only networks require the enterprise flag"));
  json_object_set_new(extra.get(), "enterprise", json_true());
  rdv::JsonPtr r = create(c, server, a.id, "inv", extra.get());
  ASSERT_TRUE(is_ok(r, "create_network_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "enterprise"))) << dump(r.get());
}

// §10.5 item 79.
TEST_F(Networks, ExprPolicyAtCreation) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  rdv::JsonPtr bad(json_pack("{s:s}", "expr_policy", "{not json"));
  EXPECT_TRUE(is_error_containing(create(c, server, a.id, "p1", bad.get()), "expr_policy: invalid JSON: "));
  // "unsupported version" has no sanitiser keyword.
  rdv::JsonPtr v99(json_pack("{s:s}", "expr_policy", "{\"version\":99}"));
  EXPECT_TRUE(is_error(create(c, server, a.id, "p1", v99.get()), "request failed"));
  rdv::JsonPtr obj(json_pack("{s:{s:i,s:[{s:s}]}}", "expr_policy", "version", 1, "rules", "name", "allow"));
  ASSERT_TRUE(is_ok(create(c, server, a.id, "p1", obj.get()), "create_network_ok"));
  // A string document with only a version is enough at creation (rules are not required here).
  rdv::JsonPtr text(json_pack("{s:s}", "expr_policy", " {\"version\": 1} "));
  ASSERT_TRUE(is_ok(create(c, server, a.id, "p2", text.get()), "create_network_ok"));
  rdv::JsonPtr l = list_networks(c);
  ASSERT_TRUE(is_ok(l, "list_networks_ok"));
  ASSERT_NE(network_entry(l.get(), 1), nullptr) << dump(l.get());
  EXPECT_TRUE(json_is_true(json_object_get(network_entry(l.get(), 1), "has_expr_policy"))) << dump(l.get());
  // Joining echoes the document as an object (the daemon starts its policy runner from it).
  Daemon b = register_daemon(c);
  rdv::JsonPtr j = join(c, b, 1);
  ASSERT_TRUE(is_ok(j, "join_network_ok"));
  EXPECT_EQ(dump(json_object_get(j.get(), "expr_policy")), R"({"rules":[{"name":"allow"}],"version":1})");
  j = join(c, b, 2);
  ASSERT_TRUE(is_ok(j, "join_network_ok"));
  EXPECT_EQ(dump(json_object_get(j.get(), "expr_policy")), R"({"version":1})");
}

// §10.5 item 80.
TEST_F(Networks, NetworkNameRules) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  for (const char* ok : {"valid-name", "abc123", "a"}) EXPECT_TRUE(is_ok(create(c, server, a.id, ok), "create_network_ok")) << ok;
  std::string longest(63, 'x');
  EXPECT_TRUE(is_ok(create(c, server, a.id, longest), "create_network_ok"));
  EXPECT_TRUE(is_error(create(c, server, a.id, ""), "network name required"));
  EXPECT_TRUE(is_error(create(c, server, a.id, std::string(64, 'x')), "network name too long (max 63 chars)"));
  for (const char* bad : {"backbone", "UPPERCASE", "has space", "-leading-dash", "trailing-dash-", "dot.ted"})
    EXPECT_TRUE(is_error(create(c, server, a.id, bad), "request failed")) << bad;
  // A name that is not a string reads as "".
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:s,s:I,s:i}", "type", "create_network", "admin_token",
                                     server.admin_token.c_str(), "node_id", json_int_t(a.id), "name", 5));
  EXPECT_TRUE(is_error(r, "network name required"));
}

// §10.5 item 81.
TEST_F(Networks, JoinOpenNetwork) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  uint16_t net = create_network(c, server, a, "open-net");
  rdv::JsonPtr r = join(c, b, net);
  ASSERT_TRUE(is_ok(r, "join_network_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(str(r.get(), "address"), "1:0001.0000.0002");
  EXPECT_FALSE(has(r.get(), "rules"));
  EXPECT_FALSE(has(r.get(), "expr_policy"));
  EXPECT_EQ(role_of(c, net, b.id), "member");
  EXPECT_EQ(networks_of(c, b.id), "[0,1]");
  EXPECT_EQ(member_ids(c, net), (std::vector<int64_t>{a.id, b.id}));
  EXPECT_TRUE(is_error(join(c, b, net), "node 2 already in network 1"));
  EXPECT_TRUE(is_error(join(c, b, 0), "cannot join the backbone network"));
  EXPECT_TRUE(is_error(join(c, b, 9), "network 9: network not found"));
  Daemon ghost{Key::generate(), 99};
  EXPECT_TRUE(is_error(join(c, ghost, net), "request failed"));  // node 99 not registered
}

// §6.4.2: SIG|ADMIN over join_network:<node>:<net>; inviter_id (sent by the Go client) ignored.
TEST_F(Networks, JoinNetworkAuthorisation) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), other = register_daemon(c);
  uint16_t net = create_network(c, server, a, "auth-net");
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:I,s:i}", "type", "join_network", "node_id", json_int_t(b.id),
                                     "network_id", int(net)));
  EXPECT_TRUE(is_error(r, "signature required for authenticated node"));
  rdv::JsonPtr wrong(json_pack("{s:s}", "signature", other.sign("join_network:2:1").c_str()));
  EXPECT_TRUE(is_error(join(c, b, net, wrong.get()), "signature verification failed"));
  rdv::JsonPtr garbled(json_pack("{s:s}", "signature", "!!notbase64"));
  EXPECT_TRUE(is_error_containing(join(c, b, net, garbled.get()), "invalid signature encoding: "));
  // Signed for another network: refused.
  rdv::JsonPtr other_net(json_pack("{s:s}", "signature", b.sign("join_network:2:7").c_str()));
  EXPECT_TRUE(is_error(join(c, b, net, other_net.get()), "signature verification failed"));
  // A wrong admin token does not rescue a bad signature: the signature's error is returned.
  rdv::JsonPtr bad_admin(json_pack("{s:s,s:s}", "signature", "", "admin_token", "nope"));
  EXPECT_TRUE(is_error(join(c, b, net, bad_admin.get()), "signature required for authenticated node"));
  // The global admin token stands in for the signature.
  r = call(c, json_pack("{s:s,s:I,s:i,s:s,s:i}", "type", "join_network", "node_id", json_int_t(b.id), "network_id",
                        int(net), "admin_token", server.admin_token.c_str(), "inviter_id", 0));
  EXPECT_TRUE(is_ok(r, "join_network_ok"));
  rdv::JsonPtr with_inviter(json_pack("{s:I,s:s}", "inviter_id", json_int_t(a.id), "token", ""));
  EXPECT_TRUE(is_ok(join(c, other, net, with_inviter.get()), "join_network_ok"));
}

// §10.5 item 82 (capacity below, in JoinRespectsMaxMembers).
TEST_F(Networks, JoinTokenAndInviteNetworks) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  rdv::JsonPtr tok(json_pack("{s:s,s:s}", "join_rule", "token", "token", "s3cret"));
  uint16_t tnet = create_network(c, server, a, "token-net", tok.get());
  rdv::JsonPtr wrong(json_pack("{s:s}", "token", "guess"));
  EXPECT_TRUE(is_error(join(c, b, tnet, wrong.get()), "invalid token for network 1"));
  EXPECT_TRUE(is_error(join(c, b, tnet), "invalid token for network 1"));  // no token
  rdv::JsonPtr right(json_pack("{s:s}", "token", "s3cret"));
  EXPECT_TRUE(is_ok(join(c, b, tnet, right.get()), "join_network_ok"));

  uint16_t inet = create_enterprise(c, server, a, "invite-net", "invite");
  EXPECT_TRUE(is_error(join(c, b, inet), "invite-only networks require invite_to_network + respond_invite flow"));

  // Other join rules are stored and make every join fail.
  rdv::JsonPtr odd(json_pack("{s:s}", "join_rule", "approval"));
  uint16_t onet = create_network(c, server, a, "odd-net", odd.get());
  EXPECT_TRUE(is_error(join(c, b, onet), "request failed"));  // unknown join rule: approval
  rdv::JsonPtr l = list_networks(c);
  ASSERT_NE(network_entry(l.get(), onet), nullptr);
  EXPECT_EQ(str(network_entry(l.get(), onet), "join_rule"), "approval");
}

// Client-expectations D8: the Go client always sends join_rule, token and (managed) rules,
// often as "".
TEST_F(Networks, EmptyOptionalFieldsMeanDefaults) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  rdv::JsonPtr extra(json_pack("{s:s,s:s,s:s,s:s}", "join_rule", "", "token", "", "rules", "", "expr_policy", ""));
  rdv::JsonPtr r = create(c, server, a.id, "plain", extra.get());
  ASSERT_TRUE(is_ok(r, "create_network_ok"));
  EXPECT_FALSE(has(r.get(), "managed")) << dump(r.get());
  rdv::JsonPtr l = list_networks(c);
  const json_t* e = network_entry(l.get(), 1);
  ASSERT_NE(e, nullptr) << dump(l.get());
  EXPECT_EQ(str(e, "join_rule"), "open");
  EXPECT_FALSE(has(e, "managed"));
  EXPECT_FALSE(has(e, "rules"));
  EXPECT_FALSE(has(e, "has_expr_policy"));
  EXPECT_TRUE(is_ok(join(c, b, 1), "join_network_ok"));
}

// §6.4.1 managed rules, D10: list_networks and join_network carry them as an object with
// integer literals.
TEST_F(Networks, ManagedRulesAsStringOrObject) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  rdv::JsonPtr s(json_pack("{s:s}", "rules", kRules));
  rdv::JsonPtr r = create(c, server, a.id, "managed-a", s.get());
  ASSERT_TRUE(is_ok(r, "create_network_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "managed"))) << dump(r.get());
  rdv::JsonPtr o(json_pack("{s:{s:i,s:s,s:s,s:s,s:s}}", "rules", "links", 5, "cycle", "90m", "prune_by", "age",
                           "fill_how", "random", "grace", "5m"));
  ASSERT_TRUE(is_ok(create(c, server, a.id, "managed-b", o.get()), "create_network_ok"));

  std::string raw;
  rdv::JsonPtr req(json_pack("{s:s}", "type", "list_networks"));
  rdv::JsonPtr l = c.request(req.get(), &raw);
  ASSERT_TRUE(is_ok(l, "list_networks_ok"));
  // Integer literals in the bytes on the wire (not 3.0): the daemon decodes them into ints.
  EXPECT_NE(raw.find(R"("rules":{"links":3,"cycle":"1h","prune":1,"prune_by":"score","fill":2,"fill_how":"random"})"),
            std::string::npos)
      << raw;
  EXPECT_NE(raw.find(R"("rules":{"links":5,"cycle":"90m","prune":0,"prune_by":"age","fill":0,"fill_how":"random","grace":"5m"})"),
            std::string::npos)
      << raw;
  EXPECT_TRUE(json_is_true(json_object_get(network_entry(l.get(), 1), "managed")));

  raw.clear();
  rdv::JsonPtr jreq(json_pack("{s:s,s:I,s:i,s:s}", "type", "join_network", "node_id", json_int_t(b.id), "network_id",
                              1, "signature", b.sign("join_network:2:1").c_str()));
  rdv::JsonPtr j = c.request(jreq.get(), &raw);
  ASSERT_TRUE(is_ok(j, "join_network_ok"));
  EXPECT_NE(raw.find(std::string("\"rules\":") + kRules), std::string::npos) << raw;
}

TEST_F(Networks, ManagedRulesRefusals) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  auto with = [&](json_t* extra) {
    rdv::JsonPtr e(extra);
    return create(c, server, a.id, "managed", e.get());
  };
  EXPECT_TRUE(is_error_containing(with(json_pack("{s:s}", "rules", "{bad")), "rules: invalid JSON: "));
  EXPECT_TRUE(is_error(with(json_pack("{s:s}", "rules", "{\"links\":\"3\"}")),
                       "rules: invalid JSON: json: cannot unmarshal string into Go struct field NetworkRules.links of "
                       "type int"));
  // No keyword: the sanitiser hides it.
  EXPECT_TRUE(is_error(with(json_pack("{s:{s:i}}", "rules", "links", 0)), "request failed"));
  EXPECT_TRUE(is_error(with(json_pack("{s:{s:i,s:s,s:i,s:s,s:s}}", "rules", "links", 2, "cycle", "1h", "prune", 5,
                                      "prune_by", "age", "fill_how", "random")),
                       "rules: prune (5) cannot exceed links (2)"));
  EXPECT_TRUE(is_error(with(json_pack("{s:{s:i,s:s}}", "rules", "links", 2, "cycle", "soon")),
                       "rules: invalid cycle duration \"soon\": time: invalid duration \"soon\""));
  EXPECT_TRUE(is_error(with(json_pack("{s:{s:i}}", "rules", "links", 2)), "rules: cycle is required"));
  EXPECT_TRUE(is_error(with(json_pack("{s:s}", "rules", std::string(5000, ' ').c_str())),
                       "rules too long (max 4096 bytes)"));
  // Rules come before the name check (§6.4.1 order).
  rdv::JsonPtr both(json_pack("{s:s}", "rules", "{bad"));
  EXPECT_TRUE(is_error_containing(create(c, server, a.id, "BAD NAME", both.get()), "rules: invalid JSON"));
  // Nothing was created.
  EXPECT_EQ(create_network(c, server, a, "after"), 1);
}

// Stored strings have limits; over-long ones get a clear error, never a crash.
TEST_F(Networks, OversizeCreateFields) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  std::string big(300, 'x');
  auto with = [&](const char* key, const std::string& value) {
    rdv::JsonPtr e(json_pack("{s:s}", key, value.c_str()));
    return create(c, server, a.id, "sized", e.get());
  };
  EXPECT_TRUE(is_error(with("token", big), "token too long (max 256 bytes)"));
  EXPECT_TRUE(is_error(with("network_admin_token", big), "network_admin_token too long (max 256 bytes)"));
  EXPECT_TRUE(is_error(with("join_rule", big), "join_rule too long (max 64 bytes)"));
  EXPECT_TRUE(is_error(with("name", std::string(100000, 'a')), "network name too long (max 63 chars)"));
  std::string policy = "{\"version\":1,\"pad\":\"" + std::string(70000, 'p') + "\"}";
  EXPECT_TRUE(is_error(with("expr_policy", policy), "expr_policy too long (max 65536 bytes)"));
  EXPECT_TRUE(is_ok(with("token", std::string(256, 't')), "create_network_ok"));
}

// §10.5 item 83.
TEST_F(Networks, LeaveNetwork) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), stranger = register_daemon(c);
  uint16_t net = create_network(c, server, a, "leave-net");
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  rdv::JsonPtr r = leave(c, b, net);
  ASSERT_TRUE(is_ok(r, "leave_network_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(networks_of(c, b.id), "[0]");
  EXPECT_EQ(member_ids(c, net), std::vector<int64_t>{a.id});
  EXPECT_TRUE(is_error(member_role(c, net, b.id), "node 2 is not a member of network 1"));
  EXPECT_TRUE(is_error(leave(c, stranger, net), "node 3 is not a member of network 1"));
  EXPECT_TRUE(is_error(leave(c, b, 0), "cannot leave the backbone network"));
  EXPECT_TRUE(is_error(leave(c, b, 9), "network 9: network not found"));
  rdv::JsonPtr bad = call(c, json_pack("{s:s,s:I,s:i,s:s}", "type", "leave_network", "node_id", json_int_t(b.id),
                                       "network_id", int(net), "signature", a.sign("leave_network:2:1").c_str()));
  EXPECT_TRUE(is_error(bad, "signature verification failed"));
  // The owner of a non-enterprise network may leave: it becomes ownerless.
  EXPECT_TRUE(is_ok(leave(c, a, net), "leave_network_ok"));
  EXPECT_EQ(member_ids(c, net), std::vector<int64_t>{});
  // The owner of an enterprise network must transfer ownership first.
  uint16_t ent = create_enterprise(c, server, a, "ent-net");
  EXPECT_TRUE(is_error(leave(c, a, ent), "cannot leave network: owner must transfer ownership first"));
  // Leaving and joining again works.
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  EXPECT_EQ(member_ids(c, net), std::vector<int64_t>{b.id});
}

TEST_F(Networks, DeleteNetwork) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  uint16_t net = create_network(c, server, a, "doomed");
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  auto del = [&](uint16_t id, json_t* extra) {
    rdv::JsonPtr req(json_pack("{s:s,s:i}", "type", "delete_network", "network_id", int(id)));
    rdv::JsonPtr e(extra);
    if (extra) json_object_update(req.get(), extra);
    return c.request(req.get());
  };
  EXPECT_TRUE(is_error(del(0, json_pack("{s:s}", "admin_token", server.admin_token.c_str())),
                       "cannot delete the backbone network"));
  EXPECT_TRUE(is_error(del(9, json_pack("{s:s}", "admin_token", server.admin_token.c_str())),
                       "network 9: network not found"));
  EXPECT_TRUE(is_error(del(net, nullptr), "rbac: node_id required for role-based authorization"));
  EXPECT_TRUE(is_error(del(net, json_pack("{s:I}", "node_id", json_int_t(b.id))),
                       "rbac: node 2 has role \"member\", requires one of [owner]"));
  rdv::JsonPtr r = del(net, json_pack("{s:I}", "node_id", json_int_t(a.id)));  // the owner, unsigned (§4.3)
  ASSERT_TRUE(is_ok(r, "delete_network_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(networks_of(c, a.id), "[0]");
  EXPECT_EQ(networks_of(c, b.id), "[0]");
  EXPECT_TRUE(is_error(join(c, b, net), "network 1: network not found"));
  EXPECT_EQ(network_entry(list_networks(c).get(), net), nullptr);
  // The name is free again; the id is not reused.
  EXPECT_EQ(create_network(c, server, a, "doomed"), 2);
  // The global admin token deletes too.
  EXPECT_TRUE(is_ok(del(2, json_pack("{s:s}", "admin_token", server.admin_token.c_str())), "delete_network_ok"));
}

TEST_F(Networks, RenameNetwork) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  uint16_t net = create_network(c, server, a, "old-name");
  ASSERT_EQ(create_network(c, server, a, "taken"), 2);
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  auto rename = [&](uint16_t id, const std::string& name, uint32_t node) {
    return call(c, json_pack("{s:s,s:i,s:s,s:I}", "type", "rename_network", "network_id", int(id), "name",
                             name.c_str(), "node_id", json_int_t(node)));
  };
  EXPECT_TRUE(is_error(rename(0, "x", a.id), "cannot rename the backbone network"));
  EXPECT_TRUE(is_error(rename(net, "new-name", b.id), "rbac: node 2 has role \"member\", requires one of [owner admin]"));
  EXPECT_TRUE(is_error(rename(net, "taken", a.id), "network \"taken\" already exists"));
  EXPECT_TRUE(is_error(rename(net, "Bad Name", a.id), "request failed"));
  EXPECT_TRUE(is_error(rename(net, "", a.id), "network name required"));
  rdv::JsonPtr r = rename(net, "new-name", a.id);
  ASSERT_TRUE(is_ok(r, "rename_network_ok"));
  EXPECT_EQ(str(r.get(), "name"), "new-name");
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_TRUE(is_ok(rename(net, "new-name", a.id), "rename_network_ok"));  // its own name: fine
  EXPECT_EQ(str(network_entry(list_networks(c).get(), net), "name"), "new-name");
  // The old name is free, the new one taken.
  EXPECT_EQ(create_network(c, server, a, "old-name"), 3);
  EXPECT_TRUE(is_error(create(c, server, a.id, "new-name"), "network \"new-name\" already exists"));
}

TEST_F(Networks, SetNetworkEnterprise) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), d = register_daemon(c);
  uint16_t net = create_network(c, server, a, "flip");
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  ASSERT_TRUE(is_ok(join(c, d, net), "join_network_ok"));
  auto set = [&](uint16_t id, bool on, const std::string& token) {
    return call(c, json_pack("{s:s,s:i,s:b,s:s}", "type", "set_network_enterprise", "network_id", int(id), "enterprise",
                             on, "admin_token", token.c_str()));
  };
  EXPECT_TRUE(is_error(set(0, true, server.admin_token), "cannot set enterprise on the backbone network"));
  EXPECT_TRUE(is_error(set(net, true, ""), "set_network_enterprise requires admin token"));
  EXPECT_TRUE(is_error(set(net, true, "wrong"), "set_network_enterprise requires admin token"));
  EXPECT_TRUE(is_error(set(9, true, server.admin_token), "network 9: network not found"));

  // Off: every role goes.
  rdv::JsonPtr r = set(net, false, server.admin_token);
  ASSERT_TRUE(is_ok(r, "set_network_enterprise_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "enterprise")));
  for (uint32_t id : {a.id, b.id, d.id}) EXPECT_TRUE(is_error(member_role(c, net, id), "node " + std::to_string(id) + " is not a member of network 1"));
  EXPECT_EQ(member_ids(c, net).size(), 3u);  // memberships stay
  // On: the first member (join order) becomes the owner, the others members.
  r = set(net, true, server.admin_token);
  ASSERT_TRUE(is_ok(r, "set_network_enterprise_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "enterprise")));
  EXPECT_EQ(role_of(c, net, a.id), "owner");
  EXPECT_EQ(role_of(c, net, b.id), "member");
  EXPECT_EQ(role_of(c, net, d.id), "member");
  EXPECT_TRUE(json_is_true(json_object_get(network_entry(list_networks(c).get(), net), "enterprise")));
  // On again with an owner: nobody else becomes one.
  ASSERT_TRUE(is_ok(set(net, true, server.admin_token), "set_network_enterprise_ok"));
  EXPECT_EQ(role_of(c, net, b.id), "member");
}

// §10.5 item 91 (max_members and description: written offline, they belong to
// set_network_policy), and the capacity check of item 82.
TEST_F(Networks, ListNetworksFieldsAndCapacity) {
  uint16_t ent = 0, plain = 0;
  Daemon a, b, d;
  {
    Conn c = server.connect();
    a = register_daemon(c);
    b = register_daemon(c);
    d = register_daemon(c);
    ent = create_enterprise(c, server, a, "ent");
    plain = create_network(c, server, a, "plain");
  }
  std::string err;
  ASSERT_TRUE(edit_stopped_store(
      server,
      [&](rdv::Txn& t, rdv::Mutation& m) {
        auto policy = [](rdv::Network& n) {
          n.max_members = 2;
          n.description = "team network";
        };
        return edit_network(t, m, ent, policy) && edit_network(t, m, plain, policy);
      },
      &err))
      << err;
  Conn c = server.connect();
  rdv::JsonPtr l = list_networks(c, server.admin_token);
  ASSERT_TRUE(is_ok(l, "list_networks_ok"));
  const json_t* e = network_entry(l.get(), ent);
  ASSERT_NE(e, nullptr) << dump(l.get());
  EXPECT_EQ(num(e, "max_members"), 2);
  EXPECT_EQ(str(e, "description"), "team network");
  EXPECT_EQ(num(e, "members"), 1);
  EXPECT_EQ(str(e, "name"), "ent");
  EXPECT_EQ(str(e, "join_rule"), "open");
  EXPECT_GT(num(e, "created"), 1600000000);
  // Policy fields are shown for enterprise networks only.
  const json_t* p = network_entry(l.get(), plain);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(has(p, "max_members")) << dump(p);
  EXPECT_FALSE(has(p, "description")) << dump(p);
  // The backbone is listed, with every live node as a member.
  const json_t* bb = network_entry(l.get(), 0);
  ASSERT_NE(bb, nullptr) << dump(l.get());
  EXPECT_EQ(str(bb, "name"), "backbone");
  EXPECT_EQ(num(bb, "members"), 3);
  // Without the admin token: no member counts.
  rdv::JsonPtr anon = list_networks(c);
  for (int64_t id : ids_in(anon.get(), "networks", "id")) EXPECT_FALSE(has(network_entry(anon.get(), id), "members"));
  EXPECT_EQ(ids_in(anon.get(), "networks", "id").size(), 3u);

  // Capacity (item 82): two members fit, the third is refused.
  ASSERT_TRUE(is_ok(join(c, b, ent), "join_network_ok"));
  EXPECT_TRUE(is_error(join(c, d, ent), "request failed"));  // network membership limit reached
  ASSERT_TRUE(is_ok(leave(c, b, ent), "leave_network_ok"));
  EXPECT_TRUE(is_ok(join(c, d, ent), "join_network_ok"));
}

// §10.5 item 94: ids that are not numbers in range read as 0.
TEST_F(Networks, NetworkIdCoercion) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  ASSERT_EQ(create_network(c, server, a, "n"), 1);
  std::string sig = a.sign("join_network:1:0");
  for (const char* id : {"-1", "70000", "1e20", "\"1\"", "0.5", "null", "true", "[1]"}) {
    std::string body = std::string(R"({"type":"join_network","node_id":1,"signature":")") + sig +
                       R"(","network_id":)" + id + "}";
    EXPECT_TRUE(is_error(c.request(body), "cannot join the backbone network")) << id;
  }
  EXPECT_TRUE(is_error(c.request(std::string(R"({"type":"join_network","node_id":1,"signature":")") + sig + "\"}"),
                       "cannot join the backbone network"));
  // 1.9 truncates to 1.
  std::string body = std::string(R"({"type":"join_network","node_id":1,"network_id":1.9,"signature":")") +
                     a.sign("join_network:1:1") + "\"}";
  EXPECT_TRUE(is_error(c.request(body), "node 1 already in network 1"));
}

// RBAC pre-assignments (§5.4): written by provision_network / directory_sync (another area);
// here offline. Applied on join_network when the node's external id matches, case-insensitively.
TEST_F(Networks, JoinAppliesRbacPreAssignment) {
  Daemon a, b, d;
  uint16_t net = 0;
  {
    Conn c = server.connect();
    a = register_daemon(c);
    b = register_daemon(c);
    d = register_daemon(c);
    net = create_enterprise(c, server, a, "pre");
  }
  std::string err;
  ASSERT_TRUE(edit_stopped_store(
      server,
      [&](rdv::Txn& t, rdv::Mutation& m) {
        return edit_node(t, m, b.id, [](rdv::Node& n) { n.external_id = "Alice@Example.com"; }) &&
               edit_node(t, m, d.id, [](rdv::Node& n) { n.external_id = "bob@example.com"; }) &&
               m.put(rdv::Db::PreAssign, rdv::key_u16(net) + "alice@example.com", "admin") == 0 &&
               m.put(rdv::Db::PreAssign, rdv::key_u16(net) + "carol@example.com", "owner") == 0;
      },
      &err))
      << err;
  Conn c = server.connect();
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  ASSERT_TRUE(is_ok(join(c, d, net), "join_network_ok"));
  EXPECT_EQ(role_of(c, net, b.id), "admin");
  EXPECT_EQ(role_of(c, net, d.id), "member");
}

class StrictDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    server.extra_args = {"-strict-directory-auth"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
};

rdv::JsonPtr list_as(Conn& c, const Daemon& d, const std::string& signature) {
  return call(c, json_pack("{s:s,s:I,s:s}", "type", "list_networks", "requester_id", json_int_t(d.id), "signature",
                           signature.c_str()));
}

// §10.5 item 92: strict mode hides non-open networks from everyone but signed members.
TEST_F(StrictDirectory, ListNetworksShowsPrivateNetworksToSignedMembersOnly) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), outsider = register_daemon(c);
  uint16_t open = create_network(c, server, a, "open-net");
  rdv::JsonPtr tok(json_pack("{s:s,s:s}", "join_rule", "token", "token", "t"));
  uint16_t priv = create_network(c, server, a, "priv-net", tok.get());
  uint16_t inv = create_enterprise(c, server, a, "inv-net", "invite");
  auto ids = [](const rdv::JsonPtr& r) {
    EXPECT_TRUE(is_ok(r, "list_networks_ok"));
    return r ? ids_in(r.get(), "networks", "id") : std::vector<int64_t>{};
  };
  std::vector<int64_t> public_only{0, open};
  EXPECT_EQ(ids(list_networks(c)), public_only);
  EXPECT_EQ(ids(list_as(c, outsider, outsider.sign("list_networks:2"))), public_only);
  // The member signed: it sees its own private networks.
  EXPECT_EQ(ids(list_as(c, a, a.sign("list_networks:1"))), (std::vector<int64_t>{0, open, priv, inv}));
  // Unsigned, or signed by someone else: only open networks.
  EXPECT_EQ(ids(call(c, json_pack("{s:s,s:I}", "type", "list_networks", "requester_id", json_int_t(a.id)))), public_only);
  EXPECT_EQ(ids(list_as(c, a, outsider.sign("list_networks:1"))), public_only);
  EXPECT_EQ(ids(list_as(c, a, "garbage")), public_only);
  // The admin token sees everything.
  EXPECT_EQ(ids(list_networks(c, server.admin_token)), (std::vector<int64_t>{0, open, priv, inv}));
}

// Strict off (the default): every network is listed to anyone.
TEST_F(Networks, ListNetworksShowsEverythingWhenNotStrict) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), outsider = register_daemon(c);
  rdv::JsonPtr tok(json_pack("{s:s,s:s}", "join_rule", "token", "token", "t"));
  uint16_t priv = create_network(c, server, a, "priv-net", tok.get());
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:I}", "type", "list_networks", "requester_id", json_int_t(outsider.id)));
  ASSERT_TRUE(is_ok(r, "list_networks_ok"));
  EXPECT_EQ(ids_in(r.get(), "networks", "id"), (std::vector<int64_t>{0, priv}));
}

// A listing longer than one turn (1 000 entries) is complete and well-formed.
class ManyNetworks : public ::testing::Test {
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

TEST_F(ManyNetworks, ListNetworksInTurns) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  constexpr int kCount = 2100;
  std::vector<std::string> bodies;
  for (int i = 0; i < kCount; i++)
    bodies.push_back(R"({"type":"create_network","admin_token":")" + server.admin_token + R"(","node_id":)" +
                     std::to_string(a.id) + R"(,"name":"net-)" + std::to_string(i) + "\"}");
  std::vector<rdv::JsonPtr> replies = pipelined(c, bodies);
  for (auto& r : replies) ASSERT_TRUE(is_ok(r, "create_network_ok"));
  rdv::JsonPtr l = list_networks(c, server.admin_token);
  ASSERT_TRUE(is_ok(l, "list_networks_ok"));
  std::vector<int64_t> ids = ids_in(l.get(), "networks", "id");
  ASSERT_EQ(ids.size(), size_t(kCount + 1));
  for (int i = 0; i <= kCount; i++) EXPECT_EQ(ids[size_t(i)], i);
  EXPECT_EQ(str(network_entry(l.get(), kCount), "name"), "net-" + std::to_string(kCount - 1));
  EXPECT_EQ(num(network_entry(l.get(), 0), "members"), 1);
  // The creator is a member of every one of them.
  rdv::JsonPtr lk = do_lookup(c, a.id);
  EXPECT_EQ(json_array_size(json_object_get(lk.get(), "networks")), size_t(kCount + 1));
}

// Acknowledged network state is durable: a clean restart keeps networks, names, members, roles,
// join rules, tokens, documents and the id counter.
TEST_F(Networks, NetworksSurviveRestart) {
  Daemon a, b;
  {
    Conn c = server.connect();
    a = register_daemon(c);
    b = register_daemon(c);
    rdv::JsonPtr tok(json_pack("{s:s,s:s,s:s}", "join_rule", "token", "token", "s3cret", "rules", kRules));
    ASSERT_EQ(create_network(c, server, a, "kept", tok.get()), 1);
    rdv::JsonPtr j(json_pack("{s:s}", "token", "s3cret"));
    ASSERT_TRUE(is_ok(join(c, b, 1, j.get()), "join_network_ok"));
    ASSERT_EQ(create_network(c, server, a, "renamed-later"), 2);
    ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:s,s:I}", "type", "rename_network", "network_id", 2, "name", "renamed",
                                        "node_id", json_int_t(a.id))),
                      "rename_network_ok"));
    ASSERT_EQ(create_network(c, server, a, "deleted"), 3);
    ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:I}", "type", "delete_network", "network_id", 3, "node_id",
                                        json_int_t(a.id))),
                      "delete_network_ok"));
  }
  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  rdv::JsonPtr l = list_networks(c, server.admin_token);
  ASSERT_TRUE(is_ok(l, "list_networks_ok"));
  EXPECT_EQ(ids_in(l.get(), "networks", "id"), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(num(network_entry(l.get(), 1), "members"), 2);
  EXPECT_EQ(str(network_entry(l.get(), 1), "join_rule"), "token");
  EXPECT_EQ(dump(json_object_get(network_entry(l.get(), 1), "rules")), dump(parse_json(kRules).get()));
  EXPECT_EQ(str(network_entry(l.get(), 2), "name"), "renamed");
  EXPECT_EQ(role_of(c, 1, a.id), "owner");
  EXPECT_EQ(role_of(c, 1, b.id), "member");
  EXPECT_EQ(networks_of(c, b.id), "[0,1]");
  EXPECT_TRUE(is_error(create(c, server, a.id, "kept"), "network \"kept\" already exists"));
  EXPECT_TRUE(is_error(create(c, server, a.id, "renamed"), "network \"renamed\" already exists"));
  EXPECT_EQ(create_network(c, server, a, "renamed-later"), 4);  // old name free; ids not reused
  // The join secret survived.
  Daemon d = register_daemon(c);
  EXPECT_TRUE(is_error(join(c, d, 1), "invalid token for network 1"));
  rdv::JsonPtr j(json_pack("{s:s}", "token", "s3cret"));
  EXPECT_TRUE(is_ok(join(c, d, 1, j.get()), "join_network_ok"));
}

}  // namespace
}  // namespace rt
