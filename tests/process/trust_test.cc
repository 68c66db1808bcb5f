// Trust pairs and handshakes over the wire (wire-protocol §6.5, §10.6 items 95–102): the
// unilateral report, revoke, check_trust (a pair or a shared network; strict mode needs a
// signed participant), the request → poll → respond round trip with its inbox rules, bad
// input for each message, and that pairs, inboxes and pending requests survive deregister, a
// restart and a SIGKILL of the registry worker.
#include <signal.h>

#include <string>
#include <vector>

#include "protocol.h"

namespace rt {
namespace {

// `json` as dump() prints it (keys sorted), for comparing whole replies.
std::string canon(const std::string& json) { return dump(parse_json(json).get()); }

using Trust = ServerTest;

// {"type":type,"node_id":a,"peer_id":b,"signature":sign("<verb>:<a>:<b>")}
rdv::JsonPtr pair_op(Conn& c, const Daemon& a, uint32_t b, const char* type) {
  std::string challenge = std::string(type) + ":" + std::to_string(a.id) + ":" + std::to_string(b);
  return call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", type, "node_id", json_int_t(a.id), "peer_id",
                           json_int_t(b), "signature", a.sign(challenge).c_str()));
}
rdv::JsonPtr report(Conn& c, const Daemon& a, uint32_t b) { return pair_op(c, a, b, "report_trust"); }
rdv::JsonPtr revoke(Conn& c, const Daemon& a, uint32_t b) { return pair_op(c, a, b, "revoke_trust"); }

// The unsigned check the official client sends (client-expectations §2.3).
rdv::JsonPtr check(Conn& c, uint32_t a, uint32_t b) {
  return call(c, json_pack("{s:s, s:I, s:I}", "type", "check_trust", "node_id", json_int_t(a), "peer_id", json_int_t(b)));
}
// Trusted per check_trust; fails the test on an error reply.
bool trusted(Conn& c, uint32_t a, uint32_t b) {
  rdv::JsonPtr r = check(c, a, b);
  EXPECT_TRUE(is_ok(r, "check_trust_ok"));
  const json_t* t = r ? json_object_get(r.get(), "trusted") : nullptr;
  EXPECT_TRUE(json_is_boolean(t)) << (r ? dump(r.get()) : "no reply");
  return json_is_true(t);
}

rdv::JsonPtr request_handshake(Conn& c, const Daemon& from, uint32_t to, const std::string& justification) {
  std::string challenge = "handshake:" + std::to_string(from.id) + ":" + std::to_string(to);
  return call(c, json_pack("{s:s, s:I, s:I, s:s%, s:s}", "type", "request_handshake", "from_node_id",
                           json_int_t(from.id), "to_node_id", json_int_t(to), "justification", justification.data(),
                           justification.size(), "signature", from.sign(challenge).c_str()));
}
rdv::JsonPtr poll(Conn& c, const Daemon& d) {
  return call(c, json_pack("{s:s, s:I, s:s}", "type", "poll_handshakes", "node_id", json_int_t(d.id), "signature",
                           d.sign("poll_handshakes:" + std::to_string(d.id)).c_str()));
}
rdv::JsonPtr respond(Conn& c, const Daemon& responder, uint32_t peer, bool accept) {
  std::string challenge = "respond:" + std::to_string(responder.id) + ":" + std::to_string(peer);
  return call(c, json_pack("{s:s, s:I, s:I, s:b, s:s}", "type", "respond_handshake", "node_id",
                           json_int_t(responder.id), "peer_id", json_int_t(peer), "accept", int(accept), "signature",
                           responder.sign(challenge).c_str()));
}

// The array `key` of a reply (fails the test unless it is one).
const json_t* array_of(const rdv::JsonPtr& r, const char* key) {
  const json_t* a = r ? json_object_get(r.get(), key) : nullptr;
  EXPECT_TRUE(json_is_array(a)) << key << " in " << (r ? dump(r.get()) : "no reply");
  return a;
}
size_t count(const rdv::JsonPtr& r, const char* key) {
  const json_t* a = array_of(r, key);
  return json_is_array(a) ? json_array_size(a) : 0;
}

// ---- report / revoke / check (items 95–97) ----

