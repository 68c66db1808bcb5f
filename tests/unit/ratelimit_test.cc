// The rate limiter of the connection layer (worker-registry/ratelimit.h), without sockets:
// token buckets and their refill (wire-protocol §10.1 item 16), the per-IP table with its cap
// and idle eviction (item 17), the whitelist file's all-or-nothing parsing and its effects
// (ops-spec §10.3, §12 items 86–90), and the per-request decision with its grace period.
#include "worker-registry/ratelimit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using namespace rdv;
using namespace rdv::registry;

constexpr int64_t kSec = 1000000000;
constexpr int64_t kMs = 1000000;

IpAddr ip(const char* text) {
  IpAddr a;
  EXPECT_TRUE(parse_ip(text, &a)) << text;
  return a;
}

// ---- TokenBucket ----

// §10.1 item 16: 3 tokens per window: 3 allowed, the 4th denied, allowed again after the window.
TEST(TokenBucket, ThreePerWindowThenDeniedThenRefilled) {
  TokenBucket b;
  const int64_t t0 = 100 * kSec;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(b.wait_ns(3, t0), 0) << "request " << i;
    b.take(3, t0);
  }
  int64_t wait = b.wait_ns(3, t0);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, kSec / 3);  // one token's worth
  EXPECT_EQ(b.wait_ns(3, t0 + kSec), 0);
  // A whole window later the burst is back: 3 in a row again.
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(b.wait_ns(3, t0 + kSec), 0) << "request " << i;
    b.take(3, t0 + kSec);
  }
  EXPECT_GT(b.wait_ns(3, t0 + kSec), 0);
}

TEST(TokenBucket, RefillsContinuously) {
  TokenBucket b;
  const int64_t t0 = 5 * kSec;
  for (int i = 0; i < 100; i++) b.take(100, t0);
  EXPECT_GT(b.wait_ns(100, t0), 0);
  // 100/s: one token every 10 ms.
  EXPECT_EQ(b.wait_ns(100, t0 + 10 * kMs), 0);
  b.take(100, t0 + 10 * kMs);
  EXPECT_GT(b.wait_ns(100, t0 + 10 * kMs), 0);
}

TEST(TokenBucket, WaitIsWhatTheBucketNeeds) {
  TokenBucket b;
  b.take(1, 0);
  EXPECT_EQ(b.wait_ns(1, 0), kSec);
  EXPECT_EQ(b.wait_ns(1, 400 * kMs), 600 * kMs);
  EXPECT_EQ(b.wait_ns(1, kSec), 0);
}

TEST(TokenBucket, IdleTimeDoesNotBankMoreThanABurst) {
  TokenBucket b;
  // Quiet for a minute: still only `rate` at once.
  int allowed = 0;
  for (int i = 0; i < 20; i++)
    if (b.wait_ns(5, 60 * kSec) == 0) {
      b.take(5, 60 * kSec);
      allowed++;
    }
  EXPECT_EQ(allowed, 5);
}

// ---- whitelist parsing ----

TEST(Whitelist, ParsesEntriesAndBareAddresses) {
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"10.128.0.0/9","rate":100000},{"cidr":"192.168.1.5","rate":10},
                                  {"cidr":"2001:db8::/32","rate":7}])",
                              &w, &err))
      << err;
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[1].cidr.prefix, 32);  // bare IPv4 → /32
  EXPECT_EQ(whitelist_rate(w, ip("10.200.0.1")), 100000);
  EXPECT_EQ(whitelist_rate(w, ip("10.0.0.1")), 0);
  EXPECT_EQ(whitelist_rate(w, ip("192.168.1.5")), 10);
  EXPECT_EQ(whitelist_rate(w, ip("192.168.1.6")), 0);
  EXPECT_EQ(whitelist_rate(w, ip("2001:db8:1::5")), 7);
  EXPECT_EQ(whitelist_rate(w, ip("::ffff:10.200.0.1")), 100000);  // mapped IPv4
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"::1","rate":3}])", &w, &err)) << err;
  EXPECT_EQ(w[0].cidr.prefix, 128);  // bare IPv6 → /128
}

