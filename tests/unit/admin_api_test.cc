// Pure parsing rules of the admin API rows in worker-admin/networks.h, audit_routes,
// runtime and verify (ops-spec §5.3).
#include <gtest/gtest.h>

#include "worker-admin/networks.h"
#include "worker-admin/routes.h"
#include "worker-admin/runtime.h"
#include "worker-admin/rate_window.h"

namespace {

using namespace rdv::admin;

TEST(AdminApiParse, UintTextIsGoParseUint) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_uint_text("0", UINT16_MAX, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_uint_text("65535", UINT16_MAX, &v));
  EXPECT_EQ(v, 65535u);
  EXPECT_TRUE(parse_uint_text("007", UINT16_MAX, &v));
  EXPECT_EQ(v, 7u);
  for (const char* bad : {"", "65536", "-1", "+1", " 1", "1 ", "0x10", "1_000", "99999999999999999999999"})
    EXPECT_FALSE(parse_uint_text(bad, UINT16_MAX, &v)) << bad;
  EXPECT_TRUE(parse_uint_text("4294967295", UINT32_MAX, &v));
  EXPECT_FALSE(parse_uint_text("4294967296", UINT32_MAX, &v));
  EXPECT_TRUE(parse_uint_text("18446744073709551615", UINT64_MAX, &v));
  EXPECT_FALSE(parse_uint_text("18446744073709551616", UINT64_MAX, &v));
}

TEST(AdminApiParse, AtoiAcceptsASign) {
  EXPECT_EQ(go_atoi("+5"), 5);
  EXPECT_EQ(go_atoi("-5"), -5);
  EXPECT_EQ(go_atoi("-9223372036854775808"), INT64_MIN);
  EXPECT_FALSE(go_atoi("9223372036854775808"));
  EXPECT_FALSE(go_atoi(""));
  EXPECT_FALSE(go_atoi("-"));
  EXPECT_FALSE(go_atoi("1.5"));
}

TEST(AdminApiParse, LimitAndOffset) {
  EXPECT_EQ(members_limit(std::nullopt), 200);
  EXPECT_EQ(members_limit("0"), 200);
  EXPECT_EQ(members_limit("-4"), 200);
  EXPECT_EQ(members_limit("abc"), 200);
  EXPECT_EQ(members_limit("10"), 10);
  EXPECT_EQ(members_limit("5001"), 5000);
  EXPECT_EQ(members_limit("99999999999999999999"), 200);
  EXPECT_EQ(members_offset(std::nullopt, 10), 0);
  EXPECT_EQ(members_offset("-1", 10), 0);
  EXPECT_EQ(members_offset("x", 10), 0);
  EXPECT_EQ(members_offset("3", 10), 3);
  EXPECT_EQ(members_offset("30", 10), 10);
}

TEST(AdminApiParse, MemberFilter) {
  EXPECT_TRUE(member_matches("", "", 1));
  EXPECT_TRUE(member_matches("WEB", "web-01", 1));
  EXPECT_TRUE(member_matches("eb-0", "Web-01", 1));
  EXPECT_TRUE(member_matches("23", "", 1234));
  EXPECT_FALSE(member_matches("db", "web-01", 1234));
}

TEST(AdminApiParse, OperatorRole) {
  EXPECT_EQ(normalize_operator_role(" Admin\n"), "admin");
  EXPECT_EQ(normalize_operator_role("MEMBER"), "member");
  EXPECT_EQ(normalize_operator_role("owner"), "");
  EXPECT_EQ(normalize_operator_role(""), "");
  EXPECT_EQ(trim_space("  a b \t"), "a b");
}

TEST(AdminApiParse, AuditCount) {
  EXPECT_EQ(audit_recent_count(std::nullopt), 100);
  EXPECT_EQ(audit_recent_count("abc"), 100);
  EXPECT_EQ(audit_recent_count("0"), 100);
  EXPECT_EQ(audit_recent_count("-1"), 100);
  EXPECT_EQ(audit_recent_count("7"), 7);
  EXPECT_EQ(audit_recent_count("1001"), 1000);
}

