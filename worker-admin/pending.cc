// /api/admin/pending: the pending-registration accept queue (-accept-mode manual).
// The list is read straight from the store (the admin worker's read transaction); approving
// and rejecting are the registry's pending_approve / pending_reject messages, so the registry
// stays the single writer and audits the operator's reason.
#include <cctype>
#include <charconv>

#include "worker-admin/pending.h"

#include "shared/accept_queue.h"
#include "worker-admin/operator_call.h"

namespace rdv::admin {

JsonPtr pending_json(Env& env, size_t limit, std::string* error) {
  Txn txn;
  int rc = env.begin_read(&txn);
  std::vector<accept::PendingRecord> list;
  if (!rc) rc = accept::list_pending(txn, &list);
  if (rc) {
    *error = "reading the pending queue: " + lmdb_error(rc);
    return nullptr;
  }
  txn.abort();
  json_t* arr = json_array();
  for (size_t i = 0; i < list.size() && i < limit; i++) {
    const accept::PendingRecord& p = list[i];
    json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", json_int_t(p.id), "public_key",
                                         p.public_key.c_str(), "listen_addr", p.listen_addr.c_str(), "observed_addr",
                                         p.observed_addr.c_str(), "requested_at", json_int_t(p.requested_at)));
  }
  return JsonPtr(json_pack("{s:I,s:o}", "count", json_int_t(list.size()), "pending", arr));
}

namespace {

Response handle_list(const AdminContext& ctx, const Request&) {
  std::string error;
  JsonPtr body = pending_json(*ctx.env, SIZE_MAX, &error);
  if (!body) return text_error(500, error);
  return json_response(200, body.get());
}

// The operator's reason: ?reason=, else the body — {"reason":"…"} or plain text.
std::string reason_of(const Request& req) {
  if (auto q = req.query_value("reason")) return *q;
  std::string err;
  if (JsonPtr body = parse_json_body(req.body, &err)) return std::string(json_str(body.get(), "reason"));
  std::string_view t = req.body;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
  return std::string(t);
}

Response decide(const AdminContext& ctx, const Request& req, bool approve) {
  std::string_view text = req.params.empty() ? std::string_view() : req.params[0];
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || id == 0)
    return text_error(400, "bad request: pending id must be uint32");
  std::string reason = reason_of(req);
  JsonPtr reply;
  if (auto refused = operator_call(ctx,
                                   json_pack("{s:s,s:I,s:s#}", "type", approve ? "pending_approve" : "pending_reject",
                                             "id", json_int_t(id), "reason", reason.data(), int(reason.size())),
                                   &reply)) {
    if (refused->status == 400 && refused->body.find("not found") != std::string::npos) refused->status = 404;
    return *refused;
  }
  JsonPtr out(json_pack("{s:b,s:I,s:s,s:s}", "ok", 1, "id", json_int_t(id), "public_key",
                        std::string(json_str(reply.get(), "public_key")).c_str(), "decision",
                        approve ? "approved" : "rejected"));
  return json_response(200, out.get());
}

Response handle_approve(const AdminContext& ctx, const Request& req) { return decide(ctx, req, true); }
Response handle_reject(const AdminContext& ctx, const Request& req) { return decide(ctx, req, false); }

const Route kRoutes[] = {
    {.pattern = "/api/admin/pending", .methods = "GET", .access = Access::Admin, .handler = handle_list,
     .trailing_slash = true},
    {.pattern = "/api/admin/pending/{}/approve", .methods = "POST", .access = Access::Admin, .handler = handle_approve,
     .max_body = 8192, .trailing_slash = true},
    {.pattern = "/api/admin/pending/{}/reject", .methods = "POST", .access = Access::Admin, .handler = handle_reject,
     .max_body = 8192, .trailing_slash = true},
};

}  // namespace

std::span<const Route> pending_routes() { return kRoutes; }

}  // namespace rdv::admin
