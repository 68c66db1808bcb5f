// rendezvous — the supervisor: the only process an operator starts.
//
// Exit codes:
//   0   clean shutdown (SIGTERM/SIGINT), or --help / --version / --check-config success
//   1   runtime failure (e.g. a listener address already in use, event loop set-up)
//   78  configuration error: bad flag or config file, socket-activation mismatch, missing
//       worker binary, unusable data/run dir (including one writable by other users, or a
//       symlink someone else owns), or a worker that exited 78 (its message is
//       printed as "rendezvous: <worker>: <message>")
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "directories.h"
#include "fd_limit.h"
#include "import.h"
#include "log.h"
#include "tls.h"
#include "role.h"
#include "store.h"
#include "listeners.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"

int main(int argc, char** argv) {
  rdv::log_init("supervisor");
  if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) rdv::log_warn(rdv::sys_error("signal(SIGPIPE) failed"));

  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == rdv::supervisor::kImportCommand)
    return rdv::supervisor::import_command({args.begin() + 1, args.end()});
  rdv::Config cfg;
  std::string error;
  bool ok = cfg.parse(args, &error);
  if (cfg.show_help) {
    std::fputs(rdv::Config::usage().c_str(), stdout);
    std::fputs(rdv::supervisor::import_usage(), stdout);
    return rdv::kExitOk;
  }
  if (cfg.show_version) {
    std::printf("%s\n", rdv::kVersion);
    return rdv::kExitOk;
  }
  if (!ok) {
    std::fprintf(stderr, "rendezvous: %s\n", error.c_str());
    return rdv::kExitConfig;
  }
  if (cfg.check_config) {
    std::printf("config ok\n");
    return rdv::kExitOk;
  }

  rdv::LogLevel level;
  if (rdv::parse_log_level(cfg.log_level, &level)) rdv::log_set_level(level);
  rdv::log_set_format(cfg.log_format == "json" ? rdv::LogFormat::Json : rdv::LogFormat::Text);
  rdv::log_info("rendezvous starting", {{"version", rdv::kVersion},
                                        {"pid", std::to_string(::getpid())},
                                        {"config", cfg.config_path.empty() ? "-" : cfg.config_path},
                                        {"data_dir", cfg.data_dir},
                                        {"run_dir", cfg.run_dir},
                                        {"mode", cfg.standby.empty() ? "primary" : "standby"}});
  // Before any worker is spawned: they inherit the raised limit (the registry's connections
  // are descriptors; the registry itself warns if the limit stays below -max-connections).
  {
    rdv::FdLimit lim;
    if (!rdv::raise_fd_limit(&lim, &error)) rdv::log_warn("cannot raise the descriptor limit", {{"error", error}});
    else if (lim.raised) rdv::log_info("descriptor limit raised to the hard limit", {{"nofile", std::to_string(lim.soft)}});
  }

  // Created first (mode 0750), then checked: the check covers directories that were already
  // there and the umask/ACL result of the ones just made.
  for (auto [flag, dir] : {std::pair{"-data-dir", &cfg.data_dir}, std::pair{"-run-dir", &cfg.run_dir}}) {
    if (!rdv::supervisor::make_dirs(*dir, &error)) {
      rdv::log_error("cannot prepare directory", {{"error", error}});
      return rdv::kExitConfig;
    }
    if (!rdv::supervisor::check_private_directory(flag, *dir, &error)) {
      rdv::log_error("refusing an unsafe directory", {{"error", error}});
      std::fprintf(stderr, "rendezvous: %s\n", error.c_str());
      return rdv::kExitConfig;
    }
  }

  // The role an operator last chose (promote, demote, a fence) wins over -standby.
  {
    std::string note;
    if (!rdv::apply_role_file(cfg, &note, &error)) {
      rdv::log_error("cannot start", {{"error", error}});
      std::fprintf(stderr, "rendezvous: %s\n", error.c_str());
      return rdv::kExitConfig;
    }
    if (!note.empty()) rdv::log_warn(note);
  }

  // -store names a Go server snapshot: imported at the first start of a leader (supervisor/import.h).
  if (int code = rdv::supervisor::import_at_first_start(cfg, &error); code != rdv::kExitOk) {
    rdv::log_error("cannot start", {{"error", error}});
    std::fprintf(stderr, "rendezvous: %s\n", error.c_str());
    return code;
  }

  // -tls: the listener's identity is checked (or generated) here, before anything is bound, so
  // a bad certificate stops the start with its reason (the Go server's "TLS setup:" fatal).
  if (cfg.tls) {
    rdv::tls::ServerIdentity id;
    bool generated = cfg.tls_cert.empty();
    if (generated && !rdv::tls::generate_self_signed(&cfg.tls_generated, &error)) {
      rdv::log_error("TLS setup: cannot generate a certificate", {{"error", error}});
      return rdv::kExitConfig;
    }
    bool loaded = generated ? rdv::tls::server_identity_from_pem(cfg.tls_generated, &id, &error)
                            : rdv::tls::load_server_identity(cfg.tls_cert, cfg.tls_key, &id, &error);
    if (!loaded) {
      rdv::log_error("TLS setup failed", {{"error", error}});
      std::fprintf(stderr, "rendezvous: TLS setup: %s\n", error.c_str());
      return rdv::kExitConfig;
    }
    // The fingerprint is what -registry-trust=pinned daemons (DialTLSPinned) are given.
    rdv::log_info(generated ? "TLS: serving a self-signed certificate generated at start; pin its fingerprint"
                            : "TLS: serving the certificate of -tls-cert",
                  {{"fingerprint_sha256", id.fingerprint}, {"subject", id.subject}, {"not_after", id.not_after}});
  }

  // Every worker binary must be there before anything is bound or started: a missing one is
  // an installation problem that no restart can fix.
  std::vector<std::string> binaries;
  for (auto& name : rdv::supervisor::worker_names(cfg)) {
    std::string path = rdv::supervisor::find_worker_binary(name, &error);
    if (path.empty()) {
      rdv::log_error("cannot start", {{"error", error}});
      return rdv::kExitConfig;
    }
    binaries.push_back(path);
  }

  rdv::supervisor::Listeners listeners;
  switch (rdv::supervisor::setup_listeners(cfg, &listeners, &error)) {
    case rdv::supervisor::SetupStatus::Ok:
      break;
    case rdv::supervisor::SetupStatus::ConfigError:
      rdv::log_error("cannot set up listeners", {{"error", error}});
      return rdv::kExitConfig;
    case rdv::supervisor::SetupStatus::SystemError:
      rdv::log_error("cannot set up listeners", {{"error", error}});
      return rdv::kExitFailure;
  }

  rdv::supervisor::Supervisor supervisor(std::move(cfg), std::move(listeners), std::move(binaries), {});
  return supervisor.run();
}
