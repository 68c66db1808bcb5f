// What enterprise.cc (audit log, webhooks, identity provider, audit export: wire-protocol §6.8)
// and provisioning.cc (provision_network, get_provision_status, directory_sync,
// directory_status) share: the enterprise settings and how they are stored, the outbound-URL
// checks, the blueprint parser, and the handlers provisioning.cc defines for enterprise.cc's
// message table.
//
// The settings live in the settings database (store.h), one JSON object per name, so they
// survive restarts and reach standbys like every other record (the original kept the webhook
// URL in memory only and lost it on restart). Their shapes are a contract with other readers
// (tokens.cc reads "idp"; the audit deliverer, delivery.h, reads "webhook" and "audit_export"
// and keeps the *_stats records, with its cursor, and "webhook_dlq"):
//
//   webhook             {"url","secret"?}                  the audit webhook (secret: HMAC key)
//   webhook_stats       {"delivered","failed","dropped","cursor"}   absent = zeros
//   webhook_dlq         {"events":[{"event_id","action","timestamp","details"?}]}  absent = none
//   identity_webhook    {"url"}
//   idp                 {"idp_type","url","issuer","client_id","tenant_id","domain"}
//   audit_export        {"format","endpoint","token","index","source"}
//   audit_export_stats  {"exported","dropped","cursor"}    absent = zeros
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cidr.h"
#include "request.h"
#include "tokens.h"

namespace rdv::registry {

inline constexpr std::string_view kSettingWebhook = "webhook";
inline constexpr std::string_view kSettingWebhookStats = "webhook_stats";
inline constexpr std::string_view kSettingWebhookDlq = "webhook_dlq";
// identity_webhook and idp: kIdentityWebhookSetting and kIdpSetting in tokens.h (their reader).
inline constexpr std::string_view kSettingAuditExport = "audit_export";
inline constexpr std::string_view kSettingAuditExportStats = "audit_export_stats";

// Input limits of the enterprise messages (errors say "too long" / "too many", so they reach
// the client verbatim through the sanitiser).
inline constexpr size_t kMaxUrlBytes = 2048;         // every URL and endpoint
inline constexpr size_t kMaxFieldBytes = 256;        // every other string
inline constexpr size_t kMaxDirectoryEntries = 10000;
inline constexpr size_t kMaxBlueprintRoles = 10000;
inline constexpr size_t kMaxEntryGroups = 256;

struct AuditExportConfig {
  std::string format, endpoint, token, index, source;
};

// The ranges -allow-private-endpoints lets outbound calls reach (validated at start-up by
// Config::validate, so a parse failure cannot happen here; it would read as "none").
CidrList allowed_private_endpoints(const Config& cfg);

// Why `url` may not be an outbound URL (length, outbound_url_error), or "".
std::string outbound_error(std::string_view url, const CidrList& allowed);

// The identity-provider types and audit-export formats the blueprint of the common library
// accepts.
bool is_idp_type(std::string_view type);
bool is_export_format(std::string_view format);
// Why `endpoint` may not receive `format` exports, or "": json and splunk_hec POST to an
// http(s) URL (outbound_error); syslog_cef sends to a raw host:port, whose host gets the same
// address check when it is an IP literal or localhost.
std::string export_endpoint_error(std::string_view format, std::string_view endpoint, const CidrList& allowed);

// The settings writers. Each stores (or, with an empty/absent value, deletes) its record
// through `w` and writes its audit entry (webhook.set, identity_webhook.set, idp.set,
// audit_export.set; `via` non-empty adds a via=<via> attribute). Secrets are never put in the
// audit details. Replacing or clearing the webhook resets its counters and dead-letter queue
// (a new dispatcher, ops-spec §8.1); clearing the IdP clears the identity webhook too.
void store_webhook(Write& w, std::string_view url, std::string_view secret, std::string_view via = {});
void store_identity_webhook(Write& w, std::string_view url, std::string_view via = {});
void store_idp(Write& w, const IdentityProvider* idp, std::string_view via = {});
void store_audit_export(Write& w, const AuditExportConfig* cfg, std::string_view via = {});

// A settings record as a JSON object, or null when unset or unreadable.
JsonPtr setting_object(View& view, std::string_view name);

// What get_webhook_dlq shows of a webhook_dlq record (null = none): its last 100 events, each
// {"event_id","action","timestamp","details"?} with the details redacted (RedactMap, ops-spec
// §7.4/§8.5), oldest first. Returns a new array, or null when there is no event (the reply's
// "events":null). *dlq_size receives how many the queue holds (at most 100 are kept).
json_t* webhook_dlq_events(const json_t* dlq, size_t* dlq_size);

// ---- blueprints (provision_network, wire §6.8; the common library's NetworkBlueprint) ----

struct Blueprint {
  std::string name;
  std::string join_rule;  // "" = open
  std::string join_token;
  std::string network_admin_token;
  bool enterprise = false;
  // policy: only the keys present change
  bool has_policy = false;
  bool has_max_members = false;
  uint32_t max_members = 0;
  bool has_allowed_ports = false;
  std::vector<uint16_t> allowed_ports;  // de-duplicated, in order
  bool has_description = false;
  std::string description;
  std::string expr_policy;  // canonical compact JSON text; "" = none
  std::vector<std::pair<std::string, std::string>> roles;  // external_id, role
  bool has_idp = false;
  IdentityProvider idp;
  std::string audit_url, identity_url;  // webhooks; "" = leave as is
  bool has_audit_export = false;
  AuditExportConfig audit_export;
};

// Parses and validates a blueprint object (as decoded from the request: numbers are doubles).
// Returns "" with *out filled, or the reason (without the "invalid blueprint: " prefix), in
// the check order of the common library's ValidateBlueprint, with this server's own checks
// (types, sizes, the network-name rule, the policy limits of set_network_policy) added.
std::string parse_blueprint(const json_t* blueprint, const CidrList& allowed, Blueprint* out);

// Reals that hold whole numbers become integers, recursively: request values arrive with
// every number as a double, and a stored policy must read back as {"version":1}, not 1.0.
void json_integralize(json_t* value);

// Lower-case ASCII: external ids match case-insensitively (pre-assignment keys, sync).
std::string lower_ascii(std::string_view s);

// ---- handlers defined in provisioning.cc ----
Outcome handle_provision_network(Request& r);
Outcome handle_get_provision_status(Request& r);
Outcome handle_directory_sync(Request& r);
Outcome handle_directory_status(Request& r);

}  // namespace rdv::registry
