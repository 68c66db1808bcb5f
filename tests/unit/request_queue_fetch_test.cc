// The outbound step in the per-connection planner (worker-registry/request_queue.h): a request
// whose descriptor has one decides at its turn, after the connection's earlier writes have
// committed; while its call runs it holds up the requests behind it (their order is kept),
// and once the result is in it runs as a read or a write like any other.
#include "worker-registry/request_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using rdv::registry::Entry;
using rdv::registry::RequestQueue;
using State = Entry::State;

class FetchPlanner {
 public:
  // A read ('R') or write ('W'); `fetch` marks an outbound step, `needs_call` what it decides.
  size_t add(char kind, bool fetch = false, bool needs_call = false) {
    auto e = std::make_unique<Entry>();
    e->is_write = kind == 'W';
    e->state = State::Ready;
    e->fetch_undecided = fetch;
    e->reply = std::to_string(entries_.size());
    entries_.push_back(e.get());
    needs_call_.push_back(needs_call);
    q_.push(std::move(e));
    return entries_.size() - 1;
  }
  Entry& at(size_t i) { return *entries_.at(i); }

  // One advance(); returns what happened, e.g. "f0 r0 w1" (f: a call started, d: decided none).
  std::string advance() {
    std::string log;
    auto note = [&](const std::string& s) { log += (log.empty() ? "" : " ") + s; };
    q_.advance(
        [&](Entry& e) {
          EXPECT_FALSE(e.fetch_undecided);  // decided once
          size_t i = std::stoul(e.reply);
          note((needs_call_[i] ? "f" : "d") + e.reply);
          return bool(needs_call_[i]);
        },
        [&](Entry& e) {
          EXPECT_EQ(e.state, State::Ready);
          note("r" + e.reply);
          return true;
        },
        [&](Entry& e) { note("w" + e.reply); });
    return log;
  }
  // The call came back: the entry may go on (what Server's fetch callback does).
  void fetched(size_t i) {
    ASSERT_EQ(at(i).state, State::Fetching);
    at(i).state = State::Ready;
  }
  void committed(size_t i) { q_.write_finished(at(i)); }
  std::string release() {
    std::string log;
    q_.release([&](Entry& e) { log += (log.empty() ? "" : " ") + e.reply; });
    return log;
  }

 private:
  RequestQueue q_;
  std::vector<Entry*> entries_;
  std::vector<bool> needs_call_;
};

TEST(RequestQueueFetch, AReadWaitsForItsCallAndHoldsUpTheRest) {
  FetchPlanner p;
  p.add('R', true, true);  // validate_token, JWKS not cached
  p.add('R');              // a lookup behind it
  EXPECT_EQ(p.advance(), "f0");
  EXPECT_EQ(p.at(0).state, State::Fetching);
  EXPECT_EQ(p.advance(), "");  // still fetching: nothing starts, the lookup keeps its place
  EXPECT_EQ(p.release(), "");
  p.fetched(0);
  EXPECT_EQ(p.advance(), "r0 r1");  // not decided again
  EXPECT_EQ(p.release(), "0 1");
}

TEST(RequestQueueFetch, NoCallNeededRunsAtOnce) {
  FetchPlanner p;
  p.add('R', true, false);  // validate_token with the JWKS cached
  p.add('W', true, false);  // register without a webhook
  EXPECT_EQ(p.advance(), "d0 r0 d1 w1");
  p.committed(1);
  EXPECT_EQ(p.release(), "0 1");
}

TEST(RequestQueueFetch, AWriteDecidesOnlyAfterEarlierWritesCommit) {
  FetchPlanner p;
  p.add('W');               // set_identity_webhook
  p.add('W', true, true);   // register with an identity_token
  p.add('W');               // another write behind
  EXPECT_EQ(p.advance(), "w0");  // the register waits: its decision must see w0's setting
  p.committed(0);
  EXPECT_EQ(p.advance(), "f1");
  EXPECT_EQ(p.advance(), "");
  p.fetched(1);
  EXPECT_EQ(p.advance(), "w1 w2");  // then handed over like any write, the next one with it
  EXPECT_EQ(p.release(), "0");
  p.committed(1);
  p.committed(2);
  EXPECT_EQ(p.release(), "1 2");
}

TEST(RequestQueueFetch, AVerifyingRequestIsDecidedOnlyOnceVerified) {
  FetchPlanner p;
  size_t i = p.add('W', true, true);
  p.at(i).state = State::Verifying;
  EXPECT_EQ(p.advance(), "");
  EXPECT_TRUE(p.at(i).fetch_undecided);
  p.at(i).state = State::Ready;  // back from the pool
  EXPECT_EQ(p.advance(), "f0");
}

TEST(RequestQueueFetch, TheTwoCallbackFormHasNoOutboundStep) {
  RequestQueue q;
  auto e = std::make_unique<Entry>();
  e->state = State::Ready;
  Entry* raw = e.get();
  q.push(std::move(e));
  int reads = 0;
  q.advance([&](Entry&) { return ++reads > 0; }, [&](Entry&) {});
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(raw->state, State::Done);
}

}  // namespace
