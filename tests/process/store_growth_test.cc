// The LMDB map filling up mid-pass: the registry grows the map, replays the pass, and every
// acknowledged registration is on disk (ARCHITECTURE.md: "a write is never dropped").
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

namespace rt {
namespace {

std::string signed_register(const Key& k, int i) {
  std::string listen = "198.51.100.7:" + std::to_string(1000 + i);
  return std::string(R"({"type":"register","public_key":")") + k.pub_b64() + R"(","listen_addr":")" + listen +
         R"(","hostname":"grow-)" + std::to_string(i) + R"(","signature":")" +
         k.sign_b64("register:" + listen + ":" + k.pub_b64()) + "\"}";
}

class StoreGrowth : public ServerTest {
 protected:
  void SetUp() override {
    // A 1 MiB map fills after a few thousand registrations.
    server.extra_args = {"-map-size-mb", "1"};
    ServerTest::SetUp();
  }
};

TEST_F(StoreGrowth, MapFullGrowsAndKeepsEveryAcknowledgedWrite) {
  constexpr int kNodes = 3000;
  std::vector<Key> keys;
  std::vector<uint32_t> ids(kNodes, 0);
  for (int i = 0; i < kNodes; i++) keys.push_back(Key::generate());
  {
    Conn c = server.connect();
    ASSERT_TRUE(c.ok());
    // Pipelined in batches, so many registrations share one pass when the map runs out.
    for (int base = 0; base < kNodes; base += 500) {
      std::string batch;
      for (int i = base; i < base + 500; i++) {
        std::string body = signed_register(keys[i], i);
        batch += be32(uint32_t(body.size())) + body;
      }
      ASSERT_TRUE(c.send_all(batch));
      for (int i = base; i < base + 500; i++) {
        std::string reply;
        ASSERT_EQ(c.recv_json(&reply, 20000), Io::Ok) << i;
        rdv::JsonPtr j = parse_json(reply);
        ASSERT_EQ(str(j.get(), "type"), "register_ok") << reply;
        ids[i] = uint32_t(num(j.get(), "node_id"));
      }
    }
  }
  HttpResponse m;
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &m));
  EXPECT_EQ(m.body.find("pilot_store_map_resizes_total 0\n"), std::string::npos) << "the map never had to grow";

  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  for (int i = 0; i < kNodes; i += 7) {
    rdv::JsonPtr j = c.request(std::string(R"({"type":"lookup","node_id":)") + std::to_string(ids[i]) + "}");
    ASSERT_TRUE(j);
    EXPECT_EQ(str(j.get(), "public_key"), keys[i].pub_b64()) << dump(j.get());
    EXPECT_EQ(str(j.get(), "hostname"), "grow-" + std::to_string(i));
  }
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// A data dir that held a store never silently starts empty: an emptied or deleted data.mdb is
// refused (exit 78) with a message naming the file.
class LostStore : public ServerTest {};

void expect_refused(Server& server, const char* why) {
  server.new_ports();
  size_t before = server.log().size();
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int status = server.wait_exit(10000);
  ASSERT_NE(status, -1) << why << ": the supervisor kept running";
  ASSERT_TRUE(WIFEXITED(status)) << why;
  EXPECT_EQ(WEXITSTATUS(status), 78) << why;
  std::string log = server.log().substr(before);
  EXPECT_NE(log.find("data.mdb"), std::string::npos) << log;
  EXPECT_NE(log.find(why), std::string::npos) << log;
}

TEST_F(LostStore, EmptiedDataFileIsRefused) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr j = c.request(std::string(R"({"type":"register","public_key":")") + k.pub_b64() + "\"}");
  ASSERT_EQ(str(j.get(), "type"), "register_ok");
  c.close();
  ASSERT_NE(server.stop(), -1);
  ASSERT_EQ(truncate((server.data_dir + "/data.mdb").c_str(), 0), 0);
  expect_refused(server, "is empty");
}

TEST_F(LostStore, DeletedDataFileIsRefused) {
  ASSERT_NE(server.stop(), -1);
  ASSERT_EQ(unlink((server.data_dir + "/data.mdb").c_str()), 0);
  expect_refused(server, "is missing");
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// -store names a Go snapshot to import at the first start; one that cannot be imported (here:
// a version-1 file without its checksum) is refused rather than started empty.
TEST(GoSnapshot, UnimportedSnapshotIsRefusedNotSilentlyDropped) {
  Server server;
  std::string snapshot = server.dir + "/registry.json";
  FILE* f = fopen(snapshot.c_str(), "w");
  ASSERT_TRUE(f);
  fputs("{\"version\":1,\"nodes\":{}}\n", f);
  fclose(f);
  server.extra_args = {"-store", snapshot};
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int status = server.wait_exit(10000);
  ASSERT_NE(status, -1) << "the supervisor kept running";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 78);
  EXPECT_NE(server.log().find("refusing to start"), std::string::npos) << server.log_tail();
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// Two servers on one data dir: the second refuses (exit 78) instead of allocating the same
// node ids, and the first keeps serving.
TEST(DataDirLock, SecondServerOnTheSameStoreIsRefused) {
  Server first;
  std::string err;
  ASSERT_TRUE(first.start(&err)) << err;
  Server second;
  second.data_dir = first.data_dir;
  ASSERT_TRUE(second.spawn(&err)) << err;
  int status = second.wait_exit(10000);
  ASSERT_NE(status, -1) << "the second supervisor kept running";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 78);
  EXPECT_NE(second.log().find("in use by another registry"), std::string::npos) << second.log_tail();
  Conn c = first.connect();
  rdv::JsonPtr j = c.request(R"({"type":"lookup","node_id":1})");
  ASSERT_TRUE(j);
  EXPECT_EQ(str(j.get(), "error"), "node 1: node not found");
}

}  // namespace
}  // namespace rt
