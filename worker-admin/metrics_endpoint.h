// GET /metrics (ops-spec §6, localhost-only): Prometheus text 0.0.4. The registry families
// come from the registry's shared metrics page, rendered at scrape time; the admin worker adds
// its own families, so a scrape answers 200 even while the registry page is unavailable.
#pragma once

#include <string>

#include "worker-admin/routes.h"

namespace rdv::admin {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

Response handle_metrics(const AdminContext& ctx, const Request& req);

// The admin worker's own families (pilot_admin_*), with # HELP and # TYPE lines.
std::string admin_metric_families(bool registry_page_available);

}  // namespace rdv::admin
