// The server under test: a fresh temp dir, `<bin-dir>/rendezvous` started on free loopback
// ports with its data and run dirs inside it, a readiness wait, and at the end SIGTERM and
// removal of the temp dir.
//
// Rate limits (wire §2.7, ops §10): the protocol's guards (1000 req/s process-wide, per-IP
// bucket of 100 req/s, per-connection slow-down above 100 req/s and close above 500 req/s)
// would cap any load test at ~1000 req/s. Two ways to start the server:
//   Limits::Off (default)  -rate-limit-global 0 -rate-limit-per-ip 0 -rate-limit-per-conn 0,
//       no whitelist file: the limiter is out of the way entirely, so the figures are the
//       registry's own. The main server and the slow-disk server run so.
//   Limits::Whitelisted  the limiter on with its default limits, and the bench
//       exempted the way an operator exempts a trusted load source: a whitelist file
//       `<data-dir>/rate-limit-whitelist.json` = [{"cidr":"127.0.0.0/8","rate":100000000}],
//       passed as -rate-limit-whitelist. Every request still goes through the limiter's
//       checks (whitelist match, the whitelisted bucket). The handshake and join cells run
//       against one server started so and one with Limits::Off, to show what the limiter costs.
// If a server does not honour these, connections get closed (or requests refused with "rate
// limited") after their 5 s grace, and the bench reports it as errors.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rdv::bench {

// The server's -admin-token (create_network needs it).
inline constexpr const char* kAdminToken = "bench";

enum class Limits : uint8_t { Whitelisted, Off };

// Creates `<root>/rendezvous-bench.XXXXXX`. Returns "" and sets *error on failure.
std::string make_temp_dir(const std::string& root, std::string* error);
// rm -rf of a directory the bench created. Never follows symlinks.
void remove_tree(const std::string& path);
// A free TCP port on 127.0.0.1 (bound then released; a tiny race is accepted).
uint16_t free_tcp_port();
// HTTP/1.0 GET of 127.0.0.1:port`path`: the raw response (status line, headers, body), or ""
// when nothing came within `timeout_s`.
std::string http_get_local(uint16_t port, const std::string& path, int timeout_s = 2);

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { stop(); }

  std::string log_level = "warn";  // the server's -log-level
  Limits limits = Limits::Off;
  // "NAME=value" entries added to the server's environment (e.g. LD_PRELOAD of the slow-fsync
  // shim); the supervisor passes its environment on to the workers.
  std::vector<std::string> extra_env;
  // Flags appended to the server's command line (e.g. the replication bench's -repl-token,
  // -standby HOST:PORT, -repl-sync).
  std::vector<std::string> extra_args;

  // `dir` must exist; data/ and run/ are created inside it (or kept, when a stopped server is
  // started again in the same dir, on new ports). The server's stdout/stderr go to
  // <dir>/server.log (appended to on a restart).
  bool start(const std::string& bin_dir, const std::string& dir, std::string* error);
  // Polls with a lookup until the registry answers (any reply frame) or `timeout_s` passes or the
  // process exits.
  bool wait_ready(double timeout_s, std::string* error);
  // SIGTERM, wait up to 15 s, then SIGKILL to its process group. Returns a description of how
  // it ended ("exit 0", "signal 9", …). Idempotent.
  std::string stop();

  uint16_t registry_port() const { return registry_port_; }
  uint16_t http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  // The value of an unlabelled sample from GET /metrics (e.g. "pilot_store_commits_total"),
  // or NaN when the server is not ours or the metric is missing.
  double metric(const std::string& name) const;
  const std::string& data_dir() const { return data_dir_; }
  std::string run_dir() const { return dir_ + "/run"; }
  std::string log_tail(size_t max_bytes) const;

 private:
  pid_t pid_ = -1;
  uint16_t registry_port_ = 0;
  uint16_t http_port_ = 0;
  std::string dir_, data_dir_, log_path_;
  std::string stopped_;
};

// A server of a bench mode's own (dashboards, events, memory, soak): a fresh temp dir under
// `tmp_root`, the server started in it and ready. Set `server`'s options before start().
class OwnServer {
 public:
  ServerProcess server;
  OwnServer() = default;
  OwnServer(const OwnServer&) = delete;
  OwnServer& operator=(const OwnServer&) = delete;
  ~OwnServer() { finish(0); }

  // False, having said why on stderr, when the dir or the server cannot be had.
  bool start(const std::string& bin_dir, const std::string& tmp_root);
  // Stops the server and says how it ended (with its log's tail when `rc` is a failure),
  // removes the temp dir, and returns `rc`. Idempotent.
  int finish(int rc);

 private:
  std::string dir_;
};

}  // namespace rdv::bench
