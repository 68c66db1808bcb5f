// /api/breakers and /api/breakers/{name} (ops-spec §9.4). The list comes from the registry
// (it owns the counters); changes are the registry's breaker_set / breaker_delete messages,
// which validate, rewrite breakers.json atomically and audit.
#include "worker-admin/breakers.h"

#include <map>

#include "shared/breakers.h"
#include "worker-admin/operator_call.h"

namespace rdv::admin {

namespace {

breakers::FileBreakers& admin_breakers() {
  static breakers::FileBreakers b;
  return b;
}

// The registry's list (its gates' counters) with this worker's own consultations
// (dashboard.public_stats, dashboard.verify) folded in, sorted by name.
Response handle_list(const AdminContext& ctx, const Request&) {
  JsonPtr reply;
  if (auto refused = operator_call(ctx, json_pack("{s:s}", "type", "breakers_status"), &reply, 503)) return *refused;
  std::map<std::string, JsonPtr> rows;
  size_t i;
  json_t* e;
  json_array_foreach(json_object_get(reply.get(), "breakers"), i, e) rows[std::string(json_str(e, "name"))] = JsonPtr(json_incref(e));
  for (const breakers::FileBreakers::Counted& c : admin_breakers().counted()) {
    JsonPtr& row = rows[c.name];
    if (!row) {
      row.reset(json_pack("{s:s,s:s,s:i,s:i}", "name", c.name.c_str(), "state", breakers::state_name(c.breaker.state),
                          "allowed_total", 0, "denied_total", 0));
      if (!c.breaker.reason.empty()) json_object_set_new(row.get(), "reason", json_string(c.breaker.reason.c_str()));
    }
    json_t* r = row.get();
    json_object_set_new(r, "allowed_total", json_integer(json_integer_value(json_object_get(r, "allowed_total")) + json_int_t(c.allowed)));
    json_object_set_new(r, "denied_total", json_integer(json_integer_value(json_object_get(r, "denied_total")) + json_int_t(c.denied)));
    if (c.last_denied_at > json_integer_value(json_object_get(r, "last_denied_at")))
      json_object_set_new(r, "last_denied_at", json_integer(c.last_denied_at));
  }
  json_t* list = json_array();
  for (auto& [_, row] : rows) json_array_append(list, row.get());
  JsonPtr body(json_pack("{s:o}", "breakers", list));
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
    // The empty name (§9.4: 400, not 404).
    {.pattern = "/api/breakers/", .methods = "PUT, POST, DELETE", .access = Access::Admin, .handler = handle_one,
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
