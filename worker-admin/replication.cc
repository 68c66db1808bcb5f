// /api/admin/replication-status (ops-spec §5.3 row 15), POST /api/admin/promote and
// POST /api/admin/demote (ours; docs/replication.md "Promotion, demotion, fencing").
//
// The Go keys keep their meaning:
//   term        the replication epoch (<data-dir>/epoch, shared/epoch.h): our fencing number,
//               the role the Go server's `term` was meant to play (§4.7)
//   is_standby  true unless this instance serves writes (a fenced leader refuses them too)
//   subscribers the standbys this leader streams to now (state "streaming")
//   last_push_unix / last_push_age_secs  the newest time a standby was sent something; the Go
//               server defined but never filled them, so they stay absent until a standby
//               has been fed.
//
// Promote and demote are not audited through the registry: on a standby the registry
// refuses every write, the audit log included, and the point of a promotion is that the
// leader may be gone. Each is logged instead (warn level: a role change is an event an
// operator wants to find), with the caller's address and reason; the replicator logs its side.
#include "worker-admin/replication.h"

#include <algorithm>

#include "shared/config.h"
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/health.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

namespace {

int64_t positive_integer(const json_t* obj, const char* key) {
  json_t* v = json_object_get(obj, key);
  return json_is_integer(v) && json_integer_value(v) > 0 ? int64_t(json_integer_value(v)) : 0;
}

// Copies obj[key] into out[key] when it is present (any JSON type).
void copy_key(json_t* out, const json_t* obj, const char* key) {
  if (json_t* v = json_object_get(obj, key)) json_object_set(out, key, v);
}

// The fields of one standby the API shows: the replicator's documented set, nothing else it
// may add later (an internal field should not become API by accident).
json_t* standby_json(const json_t* s) {
  json_t* out = json_object();
  for (const char* key : {"id", "addr", "state", "acked_seq", "lag_records", "lag_bytes", "lag_seconds", "lag_exact",
                          "connected_unix", "last_heard_unix", "last_sent_unix", "records_sent", "bytes_sent",
                          "full_copies"})
    copy_key(out, s, key);
  return out;
}

json_t* follower_json(const json_t* f) {
  json_t* out = json_object();
  for (const char* key : {"leader", "state", "applied_seq", "leader_seq", "leader_epoch", "lag_records", "lag_seconds",
                          "last_contact_unix", "connected", "reconnects", "full_copies", "last_error"})
    copy_key(out, f, key);
  return out;
}

}  // namespace

std::string sync_state(const json_t* registry_status) {
  const json_t* sync = json_object_get(registry_status, "sync");
  if (!json_is_object(sync) || !json_bool(sync, "enabled")) return "off";
  std::string_view state = json_str(sync, "state");
  return state == "degraded" ? "degraded" : state == "sync" ? "sync" : "off";
}

bool valid_leader_address(std::string_view addr) {
  if (addr.size() > 300) return false;
  std::string host;
  int port = 0;
  if (!split_host_port(std::string(addr), &host, &port) || host.empty() || port < 1 || port > 65535) return false;
  if (host.size() > 253) return false;
  const bool bracketed = addr.front() == '[';  // split_host_port took the brackets off
  return std::all_of(host.begin(), host.end(), [bracketed](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           (bracketed ? c == ':' : c == '-' || c == '_');
  });
}