TEST_F(Trust, ReportTrustIsUnilateralAndSymmetric) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  EXPECT_FALSE(trusted(c, a.id, b.id));
  rdv::JsonPtr r = report(c, a, b.id);
  ASSERT_TRUE(is_ok(r, "report_trust_ok"));
  EXPECT_EQ(dump(r.get()), canon(R"({"type":"report_trust_ok"})"));
  EXPECT_TRUE(trusted(c, a.id, b.id));
  EXPECT_TRUE(trusted(c, b.id, a.id));
  // Reporting again (daemons do after every re-registration) is fine.
  EXPECT_TRUE(is_ok(report(c, a, b.id), "report_trust_ok"));
  EXPECT_TRUE(is_ok(report(c, b, a.id), "report_trust_ok"));
}

TEST_F(Trust, RevokeTrustThenSecondRevokeFails) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  ASSERT_TRUE(is_ok(report(c, a, b.id), "report_trust_ok"));
  // Either side may revoke the symmetric pair.
  rdv::JsonPtr r = revoke(c, b, a.id);
  ASSERT_TRUE(is_ok(r, "revoke_trust_ok"));
  EXPECT_EQ(dump(r.get()), canon(R"({"type":"revoke_trust_ok"})"));
  EXPECT_FALSE(trusted(c, a.id, b.id));
  // Handler text "no trust pair between <a> and <b>" has no sanitiser keyword.
  EXPECT_TRUE(is_error(revoke(c, b, a.id), "request failed"));
  EXPECT_TRUE(is_error(revoke(c, a, b.id), "request failed"));
}

TEST_F(Trust, RevokeNeedsOnlyTheRevokingNode) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  ASSERT_TRUE(is_ok(report(c, a, b.id), "report_trust_ok"));
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:s}", "type", "deregister", "node_id", json_int_t(b.id), "signature",
                                      b.sign("deregister:" + std::to_string(b.id)).c_str())),
                    "deregister_ok"));
  EXPECT_TRUE(is_ok(revoke(c, a, b.id), "revoke_trust_ok"));
  // An unknown revoker is not found.
  Daemon ghost{Key::generate(), 4242};
  EXPECT_TRUE(is_error(revoke(c, ghost, a.id), "node 4242: node not found"));
}

TEST_F(Trust, SharedNetworkImpliesTrust) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), outsider = register_daemon(c);
  // Both only on the backbone: not trusted.
  EXPECT_FALSE(trusted(c, a.id, b.id));
  uint16_t net = create_network(c, server, a, "trust-net");
  ASSERT_NE(net, 0);
  std::string challenge = "join_network:" + std::to_string(b.id) + ":" + std::to_string(net);
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "join_network", "node_id", json_int_t(b.id),
                                      "network_id", json_int_t(net), "signature", b.sign(challenge).c_str())),
                    "join_network_ok"));
  EXPECT_TRUE(trusted(c, a.id, b.id));
  EXPECT_TRUE(trusted(c, b.id, a.id));
  EXPECT_FALSE(trusted(c, a.id, outsider.id));
  // A shared network needs both nodes to exist; unknown ids are simply not trusted.
  EXPECT_FALSE(trusted(c, a.id, 9999));
  EXPECT_FALSE(trusted(c, 0, 0));
}

// ---- bad input: report / revoke / check ----

TEST_F(Trust, ReportTrustErrorsInOrder) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  Daemon ghost{Key::generate(), 777};
  EXPECT_TRUE(is_error(report(c, ghost, b.id), "node 777: node not found"));
  EXPECT_TRUE(is_error(report(c, a, 778), "node 778: node not found"));
  // Peer checked before the signature.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I}", "type", "report_trust", "node_id", json_int_t(a.id),
                                         "peer_id", json_int_t(779))),
                       "node 779: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I}", "type", "report_trust", "node_id", json_int_t(a.id),
                                         "peer_id", json_int_t(b.id))),
                       "signature required for authenticated node"));
  EXPECT_TRUE(is_error_containing(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "report_trust", "node_id",
                                                    json_int_t(a.id), "peer_id", json_int_t(b.id), "signature",
                                                    "not-base64!!")),
                                  "invalid signature encoding: illegal base64 data at input byte"));
  // Signed by someone else, and a's signature over another message's challenge.
  Daemon forger{b.key, a.id};
  EXPECT_TRUE(is_error(report(c, forger, b.id), "signature verification failed"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "report_trust", "node_id", json_int_t(a.id),
                                         "peer_id", json_int_t(b.id), "signature",
                                         a.sign("revoke_trust:" + std::to_string(a.id) + ":" + std::to_string(b.id)).c_str())),
                       "signature verification failed"));
  // The admin token does not stand in for a keyed node's signature (SIG).
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "report_trust", "node_id", json_int_t(a.id),
                                         "peer_id", json_int_t(b.id), "admin_token", server.admin_token.c_str())),
                       "signature required for authenticated node"));
  EXPECT_FALSE(trusted(c, a.id, b.id)) << "no refused report may create the pair";
}

