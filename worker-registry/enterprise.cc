// Enterprise administration (wire-protocol §6.8): the audit log, the audit webhook and its
// dead-letter queue, the identity webhook, the identity-provider configuration and the audit
// export; and the descriptors of every §6.8 message (provisioning and directory sync are in
// provisioning.cc). All are ADMIN; get_audit_log with a network filter also admits that
// network's owners and admins (see handle_get_audit_log).
//
// Configuration only: these handlers store what the operator set (enterprise.h lists the
// records); the deliverer (delivery.h, on this worker's loop) sends the webhook and the export
// from the audit log and keeps the counters and the dead-letter queue these messages report.
#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <tuple>

#include "enterprise.h"
#include "message_table.h"
#include "outbound.h"
#include "util.h"

namespace rdv::registry {

namespace {
// A counter the deliverer keeps (or an event id): a non-negative JSON number, anything else 0.
json_int_t counter(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  if (json_is_integer(v)) return std::max<json_int_t>(0, json_integer_value(v));
  if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9.0e18) return json_int_t(json_real_value(v));
  return 0;
}
}  // namespace

// ---- shared with provisioning.cc (enterprise.h) ----

CidrList allowed_private_endpoints(const Config& cfg) {
  CidrList allowed;
  std::string why;
  if (!parse_cidr_list(cfg.allow_private_endpoints, &allowed, &why)) allowed.clear();
  return allowed;
}

std::string outbound_error(std::string_view url, const CidrList& allowed) {
  if (url.size() > kMaxUrlBytes) return "url too long (max " + std::to_string(kMaxUrlBytes) + " bytes)";
  return outbound_url_error(url, allowed);
}

bool is_idp_type(std::string_view t) {
  return t == "oidc" || t == "saml" || t == "webhook" || t == "entra_id" || t == "ldap";
}

bool is_export_format(std::string_view f) { return f == "json" || f == "splunk_hec" || f == "syslog_cef"; }

