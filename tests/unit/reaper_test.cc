// The reaper's choice of stale nodes (Registry::reap_candidates): from the in-memory liveness
// table, a slice per tick, sized so a full sweep takes at most half the stale threshold. Also
// the liveness flush's bookkeeping over the same table (LivenessFlush, at the end).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "store.h"
#include "util.h"
#include "worker-registry/registry.h"

namespace {

using rdv::registry::Effect;

class Reaper : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-reaper-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string err;
    ASSERT_TRUE(env_.open(rdv::EnvOptions{dir_ + "/data", 64ull << 20, 126, true}, &err)) << err;
    cfg_.data_dir = dir_ + "/data";
    cfg_.stale_threshold_ns = 60LL * 1000000000;  // 60 s
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Loads `reg` on the empty store; its (empty) liveness database is read at once.
  void load(rdv::registry::Registry& reg) {
    std::string err;
    ASSERT_TRUE(reg.load(&err)) << err;
    ASSERT_TRUE(reg.load_liveness_step(1000));
  }
  std::string dir_;
  rdv::Env env_;
  rdv::Config cfg_;
};

TEST_F(Reaper, AFullSweepTakesAtMostHalfTheThreshold) {
  rdv::registry::Registry reg(cfg_, env_, nullptr);
  ASSERT_NO_FATAL_FAILURE(load(reg));
  const int64_t now = rdv::unix_now_ns();
  const uint32_t kNodes = 400000;
  for (uint32_t id = 1; id <= kNodes; id++) {
    // Every third node is fresh, the others went silent two thresholds ago.
    int64_t seen = id % 3 == 0 ? now : now - 2 * cfg_.stale_threshold_ns;
    reg.apply({Effect::Touch, id, seen});
  }
  const int64_t interval = 10LL * 1000000000;  // a reap tick every 10 s
  // Half the threshold is 30 s: three ticks must have visited every id.
  std::set<uint32_t> found;
  for (int tick = 0; tick < 3; tick++) {
    std::set<uint32_t> this_tick;
    for (uint32_t id : reg.reap_candidates(now, interval)) {
      EXPECT_TRUE(this_tick.insert(id).second) << "id " << id << " chosen twice in one tick";
      found.insert(id);
    }
  }
  EXPECT_EQ(found.size(), size_t(kNodes - kNodes / 3));
  for (uint32_t id : found) EXPECT_NE(id % 3, 0u) << "a fresh node was chosen";
}

// Registration churn: ids are never reused, so nodes that register, go silent and are reaped
// leave only forgotten ids behind. The sweep frees their pages; an id that comes back (a
// reaped node registering again with its key) is announced online as before.
TEST_F(Reaper, PagesOfReapedNodesAreFreed) {
  rdv::registry::Registry reg(cfg_, env_, nullptr);
  ASSERT_NO_FATAL_FAILURE(load(reg));
  const int64_t now = rdv::unix_now_ns();
  const uint32_t kNodes = 100000, kKept = 99999;  // one node stays registered and heard from
  for (uint32_t id = 1; id <= kNodes; id++) {
    reg.apply({Effect::Forget, id, 0});  // as register does for a new id
    reg.apply({Effect::Touch, id, id == kKept ? now : now - 2 * cfg_.stale_threshold_ns});
  }
  reg.liveness_flushed(reg.liveness_to_flush(), true);
  const size_t pages = reg.liveness_pages();
  EXPECT_GE(pages, size_t(kNodes / rdv::registry::LivenessTable::kPageIds));
  const int64_t interval = 10LL * 1000000000;
  size_t reaped = 0;
  for (int tick = 0; tick < 3; tick++)
    for (uint32_t id : reg.reap_candidates(now, interval)) {
      reg.node_went_offline(id);
      reg.apply({Effect::Forget, id, 0});  // what the pipeline does after the reap commits
      reaped++;
    }
  EXPECT_EQ(reaped, size_t(kNodes - 1));
  for (int tick = 0; tick < 3; tick++) EXPECT_TRUE(reg.reap_candidates(now, interval).empty());
  EXPECT_EQ(reg.liveness_pages(), 1u) << "only the page of the node still heard from";
  // A reaped node registers again with its old id: online again, and reaped again later.
  std::vector<uint32_t> online;
  reg.on_online = [&](uint32_t id) { online.push_back(id); };
  reg.apply({Effect::Forget, 5, 0});
  reg.apply({Effect::Touch, 5, now});
  EXPECT_EQ(online, std::vector<uint32_t>{5});
  EXPECT_EQ(reg.liveness_pages(), 2u);
}