TEST(Whitelist, EmptyListWhitelistsNothing) {
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist("[]", &w, &err)) << err;
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(whitelist_rate(w, ip("127.0.0.1")), 0);
}

TEST(Whitelist, AcceptsTheAdminApiObjectShape) {
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"({"entries":[{"cidr":"127.0.0.0/8","rate":50}]})", &w, &err)) << err;
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(whitelist_rate(w, ip("127.1.2.3")), 50);
}

// ops-spec §12 item 87: one bad entry rejects the whole file and the previous list stays.
TEST(Whitelist, AllOrNothing) {
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"10.0.0.0/8","rate":5}])", &w, &err));
  const char* bad[] = {
      R"([{"cidr":"10.0.0.0/8","rate":5},{"cidr":"11.0.0.0/8","rate":0}])",
      R"([{"cidr":"10.0.0.0/8","rate":5},{"cidr":"","rate":5}])",
      R"([{"cidr":"10.0.0.0/8","rate":5},{"cidr":"not-a-cidr","rate":5}])",
      R"([{"cidr":"10.0.0.0/8","rate":5},{"cidr":"300.300.300.300","rate":5}])",
      R"([{"cidr":"10.0.0.0/8","rate":-3}])",
      R"([{"cidr":"10.0.0.0/8","rate":"100"}])",
      R"([{"cidr":"10.0.0.0/8"}])",
      R"([{"rate":5}])",
      R"([{"cidr":"10.0.0.0/33","rate":5}])",
      R"(["10.0.0.0/8"])",
      R"({"cidr":"10.0.0.0/8","rate":5})",
      R"([{"cidr":"10.0.0.0/8","rate":5})",
      "",
  };
  for (const char* text : bad) {
    err.clear();
    EXPECT_FALSE(parse_whitelist(text, &w, &err)) << text;
    EXPECT_FALSE(err.empty()) << text;
    ASSERT_EQ(w.size(), 1u) << "the previous list must stay: " << text;
    EXPECT_EQ(w[0].rate, 5);
  }
}

TEST(Whitelist, HugeRateIsCapped) {
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"10.0.0.1","rate":1e300}])", &w, &err)) << err;
  EXPECT_EQ(w[0].rate, kMaxRate);
}

// ---- IpBucketTable ----

// §10.1 item 17: with room for 2 IPs, a third is denied unless a stale bucket can go.
TEST(IpBucketTable, FullTableDeniesANewIp) {
  IpBucketTable t(2, 42);
  const int64_t t0 = 10 * kSec;
  ASSERT_NE(t.get(ip("198.51.100.1"), t0, false), nullptr);
  ASSERT_NE(t.get(ip("198.51.100.2"), t0, false), nullptr);
  EXPECT_EQ(t.get(ip("198.51.100.3"), t0 + kMs, false), nullptr);
  // Known IPs still get theirs.
  EXPECT_NE(t.get(ip("198.51.100.1"), t0 + kMs, false), nullptr);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_GT(t.full_wait_ns(t0 + kMs), 0);
}

TEST(IpBucketTable, FullTableEvictsAnIdleBucketForANewIp) {
  IpBucketTable t(2, 42);
  const int64_t t0 = 10 * kSec;
  ASSERT_NE(t.get(ip("198.51.100.1"), t0, false), nullptr);
  ASSERT_NE(t.get(ip("198.51.100.2"), t0 + kSec, false), nullptr);
  // .1 idle for 2 windows, .2 for one: .1 goes, the new one takes its slot.
  IpBucket* b = t.get(ip("198.51.100.3"), t0 + 2 * kSec, false);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(b->last_used_ns, t0 + 2 * kSec);
}

TEST(IpBucketTable, WhitelistedIpAlwaysGetsABucket) {
  IpBucketTable t(2, 42);
  const int64_t t0 = 10 * kSec;
  t.get(ip("198.51.100.1"), t0, false);
  t.get(ip("198.51.100.2"), t0, false);
  EXPECT_EQ(t.get(ip("203.0.113.9"), t0, false), nullptr);
  EXPECT_NE(t.get(ip("10.0.0.5"), t0, true), nullptr);  // ops-spec §12 item 88
  EXPECT_EQ(t.size(), 3u);
}

