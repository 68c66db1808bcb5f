// Process-test harness: starts the real supervisor (and through it the workers) on free
// loopback ports in a private temp dir, talks to it over TCP (JSON framing and PILT binary
// mode) and HTTP, finds and kills its processes, and dumps its log when a test fails.
//
// Every test owns its Server (own ports, own data dir). Nothing here sleeps for a fixed time
// when it can poll with a deadline instead, and nothing asserts on speed.
#pragma once

#include <gtest/gtest.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"
#include "util.h"

namespace rt {

// ---- time and small helpers ----

int64_t mono_ms();
void sleep_ms(int ms);

// Directory of the binaries under test: $RENDEZVOUS_BIN_DIR, else the directory of this
// test executable.
std::string bin_dir();

// A loopback TCP port that was free a moment ago.
uint16_t free_port();

std::string be32(uint32_t v);
// One JSON-mode frame: [u32 BE length][body].
std::string json_frame(std::string_view body);
std::string be16(uint16_t v);
uint32_t get_be32(std::string_view s, size_t off);
uint16_t get_be16(std::string_view s, size_t off);
uint64_t get_be64(std::string_view s, size_t off);

// ---- Ed25519 keys (libsodium) ----

struct Key {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];

  static Key generate();
  std::string pub_b64() const;                          // std base64 with padding (44 chars)
  std::string raw_pub() const;                          // 32 bytes
  std::string sign_raw(std::string_view msg) const;     // 64 bytes
  std::string sign_b64(std::string_view msg) const;     // base64 of sign_raw
};

// ---- JSON ----

rdv::JsonPtr parse_json(std::string_view text);  // null when not valid JSON
std::string dump(const json_t* j);               // compact, for messages
std::string str(const json_t* obj, const char* key);    // "" when absent / not a string
int64_t num(const json_t* obj, const char* key, int64_t fallback = -1);
bool has(const json_t* obj, const char* key);
// Request builder: obj({{"type", "lookup"}}) style is awkward in C++, so requests are built
// with jansson's json_pack by the tests and sent with Conn::request.

// ---- TCP client ----

enum class Io { Ok, Eof, Timeout, Error };
const char* io_name(Io io);

class Conn {
 public:
  Conn() = default;
  Conn(Conn&& o) noexcept;
  Conn& operator=(Conn&& o) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();

  // Connects to 127.0.0.1:port (or `ip`:port). On failure returns an invalid Conn and stores
  // errno in *err.
  static Conn open(uint16_t port, int timeout_ms = 3000, int* err = nullptr);
  static Conn open_ip(const std::string& ip, uint16_t port, int timeout_ms = 3000, int* err = nullptr);
  // A Unix stream socket (the registry's local command socket and bus, <run-dir>/registry.sock).
  static Conn open_unix(const std::string& path, int* err = nullptr);
  // Takes an already connected socket (e.g. one the test accepted, playing a server).
  static Conn adopt(int fd);

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close();
  void shutdown_write();

  bool send_all(std::string_view data);
  Io recv_exact(size_t n, std::string* out, int timeout_ms);
  // Waits until the peer closes (EOF or reset). Returns true if it closed without sending
  // anything; false on timeout or if bytes arrived (those are stored in *unexpected).
  bool expect_closed(int timeout_ms, std::string* unexpected = nullptr);
  // True if the connection is still open: no EOF/reset and no stray bytes within a short wait.
  bool still_open(int wait_ms = 100);

  // JSON framing: [u32 BE length][body].
  bool send_json(std::string_view body);
  Io recv_json(std::string* body, int timeout_ms = 5000);
  // One request/response turn. Returns null on an I/O failure or a non-JSON reply; the raw
  // reply bytes go to *raw when given.
  rdv::JsonPtr request(std::string_view body, std::string* raw = nullptr, int timeout_ms = 5000);
  rdv::JsonPtr request(const json_t* req, std::string* raw = nullptr, int timeout_ms = 5000);

