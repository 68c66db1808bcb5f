// Store format 2 (shared/store.h): stable database ids, the v2 change-log record (version,
// sequence, epoch, type, ops, CRC32C) and everything decode_change must refuse, ops on local
// databases refused, the consumers database, the integrity check of the change log at open,
// and the migration of a format-1 store built by hand with raw LMDB calls.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crc32c.h"
#include "store.h"
#include "worker-registry/registry.h"

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/rdv-format-XXXXXX";
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

std::unique_ptr<rdv::Env> open_env(const std::string& dir, bool create, std::string* err) {
  auto env = std::make_unique<rdv::Env>();
  rdv::EnvOptions o;
  o.dir = dir;
  o.create = create;
  o.map_size = 1ull << 24;
  o.max_readers = 16;
  if (!env->open(o, err)) return nullptr;
  return env;
}

rdv::ChangeRecord sample_record() {
  rdv::ChangeRecord r;
  r.seq = 42;
  r.epoch = 7;
  r.type = rdv::ChangeType::SetTags;
  r.ops.push_back({true, rdv::Db::Nodes, rdv::key_u32(5), std::string("value\0bytes", 11)});
  r.ops.push_back({false, rdv::Db::HostIndex, "old-name", ""});
  r.ops.push_back({true, rdv::Db::Trust, rdv::key_u32(1) + rdv::key_u32(2), ""});
  return r;
}

// Appends a correct checksum to a hand-made record body.
std::string with_crc(std::string body) { return body + rdv::key_u32(rdv::crc32c(body)); }

// The v2 header for hand-made records: version, seq 1, epoch 1, type register.
std::string header(uint8_t version = 2) {
  return std::string(1, char(version)) + rdv::key_u64(1) + rdv::key_u64(1) + char(2);
}

std::string decode_error(std::string_view bytes) {
  rdv::ChangeRecord r;
  std::string why;
  EXPECT_FALSE(rdv::decode_change(bytes, &r, &why));
  EXPECT_FALSE(why.empty());
  return why;
}

TEST(StoreStableIds, NumbersNeverChange) {
  // The contract written into every record: this table may only ever grow.
  const std::pair<rdv::Db, uint8_t> expected[] = {
      {rdv::Db::Meta, 1},     {rdv::Db::Nodes, 2},    {rdv::Db::KeyIndex, 3}, {rdv::Db::HostIndex, 4},
      {rdv::Db::OwnerIndex, 5}, {rdv::Db::Liveness, 6}, {rdv::Db::Networks, 7}, {rdv::Db::Members, 8},
      {rdv::Db::Trust, 9},    {rdv::Db::ChangeLog, 10}, {rdv::Db::Consumers, 11}, {rdv::Db::NetNames, 12},
      {rdv::Db::Invites, 13}, {rdv::Db::Handshakes, 14}, {rdv::Db::Pending, 15}, {rdv::Db::Responses, 16},
      {rdv::Db::Beacons, 17}, {rdv::Db::Audit, 18}, {rdv::Db::Settings, 19}, {rdv::Db::Nonces, 20},
      {rdv::Db::PreAssign, 21}, {rdv::Db::SentInvites, 22}, {rdv::Db::Accept, 23},
  };
  ASSERT_EQ(std::size(expected), size_t(rdv::Db::Count));
  for (auto [db, id] : expected) {
    EXPECT_EQ(rdv::db_stable_id(db), id) << rdv::db_name(db);
    rdv::Db back;
    ASSERT_TRUE(rdv::db_from_stable_id(id, &back));
    EXPECT_EQ(back, db);
  }
  rdv::Db db;
  for (int id : {0, 24, 100, 255}) EXPECT_FALSE(rdv::db_from_stable_id(uint8_t(id), &db)) << id;
  EXPECT_FALSE(rdv::db_is_replicated(rdv::Db::ChangeLog));
  EXPECT_FALSE(rdv::db_is_replicated(rdv::Db::Consumers));
  EXPECT_TRUE(rdv::db_is_replicated(rdv::Db::Liveness));
  EXPECT_STREQ(rdv::db_name(rdv::Db::Consumers), "consumers");
}

