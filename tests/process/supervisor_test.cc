// The supervisor as systemd and an operator see it (ARCHITECTURE.md "Supervisor"): sd_notify
// READY=1 / STATUS= / STOPPING=1, WATCHDOG=1 only while workers answer pings, a hung worker
// is killed and restarted, SIGTERM stops everything with exit 0, SIGHUP reloads live settings,
// and start-up errors exit non-zero with a message.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "harness.h"

namespace rt {
namespace {

// The receiving end of $NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }

  // Receives datagrams for up to timeout_ms, stopping early once one contains `needle`
  // (when needle is non-empty). Every datagram seen is appended to *seen.
  bool wait_for(const std::string& needle, int timeout_ms, std::vector<std::string>* seen) {
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
      int64_t left = deadline - mono_ms();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, int(left)) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string msg(buf, size_t(n));
      seen->push_back(msg);
      if (!needle.empty() && msg.find(needle) != std::string::npos) return true;
    }
  }
  // Receives one datagram if one arrives within timeout_ms.
  bool recv_one(int timeout_ms, std::string* msg) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    msg->assign(buf, size_t(n));
    return true;
  }
  // Discards every datagram already queued.
  void drain() {
    std::string ignored;
    while (recv_one(0, &ignored)) {
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

// Polls the server log, from byte `from` on, until it contains `needle`. The deadline only
// bounds a failure.
bool wait_for_log(const Server& server, size_t from, const std::string& needle, int timeout_ms) {
  for (int64_t deadline = mono_ms() + timeout_ms; mono_ms() < deadline; sleep_ms(20)) {
    std::string log = server.log();
    if (log.size() > from && log.find(needle, from) != std::string::npos) return true;
  }
  return false;
}

bool log_has(const Server& server, size_t from, const std::string& needle) {
  std::string log = server.log();
  return log.size() > from && log.find(needle, from) != std::string::npos;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& m : v) s += "[" + m + "] ";
  return s;
}

class Supervisor : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
};

TEST_F(Supervisor, NotifiesReadyStatusAndStopping) {
  NotifySocket ns(server.dir + "/notify.sock");
  ASSERT_TRUE(ns.ok());
  server.extra_env = {"NOTIFY_SOCKET=" + ns.path()};
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  std::vector<std::string> seen;
  EXPECT_TRUE(ns.wait_for("READY=1", 5000, &seen)) << "no READY=1; got " << joined(seen);
  bool status = false;
  for (auto& m : seen)
    if (m.find("STATUS=") != std::string::npos && m.find("registry") != std::string::npos) status = true;
  EXPECT_TRUE(status) << "no STATUS= naming the registry; got " << joined(seen);

  // Workers must not inherit $NOTIFY_SOCKET (they could announce readiness themselves).
  for (auto& w : children_of(server.pid)) {
    std::ifstream f("/proc/" + std::to_string(w.pid) + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(env.find("NOTIFY_SOCKET="), std::string::npos) << w.name << " inherited NOTIFY_SOCKET";
  }

  pid_t sup = server.pid;
  kill(sup, SIGTERM);
  seen.clear();
  EXPECT_TRUE(ns.wait_for("STOPPING=1", 5000, &seen)) << "no STOPPING=1; got " << joined(seen);
  int st = server.wait_exit(15000);
  ASSERT_NE(st, -1);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
}

TEST_F(Supervisor, SigtermStopsEveryWorkerAndClosesPorts) {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  std::vector<ProcInfo> workers = children_of(server.pid);
  ASSERT_GE(workers.size(), 2u);
  // An idle client connection must not hold the shutdown up.
  Conn idle = server.connect();
  ASSERT_TRUE(idle.ok());
  int st = server.stop(15000);
  ASSERT_NE(st, -1) << "supervisor did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
  for (auto& w : workers) EXPECT_FALSE(process_alive(w.pid)) << w.name << " still running";
  int e = 0;
  Conn c = Conn::open(server.registry_port, 1000, &e);
  EXPECT_FALSE(c.ok()) << "registry port still accepting after exit";
  EXPECT_EQ(e, ECONNREFUSED);
}

TEST_F(Supervisor, WatchdogOnlyWhileWorkersAnswerAndHungWorkerIsReplaced) {
  NotifySocket ns(server.dir + "/notify.sock");
  ASSERT_TRUE(ns.ok());
  server.extra_env = {"NOTIFY_SOCKET=" + ns.path(), "WATCHDOG_USEC=2000000"};
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  // Healthy: WATCHDOG=1 keeps coming (two of them; the deadlines only bound a failure).
  std::vector<std::string> seen;
  ASSERT_TRUE(ns.wait_for("WATCHDOG=1", 10000, &seen)) << "no WATCHDOG=1 while healthy; got " << joined(seen);
  ASSERT_TRUE(ns.wait_for("WATCHDOG=1", 10000, &seen)) << "WATCHDOG=1 did not repeat; got " << joined(seen);

  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);
  const size_t mark = server.log().size();
  ASSERT_EQ(kill(registry, SIGSTOP), 0);  // hung: alive but silent
  // Ordering instead of durations: once the supervisor has logged the unanswered ping, no
  // WATCHDOG=1 may follow until it has declared the worker hung (and killed it). What it sent
  // before that tick is queued in our socket already (sd_notify is a synchronous send), so it
  // is discarded first.
  ASSERT_TRUE(wait_for_log(server, mark, "msg=\"worker missed a ping\" worker=registry", 20000))
      << "the supervisor never noticed the hung registry's missing pong";
  ns.drain();
  const std::string hung = "msg=\"worker hung: no answer on its control socket; killing it\" worker=registry";
  int watchdogs_while_hung = 0;
  for (int64_t deadline = mono_ms() + 30000; !log_has(server, mark, hung) && mono_ms() < deadline;) {
    std::string msg;
    if (!ns.recv_one(100, &msg) || msg.find("WATCHDOG=1") == std::string::npos) continue;
    // Sent before the kill was logged (the log is checked after the datagram was read).
    if (!log_has(server, mark, hung)) watchdogs_while_hung++;
  }
  EXPECT_EQ(watchdogs_while_hung, 0) << "WATCHDOG=1 sent while the registry was hung";
  EXPECT_TRUE(log_has(server, mark, hung)) << "the hung registry was never declared hung";

  // The supervisor kills the hung worker (10 s of silence) and starts a new one.
  pid_t replaced = server.wait_worker("rendezvous-registry", registry, 20000);
  kill(registry, SIGCONT);  // harmless if already dead
  ASSERT_GT(replaced, 0) << "hung registry worker was not replaced";
  Conn c = server.connect();
  rdv::JsonPtr r = c.request(R"({"type":"lookup","node_id":1})", nullptr, 10000);
  EXPECT_NE(r, nullptr) << "registry does not answer after the replacement";
  seen.clear();
  EXPECT_TRUE(ns.wait_for("WATCHDOG=1", 10000, &seen)) << "WATCHDOG=1 did not resume; got " << joined(seen);
}

