// The dashboard's pure builders (ops-spec §5.3 rows 22–24, §5.4, §5.5): the public-stats key
// set, pulse smoothing, badge numbers and SVG, the badge rate limit, the stream hub.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

#include "worker-admin/dashboard.h"

namespace {

using namespace rdv::admin;

std::set<std::string> keys(const json_t* o) {
  std::set<std::string> out;
  const char* k;
  json_t* v;
  json_object_foreach(const_cast<json_t*>(o), k, v) out.insert(k);
  return out;
}

TEST(Dashboard, PublicStatsHasExactlyTheSpecKeys) {
  PublicStatsInput in;
  in.server_time = 1700000000;
  in.uptime_seconds = 42;
  in.active_nodes = 3;
  in.total_nodes = 9;
  in.total_requests = 1234;
  in.requests_per_sec = 2.5;
  in.registry = ComponentState::Up;
  in.beacon = ComponentState::Unknown;
  in.dashboard = ComponentState::Down;
  rdv::JsonPtr j = public_stats_json(in);
  EXPECT_EQ(keys(j.get()), (std::set<std::string>{"server_time", "uptime_seconds", "active_nodes", "total_nodes",
                                                   "total_requests", "requests_per_sec", "components"}));
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "total_nodes")), 9);
  EXPECT_DOUBLE_EQ(json_real_value(json_object_get(j.get(), "requests_per_sec")), 2.5);
  const json_t* c = json_object_get(j.get(), "components");
  EXPECT_EQ(keys(c), (std::set<std::string>{"registry", "beacon", "dashboard"}));
  EXPECT_STREQ(json_string_value(json_object_get(c, "registry")), "up");
  EXPECT_STREQ(json_string_value(json_object_get(c, "beacon")), "unknown");
  EXPECT_STREQ(json_string_value(json_object_get(c, "dashboard")), "down");
}

TEST(Dashboard, PublicStatsBuildInfoOnlyWhatIsKnown) {
  BuildInfo b;
  b.version = "0.1.0";
  b.binary_sha256 = std::string(64, 'a');
  PublicStatsInput in;
  in.build = &b;
  rdv::JsonPtr j = public_stats_json(in);
  ASSERT_TRUE(json_object_get(j.get(), "build_info"));
  EXPECT_EQ(keys(json_object_get(j.get(), "build_info")), (std::set<std::string>{"version", "binary_sha256"}));
  b.git_commit = "abc123";
  b.build_time = "2026-01-01T00:00:00Z";
  j = public_stats_json(in);
  EXPECT_EQ(keys(json_object_get(j.get(), "build_info")),
            (std::set<std::string>{"version", "binary_sha256", "git_commit", "build_time"}));
  EXPECT_EQ(keys(j.get()).size(), 8u);
}

TEST(Dashboard, PublicStatsNeverNegativeUptime) {
  PublicStatsInput in;
  in.uptime_seconds = -5;  // a clock step backwards
  rdv::JsonPtr j = public_stats_json(in);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "uptime_seconds")), 0);
}

TEST(Dashboard, SmoothedRate) {
  std::deque<PulseSample> s;
  EXPECT_EQ(smoothed_rate(s), 0);
  s.push_back({1000, 10});
  EXPECT_EQ(smoothed_rate(s), 0);  // one sample: no rate yet
  s.push_back({2000, 30});
  EXPECT_DOUBLE_EQ(smoothed_rate(s), 20);
  // Only the newest 10 samples count: 20 samples of +5/s after an early burst.
  s.clear();
  s.push_back({0, 0});
  s.push_back({1000, 100000});
  for (int i = 2; i < 22; i++) s.push_back({i * 1000, 100000 + uint64_t(i - 1) * 5});
  EXPECT_DOUBLE_EQ(smoothed_rate(s), 5);
  // A counter reset (the registry's page recreated) is not a negative rate.
  s.clear();
  s.push_back({0, 500});
  s.push_back({1000, 0});
  s.push_back({2000, 10});
  EXPECT_DOUBLE_EQ(smoothed_rate(s), 5);
  // No time passed.
  s.clear();
  s.push_back({1000, 1});
  s.push_back({1000, 9});
  EXPECT_EQ(smoothed_rate(s), 0);
}

