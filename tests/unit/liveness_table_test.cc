// worker-registry/liveness_table.h: the paged liveness table keeps only pages with a live
// entry, and a freed page reads exactly as the forgotten entries it held.
#include <gtest/gtest.h>

#include "worker-registry/liveness_table.h"

namespace {

using rdv::registry::Liveness;
using rdv::registry::LivenessTable;

constexpr uint32_t kPage = LivenessTable::kPageIds;

TEST(LivenessTable, PagesAreAllocatedOnFirstTouchOnly) {
  LivenessTable t;
  t.cover(1'000'001);
  EXPECT_EQ(t.pages_allocated(), 0u);
  EXPECT_FALSE(t.get(500'000).loaded);  // not read from LMDB yet
  EXPECT_EQ(t.pages_allocated(), 0u);   // reading allocates nothing
  t.at(500'000).last_seen_ns = 7;
  EXPECT_EQ(t.pages_allocated(), 1u);
  EXPECT_EQ(t.get(500'000).last_seen_ns, 7);
  EXPECT_TRUE(t.page_allocated(500'000));
  EXPECT_FALSE(t.page_allocated(1));
}

TEST(LivenessTable, GrowsForIdsPastItsEnd) {
  LivenessTable t;
  t.at(3 * kPage + 5).last_seen_ns = 1;
  EXPECT_GT(t.ids(), size_t(3 * kPage + 5));
  EXPECT_EQ(t.get(3 * kPage + 5).last_seen_ns, 1);
  EXPECT_EQ(t.get(uint32_t(t.ids()) + 10).last_seen_ns, 0);  // past the end: never seen
}

TEST(LivenessTable, APageOfForgottenIdsIsFreedAndReadsAsForgotten) {
  LivenessTable t;
  for (uint32_t id = kPage; id < 2 * kPage; id++) {
    Liveness& l = t.at(id);
    l = Liveness::forgotten();
    if (id % 2) l.online_known = true;  // reaped: known offline, the same as unknown
  }
  EXPECT_EQ(t.pages_allocated(), 1u);
  EXPECT_TRUE(t.release_if_dead(kPage + 17, false));
  EXPECT_EQ(t.pages_allocated(), 0u);
  Liveness l = t.get(kPage + 3);
  EXPECT_TRUE(l.loaded);
  EXPECT_TRUE(l.dead());
  // Touched again (a reaped node registering with its old id): forgotten, then written.
  t.at(kPage + 3).last_seen_ns = 42;
  EXPECT_EQ(t.pages_allocated(), 1u);
  EXPECT_TRUE(t.get(kPage + 4).loaded);
  EXPECT_EQ(t.get(kPage + 3).last_seen_ns, 42);
}

TEST(LivenessTable, APageWithOneLiveEntryIsKept) {
  for (int what = 0; what < 5; what++) {
    LivenessTable t;
    for (uint32_t id = 0; id < kPage; id++) t.at(id) = Liveness::forgotten();
    Liveness& l = t.at(100);
    switch (what) {
      case 0: l.last_seen_ns = 1; break;
      case 1: l.last_verified_ns = 1; break;
      case 2: l.dirty = true; break;
      case 3: l.loaded = false; break;  // its row is still to be read
      case 4: l.online = l.online_known = true; break;
    }
    EXPECT_FALSE(t.release_if_dead(0, false)) << what;
    EXPECT_EQ(t.pages_allocated(), 1u) << what;
  }
}

TEST(LivenessTable, UnloadedEntriesAreDeadOnceTheDatabaseIsReadInFull) {
  LivenessTable t;
  t.at(5);  // Liveness{}: not loaded; after a full load it has no row, so nothing is there
  EXPECT_FALSE(t.release_if_dead(5, false));
  EXPECT_TRUE(t.release_if_dead(5, true));
  EXPECT_TRUE(t.get(5).loaded);
}

TEST(LivenessTable, APromotionResetsEveryPageButKeepsVerifiedTimes) {
  LivenessTable t;
  t.at(1).last_seen_ns = 5;
  t.at(1).last_verified_ns = 9;
  t.at(1).loaded = true;
  t.at(kPage) = Liveness::forgotten();
  ASSERT_TRUE(t.release_if_dead(kPage, true));  // the rest of its page was never loaded
  t.reset_keeping_verified();
  EXPECT_EQ(t.get(1).last_seen_ns, 0);
  EXPECT_FALSE(t.get(1).loaded);
  EXPECT_EQ(t.get(1).last_verified_ns, 9);
  EXPECT_FALSE(t.get(kPage).loaded);  // the freed page is read from LMDB again too
}

TEST(LivenessTable, ForEachVisitsAllocatedPagesOnly) {
  LivenessTable t;
  t.cover(10 * kPage);
  t.at(2 * kPage).last_seen_ns = 3;
  size_t n = 0;
  int64_t sum = 0;
  t.for_each([&](const Liveness& l) {
    n++;
    sum += l.last_seen_ns;
  });
  EXPECT_EQ(n, size_t(kPage));
  EXPECT_EQ(sum, 3);
}

}  // namespace