// SIGHUP applies the new admin token live: the registry accepts the new one and refuses the
// old one, and no worker was restarted to get there. A supervisor that ignored SIGHUP fails
// here (the new token never becomes valid), and so does one that died of it.
TEST_F(Supervisor, SighupReloadsAdminTokenLiveWithoutRestart) {
  std::string cfg = server.dir + "/config.json";
  std::ofstream(cfg) << R"({"admin-token":"token-one"})";
  server.pass_admin_token = false;
  server.extra_args = {"-config", cfg};
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  const pid_t registry = server.worker("rendezvous-registry"), admin = server.worker("rendezvous-admin"),
              replicator = server.worker("rendezvous-replicator");
  ASSERT_GT(registry, 0);
  ASSERT_GT(admin, 0);
  ASSERT_GT(replicator, 0);
  Conn c = server.connect();
  auto list_with = [&](const char* token) {
    rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 0, "admin_token", token));
    return str(c.request(req.get()).get(), "type");
  };
  EXPECT_EQ(list_with("token-one"), "list_nodes_ok");
  EXPECT_EQ(list_with("token-two"), "error");

  std::ofstream(cfg, std::ios::trunc) << R"({"admin-token":"token-two"})";
  size_t mark = server.log().size();
  ASSERT_EQ(kill(server.pid, SIGHUP), 0);
  // Every worker acknowledges the reload in its log; the deadline only bounds a failure.
  for (const char* proc : {"registry", "admin", "replicator"})
    EXPECT_TRUE(wait_for_log(server, mark, std::string("proc=") + proc + " msg=\"configuration reloaded\"", 20000))
        << proc << " did not apply the reload";
  EXPECT_EQ(list_with("token-two"), "list_nodes_ok") << "new token not live after SIGHUP";
  EXPECT_EQ(list_with("token-one"), "error") << "old token still accepted after SIGHUP";
  EXPECT_TRUE(c.still_open()) << "the client connection did not survive the reload";
  EXPECT_EQ(server.worker("rendezvous-registry"), registry) << "registry restarted instead of reloading";
  EXPECT_EQ(server.worker("rendezvous-admin"), admin) << "admin restarted instead of reloading";
  EXPECT_EQ(server.worker("rendezvous-replicator"), replicator) << "replicator restarted instead of reloading";

  // A broken file on SIGHUP keeps the running configuration and the server.
  std::ofstream(cfg, std::ios::trunc) << "{not json";
  mark = server.log().size();
  ASSERT_EQ(kill(server.pid, SIGHUP), 0);
  EXPECT_TRUE(wait_for_log(server, mark, "configuration reload failed; keeping the running configuration", 20000))
      << "no reload failure logged for a broken config file";
  EXPECT_TRUE(server.running());
  EXPECT_EQ(list_with("token-two"), "list_nodes_ok");
  EXPECT_EQ(server.worker("rendezvous-registry"), registry);
  int st = server.stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
}

