// Circuit breakers (ops-spec §9) end to end: the admin API writes breakers.json through the
// registry (validated, atomic, audited), the registry's dispatch refuses gated messages with
// the verbatim "service unavailable" text, the 2-second watcher picks up files an operator
// writes by hand in either shape, and the counters show up in GET /api/breakers.
#include <filesystem>
#include <fstream>

#include "operator_helpers.h"

namespace rt {
namespace {

class Breakers : public ServerTest {};

json_t* find_breaker(const json_t* list, const std::string& name) {
  size_t i;
  json_t* e;
  json_array_foreach(json_object_get(list, "breakers"), i, e) if (str(e, "name") == name) return e;
  return nullptr;
}

TEST_F(Breakers, OpenRefusesRegisterVerbatimAndCloseRestores) {
  HttpResponse r = admin_http(server, "PUT", "/api/breakers/registry.register",
                              R"({"state":"open","reason":"maintenance window"})");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr body = json_body(r);
  EXPECT_TRUE(json_is_true(json_object_get(body.get(), "ok")));
  EXPECT_EQ(str(body.get(), "name"), "registry.register");

  Conn c = server.connect();
  EXPECT_TRUE(is_error(do_register(c, Key::generate()),
                       "service unavailable: breaker \"registry.register\" is open (maintenance window)"));
  // Another message type is not gated by this breaker.
  EXPECT_TRUE(is_error_containing(do_lookup(c, 999), "not found"));

  r = admin_http(server, "GET", "/api/breakers");
  ASSERT_EQ(r.status, 200) << r.body;
  body = json_body(r);
  json_t* b = find_breaker(body.get(), "registry.register");
  ASSERT_NE(b, nullptr) << r.body;
  EXPECT_EQ(str(b, "state"), "open");
  EXPECT_EQ(str(b, "reason"), "maintenance window");
  EXPECT_GE(num(b, "denied_total"), 1);
  EXPECT_GT(num(b, "last_denied_at"), 0);
  EXPECT_GT(num(b, "updated_at"), 0);
  // The denial is counted as the original counts it (ops-spec §9.2).
  HttpResponse m;
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &m));
  EXPECT_NE(m.body.find("pilot_errors_total{type=\"register:breaker_open\"} 1\n"), std::string::npos) << m.body;
  // Consulted names are listed with their counters even without a configured breaker.
  json_t* resolve = find_breaker(body.get(), "registry.resolve");
  ASSERT_NE(resolve, nullptr) << r.body;
  EXPECT_EQ(str(resolve, "state"), "closed");
  EXPECT_GE(num(resolve, "allowed_total"), 1);

  // The file is the flat map the watcher reads.
  std::ifstream f(server.data_dir + "/breakers.json");
  std::string text((std::istreambuf_iterator<char>(f)), {});
  rdv::JsonPtr file = parse_json(text);
  ASSERT_TRUE(file) << text;
  EXPECT_EQ(str(json_object_get(file.get(), "registry.register"), "state"), "open");

  rdv::JsonPtr audit = newest_audit(server, "breaker.set");
  ASSERT_TRUE(audit);
  std::string details = str(audit.get(), "details");
  EXPECT_NE(details.find("from=closed"), std::string::npos) << details;
  EXPECT_NE(details.find("to=open"), std::string::npos) << details;
  EXPECT_NE(details.find("maintenance window"), std::string::npos) << details;

