#include "supervisor.h"

#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstring>
#include <set>

#include "files.h"
#include "ipc.h"
#include "log.h"
#include "role.h"
#include "spawn.h"

namespace rdv::supervisor {
namespace {

timeval to_timeval(int64_t ns) {
  if (ns < 0) ns = 0;
  timeval tv;
  tv.tv_sec = time_t(ns / 1'000'000'000);
  tv.tv_usec = suseconds_t((ns % 1'000'000'000) / 1000);
  return tv;
}

// "3.2s" — uptimes and start durations for logs.
std::string seconds_text(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", double(ns) / 1e9);
  return buf;
}

// Settings that only take effect when the process restarts: listeners are bound once, the
// data and run dirs are where every worker's files live, and the role (standby) decides what
// the workers are. A SIGHUP keeps the running values for these and warns.
const std::set<std::string>& restart_only_settings() {
  static const std::set<std::string> keys = {
      "config", "registry-addr", "http", "data-dir", "run-dir", "standby", "tls", "store", "wss-addr", "map-size-mb"};
  return keys;
}

// event_add with the failure logged by the call's name. `what` names the event ("ping timer").
// libevent reports no errno worth printing here: its failures are internal (epoll_ctl, the
// timer heap), so the event is named instead.
bool add_event(event* ev, const timeval* tv, const std::string& what) {
  if (event_add(ev, tv) == 0) return true;
  log_error("event_add(" + what + ") failed");
  return false;
}

}  // namespace

bool is_secret_setting(const std::string& key) {
  return key == "admin-token" || key == "dashboard-token" || key == "repl-token" || key == "tls-generated";
}

std::vector<std::string> worker_names(const Config& cfg) {
  std::vector<std::string> names{"registry"};
  if (!cfg.http.empty()) names.push_back("admin");
  names.push_back("replicator");
  return names;
}

Config merge_reloaded_config(const Config& running, const Config& fresh,
                             std::vector<std::string>* restart_needed,
                             std::vector<std::string>* changed_live) {
  JsonPtr old_json(running.to_json()), new_json(fresh.to_json());
  const char* key;
  json_t* value;
  json_object_foreach(new_json.get(), key, value) {
    json_t* old_value = json_object_get(old_json.get(), key);
    if (old_value && json_equal(old_value, value)) continue;
    (restart_only_settings().count(key) ? restart_needed : changed_live)->push_back(key);
  }
  for (auto& k : *restart_needed)  // keep what is actually running
    json_object_set(new_json.get(), k.c_str(), json_object_get(old_json.get(), k.c_str()));
  Config merged;
  std::string error;
  // Cannot fail: both values came out of to_json() of validated configs.
  bool ok = merged.from_json(new_json.get(), &error);
  RDV_ASSERT(ok);
  merged.cli_args = running.cli_args;
  merged.fenced = running.fenced;  // the role is decided at run time (role.h), like standby
  merged.tls_generated = running.tls_generated;  // daemons pinned it: it lives as long as the process
  return merged;
}

Supervisor::Supervisor(Config cfg, Listeners listeners, std::vector<std::string> binaries, Options options)
    : cfg_(std::move(cfg)), listeners_(std::move(listeners)), options_(options) {
  std::vector<std::string> names = worker_names(cfg_);
  RDV_ASSERT(names.size() == binaries.size());
  for (size_t i = 0; i < names.size(); i++) {
    auto w = std::make_unique<Worker>();
    w->owner = this;
    w->name = names[i];
    w->binary = binaries[i];
    if (w->name == "registry") w->listener_fd = listeners_.registry.get();
    if (w->name == "admin") w->listener_fd = listeners_.admin.get();
    workers_.push_back(std::move(w));
  }
}

Supervisor::~Supervisor() {
  // Events before the base they belong to.
  for (auto& w : workers_) {
    w->control_event.reset();
    w->restart_timer.reset();
  }
  signal_events_.clear();
  ping_timer_.reset();
  stop_deadline_timer_.reset();
  stop_give_up_timer_.reset();
}

Supervisor::Worker* Supervisor::find(const std::string& name) {
  for (auto& w : workers_)
    if (w->name == name) return w.get();
  return nullptr;
}

Supervisor::Worker* Supervisor::find_pid(pid_t pid) {
  for (auto& w : workers_)
    if (w->pid == pid && w->lc.has_process()) return w.get();
  return nullptr;
}

void Supervisor::notify(const std::string& text) {
  int rc = sd_notify(0, text.c_str());
  if (rc < 0 && !notify_failure_logged_) {  // once: this runs every second
    notify_failure_logged_ = true;
    log_warn("sd_notify() failed", {{"error", std::strerror(-rc)}});
  } else if (rc >= 0) {
    notify_failure_logged_ = false;
  }
}

int Supervisor::run() {
  base_.reset(event_base_new());
  if (!base_) {
    log_error("event_base_new() failed");
    return kExitFailure;
  }
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
    EventPtr ev(evsignal_new(base_.get(), sig, &Supervisor::on_signal, this));
    if (!ev) {
      log_error("evsignal_new() failed", {{"signal", strsignal(sig)}});
      return kExitFailure;
    }
    if (!add_event(ev.get(), nullptr, std::string("signal ") + strsignal(sig))) return kExitFailure;
    signal_events_.push_back(std::move(ev));
  }
  for (auto& w : workers_) {
    w->restart_timer.reset(evtimer_new(base_.get(), &Supervisor::on_restart_timer, w.get()));
    if (!w->restart_timer) {
      log_error("evtimer_new() failed for a restart timer", {{"worker", w->name}});
      return kExitFailure;
    }
  }
  ping_timer_.reset(event_new(base_.get(), -1, EV_PERSIST, &Supervisor::on_ping_timer, this));
  stop_deadline_timer_.reset(evtimer_new(base_.get(), &Supervisor::on_stop_deadline, this));
  stop_give_up_timer_.reset(evtimer_new(base_.get(), &Supervisor::on_stop_give_up, this));
  if (!ping_timer_ || !stop_deadline_timer_ || !stop_give_up_timer_) {
    log_error(std::string(!ping_timer_ ? "event_new() failed for the ping timer"
                                       : "evtimer_new() failed for a stop timer"));
    return kExitFailure;
  }
  timeval ping = to_timeval(options_.ping_interval_ns);
  if (!add_event(ping_timer_.get(), &ping, "ping timer")) return kExitFailure;

  uint64_t watchdog_usec = 0;
  watchdog_enabled_ = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  if (watchdog_enabled_)
    log_info("systemd watchdog enabled", {{"interval", seconds_text(int64_t(watchdog_usec) * 1000)}});

  apply(*workers_.front(), EventKind::Start);  // the registry; the rest follow its ready
  if (event_base_dispatch(base_.get()) < 0) {
    log_error("event_base_dispatch() failed");
    if (exit_code_ == kExitOk) exit_code_ = kExitFailure;
  }

  if (exit_code_ == kExitConfig && !fatal_worker_.empty()) {
    Worker* w = find(fatal_worker_);
    std::string msg = w && !w->last_fatal.empty() ? w->last_fatal : "exited with status 78 (configuration error)";
    std::fprintf(stderr, "rendezvous: %s: %s\n", fatal_worker_.c_str(), msg.c_str());
  }
  log_info("supervisor exiting", {{"code", std::to_string(exit_code_)}});
  return exit_code_;
}

void Supervisor::apply(Worker& w, EventKind kind, int exit_code, int term_signal) {
  const int64_t now = mono_now_ns();
  const WorkerState before = w.lc.state;
  WorkerEvent ev;
  ev.kind = kind;
  ev.now_ns = now;
  ev.exit_code = exit_code;
  ev.term_signal = term_signal;
  WorkerActions a = w.lc.transition(ev, options_.restart);
  if (a.ignored) {
    log_debug("lifecycle event ignored",
              {{"worker", w.name}, {"event", event_name(kind)}, {"state", state_name(before)}});
    return;
  }
  if (w.lc.state != before)
    log_debug("worker state", {{"worker", w.name}, {"from", state_name(before)}, {"to", state_name(w.lc.state)},
                               {"event", event_name(kind)}});

  if (a.cancel_restart && event_del(w.restart_timer.get()) != 0)
    log_error("event_del(restart timer) failed", {{"worker", w.name}});
  if (a.send_sigterm) send_signal(w, SIGTERM);
  if (a.send_sigkill) send_signal(w, SIGKILL);
  if (a.notify_peers && !shutting_down_) notify_peers_of(w);
  if (a.schedule_restart && !shutting_down_) {
    if (a.restart_delay_ns == 0)
      log_info("restarting worker now", {{"worker", w.name}, {"attempt", std::to_string(w.lc.failure_streak)}});
    else
      log_warn("restarting worker after backoff", {{"worker", w.name},
                                                   {"attempt", std::to_string(w.lc.failure_streak)},
                                                   {"delay", seconds_text(a.restart_delay_ns)}});
    timeval tv = to_timeval(a.restart_delay_ns);
    // Without the timer the worker would stay down for good: say so loudly.
    if (!add_event(w.restart_timer.get(), &tv, "restart timer"))
      log_error("worker will not be restarted", {{"worker", w.name}});
  } else if (a.schedule_restart) {
    apply(w, EventKind::Stop);  // shutting down: Backoff → Stopped
  }
  if (a.fatal) {
    log_error("worker reported a configuration or store error; not restarting it",
              {{"worker", w.name}, {"error", w.last_fatal.empty() ? "(no message)" : w.last_fatal}});
    if (!shutting_down_) {
      fatal_worker_ = w.name;
      begin_shutdown(kExitConfig, w.name + " failed");
    }
  }
  if (a.spawn) spawn(w);  // may re-enter apply() with Spawned or SpawnFailed
  if (a.became_ready) on_worker_ready(w);
  update_status();
  if (shutting_down_) check_shutdown_done();
}

void Supervisor::spawn(Worker& w) {
  std::string error;
  SpawnedWorker s = spawn_worker(w.name, w.binary, w.listener_fd, &error);
  if (s.pid < 0) {
    log_error(error, {{"worker", w.name}});
    apply(w, EventKind::SpawnFailed);
    return;
  }
  w.pid = s.pid;
  w.control = std::move(s.control);
  w.control_event.reset(event_new(base_.get(), w.control.get(), EV_READ | EV_PERSIST, &Supervisor::on_control, &w));
  bool watching = w.control_event != nullptr;
  if (!watching) log_error("event_new(control socket) failed", {{"worker", w.name}});
  else watching = add_event(w.control_event.get(), nullptr, "control socket of " + w.name);
  apply(w, EventKind::Spawned);
  if (!watching) {
    // We would never hear from it: kill it now rather than wait for the hang check, and let
    // SIGCHLD and the restart policy try again.
    send_signal(w, SIGKILL);
    return;
  }
  log_info("worker started", {{"worker", w.name}, {"pid", std::to_string(w.pid)}, {"binary", w.binary},
                              {"start", std::to_string(w.lc.starts)}});
  JsonPtr msg(json_pack("{s:s,s:o}", "op", "config", "config", cfg_.to_json()));
  send_to(w, msg.get());
}

void Supervisor::send_signal(Worker& w, int sig) {
  if (w.pid <= 0) return;
  if (::kill(w.pid, sig) != 0 && errno != ESRCH)
    log_error(sys_error(std::string("kill(") + strsignal(sig) + ") failed"), {{"worker", w.name},
                                                                               {"pid", std::to_string(w.pid)}});
}

void Supervisor::send_to(Worker& w, const json_t* msg) {
  if (!w.control) return;
  if (!ipc::send_msg(w.control.get(), msg)) {
    // EAGAIN: a hung worker's queue is full (the hang check will deal with it); EPIPE etc.:
    // it is dying and SIGCHLD will tell.
    log_debug(sys_error("send() failed on control socket"), {{"worker", w.name}});
  }
}

void Supervisor::notify_peers_of(const Worker& dead) {
  JsonPtr msg(json_pack("{s:s,s:s}", "op", "peer_died", "worker", dead.name.c_str()));
  for (auto& w : workers_)
    if (w.get() != &dead && w->lc.running()) send_to(*w, msg.get());
}

void Supervisor::close_control(Worker& w) {
  w.control_event.reset();
  w.control.reset();
}

void Supervisor::handle_message(Worker& w, const json_t* msg) {
  const int64_t now = mono_now_ns();
  std::string_view op = json_str(msg, "op");
  if (op == "pong") {
    w.lc.on_pong(uint64_t(json_integer_value(json_object_get(msg, "seq"))), now);
  } else if (op == "ready") {
    w.lc.on_message(now);
    if (w.lc.state == WorkerState::Starting)
      log_info("worker ready", {{"worker", w.name}, {"pid", std::to_string(w.pid)},
                                {"startup", seconds_text(now - w.lc.started_ns)}});
    apply(w, EventKind::ReadyReported);
  } else if (op == "status") {
    w.lc.on_message(now);
    w.last_status = std::string(json_str(msg, "text"));
    log_info("worker status", {{"worker", w.name}, {"status", w.last_status}});
  } else if (op == "fatal") {
    w.lc.on_message(now);
    w.last_fatal = std::string(json_str(msg, "message"));
    if (w.last_fatal.empty()) w.last_fatal = "(no message)";
  } else if (op == "log_level") {
    // An operator's change through the admin API: this process and every worker, and the
    // configuration handed to workers started later (a SIGHUP reload re-reads the file's).
    w.lc.on_message(now);
    LogLevel level;
    std::string_view text = json_str(msg, "level");
    if (!parse_log_level(text, &level)) {
      log_warn("control: invalid log level ignored", {{"worker", w.name}, {"level", text.substr(0, 32)}});
      return;
    }
    log_set_level(level);
    cfg_.log_level = log_level_name(level);
    // At warn, so the line shows whatever the new level is (error aside).
    log_warn("log level changed by an operator", {{"level", cfg_.log_level}, {"requested_by", w.name}});
    JsonPtr out(json_pack("{s:s,s:s}", "op", "log_level", "level", cfg_.log_level.c_str()));
    for (auto& other : workers_)
      if (other->lc.running()) send_to(*other, out.get());
  } else if (op == "role") {
    // The replicator promoted, demoted or fenced this instance (it wrote <data-dir>/role
    // first): every worker and every worker started later takes the new role.
    w.lc.on_message(now);
    Role role;
    std::string why;
    std::string text = "rendezvous role " + std::string(json_str(msg, "role"));
    if (std::string_view leader = json_str(msg, "leader"); !leader.empty()) text += " " + std::string(leader);
    if (!parse_role_text(text + "\n", &role, &why)) {
      log_warn("control: invalid role ignored", {{"worker", w.name}, {"error", why}});
      return;
    }
    set_role(cfg_, role);
    log_warn("replication role changed", {{"role", role_name(role.kind)}, {"leader", role.leader}, {"by", w.name}});
    JsonPtr out(json_pack("{s:s,s:s,s:s}", "op", "role", "role", role_name(role.kind), "leader", role.leader.c_str()));
    for (auto& other : workers_)
      if (other->lc.running()) send_to(*other, out.get());
  } else {
    w.lc.on_message(now);
    log_debug("control: unknown op from worker ignored", {{"worker", w.name}, {"op", op}});
  }
}

// Reads every queued message. Also called when the process is reaped, because SIGCHLD may be
// handled before the readable event that carries its last words ({"op":"fatal"}).
void Supervisor::drain_control(Worker& w) {
  while (w.control) {
    bool eof = false;
    errno = 0;
    JsonPtr msg = ipc::recv_msg(w.control.get(), &eof);
    if (eof) {
      close_control(w);  // the process is exiting; SIGCHLD brings the status
      return;
    }
    if (!msg) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      continue;  // malformed datagram (logged by recv_msg)
    }
    handle_message(w, msg.get());
  }
}

void Supervisor::on_control(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->owner->drain_control(*w);
}

void Supervisor::on_restart_timer(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->owner->apply(*w, EventKind::BackoffElapsed);
}

void Supervisor::on_worker_ready(Worker& w) {
  if (shutting_down_) return;
  if (w.name == "registry") {
    for (auto& other : workers_)
      if (other->lc.state == WorkerState::Stopped) apply(*other, EventKind::Start);
  }
  bool all_ready = true;
  for (auto& other : workers_)
    if (other->lc.state != WorkerState::Ready) all_ready = false;
  if (all_ready && !ready_notified_) {
    ready_notified_ = true;
    log_info("all workers ready; serving", {{"registry", listeners_.registry_addr},
                                            {"http", listeners_.admin_addr.empty() ? "-" : listeners_.admin_addr},
                                            {"mode", cfg_.standby.empty() ? "primary" : "standby"}});
    std::string status;
    for (auto& other : workers_) status += (status.empty() ? "" : ", ") + status_part(other->name, other->lc, 0);
    last_status_text_ = "serving: " + status;
    notify("READY=1\nSTATUS=" + last_status_text_);
  } else if (all_ready) {
    log_info("all workers ready again");
  }
}

void Supervisor::write_workers_file() {
  const int64_t mono = mono_now_ns(), unix_ns = unix_now_ns();
  JsonPtr list(json_array());
  for (auto& w : workers_) {
    const bool alive = w->lc.has_process() && w->pid > 0;
    json_t* o = json_pack("{s:s,s:i,s:s,s:I,s:I,s:I}", "name", w->name.c_str(), "pid", alive ? int(w->pid) : 0,
                          "state", state_name(w->lc.state), "starts", json_int_t(w->lc.starts), "restarts",
                          json_int_t(w->lc.starts > 0 ? w->lc.starts - 1 : 0), "started_unix",
                          json_int_t(w->lc.started_ns > 0 ? (unix_ns - (mono - w->lc.started_ns)) / 1000000000 : 0));
    if (!w->last_exit.empty()) json_object_set_new(o, "last_exit", json_string(w->last_exit.c_str()));
    json_array_append_new(list.get(), o);
  }
  JsonPtr doc(json_pack("{s:i,s:I,s:O}", "supervisor_pid", int(::getpid()), "updated_unix", json_int_t(unix_ns / 1000000000),
                        "workers", list.get()));
  std::string error;
  // The run dir is volatile: no fsync, only atomic replacement so readers never see half a file.
  if (!write_file_atomic(ipc::workers_file_path(cfg_.run_dir), json_dump_compact(doc.get()), 0640, false, &error))
    log_warn("cannot write the workers file", {{"error", error}});
}

void Supervisor::update_status() {
  write_workers_file();
  const int64_t now = mono_now_ns();
  std::string text;
  bool all_ready = true;
  for (auto& w : workers_) {
    if (w->lc.state != WorkerState::Ready) all_ready = false;
    text += (text.empty() ? "" : ", ") + status_part(w->name, w->lc, now);
  }
  if (shutting_down_) text = "stopping: " + text;
  else if (all_ready) text = "serving: " + text;
  if (text == last_status_text_) return;
  last_status_text_ = text;
  if (ready_notified_ || shutting_down_) notify("STATUS=" + text);
  else notify("STATUS=starting: " + text);
}

void Supervisor::ping_tick() {
  if (shutting_down_) return;
  const int64_t now = mono_now_ns();
  bool all_answered = true;
  for (auto& w : workers_) {
    if (!w->lc.answered_last_ping()) {
      all_answered = false;
      log_debug("worker missed a ping", {{"worker", w->name}, {"seq", std::to_string(w->lc.ping_sent_seq)}});
    }
  }
  if (all_answered && watchdog_enabled_) notify("WATCHDOG=1");

  for (auto& w : workers_) {
    if (w->lc.is_unresponsive(now, options_.timeouts)) {
      log_error("worker hung: no answer on its control socket; killing it",
                {{"worker", w->name}, {"pid", std::to_string(w->pid)},
                 {"silent_for", seconds_text(now - w->lc.last_heard_ns)},
                 {"state", state_name(w->lc.state)}});
      apply(*w, EventKind::Unresponsive);
    }
  }
  ++ping_seq_;
  JsonPtr msg(json_pack("{s:s,s:I}", "op", "ping", "seq", json_int_t(ping_seq_)));
  for (auto& w : workers_) {
    if (!w->lc.running()) continue;
    send_to(*w, msg.get());
    w->lc.on_ping_sent(ping_seq_);
  }
  update_status();  // the backoff countdown moves
}

void Supervisor::on_ping_timer(evutil_socket_t, short, void* arg) { static_cast<Supervisor*>(arg)->ping_tick(); }

void Supervisor::on_signal(evutil_socket_t sig, short, void* arg) {
  auto* self = static_cast<Supervisor*>(arg);
  switch (sig) {
    case SIGCHLD:
      for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid == 0) break;
        if (pid < 0) {
          if (errno == EINTR) continue;
          if (errno != ECHILD) log_error(sys_error("waitpid() failed"));
          break;
        }
        Worker* w = self->find_pid(pid);
        if (!w) {
          log_debug("reaped unknown child", {{"pid", std::to_string(pid)}});
          continue;
        }
        self->drain_control(*w);
        self->close_control(*w);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        int term = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        int64_t uptime = mono_now_ns() - w->lc.started_ns;
        bool expected = w->lc.state == WorkerState::Stopping;
        auto level = expected && (code == 0 || term == SIGTERM) ? LogLevel::Info
                     : expected                                   ? LogLevel::Warn
                                                                  : LogLevel::Error;
        log_write(level, expected ? "worker stopped" : "worker died",
                  {{"worker", w->name}, {"pid", std::to_string(pid)}, {"status", describe_exit(code, term)},
                   {"uptime", seconds_text(uptime)}});
        w->pid = -1;
        w->last_exit = describe_exit(code, term);
        self->apply(*w, EventKind::Exited, code, term);
      }
      break;
    case SIGTERM:
    case SIGINT:
      if (self->shutting_down_) {
        log_info("already shutting down", {{"signal", strsignal(sig)}});
        break;
      }
      self->begin_shutdown(kExitOk, strsignal(sig));
      break;
    case SIGHUP:
      self->reload();
      break;
  }
}

