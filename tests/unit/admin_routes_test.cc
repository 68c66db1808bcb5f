// The admin worker's pure pieces: the route table, the localhost check on the real peer
// address, method lists and error bodies (ops-spec §5.1–5.2).
#include <gtest/gtest.h>

#include <sodium.h>

#include "worker-admin/routes.h"

namespace {

using namespace rdv::admin;

TEST(AdminRoutes, TableHasTheFirstSliceWithTheirAccessClasses) {
  const Route* r = find_route("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->access, Access::Public);
  ASSERT_TRUE(find_route("/readyz"));
  EXPECT_EQ(find_route("/readyz")->access, Access::Public);
  ASSERT_TRUE(find_route("/metrics"));
  EXPECT_EQ(find_route("/metrics")->access, Access::LocalhostOnly);
  ASSERT_TRUE(find_route("/api/nodes"));
  EXPECT_EQ(find_route("/api/nodes")->access, Access::LocalhostOnly);
  EXPECT_EQ(find_route("/api/nodes/"), nullptr);
  EXPECT_EQ(find_route("/nope"), nullptr);
}

TEST(AdminRoutes, LoopbackIsJudgedOnTheAddressItself) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) EXPECT_TRUE(is_loopback(yes)) << yes;
  for (const char* no : {"", "1.2.3.4", "10.0.0.1", "::ffff:10.0.0.1", "fe80::1", "localhost", "127.0.0.1 ",
                         "128.0.0.1", "::2", "garbage"})
    EXPECT_FALSE(is_loopback(no)) << no;
}

TEST(AdminRoutes, MethodLists) {
  EXPECT_TRUE(method_allowed("GET", "GET"));
  EXPECT_TRUE(method_allowed("GET, PUT", "PUT"));
  EXPECT_FALSE(method_allowed("GET", "POST"));
  EXPECT_FALSE(method_allowed("GET", "get"));
  EXPECT_FALSE(method_allowed("", "GET"));
}

TEST(AdminRoutes, ErrorBodiesArePlainTextLines) {
  Response r = text_error(403, "Forbidden");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "Forbidden\n");
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
}

TEST(AdminRouter, PatternsMatchWholeSegments) {
  std::vector<std::string_view> p;
  EXPECT_TRUE(match_pattern("/api/breakers/{}", "/api/breakers/registry.register", false, &p));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "registry.register");
  EXPECT_FALSE(match_pattern("/api/breakers/{}", "/api/breakers/", false, &p));
  EXPECT_FALSE(match_pattern("/api/breakers/{}", "/api/breakers/a/b", false, &p));
  EXPECT_FALSE(match_pattern("/api/breakers/{}", "/api/breakers", false, &p));
  EXPECT_TRUE(match_pattern("/api/admin/networks/{}/members/{}/role", "/api/admin/networks/7/members/42/role/", true, &p));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "7");
  EXPECT_EQ(p[1], "42");
  EXPECT_FALSE(match_pattern("/api/admin/networks/{}/members", "/api/admin/networks/7/members/", false, &p));
  EXPECT_TRUE(match_pattern("/", "/", false, &p));
  EXPECT_FALSE(match_pattern("/", "/x", false, &p));
  EXPECT_FALSE(match_pattern("/api/stats", "/api/statsx", false, &p));
}

TEST(AdminRouter, QueryValuesAreDecoded) {
  Request r;
  r.query = "n=5&reason=too+many%20faults&empty=&flag&bad=%zz";
  EXPECT_EQ(r.query_value("n"), "5");
  EXPECT_EQ(r.query_value("reason"), "too many faults");
  EXPECT_EQ(r.query_value("empty"), "");
  EXPECT_EQ(r.query_value("flag"), "");
  EXPECT_EQ(r.query_value("bad"), "%zz");
  EXPECT_FALSE(r.query_value("missing"));
  EXPECT_EQ(url_decode("%41%"), "A%");
}

TEST(AdminRouter, HeadersAreCaseInsensitive) {
  Request r;
  r.headers = {{"x-admin-token", "t1"}, {"X-Admin-Token", "t2"}};
  EXPECT_EQ(r.header("X-ADMIN-TOKEN"), "t1");
  EXPECT_EQ(r.header("Allow"), "");
}

TEST(AdminRouter, AdminTokenRuleOfSection52) {
  ASSERT_GE(sodium_init(), 0);
  Request r;
  r.method = "GET";
  EXPECT_EQ(admin_refusal("", r), "admin token not configured");
  EXPECT_EQ(admin_refusal("secret", r), "unauthorized");
  r.headers = {{"X-Admin-Token", "secret"}};
  EXPECT_EQ(admin_refusal("secret", r), "");
  r.headers = {{"X-Admin-Token", "secreT"}};
  EXPECT_EQ(admin_refusal("secret", r), "unauthorized");
  r.headers = {{"X-Admin-Token", "secret-longer"}};
  EXPECT_EQ(admin_refusal("secret", r), "unauthorized");
  r.headers.clear();
  r.query = "admin_token=secret";
  EXPECT_EQ(admin_refusal("secret", r), "");
  // The query token does not authorise a mutation (CSRF).
  r.method = "POST";
  EXPECT_EQ(admin_refusal("secret", r), "unauthorized");
}

TEST(AdminRouter, EveryRowIsReachableAndMethodsAreListed) {
  for (const Route& r : route_table()) {
    EXPECT_FALSE(r.methods.empty()) << r.pattern;
    std::string path(r.pattern);
    for (size_t at; (at = path.find("{}")) != std::string::npos;) path.replace(at, 2, "1");
    EXPECT_EQ(find_route(path), &r) << r.pattern << " is shadowed by an earlier row";
  }
}

}  // namespace
