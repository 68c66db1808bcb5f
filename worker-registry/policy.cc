// Network and expression policies (wire-protocol §6.6), and their descriptors.
//
// Both live in the network record (model.h Network: max_members, has_allowed_ports,
// allowed_ports, description, expr_policy). The registry stores and hands them out; join and
// invite acceptance enforce max_members (networks.cc, invites.cc); daemons enforce the ports
// and the expressions.
#include <algorithm>
#include <cmath>

#include "policy_rules.h"
#include "message_table.h"

namespace rdv::registry {

namespace {

constexpr uint32_t kMaxMaxMembers = 10000;
constexpr size_t kMaxAllowedPorts = 100;
constexpr size_t kMaxDescriptionBytes = 256;

std::string network_not_found(uint16_t id) { return "network " + std::to_string(id) + ": network not found"; }

// A policy key the caller supplied. The official client copies the caller's map as it is
// (client-expectations §2.4), so a key may carry any JSON type; null counts as not supplied.
bool supplied(const Message& msg, std::string_view key) { return msg.has(key) && !msg.is_null(key); }

// A whole number in [lo, hi], as Go checks a float64: 10.5, -1 and 1e20 are not; neither is a
// string (which the Go server silently ignored for max_members; refusing it says why nothing
// changed).
bool whole_number_in(const json_t* v, double lo, double hi, double* out) {
  if (!json_is_number(v)) return false;
  double d = json_number_value(v);
  if (!(d >= lo && d <= hi) || d != std::trunc(d)) return false;
  *out = d;
  return true;
}

json_t* ports_json(const std::vector<uint16_t>& ports) {
  json_t* a = json_array();
  for (uint16_t p : ports) json_array_append_new(a, json_integer(p));
  return a;
}

}  // namespace

// ROLE(owner, admin), then ENTERPRISE; a partial update: only supplied keys change.
Outcome handle_set_network_policy(Request& r) {
  uint16_t id = r.msg.u16("network_id");
  Network net;
  std::string err = r.role(id, {"owner", "admin"}, &net);
  if (!err.empty()) return Outcome::fail(err);
  err = r.enterprise(id, &net);
  if (!err.empty()) return Outcome::fail(err);

  Network updated = net;
  if (supplied(r.msg, "max_members")) {
    JsonPtr v = r.msg.json("max_members");
    double d;
    if (!whole_number_in(v.get(), 0, kMaxMaxMembers, &d))
      return Outcome::fail("invalid max_members (must be integer 0-10000)");
    updated.max_members = uint32_t(d);
    if (updated.max_members > 0 && net.member_count > updated.max_members)
      return Outcome::fail("cannot set max_members to " + std::to_string(updated.max_members) +
                           ": network already has " + std::to_string(net.member_count) + " members");
  }
  if (supplied(r.msg, "allowed_ports")) {
    JsonPtr list = r.msg.json("allowed_ports");
    if (!json_is_array(list.get())) return Outcome::fail("invalid allowed_ports (must be an array of integers 1-65535)");
    if (json_array_size(list.get()) > kMaxAllowedPorts) return Outcome::fail("too many allowed_ports (max 100)");
    updated.allowed_ports.clear();
    size_t i;
    json_t* p;
    json_array_foreach(list.get(), i, p) {
      double d;
      if (!whole_number_in(p, 1, 65535, &d))
        return Outcome::fail("invalid port number in allowed_ports (must be integer 1-65535)");
      uint16_t port = uint16_t(d);
      if (std::find(updated.allowed_ports.begin(), updated.allowed_ports.end(), port) == updated.allowed_ports.end())
        updated.allowed_ports.push_back(port);
    }
    updated.has_allowed_ports = true;
  }
  if (supplied(r.msg, "description")) {
    std::string_view raw = r.msg.raw("description");
    if (raw.empty() || raw[0] != '"') return Outcome::fail("invalid description (must be a string)");
    std::string_view d = r.msg.str("description");
    if (d.size() > kMaxDescriptionBytes) return Outcome::fail("policy description too long (max 256 chars)");
    updated.description = std::string(d);
  }

  if (encode_network(updated) != encode_network(net)) {
    Write w(r);
    w.put_network(updated);
    w.audit("network.policy_changed", id, r.msg.u32("node_id"),
            {{"old_max_members", std::to_string(net.max_members)},
             {"new_max_members", std::to_string(updated.max_members)},
             {"old_allowed_ports_count", std::to_string(net.allowed_ports.size())},
             {"new_allowed_ports_count", std::to_string(updated.allowed_ports.size())},
             {"description_changed", updated.description != net.description ? "true" : "false"}});
  }
  json_t* out = json_pack("{s:s,s:i,s:I,s:s%}", "type", "set_network_policy_ok", "network_id", int(id), "max_members",
                          json_int_t(updated.max_members), "description", updated.description.data(),
                          updated.description.size());
  // null until ports were ever set (the Go server's nil slice).
  json_object_set_new(out, "allowed_ports", updated.has_allowed_ports ? ports_json(updated.allowed_ports) : json_null());
  return Outcome::ok(out);
}

// OPEN. allowed_ports is always an array: daemons read a missing or non-array value as "allow
// every port" (client-expectations §4.15).
Outcome handle_get_network_policy(Request& r) {
  uint16_t id = r.msg.u16("network_id");
  Network net;
  if (!r.view.get_network(id, &net)) return Outcome::fail(network_not_found(id));
  json_t* out = json_pack("{s:s,s:i,s:I,s:s%}", "type", "get_network_policy_ok", "network_id", int(id), "max_members",
                          json_int_t(net.max_members), "description", net.description.data(), net.description.size());
  json_object_set_new(out, "allowed_ports", ports_json(net.allowed_ports));
  return Outcome::ok(out);
}

// ROLE(owner, admin); no enterprise gate. The document is stored as the text the caller sent
// (the string's contents, or the object as written) and handed out verbatim.
Outcome handle_set_expr_policy(Request& r) {
  uint16_t id = r.msg.u16("network_id");
  Network net;
  std::string err = r.role(id, {"owner", "admin"}, &net);
  if (!err.empty()) return Outcome::fail(err);

  // One reading and one rule for every message that carries a document (policy_rules.h).
  std::string text;
  bool present = expr_policy_text(r.msg, &text);
  if (present && r.msg.raw("expr_policy").starts_with('"') && (text.empty() || text == "null")) {
    if (!net.expr_policy.empty()) {
      Write w(r);
      net.expr_policy.clear();
      w.put_network(net);
      w.audit("network.expr_policy_cleared", id, r.msg.u32("node_id"));
    }
    return Outcome::ok(
        json_pack("{s:s,s:i,s:b}", "type", "set_expr_policy_ok", "network_id", int(id), "cleared", 1));
  }
  if (!present) return Outcome::fail("expr_policy field is required");
  err = expr_policy_error(text, /*require_rules=*/true);
  if (!err.empty()) return Outcome::fail(err);

  std::string stored = go_json_compact(text);
  if (stored != net.expr_policy) {
    Write w(r);
    net.expr_policy = stored;
    w.put_network(net);
    w.audit("network.expr_policy_set", id, r.msg.u32("node_id"), {{"size", std::to_string(stored.size())}});
  }
  return Outcome::ok(json_pack("{s:s,s:i}", "type", "set_expr_policy_ok", "network_id", int(id)));
}

// OPEN. The stored document goes out as JSON (not as a string), as the Go server's RawMessage.
Outcome handle_get_expr_policy(Request& r) {
  uint16_t id = r.msg.u16("network_id");
  Network net;
  if (!r.view.get_network(id, &net)) return Outcome::fail(network_not_found(id));
  std::string body;
  JsonWriter w(body);
  w.begin_object().str("type", "get_expr_policy_ok").num("network_id", id);
  // Validated as JSON before it was stored (expr_policy_error), so it can be embedded as is.
  if (!net.expr_policy.empty()) {
    w.key("expr_policy");
    body += net.expr_policy;
  }
  w.end_object();
  return Outcome::ok_raw(std::move(body));
}

namespace {
// ROLE checks happen in the handlers (no signature: §4.3), so the descriptors are OPEN.
const MessageDesc kMessages[] = {
    {.type = "set_network_policy", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_set_network_policy, .change = ChangeType::Policy},
    {.type = "get_network_policy", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_get_network_policy},
    {.type = "set_expr_policy", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_set_expr_policy, .change = ChangeType::Policy},
    {.type = "get_expr_policy", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_get_expr_policy},
};
}  // namespace

std::span<const MessageDesc> policy_messages() { return kMessages; }

}  // namespace rdv::registry