void Supervisor::begin_shutdown(int exit_code, const std::string& reason) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  log_info("shutting down: stopping workers", {{"reason", reason}});
  notify("STOPPING=1\nSTATUS=stopping (" + reason + ")");
  last_status_text_.clear();
  timeval grace = to_timeval(options_.stop_grace_ns), give_up = to_timeval(options_.stop_give_up_ns);
  add_event(stop_deadline_timer_.get(), &grace, "stop deadline timer");
  add_event(stop_give_up_timer_.get(), &give_up, "stop give-up timer");
  for (auto& w : workers_) apply(*w, EventKind::Stop);
  check_shutdown_done();
}

void Supervisor::check_shutdown_done() {
  for (auto& w : workers_)
    if (w->lc.has_process()) return;
  if (event_base_loopbreak(base_.get()) != 0) log_error("event_base_loopbreak() failed");
}

void Supervisor::on_stop_deadline(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Supervisor*>(arg);
  for (auto& w : self->workers_) {
    if (w->lc.state != WorkerState::Stopping) continue;
    log_warn("worker did not stop in time; killing it", {{"worker", w->name}, {"pid", std::to_string(w->pid)},
                                                          {"grace", seconds_text(self->options_.stop_grace_ns)}});
    self->apply(*w, EventKind::StopDeadline);
  }
}

