// /api/admin/pending: the pending-registration accept queue.
#include "worker-admin/routes.h"

namespace rdv::admin {

std::span<const Route> pending_routes() { return {}; }

}  // namespace rdv::admin