TEST(AdminApiRuntime, HistogramQuantiles) {
  const auto& b = rdv::metrics::kCommitBuckets;  // 0.0005, 0.001, 0.0025, …
  uint64_t none[rdv::metrics::kPipelineBucketCount]{};
  EXPECT_FALSE(histogram_quantile(b, none, 0, 0.5));
  EXPECT_FALSE(histogram_max_bound(b, none, 0));
  uint64_t c[rdv::metrics::kPipelineBucketCount]{};
  c[0] = 50;  // ≤ 0.5 ms
  c[2] = 50;  // 1–2.5 ms
  EXPECT_DOUBLE_EQ(*histogram_quantile(b, c, 100, 0.5), 0.0005);
  EXPECT_DOUBLE_EQ(*histogram_quantile(b, c, 100, 0.25), 0.00025);
  EXPECT_DOUBLE_EQ(*histogram_quantile(b, c, 100, 0.75), 0.001 + 0.0015 * 0.5);
  EXPECT_DOUBLE_EQ(*histogram_max_bound(b, c, 100), 0.0025);
  // Observations above the last bound: both report the last bound.
  EXPECT_DOUBLE_EQ(*histogram_quantile(b, c, 200, 0.99), 2.5);
  EXPECT_DOUBLE_EQ(*histogram_max_bound(b, c, 200), 2.5);
}

TEST(AdminApiRuntime, ProfileRatesBody) {
  ProfileRates r;
  std::string err;
  ASSERT_TRUE(parse_profile_rates(R"({"mutex_fraction":3})", &r, &err));
  EXPECT_EQ(r.mutex_fraction, 3);
  EXPECT_FALSE(r.block_rate_ns);
  ProfileRates r2;
  ASSERT_TRUE(parse_profile_rates(R"({"block_rate_ns":10,"mutex_fraction":null})", &r2, &err));
  EXPECT_EQ(r2.block_rate_ns, 10);
  EXPECT_FALSE(r2.mutex_fraction);
  for (const char* bad : {"", "[]", "x", R"({"mutex_fraction":-1})", R"({"mutex_fraction":1.5})",
                          R"({"block_rate_ns":"1"})", R"({"block_rate_ns":99999999999})"}) {
    ProfileRates r3;
    EXPECT_FALSE(parse_profile_rates(bad, &r3, &err)) << bad;
    EXPECT_EQ(err.rfind("bad request", 0), 0u) << err;
  }
}

TEST(AdminApiVerify, FixedWindowPerKey) {
  FixedWindowLimiter l(3, 1000, 2);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(l.allow("a", 10));
  EXPECT_FALSE(l.allow("a", 500));
  EXPECT_TRUE(l.allow("b", 500));  // its own window
  EXPECT_TRUE(l.allow("a", 1010));  // a's window (from 10) is over
  // Full table: a new key is refused until a window expires…
  EXPECT_FALSE(l.allow("c", 1200));
  EXPECT_EQ(l.tracked(), 2u);
  // …then expired windows make room (b's started at 500).
  EXPECT_TRUE(l.allow("c", 1600));
  EXPECT_EQ(l.tracked(), 2u);
}

TEST(AdminApiVerify, LimiterKeyTrustsXRealIpOnlyFromLoopback) {
  Request r;
  r.remote_addr = "127.0.0.1";
  EXPECT_EQ(limiter_key(r), "127.0.0.1");
  r.headers = {{"X-Real-IP", "203.0.113.7"}};
  EXPECT_EQ(limiter_key(r), "203.0.113.7");
  r.remote_addr = "198.51.100.1";  // a remote peer cannot choose its own bucket
  EXPECT_EQ(limiter_key(r), "198.51.100.1");
}

TEST(AdminApiRoutes, NetworkShapes) {
  std::vector<std::string_view> p;
  const Route* r = find_route("/api/admin/networks/7/members/9/role/", &p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->methods, "PUT, POST");
  EXPECT_EQ(r->max_body, 8192u);
  ASSERT_EQ(p.size(), 2u);
  ASSERT_TRUE(find_route("/api/admin/networks/7/members/"));
  EXPECT_EQ(find_route("/api/admin/networks/7/members/")->methods, "GET");
  EXPECT_EQ(find_route("/api/admin/networks/7/members/9")->methods, "DELETE");
  // Other shapes under /api/admin/networks/ still have a row (answering 404 "not found").
  ASSERT_TRUE(find_route("/api/admin/networks/7/x"));
  EXPECT_EQ(find_route("/api/admin/networks/7/x")->access, Access::Admin);
}

}  // namespace
