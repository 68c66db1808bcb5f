// One operator mutation (or operator read) on the registry's command socket, and the HTTP
// answer when it does not succeed. Every write of the operator routes (banner, whitelist,
// breakers, the accept queue) goes through here, so the registry stays the single writer and
// the error mapping is written once:
//   registry unreachable         → 503 "registry unavailable: …"
//   refused on a standby         → 409 "standby: operator changes go to the leader at <addr>"
//                                  (a fenced instance: 409 "fenced: …", it knows no leader)
//   any other registry refusal   → `refusal_status` (400 by default) with the registry's text
#pragma once

#include <optional>

#include "worker-admin/routes.h"

namespace rdv::admin {

// Sends `request` (owned). On success returns nullopt with the reply in *reply; otherwise the
// response to send.
std::optional<Response> operator_call(const AdminContext& ctx, json_t* request, JsonPtr* reply,
                                      int refusal_status = 400);

}  // namespace rdv::admin
