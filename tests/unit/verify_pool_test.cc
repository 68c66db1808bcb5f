// The verify pool (worker-registry/verify.h): entries submitted with their signature jobs come
// back through take_finished() once notify_fd() is readable, each exactly once, with every
// job's ok flag the Ed25519 verdict; in_flight() counts what is out.
#include "worker-registry/verify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sodium.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto.h"
#include "worker-registry/entry.h"

namespace {

using rdv::registry::Entry;
using rdv::registry::VerifyJob;
using rdv::registry::VerifyPool;

struct Keypair {
  rdv::PublicKey pk{};
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Keypair() { crypto_sign_keypair(pk.data(), sk); }
  rdv::Signature sign(const std::string& msg) const {
    rdv::Signature sig{};
    crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return sig;
  }
};

// A job over `msg` signed by `k`; `good` false corrupts it in one of several ways.
VerifyJob job(const Keypair& k, const Keypair& other, const std::string& msg, bool good, int how = 0) {
  VerifyJob j;
  j.key = k.pk;
  j.message = msg;
  j.sig = k.sign(msg);
  j.ok = !good;  // the pool must overwrite it either way
  if (!good) {
    switch (how % 3) {
      case 0: j.sig[how % 64] ^= 0x01; break;   // flipped bit
      case 1: j.sig = other.sign(msg); break;    // someone else's signature
      case 2: j.message += "x"; break;           // signed a different text
    }
  }
  return j;
}

// Waits on notify_fd() until every submitted entry is back; returns them in completion order.
std::vector<Entry*> drain(VerifyPool& pool) {
  std::vector<Entry*> back;
  pool.flush();  // submissions reach the threads at a flush, once per pass in the loop
  while (pool.in_flight() > 0) {
    pollfd p{pool.notify_fd(), POLLIN, 0};
    int n = poll(&p, 1, 30000);
    EXPECT_EQ(n, 1) << "the pool did not signal within 30 s";
    if (n != 1) break;
    size_t before = pool.in_flight();
    std::vector<Entry*> got = pool.take_finished();
    EXPECT_EQ(pool.in_flight(), before - got.size());
    back.insert(back.end(), got.begin(), got.end());
  }
  return back;
}

class VerifyPoolTest : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override { ASSERT_TRUE(rdv::crypto_init()); }
};

TEST_P(VerifyPoolTest, NotifyFdIsValid) {
  VerifyPool pool(GetParam());
  EXPECT_GE(pool.notify_fd(), 0);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_TRUE(pool.take_finished().empty());
}

TEST_P(VerifyPoolTest, GoodSignatureComesBackOk) {
  VerifyPool pool(GetParam());
  Keypair k, other;
  Entry e;
  e.jobs.push_back(job(k, other, "heartbeat:7", true));
  pool.submit(&e);
  EXPECT_EQ(pool.in_flight(), 1u);
  std::vector<Entry*> back = drain(pool);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], &e);
  EXPECT_TRUE(e.jobs[0].ok);
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST_P(VerifyPoolTest, BadSignaturesComeBackNotOk) {
  VerifyPool pool(GetParam());
  Keypair k, other;
  std::vector<std::unique_ptr<Entry>> entries;
  for (int how = 0; how < 3; how++) {
    auto e = std::make_unique<Entry>();
    e->jobs.push_back(job(k, other, "resolve:3:9", false, how));
    pool.submit(e.get());
    entries.push_back(std::move(e));
  }
  std::vector<Entry*> back = drain(pool);
  ASSERT_EQ(back.size(), 3u);
  for (auto& e : entries) EXPECT_FALSE(e->jobs[0].ok);
}

TEST_P(VerifyPoolTest, EveryJobOfAnEntryIsVerified) {
  VerifyPool pool(GetParam());
  Keypair k, other;
  Entry e;
  e.jobs.push_back(job(k, other, "a", true));
  e.jobs.push_back(job(k, other, "b", false, 0));
  e.jobs.push_back(job(other, k, "c", true));
  pool.submit(&e);
  ASSERT_EQ(drain(pool).size(), 1u);
  EXPECT_TRUE(e.jobs[0].ok);
  EXPECT_FALSE(e.jobs[1].ok);
  EXPECT_TRUE(e.jobs[2].ok);
}

TEST_P(VerifyPoolTest, AnEntryWithoutJobsComesBack) {
  VerifyPool pool(GetParam());
  Entry e;
  pool.submit(&e);
  std::vector<Entry*> back = drain(pool);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], &e);
}

TEST_P(VerifyPoolTest, ManyEntriesNoneLostNoneTwice) {
  VerifyPool pool(GetParam());
  Keypair keys[4];
  const int n = 300;
  std::vector<std::unique_ptr<Entry>> entries;
  std::map<Entry*, bool> want;
  for (int i = 0; i < n; i++) {
    auto e = std::make_unique<Entry>();
    bool good = i % 5 != 2;
    e->jobs.push_back(job(keys[i % 4], keys[(i + 1) % 4], "heartbeat:" + std::to_string(i), good, i));
    want[e.get()] = good;
    entries.push_back(std::move(e));
  }
  // Submitted in waves, taking back what finished between them, as the loop does.
  std::map<Entry*, int> seen;
  for (int i = 0; i < n; i++) {
    pool.submit(entries[i].get());
    if (i % 37 == 0) {
      pool.flush();
      for (Entry* e : pool.take_finished()) seen[e]++;
    }
  }
  for (Entry* e : drain(pool)) seen[e]++;
  EXPECT_EQ(pool.in_flight(), 0u);
  ASSERT_EQ(seen.size(), size_t(n));
  for (auto& [e, count] : seen) {
    ASSERT_TRUE(want.count(e));
    EXPECT_EQ(count, 1);
    EXPECT_EQ(e->jobs[0].ok, want[e]) << e->jobs[0].message;
  }
}

TEST_P(VerifyPoolTest, InFlightCountsWhatIsNotTakenBack) {
  VerifyPool pool(GetParam());
  Keypair k, other;
  Entry a, b;
  a.jobs.push_back(job(k, other, "a", true));
  b.jobs.push_back(job(k, other, "b", true));
  pool.submit(&a);
  pool.submit(&b);
  EXPECT_EQ(pool.in_flight(), 2u);
  // Finished but not taken back still counts.
  std::vector<Entry*> back = drain(pool);
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_TRUE(pool.take_finished().empty());
  // The pool is reusable after draining.
  Entry c;
  c.jobs.push_back(job(k, other, "c", false));
  pool.submit(&c);
  EXPECT_EQ(pool.in_flight(), 1u);
  ASSERT_EQ(drain(pool).size(), 1u);
  EXPECT_FALSE(c.jobs[0].ok);
}

TEST_P(VerifyPoolTest, DestroyedWithNothingInFlight) {
  // Destruction joins idle threads without hanging.
  for (int i = 0; i < 3; i++) VerifyPool pool(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Threads, VerifyPoolTest, ::testing::Values(1u, 2u),
                         [](const ::testing::TestParamInfo<unsigned>& i) { return std::to_string(i.param); });

}  // namespace
