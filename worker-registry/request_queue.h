// The order of one connection's requests: a pure planner, unit-tested without sockets
// (tests/unit/request_queue_test.cc).
//
// Requests start in arrival order, each once the one before it has started:
//  * a request waiting for its signature checks (Verifying) holds up the ones behind it;
//  * so does a request waiting for an outbound HTTP call (Fetching). Whether it needs one is
//    decided when its turn comes (start_fetch), and only once none of the connection's
//    earlier writes is uncommitted: the decision reads the settings those writes may change
//    (set_identity_webhook, then register);
//  * a read runs only when none of the connection's earlier writes is still uncommitted, so
//    a connection reads its own writes, and a later write can never be seen by an earlier
//    read (that read already ran);
//  * a write is handed to the writer as soon as its turn comes, even behind earlier writes
//    still in flight: batches commit in order.
// Replies leave in request order: release() hands out the finished prefix.
//
// Other connections are never involved: nothing here waits for another connection's
// verification, commit or slow step.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>

#include "entry.h"

namespace rdv::registry {

class RequestQueue {
 public:
  void push(std::unique_ptr<Entry> e) { q_.push_back(std::move(e)); }
  size_t size() const { return q_.size(); }
  bool empty() const { return q_.empty(); }
  size_t writes_in_flight() const { return writes_in_flight_; }

  // Starts what may start now: start_fetch(Entry&) decides, for a request whose descriptor
  // has an outbound step (e.fetch_undecided), whether it needs a call, and returns true when
  // it started one (the entry becomes Fetching until the caller makes it Ready again);
  // run_read(Entry&) runs a read and returns true when it is finished (the entry becomes Done)
  // or false when it continues in a later pass (it stays at the head of what may start, and
  // holds up the rest); submit_write(Entry&) hands a write over (the entry becomes Submitted).
  template <class FetchFn, class ReadFn, class WriteFn>
  void advance(FetchFn&& start_fetch, ReadFn&& run_read, WriteFn&& submit_write) {
    while (next_ < q_.size()) {
      Entry& e = *q_[next_];
      if (e.state == Entry::State::New || e.state == Entry::State::Verifying || e.state == Entry::State::Fetching)
        return;
      if (e.fetch_undecided) {
        if (writes_in_flight_ > 0) return;
        e.fetch_undecided = false;
        if (start_fetch(e)) {
          e.state = Entry::State::Fetching;
          return;
        }
      }
      if (e.is_write) {
        e.state = Entry::State::Submitted;
        writes_in_flight_++;
        submit_write(e);
      } else {
        if (writes_in_flight_ > 0) return;
        if (!run_read(e)) return;
        e.state = Entry::State::Done;
      }
      next_++;
    }
  }
  // For queues without outbound steps.
  template <class ReadFn, class WriteFn>
  void advance(ReadFn&& run_read, WriteFn&& submit_write) {
    advance([](Entry&) { return false; }, run_read, submit_write);
  }

  // Visits the requests not yet prepared (State::New), in order; fn must move each on.
  template <class Fn>
  void prepare(Fn&& fn) {
    for (size_t i = next_; i < q_.size(); i++)
      if (q_[i]->state == Entry::State::New) fn(*q_[i]);
  }

  // One of this connection's writes came back from the writer (committed or failed).
  void write_finished(Entry& e) {
    e.state = Entry::State::Done;
    writes_in_flight_--;
  }

  // Hands each finished request of the front, in order, to on_done(Entry&) and drops it.
  template <class DoneFn>
  size_t release(DoneFn&& on_done) {
    size_t n = 0;
    while (!q_.empty() && q_.front()->state == Entry::State::Done) {
      on_done(*q_.front());
      q_.pop_front();
      next_--;
      n++;
    }
    return n;
  }

 private:
  std::deque<std::unique_ptr<Entry>> q_;
  size_t next_ = 0;  // the first request not started
  size_t writes_in_flight_ = 0;
};

}  // namespace rdv::registry
