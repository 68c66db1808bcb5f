// rendezvous-registry: the daemon-facing registry worker. Started by the supervisor with
// fd 3 = control socket and fd 4 = the registry TCP listener.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "event.h"
#include "fd_limit.h"
#include "ipc.h"
#include "keyring.h"
#include "log.h"
#include "message_table.h"
#include "metrics.h"
#include "registry.h"
#include "role.h"
#include "server.h"
#include "store.h"
#include "util.h"
#include "writer.h"

using namespace rdv;

namespace {

UniqueFd listen_unix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) ipc::WorkerControl::fatal(sys_error("socket") + " for " + path);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) ipc::WorkerControl::fatal("run dir path too long for a Unix socket: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());  // a stale socket from a previous (crashed) registry
  mode_t old = ::umask(0077);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0) ipc::WorkerControl::fatal(path + ": " + sys_error("bind"));
  if (::listen(fd.get(), 128) != 0) ipc::WorkerControl::fatal(path + ": " + sys_error("listen"));
  return fd;
}

// The listener's real address (the configured one may say port 0).
std::string bound_address(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

UniqueFd lock_data_dir(const std::string& dir) {
  ::mkdir(dir.c_str(), 0750);
  std::string path = dir + "/registry.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd) ipc::WorkerControl::fatal(path + ": " + sys_error("open"));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    ssize_t n = ::pread(fd.get(), holder, sizeof holder - 1, 0);
    std::string who = n > 0 ? std::string(holder, size_t(n)) : "unknown";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    ipc::WorkerControl::fatal("data dir " + dir + " is in use by another registry (pid " + who + ", " + path + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
    log_warn("cannot record our pid in the lock file", {{"file", path}, {"error", sys_error("pwrite")}});
  return fd;
}

// libcurl's process-wide state (the outbound calls, worker-registry/fetcher.h): set up before
// any thread starts, torn down after the last handle is gone — declared first in main(), so
// destroyed last.
struct CurlGlobal {
  CurlGlobal() {
    if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
      ipc::WorkerControl::fatal(std::string("curl_global_init() failed: ") + curl_easy_strerror(rc));
  }
  ~CurlGlobal() { curl_global_cleanup(); }
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

struct Worker {
  event_base* base;
  registry::Server* server = nullptr;
  registry::Registry* reg = nullptr;
  bool stopping = false;
  event* liveness_loader = nullptr;
};

void on_signal(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->stopping = true;
  event_base_loopbreak(w->base);
}

void on_flush_timer(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->server->request_liveness_flush();
}

void on_reap_timer(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->server->request_reap();
}

// Reads last-seen times in slices between passes, so requests are served meanwhile.
void on_liveness_load(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  if (w->reg->load_liveness_step(20000)) {
    event_del(w->liveness_loader);
    w->reg->update_gauges(unix_now_ns());
  }
}

void on_gauge_timer(evutil_socket_t, short, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->reg->update_gauges(unix_now_ns());
}

}  // namespace

int main() {
  const int64_t started_ns = mono_now_ns();
  Config cfg = ipc::WorkerControl::boot("registry");
  {
    // The supervisor raised the soft limit already (inherited); a registry started any other
    // way gets the same. Past the limit accept4() fails with EMFILE and new connections wait
    // in the kernel backlog, so an operator must hear about it before it happens.
    FdLimit lim;
    std::string why;
    if (!raise_fd_limit(&lim, &why)) log_warn("cannot raise the descriptor limit", {{"error", why}});
    if (lim.soft != 0 && lim.soft < uint64_t(cfg.max_connections) + kFdReserve)
      log_warn("descriptor limit below -max-connections: connections past it wait in the kernel backlog",
               {{"nofile", std::to_string(lim.soft)}, {"hard", lim.hard == UINT64_MAX ? "unlimited" : std::to_string(lim.hard)},
                {"max_connections", std::to_string(cfg.max_connections)}});
  }
  CurlGlobal curl;
  if (std::string bad = registry::check_message_table(); !bad.empty())
    ipc::WorkerControl::fatal("message table inconsistent: " + bad);

  std::string err;
  // The badge-issuer and recovery keyrings, read once before any thread exists; handlers then
  // only read them (shared/keyring.h). A keyring that cannot be read or is invalid stops the
  // start-up with a message naming the flag, the file and the reason.
  {
    IdentityKeyrings keyrings;
    if (!load_identity_keyrings(cfg.badge_issuer_keys, cfg.recovery_keys, &keyrings, &err))
      ipc::WorkerControl::fatal(err);
    install_identity_keyrings(std::move(keyrings));
  }

  auto* page = metrics::map_registry_page(ipc::registry_metrics_path(cfg.run_dir), true, &err);
  if (!page) log_warn("metrics page unavailable; metrics will not be exported", {{"error", err}});
  else page->worker_starts_total.fetch_add(1, std::memory_order_relaxed);

  // One writer per store: a second registry on the same data dir (another supervisor started
  // by mistake) would allocate the same node ids. The kernel drops the lock when we die.
  UniqueFd lock = lock_data_dir(cfg.data_dir);

  Env env;
  if (!env.open(EnvOptions{cfg.data_dir, uint64_t(cfg.map_size_mb) << 20, 1024, true}, &err))
    ipc::WorkerControl::fatal(err);
  registry::Registry reg(cfg, env, page);
  const int64_t opened_ns = mono_now_ns();
  if (!reg.load(&err)) ipc::WorkerControl::fatal(err);
  const int64_t loaded_ns = mono_now_ns();

  registry::Writer writer(env, page);
  if (!writer.start(&err)) ipc::WorkerControl::fatal(err);

  EventBasePtr base(event_base_new());
  if (!base) ipc::WorkerControl::fatal("event_base_new() failed");
  UniqueFd control_listener = listen_unix(ipc::registry_socket_path(cfg.run_dir));
  registry::Server server(base.get(), reg, writer, kListenerFd, control_listener.get());
  if (!server.pools_ready()) ipc::WorkerControl::fatal("eventfd() failed: the verify and handshake pools cannot report back");
  if (!server.configure_transport(&err)) ipc::WorkerControl::fatal(err);

  Worker w{base.get(), &server, &reg};
  // A configuration with another role (a promotion, demotion or fence broadcast by the
  // supervisor, or a SIGHUP that applied <data-dir>/role): the registry's side of the change
  // (docs/replication.md, "Promotion, demotion, fencing").
  auto install = [&](const Config& c) {
    const Role before = role_of(reg.config());
    reg.set_config(c);
    const Role after = role_of(reg.config());
    if (before == after) return server.config_changed();
    const bool leader_now = after.kind == Role::Kind::Leader;
    if (leader_now) {
      // The replicator raised the epoch and wrote last-seen times while we were a standby.
      std::string err;
      if (!reg.reload_epoch(&err)) log_error("cannot re-read the epoch file after a promotion", {{"error", err}});
      reg.reset_for_leadership();
      timeval every_ms{0, 1000};  // its interval (periodic, below): it deletes itself once done
      if (w.liveness_loader) event_add(w.liveness_loader, &every_ms);
    }
    server.role_changed(leader_now);
    reg.update_gauges(unix_now_ns());
    log_info(leader_now ? "role changed: leader, accepting writes" : "role changed: writes refused from now on",
             {{"from", role_name(before.kind)}, {"to", role_name(after.kind)}, {"leader", after.leader},
              {"epoch", std::to_string(reg.epoch())}});
  };
  ipc::WorkerControl control(base.get(), {
      [&](const Config& c) {
        install(c);
        log_info("configuration reloaded");
      },
      [&](std::string_view worker) {
        int cleared = env.reader_check();
        log_info("peer worker died; reader slots checked", {{"worker", worker}, {"cleared", std::to_string(cleared)}});
      },
      nullptr,
      [&](const Role& role) {
        Config c = reg.config();
        set_role(c, role);
        install(c);
      }});

  EventPtr sigterm(evsignal_new(base.get(), SIGTERM, on_signal, &w));
  EventPtr sigint(evsignal_new(base.get(), SIGINT, on_signal, &w));
  event_add(sigterm.get(), nullptr);
  event_add(sigint.get(), nullptr);

  auto periodic = [&](event_callback_fn fn, int64_t ms) {
    EventPtr ev(event_new(base.get(), -1, EV_PERSIST, fn, &w));
    timeval tv{time_t(ms / 1000), suseconds_t((ms % 1000) * 1000)};
    event_add(ev.get(), &tv);
    return ev;
  };
  EventPtr flush_timer = periodic(on_flush_timer, cfg.heartbeat_flush_ms);
  // Every 10 s (wire §6.2.3); more often when the stale threshold is shorter than that.
  EventPtr reap_timer = periodic(on_reap_timer, std::clamp<int64_t>(cfg.stale_threshold_ns / 4000000, 250, 10000));
  EventPtr gauge_timer = periodic(on_gauge_timer, 2000);
  EventPtr liveness_loader = periodic(on_liveness_load, 1);
  w.liveness_loader = liveness_loader.get();

  if (page) page->serving.store(1);
  control.ready();
  auto ms = [](int64_t ns) { return std::to_string(ns / 1000000); };
  log_info("registry serving", {{"addr", bound_address(kListenerFd)}, {"data_dir", cfg.data_dir},
                                 {"mode", reg.is_standby() ? "standby" : "leader"},
                                 {"open_ms", ms(opened_ns - started_ns)}, {"load_ms", ms(loaded_ns - opened_ns)},
                                 {"startup_ms", ms(mono_now_ns() - started_ns)}});

  // The loop: one pass of ready events, then end_pass (server.h). With input left over from
  // a spent budget, the pass does not block waiting for new events.
  while (!w.stopping) {
    event_base_loop(base.get(), server.has_backlog() ? EVLOOP_ONCE | EVLOOP_NONBLOCK : EVLOOP_ONCE);
    server.end_pass();
  }

  // SIGTERM: stop reading, answer and write what was received, save liveness, exit.
  if (page) page->serving.store(0);
  log_info("shutting down");
  server.begin_shutdown();
  server.end_pass();
  server.request_liveness_flush();
  int64_t deadline = mono_now_ns() + 3000000000LL;
  bool flushed = false;
  while (mono_now_ns() < deadline) {
    event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    server.end_pass();
    if (server.drained()) {
      if (flushed) break;
      server.request_liveness_flush();  // the last one, after every request is answered
      server.end_pass();
      flushed = true;
      continue;
    }
    usleep(500);
  }
  writer.stop();  // before the connections its last batch points into are freed
  ::unlink(ipc::registry_socket_path(cfg.run_dir).c_str());
  log_info("registry stopped");
  metrics::unmap_registry_page(page);
  return kExitOk;
}
