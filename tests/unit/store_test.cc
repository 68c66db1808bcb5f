// LMDB store (shared/store.h): open/create, writes through Mutation with a change-log record
// in the same transaction, durability across reopen, refusal of a corrupt data.mdb (never
// silently start empty), map growth, big-endian key order.
#include "store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model.h"

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/rdv-store-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sodium_init() < 0, false);
    ASSERT_FALSE(dir_.path().empty());
  }

  std::unique_ptr<rdv::Env> open(bool create, std::string* err, uint64_t map_size = 1ull << 24) {
    auto env = std::make_unique<rdv::Env>();
    rdv::EnvOptions o;
    o.dir = dir_.path();
    o.create = create;
    o.map_size = map_size;
    o.max_readers = 16;
    if (!env->open(o, err)) return nullptr;
    return env;
  }

  std::unique_ptr<rdv::Env> open_ok(bool create) {
    std::string err;
    auto env = open(create, &err);
    EXPECT_NE(env, nullptr) << err;
    return env;
  }

  void write_garbage_data_file(size_t size) {
    std::string junk(size, '\0');
    randombytes_buf(junk.data(), junk.size());
    int fd = ::open((dir_.path() + "/data.mdb").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), ssize_t(junk.size()));
    ::close(fd);
  }

  TempDir dir_;
};

rdv::Node make_node(uint32_t id) {
  rdv::Node n;
  n.id = id;
  for (size_t i = 0; i < 32; i++) n.public_key[i] = uint8_t(id + i);
  n.real_addr = "203.0.113.5:" + std::to_string(4000 + id);
  n.networks = {0};
  n.hostname = "host-" + std::to_string(id);
  n.created_at = 1700000000 + id;
  return n;
}

TEST(StoreKeys, BigEndianHelpers) {
  EXPECT_EQ(rdv::key_u16(0x0102), std::string("\x01\x02", 2));
  EXPECT_EQ(rdv::key_u32(0x01020304), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(rdv::key_u64(0x0102030405060708ull), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(rdv::read_u32(rdv::key_u32(0xCAFEBABE)), 0xCAFEBABEu);
  EXPECT_EQ(rdv::read_u64(rdv::key_u64(0x1122334455667788ull)), 0x1122334455667788ull);
  EXPECT_EQ(rdv::read_u32("abc"), 0u);
  EXPECT_EQ(rdv::read_u64("abcd"), 0u);
}

TEST(StoreChangeCodec, RoundTrip) {
  rdv::ChangeRecord r;
  r.epoch = 7;
  r.type = rdv::ChangeType::SetTags;
  r.ops.push_back({true, rdv::Db::Nodes, rdv::key_u32(5), std::string("value\0bytes", 11)});
  r.ops.push_back({false, rdv::Db::HostIndex, "old-name", ""});
  r.ops.push_back({true, rdv::Db::Meta, "next_node", std::string(300, 'v')});
  rdv::ChangeRecord back;
  ASSERT_TRUE(rdv::decode_change(rdv::encode_change(r), &back));
  EXPECT_EQ(back.epoch, 7u);
  EXPECT_EQ(back.type, rdv::ChangeType::SetTags);
  ASSERT_EQ(back.ops.size(), 3u);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(back.ops[i].is_put, r.ops[i].is_put);
    EXPECT_EQ(back.ops[i].db, r.ops[i].db);
    EXPECT_EQ(back.ops[i].key, r.ops[i].key);
    EXPECT_EQ(back.ops[i].value, r.ops[i].value);
  }
}

TEST(StoreChangeCodec, GarbageAndTruncationFail) {
  rdv::ChangeRecord r;
  r.epoch = 1;
  r.type = rdv::ChangeType::Register;
  r.ops.push_back({true, rdv::Db::Nodes, rdv::key_u32(1), "abc"});
  std::string bytes = rdv::encode_change(r);
  rdv::ChangeRecord out;
  for (size_t n = 0; n < bytes.size(); n++)
    EXPECT_FALSE(rdv::decode_change(std::string_view(bytes).substr(0, n), &out)) << n;
  EXPECT_FALSE(rdv::decode_change("", &out));
}

TEST_F(StoreTest, FreshEnvHasEveryDatabaseAndFile) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->data_file(), dir_.path() + "/data.mdb");
  struct stat st;
  EXPECT_EQ(stat((dir_.path() + "/data.mdb").c_str(), &st), 0);
  for (int i = 0; i < int(rdv::Db::Count); i++) EXPECT_STRNE(rdv::db_name(rdv::Db(i)), "");
  EXPECT_STREQ(rdv::db_name(rdv::Db::Nodes), "nodes");
  EXPECT_STREQ(rdv::db_name(rdv::Db::ChangeLog), "changelog");
}

