// Invites over the wire (wire-protocol §6.4.6, §10.5 items 87–90): invite_to_network,
// poll_invites, respond_invite, the 30-day expiry, the inbox limit, the invites that leave,
// kick and delete withdraw, and what survives a restart and a registry SIGKILL.
#include <signal.h>

#include "network_helpers.h"

namespace rt {
namespace {

using Invites = ServerTest;

// (network_id, inviter_id) of every invite in a poll_invites_ok.
std::vector<std::pair<int64_t, int64_t>> polled(const rdv::JsonPtr& r) {
  std::vector<std::pair<int64_t, int64_t>> out;
  EXPECT_TRUE(is_ok(r, "poll_invites_ok"));
  if (!r) return out;
  EXPECT_TRUE(json_is_array(json_object_get(r.get(), "invites"))) << dump(r.get());  // [] when empty
  size_t i;
  json_t* e;
  json_array_foreach(json_object_get(r.get(), "invites"), i, e) out.emplace_back(num(e, "network_id"), num(e, "inviter_id"));
  return out;
}

using Pairs = std::vector<std::pair<int64_t, int64_t>>;

std::string role_of(Conn& c, uint16_t net, uint32_t target) {
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:i,s:I}", "type", "get_member_role", "network_id", int(net),
                                     "target_node_id", json_int_t(target)));
  return is_ok(r, "get_member_role_ok") ? str(r.get(), "role") : "error: " + str(r.get(), "error");
}

// §10.5 item 88: the happy path and the duplicate.
TEST_F(Invites, InviteIsDeliveredOnceAndPolledWithoutRemoval) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), target = register_daemon(c);
  uint16_t net = create_enterprise(c, server, owner, "inv", "invite");
  rdv::JsonPtr r = invite(c, owner, net, target.id);
  ASSERT_TRUE(is_ok(r, "invite_to_network_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "target_node_id"), target.id);
  EXPECT_FALSE(has(r.get(), "status"));
  r = invite(c, owner, net, target.id);
  ASSERT_TRUE(is_ok(r, "invite_to_network_ok"));
  EXPECT_EQ(str(r.get(), "status"), "already_invited");
  rdv::JsonPtr p = poll_invites(c, target);
  EXPECT_EQ(polled(p), (Pairs{{net, owner.id}}));
  const json_t* first = json_array_get(json_object_get(p.get(), "invites"), 0);
  EXPECT_TRUE(json_is_integer(json_object_get(first, "timestamp"))) << dump(p.get());
  EXPECT_GT(num(first, "timestamp"), 1600000000);
  // Polling does not consume.
  EXPECT_EQ(polled(poll_invites(c, target)), (Pairs{{net, owner.id}}));
  EXPECT_EQ(polled(poll_invites(c, owner)), Pairs{});
}

// §10.5 item 88: refusals in the spec's order.
TEST_F(Invites, InviteRefusals) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), target = register_daemon(c), member = register_daemon(c),
         outsider = register_daemon(c);
  uint16_t net = create_enterprise(c, server, owner, "inv", "invite");
  uint16_t open_ent = create_enterprise(c, server, owner, "open-ent");
  uint16_t plain = create_network(c, server, owner, "plain");
  // The self-invite check comes first, even for a network that does not exist.
  EXPECT_TRUE(is_error(invite(c, owner, 77, owner.id), "cannot invite yourself"));
  Daemon ghost{Key::generate(), 99};
  EXPECT_TRUE(is_error(invite(c, ghost, net, target.id), "inviter node 99: node not found"));
  rdv::JsonPtr forged(json_pack("{s:s}", "signature", target.sign("invite:1:1:2").c_str()));
  EXPECT_TRUE(is_error(invite(c, owner, net, target.id, forged.get()), "signature verification failed"));
  rdv::JsonPtr unsigned_req(json_pack("{s:s}", "signature", ""));
  EXPECT_TRUE(is_error(invite(c, owner, net, target.id, unsigned_req.get()), "signature required for authenticated node"));
  EXPECT_TRUE(is_error(invite(c, owner, 77, target.id), "network 77: network not found"));
  EXPECT_TRUE(is_error(invite(c, owner, plain, target.id), "enterprise feature: requires enterprise network"));
  EXPECT_TRUE(is_error(invite(c, owner, open_ent, target.id), "request failed"));  // not invite-only (rule: open)
  EXPECT_TRUE(is_error(invite(c, outsider, net, target.id), "inviter 4 is not a member of network 1"));
  // A plain member may not invite.
  ASSERT_TRUE(is_ok(invite(c, owner, net, member.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(respond_invite(c, member, net, true), "respond_invite_ok"));
  EXPECT_TRUE(is_error(invite(c, member, net, target.id), "rbac: inviter 3 has role \"member\", requires owner or admin"));
  EXPECT_TRUE(is_error(invite(c, owner, net, 99), "target node 99: node not found"));
  EXPECT_TRUE(is_error(invite(c, owner, net, member.id), "node 3 is already a member of network 1"));
  EXPECT_EQ(polled(poll_invites(c, target)), Pairs{});  // nothing was stored
}

// The global admin token, and the network's own, stand in for the inviter's role (not for
// the inviter's existence); the Go client signs even then.
TEST_F(Invites, AdminTokensWidenWhoMayInvite) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), outsider = register_daemon(c), t1 = register_daemon(c), t2 = register_daemon(c);
  rdv::JsonPtr extra(json_pack("{s:b,s:s,s:s}", "enterprise", 1, "join_rule", "invite", "network_admin_token", "net-secret"));
  uint16_t net = create_network(c, server, owner, "inv", extra.get());
  rdv::JsonPtr global(json_pack("{s:s}", "admin_token", server.admin_token.c_str()));
  EXPECT_TRUE(is_ok(invite(c, outsider, net, t1.id, global.get()), "invite_to_network_ok"));
  rdv::JsonPtr local(json_pack("{s:s}", "admin_token", "net-secret"));
  EXPECT_TRUE(is_ok(invite(c, outsider, net, t2.id, local.get()), "invite_to_network_ok"));
  rdv::JsonPtr wrong(json_pack("{s:s}", "admin_token", "wrong"));
  EXPECT_TRUE(is_error(invite(c, outsider, net, t2.id, wrong.get()), "inviter 2 is not a member of network 1"));
  // The global token also replaces a bad signature (SIG|ADMIN).
  rdv::JsonPtr no_sig(json_pack("{s:s,s:s}", "admin_token", server.admin_token.c_str(), "signature", ""));
  EXPECT_TRUE(is_ok(invite(c, outsider, net, t1.id, no_sig.get()), "invite_to_network_ok"));
  EXPECT_EQ(polled(poll_invites(c, t1)), (Pairs{{net, outsider.id}}));
}

