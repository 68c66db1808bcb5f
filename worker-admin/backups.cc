// /api/snapshot and /api/admin/backups (ops-spec §3.9, §5.3 rows 9 and 16).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> backup_routes() { return {}; }

}  // namespace rdv::admin
