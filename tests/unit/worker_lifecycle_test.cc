// The supervisor's per-worker lifecycle state machine (supervisor/worker_lifecycle.h): every
// row of its transition table, the ignored pairs, restart backoff across a crash loop, the
// ping/hang bookkeeping and the STATUS= texts.
#include "supervisor/worker_lifecycle.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <vector>

#include "util.h"

namespace {

using rdv::supervisor::EventKind;
using rdv::supervisor::WorkerActions;
using rdv::supervisor::WorkerEvent;
using rdv::supervisor::WorkerLifecycle;
using rdv::supervisor::WorkerState;

constexpr int64_t kSec = 1000000000LL;

WorkerEvent ev(EventKind k, int64_t now = 0, int exit_code = -1, int sig = 0) {
  WorkerEvent e;
  e.kind = k;
  e.now_ns = now;
  e.exit_code = exit_code;
  e.term_signal = sig;
  return e;
}

// Counts the action flags that are set, so tests can assert "exactly these".
int action_count(const WorkerActions& a) {
  return a.spawn + a.schedule_restart + a.cancel_restart + a.send_sigterm + a.send_sigkill +
         a.notify_peers + a.fatal + a.became_ready + a.ignored;
}

class Lifecycle : public ::testing::Test {
 protected:
  WorkerActions apply(EventKind k, int64_t now = 0, int exit_code = -1, int sig = 0) {
    return lc.transition(ev(k, now, exit_code, sig), policy);
  }
  // Stopped → Starting → (spawned at t) → Ready.
  void bring_up(int64_t t) {
    if (lc.state == WorkerState::Stopped) apply(EventKind::Start, t);
    else apply(EventKind::BackoffElapsed, t);
    apply(EventKind::Spawned, t);
    apply(EventKind::ReadyReported, t);
    ASSERT_EQ(lc.state, WorkerState::Ready);
  }
  // Forces a state by walking legal transitions.
  void goto_state(WorkerState s) {
    switch (s) {
      case WorkerState::Stopped: break;
      case WorkerState::Starting:
        apply(EventKind::Start);
        apply(EventKind::Spawned, kSec);
        break;
      case WorkerState::Ready: bring_up(kSec); break;
      case WorkerState::Killing:
        bring_up(kSec);
        apply(EventKind::Unresponsive, 20 * kSec);
        break;
      case WorkerState::Backoff:
        bring_up(kSec);
        apply(EventKind::Exited, 2 * kSec, 1);
        break;
      case WorkerState::Stopping:
        bring_up(kSec);
        apply(EventKind::Stop, 2 * kSec);
        break;
      case WorkerState::Failed:
        bring_up(kSec);
        apply(EventKind::Exited, 2 * kSec, rdv::kExitConfig);
        break;
    }
    ASSERT_EQ(lc.state, s);
  }
  WorkerLifecycle lc;
  rdv::RestartPolicy policy;
};

TEST_F(Lifecycle, InitialState) {
  EXPECT_EQ(lc.state, WorkerState::Stopped);
  EXPECT_EQ(lc.failure_streak, 0);
  EXPECT_EQ(lc.starts, 0u);
  EXPECT_FALSE(lc.has_process());
  EXPECT_FALSE(lc.running());
}

TEST_F(Lifecycle, StoppedStartSpawns) {
  WorkerActions a = apply(EventKind::Start);
  EXPECT_EQ(lc.state, WorkerState::Starting);
  EXPECT_TRUE(a.spawn);
  EXPECT_EQ(action_count(a), 1);
}

TEST_F(Lifecycle, StartingSpawnedRecordsTimeAndResetsPings) {
  apply(EventKind::Start);
  lc.on_ping_sent(7);
  lc.on_pong(7, 0);
  WorkerActions a = apply(EventKind::Spawned, 5 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Starting);
  EXPECT_EQ(action_count(a), 0);
  EXPECT_EQ(lc.started_ns, 5 * kSec);
  EXPECT_EQ(lc.last_heard_ns, 5 * kSec);
  EXPECT_EQ(lc.ping_sent_seq, 0u);
  EXPECT_EQ(lc.ping_answered_seq, 0u);
  EXPECT_EQ(lc.starts, 1u);
  EXPECT_TRUE(lc.has_process());
  EXPECT_TRUE(lc.running());
}

TEST_F(Lifecycle, StartingSpawnFailedBacksOff) {
  apply(EventKind::Start);
  WorkerActions a = apply(EventKind::SpawnFailed, 3 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Backoff);
  EXPECT_TRUE(a.schedule_restart);
  EXPECT_FALSE(a.notify_peers);
  EXPECT_EQ(lc.failure_streak, 1);
  EXPECT_EQ(a.restart_delay_ns, 0);
  EXPECT_EQ(lc.restart_at_ns, 3 * kSec + a.restart_delay_ns);
  // A second spawn failure in a row backs off 1 s.
  apply(EventKind::BackoffElapsed, 3 * kSec);
  a = apply(EventKind::SpawnFailed, 3 * kSec);
  EXPECT_EQ(lc.failure_streak, 2);
  EXPECT_EQ(a.restart_delay_ns, kSec);
  EXPECT_EQ(lc.restart_at_ns, 4 * kSec);
}

TEST_F(Lifecycle, StartingReadyReported) {
  goto_state(WorkerState::Starting);
  WorkerActions a = apply(EventKind::ReadyReported, 2 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Ready);
  EXPECT_TRUE(a.became_ready);
  EXPECT_EQ(action_count(a), 1);
  EXPECT_EQ(lc.last_heard_ns, 2 * kSec);
}

TEST_F(Lifecycle, StartingExitedRestartsAndNotifies) {
  goto_state(WorkerState::Starting);
  WorkerActions a = apply(EventKind::Exited, 2 * kSec, 1);
  EXPECT_EQ(lc.state, WorkerState::Backoff);
  EXPECT_TRUE(a.schedule_restart);
  EXPECT_TRUE(a.notify_peers);
  EXPECT_FALSE(a.fatal);
  EXPECT_EQ(lc.last_uptime_ns, kSec);
}

TEST_F(Lifecycle, StartingExited78IsFatal) {
  goto_state(WorkerState::Starting);
  WorkerActions a = apply(EventKind::Exited, 2 * kSec, rdv::kExitConfig);
  EXPECT_EQ(lc.state, WorkerState::Failed);
  EXPECT_TRUE(a.fatal);
  EXPECT_FALSE(a.schedule_restart);
  EXPECT_FALSE(a.spawn);
}

TEST_F(Lifecycle, StartingUnresponsiveKilled) {
  goto_state(WorkerState::Starting);
  WorkerActions a = apply(EventKind::Unresponsive, 70 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Killing);
  EXPECT_TRUE(a.send_sigkill);
  EXPECT_EQ(action_count(a), 1);
}

TEST_F(Lifecycle, StartingStopSendsSigterm) {
  goto_state(WorkerState::Starting);
  WorkerActions a = apply(EventKind::Stop, 2 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Stopping);
  EXPECT_TRUE(a.send_sigterm);
  EXPECT_EQ(action_count(a), 1);
}

TEST_F(Lifecycle, ReadyExitedRestartsAndNotifies) {
  goto_state(WorkerState::Ready);
  WorkerActions a = apply(EventKind::Exited, 6 * kSec, -1, SIGKILL);
  EXPECT_EQ(lc.state, WorkerState::Backoff);
  EXPECT_TRUE(a.schedule_restart);
  EXPECT_TRUE(a.notify_peers);
  // First failure: restart at once (the listener holds connections meanwhile).
  EXPECT_EQ(a.restart_delay_ns, 0);
  EXPECT_EQ(lc.failure_streak, 1);
  EXPECT_EQ(lc.last_uptime_ns, 5 * kSec);
}

TEST_F(Lifecycle, ReadyCleanExitStillCountsAsFailure) {
  goto_state(WorkerState::Ready);
  WorkerActions a = apply(EventKind::Exited, 2 * kSec, 0);
  EXPECT_EQ(lc.state, WorkerState::Backoff);
  EXPECT_TRUE(a.schedule_restart);
  EXPECT_EQ(lc.failure_streak, 1);
}

TEST_F(Lifecycle, ReadyExited78IsFatal) {
  goto_state(WorkerState::Ready);
  WorkerActions a = apply(EventKind::Exited, 2 * kSec, rdv::kExitConfig);
  EXPECT_EQ(lc.state, WorkerState::Failed);
  EXPECT_TRUE(a.fatal);
  EXPECT_FALSE(a.schedule_restart);
}

TEST_F(Lifecycle, ReadyUnresponsiveKilled) {
  goto_state(WorkerState::Ready);
  WorkerActions a = apply(EventKind::Unresponsive, 20 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Killing);
  EXPECT_TRUE(a.send_sigkill);
}

TEST_F(Lifecycle, ReadyStopSendsSigterm) {
  goto_state(WorkerState::Ready);
  WorkerActions a = apply(EventKind::Stop, 2 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Stopping);
  EXPECT_TRUE(a.send_sigterm);
  EXPECT_EQ(action_count(a), 1);
}

TEST_F(Lifecycle, KillingExitedAnyStatusRestarts) {
  for (int code : {0, 1, rdv::kExitConfig, -1}) {
    lc = WorkerLifecycle{};
    goto_state(WorkerState::Killing);
    WorkerActions a = apply(EventKind::Exited, 21 * kSec, code, code == -1 ? SIGKILL : 0);
    EXPECT_EQ(lc.state, WorkerState::Backoff) << "exit " << code;
    EXPECT_TRUE(a.schedule_restart) << "exit " << code;
    EXPECT_TRUE(a.notify_peers) << "exit " << code;
    EXPECT_FALSE(a.fatal) << "exit " << code;
  }
}

TEST_F(Lifecycle, KillingStopGoesToStoppingWithoutSignal) {
  goto_state(WorkerState::Killing);
  WorkerActions a = apply(EventKind::Stop, 21 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Stopping);
  EXPECT_FALSE(a.send_sigterm);
  EXPECT_FALSE(a.send_sigkill);
  EXPECT_FALSE(a.ignored);
}

TEST_F(Lifecycle, BackoffElapsedSpawns) {
  goto_state(WorkerState::Backoff);
  WorkerActions a = apply(EventKind::BackoffElapsed, 3 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Starting);
  EXPECT_TRUE(a.spawn);
  EXPECT_EQ(action_count(a), 1);
}

TEST_F(Lifecycle, BackoffStopCancelsRestart) {
  goto_state(WorkerState::Backoff);
  WorkerActions a = apply(EventKind::Stop, 3 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Stopped);
  EXPECT_TRUE(a.cancel_restart);
  EXPECT_EQ(action_count(a), 1);
}

TEST_F(Lifecycle, StoppingExitedAnyStatusStops) {
  for (int code : {0, 1, rdv::kExitConfig, -1}) {
    lc = WorkerLifecycle{};
    goto_state(WorkerState::Stopping);
    WorkerActions a = apply(EventKind::Exited, 3 * kSec, code, code == -1 ? SIGTERM : 0);
    EXPECT_EQ(lc.state, WorkerState::Stopped) << "exit " << code;
    EXPECT_EQ(action_count(a), 0) << "exit " << code;
  }
}

TEST_F(Lifecycle, StoppingDeadlineSendsSigkill) {
  goto_state(WorkerState::Stopping);
  WorkerActions a = apply(EventKind::StopDeadline, 12 * kSec);
  EXPECT_EQ(lc.state, WorkerState::Stopping);
  EXPECT_TRUE(a.send_sigkill);
  EXPECT_EQ(action_count(a), 1);
}

// Every (state, event) pair that is not in the table is ignored and changes nothing.
TEST_F(Lifecycle, PairsOutsideTheTableAreIgnored) {
  struct Pair {
    WorkerState s;
    EventKind e;
  };
  const std::vector<Pair> ignored = {
      {WorkerState::Stopped, EventKind::Spawned},        {WorkerState::Stopped, EventKind::SpawnFailed},
      {WorkerState::Stopped, EventKind::ReadyReported},  {WorkerState::Stopped, EventKind::Exited},
      {WorkerState::Stopped, EventKind::BackoffElapsed}, {WorkerState::Stopped, EventKind::Unresponsive},
      {WorkerState::Stopped, EventKind::Stop},           {WorkerState::Stopped, EventKind::StopDeadline},
      {WorkerState::Starting, EventKind::Start},         {WorkerState::Starting, EventKind::BackoffElapsed},
      {WorkerState::Starting, EventKind::StopDeadline},  {WorkerState::Ready, EventKind::Start},
      {WorkerState::Ready, EventKind::Spawned},          {WorkerState::Ready, EventKind::SpawnFailed},
      {WorkerState::Ready, EventKind::ReadyReported},    {WorkerState::Ready, EventKind::BackoffElapsed},
      {WorkerState::Ready, EventKind::StopDeadline},     {WorkerState::Killing, EventKind::Start},
      {WorkerState::Killing, EventKind::ReadyReported},  {WorkerState::Killing, EventKind::Unresponsive},
      {WorkerState::Killing, EventKind::BackoffElapsed}, {WorkerState::Backoff, EventKind::Start},
      {WorkerState::Backoff, EventKind::Spawned},        {WorkerState::Backoff, EventKind::ReadyReported},
      {WorkerState::Backoff, EventKind::Exited},         {WorkerState::Backoff, EventKind::Unresponsive},
      {WorkerState::Backoff, EventKind::StopDeadline},   {WorkerState::Stopping, EventKind::Start},
      {WorkerState::Stopping, EventKind::ReadyReported}, {WorkerState::Stopping, EventKind::Unresponsive},
      {WorkerState::Stopping, EventKind::Stop},          {WorkerState::Stopping, EventKind::BackoffElapsed},
      {WorkerState::Failed, EventKind::Start},           {WorkerState::Failed, EventKind::Spawned},
      {WorkerState::Failed, EventKind::ReadyReported},   {WorkerState::Failed, EventKind::Exited},
      {WorkerState::Failed, EventKind::BackoffElapsed},  {WorkerState::Failed, EventKind::Unresponsive},
      {WorkerState::Failed, EventKind::Stop},            {WorkerState::Failed, EventKind::StopDeadline},
  };
  for (const Pair& p : ignored) {
    lc = WorkerLifecycle{};
    goto_state(p.s);
    WorkerLifecycle before = lc;
    WorkerActions a = apply(p.e, 30 * kSec, 1);
    SCOPED_TRACE(std::string(rdv::supervisor::state_name(p.s)) + " + " + rdv::supervisor::event_name(p.e));
    EXPECT_TRUE(a.ignored);
    EXPECT_EQ(action_count(a), 1);
    EXPECT_EQ(lc.state, before.state);
    EXPECT_EQ(lc.failure_streak, before.failure_streak);
    EXPECT_EQ(lc.started_ns, before.started_ns);
    EXPECT_EQ(lc.restart_at_ns, before.restart_at_ns);
    EXPECT_EQ(lc.starts, before.starts);
  }
}

// A worker that keeps crashing right after start: 0, 1, 2, 4 … 60 s; a healthy run resets.
TEST_F(Lifecycle, CrashLoopBacksOffThenResetsAfterHealthyRun) {
  int64_t t = 0;
  const int64_t expected_s[] = {0, 1, 2, 4, 8, 16, 32, 60, 60};
  for (int i = 0; i < 9; i++) {
    bring_up(t);
    WorkerActions a = apply(EventKind::Exited, t + kSec / 2, 1);
    ASSERT_TRUE(a.schedule_restart);
    EXPECT_EQ(a.restart_delay_ns, expected_s[i] * kSec) << "crash " << i + 1;
    EXPECT_EQ(lc.failure_streak, i + 1);
    t += kSec / 2 + a.restart_delay_ns;
    EXPECT_EQ(lc.restart_at_ns, t);
  }
  EXPECT_EQ(lc.starts, 9u);
  // Now a run of 60 s: the next crash restarts at once again.
  bring_up(t);
  WorkerActions a = apply(EventKind::Exited, t + 60 * kSec, -1, SIGSEGV);
  EXPECT_EQ(lc.failure_streak, 1);
  EXPECT_EQ(a.restart_delay_ns, 0);
}

TEST_F(Lifecycle, PingBookkeeping) {
  goto_state(WorkerState::Ready);
  EXPECT_TRUE(lc.answered_last_ping());
  lc.on_ping_sent(1);
  EXPECT_FALSE(lc.answered_last_ping());
  lc.on_pong(1, 3 * kSec);
  EXPECT_TRUE(lc.answered_last_ping());
  EXPECT_EQ(lc.last_heard_ns, 3 * kSec);
  lc.on_ping_sent(2);
  lc.on_pong(5, 4 * kSec);  // a pong for a ping never sent does not count
  EXPECT_FALSE(lc.answered_last_ping());
  lc.on_pong(1, 4 * kSec);  // a stale pong does not count either
  EXPECT_FALSE(lc.answered_last_ping());
  lc.on_pong(2, 4 * kSec);
  EXPECT_TRUE(lc.answered_last_ping());
  // A worker that is not running never blocks the watchdog.
  lc.on_ping_sent(3);
  apply(EventKind::Exited, 5 * kSec, 1);
  EXPECT_TRUE(lc.answered_last_ping());
}

TEST_F(Lifecycle, UnresponsiveTimeouts) {
  rdv::supervisor::Timeouts t;
  EXPECT_EQ(t.hang_timeout_ns, 10 * kSec);
  EXPECT_EQ(t.start_timeout_ns, 60 * kSec);
  goto_state(WorkerState::Starting);  // spawned at 1 s
  EXPECT_FALSE(lc.is_unresponsive(61 * kSec, t));
  EXPECT_TRUE(lc.is_unresponsive(61 * kSec + 1, t));
  lc.on_message(50 * kSec);  // a status message shows progress
  EXPECT_FALSE(lc.is_unresponsive(100 * kSec, t));
  apply(EventKind::ReadyReported, 100 * kSec);
  EXPECT_FALSE(lc.is_unresponsive(110 * kSec, t));
  EXPECT_TRUE(lc.is_unresponsive(110 * kSec + 1, t));
  lc.on_pong(0, 109 * kSec);
  EXPECT_FALSE(lc.is_unresponsive(115 * kSec, t));
  // Not running: never unresponsive.
  apply(EventKind::Exited, 200 * kSec, 1);
  EXPECT_FALSE(lc.is_unresponsive(1000 * kSec, t));
}

TEST(LifecycleText, DescribeExit) {
  EXPECT_EQ(rdv::supervisor::describe_exit(1, 0), "exit 1");
  EXPECT_EQ(rdv::supervisor::describe_exit(78, 0), "exit 78");
  EXPECT_EQ(rdv::supervisor::describe_exit(0, 0), "exit 0");
  EXPECT_EQ(rdv::supervisor::describe_exit(-1, SIGKILL), "signal 9 (Killed)");
}

TEST(LifecycleText, StateAndEventNames) {
  EXPECT_STREQ(rdv::supervisor::state_name(WorkerState::Ready), "ready");
  EXPECT_STREQ(rdv::supervisor::state_name(WorkerState::Backoff), "backoff");
  EXPECT_STREQ(rdv::supervisor::event_name(EventKind::Exited), "exited");
}

TEST_F(Lifecycle, StatusParts) {
  using rdv::supervisor::status_part;
  EXPECT_EQ(status_part("registry", lc, 0), "registry stopped");
  goto_state(WorkerState::Starting);
  EXPECT_EQ(status_part("admin", lc, 0), "admin starting");
  apply(EventKind::ReadyReported, kSec);
  EXPECT_EQ(status_part("registry", lc, 0), "registry ready");
  // Three quick crashes: attempt 3, restart in 2 s.
  apply(EventKind::Exited, 2 * kSec, 1);
  apply(EventKind::BackoffElapsed, 2 * kSec);
  apply(EventKind::Spawned, 2 * kSec);
  EXPECT_EQ(status_part("registry", lc, 2 * kSec), "registry restarting");
  apply(EventKind::Exited, 3 * kSec, 1);
  apply(EventKind::BackoffElapsed, 4 * kSec);
  apply(EventKind::Spawned, 4 * kSec);
  apply(EventKind::Exited, 5 * kSec, 1);
  ASSERT_EQ(lc.failure_streak, 3);
  EXPECT_EQ(status_part("registry", lc, 5 * kSec), "restarting registry (attempt 3, in 2s)");
  EXPECT_EQ(status_part("registry", lc, 5 * kSec + kSec / 2), "restarting registry (attempt 3, in 2s)");
  EXPECT_EQ(status_part("registry", lc, 6 * kSec + 1), "restarting registry (attempt 3, in 1s)");

  lc = WorkerLifecycle{};
  goto_state(WorkerState::Killing);
  EXPECT_EQ(status_part("replicator", lc, 0), "replicator hung (killed)");
  lc = WorkerLifecycle{};
  goto_state(WorkerState::Stopping);
  EXPECT_EQ(status_part("registry", lc, 0), "registry stopping");
  lc = WorkerLifecycle{};
  goto_state(WorkerState::Failed);
  EXPECT_EQ(status_part("registry", lc, 0), "registry failed");
}

}  // namespace