TEST(StoreChangeTypes, NumbersNeverChange) {
  EXPECT_EQ(uint8_t(rdv::ChangeType::Init), 1);
  EXPECT_EQ(uint8_t(rdv::ChangeType::Register), 2);
  EXPECT_EQ(uint8_t(rdv::ChangeType::Deregister), 3);
  EXPECT_EQ(uint8_t(rdv::ChangeType::Liveness), 4);  // retired, reserved
  EXPECT_EQ(uint8_t(rdv::ChangeType::SetHostname), 5);
  EXPECT_EQ(uint8_t(rdv::ChangeType::SetVisibility), 6);
  EXPECT_EQ(uint8_t(rdv::ChangeType::SetTags), 7);
  EXPECT_EQ(uint8_t(rdv::ChangeType::Reap), 8);
  EXPECT_STREQ(rdv::change_type_name(rdv::ChangeType(200)), "unknown");
}

TEST(StoreChangeCodecV2, LayoutAndRoundTrip) {
  rdv::ChangeRecord r = sample_record();
  std::string bytes = rdv::encode_change(r);
  ASSERT_GT(bytes.size(), 22u);
  EXPECT_EQ(uint8_t(bytes[0]), rdv::kChangeRecordVersion);
  EXPECT_EQ(rdv::read_u64(bytes.substr(1, 8)), 42u);
  EXPECT_EQ(rdv::read_u64(bytes.substr(9, 8)), 7u);
  EXPECT_EQ(uint8_t(bytes[17]), 7);  // SetTags
  EXPECT_EQ(uint8_t(bytes[18]), 3);  // op count
  EXPECT_EQ(uint8_t(bytes[19]), 1);  // put
  EXPECT_EQ(uint8_t(bytes[20]), 2);  // stable id of nodes
  EXPECT_EQ(rdv::read_u32(bytes.substr(bytes.size() - 4)), rdv::crc32c(std::string_view(bytes).substr(0, bytes.size() - 4)));

  rdv::ChangeRecord back;
  std::string why;
  ASSERT_TRUE(rdv::decode_change(bytes, &back, &why)) << why;
  EXPECT_EQ(back.seq, 42u);
  EXPECT_EQ(back.epoch, 7u);
  EXPECT_EQ(back.type, rdv::ChangeType::SetTags);
  ASSERT_EQ(back.ops.size(), r.ops.size());
  for (size_t i = 0; i < r.ops.size(); i++) {
    EXPECT_EQ(back.ops[i].is_put, r.ops[i].is_put);
    EXPECT_EQ(back.ops[i].db, r.ops[i].db);
    EXPECT_EQ(back.ops[i].key, r.ops[i].key);
    EXPECT_EQ(back.ops[i].value, r.ops[i].value);
  }
}

TEST(StoreChangeCodecV2, EmptyOpListAndUnknownTypeDecode) {
  rdv::ChangeRecord r;
  r.seq = 1;
  r.epoch = 1;
  r.type = rdv::ChangeType(99);  // a newer writer's type: described, still applicable
  rdv::ChangeRecord back;
  ASSERT_TRUE(rdv::decode_change(rdv::encode_change(r), &back));
  EXPECT_EQ(uint8_t(back.type), 99);
  EXPECT_TRUE(back.ops.empty());
}

TEST(StoreChangeCodecV2, WrongVersionRefused) {
  std::string bytes = rdv::encode_change(sample_record());
  for (uint8_t v : {0, 1, 3, 255}) {
    std::string b = bytes;
    b[0] = char(v);
    EXPECT_NE(decode_error(with_crc(b.substr(0, b.size() - 4))).find("version"), std::string::npos);
  }
}

TEST(StoreChangeCodecV2, EveryFlippedBitRefused) {
  std::string bytes = rdv::encode_change(sample_record());
  for (size_t i = 0; i < bytes.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string b = bytes;
      b[i] = char(b[i] ^ (1 << bit));
      rdv::ChangeRecord out;
      EXPECT_FALSE(rdv::decode_change(b, &out)) << i << ":" << bit;
    }
  }
  std::string b = bytes;
  b[25] ^= 0x10;
  EXPECT_NE(decode_error(b).find("checksum"), std::string::npos);
}

