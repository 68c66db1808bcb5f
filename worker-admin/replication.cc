// /api/admin/replication-status (ops-spec §5.3 row 15), built from the registry's `status`
// reply on registry.sock:
//   term        the replication epoch (<data-dir>/epoch, shared/epoch.h): our fencing number,
//               the role the Go server's `term` was meant to play (§4.7)
//   is_standby  the registry's role
//   subscribers the standbys following this leader — reported by the registry's status reply
//               once replication serves standbys; until then the reply has none and we say 0
//   last_push_unix / last_push_age_secs  only when the status reply carries a last push time
//               (the Go server defined but never filled them; we omit them until we know one)
#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/networks.h"
#include "worker-admin/routes.h"

#include <algorithm>

namespace rdv::admin {

JsonPtr replication_status_json(const json_t* status, int64_t now_unix) {
  auto integer = [&](const char* key) -> int64_t {
    json_t* v = json_object_get(status, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? int64_t(json_integer_value(v)) : 0;
  };
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "term", json_integer(integer("epoch")));
  json_object_set_new(body.get(), "is_standby", json_boolean(json_str(status, "role") == "standby"));
  json_object_set_new(body.get(), "subscribers", json_integer(integer("subscribers")));
  if (int64_t last = integer("last_push_unix"); last > 0) {
    json_object_set_new(body.get(), "last_push_unix", json_integer(last));
    json_object_set_new(body.get(), "last_push_age_secs", json_integer(std::max<int64_t>(0, now_unix - last)));
  }
  return body;
}

namespace {

Response handle_replication_status(const AdminContext& ctx, const Request&) {
  std::string error;
  JsonPtr request(json_pack("{s:s}", "type", "status"));
  JsonPtr reply = ctx.registry_call(request.get(), &error);
  if (!reply || json_str(reply.get(), "type") != "status_ok") {
    log_warn("/api/admin/replication-status: no registry status",
             {{"error", reply ? json_dump_compact(reply.get()) : error}});
    return text_error(503, "replication status unavailable: registry not answering");
  }
  JsonPtr body = replication_status_json(reply.get(), unix_now());
  return json_response(200, body.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/admin/replication-status", .methods = "GET", .access = Access::Admin,
     .handler = handle_replication_status},
};

}  // namespace

std::span<const Route> replication_routes() { return kRoutes; }

}  // namespace rdv::admin
