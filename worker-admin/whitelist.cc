// /api/admin/whitelist (ops-spec §10.4). GET reads the file the registry's watcher reads;
// PUT/POST send the registry's whitelist_set message, which validates the set with the
// watcher's own parser (400 when invalid), writes the file atomically and audits whitelist.set.
#include "shared/files.h"
#include "worker-admin/operator_call.h"

namespace rdv::admin {

namespace {

constexpr size_t kMaxWhitelistBytes = 1 << 20;

std::string whitelist_path(const Config& cfg) {
  return cfg.rate_limit_whitelist.empty() ? cfg.data_dir + "/rate-limit-whitelist.json" : cfg.rate_limit_whitelist;
}

Response handle_get(const AdminContext& ctx) {
  std::string text, err;
  bool exists = false;
  if (!read_small_file(whitelist_path(*ctx.config->get()), kMaxWhitelistBytes, &text, &exists, &err))
    return text_error(500, "whitelist read failed");  // the path is the deployment's business
  if (!exists) {
    JsonPtr body(json_pack("{s:[],s:i}", "entries", "count", 0));
    return json_response(200, body.get());
  }
  json_error_t jerr;
  JsonPtr doc(json_loadb(text.data(), text.size(), 0, &jerr));
  json_t* list = doc.get();
  if (json_is_object(list)) list = json_object_get(list, "entries");
  if (!json_is_array(list)) {
    std::string why = doc ? "expected an array of {\"cidr\",\"rate\"} entries" : jerr.text;
    JsonPtr body(json_pack("{s:[],s:i,s:s#,s:s#}", "entries", "count", 0, "parse_error", why.data(), int(why.size()),
                           "raw", text.data(), int(text.size())));
    return json_response(200, body.get());
  }
  JsonPtr body(json_pack("{s:O,s:I}", "entries", list, "count", json_int_t(json_array_size(list))));
  return json_response(200, body.get());
}

Response handle_whitelist(const AdminContext& ctx, const Request& req) {
  if (req.method == "GET") return handle_get(ctx);
  json_error_t jerr;
  JsonPtr doc(json_loadb(req.body.data(), req.body.size(), 0, &jerr));
  json_t* list = doc.get();
  if (json_is_object(list)) list = json_object_get(list, "entries");
  if (!json_is_array(list)) {
    std::string why = doc ? "neither shape" : jerr.text;
    return text_error(400, "bad request: body must be {entries:[…]} or [{cidr,rate}…]: " + why);
  }
  std::string reason = req.query_value("reason").value_or("");
  JsonPtr reply;
  if (auto refused = operator_call(ctx,
                                   json_pack("{s:s,s:O,s:s#}", "type", "whitelist_set", "entries", list, "reason",
                                             reason.data(), int(reason.size())),
                                   &reply))
    return *refused;
  JsonPtr body(json_pack("{s:b,s:I}", "ok", 1, "count", json_int_t(json_array_size(list))));
  return json_response(200, body.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/admin/whitelist", .methods = "GET, PUT, POST", .access = Access::Admin,
     .handler = handle_whitelist, .max_body = kMaxWhitelistBytes},
};

}  // namespace

std::span<const Route> whitelist_routes() { return kRoutes; }

}  // namespace rdv::admin
