#include "worker_lifecycle.h"

#include <cstdio>
#include <cstring>

#include "util.h"

namespace rdv::supervisor {

const char* state_name(WorkerState s) {
  switch (s) {
    case WorkerState::Stopped: return "stopped";
    case WorkerState::Starting: return "starting";
    case WorkerState::Ready: return "ready";
    case WorkerState::Killing: return "killing";
    case WorkerState::Backoff: return "backoff";
    case WorkerState::Stopping: return "stopping";
    case WorkerState::Failed: return "failed";
  }
  return "?";
}

const char* event_name(EventKind k) {
  switch (k) {
    case EventKind::Start: return "start";
    case EventKind::Spawned: return "spawned";
    case EventKind::SpawnFailed: return "spawn-failed";
    case EventKind::ReadyReported: return "ready";
    case EventKind::Exited: return "exited";
    case EventKind::BackoffElapsed: return "backoff-elapsed";
    case EventKind::Unresponsive: return "unresponsive";
    case EventKind::Stop: return "stop";
    case EventKind::StopDeadline: return "stop-deadline";
  }
  return "?";
}

namespace {

// A process is gone (or never came to be): count the failure and schedule the next start.
WorkerActions fail_and_restart(WorkerLifecycle& lc, int64_t now_ns, int64_t uptime_ns,
                               const RestartPolicy& policy) {
  WorkerActions a;
  lc.failure_streak = next_failure_streak(policy, lc.failure_streak, uptime_ns);
  a.schedule_restart = true;
  a.restart_delay_ns = restart_delay_ns(policy, lc.failure_streak);
  lc.restart_at_ns = now_ns + a.restart_delay_ns;
  lc.state = WorkerState::Backoff;
  return a;
}

WorkerActions ignored() {
  WorkerActions a;
  a.ignored = true;
  return a;
}

}  // namespace

WorkerActions WorkerLifecycle::transition(const WorkerEvent& ev, const RestartPolicy& policy) {
  WorkerActions a;
  switch (ev.kind) {
    case EventKind::Start:
      if (state != WorkerState::Stopped) return ignored();
      state = WorkerState::Starting;
      a.spawn = true;
      return a;

    case EventKind::Spawned:
      if (state != WorkerState::Starting) return ignored();
      started_ns = ev.now_ns;
      last_heard_ns = ev.now_ns;
      ping_sent_seq = 0;
      ping_answered_seq = 0;
      starts++;
      return a;

    case EventKind::SpawnFailed:
      if (state != WorkerState::Starting) return ignored();
      last_uptime_ns = 0;
      return fail_and_restart(*this, ev.now_ns, 0, policy);

    case EventKind::ReadyReported:
      if (state != WorkerState::Starting) return ignored();
      state = WorkerState::Ready;
      last_heard_ns = ev.now_ns;
      a.became_ready = true;
      return a;

    case EventKind::Exited: {
      if (!has_process()) return ignored();
      last_uptime_ns = ev.now_ns - started_ns;
      if (state == WorkerState::Stopping) {
        state = WorkerState::Stopped;
        return a;
      }
      // A worker we killed as hung is restarted whatever it exited with.
      if (ev.exit_code == kExitConfig && state != WorkerState::Killing) {
        state = WorkerState::Failed;
        a.fatal = true;
        return a;
      }
      a = fail_and_restart(*this, ev.now_ns, last_uptime_ns, policy);
      a.notify_peers = true;
      return a;
    }

    case EventKind::BackoffElapsed:
      if (state != WorkerState::Backoff) return ignored();
      state = WorkerState::Starting;
      a.spawn = true;
      return a;

    case EventKind::Unresponsive:
      if (!running()) return ignored();
      state = WorkerState::Killing;
      a.send_sigkill = true;
      return a;

    case EventKind::Stop:
      switch (state) {
        case WorkerState::Starting:
        case WorkerState::Ready:
          state = WorkerState::Stopping;
          a.send_sigterm = true;
          return a;
        case WorkerState::Killing:
          state = WorkerState::Stopping;  // SIGKILL is already on its way
          return a;
        case WorkerState::Backoff:
          state = WorkerState::Stopped;
          a.cancel_restart = true;
          return a;
        default:
          return ignored();
      }

    case EventKind::StopDeadline:
      if (state != WorkerState::Stopping) return ignored();
      a.send_sigkill = true;
      return a;
  }
  return ignored();
}

bool WorkerLifecycle::is_unresponsive(int64_t now_ns, const Timeouts& t) const {
  if (state == WorkerState::Ready) return now_ns - last_heard_ns > t.hang_timeout_ns;
  if (state == WorkerState::Starting) return now_ns - last_heard_ns > t.start_timeout_ns;
  return false;
}

std::string describe_exit(int exit_code, int term_signal) {
  if (term_signal > 0) {
    const char* name = strsignal(term_signal);
    return "signal " + std::to_string(term_signal) + " (" + (name ? name : "?") + ")";
  }
  return "exit " + std::to_string(exit_code);
}

namespace {
// Whole seconds, rounded up, for STATUS= ("in 2s").
std::string seconds_text(int64_t ns) {
  if (ns < 0) ns = 0;
  return std::to_string((ns + 999'999'999) / 1'000'000'000) + "s";
}
}  // namespace

std::string status_part(const std::string& name, const WorkerLifecycle& lc, int64_t now_ns) {
  switch (lc.state) {
    case WorkerState::Stopped: return name + " stopped";
    case WorkerState::Starting:
      return lc.starts > 1 ? name + " restarting" : name + " starting";
    case WorkerState::Ready: return name + " ready";
    case WorkerState::Killing: return name + " hung (killed)";
    case WorkerState::Backoff:
      return "restarting " + name + " (attempt " + std::to_string(lc.failure_streak) + ", in " +
             seconds_text(lc.restart_at_ns - now_ns) + ")";
    case WorkerState::Stopping: return name + " stopping";
    case WorkerState::Failed: return name + " failed";
  }
  return name;
}

}  // namespace rdv::supervisor