TEST_F(Trust, IllTypedIdsReadAsZero) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s, s:I}", "type", "report_trust", "node_id", "1", "peer_id",
                                         json_int_t(a.id))),
                       "node 0: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:f, s:I}", "type", "revoke_trust", "node_id", -1.0, "peer_id",
                                         json_int_t(a.id))),
                       "node 0: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s}", "type", "request_handshake")), "node 0: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:f}", "type", "poll_handshakes", "node_id", 1e20)),
                       "node 0: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:[i]}", "type", "respond_handshake", "node_id", 1)),
                       "node 0: node not found"));
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:s, s:n}", "type", "check_trust", "node_id", "x", "peer_id"));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "trusted"))) << dump(r.get());
}

// ---- handshakes (items 98–100) ----

TEST_F(Trust, HandshakeRoundTrip) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  rdv::JsonPtr r = request_handshake(c, a, b.id, "let me in, I am the backup host");
  ASSERT_TRUE(is_ok(r, "request_handshake_ok"));
  EXPECT_EQ(str(r.get(), "status"), "delivered");

  r = poll(c, b);
  ASSERT_TRUE(is_ok(r, "poll_handshakes_ok"));
  const json_t* reqs = array_of(r, "requests");
  ASSERT_EQ(json_array_size(reqs), 1u) << dump(r.get());
  const json_t* q = json_array_get(reqs, 0);
  EXPECT_EQ(num(q, "from_node_id"), a.id);
  EXPECT_EQ(str(q, "justification"), "let me in, I am the backup host");
  EXPECT_TRUE(json_is_integer(json_object_get(q, "timestamp")));
  EXPECT_GT(num(q, "timestamp"), 1600000000);
  EXPECT_EQ(count(r, "responses"), 0u);

  // Drained: the second poll is empty (and both keys are arrays, not null).
  r = poll(c, b);
  ASSERT_TRUE(is_ok(r, "poll_handshakes_ok"));
  EXPECT_EQ(dump(r.get()), canon(R"({"type":"poll_handshakes_ok","requests":[],"responses":[]})"));

  // The pending request survived the poll: B can still accept it.
  r = respond(c, b, a.id, true);
  ASSERT_TRUE(is_ok(r, "respond_handshake_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "accept"))) << dump(r.get());
  EXPECT_EQ(num(r.get(), "peer_id"), a.id);
  EXPECT_TRUE(trusted(c, a.id, b.id));

  r = poll(c, a);
  ASSERT_TRUE(is_ok(r, "poll_handshakes_ok"));
  EXPECT_EQ(count(r, "requests"), 0u);
  const json_t* resps = array_of(r, "responses");
  ASSERT_EQ(json_array_size(resps), 1u) << dump(r.get());
  const json_t* p = json_array_get(resps, 0);
  EXPECT_EQ(num(p, "from_node_id"), b.id);
  EXPECT_TRUE(json_is_true(json_object_get(p, "accept")));
  EXPECT_GT(num(p, "timestamp"), 1600000000);
  EXPECT_EQ(count(poll(c, a), "responses"), 0u) << "the response inbox is drained too";

  // The accept consumed the pending request.
  EXPECT_TRUE(is_error(respond(c, b, a.id, true), "request failed"));
}

TEST_F(Trust, RejectCreatesNoTrustAndConsumesNothing) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), stranger = register_daemon(c);
  ASSERT_TRUE(is_ok(request_handshake(c, a, b.id, ""), "request_handshake_ok"));
  rdv::JsonPtr r = respond(c, b, a.id, false);
  ASSERT_TRUE(is_ok(r, "respond_handshake_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "accept"))) << dump(r.get());
  EXPECT_EQ(num(r.get(), "peer_id"), a.id);
  EXPECT_FALSE(trusted(c, a.id, b.id));
  // A rejection needs no pending request.
  EXPECT_TRUE(is_ok(respond(c, stranger, a.id, false), "respond_handshake_ok"));
  // ...and consumed nothing: B may still accept A's request.
  EXPECT_TRUE(is_ok(respond(c, b, a.id, true), "respond_handshake_ok"));
  EXPECT_TRUE(trusted(c, a.id, b.id));
  EXPECT_FALSE(trusted(c, a.id, stranger.id));

  // One response per responder: B's later accept replaced its rejection.
  r = poll(c, a);
  const json_t* resps = array_of(r, "responses");
  ASSERT_EQ(json_array_size(resps), 2u) << dump(r.get());
  bool saw_b = false, saw_stranger = false;
  for (size_t i = 0; i < json_array_size(resps); i++) {
    const json_t* p = json_array_get(resps, i);
    if (num(p, "from_node_id") == b.id) {
      saw_b = true;
      EXPECT_TRUE(json_is_true(json_object_get(p, "accept"))) << dump(r.get());
    } else if (num(p, "from_node_id") == stranger.id) {
      saw_stranger = true;
      EXPECT_TRUE(json_is_false(json_object_get(p, "accept"))) << dump(r.get());
    }
  }
  EXPECT_TRUE(saw_b && saw_stranger) << dump(r.get());
}

TEST_F(Trust, AcceptWithoutARequestIsRefused) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  // Handler text "no pending handshake request from node <a>": no sanitiser keyword.
  EXPECT_TRUE(is_error(respond(c, b, a.id, true), "request failed"));
  // A request the other way round does not count.
  ASSERT_TRUE(is_ok(request_handshake(c, b, a.id, ""), "request_handshake_ok"));
  EXPECT_TRUE(is_error(respond(c, b, a.id, true), "request failed"));
  EXPECT_FALSE(trusted(c, a.id, b.id));
  EXPECT_EQ(count(poll(c, a), "responses"), 0u) << "a refused respond queues nothing";
}

