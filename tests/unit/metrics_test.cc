// Registry metrics page (shared/metrics.h): Prometheus number formatting (ops-spec §6.1),
// the bounded message-type label table, and the rendered families.
#include "metrics.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <string>

namespace {

using rdv::metrics::format_number;

TEST(MetricsFormat, Numbers) {
  EXPECT_EQ(format_number(0), "0");
  EXPECT_EQ(format_number(1), "1");
  EXPECT_EQ(format_number(42), "42");
  EXPECT_EQ(format_number(-3), "-3");
  EXPECT_EQ(format_number(1.5), "1.5");
  EXPECT_EQ(format_number(0.0001), "0.0001");
  EXPECT_EQ(format_number(0.00025), "0.00025");
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(1234567890.0), "1234567890");
  EXPECT_EQ(format_number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_number(std::nan("")), "NaN");
}

TEST(MetricsFormat, RoundTripsShortest) {
  for (double v : {0.3, 2.0 / 3.0, 1e-9, 123.456, 1e20}) {
    std::string s = format_number(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
}

TEST(MetricsTypes, KnownAndUnknown) {
  size_t reg = rdv::metrics::type_index("register");
  ASSERT_LT(reg, rdv::metrics::kTypeCount);
  EXPECT_STREQ(rdv::metrics::kMessageTypes[reg], "register");
  EXPECT_NE(reg, rdv::metrics::kUnknownType);
  EXPECT_STREQ(rdv::metrics::kMessageTypes[rdv::metrics::type_index("heartbeat")], "heartbeat");
  EXPECT_EQ(rdv::metrics::type_index("bogus"), rdv::metrics::kUnknownType);
  EXPECT_EQ(rdv::metrics::type_index(""), rdv::metrics::kUnknownType);
  EXPECT_EQ(rdv::metrics::type_index("REGISTER"), rdv::metrics::kUnknownType);
  EXPECT_STREQ(rdv::metrics::kMessageTypes[rdv::metrics::kUnknownType], "unknown");
}

class MetricsPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-metrics-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    unlink(tmpl);  // map_registry_page creates it
    path_ = tmpl;
    std::string err;
    page_ = rdv::metrics::map_registry_page(path_, true, &err);
    ASSERT_NE(page_, nullptr) << err;
  }
  void TearDown() override {
    rdv::metrics::unmap_registry_page(page_);
    unlink(path_.c_str());
  }
  std::string path_;
  rdv::metrics::RegistryPage* page_ = nullptr;
};

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST_F(MetricsPageTest, ZeroedPageRendersFamilies) {
  std::string out = rdv::metrics::render_registry(*page_);
  EXPECT_TRUE(contains(out, "# TYPE pilot_requests_total counter\n")) << out;
  EXPECT_TRUE(contains(out, "# HELP pilot_requests_total ")) << out;
  EXPECT_TRUE(contains(out, "# TYPE pilot_errors_total counter\n"));
  EXPECT_TRUE(contains(out, "# TYPE pilot_request_duration_seconds histogram\n"));
  EXPECT_TRUE(contains(out, "# TYPE pilot_nodes_online gauge\n"));
  EXPECT_TRUE(contains(out, "# TYPE pilot_nodes_total gauge\n"));
  EXPECT_TRUE(contains(out, "# TYPE pilot_registrations_total counter\n"));
  EXPECT_TRUE(contains(out, "\npilot_registrations_total 0\n"));
  EXPECT_TRUE(contains(out, "\npilot_nodes_total 0\n"));
  EXPECT_FALSE(contains(out, "pilot_requests_total{"));
  EXPECT_EQ(out.back(), '\n');
}

// ops-spec §10.6: one family, every kind present (zero included), labels sorted.
TEST_F(MetricsPageTest, RateLimitDenialsByKind) {
  page_->ratelimit_denied_ip.store(7);
  page_->ratelimit_denied_connection.store(2);
  std::string out = rdv::metrics::render_registry(*page_);
  EXPECT_TRUE(contains(out, "# TYPE pilot_ratelimit_denied_total counter\n"
                            "pilot_ratelimit_denied_total{kind=\"bucket_table\"} 0\n"
                            "pilot_ratelimit_denied_total{kind=\"connection\"} 2\n"
                            "pilot_ratelimit_denied_total{kind=\"global\"} 0\n"
                            "pilot_ratelimit_denied_total{kind=\"ip\"} 7\n"))
      << out;
}

