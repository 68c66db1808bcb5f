// Requests that race through one group commit (ARCHITECTURE.md: requests of one loop pass
// share one write transaction): uniqueness of ids and hostnames must hold inside a batch, and
// a connection must read its own writes in order (wire-protocol §1: one request → one
// response, strictly sequential per connection).
#include <set>
#include <thread>

#include "harness.h"

namespace rt {
namespace {

using Concurrency = ServerTest;

std::string register_frame(const Key& k, const std::string& listen, const std::string& extra_json = "") {
  std::string body = std::string(R"({"type":"register","public_key":")") + k.pub_b64() + R"(","listen_addr":")" +
                     listen + R"(","signature":")" + k.sign_b64("register:" + listen + ":" + k.pub_b64()) + "\"" +
                     extra_json + "}";
  return be32(uint32_t(body.size())) + body;
}


TEST_F(Concurrency, PipelinedLookupSeesPrecedingRegister) {
  Conn c = server.connect();
  Key k = Key::generate();
  std::string batch = register_frame(k, kPublicAddr) + json_frame(R"({"type":"lookup","node_id":1})");
  ASSERT_TRUE(c.send_all(batch));
  std::string a, b;
  ASSERT_EQ(c.recv_json(&a), Io::Ok);
  ASSERT_EQ(c.recv_json(&b), Io::Ok);
  EXPECT_EQ(str(parse_json(a).get(), "type"), "register_ok") << a;
  rdv::JsonPtr lk = parse_json(b);
  EXPECT_EQ(str(lk.get(), "type"), "lookup_ok") << b;
  EXPECT_EQ(str(lk.get(), "public_key"), k.pub_b64()) << b;
}

TEST_F(Concurrency, PipelinedDeregisterThenLookup) {
  Conn c = server.connect();
  Key k = Key::generate();
  std::string body = std::string(R"({"type":"deregister","node_id":1,"signature":")") + k.sign_b64("deregister:1") + "\"}";
  ASSERT_TRUE(c.send_all(register_frame(k, kPublicAddr) + json_frame(body) + json_frame(R"({"type":"lookup","node_id":1})")));
  std::string r1, r2, r3;
  ASSERT_EQ(c.recv_json(&r1), Io::Ok);
  ASSERT_EQ(c.recv_json(&r2), Io::Ok);
  ASSERT_EQ(c.recv_json(&r3), Io::Ok);
  EXPECT_EQ(str(parse_json(r1).get(), "type"), "register_ok") << r1;
  EXPECT_EQ(str(parse_json(r2).get(), "type"), "deregister_ok") << r2;
  EXPECT_EQ(str(parse_json(r3).get(), "error"), "node 1: node not found") << r3;
}

// The same key arriving on many connections at once must end up as one node.
TEST_F(Concurrency, SameKeyOnManyConnectionsGetsOneId) {
  constexpr int kConns = 20;
  Key k = Key::generate();
  std::vector<Conn> conns;
  for (int i = 0; i < kConns; i++) {
    conns.push_back(server.connect());
    ASSERT_TRUE(conns.back().ok());
  }
  std::string req = register_frame(k, kPublicAddr);
  for (auto& c : conns) ASSERT_TRUE(c.send_all(req));
  std::set<int64_t> ids;
  for (auto& c : conns) {
    std::string reply;
    ASSERT_EQ(c.recv_json(&reply), Io::Ok);
    rdv::JsonPtr r = parse_json(reply);
    EXPECT_EQ(str(r.get(), "type"), "register_ok") << reply;
    ids.insert(num(r.get(), "node_id"));
  }
  EXPECT_EQ(ids, (std::set<int64_t>{1})) << "one key became several nodes";
  Conn c = server.connect();
  EXPECT_EQ(num(do_register(c, Key::generate()).get(), "node_id"), 2) << "id counter advanced for duplicates";
}

// Distinct keys racing: distinct, dense ids.
TEST_F(Concurrency, DistinctKeysGetDistinctIds) {
  constexpr int kConns = 30;
  std::vector<Conn> conns;
  std::vector<Key> keys;
  for (int i = 0; i < kConns; i++) {
    conns.push_back(server.connect());
    keys.push_back(Key::generate());
  }
  for (int i = 0; i < kConns; i++) ASSERT_TRUE(conns[i].send_all(register_frame(keys[i], kPublicAddr)));
  std::set<int64_t> ids;
  for (int i = 0; i < kConns; i++) {
    std::string reply;
    ASSERT_EQ(conns[i].recv_json(&reply), Io::Ok);
    rdv::JsonPtr r = parse_json(reply);
    ASSERT_EQ(str(r.get(), "type"), "register_ok") << reply;
    EXPECT_TRUE(ids.insert(num(r.get(), "node_id")).second) << "duplicate id " << reply;
    EXPECT_EQ(str(r.get(), "public_key"), keys[i].pub_b64());
  }
  EXPECT_EQ(*ids.begin(), 1);
  EXPECT_EQ(*ids.rbegin(), kConns);
}

// Many nodes claim one hostname in the same instant: exactly one wins.
TEST_F(Concurrency, ContestedHostnameHasOneWinner) {
  constexpr int kNodes = 12;
  std::vector<Key> keys;
  {
    Conn c = server.connect();
    for (int i = 0; i < kNodes; i++) {
      keys.push_back(Key::generate());
      ASSERT_EQ(num(do_register(c, keys.back()).get(), "node_id"), i + 1);
    }
  }
  std::vector<Conn> conns;
  for (int i = 0; i < kNodes; i++) conns.push_back(server.connect());
  for (int i = 0; i < kNodes; i++) {
    uint32_t id = uint32_t(i + 1);
    std::string body = R"({"type":"set_hostname","node_id":)" + std::to_string(id) +
                       R"(,"hostname":"contested","signature":")" +
                       keys[i].sign_b64("set_hostname:" + std::to_string(id)) + "\"}";
    ASSERT_TRUE(conns[i].send_all(json_frame(body)));
  }
  int winners = 0;
  int64_t winner = 0;
  for (int i = 0; i < kNodes; i++) {
    std::string reply;
    ASSERT_EQ(conns[i].recv_json(&reply), Io::Ok);
    rdv::JsonPtr r = parse_json(reply);
    if (str(r.get(), "type") == "set_hostname_ok") {
      winners++;
      winner = i + 1;
    } else {
      EXPECT_EQ(str(r.get(), "error").rfind("hostname \"contested\" already in use by node ", 0), 0u) << reply;
    }
  }
  EXPECT_EQ(winners, 1);
  Conn c = server.connect();
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:I}", "type", "resolve_hostname", "hostname", "contested",
                             "requester_id", json_int_t(winner)));
  rdv::JsonPtr r = c.request(req.get());
  EXPECT_EQ(num(r.get(), "node_id"), winner) << dump(r.get());
  // Losers have no hostname.
  for (int i = 1; i <= kNodes; i++) {
    if (i == winner) continue;
    EXPECT_FALSE(has(do_lookup(c, uint32_t(i)).get(), "hostname")) << "node " << i;
  }
}