  // half-open spelling, then delete: registration works again and the counters stay.
  r = admin_http(server, "POST", "/api/breakers/registry.register", R"({"state":"Half-Open"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(is_ok(do_register(c, Key::generate()), "register_ok"));
  r = admin_http(server, "DELETE", "/api/breakers/registry.register?reason=done");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(is_ok(do_register(c, Key::generate()), "register_ok"));
  EXPECT_TRUE(newest_audit(server, "breaker.delete"));
  body = json_body(admin_http(server, "GET", "/api/breakers"));
  b = find_breaker(body.get(), "registry.register");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(str(b, "state"), "closed");
  EXPECT_GE(num(b, "denied_total"), 1);
  EXPECT_GE(num(b, "allowed_total"), 2);
}

TEST_F(Breakers, WatcherReadsHandWrittenFilesInBothShapes) {
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  const std::string path = server.data_dir + "/breakers.json";
  {
    std::ofstream f(path + ".tmp");
    f << R"({"breakers":[{"name":"registry.resolve","state":"OPEN","reason":"db"},{"name":"x","state":"bogus"}]})";
  }
  std::filesystem::rename(path + ".tmp", path);
  EXPECT_TRUE(eventually([&] {
    rdv::JsonPtr r = do_lookup(c, d.id);
    return r && str(r.get(), "error") == "service unavailable: breaker \"registry.resolve\" is open (db)";
  })) << "the watcher never applied the {breakers:[…]} shape";
  // The flat map, no reason: the text has no parenthesis.
  {
    std::ofstream f(path + ".tmp");
    f << R"({"registry.heartbeat":{"state":"open"}})";
  }
  std::filesystem::rename(path + ".tmp", path);
  EXPECT_TRUE(eventually([&] {
    rdv::JsonPtr r = do_signed(c, d.key, "heartbeat", "heartbeat", d.id);
    return r && str(r.get(), "error") == "service unavailable: breaker \"registry.heartbeat\" is open";
  }));
  EXPECT_TRUE(is_ok(do_lookup(c, d.id), "lookup_ok"));
  // A broken file keeps the previous map: the next operator write re-reads the file at once,
  // fails to parse it, and builds on the map in force (so heartbeat stays open).
  {
    std::ofstream f(path + ".tmp");
    f << "{not json";
  }
  std::filesystem::rename(path + ".tmp", path);
  ASSERT_EQ(admin_http(server, "PUT", "/api/breakers/registry.punch", R"({"state":"open"})").status, 200);
  EXPECT_TRUE(is_error_containing(do_signed(c, d.key, "heartbeat", "heartbeat", d.id), "is open"));
  // Removing the file closes everything.
  std::filesystem::remove(path);
  EXPECT_TRUE(eventually([&] { return is_ok(do_signed(c, d.key, "heartbeat", "heartbeat", d.id), "heartbeat_ok"); }));
}

TEST_F(Breakers, AccessMethodsAndBadBodies) {
  expect_admin_only(server, "GET", "/api/breakers");
  expect_admin_only(server, "PUT", "/api/breakers/registry.register", R"({"state":"open"})");
  expect_admin_only(server, "DELETE", "/api/breakers/registry.register");
  // Writes take the header only (§5.2 CSRF rule).
  HttpResponse r;
  ASSERT_TRUE(http_request(server.http_port, "PUT", "/api/breakers/a?admin_token=" + server.admin_token,
                           R"({"state":"open"})", &r));
  EXPECT_EQ(r.status, 401);
  expect_405(server, "POST", "/api/breakers", "GET");
  expect_405(server, "GET", "/api/breakers/registry.register", "PUT, POST, DELETE");

  r = admin_http(server, "PUT", "/api/breakers/registry.register", "{nope");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("bad json: ", 0), 0u) << r.body;
  r = admin_http(server, "PUT", "/api/breakers/registry.register", R"({"state":"ajar"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "breaker set: unknown breaker state \"ajar\"\n");
  r = admin_http(server, "PUT", "/api/breakers/registry.register", R"({"state":1})");
  EXPECT_EQ(r.status, 400);
  r = admin_http(server, "PUT", "/api/breakers/bad%20name", R"({"state":"open"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "missing or invalid breaker name\n");
  r = admin_http(server, "DELETE", "/api/breakers/");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "missing or invalid breaker name\n");
  r = admin_http(server, "PUT", "/api/breakers/registry.register", std::string(9000, ' '));
  EXPECT_EQ(r.status, 400);
  // Nothing was written by the refusals.
  EXPECT_FALSE(std::filesystem::exists(server.data_dir + "/breakers.json"));
}

TEST(BreakersStandby, WritesAreRefusedWith409) {
  Server leader, standby;
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  ASSERT_TRUE(start_standby(standby, leader, &err)) << err << standby.log_tail();
  HttpResponse r = admin_http(standby, "PUT", "/api/breakers/registry.register", R"({"state":"open"})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("leader"), std::string::npos) << r.body;
  // Reads are served on a standby.
  EXPECT_EQ(admin_http(standby, "GET", "/api/breakers").status, 200);
  if (HasFailure()) dump_log(standby);
}

}  // namespace
}  // namespace rt
