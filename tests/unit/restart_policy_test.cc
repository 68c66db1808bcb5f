// The supervisor's restart backoff (supervisor/restart_policy.h): 0 after a healthy run, then
// 1 s, 2 s, 4 s … capped at 60 s; 60 s of uptime resets the streak (ARCHITECTURE.md).
#include "supervisor/restart_policy.h"

#include <gtest/gtest.h>

namespace {

constexpr int64_t kSec = 1000000000LL;

TEST(RestartPolicy, Defaults) {
  rdv::RestartPolicy p;
  EXPECT_EQ(p.initial_backoff_ns, kSec);
  EXPECT_EQ(p.max_backoff_ns, 60 * kSec);
  EXPECT_EQ(p.healthy_uptime_ns, 60 * kSec);
}

TEST(RestartPolicy, FirstFailureRestartsImmediately) {
  rdv::RestartPolicy p;
  int streak = rdv::next_failure_streak(p, 0, 5 * kSec);
  EXPECT_EQ(streak, 1);
  EXPECT_EQ(rdv::restart_delay_ns(p, streak), 0);
}

TEST(RestartPolicy, DelaySequenceDoublesAndCaps) {
  rdv::RestartPolicy p;
  const int64_t expected[] = {0, 1, 2, 4, 8, 16, 32, 60, 60, 60};
  for (int streak = 1; streak <= 10; streak++)
    EXPECT_EQ(rdv::restart_delay_ns(p, streak), expected[streak - 1] * kSec) << "streak " << streak;
  EXPECT_EQ(rdv::restart_delay_ns(p, 1000), 60 * kSec);
  EXPECT_EQ(rdv::restart_delay_ns(p, 1 << 30), 60 * kSec);
}

TEST(RestartPolicy, StreakGrowsWhileCrashingQuickly) {
  rdv::RestartPolicy p;
  int streak = 0;
  for (int i = 1; i <= 8; i++) {
    streak = rdv::next_failure_streak(p, streak, kSec / 10);
    EXPECT_EQ(streak, i);
  }
  // Just below the healthy uptime still counts as a quick crash.
  EXPECT_EQ(rdv::next_failure_streak(p, streak, 60 * kSec - 1), streak + 1);
}

TEST(RestartPolicy, SixtySecondsOfUptimeResetsStreak) {
  rdv::RestartPolicy p;
  EXPECT_EQ(rdv::next_failure_streak(p, 7, 60 * kSec), 1);
  EXPECT_EQ(rdv::next_failure_streak(p, 7, 3600 * kSec), 1);
  EXPECT_EQ(rdv::restart_delay_ns(p, rdv::next_failure_streak(p, 7, 61 * kSec)), 0);
}

TEST(RestartPolicy, CustomPolicy) {
  rdv::RestartPolicy p;
  p.initial_backoff_ns = 100;
  p.max_backoff_ns = 350;
  p.healthy_uptime_ns = 10;
  EXPECT_EQ(rdv::restart_delay_ns(p, 1), 0);
  EXPECT_EQ(rdv::restart_delay_ns(p, 2), 100);
  EXPECT_EQ(rdv::restart_delay_ns(p, 3), 200);
  EXPECT_EQ(rdv::restart_delay_ns(p, 4), 350);
  EXPECT_EQ(rdv::restart_delay_ns(p, 5), 350);
  EXPECT_EQ(rdv::next_failure_streak(p, 3, 10), 1);
  EXPECT_EQ(rdv::next_failure_streak(p, 3, 9), 4);
}

}  // namespace
