// /, /api/public-stats, /api/stats, /api/pulse, /api/badge/*, /api/events: the dashboard and its data (ops-spec §5.4–§5.6).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> dashboard_routes() { return {}; }

}  // namespace rdv::admin
