#include "worker-admin/nodes.h"

#include "shared/log.h"
#include "shared/model.h"
#include "shared/util.h"

namespace rdv::admin {

int read_node_listing(Env& env, std::vector<NodeListing>* out, size_t* undecodable,
                      const char** failed_call) {
  out->clear();
  *undecodable = 0;
  Txn txn;
  int rc = env.begin_read(&txn);
  if (rc) {
    *failed_call = "mdb_txn_begin";
    return rc;
  }
  Cursor cursor(txn, Db::Nodes);
  for (bool more = cursor.seek(); more; more = cursor.next()) {
    Node node;
    if (cursor.key().size() != 4 || !decode_node(cursor.value(), &node)) {
      ++*undecodable;
      continue;
    }
    NodeListing entry;
    entry.node_id = read_u32(cursor.key());
    entry.hostname = node.hostname;
    std::string_view seen;
    if (txn.get(Db::Liveness, cursor.key(), &seen) == MDB_SUCCESS) entry.last_seen_ns = int64_t(read_u64(seen));
    out->push_back(std::move(entry));
  }
  if (cursor.error()) {
    *failed_call = "mdb_cursor_get";
    return cursor.error();
  }
  return 0;  // the transaction ends here, before the (possibly large) JSON is built
}

JsonPtr nodes_json(const std::vector<NodeListing>& nodes) {
  JsonPtr list(json_array());
  for (const NodeListing& n : nodes) {
    json_t* item = json_object();
    json_object_set_new(item, "node_id", json_integer(json_int_t(n.node_id)));
    json_object_set_new(item, "address", json_string(format_address(0, n.node_id).c_str()));
    if (!n.hostname.empty()) json_object_set_new(item, "hostname", json_stringn(n.hostname.data(), n.hostname.size()));
    json_object_set_new(item, "last_seen", json_string(rfc3339_utc(n.last_seen_ns / 1000000000).c_str()));
    json_array_append_new(list.get(), item);
  }
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "nodes", list.release());
  json_object_set_new(body.get(), "count", json_integer(json_int_t(nodes.size())));
  return body;
}

Response handle_nodes(const AdminContext& ctx, const Request&) {
  std::vector<NodeListing> nodes;
  size_t undecodable = 0;
  const char* failed_call = "";
  if (int rc = read_node_listing(*ctx.env, &nodes, &undecodable, &failed_call)) {
    log_error("/api/nodes: store read failed", {{"call", failed_call}, {"error", lmdb_error(rc)}});
    return text_error(500, "Internal Server Error");
  }
  if (undecodable)
    log_error("/api/nodes: node records that do not decode were skipped",
              {{"count", std::to_string(undecodable)}, {"file", ctx.env->data_file()}});
  JsonPtr body = nodes_json(nodes);
  return json_response(200, body.get());
}

namespace {
const Route kRoutes[] = {
    {.pattern = "/api/nodes", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_nodes},
};
}  // namespace

std::span<const Route> nodes_routes() { return kRoutes; }

}  // namespace rdv::admin