TEST(StoreChangeCodecV2, TruncationAndTrailingGarbageRefused) {
  std::string bytes = rdv::encode_change(sample_record());
  rdv::ChangeRecord out;
  for (size_t n = 0; n < bytes.size(); n++)
    EXPECT_FALSE(rdv::decode_change(std::string_view(bytes).substr(0, n), &out)) << n;
  // Garbage after the checksum.
  EXPECT_FALSE(rdv::decode_change(bytes + "x", &out));
  // Garbage inside the checksummed body, with a checksum that covers it.
  std::string body = bytes.substr(0, bytes.size() - 4) + "xyz";
  EXPECT_NE(decode_error(with_crc(body)).find("after the last op"), std::string::npos);
  // An op count larger than the ops present, with a good checksum.
  std::string shortened = header() + char(2) + char(2) + char(2) + char(1) + "k";
  EXPECT_FALSE(rdv::decode_change(with_crc(shortened), &out));
}

TEST(StoreChangeCodecV2, UnknownOrLocalDatabaseIdRefused) {
  rdv::ChangeRecord out;
  // One delete op on stable id `id` with key "k".
  auto record = [](uint8_t id) { return with_crc(header() + char(1) + char(2) + char(id) + char(1) + "k"); };
  ASSERT_TRUE(rdv::decode_change(record(2), &out));
  EXPECT_EQ(out.ops[0].db, rdv::Db::Nodes);
  EXPECT_FALSE(out.ops[0].is_put);
  for (uint8_t id : {0, 24, 200})
    EXPECT_NE(decode_error(record(id)).find("unknown database id"), std::string::npos) << int(id);
  EXPECT_NE(decode_error(record(10)).find("changelog"), std::string::npos);
  EXPECT_NE(decode_error(record(11)).find("consumers"), std::string::npos);
  // Unknown op kind and change type 0.
  EXPECT_NE(decode_error(with_crc(header() + char(1) + char(3) + char(2) + char(1) + "k")).find("kind"), std::string::npos);
  std::string type0 = header();
  type0[17] = 0;
  EXPECT_NE(decode_error(with_crc(type0 + char(0))).find("type 0"), std::string::npos);
}

class StoreFormat : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::unique_ptr<rdv::Env> open_ok(bool create) {
    std::string err;
    auto env = open_env(dir_.path(), create, &err);
    EXPECT_NE(env, nullptr) << err;
    return env;
  }
  TempDir dir_;
};

TEST_F(StoreFormat, FreshStoreIsFormat2WithConsumers) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->format(), rdv::kStoreFormat);
  EXPECT_EQ(rdv::kStoreFormat, 4u);
  EXPECT_TRUE(env->has(rdv::Db::Consumers));
  rdv::Txn t;
  ASSERT_EQ(env->begin_read(&t), 0);
  std::string_view v;
  ASSERT_EQ(t.get(rdv::Db::Meta, "format", &v), 0);
  EXPECT_EQ(rdv::read_u32(v), rdv::kStoreFormat);
  t.abort();
  env.reset();
  env = open_ok(false);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->format(), rdv::kStoreFormat);
  EXPECT_TRUE(env->has(rdv::Db::Consumers));
}

TEST_F(StoreFormat, MutationRefusesLocalDatabases) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  rdv::Txn t;
  ASSERT_EQ(env->begin_write(&t), 0);
  rdv::Mutation m(t, rdv::ChangeType::Register);
  EXPECT_EQ(m.put(rdv::Db::ChangeLog, rdv::key_u64(1), "forged"), EINVAL);
  EXPECT_EQ(m.del(rdv::Db::ChangeLog, rdv::key_u64(1)), EINVAL);
  EXPECT_EQ(m.put(rdv::Db::Consumers, "standby", rdv::key_u64(1)), EINVAL);
  EXPECT_TRUE(m.empty());
  std::string_view v;
  EXPECT_EQ(t.get(rdv::Db::ChangeLog, rdv::key_u64(1), &v), MDB_NOTFOUND);
  ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(1), "n"), 0);
  ASSERT_EQ(m.finish(5), 0);
  ASSERT_EQ(t.get(rdv::Db::ChangeLog, rdv::key_u64(1), &v), 0);
  rdv::ChangeRecord rec;
  ASSERT_TRUE(rdv::decode_change(v, &rec));
  EXPECT_EQ(rec.seq, 1u);
  EXPECT_EQ(rec.epoch, 5u);
}

