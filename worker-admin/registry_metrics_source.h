// Read-only access to the registry worker's shared metrics page (shared/metrics.h).
//
// The registry creates the page when it starts; the admin worker may start first after a crash
// of both, or the run dir may be wiped, so a missing page is normal for a while: page() tries
// to map it again on every call until it succeeds, and from then on returns the mapping
// without locking. The page is never unmapped while the process serves, so a pointer returned
// by page() stays valid until this object is destroyed (after the HTTP server has stopped).
//
// Thread rules: page() from any thread.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "shared/metrics.h"

namespace rdv::admin {

class RegistryMetricsSource {
 public:
  explicit RegistryMetricsSource(std::string path) : path_(std::move(path)) {}
  ~RegistryMetricsSource();
  RegistryMetricsSource(const RegistryMetricsSource&) = delete;
  RegistryMetricsSource& operator=(const RegistryMetricsSource&) = delete;

  // The mapped page, or nullptr while it cannot be mapped (the reason is logged when it
  // changes, not on every call).
  const metrics::RegistryPage* page();

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  std::atomic<metrics::RegistryPage*> page_{nullptr};
  std::mutex map_mutex_;     // serialises mapping attempts
  std::string last_error_;   // guarded by map_mutex_
};

}  // namespace rdv::admin
