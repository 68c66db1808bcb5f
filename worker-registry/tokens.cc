// validate_token: JWTs against the identity provider (wire-protocol §6.1.8), the identity
// webhook's answers for register (§6.1.1 step 2), and their descriptors.
//
// Both need a remote server. Neither handler calls it: each descriptor's outbound step
// (MessageDesc::fetch) says which call its request needs when the request's turn comes, the
// loop makes the call (fetcher.h) while everyone else is served, and the handler reads the
// result from Request::fetched. validate_token is a read: it runs on the loop once the JWKS is
// there (fetched for it, or still cached from an earlier request).
#include "tokens.h"

#include "json.h"
#include "jwt.h"
#include "message_table.h"
#include "registry.h"

namespace rdv::registry {

namespace {

JsonPtr parse_setting(View& view, std::string_view name) {
  std::string text = view.setting(name);
  if (text.empty()) return nullptr;
  json_error_t err;
  JsonPtr j(json_loadb(text.data(), text.size(), 0, &err));
  return json_is_object(j.get()) ? std::move(j) : nullptr;
}

std::string member(const json_t* obj, const char* key) { return std::string(json_str(obj, key)); }

}  // namespace

bool read_identity_provider(View& view, IdentityProvider* out) {
  JsonPtr j = parse_setting(view, kIdpSetting);
  if (!j) return false;
  *out = IdentityProvider{member(j.get(), "idp_type"), member(j.get(), "url"),       member(j.get(), "issuer"),
                   member(j.get(), "client_id"), member(j.get(), "tenant_id"), member(j.get(), "domain")};
  return !out->url.empty();
}

std::string identity_webhook_url(View& view) {
  JsonPtr j = parse_setting(view, kIdentityWebhookSetting);
  return j ? member(j.get(), "url") : "";
}

OutboundCall identity_webhook_call(std::string url, std::string_view token) {
  OutboundCall c;
  c.url = std::move(url);
  JsonWriter(c.body).begin_object().str("token", token).end_object();
  c.timeout_ms = kIdentityWebhookTimeoutMs;
  return c;
}

std::string identity_webhook_verdict(const HttpResult& result, std::string* external_id) {
  if (!result.error.empty()) return "identity verification failed: " + result.error;
  if (result.status != 200) return "identity webhook returned status " + std::to_string(result.status);
  json_error_t err;
  JsonPtr j(json_loadb(result.body.data(), result.body.size(), 0, &err));
  if (!json_is_object(j.get())) return "identity verification failed: unparsable webhook reply";
  const json_t* verified = json_object_get(j.get(), "verified");
  const json_t* ext = json_object_get(j.get(), "external_id");
  const json_t* why = json_object_get(j.get(), "error");
  if ((verified && !json_is_boolean(verified) && !json_is_null(verified)) ||
      (ext && !json_is_string(ext) && !json_is_null(ext)) || (why && !json_is_string(why) && !json_is_null(why)))
    return "identity verification failed: unparsable webhook reply";
  if (!json_is_true(verified)) {
    std::string reason = json_str(j.get(), "error").empty() ? "token not verified" : member(j.get(), "error");
    return "identity verification rejected: " + reason;
  }
  std::string id = member(j.get(), "external_id");
  if (id.empty()) return "identity webhook returned empty external_id";
  if (id.size() > kMaxExternalIdBytes)
    return "identity webhook returned an external_id too long (max " + std::to_string(kMaxExternalIdBytes) + " bytes)";
  *external_id = std::move(id);
  return "";
}

namespace {

// ---- validate_token ----

// What the checks before the keys established.
struct Prelude {
  IdentityProvider idp;
  jwt::Token token;
};

// A claim or signature failure: a success reply saying so. The Go server put the reason in an
// "error" member, which the official client reads as a failed call (client-expectations D3):
// here it is "reason".
Outcome unverified(const std::string& reason) {
  return Outcome::ok(json_pack("{s:s,s:b,s:s%}", "type", "validate_token_ok", "verified", 0, "reason", reason.data(),
                               reason.size()));
}

// The checks that need no keys, in the Go server's order: admin, token, provider configured,
// token decodes, claims hold, algorithm supported. False with *answer set when they answer.
bool prelude(Request& r, Prelude* p, Outcome* answer) {
  if (const std::string& err = r.admin(); !err.empty()) {
    *answer = Outcome::fail(err);
    return false;
  }
  std::string_view token = r.msg.str("token");
  if (token.empty()) {
    *answer = Outcome::fail("token is required");
    return false;
  }
  if (token.size() > kMaxTokenBytes) {
    *answer = Outcome::fail("token too long (max " + std::to_string(kMaxTokenBytes) + " bytes)");
    return false;
  }
  if (!read_identity_provider(r.view, &p->idp)) {
    *answer = Outcome::fail("no identity provider configured");
    return false;
  }
  if (std::string why = jwt::decode(token, &p->token); !why.empty()) {
    *answer = Outcome::fail("invalid token: " + why);
    return false;
  }
  if (std::string why = jwt::check_claims(p->token.claims, p->idp.issuer, p->idp.client_id, r.now_ns / 1000000000);
      !why.empty()) {
    *answer = unverified(why);
    return false;
  }
  if (!jwt::supported_alg(p->token.header.alg)) {
    *answer = Outcome::fail("unsupported JWT algorithm: " + p->token.header.alg);
    return false;
  }
  return true;
}

// A JWKS response, read. "" or the reason (then prefixed "JWKS: ").
std::string jwks_from(const HttpResult& res, jwt::Jwks* out) {
  if (!res.error.empty()) return "fetch JWKS: " + res.error;
  if (res.status != 200) return "JWKS endpoint returned status " + std::to_string(res.status);
  return jwt::parse_jwks(res.body, out);
}

// Keeps a good JWKS for the next requests (5 minutes, Registry::cached_jwks).
void keep_jwks(Registry& state, const HttpResult& res, int64_t now_ns) {
  jwt::Jwks keys;
  if (!jwks_from(res, &keys).empty() || keys.keys.empty()) return;
  state.cache_jwks(res.url, std::move(keys), now_ns);
}

// The outbound step: the JWKS, unless the request is answered before it needs the keys or the
// keys are cached.
std::optional<OutboundCall> validate_token_fetch(Request& r) {
  Prelude p;
  Outcome ignored;
  if (!prelude(r, &p, &ignored)) return std::nullopt;
  if (r.state && r.state->cached_jwks(p.idp.url, r.now_ns)) return std::nullopt;
  OutboundCall c;
  c.url = p.idp.url;
  c.timeout_ms = kJwksTimeoutMs;
  c.keep = keep_jwks;
  return c;
}

Outcome handle_validate_token(Request& r) {
  Prelude p;
  Outcome answer;
  if (!prelude(r, &p, &answer)) return answer;
  jwt::Jwks fetched;
  const jwt::Jwks* keys = nullptr;
  if (r.fetched) {
    // The keys fetched for this request (a settings change may have come in meanwhile).
    if (r.fetched->url != p.idp.url)
      return Outcome::fail("JWKS: the identity provider changed while its keys were fetched; retry");
    if (std::string why = jwks_from(*r.fetched, &fetched); !why.empty()) return Outcome::fail("JWKS: " + why);
    keys = &fetched;
  } else {
    // The outbound step found them cached a moment ago, in this same loop turn.
    keys = r.state ? r.state->cached_jwks(p.idp.url, r.now_ns) : nullptr;
    if (!keys) return Outcome::fail("JWKS: keys not fetched");
  }
  const jwt::Jwk* key = nullptr;
  if (std::string why = jwt::select_key(*keys, p.token.header.kid, &key); !why.empty())
    return Outcome::fail("JWKS: " + why);
  jwt::SignatureCheck check = jwt::check_signature(p.token, *key);
  if (check.hard_error) return Outcome::fail(check.reason);
  if (!check.valid) return unverified(check.reason);
  const jwt::Claims& c = p.token.claims;
  return Outcome::ok(json_pack("{s:s,s:b,s:s%,s:s%}", "type", "validate_token_ok", "verified", 1, "subject",
                               c.sub.data(), c.sub.size(), "issuer", c.iss.data(), c.iss.size()));
}

const MessageDesc kMessages[] = {
    {.type = "validate_token", .access = Access::Read, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_validate_token, .fetch = validate_token_fetch},
};

}  // namespace

std::span<const MessageDesc> tokens_messages() { return kMessages; }

}  // namespace rdv::registry