TEST_F(StoreFormat, ConsumersAcksNeverMoveBackwards) {
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  rdv::Txn t;
  ASSERT_EQ(env->begin_write(&t), 0);
  uint64_t lowest = 99;
  bool any = true;
  ASSERT_EQ(rdv::lowest_consumer_ack(t, &lowest, &any), 0);
  EXPECT_FALSE(any);
  EXPECT_EQ(lowest, 0u);

  uint64_t stored = 0;
  ASSERT_EQ(rdv::set_consumer_ack(t, "standby-b", 10, &stored), 0);
  EXPECT_EQ(stored, 10u);
  ASSERT_EQ(rdv::set_consumer_ack(t, "standby-a", 30), 0);
  ASSERT_EQ(rdv::set_consumer_ack(t, "standby-b", 5, &stored), 0);  // backwards: ignored
  EXPECT_EQ(stored, 10u);
  ASSERT_EQ(rdv::set_consumer_ack(t, "standby-b", 20, &stored), 0);
  EXPECT_EQ(stored, 20u);
  ASSERT_EQ(rdv::set_consumer_ack(t, "standby-b", 20, &stored), 0);  // same: fine
  EXPECT_EQ(rdv::set_consumer_ack(t, "", 1), EINVAL);
  EXPECT_EQ(rdv::set_consumer_ack(t, std::string(256, 'n'), 1), EINVAL);
  ASSERT_EQ(rdv::set_consumer_ack(t, std::string(255, 'n'), 0), 0);  // registered, needs all
  ASSERT_EQ(t.commit(), 0);

  ASSERT_EQ(env->begin_read(&t), 0);
  std::vector<rdv::ConsumerAck> list;
  ASSERT_EQ(rdv::list_consumers(t, &list), 0);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, std::string(255, 'n'));
  EXPECT_EQ(list[0].acked, 0u);
  EXPECT_EQ(list[1].name, "standby-a");
  EXPECT_EQ(list[1].acked, 30u);
  EXPECT_EQ(list[2].name, "standby-b");
  EXPECT_EQ(list[2].acked, 20u);
  ASSERT_EQ(rdv::lowest_consumer_ack(t, &lowest, &any), 0);
  EXPECT_TRUE(any);
  EXPECT_EQ(lowest, 0u);

  ASSERT_EQ(env->begin_write(&t), 0);
  ASSERT_EQ(rdv::remove_consumer(t, std::string(255, 'n')), 0);
  ASSERT_EQ(rdv::remove_consumer(t, "never-registered"), 0);
  ASSERT_EQ(rdv::lowest_consumer_ack(t, &lowest, &any), 0);
  EXPECT_TRUE(any);
  EXPECT_EQ(lowest, 20u);
  // Acks are local: none of this reached the change log.
  EXPECT_EQ(rdv::meta_u64(t, "last_seq"), 0u);
  ASSERT_EQ(rdv::clear_consumers(t), 0);
  ASSERT_EQ(rdv::list_consumers(t, &list), 0);
  EXPECT_TRUE(list.empty());
  ASSERT_EQ(rdv::set_consumer_ack(t, "after-clear", 3), 0);  // the handle survives the drop
  ASSERT_EQ(t.commit(), 0);
}

TEST_F(StoreFormat, DamagedChangeLogRecordRefusedAtOpen) {
  {
    auto env = open_ok(true);
    ASSERT_NE(env, nullptr);
    rdv::Txn t;
    ASSERT_EQ(env->begin_write(&t), 0);
    for (int i = 0; i < 3; i++) {
      rdv::Mutation m(t, rdv::ChangeType::Register);
      ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(i), "n"), 0);
      ASSERT_EQ(m.finish(1), 0);
    }
    // Damage the newest record as a torn write would.
    std::string_view v;
    ASSERT_EQ(t.get(rdv::Db::ChangeLog, rdv::key_u64(3), &v), 0);
    std::string bad(v);
    bad[bad.size() / 2] ^= 0x01;
    ASSERT_EQ(t.put(rdv::Db::ChangeLog, rdv::key_u64(3), bad), 0);
    ASSERT_EQ(t.commit(), 0);
  }
  for (bool create : {true, false}) {
    std::string err;
    EXPECT_EQ(open_env(dir_.path(), create, &err), nullptr);
    EXPECT_NE(err.find("change-log record 3"), std::string::npos) << err;
    EXPECT_NE(err.find("data.mdb"), std::string::npos) << err;
  }
}

TEST_F(StoreFormat, NewerFormatRefused) {
  {
    auto env = open_ok(true);
    ASSERT_NE(env, nullptr);
    rdv::Txn t;
    ASSERT_EQ(env->begin_write(&t), 0);
    ASSERT_EQ(t.put(rdv::Db::Meta, "format", rdv::key_u32(5)), 0);
    ASSERT_EQ(t.commit(), 0);
  }
  std::string err;
  EXPECT_EQ(open_env(dir_.path(), false, &err), nullptr);
  EXPECT_NE(err.find("unsupported store format 5"), std::string::npos) << err;
}

