// The per-connection ordering planner (worker-registry/request_queue.h), without sockets:
// reads run in order and never ahead of the connection's own uncommitted writes, writes are
// handed over at once even behind other writes, a request still being verified holds up
// everything behind it, and replies leave in request order.
#include "worker-registry/request_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

namespace {

using rdv::registry::Entry;
using rdv::registry::RequestQueue;
using State = Entry::State;

// A queue whose entries are named by their index, with a log of what the planner did.
class Planner {
 public:
  // Appends a read ('R') or write ('W') in state `s`; returns its index.
  size_t add(char kind, State s = State::Ready) {
    auto e = std::make_unique<Entry>();
    e->is_write = kind == 'W';
    e->state = s;
    e->reply = std::to_string(entries_.size());
    entries_.push_back(e.get());
    q_.push(std::move(e));
    return entries_.size() - 1;
  }
  Entry& at(size_t i) { return *entries_.at(i); }

  // One advance(); returns what started, e.g. "r0 w1 w2".
  std::string advance() {
    std::string log;
    q_.advance(
        [&](Entry& e) {
          EXPECT_FALSE(e.is_write);
          EXPECT_EQ(e.state, State::Ready);  // only a ready request runs
          log += (log.empty() ? "r" : " r") + e.reply;
          return !e.continuing;  // a read in turns stays at the head
        },
        [&](Entry& e) {
          EXPECT_TRUE(e.is_write);
          EXPECT_EQ(e.state, State::Submitted);
          log += (log.empty() ? "w" : " w") + e.reply;
          submitted_.push_back(std::stoul(e.reply));
        });
    return log;
  }

  // One release(); returns the released replies in order, e.g. "0 1".
  std::string release() {
    std::string log;
    size_t n = q_.release([&](Entry& e) {
      EXPECT_EQ(e.state, State::Done);
      log += (log.empty() ? "" : " ") + e.reply;
      released_++;
    });
    EXPECT_EQ(n, log.empty() ? 0u : size_t(std::count(log.begin(), log.end(), ' ') + 1));
    return log;
  }

  void finish_write(size_t i) { q_.write_finished(at(i)); }
  // Finishes the oldest write handed over and not finished yet; false when there is none.
  bool finish_oldest_write() {
    if (submitted_.empty()) return false;
    size_t i = submitted_.front();
    submitted_.pop_front();
    finish_write(i);
    return true;
  }
  RequestQueue& q() { return q_; }

