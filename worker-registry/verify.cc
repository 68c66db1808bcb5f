#include "verify.h"

#include <sys/eventfd.h>

#include <algorithm>

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
  for (size_t i = 0; i < std::min(n, threads_.size()); i++) cv_.notify_one();
}

// Each thread takes its share of the queue at once and hands the whole share back with one
// wake-up: the loop then runs one pass for many verified requests instead of one each.
void VerifyPool::worker_loop() {
  std::vector<Entry*> mine;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      size_t share = std::clamp<size_t>(queue_.size() / threads_.size(), 1, 32);
      mine.assign(queue_.begin(), queue_.begin() + ptrdiff_t(share));
      queue_.erase(queue_.begin(), queue_.begin() + ptrdiff_t(share));
    }
    for (Entry* e : mine)
      for (VerifyJob& j : e->jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
    bool wake;
    {
      std::lock_guard lock(mu_);
      wake = finished_.empty();  // the loop has not been told about any of these yet
      finished_.insert(finished_.end(), mine.begin(), mine.end());
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
