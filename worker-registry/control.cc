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
//
// The replicator's reports (docs/replication.md, "The registry's side"): replica_applied
// {seq} on a standby (records up to seq are in the store: the commit is published on the bus,
// so the admin dashboard follows the standby's state) and repl_acked {seq, standbys} on a
// leader (the highest streaming standby's acknowledgement, which releases writes held by
// -repl-sync). Both are reads: they run on the loop and only ask for Effects, which the
// connection layer applies (pipeline.cc, finish).
#include <charconv>

#include "json.h"
#include "message_table.h"
#include "registry.h"
#include "role.h"

namespace rdv::registry {

namespace {

Outcome handle_status(Request& r) {
  Registry& reg = *r.state;
  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("status_ok"));
  json_object_set_new(out, "serving", json_boolean(reg.server.serving));
  const Role role = role_of(r.cfg);
  json_object_set_new(out, "role", json_string(role_name(role.kind)));
  json_object_set_new(out, "leader", json_string(r.cfg.standby.c_str()));
  json_object_set_new(out, "epoch", json_integer(json_int_t(reg.epoch())));
  json_object_set_new(out, "writer_idle", json_boolean(reg.server.writer_idle));
  json_object_set_new(out, "sync", json_pack("{s:b,s:s,s:I,s:I}", "enabled", reg.server.sync_enabled, "state",
                                             reg.server.sync_state, "held", json_int_t(reg.server.sync_held),
                                             "degraded_total", json_int_t(reg.server.sync_degraded_total)));
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

// A sequence field of the replicator's reports: a JSON integer from 0 to 2^64-1, read from
// its text (Message::json reads numbers as doubles, which would round a large sequence).
bool seq_field(Request& r, const char* name, uint64_t* out, std::string* error) {
  std::string_view text = r.msg.raw(name);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    *error = std::string(name) + " required (a non-negative integer)";
    return false;
  }
  return true;
}

Outcome handle_replica_applied(Request& r) {
  if (!r.state->is_standby()) return Outcome::fail("replica_applied: this instance is the leader; only a standby applies records");
  uint64_t seq;
  std::string err;
  if (!seq_field(r, "seq", &seq, &err)) return Outcome::fail(err);
  r.effect(Effect::ReplicaApplied, 0, int64_t(seq));
  return Outcome::ok(json_pack("{s:s,s:I}", "type", "replica_applied_ok", "seq", json_int_t(seq)));
}

Outcome handle_repl_acked(Request& r) {
  uint64_t seq, standbys;
  std::string err;
  if (!seq_field(r, "seq", &seq, &err) || !seq_field(r, "standbys", &standbys, &err)) return Outcome::fail(err);
  if (standbys > UINT32_MAX) return Outcome::fail("standbys out of range");
  r.effect(Effect::ReplAcked, uint32_t(standbys), int64_t(seq));
  return Outcome::ok(json_pack("{s:s,s:I}", "type", "repl_acked_ok", "seq", json_int_t(seq)));
}

const MessageDesc kMessages[] = {
    {.type = "status", .access = Access::Read, .auth = Auth::Local, .standby_ok = true, .handler = handle_status},
    {.type = "bus_subscribe", .access = Access::Read, .auth = Auth::Local, .standby_ok = true,
     .handler = handle_bus_subscribe},
    {.type = "bus_ack", .access = Access::Write, .auth = Auth::Local, .standby_ok = false, .handler = handle_bus_ack},
    {.type = "replica_applied", .access = Access::Read, .auth = Auth::Local, .standby_ok = true,
     .handler = handle_replica_applied},
    {.type = "repl_acked", .access = Access::Read, .auth = Auth::Local, .standby_ok = true,
     .handler = handle_repl_acked},
    {.type = "bus_forget", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_bus_forget},
};

}  // namespace

std::span<const MessageDesc> control_messages() { return kMessages; }

}  // namespace rdv::registry
