// Chains of dependent requests for the closed-loop load generator.
//
// Some workloads are made of steps that only make sense in order: a trust-handshake round is
// request_handshake, then poll_handshakes, then respond_handshake (which consumes the pending
// request the first step created); a membership cycle is join_network, then leave_network. The
// load generator keeps one request in flight per connection, but a thread's connections all
// draw from one source, so two steps of the same chain could be in flight on two connections
// at once, and the second would fail. StepScheduler hands out a chain's next step only after
// the reply to its previous step arrived: each chain is either ready (in the FIFO queue) or in
// flight, never both. Give it many more chains than the thread has connections, so a ready
// chain is always there.
//
// A chain whose step failed, or whose step was still in flight when the cell ended, is retired:
// the server may or may not have applied that step, so the next step could fail for reasons
// that have nothing to do with the server's speed. The chain states live outside the scheduler
// (the caller's vector, one per workload and server), so a later cell against the same server
// continues every surviving chain where the previous cell left it.
//
// Pure and single-threaded: one scheduler per load-generator thread, each owning a disjoint
// set of chain indices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace rdv::bench {

struct ChainState {
  uint8_t step = 0;        // the step to send next
  bool in_flight = false;  // a step was handed out and no outcome has been reported yet
  bool retired = false;    // never handed out again (see above)
};

class StepScheduler {
 public:
  // `chains`: indices into *states owned by this scheduler while it lives; `steps` ≥ 1: the
  // length of one cycle (after the last step, the chain starts again at step 0).
  StepScheduler(std::vector<uint32_t> chains, std::vector<ChainState>* states, uint8_t steps)
      : states_(states), steps_(steps == 0 ? 1 : steps), owned_(states->size(), false) {
    for (uint32_t c : chains) {
      if (c >= states_->size() || owned_[c]) continue;  // out of range or listed twice
      owned_[c] = true;
      chains_.push_back(c);
      ChainState& s = (*states_)[c];
      // A chain left in flight by an earlier scheduler that was not destroyed properly has an
      // unknown state on the server, like any abandoned one.
      if (s.in_flight) {
        s.in_flight = false;
        s.retired = true;
      }
      if (!s.retired) ready_.push_back(c);
    }
  }
  StepScheduler(const StepScheduler&) = delete;
  StepScheduler& operator=(const StepScheduler&) = delete;
  // Whatever is still in flight at the end of a run is abandoned.
  ~StepScheduler() { abandon(); }

  // The chain that has waited longest among those whose previous step completed, and the step
  // to send for it; the chain is in flight from now on. False when no chain is ready.
  bool next(uint32_t* chain, uint8_t* step) {
    if (ready_.empty()) return false;
    uint32_t c = ready_.front();
    ready_.pop_front();
    ChainState& s = (*states_)[c];
    s.in_flight = true;
    in_flight_++;
    *chain = c;
    *step = s.step;
    return true;
  }

  // The step in flight for `chain` succeeded: the chain moves on to its next step and queues
  // up again. Returns true if that step was the last of a cycle. A report for a chain that is
  // not in flight (a duplicate, or a chain of another scheduler) changes nothing.
  bool succeeded(uint32_t chain) {
    ChainState* s = owned_in_flight(chain);
    if (!s) return false;
    s->in_flight = false;
    in_flight_--;
    bool cycle_done = s->step + 1 >= steps_;
    s->step = cycle_done ? 0 : uint8_t(s->step + 1);
    completed_cycles_ += cycle_done;
    ready_.push_back(chain);
    return cycle_done;
  }

  // The step in flight for `chain` failed (error reply, wrong reply, lost connection).
  void failed(uint32_t chain) {
    ChainState* s = owned_in_flight(chain);
    if (!s) return;
    s->in_flight = false;
    s->retired = true;
    in_flight_--;
    retired_++;
  }

  // Retires every chain in flight (their outcome will never be known).
  void abandon() {
    if (in_flight_ == 0) return;
    for (uint32_t c : chains_) {
      ChainState& s = (*states_)[c];
      if (!s.in_flight) continue;
      s.in_flight = false;
      s.retired = true;
      retired_++;
    }
    in_flight_ = 0;
  }

  size_t ready() const { return ready_.size(); }
  size_t in_flight() const { return in_flight_; }
  size_t retired_here() const { return retired_; }  // by this scheduler
  uint64_t completed_cycles() const { return completed_cycles_; }

 private:
  ChainState* owned_in_flight(uint32_t chain) {
    if (chain >= owned_.size() || !owned_[chain]) return nullptr;
    ChainState& s = (*states_)[chain];
    return s.in_flight ? &s : nullptr;
  }

  std::vector<ChainState>* states_;
  uint8_t steps_;
  std::vector<bool> owned_;  // by index into *states_
  std::vector<uint32_t> chains_;
  std::deque<uint32_t> ready_;
  size_t in_flight_ = 0;
  size_t retired_ = 0;
  uint64_t completed_cycles_ = 0;
};

}  // namespace rdv::bench
