// rendezvousctl against a running server (issue 7 "rendezvousctl"): status, nodes as a table
// and as JSON, backup and backups, the exit codes for unauthorized, not found and usage.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "protocol.h"

namespace rt {
namespace {

using Ctl = ServerTest;

using CtlResult = CommandResult;

// Runs rendezvousctl with `args` and a clean environment for its two variables plus `env`.
CtlResult ctl(const Server& s, const std::vector<std::string>& args, const std::string& env = "") {
  std::string cmd = "env -u RENDEZVOUS_ADMIN_ADDR -u RENDEZVOUS_ADMIN_TOKEN " + env + " " +
                    shell_quote(bin_dir() + "/rendezvousctl");
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  return run_command(s.dir, cmd);
}

std::string addr(const Server& s) { return "127.0.0.1:" + std::to_string(s.http_port); }

TEST_F(Ctl, StatusShowsRoleAndCounts) {
  Conn c = server.connect();
  register_daemon(c);
  CtlResult r = ctl(server, {"--admin-addr", addr(server), "--admin-token", server.admin_token, "status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("role"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leader"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nodes_online"), std::string::npos) << r.out;
  // --json, with the connection from the environment.
  r = ctl(server, {"status", "--json"},
          "RENDEZVOUS_ADMIN_ADDR=" + addr(server) + " RENDEZVOUS_ADMIN_TOKEN=" + server.admin_token);
  ASSERT_EQ(r.code, 0) << r.err;
  rdv::JsonPtr j = parse_json(r.out);
  ASSERT_TRUE(json_is_object(j.get())) << r.out;
  EXPECT_EQ(str(json_object_get(j.get(), "readyz"), "role"), "leader") << r.out;
  EXPECT_EQ(str(json_object_get(j.get(), "healthz"), "status"), "ok") << r.out;
}

TEST_F(Ctl, NodesTableAndJson) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  Daemon b = register_daemon(c);
  CtlResult r = ctl(server, {"--admin-addr", addr(server), "nodes"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NODE_ID", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("0:0000.0000.000" + std::to_string(a.id)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0:0000.0000.000" + std::to_string(b.id)), std::string::npos) << r.out;
  r = ctl(server, {"--admin-addr", addr(server), "--json", "nodes"});
  ASSERT_EQ(r.code, 0) << r.err;
  rdv::JsonPtr j = parse_json(r.out);
  EXPECT_EQ(num(j.get(), "count"), 2) << r.out;
  EXPECT_EQ(json_array_size(json_object_get(j.get(), "nodes")), 2u) << r.out;
}

TEST_F(Ctl, BackupAndBackupsWithTokenFile) {
  const std::string token_file = server.dir + "/token";
  std::ofstream(token_file) << server.admin_token << "\n";
  CtlResult r = ctl(server, {"--admin-addr", addr(server), "backup"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("backup written: rendezvous-", 0), 0u) << r.out;
  r = ctl(server, {"--admin-addr", addr(server), "--admin-token-file", token_file, "backups", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(num(parse_json(r.out).get(), "count"), 1) << r.out;
  r = ctl(server, {"--admin-addr", addr(server), "--admin-token-file", token_file, "backups"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 backups"), std::string::npos) << r.out;
}

TEST_F(Ctl, ExitCodes) {
  // Wrong token: 3.
  CtlResult r = ctl(server, {"--admin-addr", addr(server), "--admin-token", "wrong", "backups"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(server.admin_token), std::string::npos) << "the token must not be printed";
  r = ctl(server, {"--admin-addr", addr(server), "networks", "--admin-token", ""});
  EXPECT_EQ(r.code, 3) << "no token: 401 " << r.err;
  // Not found: 4 (network 999 does not exist).
  EXPECT_EQ(ctl(server, {"--admin-addr", addr(server), "--admin-token", server.admin_token, "members", "999"}).code, 4);
  // Usage: 2.
  EXPECT_EQ(ctl(server, {"--admin-addr", addr(server), "no-such-command"}).code, 2);
  EXPECT_EQ(ctl(server, {"--admin-addr", addr(server), "kick", "1", "2"}).code, 2) << "--reason is required";
  EXPECT_EQ(ctl(server, {"--bogus-flag", "status"}).code, 2);
  EXPECT_EQ(ctl(server, {}).code, 2);
  // Unreachable: 1.
  r = ctl(server, {"--admin-addr", "127.0.0.1:" + std::to_string(free_port()), "nodes"});
  EXPECT_EQ(r.code, 1) << r.err;
  // --help documents the codes.
  r = ctl(server, {"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("exit codes:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("5   conflict"), std::string::npos) << r.out;
  // check-config is still there.
  EXPECT_EQ(ctl(server, {"check-config", "-registry-addr", "127.0.0.1:0"}).code, 0);
}

// The operator commands against the real routes: each change goes through the registry and
// shows up in what the next command reads (and in the audit log).
TEST_F(Ctl, OperatorCommandsChangeTheServer) {
  const std::vector<std::string> base = {"--admin-addr", addr(server), "--admin-token", server.admin_token};
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> all = base;
    all.insert(all.end(), args.begin(), args.end());
    return ctl(server, all);
  };
  CtlResult r = run({"breakers", "set", "registry.punch", "open", "--reason", "maintenance window"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = run({"breakers"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("registry.punch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("open"), std::string::npos) << r.out;
  EXPECT_EQ(run({"breakers", "delete", "registry.punch"}).code, 0);

  ASSERT_EQ(run({"banner", "upgrade at 18:00"}).code, 0);
  r = run({"banner"});
  EXPECT_NE(r.out.find("upgrade at 18:00"), std::string::npos) << r.out;

  ASSERT_EQ(run({"log-level", "debug"}).code, 0);
  r = run({"log-level"});
  EXPECT_NE(r.out.find("debug"), std::string::npos) << r.out;
  EXPECT_EQ(run({"log-level", "loud"}).code, 1) << "an invalid level is the server's 400";

  r = run({"pending", "list", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"count\": 0"), std::string::npos) << r.out;
  EXPECT_EQ(run({"pending", "approve", "12345"}).code, 4) << "no such pending registration";

  r = run({"audit", "-n", "20"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("breaker.set"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("banner.set"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rt
