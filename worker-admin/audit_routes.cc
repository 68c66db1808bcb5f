// /api/admin/audit/recent (ops-spec §5.3 row 17): the newest entries of the registry's audit
// log (Db::Audit, keyed by a u64 sequence, one entry per audited change, chained by hash),
// newest first, read in one read transaction.
#include "shared/log.h"
#include "shared/model.h"
#include "shared/util.h"
#include "worker-admin/networks.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

int64_t audit_recent_count(const std::optional<std::string>& text) {
  std::optional<int64_t> v = text ? go_atoi(*text) : std::nullopt;
  if (!v || *v <= 0) return kAuditDefaultCount;
  return std::min(*v, kAuditMaxCount);
}

namespace {

JsonPtr audit_entry_json(const AuditEntry& e) {
  JsonPtr item(json_object());
  json_object_set_new(item.get(), "timestamp", json_string(rfc3339_utc(e.timestamp).c_str()));
  json_object_set_new(item.get(), "action", json_stringn(e.action.data(), e.action.size()));
  if (e.network_id) json_object_set_new(item.get(), "network_id", json_integer(e.network_id));
  if (e.node_id) json_object_set_new(item.get(), "node_id", json_integer(json_int_t(e.node_id)));
  if (!e.details.empty()) json_object_set_new(item.get(), "details", json_stringn(e.details.data(), e.details.size()));
  if (!e.hash.empty()) json_object_set_new(item.get(), "hash", json_stringn(e.hash.data(), e.hash.size()));
  return item;
}

Response handle_audit_recent(const AdminContext& ctx, const Request& req) {
  int64_t n = audit_recent_count(req.query_value("n"));
  Txn txn;
  if (int rc = ctx.env->begin_read(&txn)) {
    log_error("/api/admin/audit/recent: store read failed", {{"call", "mdb_txn_begin"}, {"error", lmdb_error(rc)}});
    return text_error(500, "Internal Server Error");
  }
  JsonPtr events(json_array());
  uint64_t seq = 0;
  {
    Cursor c(txn, Db::Audit);
    if (c.last()) seq = read_u64(c.key());
    if (c.error()) {
      log_error("/api/admin/audit/recent: store read failed", {{"call", "mdb_cursor_get"}, {"error", lmdb_error(c.error())}});
      return text_error(500, "Internal Server Error");
    }
  }
  // The log is trimmed from its oldest end only, so its keys are contiguous: walk back from
  // the newest (the cursor only moves forward) until n entries or the first gap.
  size_t undecodable = 0;
  for (; seq > 0 && int64_t(json_array_size(events.get())) < n; seq--) {
    std::string_view v;
    int rc = txn.get(Db::Audit, key_u64(seq), &v);
    if (rc == MDB_NOTFOUND) break;
    if (rc) {
      log_error("/api/admin/audit/recent: store read failed", {{"call", "mdb_get"}, {"error", lmdb_error(rc)}});
      return text_error(500, "Internal Server Error");
    }
    AuditEntry e;
    if (!decode_audit(v, &e)) {
      undecodable++;
      continue;
    }
    json_array_append_new(events.get(), audit_entry_json(e).release());
  }
  txn.abort();
  if (undecodable)
    log_error("/api/admin/audit/recent: audit entries that do not decode were skipped",
              {{"count", std::to_string(undecodable)}});
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "count", json_integer(json_int_t(json_array_size(events.get()))));
  json_object_set_new(body.get(), "events", events.release());
  return json_response(200, body.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/admin/audit/recent", .methods = "GET", .access = Access::Admin, .handler = handle_audit_recent},
};

}  // namespace

std::span<const Route> audit_routes() { return kRoutes; }

}  // namespace rdv::admin