// Registrations carrying the same hostname in one instant: all register, one gets the name.
TEST_F(Concurrency, RegisterWithContestedHostname) {
  constexpr int kConns = 10;
  std::vector<Conn> conns;
  for (int i = 0; i < kConns; i++) conns.push_back(server.connect());
  for (auto& c : conns) ASSERT_TRUE(c.send_all(register_frame(Key::generate(), kPublicAddr, R"(,"hostname":"same")")));
  int with_name = 0;
  for (auto& c : conns) {
    std::string reply;
    ASSERT_EQ(c.recv_json(&reply), Io::Ok);
    rdv::JsonPtr r = parse_json(reply);
    ASSERT_EQ(str(r.get(), "type"), "register_ok") << reply;
    if (str(r.get(), "hostname") == "same" && !has(r.get(), "hostname_error")) with_name++;
    else EXPECT_NE(str(r.get(), "hostname_error").find("already in use"), std::string::npos) << reply;
  }
  EXPECT_EQ(with_name, 1);
}


// §2.5: above the connection limit new sockets are closed at once; a freed slot is reusable.
class MaxConnections : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-max-connections", "3"};
    ServerTest::SetUp();
  }
};

TEST_F(MaxConnections, ExtraConnectionClosedAndSlotReused) {
  std::vector<Conn> conns;
  for (int i = 0; i < 3; i++) {
    conns.push_back(server.connect());
    ASSERT_NE(do_lookup(conns.back(), 1), nullptr) << "connection " << i << " not served";
  }
  Conn extra = server.connect();
  ASSERT_TRUE(extra.ok());  // the kernel accepts; the registry closes it
  std::string body = R"({"type":"lookup","node_id":1})";
  extra.send_all(be32(uint32_t(body.size())) + body);
  std::string got;
  EXPECT_TRUE(extra.expect_closed(5000, &got)) << "connection above the limit was served";
  // The first three still work.
  for (auto& c : conns) EXPECT_NE(do_lookup(c, 1), nullptr);
  // Free a slot; a new connection is served (poll: the close reaches the server asynchronously).
  conns[0].close();
  bool served = false;
  int64_t deadline = mono_ms() + 5000;
  while (!served && mono_ms() < deadline) {
    Conn again = server.connect();
    served = do_lookup(again, 1) != nullptr;
    if (!served) sleep_ms(20);
  }
  EXPECT_TRUE(served) << "a freed connection slot was not reusable";
}

}  // namespace
}  // namespace rt
