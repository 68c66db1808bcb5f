// The operator side of failover (docs/failover.md): /readyz and the 409 on a standby, the
// promote and demote routes, rendezvousctl promote/demote/whoami, and the keepalived notify
// scripts (etc/keepalived/rendezvous-notify) called directly, as keepalived would, with their
// settings in the environment or in a failover.env file.
//
// The role changes themselves need the replicator's socket (docs/replication.md "The
// replicator's socket"); the tests that move an instance between roles skip with a message
// while no replicator serves it.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "protocol.h"

namespace rt {
namespace {

constexpr const char* kReplToken = "failover-test-repl-token";

std::string source_dir() { return bin_dir() + "/../.."; }
std::string notify_script() { return source_dir() + "/etc/keepalived/rendezvous-notify"; }

using RunResult = CommandResult;

// Runs `argv` under `env -i` with only `env` (plus PATH), so nothing of the test's own
// environment (or of /etc/rendezvous) leaks into what the script decides.
RunResult run(const std::string& dir, const std::vector<std::string>& env, const std::vector<std::string>& argv) {
  std::string cmd = "env -i PATH=/usr/local/bin:/usr/bin:/bin";
  for (const std::string& e : env) cmd += " " + shell_quote(e);
  for (const std::string& a : argv) cmd += " " + shell_quote(a);
  return run_command(dir, cmd);
}

std::string http_addr(const Server& s) { return "127.0.0.1:" + std::to_string(s.http_port); }
std::string registry_addr(const Server& s) { return "127.0.0.1:" + std::to_string(s.registry_port); }

std::string token_file(const Server& s) {
  const std::string path = s.dir + "/admin-token";
  std::ofstream(path) << s.admin_token << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

RunResult ctl(const Server& s, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {bin_dir() + "/rendezvousctl", "--admin-addr", http_addr(s), "--admin-token-file",
                                   token_file(s)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(s.dir, {}, argv);
}

// The notify script for `s`, peer settings in `extra` ("NAME=value").
RunResult notify(const Server& s, const std::string& state, std::vector<std::string> extra = {}) {
  std::vector<std::string> env = {"RENDEZVOUS_FAILOVER_ENV=" + s.dir + "/no-such-failover.env",
                                  "ADMIN_ADDR=" + http_addr(s), "ADMIN_TOKEN_FILE=" + token_file(s),
                                  "RENDEZVOUSCTL=" + bin_dir() + "/rendezvousctl", "RETRIES=1"};
  env.insert(env.end(), extra.begin(), extra.end());
  return run(s.dir, env, {"/bin/sh", notify_script(), state});
}

// True once the replicator listens on <run-dir>/replicator.sock. The supervisor starts it
// after the registry, so a server that just answered wait_ready() may not have it yet: wait a
// moment. In a build whose replicator serves no socket this is false after the wait.
bool replicator_serves(const Server& s, int timeout_ms = 3000) {
  const int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    struct stat st{};
    if (::stat((s.run_dir + "/replicator.sock").c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return true;
    if (mono_ms() >= deadline) return false;
    sleep_ms(50);
  }
}

HttpResponse readyz(const Server& s) {
  HttpResponse h;
  EXPECT_TRUE(http_get(s.http_port, "/readyz", &h));
  return h;
}

// Polls `s`'s /readyz until its role is `role` (and, when given, its status `status`).
bool wait_role(const Server& s, const std::string& role, int status, int timeout_ms, std::string* last) {
  const int64_t deadline = mono_ms() + timeout_ms;
  while (mono_ms() < deadline) {
    HttpResponse h;
    if (http_get(s.http_port, "/readyz", &h)) {
      *last = std::to_string(h.status) + " " + h.body;
      rdv::JsonPtr j = parse_json(h.body);
      if (j && str(j.get(), "role") == role && h.status == status) return true;
    }
    sleep_ms(50);
  }
  return false;
}

class Failover : public PairTest {
 protected:
  void start_pair() { PairTest::start_pair(kReplToken); }
};

TEST_F(Failover, StandbyIsNotReadyAndNamesItsLeader) {
  start_pair();
  HttpResponse h = readyz(standby);
  EXPECT_EQ(h.status, 503) << h.body;
  rdv::JsonPtr j = parse_json(h.body);
  ASSERT_TRUE(j) << h.body;
  EXPECT_EQ(str(j.get(), "status"), "not ready");
  EXPECT_EQ(str(j.get(), "role"), "standby");
  EXPECT_EQ(str(j.get(), "leader"), registry_addr(leader)) << h.body;
  EXPECT_EQ(str(j.get(), "sync"), "off") << h.body;
  h = readyz(leader);
  EXPECT_EQ(h.status, 200) << h.body;
  j = parse_json(h.body);
  EXPECT_EQ(str(j.get(), "role"), "leader") << h.body;
  EXPECT_EQ(str(j.get(), "sync"), "off") << h.body;

  // A mutation on the standby: 409 naming the leader.
  HttpResponse r = admin_http(standby, "PUT", "/api/banner", "maintenance at noon");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find(registry_addr(leader)), std::string::npos) << r.body;

  // The replication status on the standby: its role and leader, whether or not a replicator
  // answers (asked first: it may still be starting).
  const bool has_replicator = replicator_serves(standby);
  rdv::JsonPtr s = json_body(admin_http(standby, "GET", "/api/admin/replication-status"));
  ASSERT_TRUE(s);
  EXPECT_EQ(str(s.get(), "role"), "standby") << dump(s.get());
  EXPECT_EQ(str(s.get(), "leader"), registry_addr(leader)) << dump(s.get());
  EXPECT_TRUE(json_is_true(json_object_get(s.get(), "is_standby"))) << dump(s.get());
  EXPECT_EQ(str(s.get(), "replicator"), has_replicator ? "ok" : "unavailable") << dump(s.get());
}

TEST_F(Failover, PromoteAndDemoteRoutesRefuseBadRequests) {
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  HttpResponse h;
  // No token: 401; GET: 405 with Allow.
  ASSERT_TRUE(http_request(leader.http_port, "POST", "/api/admin/promote", "", &h));
  EXPECT_EQ(h.status, 401) << h.body;
  h = admin_http(leader, "GET", "/api/admin/promote");
  EXPECT_EQ(h.status, 405) << h.body;
  EXPECT_EQ(h.header("Allow"), "POST");
  h = admin_http(leader, "POST", "/api/admin/promote", "{not json");
  EXPECT_EQ(h.status, 400) << h.body;
  h = admin_http(leader, "POST", "/api/admin/demote", R"({"leader":"no-port"})");
  EXPECT_EQ(h.status, 400) << h.body;
  h = admin_http(leader, "POST", "/api/admin/demote", "{}");
  EXPECT_EQ(h.status, 400) << h.body;
  EXPECT_NE(h.body.find("leader required"), std::string::npos) << h.body;

  // Promote on a leader: "already leader" from a replicator, 503 without one; either way the
  // instance stays a ready leader.
  const bool has_replicator = replicator_serves(leader);
  h = admin_http(leader, "POST", "/api/admin/promote", R"({"reason":"test"})");
  if (has_replicator) {
    EXPECT_EQ(h.status, 200) << h.body;
    EXPECT_EQ(str(parse_json(h.body).get(), "status"), "already leader") << h.body;
  } else {
    EXPECT_EQ(h.status, 503) << h.body;
    EXPECT_NE(h.body.find("replicator"), std::string::npos) << h.body;
    EXPECT_EQ(h.body.find(leader.run_dir), std::string::npos) << "the run dir stays private: " << h.body;
  }
  EXPECT_EQ(readyz(leader).status, 200);
}

TEST_F(Failover, RendezvousctlUsageAndWhoami) {
  start_pair();
  RunResult r = ctl(standby, {"demote"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--leader"), std::string::npos) << r.err;
  r = ctl(standby, {"demote", "--leader", "nohostport"});
  EXPECT_EQ(r.code, 2) << r.err;
  r = ctl(standby, {"promote", "extra"});
  EXPECT_EQ(r.code, 2) << r.err;
  r = ctl(standby, {"promote", "--reason", std::string(501, 'x')});
  EXPECT_EQ(r.code, 2) << r.err;
  r = ctl(standby, {"whoami"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "standby " + registry_addr(leader) + "\n");
  r = ctl(leader, {"whoami"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "leader\n");
  // status shows the replication section.
  r = ctl(standby, {"status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("replication.role"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("replication.leader"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(registry_addr(leader)), std::string::npos) << r.out;
  r = ctl(standby, {"--help"});
  EXPECT_NE(r.out.find("demote --leader HOST:PORT"), std::string::npos) << r.out;
}

TEST_F(Failover, NotifyScriptRefusesWhatIsNotSafe) {
  start_pair();
  // Usage and configuration errors: exit 2.
  RunResult r = notify(leader, "bogus");
  EXPECT_EQ(r.code, 2) << r.err;
  r = notify(leader, "backup");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("PEER_REGISTRY"), std::string::npos) << r.err;
  r = notify(leader, "backup", {"PEER_REGISTRY=" + registry_addr(standby), "ADMIN_TOKEN_FILE=" + leader.dir + "/none"});
  EXPECT_EQ(r.code, 2) << r.err;

  // A standby already following the peer: nothing to do, exit 0, twice.
  for (int i = 0; i < 2; i++) {
    r = notify(standby, "backup", {"PEER_REGISTRY=" + registry_addr(leader)});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("already following " + registry_addr(leader)), std::string::npos) << r.err;
  }
  // keepalived's generic notify arguments.
  r = run(standby.dir,
          {"RENDEZVOUS_FAILOVER_ENV=/nonexistent", "ADMIN_ADDR=" + http_addr(standby),
           "ADMIN_TOKEN_FILE=" + token_file(standby), "RENDEZVOUSCTL=" + bin_dir() + "/rendezvousctl",
           "PEER_REGISTRY=" + registry_addr(leader)},
          {"/bin/sh", notify_script(), "INSTANCE", "rendezvous", "FAULT", "100"});
  EXPECT_EQ(r.code, 0) << r.err;

  // The leader told to follow a peer that is a standby: not demoted (it would discard the
  // writes the peer lacks), exit 1, and it stays a ready leader. Without PEER_ADMIN likewise.
  r = notify(leader, "backup", {"PEER_REGISTRY=" + registry_addr(standby), "PEER_ADMIN=" + http_addr(standby),
                                "PEER_WAIT_SECS=1"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("not demoting"), std::string::npos) << r.err;
  r = notify(leader, "fault", {"PEER_REGISTRY=" + registry_addr(standby)});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("PEER_ADMIN is not set"), std::string::npos) << r.err;
  EXPECT_EQ(readyz(leader).status, 200);

  // Settings from a failover.env file, the environment winning over it.
  const std::string env_file = leader.dir + "/failover.env";
  std::ofstream(env_file) << "# test\nPEER_REGISTRY=\"" << registry_addr(leader) << "\"\nADMIN_ADDR=127.0.0.1:1\n";
  r = run(standby.dir,
          {"RENDEZVOUS_FAILOVER_ENV=" + env_file, "ADMIN_ADDR=" + http_addr(standby),
           "ADMIN_TOKEN_FILE=" + token_file(standby), "RENDEZVOUSCTL=" + bin_dir() + "/rendezvousctl"},
          {"/bin/sh", notify_script(), "backup"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("already following " + registry_addr(leader)), std::string::npos) << r.err;
}

// What the operator surface shows of a live stream: the standby's follower, the leader's
// standby row with its lag, the metrics of both.
TEST_F(Failover, ReplicationStatusShowsTheStreamOnBothSides) {
  start_pair();
  if (!replicator_serves(standby) || !replicator_serves(leader))
    GTEST_SKIP() << "no replicator serves replicator.sock in this build (docs/replication.md)";
  {
    Conn c = leader.connect();
    register_daemon(c);
  }
  std::string last;
  ASSERT_TRUE(wait_streaming(standby, 10000, &last)) << last;
  rdv::JsonPtr s = json_body(admin_http(leader, "GET", "/api/admin/replication-status"));
  ASSERT_TRUE(s);
  EXPECT_EQ(num(s.get(), "subscribers"), 1) << dump(s.get());
  const json_t* row = json_array_get(json_object_get(s.get(), "standbys"), 0);
  ASSERT_TRUE(row) << dump(s.get());
  EXPECT_EQ(str(row, "state"), "streaming") << dump(s.get());
  EXPECT_TRUE(has(row, "lag_records") && has(row, "lag_bytes") && has(row, "lag_seconds")) << dump(s.get());
  HttpResponse m;
  ASSERT_TRUE(http_get(leader.http_port, "/metrics", &m));
  EXPECT_NE(m.body.find("pilot_replication_subscribers 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("rendezvous_replication_lag_records{standby=\"" + str(row, "id") + "\"}"), std::string::npos);
  ASSERT_TRUE(http_get(standby.http_port, "/metrics", &m));
  EXPECT_NE(m.body.find("rendezvous_replication_follower_connected 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("pilot_replication_is_standby 1\n"), std::string::npos);
}

// The whole switchover with the notify scripts: the standby promotes (MASTER), the old
// leader follows it (BACKUP), each step twice, and /readyz, the 409 and replication-status
// agree.
TEST_F(Failover, NotifyScriptsMoveRolesBetweenTwoInstances) {
  start_pair();
  if (!replicator_serves(standby) || !replicator_serves(leader))
    GTEST_SKIP() << "no replicator serves replicator.sock in this build (docs/replication.md)";
  std::string last;
  const int64_t old_epoch = num(json_body(admin_http(leader, "GET", "/api/admin/replication-status")).get(), "epoch");

  // MASTER on the standby: promoted, then "already leader".
  RunResult r = notify(standby, "master");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("promoted"), std::string::npos) << r.err;
  ASSERT_TRUE(wait_role(standby, "leader", 200, 5000, &last)) << last;
  r = notify(standby, "master");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("already leader"), std::string::npos) << r.err;
  rdv::JsonPtr s = json_body(admin_http(standby, "GET", "/api/admin/replication-status"));
  EXPECT_GT(num(s.get(), "epoch"), old_epoch) << dump(s.get());
  EXPECT_EQ(str(s.get(), "role"), "leader") << dump(s.get());

  // BACKUP on the old leader: it follows the new one (demoted by the script, or already by
  // the new leader's fence), then "already following".
  r = notify(leader, "backup", {"PEER_REGISTRY=" + registry_addr(standby), "PEER_ADMIN=" + http_addr(standby)});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(wait_role(leader, "standby", 503, 10000, &last)) << last;
  EXPECT_NE(last.find(registry_addr(standby)), std::string::npos) << last;
  r = notify(leader, "backup", {"PEER_REGISTRY=" + registry_addr(standby), "PEER_ADMIN=" + http_addr(standby)});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("already following"), std::string::npos) << r.err;
  s = json_body(admin_http(leader, "GET", "/api/admin/replication-status"));
  EXPECT_EQ(str(s.get(), "leader"), registry_addr(standby)) << dump(s.get());
  EXPECT_EQ(str(json_object_get(s.get(), "follower"), "leader"), registry_addr(standby)) << dump(s.get());

  // The new leader takes writes; the old one refuses them naming the new leader (the admin
  // worker followed the role change).
  HttpResponse h = admin_http(standby, "PUT", "/api/banner", "after the switchover");
  EXPECT_EQ(h.status, 200) << h.body;
  h = admin_http(leader, "PUT", "/api/banner", "on the old leader");
  EXPECT_EQ(h.status, 409) << h.body;
  EXPECT_NE(h.body.find(registry_addr(standby)), std::string::npos) << h.body;

  // The role survives a restart: the role file wins over the flags.
  restart(standby);
  ASSERT_TRUE(wait_role(standby, "leader", 200, 10000, &last)) << last;
}

}  // namespace
}  // namespace rt
