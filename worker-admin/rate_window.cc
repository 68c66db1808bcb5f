#include "worker-admin/rate_window.h"

#include "worker-admin/routes.h"

namespace rdv::admin {

std::string_view limiter_key(const Request& req) {
  if (is_loopback(req.remote_addr))
    if (std::string_view real = req.header("X-Real-IP"); !real.empty() && real.size() <= 64) return real;
  return req.remote_addr;
}

bool FixedWindowLimiter::allow(std::string_view key, int64_t now_ns) {
  std::lock_guard lock(mutex_);
  auto it = windows_.find(std::string(key));
  if (it == windows_.end()) {
    if (windows_.size() >= max_keys_) {
      for (auto e = windows_.begin(); e != windows_.end();)
        e = now_ns - e->second.start_ns >= window_ns_ ? windows_.erase(e) : std::next(e);
      if (windows_.size() >= max_keys_) return false;
    }
    it = windows_.emplace(std::string(key), Window{now_ns, 0}).first;
  }
  Window& w = it->second;
  if (now_ns - w.start_ns >= window_ns_) w = Window{now_ns, 0};
  if (w.count >= limit_) return false;
  w.count++;
  return true;
}

size_t FixedWindowLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return windows_.size();
}

}  // namespace rdv::admin
