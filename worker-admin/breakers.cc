// /api/breakers and /api/breakers/{name} (ops-spec §9.4). The list comes from the registry
// (it owns the counters); changes are the registry's breaker_set / breaker_delete messages,
// which validate, rewrite breakers.json atomically and audit.
#include "worker-admin/breakers.h"

#include "shared/breakers.h"
#include "worker-admin/operator_call.h"

namespace rdv::admin {

namespace {

breakers::FileBreakers& admin_breakers() {
  static breakers::FileBreakers b;
  return b;
}

Response handle_list(const AdminContext& ctx, const Request&) {
  JsonPtr reply;
  if (auto refused = operator_call(ctx, json_pack("{s:s}", "type", "breakers_status"), &reply, 503)) return *refused;
  json_t* list = json_object_get(reply.get(), "breakers");
  JsonPtr body(json_pack("{s:O}", "breakers", json_is_array(list) ? list : json_array()));
  return json_response(200, body.get());
}

Response handle_one(const AdminContext& ctx, const Request& req) {
  std::string_view name = req.params.empty() ? std::string_view() : req.params[0];
  if (!breakers::valid_name(name)) return text_error(400, "missing or invalid breaker name");
  std::string reason = req.query_value("reason").value_or("");
  JsonPtr reply;
  if (req.method == "DELETE") {
    if (auto refused = operator_call(ctx,
                                     json_pack("{s:s,s:s#,s:s#}", "type", "breaker_delete", "name", name.data(),
                                               int(name.size()), "reason", reason.data(), int(reason.size())),
                                     &reply, 500))
      return *refused;
  } else {
    std::string err;
    JsonPtr body = parse_json_body(req.body, &err);
    if (!body) return text_error(400, "bad json: " + err);
    const json_t* state = json_object_get(body.get(), "state");
    const json_t* why = json_object_get(body.get(), "reason");
    if ((state && !json_is_string(state)) || (why && !json_is_string(why)))
      return text_error(400, "bad json: state and reason must be strings");
    if (why) reason = json_string_value(why);
    std::string_view st = json_str(body.get(), "state");
    if (auto refused = operator_call(ctx,
                                     json_pack("{s:s,s:s#,s:s#,s:s#}", "type", "breaker_set", "name", name.data(),
                                               int(name.size()), "state", st.data(), int(st.size()), "reason",
                                               reason.data(), int(reason.size())),
                                     &reply))
      return *refused;
  }
  JsonPtr out(json_pack("{s:b,s:s#}", "ok", 1, "name", name.data(), int(name.size())));
  return json_response(200, out.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/breakers", .methods = "GET", .access = Access::Admin, .handler = handle_list},
    {.pattern = "/api/breakers/{}", .methods = "PUT, POST, DELETE", .access = Access::Admin, .handler = handle_one,
     .max_body = 8192},
};

}  // namespace

bool breaker_allows(const AdminContext& ctx, std::string_view name, std::string* reason) {
  return admin_breakers().allows(ctx.config->get()->data_dir + "/breakers.json", name, reason);
}

Response breaker_unavailable(std::string_view reason) {
  JsonPtr body(reason.empty() ? json_pack("{s:s}", "status", "unavailable")
                              : json_pack("{s:s,s:s#}", "status", "unavailable", "reason", reason.data(),
                                          int(reason.size())));
  return json_response(503, body.get());
}

std::span<const Route> breaker_routes() { return kRoutes; }

}  // namespace rdv::admin
