// Fuzz target: the admin worker's router (worker-admin/routes.h dispatch) and every handler it
// reaches, with a fuzzed method, path, query, peer address, headers and body. The context has
// what the admin worker has without live workers: the store (registry_fixture.h's, three
// nodes), no registry metrics page, and registry/replicator sockets that answer
// "unreachable". Streamed responses (server-sent events) are not run.
//
// Input: lines — method, path, query, peer address, then "Name: value" headers up to an empty
// line; the rest is the body. Invariants: a status in 100..599; 404 / 405 only from the
// router's own rules; a 405 carries an Allow header; a refused access class (401/403) never
// runs the handler.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/config.h"
#include "tests/fuzz/registry_fixture.h"
#include "worker-admin/live_config.h"
#include "worker-admin/registry_metrics_source.h"
#include "worker-admin/routes.h"

namespace {

using namespace rdv::admin;
using rdv::fuzz::check;

struct AdminFixture {
  LiveConfig config{rdv::Config{}};
  RegistryMetricsSource metrics;
  AdminContext ctx;
  AdminFixture() : metrics(rdv::fuzz::FuzzRegistry::dir() + "/no-registry-metrics") {
    rdv::fuzz::FuzzRegistry& reg = rdv::fuzz::FuzzRegistry::get();
    rdv::Config c;
    c.admin_token = rdv::fuzz::kAdminToken;
    c.data_dir = reg.data_dir();
    c.run_dir = rdv::fuzz::FuzzRegistry::dir() + "/run";
    config.set(c);
    ctx.env = &reg.env();
    ctx.registry_metrics = &metrics;
    ctx.config = &config;
    ctx.started_unix = 1700000000;
    auto unreachable = [](const json_t*, std::string* err) -> rdv::JsonPtr {
      *err = "connect: No such file or directory";
      return nullptr;
    };
    ctx.registry_call = unreachable;
    ctx.replicator_call = unreachable;
  }
};

std::string_view line(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view l = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static AdminFixture* f = new AdminFixture();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Request req;
  req.method = line(in);
  req.path = line(in);
  req.query = line(in);
  req.remote_addr = line(in);
  while (!in.empty()) {
    std::string_view h = line(in);
    if (h.empty()) break;
    size_t colon = h.find(':');
    std::string_view name = h.substr(0, colon), value;
    if (colon != std::string_view::npos) {
      value = h.substr(colon + 1);
      while (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    req.headers.emplace_back(name, value);
  }
  req.body = in;
  const Route* route = find_route(req.path);
  // As http_server.cc does: a body over the route's limit is flagged, not handed over.
  if (route && req.body.size() > route->max_body) {
    req.body_too_large = true;
    req.body = {};
  }
  Response r = dispatch(f->ctx, req);
  check(r.status >= 100 && r.status <= 599, "an HTTP status");
  if (!route) check(r.status == 404, "an unknown path is 404");
  if (r.status == 405) {
    bool allow = false;
    for (auto& [k, v] : r.headers) allow = allow || (k == "Allow" && !v.empty());
    check(allow, "405 carries Allow");
  }
  if (route && route->access == Access::LocalhostOnly && !is_loopback(req.remote_addr))
    check(r.status == 403, "localhost-only routes refuse other peers");
  if (route && route->access == Access::Admin && !admin_refusal(rdv::fuzz::kAdminToken, req).empty())
    check(r.status == 401, "admin routes refuse a missing or wrong token");
  return 0;
}
