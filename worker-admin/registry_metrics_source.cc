#include "worker-admin/registry_metrics_source.h"

#include "shared/log.h"

namespace rdv::admin {

RegistryMetricsSource::~RegistryMetricsSource() { metrics::unmap_registry_page(page_.load()); }

const metrics::RegistryPage* RegistryMetricsSource::page() {
  if (metrics::RegistryPage* p = page_.load(std::memory_order_acquire)) return p;

  std::lock_guard lock(map_mutex_);
  if (metrics::RegistryPage* p = page_.load(std::memory_order_acquire)) return p;  // raced
  std::string error;
  metrics::RegistryPage* p = metrics::map_registry_page(path_, /*writable=*/false, &error);
  if (p && p->type_count != metrics::kTypeCount) {
    // Same magic but another table of message types: a registry from a different build.
    // Rendering it would read the wrong counters.
    error = path_ + ": metrics page has " + std::to_string(p->type_count) +
            " message types, this build expects " + std::to_string(metrics::kTypeCount);
    metrics::unmap_registry_page(p);
    p = nullptr;
  }
  if (!p) {
    // Scrapes and health probes come every few seconds; log only when the reason changes.
    if (error != last_error_) {
      log_info("registry metrics page unavailable; serving admin metrics only", {{"error", error}});
      last_error_ = error;
    }
    return nullptr;
  }
  log_info("registry metrics page mapped", {{"path", path_}});
  last_error_.clear();
  page_.store(p, std::memory_order_release);
  return p;
}

}  // namespace rdv::admin
