// GET /api/nodes (ops-spec §5.3 row 7, localhost-only): every registered node in id order,
// read straight from LMDB. The listing carries only the overlay address, hostname and
// last-seen time — never the node's IP addresses or public key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker-admin/routes.h"

namespace rdv::admin {

Response handle_nodes(const AdminContext& ctx, const Request& req);

// What the listing shows of one node.
struct NodeListing {
  uint32_t node_id = 0;
  std::string hostname;      // "" = not set (the key is then omitted)
  int64_t last_seen_ns = 0;  // unix nanoseconds; 0 when no liveness record exists
};

// Reads every node in id order with one read transaction. Records that do not decode are
// skipped and counted in *undecodable. Returns 0 or the LMDB error code; *failed_call names
// the call that failed.
int read_node_listing(Env& env, std::vector<NodeListing>* out, size_t* undecodable,
                      const char** failed_call);

// {"nodes":[{"node_id":N,"address":"0:0000.HHHH.LLLL","hostname":"h","last_seen":"RFC3339"}…],
//  "count":N}
JsonPtr nodes_json(const std::vector<NodeListing>& nodes);

}  // namespace rdv::admin
