// Ed25519 checks off the event loop.
//
// Signature checks dominate the cost of register, heartbeat and resolve. The loop collects the
// checks a request will need (dispatch.h collect_checks) and submits the request here; the
// pool's threads verify on all cores and hand the request back through an eventfd the loop
// watches. A request waiting here holds up nobody: its connection's later requests wait (they
// keep their order), other connections do not. The handler then finds the results in
// entry.jobs (SignatureChecker). A check nobody foresaw is verified inline, so the results
// ahead are an optimisation, never a source of truth.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crypto.h"
#include "util.h"

namespace rdv::registry {

struct Entry;

struct VerifyJob {
  PublicKey key;
  std::string message;
  Signature sig;
  bool ok = false;
};

class VerifyPool {
 public:
  // `threads` verifier threads (at least one).
  explicit VerifyPool(unsigned threads);
  ~VerifyPool();
  VerifyPool(const VerifyPool&) = delete;
  VerifyPool& operator=(const VerifyPool&) = delete;

  // Readable (eventfd) when finished entries wait in take_finished(). -1 if eventfd failed
  // (then the pool verifies inline in submit()).
  int notify_fd() const { return notify_.get(); }
  // Queues `e` (its e->jobs); the caller keeps ownership and must not touch it until it comes
  // back from take_finished(). Queued entries reach the threads at the next flush(), so a
  // pass's submissions cost one lock and one wake-up.
  void submit(Entry* e);
  void flush();
  // Entries whose jobs are all verified, in completion order. Loop thread.
  std::vector<Entry*> take_finished();
  // Entries submitted and not yet taken back.
  size_t in_flight() const { return in_flight_; }

 private:
  void worker_loop();
  std::vector<std::thread> threads_;
  UniqueFd notify_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry*> queue_;
  std::vector<Entry*> pending_;  // loop thread only: submitted, not flushed yet
  std::vector<Entry*> finished_;
  size_t in_flight_ = 0;  // loop thread only
  bool stop_ = false;
};

}  // namespace rdv::registry
