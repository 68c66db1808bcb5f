// /api/v1/verify and /api/v1/verify/keys (ops-spec §5.3 rows 4–5, "Verify endpoints details").
//
// The Go server verifies a request signature against a verdict issuer when one is wired. This
// server has no verdict issuer, so it answers exactly as the spec says for that case: the
// verify POST is 503 `verification not available` and the keys endpoint lists no keys. The
// rest of the contract still holds — POST-only / GET-only, the 8 KiB body cap, the per-IP
// rate limits (60 and 120 per minute, separate buckets) with 429 `Too Many Requests`, and
// CORS `*` on every answer. The `dashboard.verify` breaker is not consulted: this branch has
// no shared breaker reader yet (docs/admin-api.md, "Verify").
#include "worker-admin/rate_window.h"

#include <vector>

#include "shared/util.h"
#include "worker-admin/breakers.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

namespace {

constexpr int64_t kMinuteNs = 60LL * 1000000000;
constexpr size_t kMaxTrackedIps = 10000;

FixedWindowLimiter& verify_limiter() {
  static FixedWindowLimiter l(60, kMinuteNs, kMaxTrackedIps);
  return l;
}
FixedWindowLimiter& keys_limiter() {
  static FixedWindowLimiter l(120, kMinuteNs, kMaxTrackedIps);
  return l;
}

Response with_cors(Response r) {
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

Response handle_verify(const AdminContext& ctx, const Request& req) {
  if (!verify_limiter().allow(limiter_key(req), mono_now_ns())) return with_cors(text_error(429, "Too Many Requests"));
  if (std::string why; !breaker_allows(ctx, "dashboard.verify", &why)) return with_cors(breaker_unavailable(why));
  // No verdict issuer is wired in this server (see the file comment).
  return with_cors(text_error(503, "verification not available"));
}

Response handle_keys(const AdminContext& ctx, const Request& req) {
  if (!keys_limiter().allow(limiter_key(req), mono_now_ns())) return with_cors(text_error(429, "Too Many Requests"));
  if (std::string why; !breaker_allows(ctx, "dashboard.verify", &why)) return with_cors(breaker_unavailable(why));
  JsonPtr body(json_pack("{s:[]}", "keys"));
  return with_cors(json_response(200, body.get()));
}

const Route kRoutes[] = {
    {.pattern = "/api/v1/verify", .methods = "POST", .access = Access::Public, .handler = handle_verify,
     .max_body = 8192},
    {.pattern = "/api/v1/verify/keys", .methods = "GET", .access = Access::Public, .handler = handle_keys},
};

}  // namespace

std::span<const Route> verify_routes() { return kRoutes; }

}  // namespace rdv::admin
