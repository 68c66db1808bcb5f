#include "worker-admin/metrics_endpoint.h"

#include "shared/metrics.h"

namespace rdv::admin {

std::string admin_metric_families(bool registry_page_available) {
  std::string out;
  out +=
      "# HELP pilot_admin_up 1 while the admin worker is serving HTTP.\n"
      "# TYPE pilot_admin_up gauge\n"
      "pilot_admin_up 1\n";
  // Tells a dashboard why the registry families are missing from a scrape.
  out +=
      "# HELP pilot_admin_registry_metrics_available 1 when the registry's metrics page is readable; "
      "0 means the registry families are absent from this scrape.\n"
      "# TYPE pilot_admin_registry_metrics_available gauge\n"
      "pilot_admin_registry_metrics_available ";
  out += registry_page_available ? "1\n" : "0\n";
  return out;
}

Response handle_metrics(const AdminContext& ctx, const Request&) {
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  Response r;
  r.status = 200;
  r.content_type = kMetricsContentType;
  if (page) r.body = metrics::render_registry(*page);
  r.body += admin_metric_families(page != nullptr);
  return r;
}

namespace {
const Route kRoutes[] = {
    {.pattern = "/metrics", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_metrics},
};
}  // namespace

std::span<const Route> metrics_routes() { return kRoutes; }

}  // namespace rdv::admin
