// node.online / node.offline and their rate bound (worker-registry/node_events.h).
#include "worker-registry/node_events.h"

#include <gtest/gtest.h>

namespace {

using rdv::registry::NodeEvents;
constexpr int64_t kS = 1000000000;

TEST(NodeEvents, IndividualEventsWithinTheBound) {
  NodeEvents ev(3, 60 * kS);
  int64_t t = 1000 * kS;
  EXPECT_FALSE(ev.due(t));
  ev.online(5);
  ev.offline(6);
  ASSERT_TRUE(ev.due(t));
  auto out = ev.take(t);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].action, "node.online");
  EXPECT_EQ(out[0].node_id, 5u);
  EXPECT_EQ(out[0].details, "");
  EXPECT_EQ(out[0].timestamp, 1000);
  EXPECT_EQ(out[1].action, "node.offline");
  EXPECT_EQ(out[1].node_id, 6u);
  EXPECT_EQ(out[1].details, "reason=stale");
  EXPECT_FALSE(ev.due(t));
}

TEST(NodeEvents, AMassOutageBecomesOneSummaryPerWindow) {
  NodeEvents ev(3, 60 * kS);
  int64_t t = 1000 * kS;
  for (uint32_t id = 1; id <= 10; id++) ev.offline(id);
  auto out = ev.take(t);
  ASSERT_EQ(out.size(), 3u);  // the bound
  for (uint32_t id = 11; id <= 20; id++) ev.offline(id);
  ev.online(99);
  EXPECT_TRUE(ev.due(t + kS));
  EXPECT_TRUE(ev.take(t + kS).empty());  // counted only
  EXPECT_FALSE(ev.due(t + 59 * kS));     // nothing until the window ends
  ASSERT_TRUE(ev.due(t + 60 * kS));
  out = ev.take(t + 60 * kS);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].action, "node.offline");
  EXPECT_EQ(out[0].node_id, 0u);
  EXPECT_EQ(out[0].details, "count=17, reason=stale");
  EXPECT_EQ(out[1].action, "node.online");
  EXPECT_EQ(out[1].details, "count=1");
  // A new window: individual events again.
  ev.online(7);
  out = ev.take(t + 61 * kS);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].node_id, 7u);
}

}  // namespace
