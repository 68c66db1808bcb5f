// The admin worker's current configuration, replaced as a whole when the supervisor pushes a
// reload (SIGHUP on the supervisor). Readers get an immutable snapshot, so a request sees one
// consistent configuration even if a reload lands while it runs.
//
// Thread rules: get() from any thread (CivetWeb workers); set() from the event-loop thread.
#pragma once

#include <memory>
#include <mutex>

#include "shared/config.h"

namespace rdv::admin {

class LiveConfig {
 public:
  explicit LiveConfig(Config initial) : current_(std::make_shared<const Config>(std::move(initial))) {}
  LiveConfig(const LiveConfig&) = delete;
  LiveConfig& operator=(const LiveConfig&) = delete;

  std::shared_ptr<const Config> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  void set(Config next) {
    auto fresh = std::make_shared<const Config>(std::move(next));
    std::lock_guard lock(mutex_);
    current_ = std::move(fresh);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> current_;
};

}  // namespace rdv::admin
