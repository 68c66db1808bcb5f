// /api/banner (ops-spec §5.3 row 8).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> banner_routes() { return {}; }

}  // namespace rdv::admin
