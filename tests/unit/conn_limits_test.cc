// The pure parts of the registry's connection limits (worker-registry/conn_limits.h): the
// read-deadline decision, the sweep's period, and the refusal warning's rate.
#include "worker-registry/conn_limits.h"

#include <gtest/gtest.h>

namespace {

using rdv::registry::DeadlineAction;
using rdv::registry::read_deadline_action;
using rdv::registry::read_deadline_sweep_ns;
using rdv::registry::WarnEvery;

constexpr int64_t kSec = 1000000000LL;

TEST(ReadDeadline, ClosesOnlyAClientPastItsDeadline) {
  EXPECT_EQ(read_deadline_action(true, 0, 5 * kSec, 5 * kSec), DeadlineAction::Keep);  // exactly at it
  EXPECT_EQ(read_deadline_action(true, 0, 5 * kSec + 1, 5 * kSec), DeadlineAction::Close);
  EXPECT_EQ(read_deadline_action(true, 10 * kSec, 12 * kSec, 5 * kSec), DeadlineAction::Keep);
}

// A connection the server owes a reply (or that is not read while its replies drain) is never
// closed for the client's silence: its deadline starts again once the server is done.
TEST(ReadDeadline, ServerSideWaitsRearm) {
  EXPECT_EQ(read_deadline_action(false, 0, 3600 * kSec, 5 * kSec), DeadlineAction::Rearm);
  EXPECT_EQ(read_deadline_action(false, 0, 1, 5 * kSec), DeadlineAction::Rearm);
}

TEST(ReadDeadline, SweepPeriodIsAQuarterWithinBounds) {
  EXPECT_EQ(read_deadline_sweep_ns(300 * kSec), 10 * kSec);       // the default 5 min: capped
  EXPECT_EQ(read_deadline_sweep_ns(8 * kSec), 2 * kSec);
  EXPECT_EQ(read_deadline_sweep_ns(1 * kSec), kSec / 4);
  EXPECT_EQ(read_deadline_sweep_ns(kSec / 10), kSec / 4);         // never a busy loop
}

TEST(WarnEvery, OneLinePerPeriodWithTheCountInBetween) {
  WarnEvery w(5 * kSec);
  uint64_t suppressed = 99;
  ASSERT_TRUE(w.note(100 * kSec, &suppressed));  // the first one at once
  EXPECT_EQ(suppressed, 0u);
  for (int i = 0; i < 1000; i++) EXPECT_FALSE(w.note(100 * kSec + i * 1000000, &suppressed));
  EXPECT_FALSE(w.note(104 * kSec, &suppressed));
  ASSERT_TRUE(w.note(105 * kSec, &suppressed));
  EXPECT_EQ(suppressed, 1001u);
  ASSERT_TRUE(w.note(200 * kSec, &suppressed));  // quiet since: nothing was held back
  EXPECT_EQ(suppressed, 0u);
}

// A first event at time 0 of the monotonic clock is logged like any other.
TEST(WarnEvery, FirstEventAtClockZero) {
  WarnEvery w(5 * kSec);
  uint64_t suppressed = 0;
  EXPECT_TRUE(w.note(0, &suppressed));
  EXPECT_FALSE(w.note(1, &suppressed));
}

}  // namespace
