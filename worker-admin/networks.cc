// /api/admin/networks, members, operator kick and role change (ops-spec §5.3 rows 27–30).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> network_routes() { return {}; }

}  // namespace rdv::admin
