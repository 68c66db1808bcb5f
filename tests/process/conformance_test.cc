// The conformance walk across areas (issue 6): the calls a small fleet of daemons and one
// operator make in a day, in order, against one real server, checking every reply. Each area
// has its own detailed tests; this one shows that the areas work together: a token network and
// an invite network, trust through the handshake flow, a policy, a key rotation and an identity
// recovery, and the audit trail of all of it, surviving a SIGKILL of the registry worker.
#include <signal.h>

#include <fstream>
#include <set>

#include "model.h"
#include "protocol.h"

namespace rt {
namespace {

// A keyring file as -badge-issuer-keys / -recovery-keys read it.
void write_keyring(const std::string& path, const std::string& kid, const Key& k) {
  std::ofstream f(path);
  f << "{\"keys\":[{\"kid\":\"" << kid << "\",\"public_key\":\"" << k.pub_b64() << "\"}]}";
}

class Conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    write_keyring(server.dir + "/issuers.json", "issuer-1", issuer);
    write_keyring(server.dir + "/recovery.json", "cold-1", cold);
    server.extra_args = {"-badge-issuer-keys", server.dir + "/issuers.json", "-recovery-keys",
                         server.dir + "/recovery.json"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
  Key issuer = Key::generate(), cold = Key::generate();
};

std::string s(uint32_t v) { return std::to_string(v); }

TEST_F(Conformance, AcrossAreas) {
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  const char* admin = server.admin_token.c_str();

  // Four daemons register, signed.
  Daemon a = register_daemon(c), b = register_daemon(c), d = register_daemon(c), e = register_daemon(c);
  ASSERT_TRUE(a.id && b.id && d.id && e.id);
  EXPECT_EQ(std::set<uint32_t>({a.id, b.id, d.id, e.id}).size(), 4u);

  // ---- a token network: A creates it, B joins with the token, E with a wrong one ----
  rdv::JsonPtr extra(json_pack("{s:s, s:s}", "join_rule", "token", "token", "walk-secret"));
  uint16_t token_net = create_network(c, server, a, "walk-token", extra.get());
  ASSERT_NE(token_net, 0);
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:I, s:s, s:s}", "type", "join_network", "node_id", json_int_t(b.id),
                                     "network_id", json_int_t(token_net), "token", "walk-secret", "signature",
                                     b.sign("join_network:" + s(b.id) + ":" + s(token_net)).c_str()));
  ASSERT_TRUE(is_ok(r, "join_network_ok"));
  EXPECT_EQ(str(r.get(), "address"), rdv::format_address(token_net, b.id));
  r = call(c, json_pack("{s:s, s:I, s:I, s:s, s:s}", "type", "join_network", "node_id", json_int_t(e.id), "network_id",
                        json_int_t(token_net), "token", "wrong", "signature",
                        e.sign("join_network:" + s(e.id) + ":" + s(token_net)).c_str()));
  EXPECT_TRUE(is_error(r, "invalid token for network " + s(token_net)));
  // Members of a shared network trust each other for check_trust.
  r = call(c, json_pack("{s:s, s:I, s:I}", "type", "check_trust", "node_id", json_int_t(a.id), "peer_id", json_int_t(b.id)));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "trusted")));

  // ---- an invite-only enterprise network: A owns it, invites D, D accepts ----
  extra.reset(json_pack("{s:s, s:b}", "join_rule", "invite", "enterprise", 1));
  uint16_t invite_net = create_network(c, server, a, "walk-invite", extra.get());
  ASSERT_NE(invite_net, 0);
  r = call(c, json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "invite_to_network", "network_id", json_int_t(invite_net),
                        "inviter_id", json_int_t(a.id), "target_node_id", json_int_t(d.id), "signature",
                        a.sign("invite:" + s(a.id) + ":" + s(invite_net) + ":" + s(d.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "invite_to_network_ok"));
  r = call(c, json_pack("{s:s, s:I, s:s}", "type", "poll_invites", "node_id", json_int_t(d.id), "signature",
                        d.sign("poll_invites:" + s(d.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "poll_invites_ok"));
  json_t* invites = json_object_get(r.get(), "invites");
  ASSERT_EQ(json_array_size(invites), 1u) << dump(r.get());
  EXPECT_EQ(num(json_array_get(invites, 0), "network_id"), invite_net);
  EXPECT_EQ(num(json_array_get(invites, 0), "inviter_id"), a.id);
  r = call(c, json_pack("{s:s, s:I, s:I, s:b, s:s}", "type", "respond_invite", "node_id", json_int_t(d.id), "network_id",
                        json_int_t(invite_net), "accept", 1, "signature",
                        d.sign("respond_invite:" + s(d.id) + ":" + s(invite_net)).c_str()));
  ASSERT_TRUE(is_ok(r, "respond_invite_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "accepted")));
  // Roles: A is the owner, D a member; A promotes D.
  r = call(c, json_pack("{s:s, s:I, s:I}", "type", "get_member_role", "network_id", json_int_t(invite_net),
                        "target_node_id", json_int_t(d.id)));
  ASSERT_TRUE(is_ok(r, "get_member_role_ok"));
  EXPECT_EQ(str(r.get(), "role"), "member");
  r = call(c, json_pack("{s:s, s:I, s:I, s:I}", "type", "promote_member", "network_id", json_int_t(invite_net), "node_id",
                        json_int_t(a.id), "target_node_id", json_int_t(d.id)));
  ASSERT_TRUE(is_ok(r, "promote_member_ok"));
  EXPECT_EQ(str(r.get(), "role"), "admin");

  // ---- a policy on the enterprise network ----
  r = call(c, json_pack("{s:s, s:I, s:I, s:I, s:[i,i], s:s}", "type", "set_network_policy", "network_id",
                        json_int_t(invite_net), "node_id", json_int_t(a.id), "max_members", json_int_t(10),
                        "allowed_ports", 443, 8443, "description", "walk"));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  r = call(c, json_pack("{s:s, s:I}", "type", "get_network_policy", "network_id", json_int_t(invite_net)));
  ASSERT_TRUE(is_ok(r, "get_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "max_members"), 10);
  EXPECT_EQ(json_array_size(json_object_get(r.get(), "allowed_ports")), 2u);
  EXPECT_EQ(str(r.get(), "description"), "walk");

  // ---- trust through the handshake flow: E asks A, A accepts ----
  r = call(c, json_pack("{s:s, s:I}", "type", "check_trust", "node_id", json_int_t(a.id), "peer_id", json_int_t(e.id)));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_FALSE(json_is_true(json_object_get(r.get(), "trusted")));
  r = call(c, json_pack("{s:s, s:I, s:I, s:s, s:s}", "type", "request_handshake", "from_node_id", json_int_t(e.id),
                        "to_node_id", json_int_t(a.id), "justification", "walk: please", "signature",
                        e.sign("handshake:" + s(e.id) + ":" + s(a.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "request_handshake_ok"));
  EXPECT_EQ(str(r.get(), "status"), "delivered");
  r = call(c, json_pack("{s:s, s:I, s:s}", "type", "poll_handshakes", "node_id", json_int_t(a.id), "signature",
                        a.sign("poll_handshakes:" + s(a.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "poll_handshakes_ok"));
  json_t* requests = json_object_get(r.get(), "requests");
  ASSERT_EQ(json_array_size(requests), 1u) << dump(r.get());
  EXPECT_EQ(num(json_array_get(requests, 0), "from_node_id"), e.id);
  EXPECT_EQ(str(json_array_get(requests, 0), "justification"), "walk: please");
  r = call(c, json_pack("{s:s, s:I, s:I, s:b, s:s}", "type", "respond_handshake", "node_id", json_int_t(a.id), "peer_id",
                        json_int_t(e.id), "accept", 1, "signature", a.sign("respond:" + s(a.id) + ":" + s(e.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "respond_handshake_ok"));
  r = call(c, json_pack("{s:s, s:I, s:I}", "type", "check_trust", "node_id", json_int_t(e.id), "peer_id", json_int_t(a.id)));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "trusted")));
  r = call(c, json_pack("{s:s, s:I, s:s}", "type", "poll_handshakes", "node_id", json_int_t(e.id), "signature",
                        e.sign("poll_handshakes:" + s(e.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "poll_handshakes_ok"));
  json_t* responses = json_object_get(r.get(), "responses");
  ASSERT_EQ(json_array_size(responses), 1u) << dump(r.get());
  EXPECT_EQ(num(json_array_get(responses, 0), "from_node_id"), a.id);
  EXPECT_TRUE(json_is_true(json_object_get(json_array_get(responses, 0), "accept")));
  // Trust lets E resolve A, which is private.
  r = call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "resolve", "node_id", json_int_t(a.id), "requester_id",
                        json_int_t(e.id), "signature", e.sign("resolve:" + s(e.id) + ":" + s(a.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "resolve_ok"));

  // ---- B rotates its key: the new key signs, the old one no longer does ----
  Key b_new = Key::generate();
  r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(b.id), "new_public_key",
                        b_new.pub_b64().c_str(), "signature", b.sign("rotate:" + s(b.id) + ":" + b_new.pub_b64()).c_str()));
  ASSERT_TRUE(is_ok(r, "rotate_key_ok"));
  EXPECT_EQ(str(r.get(), "public_key"), b_new.pub_b64());
  r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_hostname", "node_id", json_int_t(b.id), "hostname", "walk-b",
                        "signature", b.key.sign_b64("set_hostname:" + s(b.id)).c_str()));
  EXPECT_TRUE(is_error(r, "signature verification failed"));
  r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_hostname", "node_id", json_int_t(b.id), "hostname", "walk-b",
                        "signature", b_new.sign_b64("set_hostname:" + s(b.id)).c_str()));
  ASSERT_TRUE(is_ok(r, "set_hostname_ok"));
  r = call(c, json_pack("{s:s, s:I}", "type", "get_key_info", "node_id", json_int_t(b.id)));
  ASSERT_TRUE(is_ok(r, "get_key_info_ok"));
  EXPECT_EQ(num(r.get(), "rotate_count"), 1);

  // ---- D enrols for recovery and later recovers its identity with a cold-key statement ----
  const std::string commitment = "c0ffee";
  int64_t now = rdv::unix_now();
  std::string enrollment = "pilotenroll:v1:" + s(d.id) + ":github:" + commitment + ":" + std::to_string(now) + ":issuer-1";
  r = call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "enroll_recovery", "node_id", json_int_t(d.id), "enrollment",
                        enrollment.c_str(), "enrollment_sig", issuer.sign_b64(enrollment).c_str(), "signature",
                        d.sign("enroll_recovery:" + s(d.id) + ":" + commitment).c_str()));
  ASSERT_TRUE(is_ok(r, "enroll_recovery_ok"));
  Key d_new = Key::generate();
  std::string recovery = "pilotrecover:v1:" + s(d.id) + ":" + d_new.pub_b64() + ":" + commitment + ":" +
                         std::to_string(now + 600) + ":walk-nonce-1:cold-1";
  rdv::JsonPtr recover_req(json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "recover_identity", "node_id", json_int_t(d.id),
                                     "recovery", recovery.c_str(), "recovery_sig", cold.sign_b64(recovery).c_str(),
                                     "new_public_key", d_new.pub_b64().c_str()));
  r = c.request(recover_req.get());
  ASSERT_TRUE(is_ok(r, "recover_identity_ok"));
  EXPECT_EQ(str(r.get(), "public_key"), d_new.pub_b64());
  r = c.request(recover_req.get());  // the nonce is single-use
  EXPECT_TRUE(is_error(r, "recovery authorization already used"));
  r = do_lookup(c, d.id);
  ASSERT_TRUE(is_ok(r, "lookup_ok"));
  EXPECT_EQ(str(r.get(), "public_key"), d_new.pub_b64());
  // D keeps its memberships and role under the new key.
  r = call(c, json_pack("{s:s, s:I, s:I}", "type", "get_member_role", "network_id", json_int_t(invite_net),
                        "target_node_id", json_int_t(d.id)));
  ASSERT_TRUE(is_ok(r, "get_member_role_ok"));
  EXPECT_EQ(str(r.get(), "role"), "admin");

  // ---- the audit trail, and all of it after a SIGKILL of the registry worker ----
  auto audit_actions = [&](Conn& conn) {
    std::multiset<std::string> actions;
    rdv::JsonPtr log = call(conn, json_pack("{s:s, s:s, s:I}", "type", "get_audit_log", "admin_token", admin, "limit",
                                            json_int_t(1000)));
    EXPECT_TRUE(is_ok(log, "get_audit_log_ok"));
    if (!log) return actions;
    size_t i;
    json_t* entry;
    json_array_foreach(json_object_get(log.get(), "entries"), i, entry) actions.insert(str(entry, "action"));
    return actions;
  };
  std::multiset<std::string> before = audit_actions(c);
  for (const char* action : {"node.registered", "network.created", "network.joined", "invite.sent", "invite.accepted",
                             "member.promoted", "network.policy_changed", "handshake.requested", "trust.created",
                             "key.rotated", "identity.recovery_enrolled", "node.recovered"})
    EXPECT_TRUE(before.count(action)) << "no audit entry " << action;

  pid_t reg = server.worker("rendezvous-registry");
  ASSERT_GT(reg, 0);
  ASSERT_EQ(kill(reg, SIGKILL), 0);
  ASSERT_GT(server.wait_worker("rendezvous-registry", reg, 10000), 0);
  std::string err;
  ASSERT_TRUE(server.wait_ready(10000, &err)) << err;
  Conn c2 = server.connect();
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(audit_actions(c2), before);
  r = call(c2, json_pack("{s:s, s:I, s:I}", "type", "check_trust", "node_id", json_int_t(a.id), "peer_id", json_int_t(e.id)));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "trusted")));
  r = call(c2, json_pack("{s:s, s:I, s:I}", "type", "get_member_role", "network_id", json_int_t(invite_net),
                         "target_node_id", json_int_t(d.id)));
  ASSERT_TRUE(is_ok(r, "get_member_role_ok"));
  EXPECT_EQ(str(r.get(), "role"), "admin");
  r = call(c2, json_pack("{s:s, s:I}", "type", "get_network_policy", "network_id", json_int_t(invite_net)));
  ASSERT_TRUE(is_ok(r, "get_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "max_members"), 10);
  r = c2.request(recover_req.get());
  EXPECT_TRUE(is_error(r, "recovery authorization already used"));
  r = call(c2, json_pack("{s:s, s:s}", "type", "list_networks", "admin_token", admin));
  ASSERT_TRUE(is_ok(r, "list_networks_ok"));
  std::set<std::string> names;
  size_t i;
  json_t* net;
  json_array_foreach(json_object_get(r.get(), "networks"), i, net) names.insert(str(net, "name"));
  EXPECT_EQ(names, (std::set<std::string>{"backbone", "walk-token", "walk-invite"}));
}

}  // namespace
}  // namespace rt
