// A full disk: the data dir on a 2 MiB tmpfs fills up. Registrations that cannot be stored
// get a precise error (never an acknowledgement), the registry keeps serving reads, and every
// registration acknowledged before the disk filled is still there after a restart.
//
// Needs root to mount the tmpfs (CI and the dev machines run as root); skipped otherwise.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace rt {
namespace {

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    mnt_ = server.dir + "/small";
    mkdir(mnt_.c_str(), 0700);
    if (mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=2m") != 0) GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
    mounted_ = true;
    server.data_dir = mnt_ + "/data";
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
    server.stop();
    if (mounted_) umount2(mnt_.c_str(), MNT_DETACH);
  }
  Server server;
  std::string mnt_;
  bool mounted_ = false;
};

TEST_F(FullDisk, RefusesWritesWithAPreciseErrorAndKeepsWhatItAcknowledged) {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  std::vector<std::pair<uint32_t, std::string>> acked;
  std::string refusal;
  // Versions and LAN addresses at their size limits make each record big; 2 MiB fills within
  // a few thousand.
  std::string lan = R"(")" + std::string(64, '1') + R"(")";
  std::string lans = lan;
  for (int n = 1; n < 8; n++) lans += "," + lan;
  for (int i = 0; i < 20000 && refusal.empty(); i++) {
    Key k = Key::generate();
    std::string body = std::string(R"({"type":"register","public_key":")") + k.pub_b64() +
                       R"(","version":")" + std::string(128, 'v') + R"(","lan_addrs":[)" + lans + "]}";
    rdv::JsonPtr j = c.request(body);
    ASSERT_TRUE(j) << "no reply to registration " << i;
    if (str(j.get(), "type") == "register_ok") {
      acked.emplace_back(uint32_t(num(j.get(), "node_id")), k.pub_b64());
    } else {
      refusal = str(j.get(), "error");
    }
  }
  ASSERT_FALSE(refusal.empty()) << "the disk never filled";
  ASSERT_GT(acked.size(), 10u);
  // The reason is the store's own: "No space left on device", or "Input/output error" when
  // LMDB saw a short write.
  const std::string prefix = "registry cannot store the request: ";
  EXPECT_EQ(refusal.rfind(prefix, 0), 0u) << refusal;
  EXPECT_GT(refusal.size(), prefix.size()) << refusal;

  // Still serving: reads work on the same and on a new connection.
  rdv::JsonPtr j = c.request(std::string(R"({"type":"lookup","node_id":)") + std::to_string(acked[0].first) + "}");
  ASSERT_TRUE(j);
  EXPECT_EQ(str(j.get(), "type"), "lookup_ok") << dump(j.get());
  Conn c2 = server.connect();
  j = c2.request(std::string(R"({"type":"lookup","node_id":)") + std::to_string(acked.back().first) + "}");
  ASSERT_TRUE(j);
  EXPECT_EQ(str(j.get(), "type"), "lookup_ok") << dump(j.get());

  // Everything acknowledged is on disk.
  c.close();
  c2.close();
  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c3 = server.connect();
  for (auto& [id, pub] : acked) {
    rdv::JsonPtr l = c3.request(std::string(R"({"type":"lookup","node_id":)") + std::to_string(id) + "}");
    ASSERT_TRUE(l);
    ASSERT_EQ(str(l.get(), "public_key"), pub) << "node " << id << ": " << dump(l.get());
  }
}

}  // namespace
}  // namespace rt
