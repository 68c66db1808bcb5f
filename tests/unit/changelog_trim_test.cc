// Change-log trimming: the pure rule (plan_changelog_trim / trim_may_drop in shared/store.h)
// row by row, the bounded helper trim_changelog() on a real store, and the registry writer's
// own trim: bounded by record count, by what consumers have acknowledged and by disk space,
// oldest first, never the newest record.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <poll.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>

#include "store.h"
#include "worker-registry/registry.h"
#include "worker-registry/writer.h"

namespace {

class ChangelogTrim : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-trim-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string err;
    ASSERT_TRUE(env_.open(rdv::EnvOptions{dir_ + "/data", 64ull << 20, 126, true}, &err)) << err;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Appends `n` records of `value_bytes` each in one transaction.
  void append(int n, size_t value_bytes) {
    rdv::Txn t;
    ASSERT_EQ(env_.begin_write(&t), 0);
    for (int i = 0; i < n; i++) {
      rdv::Mutation m(t, rdv::ChangeType::SetTags);
      ASSERT_EQ(m.put(rdv::Db::Meta, "filler", std::string(value_bytes, 'x')), 0);
      ASSERT_EQ(m.finish(1), 0);
    }
    ASSERT_EQ(t.commit(), 0);
  }

  // Hands the writer one batch that only trims, and waits for it to come back.
  void trim(const rdv::Config& cfg) {
    rdv::registry::Writer writer(env_, nullptr);
    std::string err;
    ASSERT_TRUE(writer.start(&err)) << err;
    auto b = std::make_unique<rdv::registry::Batch>();
    b->cfg = std::make_shared<const rdv::Config>(cfg);
    b->trim = true;
    writer.submit(std::move(b));
    pollfd p{writer.notify_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 60000), 1);
    auto done = writer.take_finished();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->rc, 0);
  }

  uint64_t count() {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    MDB_stat st;
    mdb_stat(t.get(), env_.dbi(rdv::Db::ChangeLog), &st);
    return st.ms_entries;
  }

  std::string dir_;
  rdv::Env env_;
};

TEST_F(ChangelogTrim, KeepsTheNewestRecordsByCount) {
  rdv::Config cfg;
  cfg.changelog_keep = 100;
  cfg.data_dir = dir_ + "/data";
  rdv::registry::Registry reg(cfg, env_, nullptr);
  std::string err;
  ASSERT_TRUE(reg.load(&err)) << err;
  append(300, 10);
  uint64_t before = count();
  ASSERT_GE(before, 300u);
  trim(cfg);
  EXPECT_EQ(count(), 100u);
  // The survivors are the newest: the first key is last_seq - 99.
  rdv::Txn t;
  ASSERT_EQ(env_.begin_read(&t), 0);
  rdv::Cursor c(t, rdv::Db::ChangeLog);
  ASSERT_TRUE(c.seek());
  EXPECT_EQ(rdv::read_u64(c.key()), rdv::meta_u64(t, "last_seq") - 99);
}

TEST_F(ChangelogTrim, KeepsTheLogUnderItsDiskBudget) {
  rdv::Config cfg;
  cfg.changelog_keep = 1000000;
  cfg.changelog_max_mb = 1;
  cfg.data_dir = dir_ + "/data";
  rdv::registry::Registry reg(cfg, env_, nullptr);
  std::string err;
  ASSERT_TRUE(reg.load(&err)) << err;
  append(200, 20000);  // ~4 MiB of records
  trim(cfg);
  uint64_t left = count();
  EXPECT_LT(left, 200u);
  EXPECT_GE(left, 1u);
  rdv::Txn t;
  ASSERT_EQ(env_.begin_read(&t), 0);
  MDB_stat st;
  mdb_stat(t.get(), env_.dbi(rdv::Db::ChangeLog), &st);
  // Within the budget, give or take the records deleted this call could not free yet.
  EXPECT_LE(uint64_t(st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize, (2ull << 20));
}

// ---- the pure rule ----

rdv::TrimInputs inputs(uint64_t last, uint64_t keep, std::optional<uint64_t> ack = std::nullopt,
                       uint64_t bytes = 0, uint64_t max_bytes = 1ull << 30) {
  rdv::TrimInputs in;
  in.last_seq = last;
  in.keep = keep;
  in.lowest_ack = ack;
  in.log_bytes = bytes;
  in.max_bytes = max_bytes;
  return in;
}

// The seqs (from `first`, oldest first, each record `record_bytes`) the rule drops.
uint64_t dropped_through(const rdv::TrimPlan& plan, uint64_t first, uint64_t last, uint64_t record_bytes) {
  uint64_t freed = 0, seq = first;
  for (; seq <= last && rdv::trim_may_drop(plan, seq, freed); seq++) freed += record_bytes;
  return seq - 1;
}

TEST(ChangelogTrimPlan, NoConsumersKeepsTheNewestByCount) {
  rdv::TrimPlan p = rdv::plan_changelog_trim(inputs(100, 10));
  EXPECT_EQ(p.drop_through, 90u);
  EXPECT_EQ(p.bytes_over, 0u);
  EXPECT_EQ(p.newest_droppable, 99u);
  EXPECT_TRUE(rdv::trim_may_drop(p, 1, 0));
  EXPECT_TRUE(rdv::trim_may_drop(p, 90, 0));
  EXPECT_FALSE(rdv::trim_may_drop(p, 91, 0));
  EXPECT_EQ(dropped_through(p, 1, 100, 10), 90u);
}

TEST(ChangelogTrimPlan, ConsumerBehindHoldsTheLog) {
  rdv::TrimPlan p = rdv::plan_changelog_trim(inputs(100, 10, 50));
  EXPECT_EQ(p.drop_through, 50u);
  EXPECT_FALSE(rdv::trim_may_drop(p, 51, 0));
  // A consumer that has applied nothing keeps everything.
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(100, 10, 0)).drop_through, 0u);
  EXPECT_FALSE(rdv::trim_may_drop(rdv::plan_changelog_trim(inputs(100, 10, 0)), 1, 0));
}

