#include "worker-admin/health.h"

#include <algorithm>
#include <atomic>

#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/replication.h"

namespace rdv::admin {

JsonPtr healthz_json(int64_t uptime_seconds, uint64_t nodes_online) {
  return JsonPtr(json_pack("{s:s,s:s,s:I,s:I}", "status", "ok", "version", "1.0", "uptime_seconds",
                           json_int_t(std::max<int64_t>(uptime_seconds, 0)), "nodes_online",
                           json_int_t(nodes_online)));
}

Response handle_healthz(const AdminContext& ctx, const Request&) {
  // The registry's page carries the service's uptime (it survives worker restarts); without
  // it, the admin worker's own start is the best we know.
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  int64_t started = page ? page->started_unix.load(std::memory_order_relaxed) : 0;
  if (started <= 0) started = ctx.started_unix;
  uint64_t online = page ? page->nodes_online.load(std::memory_order_relaxed) : 0;
  JsonPtr body = healthz_json(unix_now() - started, online);
  return json_response(200, body.get());
}

Response readiness_response(const json_t* reply, std::string_view error, std::string_view configured_leader) {
  std::string role = reply ? std::string(json_str(reply, "role")) : "";
  if (role.empty()) role = "unknown";
  std::string leader = reply ? std::string(json_str(reply, "leader")) : "";
  if (leader.empty() && role == "standby") leader = configured_leader;
  const std::string sync = reply ? sync_state(reply) : "off";
  auto body_of = [&](const char* status) {
    JsonPtr body(json_pack("{s:s,s:s}", "status", status, "role", role.c_str()));
    if (!leader.empty()) json_object_set_new(body.get(), "leader", json_string(leader.c_str()));
    json_object_set_new(body.get(), "sync", json_string(sync.c_str()));
    return body;
  };
  auto not_ready = [&](const std::string& reason) {
    JsonPtr body = body_of("not ready");
    json_object_set_new(body.get(), "reason", json_stringn(reason.data(), reason.size()));
    return json_response(503, body.get());
  };
  if (!reply) return not_ready("registry unreachable: " + std::string(error));
  std::string_view type = json_str(reply, "type");
  if (type != "status_ok") {
    std::string why = "unexpected registry reply";
    if (std::string_view msg = json_str(reply, "error"); !msg.empty()) why += ": " + std::string(msg);
    else why += " type \"" + std::string(type) + "\"";
    return not_ready(why);
  }
  if (!json_bool(reply, "serving")) return not_ready("registry not serving");
  if (role == "standby") return not_ready("standby");
  if (role == "fenced") return not_ready("fenced: a higher epoch exists; promote or demote this instance");
  if (role != "leader") return not_ready("role is not leader");
  JsonPtr body = body_of("ready");
  return json_response(200, body.get());
}

std::string public_registry_error(std::string_view error, std::string_view socket_path) {
  if (socket_path.empty()) return std::string(error);
  std::string_view name = socket_path.substr(socket_path.rfind('/') + 1);  // npos + 1 == 0
  std::string out;
  for (size_t pos = 0;;) {
    size_t hit = error.find(socket_path, pos);
    out.append(error.substr(pos, hit - pos));
    if (hit == std::string_view::npos) break;
    out.append(name);
    pos = hit + socket_path.size();
  }
  return out;
}

Response handle_readyz(const AdminContext& ctx, const Request&) {
  std::string error;
  JsonPtr request(json_pack("{s:s}", "type", "status"));
  JsonPtr reply = ctx.registry_call(request.get(), &error);
  auto cfg = ctx.config->get();
  Response r = readiness_response(reply.get(), public_registry_error(error, ipc::registry_socket_path(cfg->run_dir)),
                                  cfg->standby);
  // Probes poll this every few seconds: log transitions, not every answer.
  static std::atomic<int> last_status{0};
  if (last_status.exchange(r.status, std::memory_order_relaxed) != r.status) {
    if (r.status == 200) log_info("readiness: ready");
    else log_warn("readiness: not ready", {{"detail", reply ? json_dump_compact(reply.get()) : error}});
  }
  return r;
}

namespace {
const Route kRoutes[] = {
    {.pattern = "/healthz", .methods = "GET", .access = Access::Public, .handler = handle_healthz},
    {.pattern = "/readyz", .methods = "GET", .access = Access::Public, .handler = handle_readyz},
};
}  // namespace

std::span<const Route> health_routes() { return kRoutes; }

}  // namespace rdv::admin
