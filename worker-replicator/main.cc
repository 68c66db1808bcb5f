// rendezvous-replicator — started by the supervisor, never by hand (it reads its configuration
// from fd 3, shared/ipc.h).
//
// On a leader it serves standbys (leader.h); on a standby it follows the leader and is the
// store's only writer (follower.h); promotion, demotion and fencing move it between the two
// (replicator.h). The protocol is docs/replication.md. It also runs mdb_reader_check whenever
// the supervisor reports that another worker died.
//
// Exit codes (shared/util.h): 0 on SIGTERM or when the supervisor is gone; 78 when the store
// cannot be opened (the message goes to the supervisor first, WorkerControl::fatal).
#include <event2/event.h>
#include <signal.h>

#include <string>

#include "config.h"
#include "control_socket.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "replicator.h"
#include "store.h"
#include "util.h"

namespace {

void on_sigterm(evutil_socket_t, short, void* arg) {
  rdv::log_info("SIGTERM: stopping");
  event_base_loopbreak(static_cast<event_base*>(arg));
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

  rdv::replicator::Replicator replicator(base.get(), env, cfg);

  rdv::ipc::WorkerControl::Handlers handlers;
  handlers.on_peer_died = [&env](std::string_view worker) {
    int cleared = env.reader_check();
    rdv::log_info("peer died; reader slots checked",
                  {{"worker", worker}, {"stale_readers_cleared", std::to_string(cleared)}});
  };
  handlers.on_reload = [&replicator](const rdv::Config& fresh) {
    replicator.set_config(fresh);  // tokens and intervals; the role stays (role.h)
    rdv::log_info("configuration reloaded");
  };
  // The broadcast of our own role change comes back too: the replicator already has it.
  handlers.on_role = [](const rdv::Role& role) {
    rdv::log_debug("role broadcast", {{"role", rdv::role_name(role.kind)}});
  };
  rdv::ipc::WorkerControl control(base.get(), std::move(handlers));

  rdv::replicator::ControlSocket socket(base.get(), replicator, rdv::ipc::replicator_socket_path(cfg.run_dir));
  replicator.start();
  control.ready();
  if (event_base_dispatch(base.get()) < 0) {
    rdv::log_error("event_base_dispatch() failed");
    return rdv::kExitFailure;
  }
  rdv::log_info("replicator stopped");
  return rdv::kExitOk;
}