TEST(Dashboard, PulseJsonIsChronological) {
  std::deque<PulseSample> s{{1000, 1}, {2000, 5}};
  rdv::JsonPtr j = pulse_json(2500, 7, s);
  EXPECT_EQ(keys(j.get()), (std::set<std::string>{"ts", "total_requests", "samples"}));
  const json_t* list = json_object_get(j.get(), "samples");
  ASSERT_EQ(json_array_size(list), 2u);
  EXPECT_EQ(json_integer_value(json_object_get(json_array_get(list, 0), "ts")), 1000);
  EXPECT_EQ(json_integer_value(json_object_get(json_array_get(list, 1), "total")), 5);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "total_requests")), 7);
}

TEST(Dashboard, HubKeepsAtMost120Samples) {
  DashboardHub hub;
  for (int i = 0; i < 300; i++) hub.add_sample({i * 1000, uint64_t(i)});
  std::deque<PulseSample> s = hub.samples();
  ASSERT_EQ(s.size(), 120u);
  EXPECT_EQ(s.front().total, 180u);
  EXPECT_EQ(s.back().total, 299u);
}

TEST(Dashboard, FormatCount) {
  EXPECT_EQ(format_count(0), "0");
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(1000), "1.0K");
  EXPECT_EQ(format_count(1234), "1.2K");
  EXPECT_EQ(format_count(1999), "1.9K");  // truncated, never ahead of the real figure
  EXPECT_EQ(format_count(999999), "999.9K");
  EXPECT_EQ(format_count(3400000), "3.4M");
  EXPECT_EQ(format_count(1000000000), "1.0B");
  EXPECT_EQ(format_count(18446744073709551615ull), "18446744073.7B");
}

TEST(Dashboard, BadgeSvg) {
  std::string svg = badge_svg("online nodes", "3", nodes_badge_color(3));
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << svg;
  EXPECT_NE(svg.find("fill=\"#4c1\""), std::string::npos) << svg;
  EXPECT_NE(svg.find(">online nodes</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">3</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.substr(svg.size() - 6), "</svg>");
  EXPECT_NE(badge_svg("online nodes", "0", nodes_badge_color(0)).find("fill=\"#9f9f9f\""), std::string::npos);
  EXPECT_NE(badge_svg("requests", "1.2K", kRequestsBadgeColor).find("fill=\"#a855f7\""), std::string::npos);
  // Texts are escaped: nothing a caller passes can open a tag.
  std::string evil = badge_svg("<script>", "a&b\"", "#000");
  EXPECT_EQ(evil.find("<script>"), std::string::npos) << evil;
  EXPECT_NE(evil.find("&lt;script&gt;"), std::string::npos) << evil;
  EXPECT_NE(evil.find("a&amp;b&quot;"), std::string::npos) << evil;
}

TEST(Dashboard, StatsJson) {
  StatsInput in;
  in.total_nodes = 2;
  in.networks_known = true;
  in.networks.push_back({.id = 1, .name = "lab", .members = 2, .online = 1});
  in.maintenance_banner = "";
  rdv::JsonPtr j = stats_json(in);
  EXPECT_EQ(keys(j.get()), (std::set<std::string>{"total_requests", "total_nodes", "active_nodes", "uptime_secs",
                                                   "networks", "maintenance_banner"}));
  const json_t* row = json_array_get(json_object_get(j.get(), "networks"), 0);
  EXPECT_EQ(keys(row), (std::set<std::string>{"id", "name", "members", "online"}));
  EXPECT_STREQ(json_string_value(json_object_get(j.get(), "maintenance_banner")), "");
  in.networks_known = false;
  in.restart_events = 2;
  j = stats_json(in);
  EXPECT_FALSE(json_object_get(j.get(), "networks"));
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "restart_events")), 2);
}