TEST_F(Supervisor, BadFlagExitsNonZeroNamingIt) {
  server.extra_args = {"-stale-threshold", "soon"};
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int st = server.wait_exit(10000);
  ASSERT_NE(st, -1) << "supervisor kept running with a bad flag";
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_NE(WEXITSTATUS(st), 0);
  EXPECT_NE(server.log().find("stale-threshold"), std::string::npos) << server.log();
  RecordProperty("exit_code", WEXITSTATUS(st));
}

TEST_F(Supervisor, RegistryPortInUseExitsNonZero) {
  // Occupy the registry port first.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(server.registry_port);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int st = server.wait_exit(10000);
  close(fd);
  ASSERT_NE(st, -1) << "supervisor kept running without its registry port";
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_NE(WEXITSTATUS(st), 0);
  EXPECT_NE(server.log().find(std::to_string(server.registry_port)), std::string::npos)
      << "the error does not name the address:\n" << server.log();
}

// The data and run dirs hold the store, the registry's command socket and the metrics page: a
// directory other users can write to is refused at start with the configuration-error code
// and a message that names it, says why and how to fix it.
void expect_refused_dir(Server& server, const std::string& flag, const std::string& path) {
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int st = server.wait_exit(10000);
  ASSERT_NE(st, -1) << "supervisor kept running with a world-writable " << flag;
  ASSERT_TRUE(WIFEXITED(st)) << "wait status " << st;
  EXPECT_EQ(WEXITSTATUS(st), 78);
  std::string log = server.log();
  EXPECT_NE(log.find(flag + " " + path + " is writable by every user (mode 0777)"), std::string::npos) << log;
  EXPECT_NE(log.find("chmod o-w " + path), std::string::npos) << log;
  EXPECT_EQ(log.find("worker started"), std::string::npos) << "a worker ran in an unsafe directory:\n" << log;
}

TEST_F(Supervisor, WorldWritableRunDirIsRefused) {
  ASSERT_EQ(chmod(server.run_dir.c_str(), 0777), 0);
  expect_refused_dir(server, "-run-dir", server.run_dir);
}

TEST_F(Supervisor, WorldWritableDataDirIsRefused) {
  ASSERT_EQ(chmod(server.data_dir.c_str(), 0777), 0);
  expect_refused_dir(server, "-data-dir", server.data_dir);
}

TEST_F(Supervisor, PrivateDirectoriesAreAcceptedAndCreatedPrivate) {
  ASSERT_EQ(chmod(server.data_dir.c_str(), 0750), 0);
  server.run_dir = server.dir + "/new/run";  // the supervisor creates this one
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  struct stat st;
  ASSERT_EQ(stat(server.run_dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & S_IWOTH, 0u) << "created run dir is world-writable";
  int status = server.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(Supervisor, RunDirSymlinkOwnedBySomeoneElseIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a symlink to another user";
  std::string real = server.dir + "/real-run";
  ASSERT_EQ(mkdir(real.c_str(), 0750), 0);
  std::string link = server.dir + "/run-link";
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  ASSERT_EQ(lchown(link.c_str(), 65534, 65534), 0);
  server.run_dir = link;
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int st = server.wait_exit(10000);
  ASSERT_NE(st, -1) << "supervisor kept running with someone else's symlink as -run-dir";
  ASSERT_TRUE(WIFEXITED(st)) << "wait status " << st;
  EXPECT_EQ(WEXITSTATUS(st), 78);
  EXPECT_NE(server.log().find("-run-dir " + link + " is a symlink owned by uid 65534"), std::string::npos)
      << server.log();
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// systemd socket activation: the supervisor takes the two listeners it is handed (matched by
// port) instead of binding, and serves on them.
int listening_socket(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 128) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(SocketActivation, ServesOnTheListenersItIsHanded) {
  Server server;
  int reg = listening_socket(server.registry_port), http = listening_socket(server.http_port);
  ASSERT_GE(reg, 0);
  ASSERT_GE(http, 0);
  server.activation_fds = {reg, http};
  std::string err;
  bool started = server.start(&err);
  ::close(reg);  // the supervisor has its own copies now
  ::close(http);
  ASSERT_TRUE(started) << err << "\n" << server.log_tail();
  EXPECT_NE(server.log().find("socket activation"), std::string::npos) << server.log_tail();
  Conn c = server.connect();
  rdv::JsonPtr j = c.request(R"({"type":"lookup","node_id":1})");
  ASSERT_TRUE(j);
  EXPECT_EQ(str(j.get(), "error"), "node 1: node not found");
  HttpResponse r;
  ASSERT_TRUE(http_get(server.http_port, "/healthz", &r));
  EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace rt
