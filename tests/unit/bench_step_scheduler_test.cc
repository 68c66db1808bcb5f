// The bench's scheduler of dependent request chains (tests/bench/step_scheduler.h): a chain's
// next step is handed out only after its previous step succeeded, steps cycle in order, failed
// and abandoned chains are retired, and chain states carry over to the next scheduler.
#include "tests/bench/step_scheduler.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace {

using rdv::bench::ChainState;
using rdv::bench::StepScheduler;

std::vector<uint32_t> iota(uint32_t n) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; i++) v[i] = i;
  return v;
}

TEST(BenchStepScheduler, HandsOutEveryReadyChainOnceThenNothing) {
  std::vector<ChainState> states(3);
  StepScheduler s(iota(3), &states, 3);
  std::set<uint32_t> seen;
  uint32_t c;
  uint8_t step;
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(s.next(&c, &step));
    EXPECT_EQ(step, 0);
    EXPECT_TRUE(seen.insert(c).second) << "chain " << c << " handed out twice while in flight";
  }
  EXPECT_FALSE(s.next(&c, &step));  // all three in flight
  EXPECT_EQ(s.in_flight(), 3u);
  EXPECT_EQ(s.ready(), 0u);
}

TEST(BenchStepScheduler, StepsCycleInOrderAndCountRounds) {
  std::vector<ChainState> states(1);
  StepScheduler s({0}, &states, 3);
  uint32_t c;
  uint8_t step;
  std::vector<int> sent;
  int rounds = 0;
  for (int i = 0; i < 7; i++) {
    ASSERT_TRUE(s.next(&c, &step));
    EXPECT_EQ(c, 0u);
    EXPECT_FALSE(s.next(&c, &step)) << "the next step must wait for this one's reply";
    sent.push_back(step);
    rounds += s.succeeded(0);
  }
  EXPECT_EQ(sent, (std::vector<int>{0, 1, 2, 0, 1, 2, 0}));
  EXPECT_EQ(rounds, 2);
  EXPECT_EQ(s.completed_cycles(), 2u);
  EXPECT_EQ(states[0].step, 1);
}

TEST(BenchStepScheduler, OldestReadyChainGoesFirst) {
  std::vector<ChainState> states(3);
  StepScheduler s(iota(3), &states, 2);
  uint32_t a, b, c;
  uint8_t step;
  ASSERT_TRUE(s.next(&a, &step));
  ASSERT_TRUE(s.next(&b, &step));
  s.succeeded(a);  // a queues up behind the chain never sent
  ASSERT_TRUE(s.next(&c, &step));
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(step, 0);
  ASSERT_TRUE(s.next(&c, &step));
  EXPECT_EQ(c, a);
  EXPECT_EQ(step, 1);
}

TEST(BenchStepScheduler, FailedChainIsRetired) {
  std::vector<ChainState> states(2);
  StepScheduler s(iota(2), &states, 3);
  uint32_t c, other;
  uint8_t step;
  ASSERT_TRUE(s.next(&c, &step));
  s.failed(c);
  EXPECT_TRUE(states[c].retired);
  EXPECT_FALSE(states[c].in_flight);
  EXPECT_EQ(s.retired_here(), 1u);
  ASSERT_TRUE(s.next(&other, &step));
  EXPECT_NE(other, c);
  s.succeeded(other);
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(s.next(&other, &step));
    EXPECT_NE(other, c) << "a retired chain came back";
    s.succeeded(other);
  }
}

TEST(BenchStepScheduler, ReportsForChainsNotInFlightChangeNothing) {
  std::vector<ChainState> states(4);
  StepScheduler s({0, 1}, &states, 3);
  uint32_t c;
  uint8_t step;
  ASSERT_TRUE(s.next(&c, &step));
  s.succeeded(c);
  EXPECT_FALSE(s.succeeded(c));  // duplicate: no second advance
  s.failed(c);                   // duplicate failure: not retired
  EXPECT_FALSE(states[c].retired);
  EXPECT_EQ(states[c].step, 1);
  // Chains 2 and 3 belong to someone else, even when in flight there.
  states[3].in_flight = true;
  EXPECT_FALSE(s.succeeded(3));
  s.failed(3);
  EXPECT_TRUE(states[3].in_flight);
  EXPECT_FALSE(states[3].retired);
  EXPECT_FALSE(s.succeeded(99));  // out of range
}