TEST_F(StoreTest, MutationSurvivesReopenWithChangeLog) {
  rdv::Node n1 = make_node(1), n2 = make_node(2);
  {
    auto env = open_ok(true);
    ASSERT_NE(env, nullptr);
    rdv::Txn txn;
    ASSERT_EQ(env->begin_write(&txn), 0);
    rdv::Mutation m(txn, rdv::ChangeType::Register);
    ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(1), rdv::encode_node(n1)), 0);
    ASSERT_EQ(m.put(rdv::Db::KeyIndex,
                    std::string_view(reinterpret_cast<const char*>(n1.public_key.data()), 32),
                    rdv::key_u32(1)),
              0);
    ASSERT_EQ(m.put(rdv::Db::HostIndex, n1.hostname, rdv::key_u32(1)), 0);
    ASSERT_EQ(rdv::set_meta_u64(m, "next_node", 2), 0);
    EXPECT_FALSE(m.empty());
    ASSERT_EQ(m.finish(3), 0);
    ASSERT_EQ(txn.commit(), 0);
    EXPECT_FALSE(txn.active());

    ASSERT_EQ(env->begin_write(&txn), 0);
    rdv::Mutation m2(txn, rdv::ChangeType::Register);
    ASSERT_EQ(m2.put(rdv::Db::Nodes, rdv::key_u32(2), rdv::encode_node(n2)), 0);
    ASSERT_EQ(m2.finish(3), 0);
    ASSERT_EQ(txn.commit(), 0);
  }
  auto env = open_ok(false);
  ASSERT_NE(env, nullptr);
  rdv::Txn txn;
  ASSERT_EQ(env->begin_read(&txn), 0);
  std::string_view v;
  ASSERT_EQ(txn.get(rdv::Db::Nodes, rdv::key_u32(1), &v), 0);
  rdv::Node back;
  ASSERT_TRUE(rdv::decode_node(v, &back));
  EXPECT_EQ(back.id, 1u);
  EXPECT_EQ(back.real_addr, n1.real_addr);
  EXPECT_EQ(back.hostname, n1.hostname);
  EXPECT_EQ(back.public_key, n1.public_key);
  ASSERT_EQ(txn.get(rdv::Db::HostIndex, "host-1", &v), 0);
  EXPECT_EQ(rdv::read_u32(v), 1u);
  EXPECT_EQ(rdv::meta_u64(txn, "next_node"), 2u);
  EXPECT_EQ(rdv::meta_u64(txn, "no-such-key", 99), 99u);

  // Change log: sequence numbers start at 1 and increase by one per mutation.
  EXPECT_EQ(rdv::meta_u64(txn, "last_seq"), 2u);
  ASSERT_EQ(txn.get(rdv::Db::ChangeLog, rdv::key_u64(1), &v), 0);
  rdv::ChangeRecord rec;
  ASSERT_TRUE(rdv::decode_change(v, &rec));
  EXPECT_EQ(rec.epoch, 3u);
  EXPECT_EQ(rec.type, rdv::ChangeType::Register);
  ASSERT_EQ(rec.ops.size(), 4u);
  EXPECT_TRUE(rec.ops[0].is_put);
  EXPECT_EQ(rec.ops[0].db, rdv::Db::Nodes);
  EXPECT_EQ(rec.ops[0].key, rdv::key_u32(1));
  EXPECT_EQ(rec.ops[0].value, rdv::encode_node(n1));
  EXPECT_EQ(rec.ops[1].db, rdv::Db::KeyIndex);
  EXPECT_EQ(rec.ops[2].db, rdv::Db::HostIndex);
  EXPECT_EQ(rec.ops[3].db, rdv::Db::Meta);

  ASSERT_EQ(txn.get(rdv::Db::ChangeLog, rdv::key_u64(2), &v), 0);
  ASSERT_TRUE(rdv::decode_change(v, &rec));
  ASSERT_EQ(rec.ops.size(), 1u);
  EXPECT_EQ(rec.ops[0].key, rdv::key_u32(2));
  EXPECT_EQ(txn.get(rdv::Db::ChangeLog, rdv::key_u64(3), &v), MDB_NOTFOUND);
}

TEST_F(StoreTest, AbortedTransactionLeavesNothing) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  {
    rdv::Txn txn;
    ASSERT_EQ(env->begin_write(&txn), 0);
    rdv::Mutation m(txn, rdv::ChangeType::Register);
    ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(1), rdv::encode_node(make_node(1))), 0);
    ASSERT_EQ(m.finish(1), 0);
    // destroyed without commit: aborts
  }
  rdv::Txn txn;
  ASSERT_EQ(env->begin_read(&txn), 0);
  std::string_view v;
  EXPECT_EQ(txn.get(rdv::Db::Nodes, rdv::key_u32(1), &v), MDB_NOTFOUND);
  EXPECT_EQ(rdv::meta_u64(txn, "last_seq"), 0u);
}

