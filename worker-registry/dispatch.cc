// The JSON request pipeline (wire-protocol §2.9): standby gate, type lookup, handler, reply
// envelope and the error-text sanitiser (§2.8). Native binary opcodes are in binary.cc.
#include <string_view>

#include "log.h"
#include "registry.h"
#include "wire.h"

namespace rdv::registry {

namespace {

struct Route {
  std::string_view type;
  JsonHandler handler;
  bool allowed_on_standby;
};

// One line per message; a message not listed here is answered with the unknown-type error.
constexpr Route kRoutes[] = {
    {"register", handle_register, false},
    {"deregister", handle_deregister, false},
    {"heartbeat", handle_heartbeat, true},
    {"lookup", handle_lookup, true},
    {"resolve", handle_resolve, true},
    {"set_hostname", handle_set_hostname, false},
    {"resolve_hostname", handle_resolve_hostname, true},
    {"set_visibility", handle_set_visibility, false},
    {"set_tags", handle_set_tags, false},
    {"list_nodes", handle_list_nodes, true},
};

const Route* find_route(std::string_view type) {
  for (const Route& r : kRoutes)
    if (r.type == type) return &r;
  return nullptr;
}

// Go's %q for the unknown-type message.
std::string go_quote(std::string_view s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += char(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      q += buf;
    } else {
      q += char(c);
    }
  }
  return q + "\"";
}

std::string error_body(std::string_view text) {
  JsonPtr j(json_object());
  json_object_set_new(j.get(), "type", json_string("error"));
  std::string_view wire_text = wire::sanitize_error(text);
  json_object_set_new(j.get(), "error", json_stringn(wire_text.data(), wire_text.size()));
  return json_dump_compact(j.get());
}

}  // namespace

std::string dispatch_json(Registry& reg, const Message& msg, const Peer& peer, int64_t now_ns, bool* is_error,
                          size_t* type_index) {
  std::string_view type = msg.str("type");
  *type_index = metrics::type_index(type);
  *is_error = true;
  if (type == "subscribe_replication") {
    // Intercepted before dispatch in the Go accept layer, so its texts are not sanitised.
    const std::string& token = reg.config().repl_token;
    std::string text = token.empty() ? "replication not configured"
                       : !token_equal(msg.str("token"), token) ? "invalid replication token"
                       : "replication streaming is not available on this server yet";
    JsonPtr j(json_pack("{s:s,s:s%}", "type", "error", "error", text.data(), text.size()));
    return json_dump_compact(j.get());
  }
  const Route* route = find_route(type);
  if (reg.is_standby() && !(route && route->allowed_on_standby))
    return error_body("standby mode: write operations not accepted (use primary)");
  if (!route) return error_body("unknown message type: " + go_quote(type));
  Request req{reg, msg, peer, now_ns};
  Outcome out;
  try {
    out = route->handler(req);
  } catch (const std::exception& e) {
    // The C++ analogue of the Go server's recovered handler panic: an ordinary error reply.
    log_error("handler failed", {{"type", type}, {"error", e.what()}});
    return error_body(std::string("registry handler panic recovered: ") + e.what());
  }
  if (out.failed) {
    if (reg.pass_error()) log_warn("store error during request", {{"type", type}, {"error", lmdb_error(reg.pass_error())}});
    return error_body(out.error);
  }
  *is_error = false;
  if (!out.raw.empty()) return out.raw;
  if (!json_object_get(out.json.get(), "type"))
    json_object_set_new(out.json.get(), "type", json_stringn(type.data(), type.size()));
  return json_dump_compact(out.json.get());
}

}  // namespace rdv::registry