std::string export_endpoint_error(std::string_view format, std::string_view endpoint, const CidrList& allowed) {
  if (format != "syslog_cef") return outbound_error(endpoint, allowed);
  if (endpoint.size() > kMaxUrlBytes) return "endpoint too long (max " + std::to_string(kMaxUrlBytes) + " bytes)";
  std::string host, port;
  auto host_char = [](char c) { return std::isalnum(uint8_t(c)) || c == '.' || c == '-' || c == '_' || c == ':'; };
  bool ok = go_split_host_port(endpoint, &host, &port) && !host.empty() &&
            std::all_of(host.begin(), host.end(), host_char) && !port.empty() && port.size() <= 5 &&
            std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            std::stoi(port) >= 1 && std::stoi(port) <= 65535;
  if (!ok) return "invalid syslog_cef endpoint \"" + std::string(endpoint) + "\" (must be host:port)";
  std::string h = lower_ascii(host);
  IpAddr ip;
  if (h == "localhost" || h.ends_with(".localhost")) parse_ip("127.0.0.1", &ip);
  else if (!parse_ip(h, &ip)) return "";  // a DNS name: the deliverer checks what it resolves to
  return outbound_address_error(ip, allowed);
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

JsonPtr setting_object(View& view, std::string_view name) {
  std::string text = view.setting(name);
  if (text.empty()) return nullptr;
  json_error_t err;
  JsonPtr j(json_loadb(text.data(), text.size(), 0, &err));
  if (!json_is_object(j.get())) return nullptr;
  return j;
}

json_t* webhook_dlq_events(const json_t* dlq, size_t* dlq_size) {
  constexpr size_t kShown = 100;  // the last 100 failures (ops-spec §8.5)
  const json_t* stored = json_object_get(dlq, "events");
  size_t total = json_is_array(stored) ? json_array_size(stored) : 0;
  json_t* list = json_array();
  for (size_t i = total > kShown ? total - kShown : 0; i < total; i++) {
    const json_t* ev = json_array_get(stored, i);
    if (!json_is_object(ev)) continue;
    json_t* e = json_object();
    json_object_set_new(e, "event_id", json_integer(counter(ev, "event_id")));
    std::string_view action = json_str(ev, "action"), ts = json_str(ev, "timestamp");
    json_object_set_new(e, "action", json_stringn(action.data(), action.size()));
    json_object_set_new(e, "timestamp", json_stringn(ts.data(), ts.size()));
    const json_t* details = json_object_get(ev, "details");
    if (details && !json_is_null(details)) {
      json_t* copy = json_deep_copy(details);
      audit_redact_json(copy);
      json_object_set_new(e, "details", copy);
    }
    json_array_append_new(list, e);
  }
  *dlq_size = json_array_size(list);
  if (*dlq_size) return list;
  json_decref(list);
  return nullptr;
}

namespace {

const char* status_of(bool enabled) { return enabled ? "enabled" : "disabled"; }

void add_via(AuditAttrs& a, std::string_view via) {
  if (!via.empty()) a.emplace_back("via", std::string(via));
}

}  // namespace

void store_webhook(Write& w, std::string_view url, std::string_view secret, std::string_view via) {
  // A new URL is a new dispatcher: counters and dead letters start over (ops-spec §8.1).
  w.put_setting(kSettingWebhookStats, "");
  w.put_setting(kSettingWebhookDlq, "");
  std::string body;
  if (!url.empty()) {
    JsonWriter j(body);
    j.begin_object().str("url", url);
    if (!secret.empty()) j.str("secret", secret);
    j.end_object();
  }
  w.put_setting(kSettingWebhook, body);
  AuditAttrs a{{"url", std::string(url)}, {"status", status_of(!url.empty())}};
  if (!url.empty()) a.emplace_back("signed", secret.empty() ? "false" : "true");
  add_via(a, via);
  w.audit("webhook.set", 0, 0, a);
}

void store_identity_webhook(Write& w, std::string_view url, std::string_view via) {
  std::string body;
  if (!url.empty()) JsonWriter(body).begin_object().str("url", url).end_object();
  w.put_setting(kIdentityWebhookSetting, body);
  AuditAttrs a{{"url", std::string(url)}, {"status", status_of(!url.empty())}};
  add_via(a, via);
  w.audit("identity_webhook.set", 0, 0, a);
}

void store_idp(Write& w, const IdentityProvider* idp, std::string_view via) {
  std::string body, hook;
  if (idp) {
    JsonWriter(body)
        .begin_object()
        .str("idp_type", idp->idp_type)
        .str("url", idp->url)
        .str("issuer", idp->issuer)
        .str("client_id", idp->client_id)
        .str("tenant_id", idp->tenant_id)
        .str("domain", idp->domain)
        .end_object();
    JsonWriter(hook).begin_object().str("url", idp->url).end_object();
  }
  w.put_setting(kIdpSetting, body);
  // §6.8: the IdP's URL is the identity webhook too; clearing the IdP clears it.
  w.put_setting(kIdentityWebhookSetting, hook);
  AuditAttrs a;
  if (idp) a = {{"idp_type", idp->idp_type}, {"url", idp->url}, {"issuer", idp->issuer}};
  a.emplace_back("status", status_of(idp != nullptr));
  add_via(a, via);
  w.audit("idp.set", 0, 0, a);
}

void store_audit_export(Write& w, const AuditExportConfig* cfg, std::string_view via) {
  w.put_setting(kSettingAuditExportStats, "");  // a new exporter counts from zero
  std::string body;
  if (cfg)
    JsonWriter(body)
        .begin_object()
        .str("format", cfg->format)
        .str("endpoint", cfg->endpoint)
        .str("token", cfg->token)
        .str("index", cfg->index)
        .str("source", cfg->source)
        .end_object();
  w.put_setting(kSettingAuditExport, body);
  // Never the token.
  AuditAttrs a;
  if (cfg) a = {{"format", cfg->format}, {"endpoint", cfg->endpoint}};
  a.emplace_back("status", status_of(cfg != nullptr));
  add_via(a, via);
  w.audit("audit_export.set", 0, 0, a);
}

namespace {

constexpr uint32_t kAuditDefaultLimit = 100;
constexpr uint32_t kAuditMaxLimit = 1000;
// A filtered read examines at most this many entries per turn (the log may keep up to
// -audit-keep = 10 million), then goes on in the next pass (Outcome::more).
constexpr size_t kAuditScanPerTurn = 4096;

std::string too_long(std::string_view key, size_t max) {
  return std::string(key) + " too long (max " + std::to_string(max) + " bytes)";
}

// A top-level string argument: a non-string reads as "" (wire §3.1), a long one is refused.
std::string string_arg(const Message& m, std::string_view key, size_t max, std::string* out) {
  *out = std::string(m.str(key));
  return out->size() > max ? too_long(key, max) : "";
}

json_t* jstr(std::string_view s) { return json_stringn(s.data(), s.size()); }

void write_audit_entry(std::string& body, const AuditEntry& e) {
  if (body.back() != '[') body += ',';
  JsonWriter w(body);
  w.begin_object().str("timestamp", rfc3339_utc(e.timestamp)).str("action", e.action);
  if (e.network_id) w.num("network_id", e.network_id);
  if (e.node_id) w.num("node_id", e.node_id);
  if (!e.details.empty()) w.str("details", e.details);
  if (!e.prev_hash.empty()) w.str("prev_hash", e.prev_hash);
  w.str("hash", e.hash).end_object();
}

// Who may read the log: the admin token reads everything. With a network filter, ROLE(owner,
// admin) of that network also may (ops-spec §7.5 "admin/role-gated"): a network's own
// administrators see its entries, and only its entries.
std::string audit_reader_error(Request& r, uint16_t net) {
  if (net == 0) return r.admin();
  std::string err = r.role(net, {"owner", "admin"});
  // No node_id: only a token could have admitted the caller; the global token's own error
  // ("invalid admin token") says more than "rbac: node_id required".
  if (!err.empty() && r.msg.u32("node_id") == 0 && err.find("not found") == std::string::npos) return r.admin();
  return err;
}

// Newest first: the log is contiguous from its oldest kept sequence to its newest, so the read
// walks down from the newest until `limit` entries matched or the oldest was passed. The
// resume point is [u64 next sequence][u32 entries so far].
Outcome handle_get_audit_log(Request& r) {
  uint16_t net = r.msg.u16("network_id");
  uint32_t limit = r.msg.u32("limit");
  if (limit == 0 || limit > kAuditMaxLimit) limit = kAuditDefaultLimit;  // as the Go server
  uint64_t seq = 0;
  uint32_t count = 0;
  if (r.resume->empty()) {
    if (std::string err = audit_reader_error(r, net); !err.empty()) return Outcome::fail(err);
    Cursor c(r.view.txn(), Db::Audit);
    if (c.last()) seq = read_u64(c.key());
    r.view.note(c.error());
    *r.partial = "{\"type\":\"get_audit_log_ok\",\"entries\":[";
  } else {
    seq = read_u64(std::string_view(*r.resume).substr(0, 8));
    count = read_u32(std::string_view(*r.resume).substr(8, 4));
  }
  std::string& body = *r.partial;
  for (size_t scanned = 0; seq > 0 && count < limit; seq--) {
    if (scanned++ == kAuditScanPerTurn) {
      *r.resume = key_u64(seq) + key_u32(count);
      return Outcome::more();
    }
    std::string_view v;
    int rc = r.view.txn().get(Db::Audit, key_u64(seq), &v);
    if (rc) {
      r.view.note(rc);
      break;  // past the oldest kept entry
    }
    AuditEntry e;
    if (!decode_audit(v, &e) || (net && e.network_id != net)) continue;
    write_audit_entry(body, e);
    count++;
  }
  body += "]}";
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_set_webhook(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  std::string url, secret;
  if (std::string e = string_arg(r.msg, "url", kMaxUrlBytes, &url); !e.empty()) return Outcome::fail("set_webhook: " + e);
  // The HMAC key of X-Pilot-Signature-256 (ops-spec §8.3); stored, never shown.
  if (std::string e = string_arg(r.msg, "secret", kMaxFieldBytes, &secret); !e.empty())
    return Outcome::fail("set_webhook: " + e);
  if (!url.empty())
    if (std::string e = outbound_error(url, allowed_private_endpoints(r.cfg)); !e.empty())
      return Outcome::fail("set_webhook: " + e);
  Write w(r);
  store_webhook(w, url, secret);
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("set_webhook_ok"));
  json_object_set_new(out, "status", json_string(status_of(!url.empty())));
  json_object_set_new(out, "url", jstr(url));
  return Outcome::ok(out);
}

Outcome handle_get_webhook(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  JsonPtr hook = setting_object(r.view, kSettingWebhook);
  JsonPtr stats = setting_object(r.view, kSettingWebhookStats);
  JsonPtr dlq = setting_object(r.view, kSettingWebhookDlq);
  std::string_view url = json_str(hook.get(), "url");
  size_t dlq_size = 0;
  if (json_t* events = webhook_dlq_events(dlq.get(), &dlq_size)) json_decref(events);
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("get_webhook_ok"));
  json_object_set_new(out, "enabled", json_boolean(!url.empty()));
  json_object_set_new(out, "url", jstr(url));
  json_object_set_new(out, "delivered", json_integer(counter(stats.get(), "delivered")));
  json_object_set_new(out, "failed", json_integer(counter(stats.get(), "failed")));
  json_object_set_new(out, "dropped", json_integer(counter(stats.get(), "dropped")));
  json_object_set_new(out, "dlq_size", json_integer(json_int_t(dlq_size)));
  return Outcome::ok(out);
}

// The last 100 failed deliveries, details redacted when read (RedactMap, ops-spec §7.4/§8.5).
Outcome handle_get_webhook_dlq(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  JsonPtr dlq = setting_object(r.view, kSettingWebhookDlq);
  size_t count = 0;
  json_t* events = webhook_dlq_events(dlq.get(), &count);
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("get_webhook_dlq_ok"));
  json_object_set_new(out, "events", events ? events : json_null());  // no failures: null, as the original
  json_object_set_new(out, "count", json_integer(json_int_t(count)));
  return Outcome::ok(out);
}