TEST(ChangelogTrimPlan, ConsumerAheadDoesNotOverrideKeep) {
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(100, 10, 95)).drop_through, 90u);
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(100, 10, 100)).drop_through, 90u);
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(100, 10, 1000)).drop_through, 90u);  // ack past the end
}

TEST(ChangelogTrimPlan, KeepZeroStillKeepsTheNewest) {
  rdv::TrimPlan p = rdv::plan_changelog_trim(inputs(100, 0));
  EXPECT_EQ(p.drop_through, 99u);
  EXPECT_TRUE(rdv::trim_may_drop(p, 99, 0));
  EXPECT_FALSE(rdv::trim_may_drop(p, 100, 0));
  EXPECT_EQ(dropped_through(p, 1, 100, 1), 99u);
  // With a consumer that has everything: still not the newest.
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(100, 0, 100)).drop_through, 99u);
}

TEST(ChangelogTrimPlan, ShortOrEmptyLogKeepsEverything) {
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(10, 10)).drop_through, 0u);
  EXPECT_EQ(rdv::plan_changelog_trim(inputs(5, 10)).drop_through, 0u);
  rdv::TrimPlan empty = rdv::plan_changelog_trim(inputs(0, 0, std::nullopt, 1000, 10));
  EXPECT_EQ(empty.newest_droppable, 0u);
  EXPECT_FALSE(rdv::trim_may_drop(empty, 0, 0));
  EXPECT_FALSE(rdv::trim_may_drop(empty, 1, 0));
  rdv::TrimPlan one = rdv::plan_changelog_trim(inputs(1, 0, std::nullopt, 1000, 10));
  EXPECT_FALSE(rdv::trim_may_drop(one, 1, 0));  // the only record is the newest
}

TEST(ChangelogTrimPlan, SizeBoundOverridesAcks) {
  // 1000 records of 100 bytes; limit 60 000: 40 000 bytes over, so 400 records go although
  // the consumer has acknowledged only 10.
  rdv::TrimPlan p = rdv::plan_changelog_trim(inputs(1000, 10, 10, 100000, 60000));
  EXPECT_EQ(p.drop_through, 10u);
  EXPECT_EQ(p.bytes_over, 40000u);
  EXPECT_TRUE(rdv::trim_may_drop(p, 11, 0));
  EXPECT_TRUE(rdv::trim_may_drop(p, 500, 39999));
  EXPECT_FALSE(rdv::trim_may_drop(p, 500, 40000));
  EXPECT_EQ(dropped_through(p, 1, 1000, 100), 400u);
  // Within the limit the acks rule alone.
  EXPECT_EQ(dropped_through(rdv::plan_changelog_trim(inputs(1000, 10, 10, 60000, 60000)), 1, 1000, 100), 10u);
}

TEST(ChangelogTrimPlan, SizeBoundNeverDropsTheNewest) {
  rdv::TrimPlan p = rdv::plan_changelog_trim(inputs(1000, 10, 0, 1ull << 40, 1));
  EXPECT_EQ(dropped_through(p, 1, 1000, 100), 999u);
  EXPECT_FALSE(rdv::trim_may_drop(p, 1000, 0));
}

TEST(ChangelogTrimPlan, ALogThatStartsLaterIsJudgedBySeq) {
  // Records 1..500 already trimmed: the count rule still reads seqs, not positions.
  rdv::TrimPlan p = rdv::plan_changelog_trim(inputs(1000, 100));
  EXPECT_EQ(dropped_through(p, 501, 1000, 10), 900u);
  EXPECT_EQ(dropped_through(p, 950, 1000, 10), 949u);  // nothing to drop: the first is kept
}

