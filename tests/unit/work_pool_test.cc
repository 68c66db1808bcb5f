// The registry's off-loop work pool (worker-registry/work_pool.h), with a job of its own: what
// is submitted reaches the threads at flush(), comes back through take_finished() once
// notify_fd() is readable, each job exactly once, run; stop() returns with jobs still queued.
#include "worker-registry/work_pool.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace {

struct Square {
  int in = 0;
  int out = -1;
  std::thread::id ran_on;
};

void square(Square& s) {
  s.out = s.in * s.in;
  s.ran_on = std::this_thread::get_id();
}

using Pool = rdv::registry::WorkPool<Square>;

// Waits on notify_fd() until nothing is in flight; the jobs in the order they came back.
std::vector<Square*> drain(Pool& pool) {
  std::vector<Square*> back;
  while (pool.in_flight() > 0) {
    pollfd p{pool.notify_fd(), POLLIN, 0};
    int n = poll(&p, 1, 30000);
    EXPECT_EQ(n, 1) << "the pool did not signal within 30 s";
    if (n != 1) break;
    for (Square* s : pool.take_finished()) back.push_back(s);
  }
  return back;
}

class WorkPoolTest : public ::testing::TestWithParam<size_t> {};  // the share

TEST_P(WorkPoolTest, EveryJobRunsOffTheCallerAndComesBackOnce) {
  Pool pool(2, GetParam(), &square);
  ASSERT_TRUE(pool.ok());
  std::vector<Square> jobs(1000);
  for (int i = 0; i < int(jobs.size()); i++) {
    jobs[size_t(i)].in = i;
    pool.submit(&jobs[size_t(i)]);
  }
  EXPECT_EQ(pool.in_flight(), jobs.size());
  pollfd p{pool.notify_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 50), 0) << "nothing reaches the threads before flush()";
  pool.flush();
  std::vector<Square*> back = drain(pool);
  ASSERT_EQ(back.size(), jobs.size());
  std::set<Square*> distinct(back.begin(), back.end());
  EXPECT_EQ(distinct.size(), jobs.size()) << "a job came back twice";
  for (const Square& s : jobs) {
    EXPECT_EQ(s.out, s.in * s.in);
    EXPECT_NE(s.ran_on, std::this_thread::get_id());
  }
  EXPECT_TRUE(pool.take_finished().empty());
}

INSTANTIATE_TEST_SUITE_P(Shares, WorkPoolTest, ::testing::Values(size_t(1), size_t(32)));

// Jobs that take a while: stop() joins the threads once the running ones end, and drops what is
// still queued (the worker is going away) instead of running it all first.
std::atomic<int> slow_runs{0};
void slow(Square& s) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  slow_runs++;
  s.out = 0;
}

TEST(WorkPool, StopDropsWhatIsQueued) {
  std::vector<Square> jobs(200);
  {
    Pool pool(2, 1, &slow);
    for (Square& s : jobs) pool.submit(&s);
    pool.flush();
    pool.stop();
    pool.stop();  // twice is harmless (the destructor calls it again)
  }
  EXPECT_LT(slow_runs.load(), 200);
}

}  // namespace
