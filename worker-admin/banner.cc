// /api/banner (ops-spec §5.3 row 8): GET reads the store; PUT/POST send the registry's
// banner_set message (validated, audited banner.set, refused on a standby).
#include "worker-admin/banner.h"

#include <cctype>

#include "shared/json.h"
#include "worker-admin/operator_call.h"

namespace rdv::admin {

std::optional<std::string> stored_banner(Env& env) {
  Txn txn;
  if (env.begin_read(&txn)) return std::nullopt;
  std::string_view v;
  if (txn.get(Db::Settings, kBannerSetting, &v)) return std::nullopt;
  JsonPtr j(json_loadb(v.data(), v.size(), 0, nullptr));
  const json_t* text = json_object_get(j.get(), "banner");
  if (!json_is_string(text)) return std::nullopt;
  return std::string(json_string_value(text), json_string_length(text));
}

std::string read_banner(Env& env, std::string_view fallback) {
  if (auto b = stored_banner(env)) return *b;
  return std::string(fallback);
}

namespace {

Response handle_banner(const AdminContext& ctx, const Request& req) {
  if (req.method == "GET") {
    std::string text = read_banner(*ctx.env, ctx.config->get()->maintenance_banner);
    JsonPtr body(json_pack("{s:s#}", "banner", text.data(), int(text.size())));
    return json_response(200, body.get());
  }
  std::string_view text = req.body;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  JsonPtr reply;
  if (auto refused = operator_call(ctx, json_pack("{s:s,s:s#}", "type", "banner_set", "banner", text.data(), int(text.size())),
                                   &reply))
    return *refused;
  JsonPtr body(json_pack("{s:b,s:s#}", "ok", 1, "banner", text.data(), int(text.size())));
  return json_response(200, body.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/banner", .methods = "GET, PUT, POST", .access = Access::Admin, .handler = handle_banner,
     .max_body = kMaxBannerBytes},
};

}  // namespace

std::span<const Route> banner_routes() { return kRoutes; }

}  // namespace rdv::admin