  // Binary mode: "PILT" + version once, then [u32 BE len = 1 + payload][u8 type][payload].
  bool send_preamble(uint8_t version = 1);
  bool send_frame(uint8_t type, std::string_view payload);
  Io recv_frame(uint8_t* type, std::string* payload, int timeout_ms = 5000);

 private:
  int fd_ = -1;
};

// Text of a 0xFF error frame payload ([u16 len][text]).
std::string binary_error_text(std::string_view payload);

// ---- HTTP ----

struct HttpResponse {
  int status = 0;
  std::string headers;  // raw header block, lower-cased names not guaranteed
  std::string body;
  std::string header(const std::string& name) const;  // case-insensitive lookup, "" if absent
};

// HTTP/1.0 GET on 127.0.0.1:port. False on connection failure, timeout or a malformed reply.
bool http_get(uint16_t port, const std::string& path, HttpResponse* out, int timeout_ms = 3000,
              const std::vector<std::string>& extra_headers = {});
bool http_get_ip(const std::string& ip, uint16_t port, const std::string& path, HttpResponse* out,
                 int timeout_ms = 3000, const std::vector<std::string>& extra_headers = {});

// Any method on 127.0.0.1:port, with a body (sent with Content-Length unless a GET/HEAD has
// none). Same failure rules as http_get.
bool http_request(uint16_t port, const std::string& method, const std::string& path, const std::string& body,
                  HttpResponse* out, const std::vector<std::string>& extra_headers = {}, int timeout_ms = 5000);

// A non-loopback IPv4 address of this host, or "" when there is none.
std::string non_loopback_ipv4();

// ---- processes ----

// `s` as one word for /bin/sh (single-quoted).
std::string shell_quote(const std::string& s);
struct CommandResult {
  int code = -1;  // exit status; -1 when it could not run or did not exit normally
  std::string out, err;
};
// Runs the shell command line `cmd` (words quoted with shell_quote) and waits for it; stdout is
// captured through a pipe and stderr through a file in `dir`.
CommandResult run_command(const std::string& dir, const std::string& cmd);

struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  char state = '?';
  std::string name;  // basename of /proc/<pid>/exe (or argv[0])
};

std::vector<ProcInfo> list_processes();
std::vector<ProcInfo> children_of(pid_t parent);
// Exists and is not a zombie.
bool process_alive(pid_t pid);

// ---- the server under test ----

class Server {
 public:
  Server();
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::string dir, data_dir, run_dir, log_path;
  uint16_t registry_port = 0, http_port = 0;
  std::string admin_token = "test-admin-token";
  std::string bind_host = "127.0.0.1";  // host part of -registry-addr and -http
  // Listening sockets handed over as systemd socket activation does: fds 3.. in the child,
  // with LISTEN_FDS and LISTEN_PID set.
  std::vector<int> activation_fds;
  std::vector<std::string> extra_args;
  std::vector<std::string> extra_env;  // "NAME=value", added to this process's environment
  bool pass_admin_token = true;        // false: no -admin-token flag (e.g. it comes from -config)
  // false (the default): the three rate limits are 0, since many tests push requests from one
  // IP for longer than a connection's 5 s grace on a loaded machine. The rate-limit tests set it
  // and get the server's own defaults (or their flags in extra_args, which come later and win).
  bool rate_limits = false;
  // Replaces wait_ready's plain-TCP lookup when set (a -tls server answers only over TLS):
  // true once the registry answered; false with *why otherwise.
  std::function<bool(std::string* why)> registry_probe;
  pid_t pid = -1;

  // Picks new free ports (for a restart on the same data dir).
  void new_ports();
  // fork+exec of the supervisor; returns at once.
  bool spawn(std::string* err);
  // Polls until the registry answers a JSON request and /healthz answers 200.
  bool wait_ready(int timeout_ms, std::string* err);
  bool start(std::string* err, int timeout_ms = 10000) { return spawn(err) && wait_ready(timeout_ms, err); }
  // SIGTERM and wait. Returns the raw wait status, or -1 if it did not exit in time (it is then
  // killed with SIGKILL).
  int stop(int timeout_ms = 10000);
  // Waits for the supervisor to exit on its own. Raw wait status, or -1 on timeout.
  int wait_exit(int timeout_ms);
  bool running();
  // Kills everything left in the server's process group (only processes this Server started).
  void kill_all();