TEST(BenchStepScheduler, StateCarriesOverAndAbandonedChainsRetire) {
  std::vector<ChainState> states(3);
  {
    StepScheduler s(iota(3), &states, 3);
    uint32_t c;
    uint8_t step;
    ASSERT_TRUE(s.next(&c, &step));
    ASSERT_EQ(c, 0u);
    s.succeeded(0);  // chain 0 at step 1
    ASSERT_TRUE(s.next(&c, &step));
    ASSERT_EQ(c, 1u);  // chain 1 in flight when the run ends
  }
  EXPECT_TRUE(states[1].retired);
  EXPECT_FALSE(states[1].in_flight);
  EXPECT_FALSE(states[0].retired);
  EXPECT_FALSE(states[2].retired);

  StepScheduler again(iota(3), &states, 3);
  EXPECT_EQ(again.ready(), 2u);
  uint32_t c;
  uint8_t step;
  ASSERT_TRUE(again.next(&c, &step));
  EXPECT_EQ(c, 0u);
  EXPECT_EQ(step, 1);  // continues where the last run left it
  ASSERT_TRUE(again.next(&c, &step));
  EXPECT_EQ(c, 2u);
  EXPECT_EQ(step, 0);
  EXPECT_FALSE(again.next(&c, &step));
}

TEST(BenchStepScheduler, ChainLeftInFlightByAnotherRunIsNotReused) {
  std::vector<ChainState> states(2);
  states[0].in_flight = true;  // e.g. a scheduler that was never destroyed
  StepScheduler s(iota(2), &states, 2);
  EXPECT_TRUE(states[0].retired);
  EXPECT_EQ(s.ready(), 1u);
}

// A closed loop with 8 "connections" completing in random order over 40 chains: every chain
// sees its steps in cycle order, never two at once, and a ready chain is always available.
TEST(BenchStepScheduler, RandomCompletionOrderKeepsEveryChainSequential) {
  constexpr uint32_t kChains = 40;
  constexpr int kConns = 8;
  std::vector<ChainState> states(kChains);
  StepScheduler s(iota(kChains), &states, 3);
  std::vector<std::vector<int>> sent(kChains);
  std::vector<std::pair<uint32_t, uint8_t>> flying;  // one per connection
  std::mt19937 rng(12345);
  auto issue = [&] {
    uint32_t c;
    uint8_t step;
    ASSERT_TRUE(s.next(&c, &step));
    for (auto& f : flying) ASSERT_NE(f.first, c) << "two steps of one chain in flight";
    sent[c].push_back(step);
    flying.emplace_back(c, step);
  };
  for (int i = 0; i < kConns; i++) issue();
  uint64_t rounds = 0;
  for (int i = 0; i < 20000; i++) {
    size_t k = rng() % flying.size();
    uint32_t c = flying[k].first;
    flying.erase(flying.begin() + long(k));
    rounds += s.succeeded(c);
    issue();
  }
  EXPECT_EQ(s.in_flight(), size_t(kConns));
  EXPECT_EQ(rounds, s.completed_cycles());
  uint64_t total = 0;
  for (uint32_t c = 0; c < kChains; c++) {
    for (size_t j = 0; j < sent[c].size(); j++) ASSERT_EQ(sent[c][j], int(j % 3)) << "chain " << c;
    EXPECT_GT(sent[c].size(), 100u) << "chain " << c << " starved";
    total += sent[c].size();
  }
  EXPECT_EQ(total, 20000u + kConns);
}

}  // namespace
