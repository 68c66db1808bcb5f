// /debug/pprof/*, /debug/locks, /api/runtime, /api/health, /api/admin/runtime/* (ops-spec §5.3 rows 11–13, 18–21).
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> runtime_routes() { return {}; }

}  // namespace rdv::admin
