// The pure breaker logic (shared/breakers.h) and the registry's counters
// (worker-registry/breakers.h): spellings, both file shapes, the catalogue, the denial text,
// change detection, and counting.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "shared/breakers.h"
#include "worker-registry/breakers.h"

namespace {

using rdv::breakers::State;

TEST(BreakerState, AcceptedSpellings) {
  State s;
  for (const char* t : {"", "closed", " CLOSED "}) {
    ASSERT_TRUE(rdv::breakers::parse_state(t, &s)) << t;
    EXPECT_EQ(s, State::Closed);
  }
  for (const char* t : {"half_open", "half-open", "HalfOpen", " halfopen"}) {
    ASSERT_TRUE(rdv::breakers::parse_state(t, &s)) << t;
    EXPECT_EQ(s, State::HalfOpen);
  }
  ASSERT_TRUE(rdv::breakers::parse_state("Open\n", &s));
  EXPECT_EQ(s, State::Open);
  for (const char* t : {"ajar", "half open", "opened", "0"}) EXPECT_FALSE(rdv::breakers::parse_state(t, &s)) << t;
}

TEST(BreakerFile, FlatMapAndListShapes) {
  rdv::breakers::Map m;
  std::string err;
  std::vector<std::string> skipped;
  ASSERT_TRUE(rdv::breakers::parse_file(R"({"a":{"state":"open","reason":"r"},"b":{"state":"nope"},"c":{}})", &m,
                                        &err, &skipped))
      << err;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m["a"].state, State::Open);
  EXPECT_EQ(m["a"].reason, "r");
  EXPECT_EQ(m["c"].state, State::Closed);
  EXPECT_EQ(skipped, std::vector<std::string>{"b"});

  ASSERT_TRUE(rdv::breakers::parse_file(R"({"breakers":[{"name":"x","state":"half-open"},{"name":"bad/name","state":"open"}]})",
                                        &m, &err, &skipped))
      << err;
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m["x"].state, State::HalfOpen);

  EXPECT_FALSE(rdv::breakers::parse_file("[1,2]", &m, &err));
  EXPECT_FALSE(rdv::breakers::parse_file("{oops", &m, &err));
  EXPECT_FALSE(err.empty());
}

TEST(BreakerFile, EncodeRoundTripsPrettyAndSorted) {
  rdv::breakers::Map m;
  m["z"] = {State::Open, "why"};
  m["a"] = {State::HalfOpen, ""};
  std::string text = rdv::breakers::encode_file(m);
  EXPECT_LT(text.find("\"a\""), text.find("\"z\""));
  EXPECT_NE(text.find("\n  \"a\""), std::string::npos) << text;
  rdv::breakers::Map back;
  std::string err;
  ASSERT_TRUE(rdv::breakers::parse_file(text, &back, &err)) << err;
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(back["z"].reason, "why");
  EXPECT_EQ(back["a"].state, State::HalfOpen);
}

TEST(BreakerCatalogue, GatedTypesAndDenialText) {
  EXPECT_EQ(rdv::breakers::breaker_for_type("register"), "registry.register");
  EXPECT_EQ(rdv::breakers::breaker_for_type("list_nodes"), "registry.resolve");
  EXPECT_EQ(rdv::breakers::breaker_for_type("respond_handshake"), "registry.handshake");
  EXPECT_EQ(rdv::breakers::breaker_for_type("rename_network"), "registry.network_admin");
  EXPECT_EQ(rdv::breakers::breaker_for_type("beacon_list"), "registry.beacon_register");
  EXPECT_EQ(rdv::breakers::breaker_for_type("set_hostname"), "");
  EXPECT_EQ(rdv::breakers::denial_text("registry.register", "upgrade"),
            "service unavailable: breaker \"registry.register\" is open (upgrade)");
  EXPECT_EQ(rdv::breakers::denial_text("registry.punch", ""), "service unavailable: breaker \"registry.punch\" is open");
}

TEST(BreakerNames, Validity) {
  EXPECT_TRUE(rdv::breakers::valid_name("registry.register"));
  EXPECT_FALSE(rdv::breakers::valid_name(""));
  EXPECT_FALSE(rdv::breakers::valid_name("a/b"));
  EXPECT_FALSE(rdv::breakers::valid_name("a b"));
  EXPECT_FALSE(rdv::breakers::valid_name(std::string(200, 'a')));
}

class BreakerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("breakers-test-" + std::to_string(getpid()) + "-" +
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    path = (dir / "breakers.json").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void write(const std::string& text) {
    std::ofstream(path + ".tmp") << text;
    std::filesystem::rename(path + ".tmp", path);
  }
  std::filesystem::path dir;
  std::string path;
};

TEST_F(BreakerFiles, WatchDetectsChangesAndRemoval) {
  rdv::breakers::FileWatch w;
  rdv::breakers::Map m;
  std::string err;
  int64_t mtime = 0;
  using C = rdv::breakers::FileWatch::Change;
  EXPECT_EQ(w.poll(path, &m, &mtime, &err), C::None);  // missing at start: nothing configured
  write(R"({"a":{"state":"open"}})");
  EXPECT_EQ(w.poll(path, &m, &mtime, &err), C::Loaded);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_GT(mtime, 0);
  EXPECT_EQ(w.poll(path, &m, &mtime, &err), C::None);
  write("{broken");
  EXPECT_EQ(w.poll(path, &m, &mtime, &err), C::Failed);
  EXPECT_EQ(w.poll(path, &m, &mtime, &err), C::None);  // reported once
  std::filesystem::remove(path);
  EXPECT_EQ(w.poll(path, &m, &mtime, &err), C::Cleared);
  EXPECT_TRUE(m.empty());
}

TEST_F(BreakerFiles, CountersCountEveryConsultationAndSurviveDeletion) {
  rdv::registry::Breakers b;
  std::string reason;
  EXPECT_TRUE(b.allow(dir.string(), "registry.register", 100, &reason));
  write(R"({"registry.register":{"state":"open","reason":"r1"}})");
  b.applied(path, b.current(path), 200);
  EXPECT_FALSE(b.allow(dir.string(), "registry.register", 300, &reason));
  EXPECT_EQ(reason, "r1");
  EXPECT_TRUE(b.allow(dir.string(), "other", 300, &reason));
  auto snap = b.snapshot(path);
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].name, "other");  // sorted by name
  EXPECT_EQ(snap[1].name, "registry.register");
  EXPECT_EQ(snap[1].allowed_total, 1u);
  EXPECT_EQ(snap[1].denied_total, 1u);
  EXPECT_EQ(snap[1].last_denied_at, 300);
  EXPECT_TRUE(snap[1].configured);
  // Deleted: closed again, counters kept.
  std::filesystem::remove(path);
  b.applied(path, {}, 400);
  EXPECT_TRUE(b.allow(dir.string(), "registry.register", 500, &reason));
  snap = b.snapshot(path);
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_FALSE(snap[1].configured);
  EXPECT_EQ(snap[1].allowed_total, 2u);
  EXPECT_EQ(snap[1].denied_total, 1u);
}

TEST_F(BreakerFiles, AdminViewCountsAndFollowsTheFile) {
  rdv::breakers::FileBreakers b;
  std::string reason;
  EXPECT_TRUE(b.allows(path, "dashboard.verify", &reason));
  write(R"({"dashboard.verify":{"state":"open","reason":"abuse"}})");
  // A fresh instance reads the file at once (the first consultation polls).
  rdv::breakers::FileBreakers fresh;
  EXPECT_FALSE(fresh.allows(path, "dashboard.verify", &reason));
  EXPECT_EQ(reason, "abuse");
  EXPECT_TRUE(fresh.allows(path, "dashboard.public_stats", &reason));
  auto counted = fresh.counted();
  ASSERT_EQ(counted.size(), 2u);
  EXPECT_EQ(counted[0].name, "dashboard.public_stats");
  EXPECT_EQ(counted[0].allowed, 1u);
  EXPECT_EQ(counted[1].name, "dashboard.verify");
  EXPECT_EQ(counted[1].denied, 1u);
  EXPECT_GT(counted[1].last_denied_at, 0);
  EXPECT_EQ(counted[1].breaker.state, State::Open);
  EXPECT_EQ(b.counted().at(0).allowed, 1u);
}

}  // namespace
