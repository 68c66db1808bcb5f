// Parallel Ed25519 verification for a loop pass.
//
// Signature checks dominate the cost of register, heartbeat and resolve. Before a pass's
// requests run (one by one, in order, against the pass transaction), their signature checks
// are collected and verified on all cores; the handlers then find the results in the pass's
// cache instead of verifying on the event-loop thread. A check the collector did not foresee
// is simply verified inline, so the cache is an optimisation, never a source of truth.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "crypto.h"

namespace rdv::registry {

struct VerifyJob {
  PublicKey key;
  std::string message;
  Signature sig;
  bool ok = false;
};

// Cache key: key ‖ signature ‖ message.
std::string verify_cache_key(const PublicKey& key, std::string_view message, const uint8_t* sig);

class VerifyPool {
 public:
  // `threads` helper threads; the calling thread works too.
  explicit VerifyPool(unsigned threads);
  ~VerifyPool();
  VerifyPool(const VerifyPool&) = delete;
  VerifyPool& operator=(const VerifyPool&) = delete;

  // Verifies every job (sets job.ok). Returns when all are done.
  void run(std::vector<VerifyJob>& jobs);

 private:
  void worker_loop();
  void work();
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  std::vector<VerifyJob>* jobs_ = nullptr;
  size_t next_ = 0, done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace rdv::registry