TEST(IpBucketTable, EvictIdleDropsOnlyBucketsUnusedForTwoWindows) {
  IpBucketTable t(100, 7);
  const int64_t t0 = 10 * kSec;
  t.get(ip("198.51.100.1"), t0, false);
  t.get(ip("198.51.100.2"), t0 + kSec, false);
  t.get(ip("2001:db8::1"), t0 + 1500 * kMs, false);
  EXPECT_EQ(t.evict_idle(t0 + 2 * kSec - 1), 0u);
  EXPECT_EQ(t.evict_idle(t0 + 2 * kSec), 1u);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.evict_idle(t0 + 4 * kSec), 2u);
  EXPECT_EQ(t.size(), 0u);
}

// Many inserts and evictions in random order: every surviving bucket stays findable (the
// backward-shift deletion keeps probe runs intact), and state is kept per IP.
TEST(IpBucketTable, SurvivesChurn) {
  IpBucketTable t(100000, 99);
  auto addr = [](uint32_t i) {
    IpAddr a;
    a.family = AF_INET;
    a.bytes[0] = 10;
    a.bytes[1] = uint8_t(i >> 16);
    a.bytes[2] = uint8_t(i >> 8);
    a.bytes[3] = uint8_t(i);
    return a;
  };
  const int64_t t0 = 10 * kSec;
  // Even ids used early, odd ids late: evicting at t0 + 2 s drops exactly the even ones.
  for (uint32_t i = 0; i < 20000; i++) {
    IpBucket* b = t.get(addr(i), i % 2 ? t0 + kSec : t0, false);
    ASSERT_NE(b, nullptr);
    b->rate = int64_t(i) + 1;
  }
  EXPECT_EQ(t.size(), 20000u);
  EXPECT_EQ(t.evict_idle(t0 + 2 * kSec), 10000u);
  EXPECT_EQ(t.size(), 10000u);
  for (uint32_t i = 1; i < 20000; i += 2) {
    IpBucket* b = t.get(addr(i), t0 + 2 * kSec, false);
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(b->rate, int64_t(i) + 1) << "bucket of id " << i << " lost its state";
  }
  EXPECT_EQ(t.size(), 10000u);  // none was created anew
}

// A connection's hint finds its bucket without hashing, and after buckets moved (growth,
// eviction) the lookup falls back to the hash and still finds the same bucket.
TEST(IpBucketTable, HintStaysCorrectWhenBucketsMove) {
  IpBucketTable t(100000, 11);
  BucketHint hint;
  IpBucket* a = t.get(ip("198.51.100.77"), kSec, false, &hint);
  ASSERT_NE(a, nullptr);
  a->rate = 1234;
  EXPECT_EQ(t.get(ip("198.51.100.77"), kSec, false, &hint), a);
  for (uint32_t i = 0; i < 5000; i++) {  // grows the table several times
    IpAddr other;
    other.family = AF_INET;
    other.bytes[0] = 172;
    other.bytes[2] = uint8_t(i >> 8);
    other.bytes[3] = uint8_t(i);
    t.get(other, 2 * kSec, false);
  }
  IpBucket* again = t.get(ip("198.51.100.77"), 3 * kSec, false, &hint);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->rate, 1234);
  EXPECT_EQ(t.evict_idle(4 * kSec + 1), 5000u);  // the others go; buckets shift back
  again = t.get(ip("198.51.100.77"), 4 * kSec + 2, false, &hint);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->rate, 1234);
  EXPECT_EQ(t.size(), 1u);
  // A hint for another IP's slot never returns that bucket.
  BucketHint wrong = hint;
  IpBucket* b = t.get(ip("198.51.100.78"), 4 * kSec + 3, false, &wrong);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b, again);
  EXPECT_EQ(t.size(), 2u);
}

