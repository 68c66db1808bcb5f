#include "worker-admin/operator_call.h"

#include "shared/ipc.h"
#include "worker-admin/health.h"

namespace rdv::admin {

std::optional<Response> operator_call(const AdminContext& ctx, json_t* request, JsonPtr* reply, int refusal_status) {
  JsonPtr req(request);
  std::string error;
  JsonPtr got = ctx.registry_call ? ctx.registry_call(req.get(), &error) : nullptr;
  auto cfg = ctx.config->get();
  if (!got) {
    // The socket's full path is the deployment's business, not the HTTP client's.
    return text_error(503, "registry unavailable: " + public_registry_error(error, ipc::registry_socket_path(cfg->run_dir)));
  }
  if (json_str(got.get(), "type") == "error") {
    std::string text(json_str(got.get(), "error"));
    if (text.rfind("standby mode", 0) == 0) {
      // cfg follows role changes (main.cc on_role), so the address is the leader of now.
      if (cfg->fenced)
        return text_error(409, "fenced: this instance refuses writes until an operator promotes it or demotes it "
                               "to follow the leader");
      std::string leader = cfg->standby.empty() ? "(unknown)" : cfg->standby;
      return text_error(409, "standby: operator changes go to the leader at " + leader);
    }
    return text_error(refusal_status, text);
  }
  *reply = std::move(got);
  return std::nullopt;
}

}  // namespace rdv::admin
