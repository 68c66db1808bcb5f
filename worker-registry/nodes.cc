// Node lifecycle: register, deregister, heartbeat (wire-protocol §6.1.1, §6.1.2, §6.2.1,
// §7.3), and their descriptors.
#include <cinttypes>
#include <cstdio>

#include "accept.h"
#include "crypto.h"
#include "field_limits.h"
#include "log.h"
#include "membership.h"
#include "message_table.h"
#include "registry.h"
#include "tokens.h"
#include "util.h"
#include "wire.h"

namespace rdv::registry {

namespace {

constexpr int64_t kExpiryWarningS = 24 * 3600;

std::string raw_key(const PublicKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

// Non-backbone networks whose member list still holds `id` (restored when a reaped or
// deregistered key comes back).
std::vector<uint16_t> networks_listing(View& view, uint32_t id) {
  std::vector<uint16_t> nets{0};
  Cursor c(view.txn(), Db::Networks);
  for (bool ok = c.seek(); ok; ok = c.next()) {
    if (c.key().size() != 2) continue;
    uint16_t net = uint16_t(uint8_t(c.key()[0]) << 8 | uint8_t(c.key()[1]));
    if (net == 0) continue;
    std::string_view v;
    if (view.txn().get(Db::Members, key_u16(net) + key_u32(id), &v) == 0) nets.push_back(net);
  }
  return nets;
}

// Claims `hostname` for node `n` through `w`. Returns "" or the hostname_error text.
std::string claim_hostname(Request& r, Write& w, Node& n, const std::string& hostname) {
  if (hostname == n.hostname) return "";
  uint32_t holder = r.view.node_for_hostname(hostname);
  if (holder && holder != n.id) {
    Node other;
    if (r.view.get_node(holder, &other) && other.hostname == hostname)
      return "hostname \"" + hostname + "\" already in use";
  }
  if (!n.hostname.empty() && r.view.node_for_hostname(n.hostname) == n.id) w.del(Db::HostIndex, n.hostname);
  w.put(Db::HostIndex, hostname, key_u32(n.id));
  n.hostname = hostname;
  return "";
}

// lan_addrs with empty strings dropped (§6.1.1).
std::vector<std::string> lan_addrs_of(const Message& msg) {
  std::vector<std::string> out = msg.string_list("lan_addrs");
  std::erase(out, std::string());
  return out;
}

// register's outbound step: with an identity_token and an identity webhook configured, the
// webhook is asked about the token before the handler runs (§6.1.1 step 2). Nothing is asked
// for a request the handler refuses before it would look at the answer.
std::optional<OutboundCall> register_fetch(Request& r) {
  std::string_view token = r.msg.str("identity_token");
  if (token.empty() || token.size() > kMaxTokenBytes) return std::nullopt;
  if (!register_field_error(r.cfg, r.msg.str("listen_addr"), r.msg.str("owner"), r.msg.str("version"),
                            lan_addrs_of(r.msg))
           .empty())
    return std::nullopt;
  std::string url = identity_webhook_url(r.view);
  if (url.empty()) return std::nullopt;
  return identity_webhook_call(std::move(url), token);
}

Signer register_signer(const Message& m) { return {0, m.str("public_key")}; }
std::string register_challenge(const Message& m) { return challenge_register(m.str("listen_addr"), m.str("public_key")); }
Signer node_signer(const Message& m) { return {m.u32("node_id"), {}}; }
// StrictHeartbeatFreshness (wire §4.4, §6.2.1): a JSON heartbeat signs the client's `ts` (unix
// seconds), which must be within this many seconds of ours.
constexpr int64_t kFreshnessS = 60;

// The heartbeat's `ts`: false when absent or null; any other value reads leniently (§3.1: an
// ill-typed or out-of-range number is 0, and so stale).
bool heartbeat_ts(const Message& m, int64_t* ts) {
  if (!m.has("ts") || m.is_null("ts")) return false;
  JsonPtr v = m.json("ts");
  double d = json_is_number(v.get()) ? json_number_value(v.get()) : 0;
  *ts = d > -9.2e18 && d < 9.2e18 ? int64_t(d) : 0;
  return true;
}

std::string fresh_heartbeat_challenge(uint32_t id, int64_t ts) {
  return "heartbeat:" + std::to_string(id) + ":" + std::to_string(ts);
}

// What the pool verifies ahead: the strict form when the heartbeat carries a ts (strict mode:
// the handler verifies that one), heartbeat:<id> otherwise. A non-strict heartbeat that sends a
// ts anyway is verified on the loop over heartbeat:<id> (no known client sends one).
std::string heartbeat_challenge(const Message& m) {
  int64_t ts;
  if (heartbeat_ts(m, &ts)) return fresh_heartbeat_challenge(m.u32("node_id"), ts);
  return challenge_node("heartbeat", m.u32("node_id"));
}
std::string deregister_challenge(const Message& m) { return challenge_node("deregister", m.u32("node_id")); }

}  // namespace

Outcome handle_register(Request& r) {
  const Message& msg = r.msg;
  std::string listen_addr(msg.str("listen_addr"));
  std::string pub_b64(msg.str("public_key"));
  std::string sig_b64(msg.str("signature"));
  std::string owner(msg.str("owner"));
  std::string hostname(msg.str("hostname"));
  std::string version(msg.str("version"));
  std::vector<std::string> lan_addrs = lan_addrs_of(msg);

  if (std::string limit = register_field_error(r.cfg, listen_addr, owner, version, lan_addrs); !limit.empty())
    return Outcome::fail(limit);
  if (msg.str("identity_token").size() > kMaxTokenBytes)
    return Outcome::fail("identity_token too long (max " + std::to_string(kMaxTokenBytes) + " bytes)");

  std::string observed = sanitize_listen_addr(r.peer.ip, r.peer.port, listen_addr);

  // The identity webhook's answer, when the outbound step asked it (a token, and a webhook
  // configured when the request's turn came); without a webhook the token is ignored.
  std::string external_id;
  if (r.fetched) {
    if (std::string err = identity_webhook_verdict(*r.fetched, &external_id); !err.empty()) return Outcome::fail(err);
  }

  if (pub_b64.empty()) return Outcome::fail("registration requires public_key");

  PublicKey key;
  bool key_ok = decode_public_key(pub_b64, &key);
  bool is_signed = false;
  if (!sig_b64.empty()) {
    if (!key_ok) return Outcome::fail("registration: invalid public_key");
    std::string sig;
    if (!base64_decode(sig_b64, &sig)) return Outcome::fail("registration: invalid signature encoding");
    if (sig.size() != 64 ||
        !r.verify(key, challenge_register(listen_addr, pub_b64), reinterpret_cast<const uint8_t*>(sig.data())))
      return Outcome::fail("registration: signature verification failed");
    is_signed = true;
  } else if (r.cfg.strict_registration_auth) {
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

  View& view = r.view;
  Write w(r);
  int64_t now = r.now_ns / 1000000000;
  Node node;
  uint32_t id = view.node_for_key(key);
  bool live = id && view.get_node(id, &node);

  if (live) {
    // Ratchet (PPA-003): once a key registered with a valid signature, unsigned
    // registrations may not change anything about it.
    if (!is_signed && node.sig_verified)
      return Outcome::fail("node " + std::to_string(id) + ": unsigned registration cannot modify a signature-verified key");
    std::string before = encode_node(node);
    node.real_addr = observed;
    node.lan_addrs = lan_addrs;
    if (!version.empty()) node.version = version;
    node.relay_only = msg.boolean("relay_only");
    if (is_signed) node.sig_verified = true;
    if (!external_id.empty()) node.external_id = external_id;
    if (node.owner.empty() && !owner.empty()) {
      node.owner = owner;
      uint32_t holder = view.node_for_owner(owner);
      Node other;
      if (!holder || holder == id || !view.get_node(holder, &other)) w.put(Db::OwnerIndex, owner, key_u32(id));
    }
    if (!hostname.empty()) hostname_err = claim_hostname(r, w, node, hostname);
    if (encode_node(node) != before) {
      w.put_node(node);
      w.audit("node.re_registered", 0, id, {{"endpoint", node.real_addr}, {"signed", is_signed ? "true" : "false"}});
    }
  } else {
    uint32_t owner_id = (!id && !owner.empty()) ? view.node_for_owner(owner) : 0;
    if (owner_id) {
      Node bound;
      if (view.get_node(owner_id, &bound))
        return Outcome::fail("owner \"" + owner + "\" is already bound to node " + std::to_string(owner_id) +
                             " with a different key; use recover_identity to rotate the key");
    }
    // -accept-mode manual: a key never seen before waits for an operator (accept.cc).
    if (!id)
      if (std::optional<Outcome> held = accept_gate(r, w, key, pub_b64, listen_addr, observed)) return std::move(*held);
    node = Node{};
    if (id) {
      // The key came back after a reap or deregister: same id, its networks restored.
      node.id = id;
      node.networks = networks_listing(view, id);
    } else if (owner_id) {
      // The owner's node is gone: the new key takes that id over (memberships not restored).
      node.id = owner_id;
      node.networks = {0};
      w.put(Db::KeyIndex, raw_key(key), key_u32(owner_id));
    } else {
      if (r.cfg.max_nodes > 0 && view.node_count() >= uint64_t(r.cfg.max_nodes)) return Outcome::fail("registry full");
      node.id = w.allocate_node_id();
      if (!node.id) return Outcome::fail("node ID space exhausted");
      node.networks = {0};
      w.put(Db::KeyIndex, raw_key(key), key_u32(node.id));
      if (!owner.empty()) w.put(Db::OwnerIndex, owner, key_u32(node.id));
    }
    node.public_key = key;
    node.owner = owner;
    node.real_addr = observed;
    node.lan_addrs = lan_addrs;
    node.version = version;
    node.relay_only = msg.boolean("relay_only");
    node.sig_verified = is_signed;
    node.external_id = external_id;
    node.created_at = now;
    if (!hostname.empty()) hostname_err = claim_hostname(r, w, node, hostname);
    w.put_node(node);
    w.audit(id || owner_id ? "node.re_registered" : "node.registered", 0, node.id,
            {{"endpoint", node.real_addr}, {"owner", node.owner}, {"signed", is_signed ? "true" : "false"}});
    r.effect(Effect::Forget, node.id);
    if (id || owner_id) log_info("node returned", {{"node_id", std::to_string(node.id)}});
  }
  // Registration counts as activity; the liveness record is written with the request so a
  // fresh node is never reaped for lack of one. Touch also marks it for the next liveness
  // flush, whose bus announcement carries it to the standbys (liveness is not in the log).
  w.set_liveness(node.id, r.now_ns);
  r.effect(Effect::Touch, node.id, r.now_ns);
  r.effect(Effect::CountRegistration);

  std::string body;
  body.reserve(256);
  JsonWriter jw(body);
  jw.begin_object()
      .str("type", "register_ok")
      .num("node_id", node.id)
      .num("network_id", 0)
      .str("address", format_address(0, node.id))
      .str("public_key", pub_b64);
  if (!node.hostname.empty()) jw.str("hostname", node.hostname);
  if (!hostname_err.empty()) jw.str("hostname_error", hostname_err);
  jw.str("observed_addr", node.real_addr).num("protocol_version", 1);
  if (!external_id.empty()) jw.str("external_id", external_id);
  jw.end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_deregister(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::ok(json_pack("{s:s}", "type", "deregister_ok"));
  std::string err = r.authorise(node);
  if (!err.empty()) return Outcome::fail(err);
  Write w(r);
  // Leave every network (members entry and role; a network that loses its owner stays
  // ownerless), drop the invites to and from the node, and free the hostname; key and owner
  // indices stay so the same key gets the same id back (§6.1.2).
  for (uint16_t net_id : node.networks) {
    Network net;
    if (net_id == 0 || !r.view.get_network(net_id, &net)) continue;
    w.del(Db::Members, key_u16(net_id) + key_u32(id));
    if (net.member_count) net.member_count--;
    w.put_network(net);
  }
  drop_invites_of_node(r, w, id);
  w.audit("node.deregistered", 0, id, {{"by", r.has_admin() ? "admin" : "node"}});
  if (!node.hostname.empty() && r.view.node_for_hostname(node.hostname) == id) w.del(Db::HostIndex, node.hostname);
  w.del(Db::Nodes, key_u32(id));
  w.del(Db::Liveness, key_u32(id));
  r.effect(Effect::Removed, id);
  r.effect(Effect::CountDeregistration);
  return Outcome::ok(json_pack("{s:s}", "type", "deregister_ok"));
}

namespace {

// The key-expiry gate and the liveness update shared by the JSON and binary heartbeats.
// Returns "" or the error text; sets *warning when the key expires within 24 h.
std::string heartbeat_accept(Request& r, const Node& node, bool* warning) {
  int64_t now = r.now_ns / 1000000000;
  if (node.expires_at && node.expires_at < now)
    return "node " + std::to_string(node.id) + ": key expired at " + rfc3339_utc(node.expires_at);
  *warning = node.expires_at && node.expires_at - now <= kExpiryWarningS;
  r.effect(Effect::Touch, node.id, r.now_ns);
  return "";
}

bool recently_verified(Request& r, uint32_t id) { return r.state->recently_verified(id, r.now_ns); }

void binary_heartbeat(Request& r, std::string& out) {
  auto* p = reinterpret_cast<const uint8_t*>(r.payload.data());
  size_t len = r.payload.size();
  if (len < 68) return wire::append_binary_error(out, "heartbeat request too short: " + std::to_string(len) + " bytes");
  // The binary layout has no ts to sign: with freshness enforced it is refused outright, before
  // the node is even looked up, and last_seen does not move (§6.2.2, §10.3 item 56).
  if (r.cfg.strict_heartbeat_freshness)
    return wire::append_binary_error(
        out, "binary heartbeat encoding carries no timestamp; use the JSON heartbeat while freshness is enforced");
  uint32_t id = wire::load_be32(p);
  Node n;
  if (!r.view.get_node(id, &n)) return wire::append_binary_error(out, "node " + std::to_string(id) + ": not found");
  if (!recently_verified(r, id)) {
    if (!n.has_key) return wire::append_binary_error(out, "node has no public key: binary heartbeat requires key");
    if (!r.verify(n.public_key, challenge_node("heartbeat", id), p + 4))
      return wire::append_binary_error(out, "signature verification failed");
    r.effect(Effect::Verified, id, r.now_ns);
  }
  bool warning = false;
  std::string err = heartbeat_accept(r, n, &warning);
  if (!err.empty()) return wire::append_binary_error(out, err);
  std::string payload;
  wire::put_be64(payload, uint64_t(r.now_ns / 1000000000));
  payload += char(warning ? 1 : 0);
  wire::append_binary_frame(out, wire::kHeartbeatOk, payload);
}

bool binary_heartbeat_signature(std::string_view payload, uint32_t* signer, std::string* challenge,
                                const uint8_t** sig) {
  if (payload.size() < 68) return false;
  auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  *signer = wire::load_be32(p);
  *challenge = challenge_node("heartbeat", *signer);
  *sig = p + 4;
  return true;
}

}  // namespace

Outcome handle_heartbeat(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  if (r.cfg.strict_heartbeat_freshness) {
    // Every heartbeat verified (the 120 s cache is bypassed), over heartbeat:<id>:<ts>. The Go
    // texts for a ts out of range ("heartbeat ts is <d>s from registry time") reach the client
    // as "request failed"; ours carry "expired" / "invalid" so that they arrive verbatim.
    int64_t ts;
    if (!heartbeat_ts(r.msg, &ts)) return Outcome::fail("heartbeat requires a ts field");
    int64_t skew = r.now_ns / 1000000000 - ts;
    if (skew > kFreshnessS)
      return Outcome::fail("heartbeat ts expired: " + std::to_string(skew) + "s behind registry time (max 60s)");
    if (skew < -kFreshnessS)
      return Outcome::fail("heartbeat ts invalid: " + std::to_string(-skew) + "s ahead of registry time (max 60s)");
    std::string err = r.signed_by(node, fresh_heartbeat_challenge(id, ts));
    if (!err.empty()) return Outcome::fail(err);
    r.effect(Effect::Verified, id, r.now_ns);
  } else if (!recently_verified(r, id)) {
    std::string err = r.signed_by(node, challenge_node("heartbeat", id));
    if (!err.empty()) return Outcome::fail(err);
    r.effect(Effect::Verified, id, r.now_ns);
  }
  bool warning = false;
  std::string err = heartbeat_accept(r, node, &warning);
  if (!err.empty()) return Outcome::fail(err);
  // Exact bytes (§6.2.1): Go's sorted-key encoding.
  char buf[96];
  long long now = (long long)(r.now_ns / 1000000000);
  if (warning) snprintf(buf, sizeof buf, "{\"key_expiry_warning\":true,\"time\":%lld,\"type\":\"heartbeat_ok\"}", now);
  else snprintf(buf, sizeof buf, "{\"time\":%lld,\"type\":\"heartbeat_ok\"}", now);
  return Outcome::ok_raw(buf);
}

namespace {
// Heartbeats write no LMDB state: liveness is an in-memory effect, flushed in batches. So they
// are reads, served on the loop (and on a standby) without waiting for any commit.
const MessageDesc kMessages[] = {
    {.type = "register", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_register, .signer = register_signer, .challenge = register_challenge,
     .change = ChangeType::Register, .fetch = register_fetch},
    {.type = "deregister", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_deregister, .signer = node_signer, .challenge = deregister_challenge,
     .change = ChangeType::Deregister},
    {.type = "heartbeat", .access = Access::Read, .auth = Auth::Sig, .standby_ok = true,
     .handler = handle_heartbeat, .signer = node_signer, .challenge = heartbeat_challenge,
     .verify_window = true, .opcode = wire::kHeartbeat, .binary = binary_heartbeat,
     .binary_signature = binary_heartbeat_signature},
};
}  // namespace

std::span<const MessageDesc> node_messages() { return kMessages; }

}  // namespace rdv::registry