void Supervisor::on_stop_give_up(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Supervisor*>(arg);
  for (auto& w : self->workers_)
    if (w->lc.has_process())
      log_error("worker still not reaped after SIGKILL; exiting anyway", {{"worker", w->name},
                                                                          {"pid", std::to_string(w->pid)}});
  if (event_base_loopbreak(self->base_.get()) != 0) log_error("event_base_loopbreak() failed");
}

void Supervisor::reload() {
  log_info("SIGHUP: reloading configuration", {{"config", cfg_.config_path.empty() ? "-" : cfg_.config_path}});
  Config fresh;
  std::string error;
  if (!cfg_.reload(&fresh, &error)) {
    log_error("configuration reload failed; keeping the running configuration", {{"error", error}});
    return;
  }
  std::vector<std::string> restart_needed, changed;
  Config merged = merge_reloaded_config(cfg_, fresh, &restart_needed, &changed);
  set_role(merged, role_of(cfg_));  // the running role, never the flags' (role.h)
  JsonPtr old_json(cfg_.to_json()), new_json(merged.to_json());
  for (auto& key : changed) {
    if (is_secret_setting(key)) {
      std::string_view now = json_str(new_json.get(), key.c_str());
      log_info("setting changed", {{"key", key}, {"change", now.empty() ? "cleared" : "updated"}});
    } else {
      log_info("setting changed", {{"key", key}, {"old", json_str(old_json.get(), key.c_str())},
                                   {"new", json_str(new_json.get(), key.c_str())}});
    }
  }
  for (auto& key : restart_needed)
    log_warn("setting changed but needs a restart to take effect; still using the running value",
             {{"key", key}, {"running", is_secret_setting(key) ? "(secret)" : json_str(old_json.get(), key.c_str())}});

  LogLevel level;
  if (parse_log_level(merged.log_level, &level)) log_set_level(level);
  log_set_format(merged.log_format == "json" ? LogFormat::Json : LogFormat::Text);
  cfg_ = std::move(merged);

  JsonPtr msg(json_pack("{s:s,s:o}", "op", "reload", "config", cfg_.to_json()));
  for (auto& w : workers_)
    if (w->lc.running()) send_to(*w, msg.get());
  log_info("configuration reloaded", {{"changed", std::to_string(changed.size())},
                                      {"needs_restart", std::to_string(restart_needed.size())}});
}

}  // namespace rdv::supervisor
