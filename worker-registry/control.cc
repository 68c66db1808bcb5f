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
//
// Consumers that need the change log kept for them (the replicator, for each standby) name
// themselves and acknowledge what they have: {"type":"bus_ack","consumer":C,"seq":N}. The
// writer never trims past the lowest acknowledgement (unless the log outgrows
// -changelog-max-mb); {"type":"bus_forget","consumer":C} drops one.
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

std::string consumer_error(std::string_view name) {
  if (name.empty()) return "consumer required";
  if (name.size() > 255) return "consumer name too long (max 255 bytes)";
  return "";
}

Outcome handle_bus_ack(Request& r) {
  std::string_view name = r.msg.str("consumer");
  if (std::string err = consumer_error(name); !err.empty()) return Outcome::fail(err);
  JsonPtr seq = r.msg.json("seq");
  if (!json_is_number(seq.get()) || json_number_value(seq.get()) < 0)
    return Outcome::fail("seq required (a non-negative number)");
  Write w(r);
  uint64_t stored = w.ack_consumer(name, uint64_t(json_number_value(seq.get())));
  return Outcome::ok(json_pack("{s:s,s:s%,s:I}", "type", "bus_ack_ok", "consumer", name.data(), name.size(), "seq",
                               json_int_t(stored)));
}

Outcome handle_bus_forget(Request& r) {
  std::string_view name = r.msg.str("consumer");
  if (std::string err = consumer_error(name); !err.empty()) return Outcome::fail(err);
  Write w(r);
  w.forget_consumer(name);
  return Outcome::ok(json_pack("{s:s}", "type", "bus_forget_ok"));
}

const MessageDesc kMessages[] = {
    {.type = "status", .access = Access::Read, .auth = Auth::Local, .standby_ok = true, .handler = handle_status},
    {.type = "bus_subscribe", .access = Access::Read, .auth = Auth::Local, .standby_ok = true,
     .handler = handle_bus_subscribe},
    {.type = "bus_ack", .access = Access::Write, .auth = Auth::Local, .standby_ok = false, .handler = handle_bus_ack},
    {.type = "bus_forget", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_bus_forget},
};

}  // namespace

std::span<const MessageDesc> control_messages() { return kMessages; }

}  // namespace rdv::registry
