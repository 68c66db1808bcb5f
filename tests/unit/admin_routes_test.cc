// The admin worker's pure pieces: the route table, the localhost check on the real peer
// address, method lists and error bodies (ops-spec §5.1–5.2).
#include <gtest/gtest.h>

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

}  // namespace
