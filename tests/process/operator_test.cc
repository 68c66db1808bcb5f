// The operator settings of the admin API end to end: the banner (stored in LMDB through the
// registry, seeded by -maintenance-banner), the runtime log level (applied in every process
// through the supervisor), and the rate-limit whitelist (validated by the registry with its
// watcher's parser, written atomically, applied by the watcher).
#include <filesystem>
#include <fstream>

#include "operator_helpers.h"

namespace rt {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

class Banner : public ::testing::Test {
 protected:
  void SetUp() override {
    server.extra_args = {"-maintenance-banner", "from the flag"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  std::string banner() {
    HttpResponse r = admin_http(server, "GET", "/api/banner");
    EXPECT_EQ(r.status, 200) << r.body;
    rdv::JsonPtr b = json_body(r);
    return b ? str(b.get(), "banner") : "";
  }
  Server server;
};

TEST_F(Banner, FlagSeedsThenStoredValueSurvivesRestart) {
  EXPECT_EQ(banner(), "from the flag");
  HttpResponse r = admin_http(server, "PUT", "/api/banner", "Maintenance at 18:00 UTC \n\t ");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr body = json_body(r);
  EXPECT_TRUE(json_is_true(json_object_get(body.get(), "ok")));
  EXPECT_EQ(str(body.get(), "banner"), "Maintenance at 18:00 UTC");
  EXPECT_EQ(banner(), "Maintenance at 18:00 UTC");
  rdv::JsonPtr audit = newest_audit(server, "banner.set");
  ASSERT_TRUE(audit);
  EXPECT_NE(str(audit.get(), "details").find("Maintenance at 18:00 UTC"), std::string::npos);

  restart(server);
  EXPECT_EQ(banner(), "Maintenance at 18:00 UTC");  // the store wins over -maintenance-banner
  // GET also takes the query token (§5.2).
  HttpResponse q;
  ASSERT_TRUE(http_get(server.http_port, "/api/banner?admin_token=" + server.admin_token, &q));
  EXPECT_EQ(q.status, 200);
  // An empty banner is a choice too: the flag does not come back.
  ASSERT_EQ(admin_http(server, "POST", "/api/banner", "").status, 200);
  EXPECT_EQ(banner(), "");
}

TEST_F(Banner, AccessMethodsAndLimits) {
  expect_admin_only(server, "GET", "/api/banner");
  expect_admin_only(server, "PUT", "/api/banner", "x");
  HttpResponse r;
  ASSERT_TRUE(http_request(server.http_port, "PUT", "/api/banner?admin_token=" + server.admin_token, "x", &r));
  EXPECT_EQ(r.status, 401);  // writes take the header only
  expect_405(server, "DELETE", "/api/banner", "GET, PUT, POST");
  r = admin_http(server, "PUT", "/api/banner", std::string(8193, 'b'));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "bad request: body too large (max 8192 bytes)\n");
  ASSERT_EQ(admin_http(server, "PUT", "/api/banner", std::string(8192, 'b')).status, 200);
  EXPECT_EQ(banner().size(), 8192u);
}

class LogLevel : public ServerTest {};

TEST_F(LogLevel, ChangesEveryProcess) {
  HttpResponse r = admin_http(server, "GET", "/api/admin/runtime/log-level");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(json_body(r).get(), "level"), "debug");  // the harness runs at debug
  r = admin_http(server, "PUT", "/api/admin/runtime/log-level", R"({"level":"warn"})");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr body = json_body(r);
  EXPECT_TRUE(json_is_true(json_object_get(body.get(), "ok")));
  EXPECT_EQ(str(body.get(), "level"), "warn");
  EXPECT_EQ(str(json_body(admin_http(server, "GET", "/api/admin/runtime/log-level")).get(), "level"), "warn");
  // Every process logs the change (at warn, so it shows at the new level).
  for (const char* proc : {"proc=supervisor", "proc=registry", "proc=admin"})
    EXPECT_TRUE(eventually([&] {
      std::string log = server.log();
      for (size_t at = log.find("msg=\"log level changed by an operator\""); at != std::string::npos;
           at = log.find("msg=\"log level changed by an operator\"", at + 1)) {
        size_t line = log.rfind('\n', at);
        if (log.substr(line + 1, at - line).find(proc) != std::string::npos) return true;
      }
      return false;
    })) << proc;
  // Invalid: 400, unchanged.
  r = admin_http(server, "POST", "/api/admin/runtime/log-level", R"({"level":"loud"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid log level"), std::string::npos) << r.body;
  EXPECT_EQ(str(json_body(admin_http(server, "GET", "/api/admin/runtime/log-level")).get(), "level"), "warn");
}

TEST_F(LogLevel, AccessMethodsAndBadBodies) {
  expect_admin_only(server, "GET", "/api/admin/runtime/log-level");
  expect_admin_only(server, "PUT", "/api/admin/runtime/log-level", R"({"level":"info"})");
  expect_405(server, "DELETE", "/api/admin/runtime/log-level", "GET, PUT, POST");
  EXPECT_EQ(admin_http(server, "PUT", "/api/admin/runtime/log-level", "{nope").status, 400);
  EXPECT_EQ(admin_http(server, "PUT", "/api/admin/runtime/log-level", R"({"level":3})").status, 400);
  EXPECT_EQ(admin_http(server, "PUT", "/api/admin/runtime/log-level", std::string(300, ' ')).status, 400);
}