// ---- migration from format 1 ----

// A v1 record as store format 1 wrote it: u64 epoch | u8 type | varint n | ops with the Db
// ordinal (meta 0 … trust 8). Hand-written so the test does not depend on the code it tests.
struct V1Op {
  bool put;
  uint8_t ordinal;
  std::string key, value;
};
std::string v1_record(uint64_t epoch, uint8_t type, const std::vector<V1Op>& ops) {
  std::string out = rdv::key_u64(epoch);
  out += char(type);
  out += char(ops.size());  // < 128: one varint byte
  for (auto& op : ops) {
    out += char(op.put ? 1 : 2);
    out += char(op.ordinal);
    out += char(op.key.size());
    out += op.key;
    if (op.put) {
      // Values up to 16383 bytes: two varint bytes when >= 128.
      size_t n = op.value.size();
      if (n >= 128) {
        out += char(0x80 | (n & 0x7f));
        out += char(n >> 7);
      } else {
        out += char(n);
      }
      out += op.value;
    }
  }
  return out;
}

class Format1Store : public StoreFormat {
 protected:
  // Builds a format-1 store with raw LMDB: the ten databases of format 1 (no consumers),
  // meta "format" = 1, and `records` change-log records; record `corrupt_seq` (if any) is
  // garbage.
  void build(uint64_t records, uint64_t corrupt_seq = 0, uint64_t map_size = 1ull << 24, size_t liveness_bytes = 300) {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    std::unique_ptr<MDB_env, void (*)(MDB_env*)> owner(env, mdb_env_close);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 32), 0);
    ASSERT_EQ(mdb_env_set_mapsize(env, map_size), 0);
    ASSERT_EQ(mdb_env_open(env, dir_.path().c_str(), MDB_NOTLS, 0640), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    const char* names[] = {"meta", "nodes", "keyidx", "hostidx", "owneridx", "liveness",
                           "networks", "members", "trust", "changelog"};
    MDB_dbi dbi[10];
    for (int i = 0; i < 10; i++) ASSERT_EQ(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi[i]), 0);
    auto put = [&](int db, const std::string& k, const std::string& v) {
      MDB_val key{k.size(), const_cast<char*>(k.data())}, val{v.size(), const_cast<char*>(v.data())};
      ASSERT_EQ(mdb_put(txn, dbi[db], &key, &val, 0), 0);
    };
    put(0, "format", rdv::key_u32(1));
    put(0, "epoch", rdv::key_u64(3));
    put(0, "last_seq", rdv::key_u64(records));
    put(0, "next_node", rdv::key_u64(records + 1));  // what an old registry left behind
    put(0, "next_net", rdv::key_u64(1));
    for (uint64_t seq = 1; seq <= records; seq++) {
      std::string rec;
      if (seq == corrupt_seq) {
        rec = "\x01garbage";
      } else if (seq == 1) {
        rec = v1_record(1, 1, {{true, 0, "next_node", rdv::key_u64(1)}, {true, 6, rdv::key_u16(0), "{}"}});
      } else if (seq % 3 == 0) {
        // A liveness flush (retired type 4) with a big value, so records span pages.
        rec = v1_record(3, 4, {{true, 5, rdv::key_u32(uint32_t(seq)), std::string(liveness_bytes, 'l')}});
      } else {
        rec = v1_record(3, 2, {{true, 1, rdv::key_u32(uint32_t(seq)), "node"},
                               {true, 3, "host-" + std::to_string(seq), rdv::key_u32(uint32_t(seq))},
                               {false, 8, rdv::key_u64(seq), ""}});
      }
      put(9, rdv::key_u64(seq), rec);
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
  }

  uint32_t raw_format() {
    std::string err;
    auto env = open_env(dir_.path(), false, &err);
    EXPECT_NE(env, nullptr) << err;
    if (!env) return 0;
    return env->format();
  }
};