// ---- the bounded helper on a real store ----

class ChangelogTrimHelper : public ChangelogTrim {
 protected:
  // Appends `n` records of about `value_bytes` each with Mutation, one transaction.
  void append_records(int n, size_t value_bytes) {
    rdv::Txn t;
    ASSERT_EQ(env_.begin_write(&t), 0);
    for (int i = 0; i < n; i++) {
      rdv::Mutation m(t, rdv::ChangeType::SetTags);
      ASSERT_EQ(m.put(rdv::Db::Meta, "filler", std::string(value_bytes, 'x')), 0);
      ASSERT_EQ(m.finish(1), 0);
    }
    ASSERT_EQ(t.commit(), 0);
  }
  uint64_t first_seq() {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    rdv::Cursor c(t, rdv::Db::ChangeLog);
    return c.seek() ? rdv::read_u64(c.key()) : 0;
  }
  rdv::TrimResult trim(const rdv::TrimLimits& limits, size_t max_records) {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_write(&t), 0);
    rdv::TrimResult r;
    EXPECT_EQ(rdv::trim_changelog(t, limits, max_records, &r), 0);
    EXPECT_EQ(t.commit(), 0);
    return r;
  }
  void ack(const char* name, uint64_t seq) {
    rdv::Txn t;
    ASSERT_EQ(env_.begin_write(&t), 0);
    ASSERT_EQ(rdv::set_consumer_ack(t, name, seq), 0);
    ASSERT_EQ(t.commit(), 0);
  }
};

TEST_F(ChangelogTrimHelper, BoundedWorkPerCall) {
  append_records(300, 10);
  rdv::TrimLimits limits{100, 1ull << 30};
  rdv::TrimResult r = trim(limits, 120);
  EXPECT_EQ(r.dropped, 120u);
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.first_kept, 121u);
  EXPECT_FALSE(r.past_ack);
  r = trim(limits, 120);
  EXPECT_EQ(r.dropped, 80u);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(r.first_kept, 201u);
  EXPECT_EQ(count(), 100u);
  r = trim(limits, 120);
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_EQ(r.first_kept, 201u);
}

TEST_F(ChangelogTrimHelper, StopsAtTheLowestAck) {
  append_records(300, 10);
  ack("standby-a", 150);
  ack("standby-b", 40);
  rdv::TrimResult r = trim({10, 1ull << 30}, 50000);
  EXPECT_EQ(r.dropped, 40u);
  EXPECT_EQ(r.lowest_ack, 40u);
  EXPECT_EQ(first_seq(), 41u);
  ack("standby-b", 400);  // ahead of the log: keep rules
  r = trim({10, 1ull << 30}, 50000);
  EXPECT_EQ(first_seq(), 150u + 1);
  {
    rdv::Txn t;
    ASSERT_EQ(env_.begin_write(&t), 0);
    ASSERT_EQ(rdv::remove_consumer(t, "standby-a"), 0);
    ASSERT_EQ(t.commit(), 0);
  }
  r = trim({10, 1ull << 30}, 50000);
  EXPECT_EQ(first_seq(), 291u);
  EXPECT_EQ(count(), 10u);
}

TEST_F(ChangelogTrimHelper, ByteLimitOverridesALaggingConsumer) {
  append_records(200, 20000);  // ~4 MiB
  ack("lagging", 5);
  rdv::TrimResult r = trim({1000000, 1ull << 20}, 50000);
  EXPECT_GT(r.dropped, 5u);
  EXPECT_TRUE(r.past_ack);
  EXPECT_GE(r.bytes_freed, 2ull << 20);  // ~3 MiB over, counted as key + value bytes
  EXPECT_GE(count(), 1u);
  rdv::Txn t;
  ASSERT_EQ(env_.begin_read(&t), 0);
  MDB_stat st;
  ASSERT_EQ(t.stat(rdv::Db::ChangeLog, &st), 0);
  EXPECT_LE(uint64_t(st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize, (2ull << 20));
}

TEST_F(ChangelogTrimHelper, NeverTheNewestAndEmptyLogIsFine) {
  rdv::TrimResult r = trim({0, 0}, 50000);  // before the registry wrote anything
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_EQ(r.first_kept, 0u);
  append_records(5, 10);
  r = trim({0, 0}, 50000);
  EXPECT_EQ(r.dropped, 4u);
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(first_seq(), 5u);
  rdv::Txn t;
  ASSERT_EQ(env_.begin_write(&t), 0);
  EXPECT_EQ(rdv::trim_changelog(t, {0, 0}, 10, nullptr), 0);
}

}  // namespace