Outcome handle_set_identity_webhook(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  std::string url;
  if (std::string e = string_arg(r.msg, "url", kMaxUrlBytes, &url); !e.empty())
    return Outcome::fail("set_identity_webhook: " + e);
  if (!url.empty())
    if (std::string e = outbound_error(url, allowed_private_endpoints(r.cfg)); !e.empty())
      return Outcome::fail("set_identity_webhook: " + e);
  Write w(r);
  store_identity_webhook(w, url);
  return Outcome::ok(json_pack("{s:s,s:s}", "type", "set_identity_webhook_ok", "status", status_of(!url.empty())));
}

Outcome handle_set_idp_config(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  IdentityProvider idp;
  for (auto [key, field, max] : {std::tuple{"idp_type", &idp.idp_type, kMaxFieldBytes}, {"url", &idp.url, kMaxUrlBytes},
                                 {"issuer", &idp.issuer, kMaxUrlBytes}, {"client_id", &idp.client_id, kMaxFieldBytes},
                                 {"tenant_id", &idp.tenant_id, kMaxFieldBytes}, {"domain", &idp.domain, kMaxFieldBytes}})
    if (std::string e = string_arg(r.msg, key, max, field); !e.empty()) return Outcome::fail("set_idp_config: " + e);
  // As the original: without a type or a URL the identity provider is switched off.
  if (idp.idp_type.empty() || idp.url.empty()) {
    Write w(r);
    store_idp(w, nullptr);
    return Outcome::ok(json_pack("{s:s,s:s}", "type", "set_idp_config_ok", "status", "disabled"));
  }
  if (!is_idp_type(idp.idp_type))
    return Outcome::fail("set_idp_config: invalid idp_type \"" + idp.idp_type +
                         "\" (must be oidc, saml, webhook, entra_id or ldap)");
  if (std::string e = outbound_error(idp.url, allowed_private_endpoints(r.cfg)); !e.empty())
    return Outcome::fail("set_idp_config: " + e);
  Write w(r);
  store_idp(w, &idp);
  json_t* out = json_pack("{s:s,s:s}", "type", "set_idp_config_ok", "status", "enabled");
  json_object_set_new(out, "idp_type", jstr(idp.idp_type));
  return Outcome::ok(out);
}

