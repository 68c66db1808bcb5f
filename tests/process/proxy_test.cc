// The PROXY protocol on the registry port (-proxy-protocol-from): real v1 and v2 headers as
// nginx (proxy_protocol on) and HAProxy (send-proxy, send-proxy-v2) write them, before plain
// frames and before a TLS handshake. The client the header names is the peer: its observed
// address at registration is the daemon's, not the front end's. Headers from anywhere else,
// malformed ones and slow ones close the connection.
#include <regex>

#include "harness.h"
#include "proxy_protocol.h"
#include "tls_client.h"

namespace rt {
namespace {

rdv::IpAddr ip(const char* text) {
  rdv::IpAddr a;
  EXPECT_TRUE(rdv::parse_ip(text, &a)) << text;
  return a;
}

uint64_t metric(const Server& s, const std::string& name) {
  HttpResponse m;
  if (!http_get(s.http_port, "/metrics", &m)) return ~0ull;
  std::smatch sm;
  if (!std::regex_search(m.body, sm, std::regex("\n" + name + " (\\d+)"))) return ~0ull;
  return std::stoull(sm[1].str());
}

class Proxy : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args) {
    server.extra_args = std::move(args);
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  Server server;
};

// A register with an empty listen_addr is answered with the source ip:port it came from.
std::string observed_after(Conn& c, const std::string& header) {
  EXPECT_TRUE(c.send_all(header));
  rdv::JsonPtr r = do_register(c, Key::generate(), "");
  if (!r) return "(no reply)";
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  return str(r.get(), "observed_addr");
}

TEST_F(Proxy, V1AndV2HeadersNameTheClient) {
  ASSERT_NO_FATAL_FAILURE(start({"-proxy-protocol-from", "127.0.0.0/8"}));
  Conn v1 = server.connect();
  EXPECT_EQ(observed_after(v1, "PROXY TCP4 198.51.100.7 127.0.0.1 40000 9000\r\n"), "198.51.100.7:40000");
  // The header and the first frame in one segment, as nginx often sends them.
  Conn v1b = server.connect();
  Key k = Key::generate();
  std::string reg_frame = json_frame(register_body(k, "0.0.0.0:4242"));
  ASSERT_TRUE(v1b.send_all("PROXY TCP4 198.51.100.8 127.0.0.1 40001 9000\r\n" + reg_frame));
  std::string body;
  ASSERT_EQ(v1b.recv_json(&body), Io::Ok);
  rdv::JsonPtr r(json_loads(body.c_str(), 0, nullptr));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "observed_addr"), "198.51.100.8:4242") << dump(r.get());

  Conn v2 = server.connect();
  EXPECT_EQ(observed_after(v2, rdv::proxy::encode_v2(ip("203.0.113.50"), 50000, ip("127.0.0.1"), 9000)),
            "203.0.113.50:50000");
  Conn v6 = server.connect();
  std::string tlvs = std::string("\x02\x00\x0b" "example.org", 14);  // PP2_TYPE_AUTHORITY
  EXPECT_EQ(observed_after(v6, rdv::proxy::encode_v2(ip("2001:db8::5"), 6000, ip("2001:db8::1"), 9000, tlvs)),
            "[2001:db8::5]:6000");
  // LOCAL (a front end's health check) and no header at all keep the real address.
  Conn local = server.connect();
  EXPECT_EQ(observed_after(local, rdv::proxy::encode_v2_local()).rfind("127.0.0.1:", 0), 0u);
  Conn none = server.connect();
  EXPECT_EQ(observed_after(none, "").rfind("127.0.0.1:", 0), 0u);
  // PILT after a header.
  Conn bin = server.connect();
  ASSERT_TRUE(bin.send_all("PROXY TCP4 198.51.100.9 127.0.0.1 1 9000\r\n"));
  ASSERT_TRUE(bin.send_preamble());
  ASSERT_TRUE(bin.send_frame(0x02, be32(1)));
  uint8_t type = 0;
  std::string payload;
  ASSERT_EQ(bin.recv_frame(&type, &payload), Io::Ok);
  EXPECT_EQ(type, 0x82);
  EXPECT_EQ(metric(server, "pilot_proxy_headers_total"), 6u);
}

