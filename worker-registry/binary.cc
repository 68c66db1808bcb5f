// Native binary opcodes (wire-protocol §7.3–7.5): heartbeat 0x01, lookup 0x02, resolve 0x03.
// Their errors are 0xFF frames with verbatim texts (no sanitiser) and "node <id>: not found"
// wording, as the Go server sends them.
#include "registry.h"
#include "util.h"
#include "wire.h"

namespace rdv::registry {

namespace {

std::string binary_not_found(uint32_t id) { return "node " + std::to_string(id) + ": not found"; }

void binary_heartbeat(Registry& reg, const uint8_t* p, size_t len, int64_t now_ns, std::string& out) {
  if (len < 68) return wire::append_binary_error(out, "heartbeat request too short: " + std::to_string(len) + " bytes");
  uint32_t id = wire::load_be32(p);
  Node n;
  if (!reg.get_node(id, &n)) return wire::append_binary_error(out, binary_not_found(id));
  if (!heartbeat_recently_verified(reg, id, now_ns)) {
    if (!n.has_key) return wire::append_binary_error(out, "node has no public key: binary heartbeat requires key");
    if (!verify_counted(reg, n.public_key, challenge_node("heartbeat", id), p + 4))
      return wire::append_binary_error(out, "signature verification failed");
    reg.set_verified(id, now_ns);
  }
  bool warning = false;
  std::string err = heartbeat_accept(reg, n, now_ns, &warning);
  if (!err.empty()) return wire::append_binary_error(out, err);
  std::string payload;
  wire::put_be64(payload, uint64_t(now_ns / 1000000000));
  payload += char(warning ? 1 : 0);
  wire::append_binary_frame(out, wire::kHeartbeatOk, payload);
}

void binary_lookup(Registry& reg, const uint8_t* p, size_t len, const Peer& peer, std::string& out) {
  if (len < 4) return wire::append_binary_error(out, "lookup request too short: " + std::to_string(len) + " bytes");
  uint32_t id = wire::load_be32(p);
  Node n;
  if (!reg.get_node(id, &n)) return wire::append_binary_error(out, binary_not_found(id));
  std::string payload;
  wire::put_be32(payload, n.id);
  payload += char((n.is_public ? 1 : 0) | (n.task_exec ? 2 : 0));
  wire::put_be32(payload, 0);  // reserved (formerly a reputation score)
  wire::put_be16(payload, uint16_t(n.networks.size()));
  for (uint16_t net : n.networks) wire::put_be16(payload, net);
  wire::put_str8(payload, n.has_key ? std::string_view(reinterpret_cast<const char*>(n.public_key.data()), 32) : "");
  wire::put_str8(payload, n.hostname);
  size_t tags = std::min<size_t>(n.tags.size(), 255);
  payload += char(tags);
  for (size_t i = 0; i < tags; i++) wire::put_str8(payload, n.tags[i]);
  wire::put_str16(payload, n.is_public ? (n.relay_only ? beacon_endpoint(reg.config(), peer) : n.real_addr) : "");
  wire::put_str8(payload, "");  // external_id is never disclosed
  wire::append_binary_frame(out, wire::kLookupOk, payload);
}

void binary_resolve(Registry& reg, const uint8_t* p, size_t len, const Peer& peer, int64_t now_ns,
                    std::string& out) {
  if (len < 72) return wire::append_binary_error(out, "resolve request too short: " + std::to_string(len) + " bytes");
  uint32_t target = wire::load_be32(p), requester = wire::load_be32(p + 4);
  Node req;
  if (!reg.get_node(requester, &req))
    return wire::append_binary_error(out, "resolve denied: requester node " + std::to_string(requester) + " is not registered");
  if (!req.has_key) return wire::append_binary_error(out, "requester has no public key");
  if (!verify_counted(reg, req.public_key, challenge_pair("resolve", requester, target), p + 8))
    return wire::append_binary_error(out, "signature verification failed");
  Node n;
  if (!reg.get_node(target, &n)) return wire::append_binary_error(out, binary_not_found(target));
  if (!n.is_public && !reg.trust_pair(requester, target) && !Registry::share_network(req, n))
    return wire::append_binary_error(
        out, "resolve denied: node " + std::to_string(target) + " is private (establish mutual trust first)");
  std::string payload;
  wire::put_be32(payload, n.id);
  if (n.relay_only) {
    wire::put_str16(payload, beacon_endpoint(reg.config(), peer));
    wire::put_be16(payload, 0);
  } else {
    wire::put_str16(payload, n.real_addr);
    size_t count = std::min<size_t>(n.lan_addrs.size(), 1024);
    wire::put_be16(payload, uint16_t(count));
    for (size_t i = 0; i < count; i++) wire::put_str16(payload, n.lan_addrs[i]);
  }
  int64_t since = n.rotated_at ? n.rotated_at : n.created_at;
  wire::put_be32(payload, since ? uint32_t(whole_days(since, now_ns / 1000000000)) : 0xFFFFFFFFu);
  wire::append_binary_frame(out, wire::kResolveOk, payload);
}

}  // namespace

void handle_binary(Registry& reg, uint8_t type, const uint8_t* payload, size_t len, const Peer& peer, int64_t now_ns,
                   std::string& out) {
  switch (type) {
    case wire::kHeartbeat: return binary_heartbeat(reg, payload, len, now_ns, out);
    case wire::kLookup: return binary_lookup(reg, payload, len, peer, out);
    case wire::kResolve: return binary_resolve(reg, payload, len, peer, now_ns, out);
    default: {
      char buf[48];
      snprintf(buf, sizeof buf, "unknown message type 0x%02x", unsigned(type));
      return wire::append_binary_error(out, buf);
    }
  }
}

}  // namespace rdv::registry
