// Beacons (wire-protocol §6.7, worker-registry/routing.h): the 60 s listing window, the
// re-registration cooldown and Go's host:port check as pure rules, and — against a real
// temporary store, with request clocks chosen by the test — that beacon_list hides a beacon
// not seen for over 60 s and that beacon_register removes it from the store, all without the
// test waiting 60 s.
#include "worker-registry/routing.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "crypto.h"
#include "model.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "worker-registry/dispatch.h"
#include "worker-registry/registry.h"

namespace {

using namespace rdv::registry;

constexpr int64_t kS = 1000000000;

TEST(BeaconRules, ListedWhileSeenWithinSixtySeconds) {
  int64_t t = 1'700'000'000 * kS;
  EXPECT_TRUE(beacon_live(t, t));
  EXPECT_TRUE(beacon_live(t, t + 59 * kS));
  EXPECT_TRUE(beacon_live(t, t + 60 * kS));  // Go: skipped only when now - last > TTL
  EXPECT_FALSE(beacon_live(t, t + 60 * kS + 1));
  EXPECT_FALSE(beacon_live(t, t + 3600 * kS));
  EXPECT_TRUE(beacon_live(t, t - 5 * kS));  // clock stepped back
}

TEST(BeaconRules, Cooldown) {
  int64_t t = 1'700'000'000 * kS, c = 10 * kS;
  EXPECT_TRUE(beacon_in_cooldown(t, t, c));
  EXPECT_TRUE(beacon_in_cooldown(t, t + c - 1, c));
  EXPECT_FALSE(beacon_in_cooldown(t, t + c, c));
  EXPECT_FALSE(beacon_in_cooldown(t, t + c + kS, c));
  EXPECT_FALSE(beacon_in_cooldown(t, t, 0));        // 0 = no cooldown
  EXPECT_FALSE(beacon_in_cooldown(t, t - kS, c));   // clock stepped back: not locked out
}

TEST(BeaconRules, HostPortMatchesGoSplitHostPort) {
  for (const char* ok : {"1.2.3.4:9001", "beacon.example.com:9001", ":9001", "[::1]:9001", "[fe80::1%eth0]:1",
                         "host:", "host:port"})
    EXPECT_EQ(host_port_error(ok), "") << ok;
  EXPECT_EQ(host_port_error("1.2.3.4"), "address 1.2.3.4: missing port in address");
  EXPECT_EQ(host_port_error("::1"), "address ::1: too many colons in address");
  EXPECT_EQ(host_port_error("a:b:c"), "address a:b:c: too many colons in address");
  EXPECT_EQ(host_port_error("[::1"), "address [::1: missing ']' in address");
  EXPECT_EQ(host_port_error("[::1]"), "address [::1]: missing port in address");
  EXPECT_EQ(host_port_error("[::1]x:1"), "address [::1]x:1: missing port in address");
  EXPECT_EQ(host_port_error("[::1]:1:2"), "address [::1]:1:2: too many colons in address");
  EXPECT_EQ(host_port_error("a[b:1"), "address a[b:1: unexpected '[' in address");
  EXPECT_EQ(host_port_error("a]b:1"), "address a]b:1: unexpected ']' in address");
}

// ---- over a real store, with chosen clocks ----

constexpr const char* kAdmin = "beacon-test-admin-token";

class BeaconStore : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rdv::crypto_init());
    char tmpl[] = "/tmp/rdv-beacon-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string err;
    ASSERT_TRUE(env_.open(rdv::EnvOptions{dir_ + "/data", 64ull << 20, 126, true}, &err)) << err;
    rdv::Config cfg;
    cfg.data_dir = dir_ + "/data";
    cfg.admin_token = kAdmin;
    cfg.beacon_register_cooldown_ns = 10 * kS;
    reg_ = std::make_unique<Registry>(cfg, env_, nullptr);
    ASSERT_TRUE(reg_->load(&err)) << err;
    peer_.ip = "203.0.113.7";
    peer_.port = 40000;
  }
  void TearDown() override {
    reg_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Runs one request at time `now_ns` as the loop (reads) or the writer (writes) would, and
  // returns the reply body.
  std::string send(const std::string& json, int64_t now_ns) {
    Entry e;
    e.kind = EntryKind::Json;
    std::string err;
    e.msg_ok = e.msg.parse(json, &err);
    EXPECT_TRUE(e.msg_ok) << err;
    e.now_ns = now_ns;
    e.peer = &peer_;
    classify(e, false);
    rdv::Txn t;
    if (e.is_write) {
      EXPECT_EQ(env_.begin_write(&t), 0);
      RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
      run_entry(e, ctx);
      EXPECT_EQ(t.commit(), 0);
    } else {
      EXPECT_EQ(env_.begin_read(&t), 0);
      RunContext ctx{reg_->config(), reg_->epoch(), false, reg_.get(), nullptr, &t, nullptr};
      run_entry(e, ctx);
    }
    EXPECT_GE(e.reply.size(), 4u);
    return e.reply.size() >= 4 ? e.reply.substr(4) : "";
  }
  std::string beacon_register(uint32_t id, const std::string& addr, int64_t now_ns) {
    return send("{\"type\":\"beacon_register\",\"admin_token\":\"" + std::string(kAdmin) + "\",\"beacon_id\":" +
                    std::to_string(id) + ",\"addr\":\"" + addr + "\"}",
                now_ns);
  }
  std::string beacon_list(int64_t now_ns) { return send(R"({"type":"beacon_list"})", now_ns); }
  bool stored(uint32_t id) {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    std::string_view v;
    return t.get(rdv::Db::Beacons, rdv::key_u32(id), &v) == 0;
  }
  uint64_t stored_count() {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    MDB_stat st;
    EXPECT_EQ(t.stat(rdv::Db::Beacons, &st), 0);
    return st.ms_entries;
  }

  std::string dir_;
  rdv::Env env_;
  std::unique_ptr<Registry> reg_;
  Peer peer_;
  int64_t t0_ = rdv::unix_now_ns();
};