TEST_F(Trust, PollListsRequestsOldestFirst) {
  Conn c = server.connect();
  Daemon target = register_daemon(c);
  std::vector<Daemon> senders;
  for (int i = 0; i < 4; i++) senders.push_back(register_daemon(c));
  // Registered in id order, requesting in reverse: the poll follows arrival, not ids.
  for (size_t i = senders.size(); i-- > 0;)
    ASSERT_TRUE(is_ok(request_handshake(c, senders[i], target.id, "j" + std::to_string(i)), "request_handshake_ok"));
  rdv::JsonPtr r = poll(c, target);
  const json_t* reqs = array_of(r, "requests");
  ASSERT_EQ(json_array_size(reqs), senders.size()) << dump(r.get());
  for (size_t k = 0; k < senders.size(); k++) {
    size_t i = senders.size() - 1 - k;
    EXPECT_EQ(num(json_array_get(reqs, k), "from_node_id"), senders[i].id) << dump(r.get());
    EXPECT_EQ(str(json_array_get(reqs, k), "justification"), "j" + std::to_string(i));
  }
}

TEST_F(Trust, InboxLimitsAndDuplicates) {
  Conn c = server.connect();
  Daemon b = register_daemon(c);
  std::vector<Daemon> senders;
  for (int i = 0; i < 101; i++) senders.push_back(register_daemon(c));
  // Same sender twice before B polls.
  ASSERT_TRUE(is_ok(request_handshake(c, senders[0], b.id, "first"), "request_handshake_ok"));
  EXPECT_TRUE(is_error(request_handshake(c, senders[0], b.id, "second"),
                       "handshake request already pending from node " + std::to_string(senders[0].id)));
  for (int i = 1; i < 100; i++)
    ASSERT_TRUE(is_ok(request_handshake(c, senders[size_t(i)], b.id, ""), "request_handshake_ok")) << i;
  // The 101st sender: "handshake inbox full for node <B>" has no sanitiser keyword.
  EXPECT_TRUE(is_error(request_handshake(c, senders[100], b.id, ""), "request failed"));
  // A sender already waiting hears that first.
  EXPECT_TRUE(is_error_containing(request_handshake(c, senders[7], b.id, ""), "already pending"));

  rdv::JsonPtr r = poll(c, b);
  ASSERT_EQ(count(r, "requests"), 100u);
  EXPECT_EQ(str(json_array_get(array_of(r, "requests"), 0), "justification"), "first");
  // Drained: room again, and the same sender may ask again.
  EXPECT_TRUE(is_ok(request_handshake(c, senders[100], b.id, ""), "request_handshake_ok"));
  EXPECT_TRUE(is_ok(request_handshake(c, senders[0], b.id, "again"), "request_handshake_ok"));
}

