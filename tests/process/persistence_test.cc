// Durability across a clean restart (ARCHITECTURE.md: LMDB is the source of truth;
// wire-protocol §5: what must survive restarts), and refusal of a corrupt store.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

namespace rt {
namespace {

class Persistence : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
};

struct Expected {
  Key key;
  uint32_t id = 0;
  std::string hostname;
  std::string tags_json = "";  // "" = no tags key
  bool is_public = false;
  std::string listen;
};

TEST_F(Persistence, EverythingSurvivesRestart) {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  std::vector<Expected> nodes(4);
  {
    Conn c = server.connect();
    for (size_t i = 0; i < nodes.size(); i++) {
      nodes[i].key = Key::generate();
      nodes[i].listen = "198.51.100." + std::to_string(10 + i) + ":" + std::to_string(4000 + i);
      rdv::JsonPtr r = do_register(c, nodes[i].key, nodes[i].listen);
      ASSERT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
      nodes[i].id = uint32_t(num(r.get(), "node_id"));
      ASSERT_EQ(nodes[i].id, i + 1);
    }
    // node 1: hostname + tags + public; node 2: hostname; node 3: public; node 4: deregistered.
    auto set = [&](Expected& n, const char* type, json_t* extra) {
      rdv::JsonPtr e(extra);
      rdv::JsonPtr r = do_signed(c, n.key, type, type, n.id, e.get());
      ASSERT_EQ(str(r.get(), "type"), std::string(type) + "_ok") << dump(r.get());
    };
    set(nodes[0], "set_hostname", json_pack("{s:s}", "hostname", "alpha"));
    nodes[0].hostname = "alpha";
    set(nodes[0], "set_tags", json_pack("{s:[s,s]}", "tags", "web", "prod"));
    nodes[0].tags_json = R"(["web","prod"])";
    set(nodes[0], "set_visibility", json_pack("{s:b}", "public", 1));
    nodes[0].is_public = true;
    set(nodes[1], "set_hostname", json_pack("{s:s}", "hostname", "beta"));
    nodes[1].hostname = "beta";
    set(nodes[2], "set_visibility", json_pack("{s:b}", "public", 1));
    nodes[2].is_public = true;
    rdv::JsonPtr r = do_signed(c, nodes[3].key, "deregister", "deregister", nodes[3].id);
    ASSERT_EQ(str(r.get(), "type"), "deregister_ok") << dump(r.get());
  }

  int st = server.stop();
  ASSERT_NE(st, -1) << "supervisor did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;

  server.new_ports();
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  for (size_t i = 0; i < 3; i++) {
    const Expected& n = nodes[i];
    SCOPED_TRACE("node " + std::to_string(n.id));
    rdv::JsonPtr r = do_lookup(c, n.id);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
    EXPECT_EQ(str(r.get(), "public_key"), n.key.pub_b64());
    EXPECT_EQ(str(r.get(), "hostname"), n.hostname) << dump(r.get());
    EXPECT_EQ(json_is_true(json_object_get(r.get(), "public")), n.is_public) << dump(r.get());
    if (n.is_public) {
      EXPECT_EQ(str(r.get(), "real_addr"), n.listen) << dump(r.get());
    } else {
      EXPECT_FALSE(has(r.get(), "real_addr")) << dump(r.get());
    }
    if (n.tags_json.empty()) {
      EXPECT_FALSE(has(r.get(), "tags")) << dump(r.get());
    } else {
      EXPECT_EQ(dump(json_object_get(r.get(), "tags")), n.tags_json);
    }
  }
  // The deregistered node stays gone.
  rdv::JsonPtr r = do_lookup(c, nodes[3].id);
  EXPECT_EQ(str(r.get(), "error"), "node 4: node not found") << dump(r.get());

  // Hostname index survived.
  rdv::JsonPtr req(json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", "alpha"));
  r = c.request(req.get());
  EXPECT_EQ(str(r.get(), "type"), "resolve_hostname_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  req.reset(json_pack("{s:s, s:s, s:i}", "type", "resolve_hostname", "hostname", "beta", "requester_id", 2));
  r = c.request(req.get());
  EXPECT_EQ(num(r.get(), "node_id"), 2) << dump(r.get());
  // A taken hostname is still taken.
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "alpha"));
  r = do_signed(c, nodes[2].key, "set_hostname", "set_hostname", 3, extra.get());
  EXPECT_EQ(str(r.get(), "error"), "hostname \"alpha\" already in use by node 1") << dump(r.get());

  // Signature latch and key index survived: an unsigned re-register is still refused, a
  // signed one gets the same id (also for the deregistered key).
  r = do_register(c, nodes[0].key, nodes[0].listen, nullptr, false);
  EXPECT_EQ(str(r.get(), "error"), "node 1: unsigned registration cannot modify a signature-verified key")
      << dump(r.get());
  r = do_register(c, nodes[1].key, nodes[1].listen);
  EXPECT_EQ(num(r.get(), "node_id"), 2) << dump(r.get());
  r = do_register(c, nodes[3].key, nodes[3].listen);
  EXPECT_EQ(num(r.get(), "node_id"), 4) << dump(r.get());

  // The id counter survived: a new key gets a higher id than any before.
  r = do_register(c, Key::generate());
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 5) << dump(r.get());