JsonPtr replication_status_json(const json_t* reg, const json_t* rep, std::string_view configured_leader,
                                bool sync_configured, int64_t now_unix) {
  // Only a well-formed reply counts; an error reply is as good as none.
  if (reg && json_str(reg, "type") != "status_ok") reg = nullptr;
  if (rep && json_str(rep, "type") != "status_ok") rep = nullptr;

  std::string role(reg ? json_str(reg, "role") : "");
  if (role.empty() && rep) role = json_str(rep, "role");
  if (role.empty()) role = "unknown";
  // Both keep the epoch; during a promotion the replicator raises it first, so the higher one
  // is the newest.
  int64_t epoch = std::max(reg ? positive_integer(reg, "epoch") : 0, rep ? positive_integer(rep, "epoch") : 0);
  int64_t last_seq = rep ? positive_integer(rep, "last_seq") : reg ? positive_integer(reg, "last_seq") : 0;

  const json_t* standbys = rep ? json_object_get(rep, "standbys") : nullptr;
  const json_t* follower = rep ? json_object_get(rep, "follower") : nullptr;
  int64_t streaming = 0, last_push = 0;
  JsonPtr standby_list(json_array());
  if (json_is_array(standbys)) {
    size_t i;
    const json_t* s;
    json_array_foreach(standbys, i, s) {
      if (!json_is_object(s)) continue;
      if (json_str(s, "state") == "streaming") streaming++;
      last_push = std::max(last_push, positive_integer(s, "last_sent_unix"));
      json_array_append_new(standby_list.get(), standby_json(s));
    }
  }

  std::string leader(reg ? json_str(reg, "leader") : "");
  if (leader.empty() && rep) leader = json_str(rep, "leader");
  if (leader.empty() && json_is_object(follower)) leader = json_str(follower, "leader");
  if (leader.empty() && role == "standby") leader = configured_leader;

  JsonPtr body(json_object());
  json_object_set_new(body.get(), "term", json_integer(epoch));
  json_object_set_new(body.get(), "is_standby", json_boolean(role != "leader"));
  json_object_set_new(body.get(), "subscribers", json_integer(streaming));
  if (last_push > 0) {
    json_object_set_new(body.get(), "last_push_unix", json_integer(last_push));
    json_object_set_new(body.get(), "last_push_age_secs", json_integer(std::max<int64_t>(0, now_unix - last_push)));
  }
  json_object_set_new(body.get(), "role", json_string(role.c_str()));
  if (!leader.empty()) json_object_set_new(body.get(), "leader", json_string(leader.c_str()));
  json_object_set_new(body.get(), "epoch", json_integer(epoch));
  json_object_set_new(body.get(), "last_seq", json_integer(last_seq));
  json_object_set_new(body.get(), "standbys", standby_list.release());
  if (json_is_object(follower)) json_object_set_new(body.get(), "follower", follower_json(follower));
  // A promoted instance tells its old leader of the new epoch until it answers (the fence).
  if (rep && !json_str(rep, "fencing").empty()) copy_key(body.get(), rep, "fencing");

  JsonPtr sync(json_object());
  const json_t* reg_sync = reg ? json_object_get(reg, "sync") : nullptr;
  if (json_is_object(reg_sync)) {
    json_object_set_new(sync.get(), "enabled", json_boolean(json_bool(reg_sync, "enabled")));
    json_object_set_new(sync.get(), "state", json_string(sync_state(reg).c_str()));
    json_object_set_new(sync.get(), "held", json_integer(positive_integer(reg_sync, "held")));
    json_object_set_new(sync.get(), "degraded_total", json_integer(positive_integer(reg_sync, "degraded_total")));
  } else {
    // A registry that does not report sync: what the configuration asks for, state unknown.
    json_object_set_new(sync.get(), "enabled", json_boolean(sync_configured));
    json_object_set_new(sync.get(), "state", json_string(sync_configured ? "unknown" : "off"));
  }
  json_object_set_new(body.get(), "sync", sync.release());
  json_object_set_new(body.get(), "registry", json_string(reg ? "ok" : "unavailable"));
  json_object_set_new(body.get(), "replicator", json_string(rep ? "ok" : "unavailable"));
  return body;
}

namespace {

constexpr size_t kMaxReasonBytes = 500;

JsonPtr status_request() { return JsonPtr(json_pack("{s:s}", "type", "status")); }

Response handle_replication_status(const AdminContext& ctx, const Request&) {
  std::string reg_error, rep_error;
  JsonPtr req = status_request();
  JsonPtr reg = ctx.registry_call ? ctx.registry_call(req.get(), &reg_error) : nullptr;
  JsonPtr rep = ctx.replicator_call ? ctx.replicator_call(req.get(), &rep_error) : nullptr;
  bool reg_ok = reg && json_str(reg.get(), "type") == "status_ok";
  bool rep_ok = rep && json_str(rep.get(), "type") == "status_ok";
  if (!reg_ok) log_warn("/api/admin/replication-status: no registry status",
                        {{"error", reg ? json_dump_compact(reg.get()) : reg_error}});
  if (!rep_ok) log_debug("/api/admin/replication-status: no replicator status",
                         {{"error", rep ? json_dump_compact(rep.get()) : rep_error}});
  if (!reg_ok && !rep_ok) return text_error(503, "replication status unavailable: registry and replicator not answering");
  auto cfg = ctx.config->get();
  JsonPtr body = replication_status_json(reg.get(), rep.get(), cfg->standby, cfg->repl_sync, unix_now());
  return json_response(200, body.get());
}

// Who asked, for the replicator's log and ours: the TCP peer (never a header) and the reason.
std::string requested_by(const Request& req, const std::string& reason) {
  std::string by = "admin API from " + std::string(req.remote_addr);
  if (!reason.empty()) by += ": " + reason;
  return by;
}

// The optional JSON body of promote/demote; *error says why it is unusable.
JsonPtr optional_body(const Request& req, std::string* error) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string_view::npos) return JsonPtr(json_object());
  return parse_json_body(req.body, error);
}

bool read_reason(const json_t* body, std::string* reason, std::string* error) {
  json_t* v = json_object_get(body, "reason");
  if (!v || json_is_null(v)) return true;
  if (!json_is_string(v)) {
    *error = "reason must be a string";
    return false;
  }
  *reason = json_string_value(v);
  if (reason->size() > kMaxReasonBytes) {
    *error = "reason too long (max 500 bytes)";
    return false;
  }
  if (reason->find_first_of("\r\n") != std::string::npos) {
    *error = "reason must be one line";
    return false;
  }
  return true;
}