// §10.5 item 89.
TEST_F(Invites, RespondAcceptAndReject) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), yes = register_daemon(c), no = register_daemon(c);
  uint16_t net = create_enterprise(c, server, owner, "inv", "invite");
  ASSERT_TRUE(is_ok(invite(c, owner, net, yes.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(invite(c, owner, net, no.id), "invite_to_network_ok"));
  rdv::JsonPtr r = respond_invite(c, yes, net, true);
  ASSERT_TRUE(is_ok(r, "respond_invite_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "accepted"))) << dump(r.get());
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(role_of(c, net, yes.id), "member");
  EXPECT_EQ(dump(json_object_get(do_lookup(c, yes.id).get(), "networks")), "[0,1]");
  EXPECT_EQ(polled(poll_invites(c, yes)), Pairs{});
  r = respond_invite(c, no, net, false);
  ASSERT_TRUE(is_ok(r, "respond_invite_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "accepted"))) << dump(r.get());
  EXPECT_EQ(role_of(c, net, no.id), "error: node 3 is not a member of network 1");
  EXPECT_EQ(polled(poll_invites(c, no)), Pairs{});
  // No pending invite any more: "no pending invite …" has no keyword.
  EXPECT_TRUE(is_error(respond_invite(c, no, net, true), "request failed"));
  Daemon ghost{Key::generate(), 99};
  EXPECT_TRUE(is_error(respond_invite(c, ghost, net, true), "node 99: node not found"));
  EXPECT_TRUE(is_error(respond_invite(c, yes, 9, true), "network 9: network not found"));  // ENTERPRISE first
  uint16_t plain = create_network(c, server, owner, "plain");
  EXPECT_TRUE(is_error(respond_invite(c, yes, plain, true), "enterprise feature: requires enterprise network"));
  EXPECT_TRUE(is_error(respond_invite(c, ghost, plain, true), "enterprise feature: requires enterprise network"));
}

// poll_invites and respond_invite are SIG: a keyed node's signature, no admin fallback.
TEST_F(Invites, PollAndRespondNeedTheNodesSignature) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), target = register_daemon(c);
  uint16_t net = create_enterprise(c, server, owner, "inv", "invite");
  ASSERT_TRUE(is_ok(invite(c, owner, net, target.id), "invite_to_network_ok"));
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:I,s:s}", "type", "poll_invites", "node_id", json_int_t(target.id),
                                     "admin_token", server.admin_token.c_str()));
  EXPECT_TRUE(is_error(r, "signature required for authenticated node"));
  r = call(c, json_pack("{s:s,s:I,s:s}", "type", "poll_invites", "node_id", json_int_t(target.id), "signature",
                        owner.sign("poll_invites:2").c_str()));
  EXPECT_TRUE(is_error(r, "signature verification failed"));
  r = call(c, json_pack("{s:s,s:I,s:s}", "type", "poll_invites", "node_id", json_int_t(99), "signature", "x"));
  EXPECT_TRUE(is_error(r, "node 99: node not found"));
  r = call(c, json_pack("{s:s,s:I,s:i,s:b,s:s}", "type", "respond_invite", "node_id", json_int_t(target.id),
                        "network_id", int(net), "accept", 1, "admin_token", server.admin_token.c_str()));
  EXPECT_TRUE(is_error(r, "signature required for authenticated node"));
  r = call(c, json_pack("{s:s,s:I,s:i,s:b,s:s}", "type", "respond_invite", "node_id", json_int_t(target.id),
                        "network_id", int(net), "accept", 1, "signature", target.sign("respond_invite:2:9").c_str()));
  EXPECT_TRUE(is_error(r, "signature verification failed"));
  // accept that is not a JSON true reads as false: a reject.
  r = call(c, json_pack("{s:s,s:I,s:i,s:s,s:s}", "type", "respond_invite", "node_id", json_int_t(target.id),
                        "network_id", int(net), "accept", "yes", "signature",
                        target.sign("respond_invite:2:1").c_str()));
  ASSERT_TRUE(is_ok(r, "respond_invite_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "accepted")));
  EXPECT_EQ(role_of(c, net, target.id), "error: node 2 is not a member of network 1");
}

// §10.5 item 90: invites older than 30 days are hidden and pruned on poll; responding to one
// before it is pruned says it expired. The old timestamps are written offline (the store
// edit also restarts the server, so invites survive a restart here too).
TEST_F(Invites, ExpiredInvitesArePrunedOnPoll) {
  Daemon owner, target;
  uint16_t n1 = 0, n2 = 0;
  {
    Conn c = server.connect();
    owner = register_daemon(c);
    target = register_daemon(c);
    n1 = create_enterprise(c, server, owner, "inv-a", "invite");
    n2 = create_enterprise(c, server, owner, "inv-b", "invite");
    ASSERT_TRUE(is_ok(invite(c, owner, n1, target.id), "invite_to_network_ok"));
    ASSERT_TRUE(is_ok(invite(c, owner, n2, target.id), "invite_to_network_ok"));
  }
  int64_t month_ago = rdv::unix_now() - 31LL * 24 * 3600;
  std::string err;
  ASSERT_TRUE(edit_stopped_store(
      server,
      [&](rdv::Txn& t, rdv::Mutation& m) {
        return edit_invite(t, m, target.id, n1, [&](rdv::Invite& i) { i.timestamp = month_ago; });
      },
      &err))
      << err;
  {
    Conn c = server.connect();
    EXPECT_TRUE(is_error(respond_invite(c, target, n1, true), "invite for node 2 to network 1 has expired"));
    EXPECT_EQ(polled(poll_invites(c, target)), (Pairs{{n2, owner.id}}));
    // Pruned: now there is no invite at all.
    EXPECT_TRUE(is_error(respond_invite(c, target, n1, true), "request failed"));
    // A fresh invite to the same network can be sent again.
    EXPECT_TRUE(is_ok(invite(c, owner, n1, target.id), "invite_to_network_ok"));
  }
  ASSERT_TRUE(edit_stopped_store(
      server,
      [&](rdv::Txn& t, rdv::Mutation& m) {
        return edit_invite(t, m, target.id, n1, [&](rdv::Invite& i) { i.timestamp = month_ago; }) &&
               edit_invite(t, m, target.id, n2, [&](rdv::Invite& i) { i.timestamp = month_ago; });
      },
      &err))
      << err;
  Conn c = server.connect();
  EXPECT_EQ(polled(poll_invites(c, target)), Pairs{});
  // The pruning was persisted: a restart does not bring them back.
  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c2 = server.connect();
  EXPECT_TRUE(is_error(respond_invite(c2, target, n2, true), "request failed"));
  EXPECT_EQ(polled(poll_invites(c2, target)), Pairs{});
}

// poll_invites is on the standby allowlist (§2.9) though a leader prunes on it: a standby lists
// without pruning (expired invites hidden), refuses respond_invite, and serves the network
// reads. The store is the leader's own, restarted as a standby of an unreachable leader.
TEST_F(Invites, StandbyPollsWithoutPruning) {
  Daemon owner, target;
  uint16_t n1 = 0, n2 = 0;
  {
    Conn c = server.connect();
    owner = register_daemon(c);
    target = register_daemon(c);
    n1 = create_enterprise(c, server, owner, "inv-a", "invite");
    n2 = create_enterprise(c, server, owner, "inv-b", "invite");
    ASSERT_TRUE(is_ok(invite(c, owner, n1, target.id), "invite_to_network_ok"));
    ASSERT_TRUE(is_ok(invite(c, owner, n2, target.id), "invite_to_network_ok"));
  }
  int64_t month_ago = rdv::unix_now() - 31LL * 24 * 3600;
  server.extra_args = {"-standby", "127.0.0.1:9"};
  std::string err;
  ASSERT_TRUE(edit_stopped_store(
      server,
      [&](rdv::Txn& t, rdv::Mutation& m) {
        return edit_invite(t, m, target.id, n1, [&](rdv::Invite& i) { i.timestamp = month_ago; });
      },
      &err))
      << err;
  {
    Conn c = server.connect();
    EXPECT_EQ(polled(poll_invites(c, target)), (Pairs{{n2, owner.id}}));
    EXPECT_TRUE(is_error(respond_invite(c, target, n2, true), "standby mode: write operations not accepted (use primary)"));
    EXPECT_TRUE(is_error(invite(c, owner, n1, 99), "standby mode: write operations not accepted (use primary)"));
    EXPECT_EQ(role_of(c, n1, owner.id), "owner");
    rdv::JsonPtr l = call(c, json_pack("{s:s}", "type", "list_networks"));
    EXPECT_EQ(ids_in(l.get(), "networks", "id"), (std::vector<int64_t>{0, n1, n2}));
    rdv::JsonPtr t = call(c, json_pack("{s:s,s:i,s:i}", "type", "get_member_tags", "network_id", int(n1),
                                       "target_node_id", 0));
    EXPECT_TRUE(is_ok(t, "get_member_tags_ok"));
  }
  // Back as the leader: the expired invite was not pruned by the standby's poll.
  server.extra_args.clear();
  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  EXPECT_TRUE(is_error(respond_invite(c, target, n1, true), "invite for node 2 to network 1 has expired"));
}

class InviteInbox : public ::testing::Test {
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

// §5.4: at most 100 invites per target.
TEST_F(InviteInbox, HoldsAtMostOneHundredInvites) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), target = register_daemon(c);
  std::vector<std::string> bodies;
  for (int i = 0; i < 101; i++)
    bodies.push_back(R"({"type":"create_network","admin_token":")" + server.admin_token + R"(","node_id":)" +
                     std::to_string(owner.id) + R"(,"enterprise":true,"join_rule":"invite","name":"inv-)" +
                     std::to_string(i) + "\"}");
  for (auto& r : pipelined(c, bodies)) ASSERT_TRUE(is_ok(r, "create_network_ok"));
  bodies.clear();
  for (int net = 1; net <= 101; net++)
    bodies.push_back(R"({"type":"invite_to_network","network_id":)" + std::to_string(net) + R"(,"inviter_id":)" +
                     std::to_string(owner.id) + R"(,"target_node_id":)" + std::to_string(target.id) +
                     R"(,"signature":")" +
                     owner.sign("invite:1:" + std::to_string(net) + ":" + std::to_string(target.id)) + "\"}");
  std::vector<rdv::JsonPtr> replies = pipelined(c, bodies);
  for (size_t i = 0; i < 100; i++) EXPECT_TRUE(is_ok(replies[i], "invite_to_network_ok")) << i;
  EXPECT_TRUE(is_error(replies[100], "request failed"));  // invite inbox full for node 2
  EXPECT_EQ(polled(poll_invites(c, target)).size(), 100u);
  // A repeat of a held invite is still answered as one.
  EXPECT_EQ(str(invite(c, owner, 1, target.id).get(), "status"), "already_invited");
  // Answering one makes room.
  ASSERT_TRUE(is_ok(respond_invite(c, target, 1, false), "respond_invite_ok"));
  EXPECT_TRUE(is_ok(invite(c, owner, 101, target.id), "invite_to_network_ok"));
}

