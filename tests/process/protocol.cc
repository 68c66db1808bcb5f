#include "protocol.h"

#include <signal.h>

namespace rt {

Daemon register_daemon(Conn& c, const json_t* extra) {
  Daemon d{Key::generate(), 0};
  rdv::JsonPtr r = do_register(c, d.key, kPublicAddr, extra);
  EXPECT_TRUE(is_ok(r, "register_ok"));
  if (r) d.id = uint32_t(num(r.get(), "node_id", 0));
  return d;
}

rdv::JsonPtr call(Conn& c, json_t* req) {
  rdv::JsonPtr owned(req);
  if (!owned) {
    ADD_FAILURE() << "json_pack failed (bad format string?)";
    return nullptr;
  }
  return c.request(owned.get());
}

::testing::AssertionResult is_ok(const rdv::JsonPtr& reply, const std::string& type) {
  if (!reply) return ::testing::AssertionFailure() << "no reply (connection closed?)";
  if (str(reply.get(), "type") != type || has(reply.get(), "error"))
    return ::testing::AssertionFailure() << "expected " << type << ", got " << dump(reply.get());
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_error(const rdv::JsonPtr& reply, const std::string& text) {
  if (!reply) return ::testing::AssertionFailure() << "no reply (connection closed?)";
  if (str(reply.get(), "type") != "error" || str(reply.get(), "error") != text)
    return ::testing::AssertionFailure() << "expected error \"" << text << "\", got " << dump(reply.get());
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_error_containing(const rdv::JsonPtr& reply, const std::string& part) {
  if (!reply) return ::testing::AssertionFailure() << "no reply (connection closed?)";
  if (str(reply.get(), "type") != "error" || str(reply.get(), "error").find(part) == std::string::npos)
    return ::testing::AssertionFailure() << "expected an error containing \"" << part << "\", got " << dump(reply.get());
  return ::testing::AssertionSuccess();
}

uint16_t create_network(Conn& c, const Server& s, const Daemon& creator, const std::string& name,
                        const json_t* extra) {
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:I, s:s}", "type", "create_network", "admin_token", s.admin_token.c_str(),
                             "node_id", json_int_t(creator.id), "name", name.c_str()));
  if (extra) json_object_update(req.get(), const_cast<json_t*>(extra));
  rdv::JsonPtr r = c.request(req.get());
  EXPECT_TRUE(is_ok(r, "create_network_ok"));
  return r ? uint16_t(num(r.get(), "network_id", 0)) : 0;
}

void restart(Server& s) {
  int st = s.stop();
  ASSERT_NE(st, -1) << "supervisor did not exit after SIGTERM";
  s.new_ports();
  std::string err;
  ASSERT_TRUE(s.start(&err)) << err;
}

Conn kill_registry(Server& s) {
  pid_t registry = s.worker("rendezvous-registry");
  EXPECT_GT(registry, 0);
  EXPECT_EQ(kill(registry, SIGKILL), 0);
  EXPECT_GT(s.wait_worker("rendezvous-registry", registry, 20000), 0) << "registry worker not restarted";
  int64_t deadline = mono_ms() + 20000;
  while (mono_ms() < deadline) {
    Conn c = s.connect();
    if (c.ok() && c.request(R"({"type":"beacon_list"})", nullptr, 20000)) return c;
    sleep_ms(50);
  }
  ADD_FAILURE() << "the restarted registry does not answer";
  return Conn();
}

HttpResponse admin_http(const Server& s, const std::string& method, const std::string& path,
                        const std::string& body) {
  HttpResponse r;
  EXPECT_TRUE(http_request(s.http_port, method, path, body, &r, {"X-Admin-Token: " + s.admin_token}))
      << method << " " << path << ": no reply";
  return r;
}

rdv::JsonPtr json_body(const HttpResponse& r) {
  json_error_t err;
  rdv::JsonPtr v(json_loadb(r.body.data(), r.body.size(), 0, &err));
  EXPECT_TRUE(v) << "not JSON (" << err.text << "): " << r.body;
  return v;
}

bool wait_streaming(const Server& standby, int timeout_ms, std::string* last) {
  const int64_t deadline = mono_ms() + timeout_ms;
  while (mono_ms() < deadline) {
    rdv::JsonPtr s = json_body(admin_http(standby, "GET", "/api/admin/replication-status"));
    const json_t* f = s ? json_object_get(s.get(), "follower") : nullptr;
    *last = s ? dump(s.get()) : "";
    if (f && str(f, "state") == "streaming" && num(f, "lag_records") == 0) return true;
    sleep_ms(50);
  }
  return false;
}

}  // namespace rt
