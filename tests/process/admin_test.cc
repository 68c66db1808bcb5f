// Admin HTTP surface (ops-spec §4.9, §5.3, §6): /healthz, /readyz, /metrics, /api/nodes.
#include "harness.h"

namespace rt {
namespace {

using Admin = ServerTest;

TEST_F(Admin, HealthzShape) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/healthz", &h));
  EXPECT_EQ(h.status, 200);
  EXPECT_NE(h.header("Content-Type").find("application/json"), std::string::npos) << h.headers;
  rdv::JsonPtr j = parse_json(h.body);
  ASSERT_TRUE(json_is_object(j.get())) << h.body;
  EXPECT_EQ(str(j.get(), "status"), "ok") << h.body;
  EXPECT_EQ(str(j.get(), "version"), "1.0") << h.body;
  EXPECT_TRUE(json_is_integer(json_object_get(j.get(), "uptime_seconds"))) << h.body;
  EXPECT_GE(num(j.get(), "uptime_seconds"), 0);
  EXPECT_TRUE(json_is_integer(json_object_get(j.get(), "nodes_online"))) << h.body;
  EXPECT_EQ(json_object_size(j.get()), 4u) << h.body;
}

TEST_F(Admin, HealthzCountsOnlineNodes) {
  Conn c = server.connect();
  ASSERT_EQ(str(do_register(c, Key::generate()).get(), "type"), "register_ok");
  ASSERT_EQ(str(do_register(c, Key::generate()).get(), "type"), "register_ok");
  // The gauge is refreshed by the registry; poll briefly rather than assume when.
  int64_t deadline = mono_ms() + 5000;
  int64_t online = -1;
  HttpResponse h;
  while (mono_ms() < deadline) {
    if (http_get(server.http_port, "/healthz", &h) && h.status == 200) {
      online = num(parse_json(h.body).get(), "nodes_online");
      if (online == 2) break;
    }
    sleep_ms(50);
  }
  EXPECT_EQ(online, 2) << h.body;
}

TEST_F(Admin, ReadyzLeader) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/readyz", &h));
  EXPECT_EQ(h.status, 200) << h.body;
  rdv::JsonPtr j = parse_json(h.body);
  ASSERT_TRUE(json_is_object(j.get())) << h.body;
  EXPECT_EQ(str(j.get(), "role"), "leader") << h.body;
}

TEST_F(Admin, MetricsAfterRegister) {
  Conn c = server.connect();
  ASSERT_EQ(str(do_register(c, Key::generate()).get(), "type"), "register_ok");
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &h));
  EXPECT_EQ(h.status, 200);
  EXPECT_NE(h.header("Content-Type").find("text/plain"), std::string::npos) << h.headers;
  EXPECT_NE(h.header("Content-Type").find("version=0.0.4"), std::string::npos) << h.headers;
  const std::string& b = h.body;
  EXPECT_NE(b.find("# TYPE pilot_requests_total counter"), std::string::npos) << b;
  EXPECT_NE(b.find("\npilot_requests_total{type=\"register\"} "), std::string::npos) << b;
  EXPECT_NE(b.find("# TYPE pilot_nodes_total gauge"), std::string::npos) << b;
  EXPECT_NE(b.find("\npilot_nodes_total "), std::string::npos) << b;
  EXPECT_NE(b.find("\npilot_registrations_total "), std::string::npos) << b;
  EXPECT_NE(b.find("pilot_request_duration_seconds_bucket{type=\"register\",le=\"+Inf\"} "), std::string::npos)
      << b;
  // At least one registration counted.
  auto pos = b.find("\npilot_registrations_total ");
  if (pos != std::string::npos) {
    EXPECT_GE(std::atoll(b.c_str() + pos + 27), 1) << b.substr(pos, 40);
  }
}

TEST_F(Admin, MetricsUnknownTypesShareOneLabel) {
  Conn c = server.connect();
  ASSERT_NE(c.request(R"({"type":"made-up-type-1"})"), nullptr);
  ASSERT_NE(c.request(R"({"type":"made-up-type-2"})"), nullptr);
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &h));
  EXPECT_EQ(h.body.find("made-up-type"), std::string::npos) << "client-chosen label leaked";
  EXPECT_NE(h.body.find("pilot_requests_total{type=\"unknown\"} "), std::string::npos) << h.body;
}

