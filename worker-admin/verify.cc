// /api/v1/verify and /api/v1/verify/keys (ops-spec §5.3 rows 4–5).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> verify_routes() { return {}; }

}  // namespace rdv::admin