Outcome handle_get_idp_config(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  JsonPtr idp = setting_object(r.view, kIdpSetting);
  bool configured = !json_str(idp.get(), "idp_type").empty() && !json_str(idp.get(), "url").empty();
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("get_idp_config_ok"));
  json_object_set_new(out, "configured", json_boolean(configured));
  if (configured) {
    json_object_set_new(out, "idp_type", jstr(json_str(idp.get(), "idp_type")));
    json_object_set_new(out, "url", jstr(json_str(idp.get(), "url")));
    for (const char* key : {"issuer", "client_id", "tenant_id", "domain"})
      if (std::string_view v = json_str(idp.get(), key); !v.empty()) json_object_set_new(out, key, jstr(v));
  }
  return Outcome::ok(out);
}

Outcome handle_set_audit_export(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  AuditExportConfig cfg;
  for (auto [key, field, max] :
       {std::tuple{"format", &cfg.format, kMaxFieldBytes}, {"endpoint", &cfg.endpoint, kMaxUrlBytes},
        {"token", &cfg.token, kMaxFieldBytes}, {"index", &cfg.index, kMaxFieldBytes},
        {"source", &cfg.source, kMaxFieldBytes}})
    if (std::string e = string_arg(r.msg, key, max, field); !e.empty()) return Outcome::fail("set_audit_export: " + e);
  if (cfg.format.empty() || cfg.endpoint.empty()) {
    Write w(r);
    store_audit_export(w, nullptr);
    return Outcome::ok(json_pack("{s:s,s:s}", "type", "set_audit_export_ok", "status", "disabled"));
  }
  // The original let an unknown format through without the URL check, then delivered it as
  // json: an SSRF hole. Unknown formats are refused.
  if (!is_export_format(cfg.format))
    return Outcome::fail("set_audit_export: invalid format \"" + cfg.format + "\" (must be json, splunk_hec or syslog_cef)");
  if (std::string e = export_endpoint_error(cfg.format, cfg.endpoint, allowed_private_endpoints(r.cfg)); !e.empty())
    return Outcome::fail("set_audit_export: " + e);
  Write w(r);
  store_audit_export(w, &cfg);
  json_t* out = json_pack("{s:s,s:s}", "type", "set_audit_export_ok", "status", "enabled");
  json_object_set_new(out, "format", jstr(cfg.format));
  json_object_set_new(out, "endpoint", jstr(cfg.endpoint));
  return Outcome::ok(out);
}

