// Local commands on <run-dir>/registry.sock (same framing as the daemon protocol). The admin
// worker and rendezvousctl use it; being a Unix socket in the run dir (mode 0600), it is
// reachable only by the service's own user, which the dispatcher treats as the local operator.
// Daemon messages sent here run through their own descriptors with that authority.
//
// The local bus: a connection that sends bus_subscribe is answered with the newest committed
// sequence and from then on receives one frame per commit,
//   {"type":"commit","seq":N,"epoch":E}
// and one per liveness flush, {"type":"liveness","rows":N,"unix_ms":T} (server.cc). Frames to
// a subscriber that does not read are skipped, never buffered without bound: each carries the
// newest sequence, so the next one says everything a skipped one would have.
#include "json.h"
#include "message_table.h"
#include "registry.h"

namespace rdv::registry {

namespace {

Outcome handle_status(Request& r) {
  Registry& reg = *r.state;
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("status_ok"));
  json_object_set_new(out, "serving", json_boolean(reg.server.serving));
  json_object_set_new(out, "role", json_string(reg.is_standby() ? "standby" : "leader"));
  json_object_set_new(out, "epoch", json_integer(json_int_t(reg.epoch())));
  json_object_set_new(out, "connections", json_integer(json_int_t(reg.server.tcp_connections)));
  json_object_set_new(out, "nodes", json_integer(json_int_t(r.view.node_count())));
  json_object_set_new(out, "map_size", json_integer(json_int_t(reg.env().map_size())));
  json_object_set_new(out, "last_seq", json_integer(json_int_t(reg.server.last_seq)));
  return Outcome::ok(out);
}

Outcome handle_bus_subscribe(Request& r) {
  r.effect(Effect::SubscribeBus);
  return Outcome::ok(json_pack("{s:s,s:I,s:I}", "type", "bus_subscribe_ok", "seq", json_int_t(r.state->server.last_seq),
                               "epoch", json_int_t(r.epoch)));
}

const MessageDesc kMessages[] = {
    {.type = "status", .access = Access::Read, .auth = Auth::Local, .standby_ok = true, .handler = handle_status},
    {.type = "bus_subscribe", .access = Access::Read, .auth = Auth::Local, .standby_ok = true,
     .handler = handle_bus_subscribe},
};

}  // namespace

std::span<const MessageDesc> control_messages() { return kMessages; }

}  // namespace rdv::registry
