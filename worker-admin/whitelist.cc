// /api/admin/whitelist (ops-spec §10.4).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> whitelist_routes() { return {}; }

}  // namespace rdv::admin
