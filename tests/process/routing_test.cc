// NAT punch and beacons over the wire (wire-protocol §6.7, §10.8 items 108–112): beacon
// registration (ADMIN) and listing, the per-id re-registration cooldown, punch's participant,
// signature and existence checks and its raw endpoints, the trust pair strict mode demands,
// bad input for each message, and that beacons survive a restart and a SIGKILL of the
// registry worker. The 60 s listing window and the removal of stale beacons are exercised
// with chosen clocks in tests/unit/beacon_test.cc (here they would take a minute each).
#include <signal.h>

#include <string>

#include "protocol.h"

namespace rt {
namespace {

// `json` as dump() prints it (keys sorted), for comparing whole replies.
std::string canon(const std::string& json) { return dump(parse_json(json).get()); }

using Routing = ServerTest;

rdv::JsonPtr beacon_register(Conn& c, const Server& s, uint32_t id, const std::string& addr) {
  return call(c, json_pack("{s:s, s:s, s:I, s:s}", "type", "beacon_register", "admin_token", s.admin_token.c_str(),
                           "beacon_id", json_int_t(id), "addr", addr.c_str()));
}
rdv::JsonPtr beacon_list(Conn& c) { return c.request(R"({"type":"beacon_list"})"); }

rdv::JsonPtr punch(Conn& c, const Daemon& requester, uint32_t a, uint32_t b, const Daemon* signer = nullptr) {
  std::string challenge = "punch:" + std::to_string(a) + ":" + std::to_string(b);
  return call(c, json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "punch", "requester_id", json_int_t(requester.id),
                           "node_a", json_int_t(a), "node_b", json_int_t(b), "signature",
                           (signer ? signer : &requester)->sign(challenge).c_str()));
}

// A daemon registered with its own public listen address.
Daemon register_at(Conn& c, const std::string& listen, const json_t* extra = nullptr) {
  Daemon d{Key::generate(), 0};
  rdv::JsonPtr r = do_register(c, d.key, listen, extra);
  EXPECT_TRUE(is_ok(r, "register_ok"));
  if (r) d.id = uint32_t(num(r.get(), "node_id", 0));
  return d;
}

// ---- beacons (items 108, 110) ----

TEST_F(Routing, BeaconListEmptyThenTwoRegistered) {
  Conn c = server.connect();
  rdv::JsonPtr r = beacon_list(c);
  ASSERT_TRUE(is_ok(r, "beacon_list_ok"));
  EXPECT_EQ(dump(r.get()), canon(R"({"type":"beacon_list_ok","beacons":[]})"));
  r = beacon_register(c, server, 1, "198.51.100.1:9001");
  ASSERT_TRUE(is_ok(r, "beacon_register_ok"));
  EXPECT_EQ(dump(r.get()), canon(R"({"type":"beacon_register_ok","beacon_id":1})"));
  ASSERT_TRUE(is_ok(beacon_register(c, server, 2, "[2001:db8::2]:9001"), "beacon_register_ok"));
  r = beacon_list(c);
  ASSERT_TRUE(is_ok(r, "beacon_list_ok"));
  EXPECT_EQ(dump(r.get()),
            canon(R"({"type":"beacon_list_ok","beacons":[{"id":1,"addr":"198.51.100.1:9001"},{"id":2,"addr":"[2001:db8::2]:9001"}]})"));
}

TEST_F(Routing, BeaconRegisterBadInput) {
  Conn c = server.connect();
  auto send = [&](json_t* fields) {
    rdv::JsonPtr req(json_pack("{s:s, s:s}", "type", "beacon_register", "admin_token", server.admin_token.c_str()));
    json_object_update(req.get(), fields);
    json_decref(fields);
    return c.request(req.get());
  };
  EXPECT_TRUE(is_error(send(json_pack("{s:s}", "addr", "198.51.100.1:9001")), "beacon_id required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:s}", "beacon_id", 0, "addr", "198.51.100.1:9001")), "beacon_id required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:s, s:s}", "beacon_id", "7", "addr", "198.51.100.1:9001")), "beacon_id required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:s}", "beacon_id", -7, "addr", "198.51.100.1:9001")), "beacon_id required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i}", "beacon_id", 7)), "addr required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:s}", "beacon_id", 7, "addr", "")), "addr required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:i}", "beacon_id", 7, "addr", 9001)), "addr required"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:s}", "beacon_id", 7, "addr", "198.51.100.1")),
                       "beacon addr invalid: address 198.51.100.1: missing port in address"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:s}", "beacon_id", 7, "addr", "2001:db8::1:9001")),
                       "beacon addr invalid: address 2001:db8::1:9001: too many colons in address"));
  std::string longest = std::string(251, 'h') + ":9001";
  ASSERT_EQ(longest.size(), 256u);
  EXPECT_TRUE(is_ok(send(json_pack("{s:i, s:s}", "beacon_id", 8, "addr", longest.c_str())), "beacon_register_ok"));
  EXPECT_TRUE(is_error(send(json_pack("{s:i, s:s}", "beacon_id", 9, "addr", ("h" + longest).c_str())),
                       "beacon addr too long (max 256 bytes)"));
  // ADMIN: a wrong or missing token.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:s}", "type", "beacon_register", "beacon_id", 7, "addr",
                                         "198.51.100.1:9001")),
                       "invalid admin token"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s, s:i, s:s}", "type", "beacon_register", "admin_token", "wrong",
                                         "beacon_id", 7, "addr", "198.51.100.1:9001")),
                       "invalid admin token"));
  rdv::JsonPtr r = beacon_list(c);
  ASSERT_TRUE(is_ok(r, "beacon_list_ok"));
  EXPECT_EQ(json_array_size(json_object_get(r.get(), "beacons")), 1u) << "only the valid registration: " << dump(r.get());
}