TEST_F(Trust, JustificationLimit) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  // "justification too large: 1025 bytes (max 1024)": no sanitiser keyword.
  EXPECT_TRUE(is_error(request_handshake(c, a, b.id, std::string(1025, 'j')), "request failed"));
  EXPECT_TRUE(is_error(request_handshake(c, a, b.id, std::string(100000, 'j')), "request failed"));
  EXPECT_EQ(count(poll(c, b), "requests"), 0u);
  ASSERT_TRUE(is_ok(request_handshake(c, a, b.id, std::string(1024, 'j')), "request_handshake_ok"));
  rdv::JsonPtr r = poll(c, b);
  ASSERT_EQ(count(r, "requests"), 1u);
  EXPECT_EQ(str(json_array_get(array_of(r, "requests"), 0), "justification"), std::string(1024, 'j'));
  // Escapes and multi-byte text come back as sent; a non-string reads as "".
  std::string text = "quote \" backslash \\ newline \n tab \t é 漢";
  ASSERT_TRUE(is_ok(request_handshake(c, a, b.id, text), "request_handshake_ok"));
  r = poll(c, b);
  EXPECT_EQ(str(json_array_get(array_of(r, "requests"), 0), "justification"), text);
  std::string challenge = "handshake:" + std::to_string(a.id) + ":" + std::to_string(b.id);
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:I, s:i, s:s}", "type", "request_handshake", "from_node_id",
                                      json_int_t(a.id), "to_node_id", json_int_t(b.id), "justification", 5,
                                      "signature", a.sign(challenge).c_str())),
                    "request_handshake_ok"));
  r = poll(c, b);
  EXPECT_EQ(str(json_array_get(array_of(r, "requests"), 0), "justification"), "");
}

TEST_F(Trust, RequestHandshakeErrors) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  Daemon ghost{Key::generate(), 5555};
  EXPECT_TRUE(is_error(request_handshake(c, ghost, b.id, ""), "node 5555: node not found"));
  EXPECT_TRUE(is_error(request_handshake(c, a, 5556, ""), "node 5556: node not found"));
  auto unsigned_req = [&](json_t* extra) {
    rdv::JsonPtr req(json_pack("{s:s, s:I, s:I, s:s}", "type", "request_handshake", "from_node_id", json_int_t(a.id),
                               "to_node_id", json_int_t(b.id), "justification", "x"));
    if (extra) json_object_update(req.get(), extra);
    json_decref(extra);
    return c.request(req.get());
  };
  EXPECT_TRUE(is_error(unsigned_req(nullptr), "handshake request requires signature"));
  // No admin fallback.
  EXPECT_TRUE(is_error(unsigned_req(json_pack("{s:s}", "admin_token", server.admin_token.c_str())),
                       "handshake request requires signature"));
  EXPECT_TRUE(is_error_containing(unsigned_req(json_pack("{s:s}", "signature", "@@@@")), "invalid signature encoding: "));
  EXPECT_TRUE(is_error(unsigned_req(json_pack("{s:s}", "signature", b.sign("handshake:" + std::to_string(a.id) + ":" +
                                                                            std::to_string(b.id)).c_str())),
                       "handshake request signature verification failed"));
  // A signature for another target.
  EXPECT_TRUE(is_error(unsigned_req(json_pack("{s:s}", "signature", a.sign("handshake:" + std::to_string(a.id) + ":" +
                                                                            std::to_string(a.id)).c_str())),
                       "handshake request signature verification failed"));
  EXPECT_EQ(count(poll(c, b), "requests"), 0u) << "no refused request reaches the inbox";
}