class Whitelist : public ServerTest {
 protected:
  std::string path() const { return server.data_dir + "/rate-limit-whitelist.json"; }
};

TEST_F(Whitelist, SetValidatedWrittenAndApplied) {
  HttpResponse r = admin_http(server, "GET", "/api/admin/whitelist");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"entries":[],"count":0})");

  r = admin_http(server, "PUT", "/api/admin/whitelist?reason=office",
                 R"({"entries":[{"cidr":"10.0.0.0/8","rate":100000},{"cidr":"192.0.2.7","rate":50}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"ok":true,"count":2})");
  std::string text = read_file(path());
  EXPECT_EQ(text.rfind("[\n  {", 0), 0u) << text;  // a pretty-printed array, 2-space indent
  EXPECT_NE(text.find("\"rate\": 100000"), std::string::npos) << text;
  EXPECT_TRUE(eventually([&] {
    std::string log = server.log();
    return log.find("rate-limit-whitelist reloaded") != std::string::npos && log.find("entries=2") != std::string::npos;
  })) << "the watcher did not apply the file";
  rdv::JsonPtr audit = newest_audit(server, "whitelist.set");
  ASSERT_TRUE(audit);
  EXPECT_NE(str(audit.get(), "details").find("office"), std::string::npos);

  r = admin_http(server, "GET", "/api/admin/whitelist");
  rdv::JsonPtr body = json_body(r);
  EXPECT_EQ(num(body.get(), "count"), 2);
  EXPECT_EQ(str(json_array_get(json_object_get(body.get(), "entries"), 1), "cidr"), "192.0.2.7");

  // A bare array works too.
  r = admin_http(server, "POST", "/api/admin/whitelist", R"([{"cidr":"2001:db8::/32","rate":10}])");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(num(json_body(admin_http(server, "GET", "/api/admin/whitelist")).get(), "count"), 1);
}

TEST_F(Whitelist, InvalidSetsAreRefusedAndChangeNothing) {
  ASSERT_EQ(admin_http(server, "PUT", "/api/admin/whitelist", R"([{"cidr":"10.0.0.0/8","rate":5}])").status, 200);
  const std::string before = read_file(path());
  for (const char* bad : {R"([{"cidr":"not-an-ip","rate":5}])", R"([{"cidr":"10.0.0.0/8","rate":0}])",
                          R"([{"cidr":"","rate":5}])", R"([{"cidr":"10.0.0.0/8","rate":5}, 7])"}) {
    HttpResponse r = admin_http(server, "PUT", "/api/admin/whitelist", bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.body.rfind("bad request: invalid whitelist: ", 0), 0u) << r.body;
  }
  for (const char* bad : {R"({"foo":[]})", "not json", "42"}) {
    HttpResponse r = admin_http(server, "PUT", "/api/admin/whitelist", bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.body.rfind("bad request: body must be {entries:[…]} or [{cidr,rate}…]: ", 0), 0u) << r.body;
  }
  EXPECT_EQ(read_file(path()), before);
  HttpResponse r = admin_http(server, "PUT", "/api/admin/whitelist", std::string((1 << 20) + 1, ' '));
  EXPECT_EQ(r.status, 400);
  // A file broken by hand is shown with its text.
  std::ofstream(path()) << "{broken";
  r = admin_http(server, "GET", "/api/admin/whitelist");
  ASSERT_EQ(r.status, 200);
  rdv::JsonPtr body = json_body(r);
  EXPECT_EQ(num(body.get(), "count"), 0);
  EXPECT_FALSE(str(body.get(), "parse_error").empty());
  EXPECT_EQ(str(body.get(), "raw"), "{broken");
}

TEST_F(Whitelist, AccessAndMethods) {
  expect_admin_only(server, "GET", "/api/admin/whitelist");
  expect_admin_only(server, "PUT", "/api/admin/whitelist", "[]");
  expect_405(server, "DELETE", "/api/admin/whitelist", "GET, PUT, POST");
}

TEST(OperatorStandby, BannerAndWhitelistWritesAreRefusedWith409) {
  Server leader, standby;
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  ASSERT_TRUE(start_standby(standby, leader, &err)) << err;
  HttpResponse r = admin_http(standby, "PUT", "/api/banner", "x");
  EXPECT_EQ(r.status, 409) << r.body;
  r = admin_http(standby, "PUT", "/api/admin/whitelist", R"([{"cidr":"10.0.0.0/8","rate":5}])");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_FALSE(std::filesystem::exists(standby.data_dir + "/rate-limit-whitelist.json"));
  EXPECT_EQ(admin_http(standby, "GET", "/api/banner").status, 200);
  EXPECT_EQ(admin_http(standby, "GET", "/api/admin/whitelist").status, 200);
  if (HasFailure()) dump_log(standby);
}

}  // namespace
}  // namespace rt
