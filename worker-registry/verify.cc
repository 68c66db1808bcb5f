#include "verify.h"

#include <sys/eventfd.h>

#include "entry.h"
#include "log.h"

namespace rdv::registry {

VerifyPool::VerifyPool(unsigned threads) : notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!notify_) {
    log_error("eventfd() failed; signatures will be verified on the event loop", {{"error", sys_error("eventfd")}});
    return;
  }
  for (unsigned i = 0; i < std::max(1u, threads); i++) threads_.emplace_back([this] { worker_loop(); });
}

VerifyPool::~VerifyPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void VerifyPool::submit(Entry* e) {
  in_flight_++;
  if (threads_.empty()) {
    for (VerifyJob& j : e->jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
    std::lock_guard lock(mu_);
    finished_.push_back(e);
    return;
  }
  pending_.push_back(e);
}

void VerifyPool::flush() {
  if (pending_.empty()) return;
  size_t n = pending_.size();
  {
    std::lock_guard lock(mu_);
    queue_.insert(queue_.end(), pending_.begin(), pending_.end());
  }
  pending_.clear();
  if (n == 1) cv_.notify_one();
  else cv_.notify_all();
}

void VerifyPool::worker_loop() {
  for (;;) {
    Entry* e;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      e = queue_.front();
      queue_.pop_front();
    }
    for (VerifyJob& j : e->jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
    bool wake;
    {
      std::lock_guard lock(mu_);
      wake = finished_.empty();  // one wake-up per batch of completions
      finished_.push_back(e);
    }
    if (wake) {
      uint64_t one = 1;
      if (::write(notify_.get(), &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("write(eventfd) failed", {{"error", sys_error("write")}});
    }
  }
}

std::vector<Entry*> VerifyPool::take_finished() {
  uint64_t n;
  if (notify_ && ::read(notify_.get(), &n, sizeof n) < 0 && errno != EAGAIN)
    log_error("read(eventfd) failed", {{"error", sys_error("read")}});
  std::vector<Entry*> out;
  {
    std::lock_guard lock(mu_);
    out.swap(finished_);
  }
  in_flight_ -= out.size();
  return out;
}

}  // namespace rdv::registry
