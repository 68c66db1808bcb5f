// /api/admin/audit/recent (ops-spec §5.3 row 17).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> audit_routes() { return {}; }

}  // namespace rdv::admin
