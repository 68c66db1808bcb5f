// Enterprise administration: audit log, webhooks, identity provider, audit export, provisioning, directory sync (wire-protocol §6.8), and their descriptors.
//
// For now only the two writers the identity webhook and validate_token read (tokens.h lists
// the settings and their shapes), kept minimal: set_identity_webhook and set_idp_config.
#include "message_table.h"
#include "outbound.h"
#include "tokens.h"

namespace rdv::registry {

namespace {

const char* status_of(bool enabled) { return enabled ? "enabled" : "disabled"; }

constexpr size_t kMaxSettingBytes = 2048;

std::string url_error(const Request& r, std::string_view url) {
  if (url.size() > kMaxSettingBytes) return "url too long (max " + std::to_string(kMaxSettingBytes) + " bytes)";
  CidrList allowed;
  std::string why;
  if (!parse_cidr_list(r.cfg.allow_private_endpoints, &allowed, &why)) allowed.clear();
  return outbound_url_error(url, allowed);
}

Outcome handle_set_identity_webhook(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  std::string url(r.msg.str("url"));
  if (!url.empty())
    if (std::string e = url_error(r, url); !e.empty()) return Outcome::fail("set_identity_webhook: " + e);
  Write w(r);
  std::string body;
  if (!url.empty()) JsonWriter(body).begin_object().str("url", url).end_object();
  w.put_setting(kIdentityWebhookSetting, body);
  w.audit("identity_webhook.set", 0, 0, {{"url", url}, {"status", status_of(!url.empty())}});
  return Outcome::ok(json_pack("{s:s,s:s}", "type", "set_identity_webhook_ok", "status", status_of(!url.empty())));
}

Outcome handle_set_idp_config(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  std::string type(r.msg.str("idp_type")), url(r.msg.str("url"));
  bool enabled = !type.empty() && !url.empty();
  std::string body, hook;
  if (enabled) {
    if (std::string e = url_error(r, url); !e.empty()) return Outcome::fail("set_idp_config: " + e);
    JsonWriter j(body);
    j.begin_object();
    for (const char* key : {"idp_type", "url", "issuer", "client_id", "tenant_id", "domain"}) {
      std::string_view v = r.msg.str(key);
      if (v.size() > kMaxSettingBytes)
        return Outcome::fail(std::string("set_idp_config: ") + key + " too long (max " +
                             std::to_string(kMaxSettingBytes) + " bytes)");
      j.str(key, v);
    }
    j.end_object();
    JsonWriter(hook).begin_object().str("url", url).end_object();
  }
  Write w(r);
  w.put_setting(kIdpSetting, body);
  w.put_setting(kIdentityWebhookSetting, hook);  // §6.8: the provider's URL is the identity webhook too
  w.audit("idp.set", 0, 0, {{"idp_type", type}, {"url", url}, {"status", status_of(enabled)}});
  json_t* out = json_pack("{s:s,s:s}", "type", "set_idp_config_ok", "status", status_of(enabled));
  if (enabled) json_object_set_new(out, "idp_type", json_stringn(type.data(), type.size()));
  return Outcome::ok(out);
}

const MessageDesc kMessages[] = {
    {.type = "set_identity_webhook", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_identity_webhook, .change = ChangeType::Settings},
    {.type = "set_idp_config", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_idp_config, .change = ChangeType::Settings},
};

}  // namespace

std::span<const MessageDesc> enterprise_messages() { return kMessages; }

}  // namespace rdv::registry