TEST_F(StoreTest, DeleteRecordedAndMissingDeleteIsNothing) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  rdv::Txn txn;
  ASSERT_EQ(env->begin_write(&txn), 0);
  {
    rdv::Mutation m(txn, rdv::ChangeType::Register);
    ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(1), "x"), 0);
    ASSERT_EQ(m.finish(1), 0);
  }
  {
    rdv::Mutation m(txn, rdv::ChangeType::Deregister);
    EXPECT_EQ(m.del(rdv::Db::Nodes, rdv::key_u32(42)), 0);  // missing: not an error, no op
    EXPECT_TRUE(m.empty());
    ASSERT_EQ(m.finish(1), 0);  // empty mutation appends no record
  }
  {
    rdv::Mutation m(txn, rdv::ChangeType::Deregister);
    EXPECT_EQ(m.del(rdv::Db::Nodes, rdv::key_u32(1)), 0);
    ASSERT_EQ(m.finish(1), 0);
  }
  ASSERT_EQ(txn.commit(), 0);
  ASSERT_EQ(env->begin_read(&txn), 0);
  EXPECT_EQ(rdv::meta_u64(txn, "last_seq"), 2u);
  std::string_view v;
  ASSERT_EQ(txn.get(rdv::Db::ChangeLog, rdv::key_u64(2), &v), 0);
  rdv::ChangeRecord rec;
  ASSERT_TRUE(rdv::decode_change(v, &rec));
  EXPECT_EQ(rec.type, rdv::ChangeType::Deregister);
  ASSERT_EQ(rec.ops.size(), 1u);
  EXPECT_FALSE(rec.ops[0].is_put);
  EXPECT_EQ(rec.ops[0].key, rdv::key_u32(1));
  EXPECT_EQ(txn.get(rdv::Db::Nodes, rdv::key_u32(1), &v), MDB_NOTFOUND);
}

TEST_F(StoreTest, OpenWithoutCreateOnEmptyDirFailsNamingDataFile) {
  std::string err;
  auto env = open(false, &err);
  EXPECT_EQ(env, nullptr);
  EXPECT_NE(err.find("data.mdb"), std::string::npos) << err;
}

TEST_F(StoreTest, GarbageDataFileRefused) {
  write_garbage_data_file(64 * 1024);
  for (bool create : {false, true}) {
    std::string err;
    auto env = open(create, &err);
    EXPECT_EQ(env, nullptr) << "create=" << create;
    EXPECT_NE(err.find("data.mdb"), std::string::npos) << err;
  }
  // The file was not replaced by an empty store.
  struct stat st;
  ASSERT_EQ(stat((dir_.path() + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 * 1024);
}

TEST_F(StoreTest, CorruptedExistingStoreRefused) {
  {
    auto env = open_ok(true);
    ASSERT_NE(env, nullptr);
    rdv::Txn txn;
    ASSERT_EQ(env->begin_write(&txn), 0);
    rdv::Mutation m(txn, rdv::ChangeType::Register);
    ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(1), rdv::encode_node(make_node(1))), 0);
    ASSERT_EQ(m.finish(1), 0);
    ASSERT_EQ(txn.commit(), 0);
  }
  struct stat st;
  ASSERT_EQ(stat((dir_.path() + "/data.mdb").c_str(), &st), 0);
  write_garbage_data_file(size_t(st.st_size));
  std::string err;
  EXPECT_EQ(open(false, &err), nullptr);
  EXPECT_NE(err.find("data.mdb"), std::string::npos) << err;
  EXPECT_EQ(open(true, &err), nullptr);
  EXPECT_NE(err.find("data.mdb"), std::string::npos) << err;
}

TEST_F(StoreTest, TinyTruncatedDataFileRefused) {
  write_garbage_data_file(100);
  std::string err;
  EXPECT_EQ(open(true, &err), nullptr);
  EXPECT_NE(err.find("data.mdb"), std::string::npos) << err;
}

TEST_F(StoreTest, GrowDoublesMapSize) {
  std::string err;
  auto env = open(true, &err, 1ull << 22);
  ASSERT_NE(env, nullptr) << err;
  uint64_t before = env->map_size();
  EXPECT_GE(before, 1ull << 22);
  ASSERT_EQ(env->grow(), 0);
  EXPECT_EQ(env->map_size(), before * 2);
  ASSERT_EQ(env->grow(), 0);
  EXPECT_EQ(env->map_size(), before * 4);
  // Still usable after growing.
  rdv::Txn txn;
  ASSERT_EQ(env->begin_write(&txn), 0);
  ASSERT_EQ(txn.put(rdv::Db::Meta, "k", "v"), 0);
  ASSERT_EQ(txn.commit(), 0);
}

