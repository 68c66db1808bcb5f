// /api/admin/runtime/log-level (ops-spec §5.3 row 13). The level is per process, so a change
// goes to the supervisor ({"op":"log_level"} on the control socket), which applies it to
// itself and sends it to every worker; this worker sets its own at once as well, so the answer
// and a following GET agree without waiting for the broadcast.
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

namespace {

Response handle_log_level(const AdminContext&, const Request& req) {
  if (req.method == "GET") {
    JsonPtr body(json_pack("{s:s}", "level", log_level_name(log_level())));
    return json_response(200, body.get());
  }
  std::string err;
  JsonPtr body = parse_json_body(req.body, &err);
  if (!body) return text_error(400, "bad request: " + err);
  const json_t* level = json_object_get(body.get(), "level");
  if (!json_is_string(level)) return text_error(400, "bad request: level required (a string)");
  std::string text(json_string_value(level));
  LogLevel parsed;
  if (!parse_log_level(text, &parsed))
    return text_error(400, "invalid log level " + go_quote(text.substr(0, 32)) + " (want debug, info, warn or error)");
  if (!ipc::WorkerControl::request_log_level(log_level_name(parsed)))
    return text_error(500, sys_error("log level: send to the supervisor failed"));
  log_set_level(parsed);
  JsonPtr out(json_pack("{s:b,s:s}", "ok", 1, "level", log_level_name(parsed)));
  return json_response(200, out.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/admin/runtime/log-level", .methods = "GET, PUT, POST", .access = Access::Admin,
     .handler = handle_log_level, .max_body = 256},
};

}  // namespace

std::span<const Route> log_level_routes() { return kRoutes; }

}  // namespace rdv::admin
