// The lifecycle of one supervised worker as a pure state machine (s6 style): a function of the
// current state and one event that returns the next state plus the actions the event-loop
// shell must carry out. No processes, fds or clocks here — time arrives inside the events — so
// every transition is unit-testable.
//
// Transition table (every pair not listed is ignored: no change, actions.ignored = true):
//
//   from      event              to        actions
//   --------  -----------------  --------  ------------------------------------------------
//   Stopped   Start              Starting  spawn
//   Starting  Spawned            Starting  (records spawn time, resets the ping counters)
//   Starting  SpawnFailed        Backoff   schedule_restart
//   Starting  ReadyReported      Ready     became_ready
//   Starting  Exited (not 78)    Backoff   schedule_restart, notify_peers
//   Starting  Exited (78)        Failed    fatal
//   Starting  Unresponsive       Killing   send_sigkill
//   Starting  Stop               Stopping  send_sigterm
//   Ready     Exited (not 78)    Backoff   schedule_restart, notify_peers
//   Ready     Exited (78)        Failed    fatal
//   Ready     Unresponsive       Killing   send_sigkill
//   Ready     Stop               Stopping  send_sigterm
//   Killing   Exited (any)       Backoff   schedule_restart, notify_peers
//   Killing   Stop               Stopping  (SIGKILL already sent)
//   Backoff   BackoffElapsed     Starting  spawn
//   Backoff   Stop               Stopped   cancel_restart
//   Stopping  Exited (any)       Stopped
//   Stopping  StopDeadline       Stopping  send_sigkill
//   Failed    (terminal: the supervisor stops the others and exits kExitConfig)
//
// schedule_restart: a start after restart_delay_ns(next_failure_streak(...)) (restart_policy.h):
// immediately after a healthy run, then 1 s doubling to 60 s. notify_peers: tell the other
// workers that this one died, so they run mdb_reader_check. A worker killed because it was hung
// (Killing) is always restarted, whatever its exit status. Any exit counts as a failure for the
// streak, exit 0 included: workers only exit by themselves when something went wrong.
//
// Liveness: every message from the worker (pong, ready, status, fatal) counts as a sign of
// life. A Ready worker silent for `hang_timeout_ns` (10 s) is hung; a Starting worker gets
// `start_timeout_ns` (60 s) from its spawn or its last message, because opening or importing
// a large store may keep it out of its event loop for a while (it can send {"op":"status"} to
// show progress).
//
// Thread rules: plain values, no shared state; call from the supervisor's loop thread.
#pragma once

#include <cstdint>
#include <string>

#include "restart_policy.h"

namespace rdv::supervisor {

enum class WorkerState : uint8_t {
  Stopped,   // no process and none wanted (initial, or after a clean stop)
  Starting,  // process spawned, has not reported {"op":"ready"} yet
  Ready,     // process running and reported ready
  Killing,   // declared hung and SIGKILLed; waiting for its exit to restart it
  Backoff,   // process dead; a restart is scheduled
  Stopping,  // SIGTERM sent on supervisor shutdown; waiting for its exit
  Failed,    // exited with kExitConfig (78): terminal, restarting cannot help
};
const char* state_name(WorkerState s);

enum class EventKind : uint8_t {
  Start,           // the supervisor wants the worker running (boot order)
  Spawned,         // fork+exec done; now_ns is the spawn time
  SpawnFailed,     // socketpair/fork failed in the supervisor
  ReadyReported,   // {"op":"ready"} received
  Exited,          // waitpid() reported the process gone: exit_code or term_signal set
  BackoffElapsed,  // the restart timer fired
  Unresponsive,    // is_unresponsive() said so at a ping tick
  Stop,            // supervisor shutdown (SIGTERM/SIGINT, or a fatal worker)
  StopDeadline,    // the shutdown grace period (9 s) is over
};
const char* event_name(EventKind k);

struct WorkerEvent {
  EventKind kind = EventKind::Start;
  int64_t now_ns = 0;    // monotonic time of the event
  int exit_code = -1;    // Exited: exit status, or -1 when killed by a signal
  int term_signal = 0;   // Exited: the signal that killed it, or 0
};

// What the shell must do after a transition. Several may be set at once (e.g. an exit both
// schedules a restart and notifies the peers).
struct WorkerActions {
  bool spawn = false;           // fork+exec the worker now, then feed it EventKind::Spawned
  bool schedule_restart = false;  // arm the restart timer for restart_delay_ns
  int64_t restart_delay_ns = 0;
  bool cancel_restart = false;  // disarm the restart timer
  bool send_sigterm = false;
  bool send_sigkill = false;
  bool notify_peers = false;    // send {"op":"peer_died"} to the other running workers
  bool fatal = false;           // exit code 78: stop everything and exit kExitConfig
  bool became_ready = false;    // first ready of this process: re-check the boot order
  bool ignored = false;         // the event does not apply in this state (nothing changed)
};

struct Timeouts {
  int64_t hang_timeout_ns = 10'000'000'000LL;   // Ready: silence that means hung
  int64_t start_timeout_ns = 60'000'000'000LL;  // Starting: silence allowed before ready
};

// One worker's lifecycle. Public fields so the shell can read them for logs and STATUS=;
// only transition() and the on_* recorders below change them.
struct WorkerLifecycle {
  WorkerState state = WorkerState::Stopped;
  int failure_streak = 0;      // consecutive failures (restart_policy.h); 0 = none yet
  int64_t started_ns = 0;      // spawn time of the current/last process
  int64_t last_heard_ns = 0;   // last message from the current process
  int64_t restart_at_ns = 0;   // Backoff: when the restart timer fires
  int64_t last_uptime_ns = 0;  // uptime of the last process that exited
  uint64_t ping_sent_seq = 0;  // last ping sent to the current process (0 = none yet)
  uint64_t ping_answered_seq = 0;  // highest pong received from the current process
  uint64_t starts = 0;         // processes spawned so far

  // Applies one event. Precondition for Exited: state is one with a process.
  WorkerActions transition(const WorkerEvent& ev, const RestartPolicy& policy);

  // Recorders for the ping protocol (no state change).
  void on_message(int64_t now_ns) { last_heard_ns = now_ns; }
  void on_ping_sent(uint64_t seq) { ping_sent_seq = seq; }
  void on_pong(uint64_t seq, int64_t now_ns) {
    if (seq > ping_answered_seq && seq <= ping_sent_seq) ping_answered_seq = seq;
    last_heard_ns = now_ns;
  }

  // A process exists for this worker (it may be dying).
  bool has_process() const {
    return state == WorkerState::Starting || state == WorkerState::Ready ||
           state == WorkerState::Killing || state == WorkerState::Stopping;
  }
  // The worker is expected to answer pings: Starting or Ready.
  bool running() const { return state == WorkerState::Starting || state == WorkerState::Ready; }
  // For the watchdog: true unless the worker is running and left the last ping unanswered.
  bool answered_last_ping() const { return !running() || ping_answered_seq >= ping_sent_seq; }
  // True when a running worker has been silent longer than its state allows.
  bool is_unresponsive(int64_t now_ns, const Timeouts& t) const;
};

// "exit 1", "exit 78", "signal 9 (Killed)" — for logs.
std::string describe_exit(int exit_code, int term_signal);

// One worker's part of the STATUS= line: "registry ready", "admin starting",
// "restarting registry (attempt 3, in 2s)", "replicator hung (killed)", "registry stopping".
std::string status_part(const std::string& name, const WorkerLifecycle& lc, int64_t now_ns);

}  // namespace rdv::supervisor