TEST_F(Format1Store, ReaderOpensItAsItIs) {
  build(10);
  auto env = open_ok(false);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->format(), 1u);
  EXPECT_FALSE(env->has(rdv::Db::Consumers));
  EXPECT_TRUE(env->has(rdv::Db::ChangeLog));
  rdv::Txn t;
  ASSERT_EQ(env->begin_read(&t), 0);
  EXPECT_EQ(rdv::meta_u64(t, "last_seq"), 10u);
  std::vector<rdv::ConsumerAck> list{{"x", 1}};
  ASSERT_EQ(rdv::list_consumers(t, &list), 0);
  EXPECT_TRUE(list.empty());
  uint64_t lowest;
  bool any = true;
  ASSERT_EQ(rdv::lowest_consumer_ack(t, &lowest, &any), 0);
  EXPECT_FALSE(any);
  std::string_view v;
  EXPECT_EQ(t.get(rdv::Db::Consumers, "x", &v), MDB_NOTFOUND);
  MDB_stat st;
  ASSERT_EQ(t.stat(rdv::Db::Consumers, &st), 0);
  EXPECT_EQ(st.ms_entries, 0u);
  rdv::Cursor c(t, rdv::Db::Consumers);
  EXPECT_FALSE(c.seek());
  EXPECT_EQ(c.error(), 0);
  // The records are v1, which decode_change refuses (version byte 0 = the epoch's top byte).
  ASSERT_EQ(t.get(rdv::Db::ChangeLog, rdv::key_u64(2), &v), 0);
  rdv::ChangeRecord rec;
  std::string why;
  EXPECT_FALSE(rdv::decode_change(v, &rec, &why));
  EXPECT_NE(why.find("version 0"), std::string::npos) << why;
  t.abort();
  env.reset();
  EXPECT_EQ(raw_format(), 1u);  // a reader never migrates
}

TEST_F(Format1Store, WriterMigratesEveryRecordInOneTransaction) {
  const uint64_t kRecords = 3000;
  build(kRecords);
  {
    auto env = open_ok(true);
    ASSERT_NE(env, nullptr);
    EXPECT_EQ(env->format(), rdv::kStoreFormat);
    EXPECT_TRUE(env->has(rdv::Db::Consumers));
    rdv::Txn t;
    ASSERT_EQ(env->begin_write(&t), 0);
    ASSERT_EQ(rdv::set_consumer_ack(t, "standby", 5), 0);
    ASSERT_EQ(t.commit(), 0);
  }
  auto env = open_ok(false);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->format(), rdv::kStoreFormat);
  rdv::Txn t;
  ASSERT_EQ(env->begin_read(&t), 0);
  std::string_view v;
  ASSERT_EQ(t.get(rdv::Db::Meta, "format", &v), 0);
  EXPECT_EQ(rdv::read_u32(v), rdv::kStoreFormat);
  // The old epoch stays in meta for the registry to move into the epoch file.
  EXPECT_EQ(rdv::meta_u64(t, "epoch"), 3u);
  EXPECT_EQ(rdv::meta_u64(t, "last_seq"), kRecords);
  uint64_t expected = 1;
  rdv::Cursor c(t, rdv::Db::ChangeLog);
  for (bool ok = c.seek(); ok; ok = c.next(), expected++) {
    uint64_t seq = rdv::read_u64(c.key());
    ASSERT_EQ(seq, expected);
    rdv::ChangeRecord rec;
    std::string why;
    ASSERT_TRUE(rdv::decode_change(c.value(), &rec, &why)) << seq << ": " << why;
    EXPECT_EQ(rec.seq, seq);
    if (seq == 1) {
      EXPECT_EQ(rec.epoch, 1u);
      EXPECT_EQ(rec.type, rdv::ChangeType::Init);
      ASSERT_EQ(rec.ops.size(), 2u);
      EXPECT_EQ(rec.ops[0].db, rdv::Db::Meta);
      EXPECT_EQ(rec.ops[0].key, "next_node");
      EXPECT_EQ(rec.ops[1].db, rdv::Db::Networks);  // ordinal 6 in format 1
      EXPECT_EQ(rec.ops[1].value, "{}");
    } else if (seq % 3 == 0) {
      EXPECT_EQ(rec.type, rdv::ChangeType::Liveness);
      ASSERT_EQ(rec.ops.size(), 1u);
      EXPECT_EQ(rec.ops[0].db, rdv::Db::Liveness);  // ordinal 5
      EXPECT_EQ(rec.ops[0].value, std::string(300, 'l'));
    } else {
      EXPECT_EQ(rec.epoch, 3u);
      EXPECT_EQ(rec.type, rdv::ChangeType::Register);
      ASSERT_EQ(rec.ops.size(), 3u);
      EXPECT_EQ(rec.ops[0].db, rdv::Db::Nodes);
      EXPECT_EQ(rec.ops[0].key, rdv::key_u32(uint32_t(seq)));
      EXPECT_EQ(rec.ops[1].db, rdv::Db::HostIndex);
      EXPECT_EQ(rec.ops[1].key, "host-" + std::to_string(seq));
      EXPECT_EQ(rec.ops[2].db, rdv::Db::Trust);
      EXPECT_FALSE(rec.ops[2].is_put);
    }
  }
  EXPECT_EQ(c.error(), 0);
  EXPECT_EQ(expected, kRecords + 1);
  std::vector<rdv::ConsumerAck> list;
  ASSERT_EQ(rdv::list_consumers(t, &list), 0);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].acked, 5u);
}