TEST(IpBucketTable, MemoryFollowsTheIpsSeen) {
  IpBucketTable t(kMaxTrackedIps, 1);
  EXPECT_LE(t.capacity(), 64u);
  for (uint32_t i = 0; i < 1000; i++) {
    IpAddr a;
    a.family = AF_INET;
    a.bytes[0] = 100;
    a.bytes[2] = uint8_t(i >> 8);
    a.bytes[3] = uint8_t(i);
    t.get(a, kSec, false);
  }
  EXPECT_LE(t.capacity(), 4096u);
}

// ---- RateLimiter ----

class Limiter : public ::testing::Test {
 protected:
  RateLimiter lim{kMaxTrackedIps, 5};
  int64_t t0 = 1000 * kSec;
  ConnRate conn(int64_t started) {
    ConnRate c;
    c.start_ns = started;
    return c;
  }
  // Requests at `now` until one is refused; returns how many were admitted (at most `cap`).
  int admitted(ConnRate& c, const char* from, int64_t now, int cap = 100000) {
    IpAddr a = ip(from);
    for (int i = 0; i < cap; i++)
      if (lim.admit(c, a, now).kind != DenyKind::None) return i;
    return cap;
  }
};

TEST_F(Limiter, NoChecksDuringTheGrace) {
  lim.set_limits({1, 1, 1, true});
  ConnRate c = conn(t0);
  EXPECT_EQ(admitted(c, "198.51.100.1", t0 + kRateGraceNs - 1, 1000), 1000);
  // After it, the buckets start full (the grace spent none of their tokens).
  EXPECT_EQ(admitted(c, "198.51.100.1", t0 + kRateGraceNs), 1);
}

TEST_F(Limiter, PerIpLimitIsSharedByTheIpsConnections) {
  lim.set_limits({0, 3, 0, true});
  ConnRate a = conn(0), b = conn(0);
  EXPECT_EQ(admitted(a, "198.51.100.1", t0, 2), 2);
  EXPECT_EQ(admitted(b, "198.51.100.1", t0), 1);
  Verdict v = lim.admit(a, ip("198.51.100.1"), t0);
  EXPECT_EQ(v.kind, DenyKind::Ip);
  EXPECT_GT(v.retry_ns, 0);
  EXPECT_LE(v.retry_ns, kSec);
  // Another IP has its own bucket.
  EXPECT_EQ(admitted(b, "198.51.100.2", t0), 3);
  // Refilled after the retry time it was told.
  EXPECT_EQ(lim.admit(a, ip("198.51.100.1"), t0 + v.retry_ns).kind, DenyKind::None);
}

TEST_F(Limiter, PerConnectionLimit) {
  lim.set_limits({0, 0, 4, true});
  ConnRate a = conn(0), b = conn(0);
  EXPECT_EQ(admitted(a, "198.51.100.1", t0), 4);
  EXPECT_EQ(lim.admit(a, ip("198.51.100.1"), t0).kind, DenyKind::Connection);
  EXPECT_EQ(admitted(b, "198.51.100.1", t0), 4);  // the same IP's next connection has its own
}

TEST_F(Limiter, GlobalLimit) {
  lim.set_limits({5, 0, 0, true});
  ConnRate a = conn(0), b = conn(0);
  EXPECT_EQ(admitted(a, "198.51.100.1", t0, 3), 3);
  EXPECT_EQ(admitted(b, "203.0.113.1", t0), 2);
  Verdict v = lim.admit(a, ip("198.51.100.9"), t0);
  EXPECT_EQ(v.kind, DenyKind::Global);
  EXPECT_EQ(v.retry_ns, kSec / 5);
}

TEST_F(Limiter, ZeroTurnsEveryLimitOff) {
  lim.set_limits({0, 0, 0, true});
  ConnRate c = conn(0);
  EXPECT_EQ(admitted(c, "198.51.100.1", t0, 5000), 5000);
  EXPECT_EQ(lim.tracked_ips(), 0u);  // the per-IP table is not even consulted
}

