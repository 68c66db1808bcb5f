// Node lifecycle: register, deregister, heartbeat (wire-protocol §6.1.1, §6.1.2, §6.2.1).
#include <cinttypes>
#include <cstdio>

#include "crypto.h"
#include "log.h"
#include "registry.h"
#include "util.h"

namespace rdv::registry {

namespace {

constexpr int64_t kVerifyWindowNs = 120LL * 1000000000;  // §4.5
constexpr int64_t kExpiryWarningS = 24 * 3600;

std::string raw_key(const PublicKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

// Non-backbone networks whose member list still holds `id` (restored when a reaped or
// deregistered key comes back).
std::vector<uint16_t> networks_listing(Registry& reg, uint32_t id) {
  std::vector<uint16_t> nets{0};
  Cursor c(reg.txn(), Db::Networks);
  for (bool ok = c.seek(); ok; ok = c.next()) {
    if (c.key().size() != 2) continue;
    uint16_t net = uint16_t(uint8_t(c.key()[0]) << 8 | uint8_t(c.key()[1]));
    if (net == 0) continue;
    std::string_view v;
    if (reg.txn().get(Db::Members, key_u16(net) + key_u32(id), &v) == 0) nets.push_back(net);
  }
  return nets;
}

// Claims `hostname` for node `n` inside mutation `m`. Returns "" or the hostname_error text.
std::string claim_hostname(Registry& reg, Mutation& m, Node& n, const std::string& hostname) {
  if (hostname == n.hostname) return "";
  uint32_t holder = reg.node_for_hostname(hostname);
  if (holder && holder != n.id) {
    Node other;
    if (reg.get_node(holder, &other) && other.hostname == hostname)
      return "hostname \"" + hostname + "\" already in use";
  }
  if (!n.hostname.empty() && reg.node_for_hostname(n.hostname) == n.id)
    reg.note_store_error(m.del(Db::HostIndex, n.hostname));
  reg.note_store_error(m.put(Db::HostIndex, hostname, key_u32(n.id)));
  n.hostname = hostname;
  return "";
}

// lan_addrs with empty strings dropped (§6.1.1).
std::vector<std::string> lan_addrs_of(const Message& msg) {
  std::vector<std::string> out = msg.string_list("lan_addrs");
  std::erase(out, std::string());
  return out;
}

}  // namespace

Outcome handle_register(Request& r) {
  Registry& reg = r.reg;
  const Message& msg = r.msg;
  std::string listen_addr(msg.str("listen_addr"));
  std::string pub_b64(msg.str("public_key"));
  std::string sig_b64(msg.str("signature"));
  std::string owner(msg.str("owner"));
  std::string hostname(msg.str("hostname"));
  std::string version(msg.str("version"));

  std::string observed = sanitize_listen_addr(r.peer.ip, r.peer.port, listen_addr);

  if (pub_b64.empty()) return Outcome::fail("registration requires public_key");

  PublicKey key;
  bool key_ok = decode_public_key(pub_b64, &key);
  bool is_signed = false;
  if (!sig_b64.empty()) {
    if (!key_ok) return Outcome::fail("registration: invalid public_key");
    std::string sig;
    if (!base64_decode(sig_b64, &sig)) return Outcome::fail("registration: invalid signature encoding");
    if (sig.size() != 64 || !verify_counted(reg, key, challenge_register(listen_addr, pub_b64),
                                            reinterpret_cast<const uint8_t*>(sig.data())))
      return Outcome::fail("registration: signature verification failed");
    is_signed = true;
  } else if (reg.config().strict_registration_auth) {
    return Outcome::fail("registration: signature required");
  }

  std::string hostname_err;
  if (!hostname.empty()) {
    hostname_err = hostname_error(hostname);
    if (!hostname_err.empty()) hostname.clear();
  }

  if (!key_ok) {
    std::string raw;
    if (!base64_decode(pub_b64, &raw)) return Outcome::fail("invalid public key: " + base64_error_detail(pub_b64));
    return Outcome::fail("invalid public key: ed25519 public key must be 32 bytes, got " + std::to_string(raw.size()));
  }

  Txn& txn = reg.txn();
  if (!txn.active()) return Outcome::fail("registry store unavailable");
  Mutation m(txn, ChangeType::Register);
  int64_t now = r.now_ns / 1000000000;
  Node node;
  uint32_t id = reg.node_for_key(key);
  bool live = id && reg.get_node(id, &node);

  if (live) {
    // Ratchet (PPA-003): once a key registered with a valid signature, unsigned
    // registrations may not change anything about it.
    if (!is_signed && node.sig_verified)
      return Outcome::fail("node " + std::to_string(id) + ": unsigned registration cannot modify a signature-verified key");
    std::string before = encode_node(node);
    node.real_addr = observed;
    node.lan_addrs = lan_addrs_of(msg);
    if (!version.empty()) node.version = version;
    node.relay_only = msg.boolean("relay_only");
    if (is_signed) node.sig_verified = true;
    if (node.owner.empty() && !owner.empty()) {
      node.owner = owner;
      uint32_t holder = reg.node_for_owner(owner);
      Node other;
      if (!holder || holder == id || !reg.get_node(holder, &other))
        reg.note_store_error(m.put(Db::OwnerIndex, owner, key_u32(id)));
    }
    if (!hostname.empty()) hostname_err = claim_hostname(reg, m, node, hostname);
    if (encode_node(node) != before) reg.put_node(m, node);
  } else {
    uint32_t owner_id = (!id && !owner.empty()) ? reg.node_for_owner(owner) : 0;
    if (owner_id) {
      Node bound;
      if (reg.get_node(owner_id, &bound))
        return Outcome::fail("owner \"" + owner + "\" is already bound to node " + std::to_string(owner_id) +
                             " with a different key; use recover_identity to rotate the key");
    }
    node = Node{};
    if (id) {
      // The key came back after a reap or deregister: same id, its networks restored.
      node.id = id;
      node.networks = networks_listing(reg, id);
    } else if (owner_id) {
      // The owner's node is gone: the new key takes that id over (memberships not restored).
      node.id = owner_id;
      node.networks = {0};
      reg.note_store_error(m.put(Db::KeyIndex, raw_key(key), key_u32(owner_id)));
    } else {
      if (reg.config().max_nodes > 0 && reg.node_count() >= uint64_t(reg.config().max_nodes))
        return Outcome::fail("registry full");
      node.id = reg.allocate_node_id(m);
      if (!node.id) return Outcome::fail("node ID space exhausted");
      node.networks = {0};
      reg.note_store_error(m.put(Db::KeyIndex, raw_key(key), key_u32(node.id)));
      if (!owner.empty()) reg.note_store_error(m.put(Db::OwnerIndex, owner, key_u32(node.id)));
    }
    node.public_key = key;
    node.owner = owner;
    node.real_addr = observed;
    node.lan_addrs = lan_addrs_of(msg);
    node.version = version;
    node.relay_only = msg.boolean("relay_only");
    node.sig_verified = is_signed;
    node.created_at = now;
    if (!hostname.empty()) hostname_err = claim_hostname(reg, m, node, hostname);
    reg.put_node(m, node);
    reg.forget(node.id);
    if (id || owner_id) log_info("node returned", {{"node_id", std::to_string(node.id)}});
  }
  // Registration counts as activity; the liveness record is written with the mutation so a
  // fresh node is never reaped for lack of one.
  reg.set_last_seen(node.id, r.now_ns);
  reg.note_store_error(m.put(Db::Liveness, key_u32(node.id), key_u64(uint64_t(r.now_ns))));
  reg.finish(m);
  if (auto* p = reg.page()) p->registrations_total.fetch_add(1, std::memory_order_relaxed);

  std::string body;
  body.reserve(256);
  JsonWriter w(body);
  w.begin_object()
      .str("type", "register_ok")
      .num("node_id", node.id)
      .num("network_id", 0)
      .str("address", format_address(0, node.id))
      .str("public_key", pub_b64);
  if (!node.hostname.empty()) w.str("hostname", node.hostname);
  if (!hostname_err.empty()) w.str("hostname_error", hostname_err);
  w.str("observed_addr", node.real_addr).num("protocol_version", 1).end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_deregister(Request& r) {
  Registry& reg = r.reg;
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!reg.get_node(id, &node)) return Outcome::ok(json_pack("{s:s}", "type", "deregister_ok"));
  std::string err = check_signature_or_admin(r, node, challenge_node("deregister", id));
  if (!err.empty()) return Outcome::fail(err);
  Mutation m(reg.txn(), ChangeType::Deregister);
  // Leave every network (members entry) and free the hostname; key and owner indices stay so
  // the same key gets the same id back.
  for (uint16_t net : node.networks)
    if (net != 0) reg.note_store_error(m.del(Db::Members, key_u16(net) + key_u32(id)));
  if (!node.hostname.empty() && reg.node_for_hostname(node.hostname) == id)
    reg.note_store_error(m.del(Db::HostIndex, node.hostname));
  reg.note_store_error(m.del(Db::Nodes, key_u32(id)));
  reg.note_store_error(m.del(Db::Liveness, key_u32(id)));
  reg.finish(m);
  reg.forget(id);
  if (auto* p = reg.page()) p->deregistrations_total.fetch_add(1, std::memory_order_relaxed);
  return Outcome::ok(json_pack("{s:s}", "type", "deregister_ok"));
}

// Shared by the JSON and binary heartbeats: the key-expiry gate and the liveness update.
// Returns "" or the error text; sets *warning when the key expires within 24 h.
std::string heartbeat_accept(Registry& reg, const Node& node, int64_t now_ns, bool* warning) {
  int64_t now = now_ns / 1000000000;
  if (node.expires_at && node.expires_at < now)
    return "node " + std::to_string(node.id) + ": key expired at " + rfc3339_utc(node.expires_at);
  *warning = node.expires_at && node.expires_at - now <= kExpiryWarningS;
  reg.touch(node.id, now_ns);
  return "";
}

// The verify cache of §4.5: a heartbeat within 120 s of the last verified one is accepted
// without checking its signature.
bool heartbeat_recently_verified(Registry& reg, uint32_t id, int64_t now_ns) {
  int64_t last = reg.last_verified_ns(id);
  return last && now_ns - last < kVerifyWindowNs;
}

Outcome handle_heartbeat(Request& r) {
  Registry& reg = r.reg;
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!reg.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  if (!heartbeat_recently_verified(reg, id, r.now_ns)) {
    std::string err = check_signature(r, node, challenge_node("heartbeat", id));
    if (!err.empty()) return Outcome::fail(err);
    reg.set_verified(id, r.now_ns);
  }
  bool warning = false;
  std::string err = heartbeat_accept(reg, node, r.now_ns, &warning);
  if (!err.empty()) return Outcome::fail(err);
  // Exact bytes (§6.2.1): Go's sorted-key encoding.
  char buf[96];
  long long now = (long long)(r.now_ns / 1000000000);
  if (warning) snprintf(buf, sizeof buf, "{\"key_expiry_warning\":true,\"time\":%lld,\"type\":\"heartbeat_ok\"}", now);
  else snprintf(buf, sizeof buf, "{\"time\":%lld,\"type\":\"heartbeat_ok\"}", now);
  return Outcome::ok_raw(buf);
}

}  // namespace rdv::registry