// §6.4.3, §6.4.7: a member that leaves or is kicked takes its pending invitations for the
// network with it, and loses those addressed to it.
TEST_F(Invites, LeavingOrKickedMembersInvitesAreWithdrawn) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), adm = register_daemon(c), t1 = register_daemon(c), t2 = register_daemon(c);
  uint16_t net = create_enterprise(c, server, owner, "inv", "invite");
  uint16_t other = create_enterprise(c, server, owner, "other", "invite");
  ASSERT_TRUE(is_ok(invite(c, owner, net, adm.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(respond_invite(c, adm, net, true), "respond_invite_ok"));
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:I,s:I}", "type", "promote_member", "network_id", int(net), "node_id",
                                      json_int_t(owner.id), "target_node_id", json_int_t(adm.id))),
                    "promote_member_ok"));
  ASSERT_TRUE(is_ok(invite(c, adm, net, t1.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(invite(c, owner, other, t1.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(leave(c, adm, net), "leave_network_ok"));
  EXPECT_EQ(polled(poll_invites(c, t1)), (Pairs{{other, owner.id}}));

  // Kick: the invitation the kicked admin sent for the network goes; its own invite to another
  // network stays.
  ASSERT_TRUE(is_ok(invite(c, owner, net, adm.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(respond_invite(c, adm, net, true), "respond_invite_ok"));
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:I,s:I}", "type", "promote_member", "network_id", int(net), "node_id",
                                      json_int_t(owner.id), "target_node_id", json_int_t(adm.id))),
                    "promote_member_ok"));
  ASSERT_TRUE(is_ok(invite(c, adm, net, t2.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(invite(c, owner, other, adm.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:I,s:I}", "type", "kick_member", "network_id", int(net), "node_id",
                                      json_int_t(owner.id), "target_node_id", json_int_t(adm.id))),
                    "kick_member_ok"));
  EXPECT_EQ(polled(poll_invites(c, t2)), Pairs{});
  EXPECT_EQ(polled(poll_invites(c, adm)), (Pairs{{other, owner.id}}));  // other networks untouched
}

