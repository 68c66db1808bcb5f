// rendezvous-replicator — started by the supervisor, never by hand (it reads its configuration
// from fd 3, shared/ipc.h).
//
// This first slice holds the store open and keeps it healthy, nothing more: it opens the LMDB
// environment (which runs mdb_reader_check), runs mdb_reader_check again whenever the
// supervisor reports that another worker died, reports ready and idles. Streaming the change
// log to standbys (leader) and applying it (standby) come in a later release.
//
// Exit codes (shared/util.h): 0 on SIGTERM or when the supervisor is gone; 78 when the store
// cannot be opened (the message goes to the supervisor first, WorkerControl::fatal).
#include <event2/event.h>
#include <signal.h>

#include <string>

#include "config.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "store.h"
#include "util.h"

namespace {

void on_sigterm(evutil_socket_t, short, void* arg) {
  rdv::log_info("SIGTERM: stopping");
  event_base_loopbreak(static_cast<event_base*>(arg));
}

void announce_role(const rdv::Config& cfg) {
  if (cfg.standby.empty()) {
    rdv::log_info("leader: no standby support yet; idling", {{"data_dir", cfg.data_dir}});
  } else {
    rdv::log_warn("standby configured but streaming replication arrives in a later release; idling",
                  {{"standby", cfg.standby}});
  }
}

}  // namespace

int main() {
  rdv::Config cfg = rdv::ipc::WorkerControl::boot("replicator");
  // Ctrl-C in a terminal is the supervisor's business; it will SIGTERM us.
  if (::signal(SIGINT, SIG_IGN) == SIG_ERR) rdv::log_warn(rdv::sys_error("signal(SIGINT) failed"));

  rdv::Env env;
  rdv::EnvOptions options;
  options.dir = cfg.data_dir;
  options.map_size = uint64_t(cfg.map_size_mb) << 20;
  options.create = false;  // the registry worker creates the store; we only follow it
  std::string error;
  if (!env.open(options, &error)) rdv::ipc::WorkerControl::fatal(error);
  rdv::log_info("store opened", {{"file", env.data_file()}, {"map_size", std::to_string(env.map_size())}});

  rdv::EventBasePtr base(event_base_new());
  if (!base) {
    rdv::log_error("event_base_new() failed");
    return rdv::kExitFailure;
  }
  rdv::EventPtr term(evsignal_new(base.get(), SIGTERM, on_sigterm, base.get()));
  if (!term) {
    rdv::log_error("evsignal_new(SIGTERM) failed");
    return rdv::kExitFailure;
  }
  if (event_add(term.get(), nullptr) != 0) {
    rdv::log_error("event_add(SIGTERM) failed");
    return rdv::kExitFailure;
  }

  rdv::ipc::WorkerControl::Handlers handlers;
  handlers.on_peer_died = [&env](std::string_view worker) {
    int cleared = env.reader_check();
    rdv::log_info("peer died; reader slots checked",
                  {{"worker", worker}, {"stale_readers_cleared", std::to_string(cleared)}});
  };
  handlers.on_reload = [&cfg](const rdv::Config& fresh) {
    if (fresh.standby != cfg.standby) rdv::log_warn("standby changed; takes effect after a restart");
    cfg.repl_token = fresh.repl_token;
    cfg.log_level = fresh.log_level;
    cfg.log_format = fresh.log_format;
    rdv::log_info("configuration reloaded");
  };
  rdv::ipc::WorkerControl control(base.get(), std::move(handlers));

  announce_role(cfg);
  control.ready();
  if (event_base_dispatch(base.get()) < 0) {
    rdv::log_error("event_base_dispatch() failed");
    return rdv::kExitFailure;
  }
  rdv::log_info("replicator stopped");
  return rdv::kExitOk;
}
