// The accept queue's layout (shared/accept_queue.h): record encoding and listing order.
#include <gtest/gtest.h>

#include <filesystem>

#include "shared/accept_queue.h"

namespace {

TEST(AcceptQueue, RecordRoundTrip) {
  rdv::accept::PendingRecord p{7, "a2V5", "203.0.113.7:4000", "198.51.100.2:4000", 1700000000};
  rdv::accept::PendingRecord back;
  ASSERT_TRUE(rdv::accept::decode_pending(rdv::accept::encode_pending(p), &back));
  EXPECT_EQ(back.id, 7u);
  EXPECT_EQ(back.public_key, "a2V5");
  EXPECT_EQ(back.listen_addr, "203.0.113.7:4000");
  EXPECT_EQ(back.observed_addr, "198.51.100.2:4000");
  EXPECT_EQ(back.requested_at, 1700000000);
  EXPECT_FALSE(rdv::accept::decode_pending("{}", &back));  // id 0 is never a record
  EXPECT_FALSE(rdv::accept::decode_pending("nope", &back));
}

TEST(AcceptQueue, KeysDoNotCollideAndListInIdOrder) {
  std::string raw(32, 'k');
  EXPECT_NE(rdv::accept::key_index(raw), rdv::accept::approved_key(raw));
  EXPECT_LT(rdv::accept::pending_key(2), rdv::accept::pending_key(256));  // big-endian: id order

  auto dir = std::filesystem::temp_directory_path() / ("accept-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    rdv::Env env;
    rdv::EnvOptions o;
    o.dir = dir.string();
    o.create = true;
    o.map_size = 8 << 20;
    std::string err;
    ASSERT_TRUE(env.open(o, &err)) << err;
    ASSERT_TRUE(env.has(rdv::Db::Accept));
    rdv::Txn t;
    ASSERT_EQ(env.begin_write(&t), 0);
    for (uint32_t id : {300u, 2u, 41u}) {
      rdv::accept::PendingRecord p{id, "k" + std::to_string(id), "l", "o", 1};
      ASSERT_EQ(t.put(rdv::Db::Accept, rdv::accept::pending_key(id), rdv::accept::encode_pending(p)), 0);
    }
    // The other key kinds sort around the records and are not listed.
    ASSERT_EQ(t.put(rdv::Db::Accept, rdv::accept::key_index(raw), rdv::key_u32(2)), 0);
    ASSERT_EQ(t.put(rdv::Db::Accept, rdv::accept::approved_key(raw), ""), 0);
    ASSERT_EQ(t.put(rdv::Db::Accept, rdv::accept::kCountKey, rdv::key_u32(3)), 0);
    ASSERT_EQ(t.put(rdv::Db::Accept, rdv::accept::kNextIdKey, rdv::key_u32(301)), 0);
    ASSERT_EQ(t.commit(), 0);
    ASSERT_EQ(env.begin_read(&t), 0);
    std::vector<rdv::accept::PendingRecord> list;
    ASSERT_EQ(rdv::accept::list_pending(t, &list), 0);
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].id, 2u);
    EXPECT_EQ(list[1].id, 41u);
    EXPECT_EQ(list[2].id, 300u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