// The default cooldown is 10 s: an immediate re-registration of the same id is refused with a
// text that passes the sanitiser; another id is unaffected; a refused one changes nothing.
TEST_F(Routing, ReRegistrationInsideTheDefaultCooldownIsRefused) {
  Conn c = server.connect();
  ASSERT_TRUE(is_ok(beacon_register(c, server, 1, "198.51.100.1:9001"), "beacon_register_ok"));
  EXPECT_TRUE(is_error(beacon_register(c, server, 1, "198.51.100.99:9001"),
                       "beacon 1 already registered within the cooldown (10s)"));
  EXPECT_TRUE(is_ok(beacon_register(c, server, 2, "198.51.100.2:9001"), "beacon_register_ok"));
  rdv::JsonPtr r = beacon_list(c);
  EXPECT_EQ(dump(r.get()),
            canon(R"({"type":"beacon_list_ok","beacons":[{"id":1,"addr":"198.51.100.1:9001"},{"id":2,"addr":"198.51.100.2:9001"}]})"));
}

class ShortCooldown : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-beacon-register-cooldown", "300ms"};
    ServerTest::SetUp();
  }
};

// Item 110 with a short cooldown: refused inside it, accepted again once it has passed (polled
// with a deadline, never a fixed sleep), other ids unaffected throughout.
TEST_F(ShortCooldown, SameIdAcceptedAgainAfterTheCooldown) {
  Conn c = server.connect();
  ASSERT_TRUE(is_ok(beacon_register(c, server, 5, "198.51.100.5:9001"), "beacon_register_ok"));
  int64_t registered = mono_ms();
  rdv::JsonPtr r = beacon_register(c, server, 5, "198.51.100.55:9001");
  // Unless this machine took the whole cooldown to answer, the second one is refused.
  if (mono_ms() - registered < 250) {
    EXPECT_TRUE(is_error_containing(r, "already registered within the cooldown (300ms)"));
  }
  EXPECT_TRUE(is_ok(beacon_register(c, server, 6, "198.51.100.6:9001"), "beacon_register_ok"));
  bool accepted = false;
  int64_t deadline = mono_ms() + 10000;
  while (!accepted && mono_ms() < deadline) {
    r = beacon_register(c, server, 5, "198.51.100.55:9001");
    ASSERT_NE(r, nullptr);
    accepted = str(r.get(), "type") == "beacon_register_ok";
    if (!accepted) {
      EXPECT_TRUE(is_error_containing(r, "already registered"));
      sleep_ms(50);
    }
  }
  ASSERT_TRUE(accepted) << "beacon 5 still refused 10 s after a 300 ms cooldown";
  r = beacon_list(c);
  EXPECT_EQ(dump(r.get()),
            canon(R"({"type":"beacon_list_ok","beacons":[{"id":5,"addr":"198.51.100.55:9001"},{"id":6,"addr":"198.51.100.6:9001"}]})"));
}

