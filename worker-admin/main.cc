// rendezvous-admin: the admin HTTP worker (ARCHITECTURE.md "Admin worker").
//
// Started by the supervisor with fd 3 = control socket (first message: the configuration) and
// fd 4 = the already listening HTTP socket. Threads:
//   main thread     libevent loop: control channel (ping, reload, peer_died), SIGTERM/SIGINT
//   CivetWeb        one master thread accepting on fd 4, num_threads workers running routes
//   backups         periodic compacted LMDB copies and the retention sweep (backups.h)
// Requests read LMDB with their own read transactions (MDB_NOTLS) and the registry's metrics
// page; nothing here writes the store.
//
// Exit codes (util.h): 0 on SIGTERM/SIGINT or when the supervisor is gone, 78 when the store or
// the listener is unusable (restarting cannot help), 1 on a runtime failure.

#include <event2/event.h>

#include <csignal>
#include <memory>
#include <string>

#include "shared/config.h"
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/role.h"
#include "shared/store.h"
#include "shared/util.h"
#include "worker-admin/backups.h"
#include "worker-admin/dashboard.h"
#include "worker-admin/http_server.h"
#include "worker-admin/live_feed.h"
#include "shared/event.h"
#include "worker-admin/live_config.h"
#include "worker-admin/registry_metrics_source.h"
#include "worker-admin/routes.h"

namespace {

using rdv::EventBasePtr;
using rdv::EventPtr;

// How long a request waits for the registry's answer (/readyz, operator mutations). A
// mutation waits for its commit, which a slow disk can hold for a while.
constexpr int kRegistryCallTimeoutMs = 5000;
// The replicator answers status from memory at once; promote and demote answer once the
// registry confirms the new role, which the replicator itself waits up to 3 s for: wait a
// little longer, so its own answer (even "not confirmed") arrives rather than our timeout.
constexpr int kReplicatorCallTimeoutMs = 5000;

void on_stop_signal(evutil_socket_t signo, short, void* arg) {
  rdv::log_info("stopping", {{"signal", signo == SIGINT ? "SIGINT" : "SIGTERM"}});
  event_base_loopbreak(static_cast<event_base*>(arg));
}

// Settings that only a restart applies: say so instead of silently ignoring them.
void warn_about_restart_only_changes(const rdv::Config& before, const rdv::Config& after) {
  auto check = [](const char* name, const std::string& a, const std::string& b) {
    if (a != b) rdv::log_warn("reload: setting changes on the next restart of the admin worker", {{"setting", name}});
  };
  check("http", before.http, after.http);
  check("data-dir", before.data_dir, after.data_dir);
  check("run-dir", before.run_dir, after.run_dir);
}

}  // namespace

int main() {
  using namespace rdv;
  Config cfg = ipc::WorkerControl::boot("admin");
  const int64_t started_unix = unix_now();

  // The store is created by the registry worker, which the supervisor starts first; a missing
  // or damaged store is a configuration problem, not something a restart fixes.
  Env env;
  std::string error;
  EnvOptions store_options;
  store_options.dir = cfg.data_dir;
  store_options.map_size = uint64_t(cfg.map_size_mb) << 20;
  store_options.create = false;
  if (!env.open(store_options, &error)) ipc::WorkerControl::fatal(error);

  admin::RegistryMetricsSource registry_metrics(ipc::registry_metrics_path(cfg.run_dir));
  registry_metrics.page();  // map it now if the registry already created it; else on demand

  admin::LiveConfig live_config(cfg);
  admin::AdminContext context;
  context.env = &env;
  context.registry_metrics = &registry_metrics;
  context.config = &live_config;
  context.started_unix = started_unix;
  context.registry_call = [run_dir = cfg.run_dir](const json_t* request, std::string* err) {
    return ipc::registry_call(run_dir, request, kRegistryCallTimeoutMs, err);
  };
  context.replicator_call = [path = ipc::replicator_socket_path(cfg.run_dir)](const json_t* request, std::string* err) {
    return ipc::unix_call(path, request, kReplicatorCallTimeoutMs, err);
  };

  EventBasePtr base(event_base_new());
  if (!base) {
    log_error("event_base_new() failed");
    return kExitFailure;
  }

  ipc::WorkerControl::Handlers handlers;
  handlers.on_reload = [&live_config](const Config& next) {
    warn_about_restart_only_changes(*live_config.get(), next);
    live_config.set(next);
    log_info("configuration reloaded");
  };
  // A promotion, demotion or fence (docs/replication.md "Roles"): the configuration copy the
  // routes read follows it, so a 409 names the leader of now and /readyz falls back to it.
  handlers.on_role = [&live_config](const Role& role) {
    Config next = *live_config.get();
    set_role(next, role);
    live_config.set(std::move(next));
    log_info("replication role changed", {{"role", role_name(role.kind)}, {"leader", role.leader}});
  };
  handlers.on_peer_died = [&env](std::string_view worker) {
    // A dead process may have died inside a read transaction; free its reader slot so the
    // writer can reuse the pages it pinned.
    int cleared = env.reader_check();
    log_info("peer worker died; reader slots checked",
             {{"worker", worker}, {"cleared", std::to_string(cleared)}});
  };
  // Leave through the same orderly path as SIGTERM (stop CivetWeb, then close the store)
  // rather than exit() under running CivetWeb threads.
  handlers.on_supervisor_gone = [b = base.get()] { event_base_loopbreak(b); };
  ipc::WorkerControl control(base.get(), std::move(handlers));

  EventPtr stop_signals[2];
  for (int i = 0; i < 2; i++) {
    const int signo = i == 0 ? SIGTERM : SIGINT;
    const char* name = i == 0 ? "SIGTERM" : "SIGINT";
    stop_signals[i].reset(evsignal_new(base.get(), signo, on_stop_signal, base.get()));
    if (!stop_signals[i]) {
      log_error(std::string("evsignal_new(") + name + ") failed");
      return kExitFailure;
    }
    if (event_add(stop_signals[i].get(), nullptr) != 0) {
      log_error(std::string("event_add(") + name + ") failed");
      return kExitFailure;
    }
  }

  // The dashboard's live data: the hub is read by the routes, the feed fills it on this loop.
  admin::DashboardHub dashboard;
  admin::set_dashboard_hub(&dashboard);
  admin::LiveFeed live_feed(base.get(), &context, &dashboard, ipc::registry_socket_path(cfg.run_dir));
  if (!live_feed.start()) return kExitFailure;

  admin::HttpServer http;
  if (!http.start(kListenerFd, &context, &error)) ipc::WorkerControl::fatal(error);
  control.ready();
  // Periodic compacted copies and the retention sweep (backups.h), on their own thread.
  admin::BackupScheduler backups(&env, &live_config);
  backups.start();
  log_info("admin worker ready", {{"http", cfg.http}, {"data_dir", cfg.data_dir}});

  if (event_base_dispatch(base.get()) < 0) log_error("event_base_dispatch() failed");

  // Requests in flight hold read transactions and page pointers: stop CivetWeb before the
  // store and the metrics page go away (their destructors run after this).
  // Live streams never end by themselves: release them first so mg_stop can join their threads.
  dashboard.stop();
  http.stop();
  admin::set_dashboard_hub(nullptr);
  backups.stop();  // a copy in progress finishes first (it holds a read transaction)
  log_info("stopped");
  return kExitOk;
}