TEST_F(Admin, ApiNodesListsOverlayAddressesOnly) {
  Conn c = server.connect();
  Key a = Key::generate(), b = Key::generate();
  ASSERT_EQ(num(do_register(c, a).get(), "node_id"), 1);
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "api-host"));
  ASSERT_EQ(num(do_register(c, b, kPublicAddr, extra.get()).get(), "node_id"), 2);
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/api/nodes", &h));
  EXPECT_EQ(h.status, 200) << h.body;
  rdv::JsonPtr j = parse_json(h.body);
  ASSERT_TRUE(json_is_object(j.get())) << h.body;
  EXPECT_EQ(num(j.get(), "count"), 2) << h.body;
  const json_t* nodes = json_object_get(j.get(), "nodes");
  ASSERT_TRUE(json_is_array(nodes)) << h.body;
  ASSERT_EQ(json_array_size(nodes), 2u) << h.body;
  for (size_t i = 0; i < 2; i++) {
    const json_t* n = json_array_get(nodes, i);
    int64_t id = num(n, "node_id");
    EXPECT_TRUE(id == 1 || id == 2) << dump(n);
    EXPECT_EQ(str(n, "address"), "0:0000.0000.000" + std::to_string(id)) << dump(n);
    EXPECT_TRUE(has(n, "last_seen")) << dump(n);
    if (id == 2) {
      EXPECT_EQ(str(n, "hostname"), "api-host") << dump(n);
    }
    EXPECT_FALSE(has(n, "real_addr")) << dump(n);
    EXPECT_FALSE(has(n, "public_key")) << dump(n);
  }
  // Never an IP or a key anywhere in the body.
  EXPECT_EQ(h.body.find("203.0.113.7"), std::string::npos) << h.body;
  EXPECT_EQ(h.body.find("127.0.0.1"), std::string::npos) << h.body;
  EXPECT_EQ(h.body.find(a.pub_b64()), std::string::npos) << h.body;
  EXPECT_EQ(h.body.find(b.pub_b64()), std::string::npos) << h.body;
}

TEST_F(Admin, UnknownPath404) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/no/such/path", &h));
  EXPECT_EQ(h.status, 404);
}


// ops-spec §5.2: localhost-only endpoints judge the real TCP peer. The server listens on all
// interfaces and is reached through this host's non-loopback address.
class RemotePeer : public ServerTest {
 protected:
  void SetUp() override {
    ip_ = non_loopback_ipv4();
    if (ip_.empty()) GTEST_SKIP() << "this host has no non-loopback IPv4 address";
    server.bind_host = "0.0.0.0";
    ServerTest::SetUp();
  }
  std::string ip_;
};

TEST_F(RemotePeer, LocalhostOnlyEndpointsRefused) {
  HttpResponse h;
  ASSERT_TRUE(http_get_ip(ip_, server.http_port, "/healthz", &h));
  EXPECT_EQ(h.status, 200) << "public endpoint";
  ASSERT_TRUE(http_get_ip(ip_, server.http_port, "/metrics", &h));
  EXPECT_EQ(h.status, 403) << h.body;
  ASSERT_TRUE(http_get_ip(ip_, server.http_port, "/api/nodes", &h));
  EXPECT_EQ(h.status, 403) << h.body;
  // X-Real-IP / X-Forwarded-For from a remote peer do not make it local (newest contract).
  ASSERT_TRUE(http_get_ip(ip_, server.http_port, "/metrics", &h, 3000,
                          {"X-Real-IP: 127.0.0.1", "X-Forwarded-For: 127.0.0.1"}));
  EXPECT_EQ(h.status, 403) << h.body;
  // The same path from loopback is allowed.
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &h));
  EXPECT_EQ(h.status, 200);
}

// §6.1.1 step 1 over the wire with a non-loopback source address.
TEST_F(RemotePeer, ObservedAddrUsesTcpSource) {
  int e = 0;
  Conn c = Conn::open_ip(ip_, server.registry_port, 3000, &e);
  ASSERT_TRUE(c.ok()) << strerror(e);
  rdv::JsonPtr r = do_register(c, Key::generate(), "10.0.0.1:4000");
  EXPECT_EQ(str(r.get(), "observed_addr"), ip_ + ":4000") << dump(r.get());
  r = do_register(c, Key::generate(), "");
  EXPECT_EQ(str(r.get(), "observed_addr").rfind(ip_ + ":", 0), 0u) << dump(r.get());
  r = do_register(c, Key::generate(), "8.8.8.8:9000");
  EXPECT_EQ(str(r.get(), "observed_addr"), "8.8.8.8:9000") << dump(r.get());
}

}  // namespace
}  // namespace rt