TEST_F(StoreTest, GrowLetsAFullMapAcceptMore) {
  std::string err;
  auto env = open(true, &err, 1ull << 20);  // 1 MiB
  ASSERT_NE(env, nullptr) << err;
  std::string big(200 * 1024, 'x');
  int rc = 0;
  uint32_t i = 0;
  // Fill until the map is full.
  for (; i < 64; i++) {
    rdv::Txn txn;
    ASSERT_EQ(env->begin_write(&txn), 0);
    rc = txn.put(rdv::Db::Nodes, rdv::key_u32(i), big);
    if (rc == 0) rc = txn.commit();
    if (rc != 0) break;
  }
  ASSERT_EQ(rc, MDB_MAP_FULL);
  ASSERT_EQ(env->grow(), 0);
  rdv::Txn txn;
  ASSERT_EQ(env->begin_write(&txn), 0);
  ASSERT_EQ(txn.put(rdv::Db::Nodes, rdv::key_u32(i), big), 0);
  ASSERT_EQ(txn.commit(), 0);
}

TEST_F(StoreTest, CursorIteratesInBigEndianKeyOrder) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  const std::vector<uint32_t> ids = {256, 1, 65536, 2, 0xFFFFFFFF, 255, 0x01000000};
  {
    rdv::Txn txn;
    ASSERT_EQ(env->begin_write(&txn), 0);
    for (uint32_t id : ids) ASSERT_EQ(txn.put(rdv::Db::Nodes, rdv::key_u32(id), std::to_string(id)), 0);
    ASSERT_EQ(txn.commit(), 0);
  }
  rdv::Txn txn;
  ASSERT_EQ(env->begin_read(&txn), 0);
  std::vector<uint32_t> seen;
  {
    rdv::Cursor c(txn, rdv::Db::Nodes);
    for (bool ok = c.seek(); ok; ok = c.next()) {
      seen.push_back(rdv::read_u32(c.key()));
      EXPECT_EQ(c.value(), std::to_string(rdv::read_u32(c.key())));
    }
    EXPECT_EQ(c.error(), 0);
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 255, 256, 65536, 0x01000000, 0xFFFFFFFF}));

  rdv::Cursor c(txn, rdv::Db::Nodes);
  ASSERT_TRUE(c.seek(rdv::key_u32(3)));
  EXPECT_EQ(rdv::read_u32(c.key()), 255u);
  ASSERT_TRUE(c.last());
  EXPECT_EQ(rdv::read_u32(c.key()), 0xFFFFFFFFu);
  EXPECT_FALSE(c.next());
}

TEST_F(StoreTest, EmptyDatabaseCursor) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  rdv::Txn txn;
  ASSERT_EQ(env->begin_read(&txn), 0);
  rdv::Cursor c(txn, rdv::Db::Trust);
  EXPECT_FALSE(c.seek());
  EXPECT_EQ(c.error(), 0);
}

}  // namespace

namespace {

// A store whose data.mdb was cut short (disk full, bad copy): the meta pages are intact but
// the pages they point to are beyond the end of the file. Open must refuse it with a message
// naming data.mdb, not crash (touching a mapped page past EOF raises SIGBUS), so the worker
// can exit with the configuration code. Runs in a death-test child so a crash is reported
// as a failure instead of ending the test binary.
TEST_F(StoreTest, TruncatedDataFileRefusedWithoutCrashing) {
  {
    auto env = open_ok(true);
    ASSERT_NE(env, nullptr);
    rdv::Txn txn;
    ASSERT_EQ(env->begin_write(&txn), 0);
    rdv::Mutation m(txn, rdv::ChangeType::Register);
    for (uint32_t id = 1; id <= 2000; id++)
      ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(id), rdv::encode_node(make_node(id))), 0);
    ASSERT_EQ(m.finish(1), 0);
    ASSERT_EQ(txn.commit(), 0);
  }
  std::string path = dir_.path() + "/data.mdb";
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  ASSERT_GT(st.st_size, 64 * 1024);
  ASSERT_EQ(truncate(path.c_str(), 3 * 4096), 0);
  EXPECT_EXIT(
      {
        std::string err;
        auto env = open(false, &err);
        if (env) {
          fprintf(stderr, "opened a truncated store\n");
          _exit(1);
        }
        fprintf(stderr, "refused: %s\n", err.c_str());
        _exit(err.find("data.mdb") != std::string::npos ? 0 : 2);
      },
      ::testing::ExitedWithCode(0), "refused: .*data.mdb");
}

}  // namespace