 private:
  RequestQueue q_;
  std::vector<Entry*> entries_;  // owned by q_ until released; not touched after release
  std::deque<size_t> submitted_;  // writes handed over, oldest first
  size_t released_ = 0;
};

TEST(RequestQueue, EmptyQueueDoesNothing) {
  Planner p;
  EXPECT_EQ(p.advance(), "");
  EXPECT_EQ(p.release(), "");
  EXPECT_TRUE(p.q().empty());
}

TEST(RequestQueue, ReadsRunInOrderAndAreReleasedInOrder) {
  Planner p;
  for (int i = 0; i < 4; i++) p.add('R');
  EXPECT_EQ(p.advance(), "r0 r1 r2 r3");
  for (size_t i = 0; i < 4; i++) EXPECT_EQ(p.at(i).state, State::Done);
  EXPECT_EQ(p.release(), "0 1 2 3");
  EXPECT_TRUE(p.q().empty());
}

TEST(RequestQueue, AdvanceDoesNotRunARequestTwice) {
  Planner p;
  p.add('R');
  p.add('W');
  EXPECT_EQ(p.advance(), "r0 w1");
  EXPECT_EQ(p.advance(), "");
  EXPECT_EQ(p.q().writes_in_flight(), 1u);
}

TEST(RequestQueue, ReadBehindUncommittedWriteWaitsForTheCommit) {
  Planner p;
  p.add('W');
  p.add('R');
  EXPECT_EQ(p.advance(), "w0");
  EXPECT_EQ(p.at(1).state, State::Ready);
  EXPECT_EQ(p.advance(), "");  // still uncommitted
  EXPECT_EQ(p.release(), "");  // the write is not final: nothing leaves
  p.finish_write(0);
  EXPECT_EQ(p.q().writes_in_flight(), 0u);
  EXPECT_EQ(p.advance(), "r1");
  EXPECT_EQ(p.release(), "0 1");
}

TEST(RequestQueue, ReadAfterReleaseOfItsWriteRuns) {
  // The write's reply is released before the read starts (release drops the front).
  Planner p;
  p.add('W');
  p.add('R');
  EXPECT_EQ(p.advance(), "w0");
  p.finish_write(0);
  EXPECT_EQ(p.release(), "0");
  EXPECT_EQ(p.advance(), "r1");
  EXPECT_EQ(p.release(), "1");
}

TEST(RequestQueue, WritesBehindWritesAreSubmittedAtOnce) {
  Planner p;
  for (int i = 0; i < 3; i++) p.add('W');
  EXPECT_EQ(p.advance(), "w0 w1 w2");
  EXPECT_EQ(p.q().writes_in_flight(), 3u);
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(p.at(i).state, State::Submitted);
}

TEST(RequestQueue, WriteBehindAVerifyingReadWaits) {
  Planner p;
  p.add('R', State::Verifying);
  p.add('W');
  EXPECT_EQ(p.advance(), "");
  EXPECT_EQ(p.at(1).state, State::Ready);  // not handed over
  EXPECT_EQ(p.q().writes_in_flight(), 0u);
  p.at(0).state = State::Ready;  // the pool handed it back
  EXPECT_EQ(p.advance(), "r0 w1");
}

TEST(RequestQueue, VerifyingOrNewEntryBlocksEverythingBehindIt) {
  for (State blocking : {State::Verifying, State::New}) {
    for (char kind : {'R', 'W'}) {
      Planner p;
      p.add('R');
      p.add(kind, blocking);
      p.add('R');
      p.add('W');
      p.add('R');
      EXPECT_EQ(p.advance(), "r0") << int(blocking) << kind;
      EXPECT_EQ(p.q().writes_in_flight(), 0u);
      EXPECT_EQ(p.release(), "0");
      EXPECT_EQ(p.advance(), "");
      p.at(1).state = State::Ready;
      if (kind == 'R') {
        EXPECT_EQ(p.advance(), "r1 r2 w3");
      } else {
        EXPECT_EQ(p.advance(), "w1");  // r2 waits for w1's commit
        p.finish_write(1);
        EXPECT_EQ(p.advance(), "r2 w3");
      }
      p.finish_write(3);
      EXPECT_EQ(p.advance(), "r4");
      EXPECT_EQ(p.release(), "1 2 3 4");
    }
  }
}

TEST(RequestQueue, AVerifyingWriteBehindWritesHoldsUpOnlyWhatFollows) {
  Planner p;
  p.add('W');
  p.add('W', State::Verifying);
  p.add('W');
  EXPECT_EQ(p.advance(), "w0");
  p.at(1).state = State::Ready;
  EXPECT_EQ(p.advance(), "w1 w2");
}

TEST(RequestQueue, ReleaseHandsOutOnlyTheFinishedPrefix) {
  Planner p;
  p.add('W');
  p.add('W');
  p.add('W');
  EXPECT_EQ(p.advance(), "w0 w1 w2");
  // Batches come back in order, but a later write finishing first must not overtake.
  p.finish_write(1);
  p.finish_write(2);
  EXPECT_EQ(p.release(), "");
  EXPECT_EQ(p.q().size(), 3u);
  p.finish_write(0);
  EXPECT_EQ(p.release(), "0 1 2");
  EXPECT_TRUE(p.q().empty());
}

TEST(RequestQueue, ReleaseStopsAtTheFirstUnfinished) {
  Planner p;
  p.add('R');
  p.add('W');
  p.add('R');
  EXPECT_EQ(p.advance(), "r0 w1");
  EXPECT_EQ(p.release(), "0");
  EXPECT_EQ(p.release(), "");
  p.finish_write(1);
  EXPECT_EQ(p.release(), "1");  // r2 has not run yet
  EXPECT_EQ(p.advance(), "r2");
  EXPECT_EQ(p.release(), "2");
}

TEST(RequestQueue, MixedSequence) {
  // R R W W R W R, with W3's batch and W5 arriving later.
  Planner p;
  p.add('R');
  p.add('R');
  p.add('W');
  p.add('W');
  p.add('R');
  p.add('W', State::New);
  p.add('R');
  EXPECT_EQ(p.advance(), "r0 r1 w2 w3");
  EXPECT_EQ(p.release(), "0 1");
  p.finish_write(2);
  EXPECT_EQ(p.advance(), "");  // w3 still uncommitted: r4 waits
  EXPECT_EQ(p.release(), "2");
  p.finish_write(3);
  EXPECT_EQ(p.advance(), "r4");  // then stops at the New write
  p.at(5).state = State::Ready;
  EXPECT_EQ(p.advance(), "w5");
  EXPECT_EQ(p.release(), "3 4");
  p.finish_write(5);
  EXPECT_EQ(p.advance(), "r6");
  EXPECT_EQ(p.release(), "5 6");
  EXPECT_TRUE(p.q().empty());
  EXPECT_EQ(p.q().writes_in_flight(), 0u);
}

TEST(RequestQueue, RequestsPushedLaterJoinInOrder) {
  Planner p;
  p.add('R');
  EXPECT_EQ(p.advance(), "r0");
  EXPECT_EQ(p.release(), "0");
  p.add('W');
  p.add('R');
  EXPECT_EQ(p.advance(), "w1");
  p.add('R');
  EXPECT_EQ(p.advance(), "");
  p.finish_write(1);
  EXPECT_EQ(p.advance(), "r2 r3");
  EXPECT_EQ(p.release(), "1 2 3");
}

TEST(RequestQueue, PrepareVisitsOnlyNewRequestsNotYetStarted) {
  Planner p;
  p.add('R');
  p.add('W', State::New);
  p.add('R', State::Verifying);
  p.add('R', State::New);
  EXPECT_EQ(p.advance(), "r0");
  std::string seen;
  p.q().prepare([&](Entry& e) {
    seen += e.reply;
    e.state = State::Ready;
  });
  EXPECT_EQ(seen, "13");
  // A second call finds nothing new.
  seen.clear();
  p.q().prepare([&](Entry& e) { seen += e.reply; });
  EXPECT_EQ(seen, "");
  EXPECT_EQ(p.advance(), "w1");
}

TEST(RequestQueue, ManyWritesAndReadsKeepTheirOrder) {
  // A long alternating sequence: everything is released exactly once, in order.
  Planner p;
  const int n = 200;
  for (int i = 0; i < n; i++) p.add(i % 3 == 0 ? 'W' : 'R');
  std::string released;
  int rounds = 0;
  while (!p.q().empty() && rounds++ < 10 * n) {
    p.advance();
    std::string r = p.release();
    if (!r.empty()) released += (released.empty() ? "" : " ") + r;
    p.finish_oldest_write();  // the writer hands back one write per round, in order
  }
  std::string want;
  for (int i = 0; i < n; i++) want += (i ? " " : "") + std::to_string(i);
  EXPECT_EQ(released, want);
  EXPECT_EQ(p.q().writes_in_flight(), 0u);
}

}  // namespace

namespace {
// A read done in turns (list_nodes, Outcome::more) holds its place: it runs again on the next
// advance, and nothing behind it starts or leaves until it is finished.
TEST(RequestQueue, ReadInTurnsHoldsItsPlaceUntilFinished) {
  Planner p;
  p.add('R');
  p.add('R');
  p.add('W');
  p.at(0).continuing = true;
  EXPECT_EQ(p.advance(), "r0");
  EXPECT_EQ(p.release(), "");
  EXPECT_EQ(p.advance(), "r0");  // its next turn
  p.at(0).continuing = false;
  EXPECT_EQ(p.advance(), "r0 r1 w2");
  EXPECT_EQ(p.release(), "0 1");
}
}  // namespace