class NoCooldown : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-beacon-register-cooldown", "0s"};
    ServerTest::SetUp();
  }
};

TEST_F(NoCooldown, ZeroTurnsTheCooldownOff) {
  Conn c = server.connect();
  for (int i = 0; i < 5; i++)
    ASSERT_TRUE(is_ok(beacon_register(c, server, 3, "198.51.100.3:" + std::to_string(9000 + i)), "beacon_register_ok"));
  EXPECT_EQ(dump(beacon_list(c).get()), canon(R"({"type":"beacon_list_ok","beacons":[{"id":3,"addr":"198.51.100.3:9004"}]})"));
}

TEST_F(Routing, BeaconsSurviveRestartAndKill) {
  Conn c = server.connect();
  ASSERT_TRUE(is_ok(beacon_register(c, server, 11, "198.51.100.11:9001"), "beacon_register_ok"));
  restart(server);
  c = server.connect();
  EXPECT_EQ(dump(beacon_list(c).get()), canon(R"({"type":"beacon_list_ok","beacons":[{"id":11,"addr":"198.51.100.11:9001"}]})"));
  ASSERT_TRUE(is_ok(beacon_register(c, server, 12, "198.51.100.12:9001"), "beacon_register_ok"));
  int64_t registered = mono_ms();
  c = kill_registry(server);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(dump(beacon_list(c).get()),
            canon(R"({"type":"beacon_list_ok","beacons":[{"id":11,"addr":"198.51.100.11:9001"},{"id":12,"addr":"198.51.100.12:9001"}]})"));
  // The cooldown (10 s) is measured from the stored time, so it holds across the restart too
  // (checked only when the restart took less than that).
  rdv::JsonPtr r = beacon_register(c, server, 12, "198.51.100.12:9001");
  if (mono_ms() - registered < 9000) {
    EXPECT_TRUE(is_error_containing(r, "already registered"));
  }
}

// ---- punch (items 111, 112) ----

TEST_F(Routing, PunchByAParticipantReturnsBothEndpoints) {
  Conn c = server.connect();
  Daemon a = register_at(c, "203.0.113.10:4001"), b = register_at(c, "203.0.113.20:4002");
  for (const Daemon* req : {&a, &b}) {
    rdv::JsonPtr r = punch(c, *req, a.id, b.id);
    ASSERT_TRUE(is_ok(r, "punch_ok"));
    EXPECT_EQ(num(r.get(), "node_a"), a.id);
    EXPECT_EQ(str(r.get(), "node_a_addr"), "203.0.113.10:4001");
    EXPECT_EQ(num(r.get(), "node_b"), b.id);
    EXPECT_EQ(str(r.get(), "node_b_addr"), "203.0.113.20:4002");
  }
}

// Private and relay-only nodes' raw endpoints are exposed all the same (the Go quirk, §11).
TEST_F(Routing, PunchExposesRawEndpointsOfPrivateAndRelayOnlyNodes) {
  Conn c = server.connect();
  rdv::JsonPtr relay(json_pack("{s:b}", "relay_only", 1));
  Daemon a = register_at(c, "203.0.113.30:4003"), b = register_at(c, "203.0.113.40:4004", relay.get());
  rdv::JsonPtr r = punch(c, a, a.id, b.id);
  ASSERT_TRUE(is_ok(r, "punch_ok"));
  EXPECT_EQ(str(r.get(), "node_b_addr"), "203.0.113.40:4004");
}