TEST_F(Trust, RespondAndPollErrors) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  ASSERT_TRUE(is_ok(request_handshake(c, a, b.id, ""), "request_handshake_ok"));
  Daemon ghost{Key::generate(), 6666};
  EXPECT_TRUE(is_error(respond(c, ghost, a.id, true), "node 6666: node not found"));
  EXPECT_TRUE(is_error(respond(c, b, 6667, true), "node 6667: node not found"));
  auto unsigned_resp = [&](json_t* extra) {
    rdv::JsonPtr req(json_pack("{s:s, s:I, s:I, s:b}", "type", "respond_handshake", "node_id", json_int_t(b.id),
                               "peer_id", json_int_t(a.id), "accept", 1));
    if (extra) json_object_update(req.get(), extra);
    json_decref(extra);
    return c.request(req.get());
  };
  EXPECT_TRUE(is_error(unsigned_resp(nullptr), "handshake response requires signature"));
  EXPECT_TRUE(is_error(unsigned_resp(json_pack("{s:s}", "admin_token", server.admin_token.c_str())),
                       "handshake response requires signature"));
  EXPECT_TRUE(is_error_containing(unsigned_resp(json_pack("{s:s}", "signature", "%%")), "invalid signature encoding: "));
  EXPECT_TRUE(is_error(unsigned_resp(json_pack("{s:s}", "signature", a.sign("respond:" + std::to_string(b.id) + ":" +
                                                                             std::to_string(a.id)).c_str())),
                       "handshake response signature verification failed"));
  EXPECT_FALSE(trusted(c, a.id, b.id));

  // poll_handshakes is SIG.
  EXPECT_TRUE(is_error(poll(c, ghost), "node 6666: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I}", "type", "poll_handshakes", "node_id", json_int_t(b.id))),
                       "signature required for authenticated node"));
  Daemon forger{a.key, b.id};
  EXPECT_TRUE(is_error(poll(c, forger), "signature verification failed"));
  // Nothing was drained by the refused polls, and the pending request is intact.
  EXPECT_EQ(count(poll(c, b), "requests"), 1u);
  EXPECT_TRUE(is_ok(respond(c, b, a.id, true), "respond_handshake_ok"));
}

// Pairs, inboxes and pending requests outlive deregistration (§6.5): a node that comes back
// with its key (same id) finds them.
TEST_F(Trust, TrustAndInboxesSurviveDeregister) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), x = register_daemon(c);
  ASSERT_TRUE(is_ok(report(c, a, x.id), "report_trust_ok"));
  ASSERT_TRUE(is_ok(request_handshake(c, a, b.id, "while you were out"), "request_handshake_ok"));
  for (const Daemon* d : {&b, &x})
    ASSERT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:s}", "type", "deregister", "node_id", json_int_t(d->id),
                                        "signature", d->sign("deregister:" + std::to_string(d->id)).c_str())),
                      "deregister_ok"));
  EXPECT_TRUE(trusted(c, a.id, x.id)) << "the pair outlives the node";
  ASSERT_EQ(num(do_register(c, b.key).get(), "node_id"), b.id);
  rdv::JsonPtr r = poll(c, b);
  ASSERT_EQ(count(r, "requests"), 1u) << dump(r.get());
  EXPECT_EQ(str(json_array_get(array_of(r, "requests"), 0), "justification"), "while you were out");
  EXPECT_TRUE(is_ok(respond(c, b, a.id, true), "respond_handshake_ok"));
  EXPECT_TRUE(trusted(c, a.id, b.id));
}