// A replicator refusal: 409 when it is about the instance's state (a role change already
// under way, a refused transition), 500 for a failure (a disk that would not take the epoch).
Response replicator_refusal(std::string_view what, const json_t* reply) {
  std::string text(json_str(reply, "error"));
  if (text.empty()) text = "unexpected replicator reply " + json_dump_compact(reply);
  bool conflict = text.find("refused") != std::string::npos || text.find("in progress") != std::string::npos ||
                  text.find("already") != std::string::npos;
  return text_error(conflict ? 409 : 500, std::string(what) + " failed: " + text);
}

Response replicator_unreachable(const AdminContext& ctx, std::string_view what, const std::string& error) {
  log_warn(std::string(what) + ": replicator unreachable", {{"error", error}});
  return text_error(503, std::string(what) + " unavailable: replicator not answering (" +
                             public_registry_error(error, ipc::replicator_socket_path(ctx.config->get()->run_dir)) +
                             ")");
}

Response handle_promote(const AdminContext& ctx, const Request& req) {
  std::string error, reason;
  JsonPtr body = optional_body(req, &error);
  if (!body) return text_error(400, "invalid JSON body: " + error);
  if (!read_reason(body.get(), &reason, &error)) return text_error(400, error);
  const std::string by = requested_by(req, reason);
  log_warn("promote requested", {{"by", by}});
  JsonPtr call(json_pack("{s:s,s:s}", "type", "promote", "by", by.c_str()));
  JsonPtr reply = ctx.replicator_call ? ctx.replicator_call(call.get(), &error) : nullptr;
  if (!reply) return replicator_unreachable(ctx, "promote", ctx.replicator_call ? error : "not configured");
  if (json_str(reply.get(), "type") != "promote_ok") {
    log_warn("promote refused", {{"by", by}, {"reply", json_dump_compact(reply.get())}});
    return replicator_refusal("promote", reply.get());
  }
  const json_int_t epoch = positive_integer(reply.get(), "epoch");
  if (json_bool(reply.get(), "already")) {
    log_info("promote: already leader", {{"by", by}, {"epoch", std::to_string(epoch)}});
    JsonPtr out(json_pack("{s:s,s:I}", "status", "already leader", "epoch", epoch));
    return json_response(200, out.get());
  }
  log_warn("promoted", {{"by", by}, {"epoch", std::to_string(epoch)}});
  JsonPtr out(json_pack("{s:s,s:I,s:I,s:I}", "status", "promoted", "epoch", epoch, "previous_epoch",
                        json_int_t(positive_integer(reply.get(), "previous_epoch")), "took_ms",
                        json_int_t(positive_integer(reply.get(), "took_ms"))));
  return json_response(200, out.get());
}

Response handle_demote(const AdminContext& ctx, const Request& req) {
  std::string error, reason;
  JsonPtr body = optional_body(req, &error);
  if (!body) return text_error(400, "invalid JSON body: " + error);
  if (!read_reason(body.get(), &reason, &error)) return text_error(400, error);
  std::string leader(json_str(body.get(), "leader"));
  if (leader.empty()) return text_error(400, "leader required (the new leader's registry HOST:PORT)");
  if (!valid_leader_address(leader)) return text_error(400, "leader must be HOST:PORT (port 1..65535)");
  const std::string by = requested_by(req, reason);
  log_warn("demote requested", {{"by", by}, {"leader", leader}});
  JsonPtr call(json_pack("{s:s,s:s,s:s}", "type", "demote", "leader", leader.c_str(), "by", by.c_str()));
  JsonPtr reply = ctx.replicator_call ? ctx.replicator_call(call.get(), &error) : nullptr;
  if (!reply) return replicator_unreachable(ctx, "demote", ctx.replicator_call ? error : "not configured");
  if (json_str(reply.get(), "type") != "demote_ok") {
    log_warn("demote refused", {{"by", by}, {"reply", json_dump_compact(reply.get())}});
    return replicator_refusal("demote", reply.get());
  }
  std::string now_following(json_str(reply.get(), "leader"));
  if (now_following.empty()) now_following = leader;
  bool already = json_bool(reply.get(), "already");
  log_warn(already ? "demote: already following" : "demoted", {{"by", by}, {"leader", now_following}});
  JsonPtr out(json_pack("{s:s,s:s}", "status", already ? "already following" : "demoted", "leader",
                        now_following.c_str()));
  return json_response(200, out.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/admin/replication-status", .methods = "GET", .access = Access::Admin,
     .handler = handle_replication_status},
    {.pattern = "/api/admin/promote", .methods = "POST", .access = Access::Admin, .handler = handle_promote,
     .max_body = 4096},
    {.pattern = "/api/admin/demote", .methods = "POST", .access = Access::Admin, .handler = handle_demote,
     .max_body = 4096},
};

}  // namespace

std::span<const Route> replication_routes() { return kRoutes; }

}  // namespace rdv::admin