TEST_F(Routing, PunchErrorsInOrder) {
  Conn c = server.connect();
  Daemon a = register_at(c, "203.0.113.10:4001"), b = register_at(c, "203.0.113.20:4002"),
         outsider = register_at(c, "203.0.113.50:4005");
  // "punch denied: requester must be participant": no sanitiser keyword.
  EXPECT_TRUE(is_error(punch(c, outsider, a.id, b.id), "request failed"));
  Daemon ghost{Key::generate(), 9999};
  EXPECT_TRUE(is_error(punch(c, ghost, 9999, b.id), "node 9999 not found"));
  EXPECT_TRUE(is_error(punch(c, a, a.id, 9998), "node 9998 not found"));
  EXPECT_TRUE(is_error(punch(c, a, 9997, a.id), "node 9997 not found"));
  // The signature is checked before the other node's existence.
  EXPECT_TRUE(is_error(punch(c, a, a.id, 9998, &b), "signature verification failed"));
  EXPECT_TRUE(is_error(punch(c, a, a.id, b.id, &b), "signature verification failed"));
  // The challenge binds the pair's order: a signature over punch:b:a does not do for a:b.
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "punch", "requester_id", json_int_t(a.id),
                                     "node_a", json_int_t(a.id), "node_b", json_int_t(b.id), "signature",
                                     a.sign("punch:" + std::to_string(b.id) + ":" + std::to_string(a.id)).c_str()));
  EXPECT_TRUE(is_error(r, "signature verification failed"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:I}", "type", "punch", "requester_id", json_int_t(a.id),
                                         "node_a", json_int_t(a.id), "node_b", json_int_t(b.id))),
                       "signature required for authenticated node"));
  EXPECT_TRUE(is_error_containing(call(c, json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "punch", "requester_id",
                                                    json_int_t(a.id), "node_a", json_int_t(a.id), "node_b",
                                                    json_int_t(b.id), "signature", "***")),
                                  "invalid signature encoding: "));
  // SIG, not SIG|ADMIN: the admin token does not stand in.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "punch", "requester_id",
                                         json_int_t(a.id), "node_a", json_int_t(a.id), "node_b", json_int_t(b.id),
                                         "admin_token", server.admin_token.c_str())),
                       "signature required for authenticated node"));
  // Ill-typed ids read as 0: requester 0 is a "participant" of a 0 pair, and not found.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s, s:s, s:s}", "type", "punch", "requester_id", "1", "node_a", "1",
                                         "node_b", "2")),
                       "node 0 not found"));
}

// Strict mode off (the default): punch needs no trust pair (covered above); on, it does.
class StrictRouting : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-strict-directory-auth"};
    ServerTest::SetUp();
  }
};

TEST_F(StrictRouting, PunchNeedsATrustPair) {
  Conn c = server.connect();
  Daemon a = register_at(c, "203.0.113.10:4001"), b = register_at(c, "203.0.113.20:4002");
  std::string denied = "punch denied: nodes " + std::to_string(a.id) + " and " + std::to_string(b.id) +
                       " require a trust pair";
  EXPECT_TRUE(is_error(punch(c, a, a.id, b.id), denied));
  EXPECT_TRUE(is_error(punch(c, b, a.id, b.id), denied));
  // The other checks still come first.
  EXPECT_TRUE(is_error(punch(c, a, a.id, b.id, &b), "signature verification failed"));
  std::string challenge = "report_trust:" + std::to_string(b.id) + ":" + std::to_string(a.id);
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "report_trust", "node_id", json_int_t(b.id),
                                      "peer_id", json_int_t(a.id), "signature", b.sign(challenge).c_str())),
                    "report_trust_ok"));
  rdv::JsonPtr r = punch(c, a, a.id, b.id);
  ASSERT_TRUE(is_ok(r, "punch_ok"));
  EXPECT_EQ(str(r.get(), "node_b_addr"), "203.0.113.20:4002");
}

}  // namespace
}  // namespace rt
