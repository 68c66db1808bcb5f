// The synchronous-replication gate (worker-registry/sync_gate.h): what is held, what an ack
// releases, the timeout that degrades, the ack that recovers.
#include "worker-registry/sync_gate.h"

#include <gtest/gtest.h>

namespace rdv::registry {
namespace {

constexpr int64_t kTimeout = 1000;

struct Gate : ::testing::Test {
  Gate() { gate.configure(true, kTimeout, 0, 0); }
  bool hold(uint64_t seq, std::vector<int> items, int64_t now) { return gate.hold(seq, items, now); }
  SyncGate<int> gate;
};

TEST(SyncGateOff, NeverHolds) {
  SyncGate<int> g;
  std::vector<int> items{1, 2};
  EXPECT_FALSE(g.hold(5, items, 0));
  EXPECT_EQ(items.size(), 2u);  // still the caller's
  EXPECT_EQ(g.state(), SyncState::Off);
  EXPECT_EQ(g.next_deadline(), 0);
}

TEST_F(Gate, HoldsUntilAnAckReachesTheBatch) {
  EXPECT_EQ(gate.state(), SyncState::Sync);
  EXPECT_TRUE(hold(3, {1, 2}, 10));
  EXPECT_TRUE(hold(5, {3}, 20));
  EXPECT_EQ(gate.held(), 3u);
  EXPECT_EQ(gate.next_deadline(), 10 + kTimeout);

  auto r = gate.ack(2, 1, 30);  // below the first batch
  EXPECT_TRUE(r.items.empty());
  r = gate.ack(4, 1, 40);  // the first batch only, in order
  EXPECT_EQ(r.items, (std::vector<int>{1, 2}));
  EXPECT_EQ(r.held_ns, (std::vector<int64_t>{30, 30}));
  EXPECT_EQ(gate.held(), 1u);
  EXPECT_EQ(gate.next_deadline(), 20 + kTimeout);
  r = gate.ack(9, 1, 50);
  EXPECT_EQ(r.items, (std::vector<int>{3}));
  EXPECT_EQ(gate.held(), 0u);
  EXPECT_EQ(r.transition, (SyncGate<int>::Transition::None));
}

TEST_F(Gate, AlreadyAcknowledgedOrRecordlessBatchesPass) {
  gate.ack(10, 1, 0);
  EXPECT_FALSE(hold(8, {1}, 5));   // the standby has it already
  EXPECT_FALSE(hold(0, {2}, 5));   // wrote no record: nothing to wait for
  EXPECT_FALSE(hold(11, {}, 5));   // no replies to hold
  EXPECT_EQ(gate.held(), 0u);
}

TEST_F(Gate, TimeoutReleasesEverythingAndDegrades) {
  EXPECT_TRUE(hold(1, {1}, 0));
  EXPECT_TRUE(hold(2, {2}, 500));
  EXPECT_TRUE(gate.expire(kTimeout - 1).items.empty());  // not yet
  auto r = gate.expire(kTimeout);
  EXPECT_EQ(r.items, (std::vector<int>{1, 2}));  // the younger one goes too
  EXPECT_EQ(r.transition, (SyncGate<int>::Transition::Degraded));
  EXPECT_EQ(gate.state(), SyncState::Degraded);
  EXPECT_EQ(gate.degraded_total(), 1u);
  // Degraded: nothing is held.
  EXPECT_FALSE(hold(3, {3}, 2000));
  EXPECT_EQ(gate.next_deadline(), 0);
}

TEST_F(Gate, RecoversOnceAStreamingStandbyHasEverything) {
  EXPECT_TRUE(hold(4, {1}, 0));
  gate.expire(kTimeout);
  ASSERT_EQ(gate.state(), SyncState::Degraded);
  EXPECT_FALSE(hold(6, {2}, 1100));  // last committed is 6 now
  EXPECT_EQ(gate.ack(5, 1, 1200).transition, (SyncGate<int>::Transition::None));
  EXPECT_EQ(gate.ack(6, 0, 1200).transition, (SyncGate<int>::Transition::None));  // nobody streams
  EXPECT_EQ(gate.state(), SyncState::Degraded);
  EXPECT_EQ(gate.ack(6, 1, 1300).transition, (SyncGate<int>::Transition::Recovered));
  EXPECT_EQ(gate.state(), SyncState::Sync);
  EXPECT_TRUE(hold(7, {3}, 1400));  // held again
  // A second degradation is counted again.
  gate.expire(1400 + kTimeout);
  EXPECT_EQ(gate.degraded_total(), 2u);
}

TEST_F(Gate, NoStandbyWaitsTheTimeoutThenDegrades) {
  EXPECT_TRUE(hold(1, {1}, 0));  // nobody will ever ack
  EXPECT_EQ(gate.next_deadline(), kTimeout);
  EXPECT_EQ(gate.expire(kTimeout).items.size(), 1u);
  EXPECT_EQ(gate.state(), SyncState::Degraded);
}

TEST_F(Gate, AckMayGoBackWhenTheBestStandbyLeaves) {
  gate.ack(10, 2, 0);
  gate.ack(4, 1, 0);  // the standby at 10 went away
  EXPECT_TRUE(hold(8, {1}, 0));
  EXPECT_EQ(gate.acked(), 4u);
}

TEST_F(Gate, TurningOffReleasesAndReleaseAllKeepsState) {
  EXPECT_TRUE(hold(1, {1}, 0));
  EXPECT_EQ(gate.release_all(5).items, (std::vector<int>{1}));
  EXPECT_EQ(gate.state(), SyncState::Sync);
  EXPECT_TRUE(hold(2, {2}, 0));
  auto r = gate.configure(false, kTimeout, 2, 10);
  EXPECT_EQ(r.items, (std::vector<int>{2}));
  EXPECT_EQ(gate.state(), SyncState::Off);
  EXPECT_FALSE(hold(3, {3}, 20));
  gate.configure(true, kTimeout, 3, 30);
  EXPECT_EQ(gate.state(), SyncState::Sync);
}

}  // namespace
}  // namespace rdv::registry