// §10.5 item 87: deleting a network removes its invites from every inbox, and only its own.
TEST_F(Invites, DeleteNetworkRemovesItsInvitesOnly) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), t1 = register_daemon(c), t2 = register_daemon(c);
  uint16_t doomed = create_enterprise(c, server, owner, "doomed", "invite");
  uint16_t kept = create_enterprise(c, server, owner, "kept", "invite");
  for (const Daemon* t : {&t1, &t2}) {
    ASSERT_TRUE(is_ok(invite(c, owner, doomed, t->id), "invite_to_network_ok"));
    ASSERT_TRUE(is_ok(invite(c, owner, kept, t->id), "invite_to_network_ok"));
  }
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s,s:i,s:I}", "type", "delete_network", "network_id", int(doomed), "node_id",
                                      json_int_t(owner.id))),
                    "delete_network_ok"));
  EXPECT_EQ(polled(poll_invites(c, t1)), (Pairs{{kept, owner.id}}));
  EXPECT_EQ(polled(poll_invites(c, t2)), (Pairs{{kept, owner.id}}));
  EXPECT_TRUE(is_error(respond_invite(c, t1, doomed, true), "network 1: network not found"));
  EXPECT_TRUE(is_ok(respond_invite(c, t1, kept, true), "respond_invite_ok"));
}

