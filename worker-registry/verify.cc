#include "verify.h"

#include <atomic>

namespace rdv::registry {

std::string verify_cache_key(const PublicKey& key, std::string_view message, const uint8_t* sig) {
  std::string k(reinterpret_cast<const char*>(key.data()), key.size());
  k.append(reinterpret_cast<const char*>(sig), 64);
  k.append(message);
  return k;
}

VerifyPool::VerifyPool(unsigned threads) {
  for (unsigned i = 0; i < threads; i++) threads_.emplace_back([this] { worker_loop(); });
}

VerifyPool::~VerifyPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

// Claims jobs one at a time under the mutex; a verification (~60 µs) dwarfs the lock.
void VerifyPool::work() {
  for (;;) {
    VerifyJob* job;
    {
      std::lock_guard lock(mu_);
      if (!jobs_ || next_ >= jobs_->size()) return;
      job = &(*jobs_)[next_++];
    }
    job->ok = ed25519_verify(job->key, job->message, job->sig.data());
    {
      std::lock_guard lock(mu_);
      if (++done_ == jobs_->size()) done_cv_.notify_all();
    }
  }
}

void VerifyPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    work();
  }
}

void VerifyPool::run(std::vector<VerifyJob>& jobs) {
  if (jobs.empty()) return;
  if (threads_.empty() || jobs.size() == 1) {
    for (auto& j : jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
    return;
  }
  {
    std::lock_guard lock(mu_);
    jobs_ = &jobs;
    next_ = done_ = 0;
    generation_++;
  }
  start_cv_.notify_all();
  work();
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return done_ == jobs.size(); });
  jobs_ = nullptr;
}

}  // namespace rdv::registry