TEST(Dashboard, SseEvent) {
  EXPECT_EQ(sse_event("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(std::string(kSseKeepAlive).front(), ':');  // a comment line: clients ignore it
}

TEST(Dashboard, HubStreamSlotsAreCapped) {
  DashboardHub hub;
  auto a = hub.acquire_stream(2);
  auto b = hub.acquire_stream(2);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(hub.acquire_stream(2));
  EXPECT_EQ(hub.streams(), 2);
  a.reset();  // a stream that ends frees its slot
  EXPECT_EQ(hub.streams(), 1);
  EXPECT_TRUE(hub.acquire_stream(2));
}

TEST(Dashboard, HubWakesWaitersOnPublishAndStop) {
  DashboardHub hub;
  std::string payload;
  uint64_t seen = hub.version();
  std::thread t([&] { hub.publish("pub", "adm"); });
  uint64_t v = hub.wait(seen, std::chrono::steady_clock::now() + std::chrono::seconds(30), true, &payload);
  t.join();
  EXPECT_NE(v, seen);
  EXPECT_EQ(payload, "adm");
  std::thread s([&] { hub.stop(); });
  v = hub.wait(v, std::chrono::steady_clock::now() + std::chrono::seconds(30), false, &payload);
  s.join();
  EXPECT_TRUE(hub.stopping());
  EXPECT_FALSE(hub.acquire_stream(10));  // no new streams once stopping
}

}  // namespace

namespace {
using namespace rdv::admin;
TEST(Dashboard, RoutesAndAccessClasses) {
  struct {
    const char* path;
    Access access;
  } want[] = {{"/", Access::Public},
              {"/api/public-stats", Access::Public},
              {"/api/events", Access::Public},
              {"/api/stats", Access::Admin},
              {"/api/pulse", Access::Admin},
              {"/api/badge/nodes", Access::Admin},
              {"/api/badge/requests", Access::Admin}};
  for (const auto& w : want) {
    const Route* r = find_route(w.path);
    ASSERT_TRUE(r) << w.path;
    EXPECT_EQ(r->access, w.access) << w.path;
  }
  EXPECT_EQ(find_route("/index.html"), nullptr);  // §5.3 row 1: nothing else under /
}
}  // namespace

#include "shared/wire.h"
#include "worker-admin/live_feed.h"

namespace {
using namespace rdv::admin;

std::string frame(std::string_view body) {
  std::string out;
  rdv::wire::append_json_frame(out, body);
  return out;
}

TEST(LiveFeed, TakesCompleteFramesAndKeepsTheTail) {
  std::string buf = frame(R"({"type":"commit","seq":1,"epoch":1})") + frame("not json") +
                    frame(R"({"type":"liveness","rows":2})");
  std::string tail = frame(R"({"type":"commit","seq":2,"epoch":1})");
  buf += tail.substr(0, 7);  // half a frame
  std::vector<rdv::JsonPtr> frames;
  ASSERT_TRUE(take_bus_frames(&buf, 1024, &frames));
  ASSERT_EQ(frames.size(), 2u);  // the non-JSON body is skipped
  EXPECT_EQ(rdv::json_str(frames[0].get(), "type"), "commit");
  EXPECT_EQ(rdv::json_str(frames[1].get(), "type"), "liveness");
  EXPECT_EQ(buf, tail.substr(0, 7));
  buf += tail.substr(7);
  frames.clear();
  ASSERT_TRUE(take_bus_frames(&buf, 1024, &frames));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(buf.empty());
}

TEST(LiveFeed, RefusesAnOversizedFrame) {
  std::string buf = frame(R"({"type":"commit"})") + std::string("\x00\x10\x00\x00", 4);
  std::vector<rdv::JsonPtr> frames;
  EXPECT_FALSE(take_bus_frames(&buf, 1024, &frames));
  EXPECT_EQ(frames.size(), 1u);  // what came before it is still handled
}

TEST(LiveFeed, RebuildsStayApart) {
  EXPECT_EQ(rebuild_delay_ms(1000, 1000, 250), 250);
  EXPECT_EQ(rebuild_delay_ms(1000, 1100, 250), 150);
  EXPECT_EQ(rebuild_delay_ms(1000, 1250, 250), 0);
  EXPECT_EQ(rebuild_delay_ms(1000, 9000, 250), 0);
  EXPECT_EQ(rebuild_delay_ms(9000, 1000, 250), 250);  // never longer than the interval
}

TEST(LiveFeed, BackoffDoublesToTheCap) {
  int64_t b = LiveFeed::kReconnectMinMs;
  std::vector<int64_t> seen;
  for (int i = 0; i < 8; i++) seen.push_back(b = next_backoff_ms(b, LiveFeed::kReconnectMaxMs));
  EXPECT_EQ(seen.front(), 500);
  EXPECT_EQ(seen.back(), LiveFeed::kReconnectMaxMs);
  for (size_t i = 1; i < seen.size(); i++) EXPECT_GE(seen[i], seen[i - 1]);
}
}  // namespace