TEST_F(Limiter, NoRateLimitEnvTurnsOffOnlyThePerIpLimit) {
  lim.set_limits({0, 2, 0, false});
  ConnRate c = conn(0);
  EXPECT_EQ(admitted(c, "198.51.100.1", t0, 500), 500);
  lim.set_limits({3, 2, 0, false});
  EXPECT_EQ(admitted(c, "198.51.100.1", t0 + 10 * kSec), 3);  // the global cap stays
}

TEST_F(Limiter, RefusedRequestsSpendNoTokens) {
  lim.set_limits({10, 2, 0, true});
  ConnRate a = conn(0), b = conn(0);
  EXPECT_EQ(admitted(a, "198.51.100.1", t0), 2);
  for (int i = 0; i < 50; i++) lim.admit(a, ip("198.51.100.1"), t0);  // refused by its IP bucket
  // The global bucket still has its 8 tokens for others: one request each from 8 more IPs.
  for (int i = 0; i < 8; i++) {
    std::string from = "203.0.113." + std::to_string(i + 1);
    EXPECT_EQ(lim.admit(b, ip(from.c_str()), t0).kind, DenyKind::None) << from;
  }
  EXPECT_EQ(lim.admit(b, ip("203.0.113.100"), t0).kind, DenyKind::Global);
}

TEST_F(Limiter, RetryCoversEveryRefusingLimit) {
  lim.set_limits({2, 1, 0, true});
  ConnRate a = conn(0);
  EXPECT_EQ(admitted(a, "198.51.100.1", t0), 1);
  ConnRate b = conn(0);
  EXPECT_EQ(admitted(b, "203.0.113.1", t0), 1);  // the global bucket is now empty too
  Verdict v = lim.admit(a, ip("198.51.100.1"), t0);
  EXPECT_EQ(v.kind, DenyKind::Ip);   // the first refusing limit names the denial
  EXPECT_EQ(v.retry_ns, kSec);       // …and the retry waits for the slowest (1/s)
  EXPECT_EQ(lim.admit(a, ip("198.51.100.1"), t0 + v.retry_ns).kind, DenyKind::None);
}

TEST_F(Limiter, FullTableIsABucketTableDenial) {
  RateLimiter small(2, 3);
  small.set_limits({0, 100, 0, true});
  ConnRate c;
  ASSERT_EQ(small.admit(c, ip("198.51.100.1"), t0).kind, DenyKind::None);
  ASSERT_EQ(small.admit(c, ip("198.51.100.2"), t0).kind, DenyKind::None);
  Verdict v = small.admit(c, ip("198.51.100.3"), t0);
  EXPECT_EQ(v.kind, DenyKind::BucketTable);
  EXPECT_GT(v.retry_ns, 0);
  // Two windows later the idle buckets make room.
  EXPECT_EQ(small.admit(c, ip("198.51.100.3"), t0 + kRateIdleNs).kind, DenyKind::None);
}

// ops-spec §12 item 86: limiter rate 2 and a whitelist 10.0.0.0/24 at 10: 10.0.0.5 gets 10,
// 203.0.113.1 gets 2.
TEST_F(Limiter, WhitelistedSourceGetsItsOwnRate) {
  lim.set_limits({0, 2, 0, true});
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"10.0.0.0/24","rate":10}])", &w, &err)) << err;
  lim.set_whitelist(w);
  ConnRate a = conn(0), b = conn(0);
  EXPECT_EQ(admitted(a, "10.0.0.5", t0), 10);
  EXPECT_EQ(admitted(b, "203.0.113.1", t0), 2);
}

TEST_F(Limiter, WhitelistedSourceBypassesGlobalAndConnectionLimits) {
  lim.set_limits({3, 1000, 2, true});
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"127.0.0.0/8","rate":100000}])", &w, &err)) << err;
  lim.set_whitelist(w);
  ConnRate a = conn(0), b = conn(0);
  EXPECT_EQ(admitted(a, "127.0.0.1", t0, 5000), 5000);
  EXPECT_EQ(admitted(b, "198.51.100.1", t0), 2);  // others still limited (per connection)
}

