#include "restart_policy.h"

#include <algorithm>

namespace rdv {

int next_failure_streak(const RestartPolicy& p, int previous_streak, int64_t uptime_ns) {
  if (uptime_ns >= p.healthy_uptime_ns || previous_streak <= 0) return 1;
  return previous_streak + 1;
}

int64_t restart_delay_ns(const RestartPolicy& p, int streak) {
  if (streak <= 1) return 0;
  int64_t d = p.initial_backoff_ns;
  for (int i = 2; i < streak && d < p.max_backoff_ns; i++) d *= 2;
  return std::min(d, p.max_backoff_ns);
}

}  // namespace rdv
