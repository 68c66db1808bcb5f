// The importer's store side (supervisor/import.h) on a real LMDB environment in a temp dir:
// a large import is split into bounded change records and grows a small map; refusals leave
// the data dir empty.
#include "supervisor/import.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto.h"
#include "store.h"
#include "util.h"

namespace rdv::supervisor {
namespace {

std::string with_checksum(const std::string& body) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  static const char* const kDigits = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : d) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return body.substr(0, body.size() - 1) + ",\"checksum\":\"" + hex + "\"}";
}

class GoImport : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-import-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    dir = tmpl;
    cfg.data_dir = dir + "/data";
    ASSERT_EQ(mkdir(cfg.data_dir.c_str(), 0700), 0);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  }
  bool data_dir_empty() const { return std::filesystem::is_empty(cfg.data_dir); }

  std::string dir;
  Config cfg;
};

// `n` nodes, all members of network 1.
std::string snapshot_of(int n) {
  std::string nodes, members;
  for (int i = 1; i <= n; i++) {
    uint8_t key[32] = {};
    key[0] = uint8_t(i);
    key[1] = uint8_t(i >> 8);
    key[31] = 7;
    if (i > 1) {
      nodes += ",";
      members += ",";
    }
    nodes += "\"" + std::to_string(i) + "\":{\"id\":" + std::to_string(i) + ",\"public_key\":\"" +
             base64_encode(key, sizeof key) + "\",\"networks\":[0,1],\"hostname\":\"host-" + std::to_string(i) +
             "\",\"last_seen\":\"2026-06-01T12:00:00Z\"}";
    members += std::to_string(i);
  }
  return with_checksum("{\"version\":1,\"next_node\":" + std::to_string(n + 1) + ",\"next_net\":2,\"nodes\":{" + nodes +
                       "},\"networks\":{\"1\":{\"id\":1,\"name\":\"big\",\"join_rule\":\"open\",\"members\":[" + members +
                       "],\"created\":\"2026-01-01T00:00:00Z\"}},\"term\":2}");
}

TEST_F(GoImport, LargeImportIsChunkedAndGrowsASmallMap) {
  const int kNodes = 5000;
  write("registry.json", snapshot_of(kNodes));
  cfg.map_size_mb = 1;  // far too small: the import grows it
  std::string report, err;
  ASSERT_EQ(import_go_snapshot(cfg, {dir + "/registry.json", "", false}, &report, &err), kExitOk) << err;
  EXPECT_NE(report.find("nodes: 5000"), std::string::npos) << report;
  EXPECT_NE(report.find("wal: none"), std::string::npos) << report;

  // The data written needs more than the 1 MiB map it started with: it was grown and the
  // transaction replayed.
  EXPECT_GT(std::filesystem::file_size(cfg.data_dir + "/data.mdb"), uintmax_t(1) << 20);
  Env env;
  EnvOptions o;
  o.dir = cfg.data_dir;
  ASSERT_TRUE(env.open(o, &err)) << err;
  Txn t;
  ASSERT_EQ(env.begin_read(&t), 0);
  Cursor c(t, Db::ChangeLog);
  uint64_t records = 0, nodes = 0, members = 0, max_ops = 0;
  for (bool ok = c.seek(); ok; ok = c.next()) {
    ChangeRecord rec;
    ASSERT_TRUE(decode_change(c.value(), &rec, &err)) << err;
    records++;
    max_ops = std::max<uint64_t>(max_ops, rec.ops.size());
    for (const ChangeOp& op : rec.ops) {
      nodes += op.db == Db::Nodes;
      members += op.db == Db::Members;
    }
  }
  EXPECT_EQ(nodes, uint64_t(kNodes));
  EXPECT_EQ(members, uint64_t(kNodes));
  EXPECT_LE(max_ops, 2048u + 8) << "records stay bounded";
  EXPECT_GT(records, 5u);
  EXPECT_EQ(meta_u64(t, "next_node"), uint64_t(kNodes + 1));
  MDB_stat st;
  ASSERT_EQ(t.stat(Db::Liveness, &st), 0);
  EXPECT_EQ(st.ms_entries, size_t(kNodes));
  ASSERT_EQ(t.stat(Db::HostIndex, &st), 0);
  EXPECT_EQ(st.ms_entries, size_t(kNodes));
}

TEST_F(GoImport, RefusalsLeaveTheDataDirAsItWas) {
  write("registry.json", snapshot_of(3));
  std::string report, err;
  // An explicit WAL that is not there.
  EXPECT_EQ(import_go_snapshot(cfg, {dir + "/registry.json", dir + "/missing.wal", true}, &report, &err), kExitConfig);
  EXPECT_NE(err.find("missing.wal does not exist"), std::string::npos) << err;
  EXPECT_TRUE(data_dir_empty());
  // A missing snapshot.
  EXPECT_EQ(import_go_snapshot(cfg, {dir + "/nope.json", "", false}, &report, &err), kExitConfig);
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
  EXPECT_TRUE(data_dir_empty());
  // A data dir with a store marker.
  write("data/rendezvous.store", "rendezvous store\n");
  EXPECT_EQ(import_go_snapshot(cfg, {dir + "/registry.json", "", false}, &report, &err), kExitConfig);
  EXPECT_NE(err.find("already holds a store"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(cfg.data_dir + "/data.mdb"));
}

}  // namespace
}  // namespace rdv::supervisor