TEST_F(Limiter, WhitelistChangeAppliesToLiveConnectionsAndBuckets) {
  lim.set_limits({0, 2, 0, true});
  ConnRate c = conn(0);
  EXPECT_EQ(admitted(c, "10.0.0.5", t0), 2);
  Whitelist w;
  std::string err;
  ASSERT_TRUE(parse_whitelist(R"([{"cidr":"10.0.0.5","rate":50}])", &w, &err)) << err;
  lim.set_whitelist(w);
  EXPECT_EQ(admitted(c, "10.0.0.5", t0 + kSec), 50);
  lim.set_whitelist({});  // cleared: back to 2
  EXPECT_EQ(admitted(c, "10.0.0.5", t0 + 3 * kSec), 2);
}

TEST_F(Limiter, LimitChangeAppliesToExistingBuckets) {
  lim.set_limits({0, 2, 0, true});
  ConnRate c = conn(0);
  EXPECT_EQ(admitted(c, "198.51.100.1", t0), 2);
  lim.set_limits({0, 20, 0, true});
  EXPECT_EQ(admitted(c, "198.51.100.1", t0 + kSec), 20);
}

TEST_F(Limiter, AnIpv6Slash64IsOneSource) {
  lim.set_limits({0, 3, 0, true});
  ConnRate c = conn(0);
  EXPECT_EQ(admitted(c, "2001:db8:1:2::1", t0, 2), 2);
  EXPECT_EQ(admitted(c, "2001:db8:1:2::ffff", t0), 1);
  EXPECT_EQ(admitted(c, "2001:db8:1:3::1", t0), 3);  // the next /64 is another
}

// ---- the whitelist file ----

class WatchedFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-wl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/rate-limit-whitelist.json";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  // Replaces the file atomically (a new inode, so the change is seen whatever the mtime).
  void write(const std::string& text) {
    std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
  }
  std::string dir, path;
  WhitelistFile file;
  Whitelist list;
  std::string err;
};

TEST_F(WatchedFile, MissingAtStartIsNoWhitelist) {
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::None);
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::None);
}

TEST_F(WatchedFile, LoadsChangesAndClears) {
  write(R"([{"cidr":"10.0.0.0/8","rate":100}])");
  ASSERT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Loaded) << err;
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::None);  // unchanged
  write(R"([{"cidr":"10.0.0.0/8","rate":100},{"cidr":"::1","rate":5}])");
  ASSERT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Loaded) << err;
  EXPECT_EQ(list.size(), 2u);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Cleared);
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::None);
}

TEST_F(WatchedFile, BadContentFailsOnceAndKeepsTheList) {
  write(R"([{"cidr":"10.0.0.0/8","rate":100}])");
  ASSERT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Loaded);
  write(R"([{"cidr":"10.0.0.0/8","rate":0}])");
  Whitelist untouched = list;
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Failed);
  EXPECT_NE(err.find("rate"), std::string::npos) << err;
  EXPECT_EQ(list.size(), untouched.size());
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::None);  // reported once
  write(R"([{"cidr":"10.0.0.0/8","rate":7}])");
  ASSERT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Loaded) << err;
  EXPECT_EQ(list[0].rate, 7);
}

TEST_F(WatchedFile, RefusesASymlink) {
  std::string real = dir + "/elsewhere.json";
  std::ofstream(real) << R"([{"cidr":"0.0.0.0/0","rate":1000000}])";
  ASSERT_EQ(::symlink(real.c_str(), path.c_str()), 0);
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Failed);
  EXPECT_TRUE(list.empty());
}

TEST_F(WatchedFile, RefusesAFileOverOneMiB) {
  write("[" + std::string(WhitelistFile::kMaxBytes, ' ') + "]");
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Failed);
  EXPECT_NE(err.find("1 MiB"), std::string::npos) << err;
}

TEST_F(WatchedFile, RefusesADirectory) {
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  EXPECT_EQ(file.poll(path, &list, &err), WhitelistFile::Change::Failed);
}

}  // namespace
