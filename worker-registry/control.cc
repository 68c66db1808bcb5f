// Local commands on <run-dir>/registry.sock (same framing as the daemon protocol). The admin
// worker and rendezvousctl use it; being a Unix socket in the run dir (mode 0600), it is
// reachable only by the service's own user.
#include "json.h"
#include "message.h"
#include "registry.h"

namespace rdv::registry {

std::string dispatch_control(Registry& reg, const Message& msg, size_t tcp_connections, bool serving) {
  std::string_view type = msg.str("type");
  JsonPtr out;
  if (type == "status") {
    out.reset(json_object());
    json_object_set_new(out.get(), "type", json_string("status_ok"));
    json_object_set_new(out.get(), "serving", json_boolean(serving));
    json_object_set_new(out.get(), "role", json_string(reg.is_standby() ? "standby" : "leader"));
    json_object_set_new(out.get(), "epoch", json_integer(json_int_t(reg.epoch())));
    json_object_set_new(out.get(), "connections", json_integer(json_int_t(tcp_connections)));
    json_object_set_new(out.get(), "nodes", json_integer(json_int_t(reg.node_count())));
    json_object_set_new(out.get(), "map_size", json_integer(json_int_t(reg.env().map_size())));
  } else {
    std::string text = "unknown command \"" + std::string(type) + "\"";
    out.reset(json_pack("{s:s,s:s%}", "type", "error", "error", text.data(), text.size()));
  }
  return json_dump_compact(out.get());
}

}  // namespace rdv::registry