// Item 102 and the brief's durability rule: acknowledged trust state survives a clean restart
// and a SIGKILL of the registry worker.
TEST_F(Trust, StateSurvivesRestartAndKill) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), d = register_daemon(c), e = register_daemon(c);
  ASSERT_TRUE(is_ok(report(c, a, b.id), "report_trust_ok"));
  ASSERT_TRUE(is_ok(request_handshake(c, a, d.id, "before restart"), "request_handshake_ok"));
  ASSERT_TRUE(is_ok(request_handshake(c, e, d.id, "polled, still pending"), "request_handshake_ok"));
  ASSERT_EQ(count(poll(c, d), "requests"), 2u);
  ASSERT_TRUE(is_ok(request_handshake(c, a, d.id, "before restart"), "request_handshake_ok"));
  ASSERT_TRUE(is_ok(respond(c, b, e.id, false), "respond_handshake_ok"));  // a response for e

  restart(server);
  c = server.connect();
  EXPECT_TRUE(trusted(c, a.id, b.id));
  rdv::JsonPtr r = poll(c, d);
  ASSERT_EQ(count(r, "requests"), 1u) << dump(r.get());
  EXPECT_EQ(num(json_array_get(array_of(r, "requests"), 0), "from_node_id"), a.id);
  // New state after the restart, then a SIGKILL.
  ASSERT_TRUE(is_ok(report(c, d, e.id), "report_trust_ok"));
  ASSERT_TRUE(is_ok(request_handshake(c, b, a.id, "before kill"), "request_handshake_ok"));

  c = kill_registry(server);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(trusted(c, a.id, b.id));
  EXPECT_TRUE(trusted(c, d.id, e.id));
  // e's polled request to d is still pending: d can accept it.
  EXPECT_TRUE(is_ok(respond(c, d, e.id, true), "respond_handshake_ok"));
  EXPECT_TRUE(trusted(c, d.id, e.id));
  r = poll(c, a);
  ASSERT_EQ(count(r, "requests"), 1u) << dump(r.get());
  EXPECT_EQ(str(json_array_get(array_of(r, "requests"), 0), "justification"), "before kill");
  r = poll(c, e);
  const json_t* resps = array_of(r, "responses");
  ASSERT_EQ(json_array_size(resps), 2u) << dump(r.get());  // b's rejection and d's acceptance
}

// ---- strict directory auth (item 101) ----

class StrictTrust : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-strict-directory-auth"};
    ServerTest::SetUp();
  }
};

rdv::JsonPtr strict_check(Conn& c, uint32_t a, uint32_t b, const Daemon& requester, const std::string& sig) {
  return call(c, json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "check_trust", "node_id", json_int_t(a), "peer_id",
                           json_int_t(b), "requester_id", json_int_t(requester.id), "signature", sig.c_str()));
}

TEST_F(StrictTrust, CheckTrustNeedsASignedParticipant) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), outsider = register_daemon(c);
  ASSERT_TRUE(is_ok(report(c, a, b.id), "report_trust_ok"));
  std::string challenge = "check_trust:" + std::to_string(a.id) + ":" + std::to_string(b.id);

  // The official client's unsigned check names no requester: not a participant.
  EXPECT_TRUE(is_error(check(c, a.id, b.id), "request failed"));
  // "check_trust denied: requester must be participant" has no sanitiser keyword.
  EXPECT_TRUE(is_error(strict_check(c, a.id, b.id, outsider, outsider.sign(challenge)), "request failed"));
  for (const Daemon* p : {&a, &b}) {
    rdv::JsonPtr r = strict_check(c, a.id, b.id, *p, p->sign(challenge));
    ASSERT_TRUE(is_ok(r, "check_trust_ok"));
    EXPECT_TRUE(json_is_true(json_object_get(r.get(), "trusted"))) << dump(r.get());
  }
  // A participant with a bad signature, or none.
  EXPECT_TRUE(is_error(strict_check(c, a.id, b.id, a, b.sign(challenge)), "signature verification failed"));
  EXPECT_TRUE(is_error(strict_check(c, a.id, b.id, a, a.sign("check_trust:" + std::to_string(b.id) + ":" +
                                                             std::to_string(a.id))),
                       "signature verification failed"));
  EXPECT_TRUE(is_error(strict_check(c, a.id, b.id, a, ""), "signature required for authenticated node"));
  EXPECT_TRUE(is_error_containing(strict_check(c, a.id, b.id, a, "!!"), "invalid signature encoding: "));
  // A participant id that is not registered.
  Daemon ghost{Key::generate(), 8888};
  std::string ghost_challenge = "check_trust:" + std::to_string(a.id) + ":8888";
  EXPECT_TRUE(is_error(strict_check(c, a.id, 8888, ghost, ghost.sign(ghost_challenge)), "node 8888: node not found"));
  // Untrusted participants get a signed "false".
  std::string oc = "check_trust:" + std::to_string(a.id) + ":" + std::to_string(outsider.id);
  rdv::JsonPtr r = strict_check(c, a.id, outsider.id, outsider, outsider.sign(oc));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "trusted"))) << dump(r.get());
}

}  // namespace
}  // namespace rt
