// /api/breakers and /api/breakers/{name} (ops-spec §9.4).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> breaker_routes() { return {}; }

}  // namespace rdv::admin