TEST_F(Proxy, HeadersFromOutsideTheRangesAreRefused) {
  // Not configured: nobody may send one.
  ASSERT_NO_FATAL_FAILURE(start({}));
  for (const std::string& h : {std::string("PROXY TCP4 198.51.100.7 127.0.0.1 40000 9000\r\n"),
                               rdv::proxy::encode_v2(ip("198.51.100.7"), 1, ip("127.0.0.1"), 2)}) {
    Conn c = server.connect();
    ASSERT_TRUE(c.send_all(h));
    ASSERT_TRUE(c.send_json(R"({"type":"lookup","node_id":1})"));
    EXPECT_TRUE(c.expect_closed(5000)) << "a spoofed client address must not be believed";
  }
  EXPECT_EQ(metric(server, "pilot_proxy_refused_total"), 2u);
  // Daemons themselves are served.
  Conn c = server.connect();
  EXPECT_NE(do_lookup(c, 1), nullptr);
}

TEST_F(Proxy, TrustedRangeOtherThanThePeerIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start({"-proxy-protocol-from", "10.9.8.0/24,192.0.2.1"}));
  Conn c = server.connect();
  ASSERT_TRUE(c.send_all("PROXY TCP4 198.51.100.7 127.0.0.1 40000 9000\r\n"));
  EXPECT_TRUE(c.expect_closed(5000));
}

TEST_F(Proxy, MalformedAndSlowHeadersClose) {
  ASSERT_NO_FATAL_FAILURE(start({"-proxy-protocol-from", "127.0.0.1"}));
  for (const std::string& bad : {std::string("PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"),
                                 std::string("PROXY TCP4 ") + std::string(120, '9'),
                                 std::string("PROXY SCTP 1.2.3.4 5.6.7.8 1 2\r\n")}) {
    Conn c = server.connect();
    ASSERT_TRUE(c.send_all(bad));
    EXPECT_TRUE(c.expect_closed(5000)) << bad;
  }
  // A v2 header declaring more than the bound is refused from its first 16 bytes.
  std::string huge = rdv::proxy::encode_v2(ip("192.0.2.1"), 1, ip("192.0.2.2"), 2);
  huge[14] = char(0xFF);
  Conn h = server.connect();
  ASSERT_TRUE(h.send_all(huge.substr(0, 16)));
  EXPECT_TRUE(h.expect_closed(5000));
  // Half a header, then nothing: the header deadline (5 s) closes it.
  Conn slow = server.connect();
  ASSERT_TRUE(slow.send_all("PROXY TCP4 198.51"));
  EXPECT_TRUE(slow.expect_closed(9000));
  EXPECT_EQ(metric(server, "pilot_proxy_refused_total"), 5u);
  Conn ok = server.connect();
  EXPECT_EQ(observed_after(ok, "PROXY TCP4 198.51.100.1 127.0.0.1 7 9000\r\n"), "198.51.100.1:7");
}

TEST_F(Proxy, HeaderBeforeTls) {
  // HAProxy in TCP mode passing TLS through (send-proxy): the header, then the ClientHello.
  ASSERT_NO_FATAL_FAILURE(([&] {
    server.extra_args = {"-tls", "-proxy-protocol-from", "127.0.0.1/32"};
    server.registry_probe = [this](std::string* why) {
      std::string err;
      TlsConn c = TlsConn::dial(server.registry_port, {}, &err);
      *why = err;
      return c.ok() && c.request(R"({"type":"lookup","node_id":1})", 1000) != nullptr;
    };
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  })());
  TlsOptions o;
  o.before = rdv::proxy::encode_v2(ip("198.51.100.77"), 3333, ip("127.0.0.1"), 9000);
  std::string err;
  TlsConn c = TlsConn::dial(server.registry_port, o, &err);
  ASSERT_TRUE(c.ok()) << err;
  rdv::JsonPtr r = c.request(register_body(Key::generate(), ""));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "observed_addr"), "198.51.100.77:3333") << dump(r.get());
}

}  // namespace
}  // namespace rt