const std::string kOk1 = R"({"type":"beacon_register_ok","beacon_id":1})";

TEST_F(BeaconStore, ListedForSixtySecondsThenHidden) {
  ASSERT_EQ(beacon_register(1, "198.51.100.1:9001", t0_), kOk1);
  const std::string listed = R"({"type":"beacon_list_ok","beacons":[{"id":1,"addr":"198.51.100.1:9001"}]})";
  EXPECT_EQ(beacon_list(t0_), listed);
  EXPECT_EQ(beacon_list(t0_ + 60 * kS), listed);
  EXPECT_EQ(beacon_list(t0_ + 61 * kS), R"({"type":"beacon_list_ok","beacons":[]})");
  EXPECT_TRUE(stored(1)) << "listing never writes";
}

TEST_F(BeaconStore, RegisterRemovesStaleBeaconsFromTheStore) {
  ASSERT_EQ(beacon_register(1, "198.51.100.1:9001", t0_), kOk1);
  ASSERT_EQ(beacon_register(2, "198.51.100.2:9001", t0_ + 30 * kS), R"({"type":"beacon_register_ok","beacon_id":2})");
  // 70 s on: beacon 1 (70 s old) is stale, beacon 2 (40 s) is not.
  ASSERT_EQ(beacon_register(3, "198.51.100.3:9001", t0_ + 70 * kS), R"({"type":"beacon_register_ok","beacon_id":3})");
  EXPECT_FALSE(stored(1));
  EXPECT_TRUE(stored(2));
  EXPECT_TRUE(stored(3));
  EXPECT_EQ(beacon_list(t0_ + 70 * kS),
            R"({"type":"beacon_list_ok","beacons":[{"id":2,"addr":"198.51.100.2:9001"},{"id":3,"addr":"198.51.100.3:9001"}]})");
}

TEST_F(BeaconStore, AStaleBeaconReRegistersAndIsKept) {
  ASSERT_EQ(beacon_register(1, "198.51.100.1:9001", t0_), kOk1);
  ASSERT_EQ(beacon_register(1, "198.51.100.9:9001", t0_ + 90 * kS), kOk1);
  EXPECT_TRUE(stored(1));
  EXPECT_EQ(beacon_list(t0_ + 90 * kS), R"({"type":"beacon_list_ok","beacons":[{"id":1,"addr":"198.51.100.9:9001"}]})");
}

TEST_F(BeaconStore, CooldownRefusesTheSameIdOnly) {
  ASSERT_EQ(beacon_register(1, "198.51.100.1:9001", t0_), kOk1);
  EXPECT_EQ(beacon_register(1, "198.51.100.1:9001", t0_ + 9 * kS),
            R"j({"type":"error","error":"beacon 1 already registered within the cooldown (10s)"})j");
  EXPECT_EQ(beacon_register(2, "198.51.100.2:9001", t0_ + 9 * kS), R"({"type":"beacon_register_ok","beacon_id":2})");
  EXPECT_EQ(beacon_register(1, "198.51.100.1:9001", t0_ + 11 * kS), kOk1);
}

// The sweep is bounded per call but goes on where the last one stopped, so every stale beacon
// goes eventually, however many there are.
TEST_F(BeaconStore, TheBoundedSweepReachesEveryStaleBeacon) {
  const int n = 200;  // over three times the per-call bound
  for (int i = 1; i <= n; i++)
    ASSERT_EQ(beacon_register(uint32_t(i), "198.51.100.1:9001", t0_),
              "{\"type\":\"beacon_register_ok\",\"beacon_id\":" + std::to_string(i) + "}");
  ASSERT_EQ(stored_count(), uint64_t(n));
  // Much later, one live beacon keeps registering (every 11 s, past the cooldown).
  int64_t now = t0_ + 3600 * kS;
  int calls = 0;
  while (stored_count() > 1 && calls < 20) {
    ASSERT_EQ(beacon_register(1000, "198.51.100.7:9001", now), R"({"type":"beacon_register_ok","beacon_id":1000})");
    now += 11 * kS;
    calls++;
  }
  EXPECT_EQ(stored_count(), 1u) << "after " << calls << " registrations";
  EXPECT_TRUE(stored(1000));
  EXPECT_LE(calls, 5);  // ceil(201 / 64)
}

}  // namespace