  // Heartbeats work on restored nodes (the key is known).
  req.reset(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 3, "signature",
                      nodes[2].key.sign_b64("heartbeat:3").c_str()));
  r = c.request(req.get());
  EXPECT_EQ(str(r.get(), "type"), "heartbeat_ok") << dump(r.get());
}

TEST_F(Persistence, IdCounterNotReusedAfterRestartEvenIfLastNodeDeregistered) {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Key a = Key::generate(), b = Key::generate();
  {
    Conn c = server.connect();
    ASSERT_EQ(num(do_register(c, a).get(), "node_id"), 1);
    ASSERT_EQ(num(do_register(c, b).get(), "node_id"), 2);
    ASSERT_EQ(str(do_signed(c, b, "deregister", "deregister", 2).get(), "type"), "deregister_ok");
  }
  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  EXPECT_EQ(num(do_register(c, Key::generate()).get(), "node_id"), 3);
}

TEST_F(Persistence, CorruptStoreRefusedWithConfigExitCode) {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  {
    Conn c = server.connect();
    ASSERT_EQ(str(do_register(c, Key::generate()).get(), "type"), "register_ok");
  }
  ASSERT_NE(server.stop(), -1);

  std::string data = server.data_dir + "/data.mdb";
  struct stat st0;
  ASSERT_EQ(stat(data.c_str(), &st0), 0) << data << " missing after a clean run";
  std::string junk(64 * 1024, '\0');
  randombytes_buf(junk.data(), junk.size());
  int fd = ::open(data.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, junk.data(), junk.size()), ssize_t(junk.size()));
  ::close(fd);

  size_t log_before = server.log().size();
  server.new_ports();
  ASSERT_TRUE(server.spawn(&err)) << err;
  int status = server.wait_exit(15000);
  ASSERT_NE(status, -1) << "supervisor kept running on a corrupt store";
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 78);
  std::string log = server.log().substr(log_before);
  EXPECT_NE(log.find("data.mdb"), std::string::npos) << "stderr does not name data.mdb:\n" << log;
  // The garbage was not replaced by an empty store.
  struct stat st;
  ASSERT_EQ(stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 * 1024);
}

// A data.mdb cut short (disk full, bad copy): LMDB's meta pages are intact but point past the
// end of the file. The store must be refused like any corrupt store (exit 78, data.mdb named),
// not crash the registry with SIGBUS in a restart loop.
TEST_F(Persistence, TruncatedStoreRefusedWithConfigExitCode) {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  {
    Conn c = server.connect();
    // Pipeline 300 registrations so the store grows well beyond a few pages.
    std::string batch;
    for (int i = 0; i < 300; i++) {
      Key k = Key::generate();
      std::string listen = "198.51.100.1:" + std::to_string(2000 + i);
      std::string body = std::string(R"({"type":"register","public_key":")") + k.pub_b64() +
                         R"(","listen_addr":")" + listen + R"(","hostname":"host-)" + std::to_string(i) +
                         R"(","signature":")" + k.sign_b64("register:" + listen + ":" + k.pub_b64()) + "\"}";
      batch += be32(uint32_t(body.size())) + body;
    }
    ASSERT_TRUE(c.send_all(batch));
    for (int i = 0; i < 300; i++) {
      std::string reply;
      ASSERT_EQ(c.recv_json(&reply, 20000), Io::Ok) << i;
      ASSERT_EQ(str(parse_json(reply).get(), "type"), "register_ok") << reply;
    }
  }
  ASSERT_NE(server.stop(), -1);
  std::string data = server.data_dir + "/data.mdb";
  struct stat st0;
  ASSERT_EQ(stat(data.c_str(), &st0), 0);
  ASSERT_GT(st0.st_size, 16 * 4096) << "store too small to truncate meaningfully";
  ASSERT_EQ(truncate(data.c_str(), 3 * 4096), 0);

  size_t log_before = server.log().size();
  server.new_ports();
  ASSERT_TRUE(server.spawn(&err)) << err;
  int status = server.wait_exit(15000);
  std::string log = server.log().substr(log_before);
  ASSERT_NE(status, -1) << "supervisor kept running on a truncated store:\n" << log;
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 78) << log;
  EXPECT_NE(log.find("data.mdb"), std::string::npos) << "stderr does not name data.mdb:\n" << log;
}

}  // namespace
}  // namespace rt
