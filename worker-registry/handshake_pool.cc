// TLS handshake steps on their own threads (handshake_pool.h).
#include "handshake_pool.h"

#include <sys/eventfd.h>

#include <algorithm>

#include "log.h"

namespace rdv::registry {

HandshakePool::HandshakePool(unsigned threads) : notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!notify_) log_error("eventfd() failed; TLS handshakes cannot complete", {{"error", sys_error("eventfd")}});
  for (unsigned i = 0; i < std::max(1u, threads); i++) threads_.emplace_back([this] { worker_loop(); });
}

void HandshakePool::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void HandshakePool::submit(Job* job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
}

std::vector<HandshakePool::Job*> HandshakePool::take_finished() {
  uint64_t n;
  while (::read(notify_.get(), &n, sizeof n) > 0) {
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Job*> out;
  out.swap(finished_);
  return out;
}

void HandshakePool::worker_loop() {
  for (;;) {
    Job* job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
    }
    job->result = job->stream->handshake();
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back(job);
    }
    uint64_t one = 1;
    if (::write(notify_.get(), &one, sizeof one) < 0 && errno != EAGAIN)
      log_error("write(eventfd) failed", {{"error", sys_error("write")}});
  }
}

}  // namespace rdv::registry
