// /api/admin/replication-status (ops-spec §5.3 row 15).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> replication_routes() { return {}; }

}  // namespace rdv::admin