TEST_F(MetricsPageTest, ObserveRegisterCountsAndHistogram) {
  size_t reg = rdv::metrics::type_index("register");
  rdv::metrics::observe(page_, reg, 1000, false);     // 1 µs
  rdv::metrics::observe(page_, reg, 3000000, false);  // 3 ms
  std::string out = rdv::metrics::render_registry(*page_);
  EXPECT_TRUE(contains(out, "pilot_requests_total{type=\"register\"} 2\n")) << out;
  EXPECT_FALSE(contains(out, "pilot_errors_total{type=\"register\"}"));
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"register\",le=\"0.0001\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"register\",le=\"0.0025\"} 1\n"));
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"register\",le=\"0.005\"} 2\n"));
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"register\",le=\"1\"} 2\n"));
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"register\",le=\"+Inf\"} 2\n"));
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_count{type=\"register\"} 2\n"));
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_sum{type=\"register\"} 0.003001\n")) << out;
}

TEST_F(MetricsPageTest, OneRegisterObservation) {
  rdv::metrics::observe(page_, rdv::metrics::type_index("register"), 50000, false);
  std::string out = rdv::metrics::render_registry(*page_);
  EXPECT_TRUE(contains(out, "pilot_requests_total{type=\"register\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"register\",le=\"+Inf\"} 1\n")) << out;
}

TEST_F(MetricsPageTest, SlowRequestOnlyInInfBucket) {
  rdv::metrics::observe(page_, rdv::metrics::type_index("lookup"), 2000000000LL, true);  // 2 s
  std::string out = rdv::metrics::render_registry(*page_);
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"lookup\",le=\"1\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, "pilot_request_duration_seconds_bucket{type=\"lookup\",le=\"+Inf\"} 1\n"));
  EXPECT_TRUE(contains(out, "pilot_errors_total{type=\"lookup\"} 1\n"));
}

TEST_F(MetricsPageTest, UnknownTypeLabelIsBounded) {
  rdv::metrics::observe(page_, rdv::metrics::type_index("bogus"), 1000, true);
  rdv::metrics::observe(page_, rdv::metrics::kTypeCount + 50, 1000, true);  // out of range
  std::string out = rdv::metrics::render_registry(*page_);
  EXPECT_TRUE(contains(out, "pilot_requests_total{type=\"unknown\"} 2\n")) << out;
  EXPECT_FALSE(contains(out, "bogus"));
}

TEST_F(MetricsPageTest, LabelledSeriesSortedByLabel) {
  for (const char* t : {"resolve", "heartbeat", "lookup", "deregister"})
    rdv::metrics::observe(page_, rdv::metrics::type_index(t), 1000, false);
  std::string out = rdv::metrics::render_registry(*page_);
  size_t a = out.find("pilot_requests_total{type=\"deregister\"}");
  size_t b = out.find("pilot_requests_total{type=\"heartbeat\"}");
  size_t c = out.find("pilot_requests_total{type=\"lookup\"}");
  size_t d = out.find("pilot_requests_total{type=\"resolve\"}");
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
}

TEST_F(MetricsPageTest, PageSurvivesRemapAndReadsBackReadOnly) {
  page_->registrations_total.store(5);
  page_->nodes_total.store(3);
  rdv::metrics::observe(page_, rdv::metrics::type_index("register"), 1000, false);
  std::string err;
  rdv::metrics::RegistryPage* ro = rdv::metrics::map_registry_page(path_, false, &err);
  ASSERT_NE(ro, nullptr) << err;
  std::string out = rdv::metrics::render_registry(*ro);
  EXPECT_TRUE(contains(out, "\npilot_registrations_total 5\n")) << out;
  EXPECT_TRUE(contains(out, "\npilot_nodes_total 3\n"));
  EXPECT_TRUE(contains(out, "pilot_requests_total{type=\"register\"} 1\n"));
  rdv::metrics::unmap_registry_page(ro);

  // A writer re-mapping the same file keeps the counters (they survive a registry restart).
  rdv::metrics::RegistryPage* again = rdv::metrics::map_registry_page(path_, true, &err);
  ASSERT_NE(again, nullptr) << err;
  EXPECT_EQ(again->registrations_total.load(), 5u);
  rdv::metrics::unmap_registry_page(again);
}

TEST(MetricsPage, ReadOnlyMapOfMissingFileFails) {
  std::string err;
  EXPECT_EQ(rdv::metrics::map_registry_page("/nonexistent/rdv-metrics-page", false, &err), nullptr);
  EXPECT_FALSE(err.empty());
}

}  // namespace