// Acknowledged invites survive a SIGKILL of the registry worker.
TEST_F(Invites, InvitesSurviveRegistryKill) {
  Daemon owner, target;
  uint16_t net = 0;
  {
    Conn c = server.connect();
    owner = register_daemon(c);
    target = register_daemon(c);
    net = create_enterprise(c, server, owner, "inv", "invite");
    ASSERT_TRUE(is_ok(invite(c, owner, net, target.id), "invite_to_network_ok"));
  }
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);
  ASSERT_EQ(kill(registry, SIGKILL), 0);
  ASSERT_GT(server.wait_worker("rendezvous-registry", registry, 20000), 0);
  rdv::JsonPtr p;
  int64_t deadline = mono_ms() + 20000;
  while (mono_ms() < deadline) {
    Conn c = server.connect();
    if (c.ok() && (p = poll_invites(c, target)) && str(p.get(), "type") == "poll_invites_ok") break;
    sleep_ms(20);
  }
  EXPECT_EQ(polled(p), (Pairs{{net, owner.id}}));
  Conn c = server.connect();
  EXPECT_EQ(str(invite(c, owner, net, target.id).get(), "status"), "already_invited");
  EXPECT_TRUE(is_ok(respond_invite(c, target, net, true), "respond_invite_ok"));
  EXPECT_EQ(role_of(c, net, target.id), "member");
}

}  // namespace
}  // namespace rt
