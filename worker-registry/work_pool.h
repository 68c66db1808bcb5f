// Work off the event loop: threads that take jobs from a queue, run them, and hand them back
// through an eventfd the loop watches. The registry has two: Ed25519 checks (verify.h) and TLS
// handshake steps (handshake_pool.h). Both are CPU work a loop pass must not wait for, and
// both come back to the loop, which alone touches connections.
//
// Submissions reach the threads at flush(), so a pass's submissions cost one lock and one
// wake-up per thread. A thread takes up to `max_share` jobs at once and hands them back with
// one write to the eventfd (only when the loop has not been told of earlier ones yet), so the
// loop runs one pass for many finished jobs instead of one each: many small verifies share, a
// handshake step (about a millisecond) goes alone.
//
// Threading: submit, flush, take_finished and in_flight on the loop thread only. A job must
// stay untouched by the loop from submit until take_finished returns it.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "log.h"
#include "util.h"

namespace rdv::registry {

template <class Job>
class WorkPool {
 public:
  using Run = void (*)(Job&);

  WorkPool(unsigned threads, size_t max_share, Run run)
      : notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), max_share_(std::max<size_t>(1, max_share)), run_(run) {
    if (!notify_) return;  // ok() is false: the worker refuses to start (it would never hear back)
    for (unsigned i = 0; i < std::max(1u, threads); i++) threads_.emplace_back([this] { worker_loop(); });
  }
  ~WorkPool() { stop(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  bool ok() const { return bool(notify_); }
  // Readable when finished jobs wait in take_finished().
  int notify_fd() const { return notify_.get(); }

  void submit(Job* job) {
    pending_.push_back(job);
    in_flight_++;
  }
  void flush() {
    if (pending_.empty()) return;
    const size_t n = pending_.size();
    {
      std::lock_guard lock(mu_);
      queue_.insert(queue_.end(), pending_.begin(), pending_.end());
    }
    pending_.clear();
    for (size_t i = 0; i < std::min(n, threads_.size()); i++) cv_.notify_one();
  }
  // Finished jobs, in completion order.
  std::vector<Job*> take_finished() {
    uint64_t n;
    if (::read(notify_.get(), &n, sizeof n) < 0 && errno != EAGAIN)
      log_error("read(eventfd) failed", {{"error", sys_error("read")}});
    std::vector<Job*> out;
    {
      std::lock_guard lock(mu_);
      out.swap(finished_);
    }
    in_flight_ -= out.size();
    return out;
  }
  // Submitted and not taken back yet.
  size_t in_flight() const { return in_flight_; }
  // Joins the threads; queued jobs are dropped (the worker is going away).
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void worker_loop() {
    std::vector<Job*> mine;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        const size_t share = std::clamp<size_t>(queue_.size() / threads_.size(), 1, max_share_);
        mine.assign(queue_.begin(), queue_.begin() + ptrdiff_t(share));
        queue_.erase(queue_.begin(), queue_.begin() + ptrdiff_t(share));
      }
      for (Job* job : mine) run_(*job);
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

  UniqueFd notify_;
  const size_t max_share_;
  const Run run_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::vector<Job*> pending_;  // loop thread only: submitted, not flushed yet
  std::vector<Job*> finished_;
  size_t in_flight_ = 0;  // loop thread only
  bool stop_ = false;
};

}  // namespace rdv::registry
