// The admin worker's own breaker gates (ops-spec §9.2): dashboard.public_stats guards
// /api/public-stats, dashboard.verify guards /api/v1/verify and …/keys. They read the same
// <data-dir>/breakers.json as the registry, through the one parser in shared/breakers.h,
// refreshed at most every 2 s; thread-safe (CivetWeb threads).
#pragma once

#include <string>
#include <string_view>

#include "worker-admin/routes.h"

namespace rdv::admin {

// True unless breaker `name` is open; *reason (may be null) gets the operator's reason then.
bool breaker_allows(const AdminContext& ctx, std::string_view name, std::string* reason);

// The 503 a gated route answers while its breaker is open: {"status":"unavailable","reason"?}.
Response breaker_unavailable(std::string_view reason);

}  // namespace rdv::admin