  std::string log() const;
  std::string log_tail(size_t max_bytes = 20000) const;

  // pid of the worker whose executable is `name` (e.g. "rendezvous-registry"), or -1.
  pid_t worker(const std::string& name);
  // Polls until a worker `name` other than `not_pid` runs. -1 on timeout.
  pid_t wait_worker(const std::string& name, pid_t not_pid, int timeout_ms);

  Conn connect(int timeout_ms = 3000) { return Conn::open(registry_port, timeout_ms); }

  // Starts the server under the slow-fsync shim (see slow_fsync_shim() below): adds LD_PRELOAD
  // and the shim's settings to extra_env. `hold_file` non-empty: every fsync/fdatasync/msync
  // waits while that file exists; `delay_ms` > 0: each waits that long. The supervisor passes
  // its environment on, so every worker runs under the shim. Call before spawn(). False (with
  // *err) when the shim is not built.
  bool use_slow_fsync(const std::string& hold_file, int delay_ms, std::string* err);

 private:
  bool reaped_ = false;
  int status_ = 0;
};

// Fixture: a fresh server per test; dumps the server log when the test failed.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  Server server;
};

// Dumps the tail of the log to stderr (used by fixtures on failure).
void dump_log(const Server& s);

// Fixture: a leader and a standby, started by the test (each with its own flags, or by
// start_pair); dumps both logs when the test failed.
class PairTest : public ::testing::Test {
 protected:
  // The leader with `repl_token`, and the standby following it with the same token.
  void start_pair(const std::string& repl_token) {
    std::string err;
    leader.extra_args = {"-repl-token", repl_token};
    ASSERT_TRUE(leader.start(&err)) << err;
    standby.extra_args = {"-standby", "127.0.0.1:" + std::to_string(leader.registry_port), "-repl-token", repl_token};
    ASSERT_TRUE(standby.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) {
      dump_log(leader);
      dump_log(standby);
    }
  }
  Server leader, standby;
};

// ---- the slow-fsync shim (tests/shim/slow_fsync.c) ----

// Absolute path of libslowfsync.so beside the binaries under test (bin_dir()/../lib/), or ""
// when it is not there (the Makefile builds it with process-tests).
std::string slow_fsync_shim();

// True if /proc/<pid>/maps lists a mapped file whose path contains `needle` (e.g. to check that
// a worker really runs under the shim).
bool process_maps_file(pid_t pid, const std::string& needle);

// A file whose existence holds every sync of a server started with use_slow_fsync(path, …).
// Not created until hold(); removed by release() and by the destructor, so a failing test never
// leaves the server stuck in fsync.
class HoldFile {
 public:
  explicit HoldFile(std::string path) : path_(std::move(path)) {}
  ~HoldFile() { release(); }
  HoldFile(const HoldFile&) = delete;
  HoldFile& operator=(const HoldFile&) = delete;

  bool hold();     // creates the file; false (errno set) on failure
  void release();  // removes it (no-op when absent)
  bool held() const { return held_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool held_ = false;
};

// ---- protocol helpers ----

inline const char* kPublicAddr = "203.0.113.7:4000";  // a public listen_addr claim (kept verbatim)

// register signed over "register:<listen_addr>:<pub>"; `extra` fields (may be null) are merged.
rdv::JsonPtr do_register(Conn& c, const Key& k, const std::string& listen_addr = kPublicAddr,
                         const json_t* extra = nullptr, bool sign = true);
rdv::JsonPtr do_lookup(Conn& c, uint32_t node_id);
// Signed node operation: {"type":type,"node_id":id,"signature":sign("<verb>:<id>")} + extra.
rdv::JsonPtr do_signed(Conn& c, const Key& k, const char* type, const char* verb, uint32_t id,
                       const json_t* extra = nullptr);

}  // namespace rt
