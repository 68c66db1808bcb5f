// GET /healthz (ops-spec §5.3 row 2: liveness, always 200) and GET /readyz (ours: readiness
// for a load balancer or the VIP manager — 200 only on a serving leader).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "worker-admin/routes.h"

namespace rdv::admin {

Response handle_healthz(const AdminContext& ctx, const Request& req);
Response handle_readyz(const AdminContext& ctx, const Request& req);

// {"status":"ok","version":"1.0","uptime_seconds":N,"nodes_online":N}
JsonPtr healthz_json(int64_t uptime_seconds, uint64_t nodes_online);

// The /readyz answer from the registry's status reply ({"type":"status_ok","serving":bool,
// "role":"leader"|"standby"|"fenced","leader":A?,"sync":{…}?,…}), or from `error` when there
// was no reply (reply == nullptr):
//   200 {"status":"ready","role":"leader","sync":"sync|degraded|off"}
//   503 {"status":"not ready","role":"<role or unknown>","leader":A?,"sync":…,"reason":"…"}
// Ready means "send writes here": the registry serves and takes writes. A standby or a fenced
// instance is not ready however healthy it is, so a load balancer or VIP manager that follows
// /readyz never sends writes to it. A degraded synchronous leader is still ready: it serves
// every write (asynchronously), and moving the address would not bring a standby back.
// `leader` comes from the reply, else `configured_leader` (the admin's -standby copy).
Response readiness_response(const json_t* reply, std::string_view error, std::string_view configured_leader = "");

// /readyz is public: replaces the command socket's full path in an error text by its file
// name, so the answer does not disclose the run dir (the full text goes to the log).
std::string public_registry_error(std::string_view error, std::string_view socket_path);

}  // namespace rdv::admin
