// The identity provider as the registry sees it (tokens.cc): its settings, the identity webhook
// register calls (wire-protocol §6.1.1 step 2) and the JWKS validate_token fetches (§6.1.8).
//
// Settings (store.h settings database, JSON text, written by set_identity_webhook and
// set_idp_config):
//   "identity_webhook"  {"url":"…"}
//   "idp"               {"idp_type","url","issuer","client_id","tenant_id","domain"}; `url` is
//                       where the JWKS is fetched
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "outbound_call.h"
#include "request.h"

namespace rdv::registry {

inline constexpr std::string_view kIdentityWebhookSetting = "identity_webhook";
inline constexpr std::string_view kIdpSetting = "idp";

inline constexpr int kIdentityWebhookTimeoutMs = 5000;
inline constexpr int kJwksTimeoutMs = 10000;
// A JWT of a real identity provider is a few KiB; the limit keeps what the registry forwards
// (and parses) small.
inline constexpr size_t kMaxTokenBytes = 16384;
// What a verified external id may be: it is stored on the node.
inline constexpr size_t kMaxExternalIdBytes = 256;

struct IdentityProvider {
  std::string idp_type, url, issuer, client_id, tenant_id, domain;
};

// The configured identity provider; false when none is (unset, or a `url` that is empty).
bool read_identity_provider(View& view, IdentityProvider* out);
// The identity webhook's URL, "" when none is configured.
std::string identity_webhook_url(View& view);

// The identity webhook call for `token`: POST {"token":…}, 5 s.
OutboundCall identity_webhook_call(std::string url, std::string_view token);
// What the webhook's answer means for register: "" with *external_id set when the token is
// verified, otherwise the registration's error ("identity verification failed: <reason>",
// "identity webhook returned status N", "identity verification rejected: <reason>",
// "identity webhook returned empty external_id").
std::string identity_webhook_verdict(const HttpResult& result, std::string* external_id);

}  // namespace rdv::registry
