// The supervisor's event loop: the thin shell around worker_lifecycle.h. It turns signals,
// control-socket messages and timers into lifecycle events, and carries out the actions the
// state machine returns (spawn, signal, schedule a restart, tell the peers, shut down).
//
//   boot:      registry first; when it reports ready, admin (only with -http) and replicator.
//              When every worker is ready: sd_notify READY=1. STATUS= follows every change.
//   pings:     every 1 s {"op":"ping","seq":N} to every running worker; WATCHDOG=1 only while
//              all of them answered the previous ping; 10 s of silence = hung → SIGKILL.
//   SIGCHLD:   waitpid loop; a dead worker is restarted with restart_policy.h's backoff and
//              the others get {"op":"peer_died"}; exit 78 stops everything (exit 78).
//   SIGTERM/SIGINT: STOPPING=1, SIGTERM to every worker, SIGKILL after 9 s, exit 0.
//   SIGHUP:    re-read the config; push live settings to the workers with {"op":"reload"}.
//
// The listeners stay open here for the supervisor's whole life, so restarts never close a port.
// Process rules: one Supervisor per process, used from the main thread only.
#pragma once

#include <event2/event.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "json.h"
#include "listeners.h"
#include "restart_policy.h"
#include "util.h"
#include "event.h"
#include "worker_lifecycle.h"

namespace rdv::supervisor {

// The workers this configuration runs, in start order: registry, admin (only with -http),
// replicator.
std::vector<std::string> worker_names(const Config& cfg);

// The config to push on SIGHUP: `fresh` for every live setting, `running` for the settings
// that only take effect at a restart (listeners, directories, role). Fills *restart_needed and
// *changed_live with the hyphenated keys that differ. Pure; unit-testable.
Config merge_reloaded_config(const Config& running, const Config& fresh,
                             std::vector<std::string>* restart_needed,
                             std::vector<std::string>* changed_live);
// Keys whose values must never be logged.
bool is_secret_setting(const std::string& key);

class Supervisor {
 public:
  struct Options {
    RestartPolicy restart;
    Timeouts timeouts;
    int64_t ping_interval_ns = 1'000'000'000LL;
    int64_t stop_grace_ns = 9'000'000'000LL;   // SIGTERM → SIGKILL
    int64_t stop_give_up_ns = 9'800'000'000LL;  // exit even if a process never goes away
  };

  // `binaries`: full paths, same order as worker_names(cfg).
  Supervisor(Config cfg, Listeners listeners, std::vector<std::string> binaries, Options options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs until shutdown; returns the process exit code (0, or kExitConfig after a fatal
  // worker, or kExitFailure when the loop itself could not be set up).
  int run();

 private:
  struct Worker {
    Supervisor* owner = nullptr;
    std::string name;
    std::string binary;
    int listener_fd = -1;  // borrowed from listeners_
    WorkerLifecycle lc;
    pid_t pid = -1;
    UniqueFd control;
    EventPtr control_event;
    EventPtr restart_timer;
    std::string last_fatal;   // last {"op":"fatal"} message, kept across restarts
    std::string last_status;  // last {"op":"status"} text
    std::string last_exit;    // describe_exit() of the last process that exited
  };

  Worker* find(const std::string& name);
  Worker* find_pid(pid_t pid);

  // Feeds one event to a worker's state machine, logs the transition and carries out the
  // actions.
  void apply(Worker& w, EventKind kind, int exit_code = -1, int term_signal = 0);
  void spawn(Worker& w);
  void send_signal(Worker& w, int sig);
  void notify_peers_of(const Worker& dead);
  void send_to(Worker& w, const json_t* msg);
  void close_control(Worker& w);
  void drain_control(Worker& w);
  void handle_message(Worker& w, const json_t* msg);
  void on_worker_ready(Worker& w);
  void begin_shutdown(int exit_code, const std::string& reason);
  void check_shutdown_done();
  void reload();
  void ping_tick();
  void update_status();
  void write_workers_file();
  void notify(const std::string& text);

  static void on_control(evutil_socket_t fd, short what, void* arg);
  static void on_restart_timer(evutil_socket_t fd, short what, void* arg);
  static void on_signal(evutil_socket_t sig, short what, void* arg);
  static void on_ping_timer(evutil_socket_t fd, short what, void* arg);
  static void on_stop_deadline(evutil_socket_t fd, short what, void* arg);
  static void on_stop_give_up(evutil_socket_t fd, short what, void* arg);

  Config cfg_;
  Listeners listeners_;
  Options options_;
  EventBasePtr base_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<EventPtr> signal_events_;
  EventPtr ping_timer_, stop_deadline_timer_, stop_give_up_timer_;
  uint64_t ping_seq_ = 0;
  bool watchdog_enabled_ = false;
  bool notify_failure_logged_ = false;
  bool ready_notified_ = false;
  bool shutting_down_ = false;
  int exit_code_ = kExitOk;
  std::string fatal_worker_;
  std::string last_status_text_;
};

}  // namespace rdv::supervisor
