// When to start a dead worker again: a pure function of the failure streak, unit-tested.
//
// A worker that crashes after a healthy run (uptime >= healthy_uptime) is restarted at once:
// the supervisor holds the listening sockets, so the kernel queues new connections meanwhile
// and a single crash costs milliseconds, not a second. A worker that keeps crashing backs off
// 1 s, 2 s, 4 s … capped at 60 s (ARCHITECTURE.md); 60 s of uptime resets the streak.
#pragma once

#include <cstdint>

namespace rdv {

struct RestartPolicy {
  int64_t initial_backoff_ns = 1000000000LL;    // second consecutive failure
  int64_t max_backoff_ns = 60000000000LL;
  int64_t healthy_uptime_ns = 60000000000LL;    // uptime that resets the streak
};

// The streak after a worker exited having run for `uptime_ns`: 1 after a healthy run,
// otherwise previous + 1.
int next_failure_streak(const RestartPolicy& p, int previous_streak, int64_t uptime_ns);

// Delay before the next start for a streak >= 1: 0, then initial, doubling, capped.
int64_t restart_delay_ns(const RestartPolicy& p, int streak);

}  // namespace rdv