// Churn of nodes that deregister (fresh keys each time, as ephemeral runners do): their ids
// are dead once deregistered, so their pages go too, and a key that returns is online again.
TEST_F(Reaper, PagesOfDeregisteredNodesAreFreed) {
  rdv::registry::Registry reg(cfg_, env_, nullptr);
  ASSERT_NO_FATAL_FAILURE(load(reg));
  const int64_t now = rdv::unix_now_ns();
  std::vector<uint32_t> online;
  reg.on_online = [&](uint32_t id) { online.push_back(id); };
  const uint32_t kNodes = 3 * rdv::registry::LivenessTable::kPageIds;
  for (uint32_t id = 1; id <= kNodes; id++) {
    reg.apply({Effect::Forget, id, 0});
    reg.apply({Effect::Touch, id, now});
    reg.apply({Effect::Verified, id, now});
  }
  reg.liveness_flushed(reg.liveness_to_flush(), true);
  EXPECT_EQ(online.size(), size_t(kNodes));
  for (uint32_t id = 1; id <= kNodes; id++) reg.apply({Effect::Removed, id, 0});
  EXPECT_FALSE(reg.recently_verified(7, now));
  for (int tick = 0; tick < 3; tick++) EXPECT_TRUE(reg.reap_candidates(now, 10LL * 1000000000).empty());
  EXPECT_EQ(reg.liveness_pages(), 0u);
  online.clear();
  reg.apply({Effect::Forget, 7, 0});  // its key registers again
  reg.apply({Effect::Touch, 7, now});
  reg.apply({Effect::Forget, 7, 0});  // and again while online: nothing more to say
  reg.apply({Effect::Touch, 7, now});
  EXPECT_EQ(online, std::vector<uint32_t>{7});
}

TEST_F(Reaper, ForgottenNodesAreNotChosen) {
  rdv::registry::Registry reg(cfg_, env_, nullptr);
  ASSERT_NO_FATAL_FAILURE(load(reg));
  const int64_t old = rdv::unix_now_ns() - 2 * cfg_.stale_threshold_ns;
  reg.apply({Effect::Touch, 1, old});
  reg.apply({Effect::Touch, 2, old});
  reg.apply({Effect::Forget, 2, 0});  // deregistered or reaped already
  auto ids = reg.reap_candidates(rdv::unix_now_ns(), 10LL * 1000000000);
  EXPECT_EQ(ids, std::vector<uint32_t>{1});
}

TEST_F(Reaper, NothingIsChosenBeforeLivenessIsLoaded) {
  rdv::registry::Registry reg(cfg_, env_, nullptr);
  std::string err;
  ASSERT_TRUE(reg.load(&err)) << err;
  reg.apply({Effect::Touch, 1, 1});
  EXPECT_TRUE(reg.reap_candidates(rdv::unix_now_ns(), 10LL * 1000000000).empty());
}

// The liveness flush (registry.h): heartbeats arrive while a flush is being written. What it
// did not write, a newer time of an id it wrote or an id touched since it was taken, stays
// dirty for the next flush. (CI caught the first version losing such a heartbeat: it cleared
// every dirty id when the flush committed.)
using LivenessFlush = Reaper;

TEST_F(LivenessFlush, TouchesWhileAFlushIsInFlightStayDirty) {
  rdv::registry::Registry reg(cfg_, env_, nullptr);
  ASSERT_NO_FATAL_FAILURE(load(reg));
  reg.apply({Effect::Touch, 1, 1000});
  reg.apply({Effect::Touch, 2, 1000});
  reg.apply({Effect::Touch, 3, 1000});
  const std::vector<rdv::registry::LivenessRow> written = reg.liveness_to_flush();
  ASSERT_EQ(written.size(), 3u);
  reg.apply({Effect::Touch, 1, 2000});  // a newer heartbeat of a node the flush holds
  reg.apply({Effect::Touch, 4, 2000});  // a node the flush does not hold
  reg.apply({Effect::Forget, 3, 0});    // deregistered: nothing left to write
  reg.liveness_flushed(written, false);  // a failed commit keeps everything
  EXPECT_EQ(reg.liveness_to_flush().size(), 3u);
  reg.liveness_flushed(written, true);
  std::vector<std::pair<uint32_t, int64_t>> next;
  for (const auto& row : reg.liveness_to_flush()) next.emplace_back(row.id, row.last_seen_ns);
  std::sort(next.begin(), next.end());
  EXPECT_EQ(next, (std::vector<std::pair<uint32_t, int64_t>>{{1, 2000}, {4, 2000}}));
  reg.liveness_flushed(reg.liveness_to_flush(), true);
  EXPECT_TRUE(reg.liveness_to_flush().empty());
  reg.apply({Effect::Touch, 2, 3000});  // a clean id becomes dirty again on its next touch
  ASSERT_EQ(reg.liveness_to_flush().size(), 1u);
  EXPECT_EQ(reg.liveness_to_flush()[0].last_seen_ns, 3000);
}

}  // namespace