Outcome handle_get_audit_export(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  JsonPtr cfg = setting_object(r.view, kSettingAuditExport);
  std::string_view format = json_str(cfg.get(), "format"), endpoint = json_str(cfg.get(), "endpoint");
  bool enabled = !format.empty() && !endpoint.empty();
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("get_audit_export_ok"));
  json_object_set_new(out, "enabled", json_boolean(enabled));
  if (enabled) {
    JsonPtr stats = setting_object(r.view, kSettingAuditExportStats);
    json_object_set_new(out, "format", jstr(format));
    json_object_set_new(out, "endpoint", jstr(endpoint));
    json_object_set_new(out, "exported", json_integer(counter(stats.get(), "exported")));
    json_object_set_new(out, "dropped", json_integer(counter(stats.get(), "dropped")));
  }
  return Outcome::ok(out);
}

const MessageDesc kMessages[] = {
    // ADMIN; with a network_id filter also ROLE(owner, admin) of that network.
    {.type = "get_audit_log", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_audit_log},
    {.type = "set_webhook", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_webhook, .change = ChangeType::Settings},
    {.type = "get_webhook", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_webhook},
    {.type = "get_webhook_dlq", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_webhook_dlq},
    {.type = "set_identity_webhook", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_identity_webhook, .change = ChangeType::Settings},
    {.type = "set_idp_config", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_idp_config, .change = ChangeType::Settings},
    {.type = "get_idp_config", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_idp_config},
    {.type = "set_audit_export", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_audit_export, .change = ChangeType::Settings},
    {.type = "get_audit_export", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_audit_export},
    {.type = "provision_network", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_provision_network, .change = ChangeType::Network},
    {.type = "get_provision_status", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_provision_status},
    {.type = "directory_sync", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_directory_sync, .change = ChangeType::Membership},
    {.type = "directory_status", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_directory_status},
};

}  // namespace

std::span<const MessageDesc> enterprise_messages() { return kMessages; }

}  // namespace rdv::registry
