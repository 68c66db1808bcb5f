// The supervisor's pure configuration helpers (supervisor/supervisor.h): which workers run, and
// what a SIGHUP may change live versus what needs a restart.
#include "supervisor/supervisor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

rdv::Config parsed(const std::vector<std::string>& args) {
  rdv::Config c;
  std::string err;
  EXPECT_TRUE(c.parse(args, &err)) << err;
  return c;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(SupervisorConfig, WorkerNamesInStartOrder) {
  EXPECT_EQ(rdv::supervisor::worker_names(parsed({"-http", "127.0.0.1:3000"})),
            (std::vector<std::string>{"registry", "admin", "replicator"}));
  EXPECT_EQ(rdv::supervisor::worker_names(parsed({})), (std::vector<std::string>{"registry", "replicator"}));
}

TEST(SupervisorConfig, SecretSettings) {
  EXPECT_TRUE(rdv::supervisor::is_secret_setting("admin-token"));
  EXPECT_TRUE(rdv::supervisor::is_secret_setting("repl-token"));
  EXPECT_TRUE(rdv::supervisor::is_secret_setting("dashboard-token"));
  EXPECT_FALSE(rdv::supervisor::is_secret_setting("log-level"));
  EXPECT_FALSE(rdv::supervisor::is_secret_setting("registry-addr"));
}

TEST(SupervisorConfig, ReloadAppliesLiveSettings) {
  rdv::Config running = parsed({"-admin-token", "one", "-log-level", "info", "-stale-threshold", "30m"});
  rdv::Config fresh = parsed({"-admin-token", "two", "-log-level", "debug", "-stale-threshold", "5m"});
  std::vector<std::string> restart, live;
  rdv::Config merged = rdv::supervisor::merge_reloaded_config(running, fresh, &restart, &live);
  EXPECT_TRUE(restart.empty());
  EXPECT_TRUE(contains(live, "admin-token"));
  EXPECT_TRUE(contains(live, "log-level"));
  EXPECT_TRUE(contains(live, "stale-threshold"));
  EXPECT_EQ(live.size(), 3u);
  EXPECT_EQ(merged.admin_token, "two");
  EXPECT_EQ(merged.log_level, "debug");
  EXPECT_EQ(merged.stale_threshold_ns, 5LL * 60 * 1000000000);
}

TEST(SupervisorConfig, ReloadKeepsRestartOnlySettings) {
  rdv::Config running = parsed({"-registry-addr", "127.0.0.1:9000", "-http", "127.0.0.1:3000", "-data-dir",
                                "/tmp/a", "-run-dir", "/tmp/ra", "-admin-token", "one"});
  rdv::Config fresh = parsed({"-registry-addr", "127.0.0.1:9100", "-http", "127.0.0.1:3100", "-data-dir",
                              "/tmp/b", "-run-dir", "/tmp/rb", "-admin-token", "two"});
  std::vector<std::string> restart, live;
  rdv::Config merged = rdv::supervisor::merge_reloaded_config(running, fresh, &restart, &live);
  for (const char* k : {"registry-addr", "http", "data-dir", "run-dir"})
    EXPECT_TRUE(contains(restart, k)) << k;
  EXPECT_EQ(live, (std::vector<std::string>{"admin-token"}));
  EXPECT_EQ(merged.registry_addr, "127.0.0.1:9000");
  EXPECT_EQ(merged.http, "127.0.0.1:3000");
  EXPECT_EQ(merged.data_dir, "/tmp/a");
  EXPECT_EQ(merged.run_dir, "/tmp/ra");
  EXPECT_EQ(merged.admin_token, "two");
}

TEST(SupervisorConfig, ReloadWithNoChange) {
  rdv::Config running = parsed({"-admin-token", "same"});
  std::vector<std::string> restart, live;
  rdv::Config merged = rdv::supervisor::merge_reloaded_config(running, running, &restart, &live);
  EXPECT_TRUE(restart.empty());
  EXPECT_TRUE(live.empty());
  EXPECT_EQ(merged.admin_token, "same");
}

}  // namespace