TEST_F(Format1Store, CorruptV1RecordStopsMigrationAndChangesNothing) {
  build(20, 7);
  std::string err;
  EXPECT_EQ(open_env(dir_.path(), true, &err), nullptr);
  EXPECT_NE(err.find("change-log record 7"), std::string::npos) << err;
  EXPECT_NE(err.find("migration"), std::string::npos) << err;
  EXPECT_EQ(raw_format(), 1u);
  auto env = open_ok(false);
  ASSERT_NE(env, nullptr);
  EXPECT_FALSE(env->has(rdv::Db::Consumers));  // not created by the failed migration
}

TEST_F(Format1Store, MigrationGrowsANearlyFullMap) {
  // ~1.3 MiB of records in a 2 MiB map: re-encoding copies every page, which does not fit.
  build(300, 0, 2ull << 20, 12000);
  auto env = std::make_unique<rdv::Env>();
  rdv::EnvOptions o;
  o.dir = dir_.path();
  o.create = true;
  o.map_size = 2ull << 20;
  o.max_readers = 16;
  std::string err;
  ASSERT_TRUE(env->open(o, &err)) << err;
  EXPECT_EQ(env->format(), rdv::kStoreFormat);
  EXPECT_GT(env->map_size(), 2ull << 20);
  rdv::Txn t;
  ASSERT_EQ(env->begin_read(&t), 0);
  std::string_view v;
  ASSERT_EQ(t.get(rdv::Db::ChangeLog, rdv::key_u64(300), &v), 0);
  rdv::ChangeRecord rec;
  EXPECT_TRUE(rdv::decode_change(v, &rec));
}

TEST_F(Format1Store, EmptyChangeLogMigrates) {
  build(0);
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->format(), rdv::kStoreFormat);
}

// The registry on a migrated store: it loads (no re-initialisation), moves the old epoch
// from meta into the epoch file, and the sequence continues with v2 records.
TEST_F(Format1Store, RegistryRunsOnAMigratedStore) {
  build(50);
  auto env = open_ok(true);
  ASSERT_NE(env, nullptr);
  rdv::Config cfg;
  cfg.data_dir = dir_.path();
  rdv::registry::Registry reg(cfg, *env, nullptr);
  std::string err;
  ASSERT_TRUE(reg.load(&err)) << err;
  EXPECT_EQ(reg.epoch(), 3u);
  {
    rdv::Txn w;
    ASSERT_EQ(env->begin_write(&w), 0);
    rdv::Mutation m(w, rdv::ChangeType::SetTags);
    ASSERT_EQ(m.put(rdv::Db::Nodes, rdv::key_u32(9999), "n"), 0);
    ASSERT_EQ(m.finish(reg.epoch()), 0);
    ASSERT_EQ(w.commit(), 0);
  }
  rdv::Txn t;
  ASSERT_EQ(env->begin_read(&t), 0);
  EXPECT_EQ(rdv::meta_u64(t, "last_seq"), 51u);
  std::string_view v;
  ASSERT_EQ(t.get(rdv::Db::ChangeLog, rdv::key_u64(51), &v), 0);
  rdv::ChangeRecord rec;
  std::string why;
  ASSERT_TRUE(rdv::decode_change(v, &rec, &why)) << why;
  EXPECT_EQ(rec.seq, 51u);
  EXPECT_EQ(rec.epoch, 3u);
  EXPECT_EQ(rec.type, rdv::ChangeType::SetTags);
}

}  // namespace
