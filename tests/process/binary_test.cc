// Binary PILT mode against the real server (wire-protocol §2.4, §6.2.2, §6.3.2, §6.3.4, §7,
// §10.1 items 2, 4–7, 12, 13).
#include "harness.h"
#include "metrics.h"

namespace rt {
namespace {

class Binary : public ServerTest {
 protected:
  // Registers over JSON; returns the node id.
  uint32_t reg(const Key& k, const json_t* extra = nullptr) {
    Conn c = server.connect();
    rdv::JsonPtr r = do_register(c, k, kPublicAddr, extra);
    EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
    return uint32_t(num(r.get(), "node_id", 0));
  }
  void make_public(const Key& k, uint32_t id) {
    Conn c = server.connect();
    rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
    rdv::JsonPtr r = do_signed(c, k, "set_visibility", "set_visibility", id, extra.get());
    ASSERT_EQ(str(r.get(), "type"), "set_visibility_ok") << dump(r.get());
  }
  Conn binary() {
    Conn c = server.connect();
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(c.send_preamble());
    return c;
  }
};

// Sends one frame and reads one reply frame; fails the test on I/O trouble.
void roundtrip(Conn& c, uint8_t type, const std::string& payload, uint8_t* rtype, std::string* rpayload) {
  ASSERT_TRUE(c.send_frame(type, payload));
  Io io = c.recv_frame(rtype, rpayload);
  ASSERT_EQ(io, Io::Ok) << io_name(io);
}

void expect_binary_error(Conn& c, uint8_t type, const std::string& payload, const std::string& text) {
  uint8_t rtype = 0;
  std::string rp;
  roundtrip(c, type, payload, &rtype, &rp);
  EXPECT_EQ(rtype, 0xFF);
  EXPECT_EQ(binary_error_text(rp), text);
  // The 0xFF payload is exactly [u16 len][text].
  EXPECT_EQ(rp.size(), 2 + text.size());
}

struct Reader {
  std::string_view in;
  bool ok = true;
  uint8_t u8() {
    if (in.size() < 1) return ok = false, 0;
    uint8_t v = uint8_t(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint16_t u16() {
    if (in.size() < 2) return ok = false, 0;
    uint16_t v = get_be16(in, 0);
    in.remove_prefix(2);
    return v;
  }
  uint32_t u32() {
    if (in.size() < 4) return ok = false, 0;
    uint32_t v = get_be32(in, 0);
    in.remove_prefix(4);
    return v;
  }
  std::string bytes(size_t n) {
    if (in.size() < n) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  std::string str8() { return bytes(u8()); }
  std::string str16() { return bytes(u16()); }
};

TEST_F(Binary, HeartbeatOk) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x01, be32(1) + k.sign_raw("heartbeat:1"), &t, &p);
  ASSERT_EQ(t, 0x81) << binary_error_text(p);
  ASSERT_EQ(p.size(), 9u);
  int64_t server_time = int64_t(get_be64(p, 0));
  EXPECT_GT(server_time, 1600000000);
  EXPECT_LT(std::llabs(server_time - rdv::unix_now()), 120);
  EXPECT_EQ(uint8_t(p[8]), 0) << "no key expiry set";
  // Extra bytes after 68 are ignored.
  roundtrip(c, 0x01, be32(1) + k.sign_raw("heartbeat:1") + "extra", &t, &p);
  EXPECT_EQ(t, 0x81) << binary_error_text(p);
}

TEST_F(Binary, HeartbeatBadSignature) {
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  expect_binary_error(c, 0x01, be32(1) + other.sign_raw("heartbeat:1"), "signature verification failed");
}

TEST_F(Binary, HeartbeatUnknownNode) {
  Conn c = binary();
  Key k = Key::generate();
  expect_binary_error(c, 0x01, be32(9999) + k.sign_raw("heartbeat:9999"), "node 9999: not found");
}

TEST_F(Binary, LookupDecodesEveryField) {
  Key k = Key::generate();
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "bin-host"));
  ASSERT_EQ(reg(k, extra.get()), 1u);
  make_public(k, 1);
  {
    Conn j = server.connect();
    rdv::JsonPtr tags(json_pack("{s:[s,s]}", "tags", "web", "db"));
    ASSERT_EQ(str(do_signed(j, k, "set_tags", "set_tags", 1, tags.get()).get(), "type"), "set_tags_ok");
  }
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x02, be32(1), &t, &p);
  ASSERT_EQ(t, 0x82) << binary_error_text(p);
  Reader r{p};
  EXPECT_EQ(r.u32(), 1u);             // node_id
  EXPECT_EQ(r.u8(), 0x01);            // flags: public
  EXPECT_EQ(r.u32(), 0u);             // reserved
  uint16_t nets = r.u16();
  ASSERT_EQ(nets, 1);
  EXPECT_EQ(r.u16(), 0);              // network 0
  EXPECT_EQ(r.str8(), k.raw_pub());   // raw 32-byte key, not base64
  EXPECT_EQ(r.str8(), "bin-host");
  uint8_t tag_count = r.u8();
  ASSERT_EQ(tag_count, 2);
  EXPECT_EQ(r.str8(), "web");
  EXPECT_EQ(r.str8(), "db");
  EXPECT_EQ(r.str16(), kPublicAddr);  // public: real address
  EXPECT_EQ(r.str8(), "");            // external_id always empty
  EXPECT_TRUE(r.ok) << "truncated 0x82 payload";
  EXPECT_TRUE(r.in.empty()) << r.in.size() << " trailing bytes";
}

TEST_F(Binary, LookupPrivateNodeHasNoAddress) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x02, be32(1), &t, &p);
  ASSERT_EQ(t, 0x82) << binary_error_text(p);
  Reader r{p};
  EXPECT_EQ(r.u32(), 1u);
  EXPECT_EQ(r.u8(), 0x00);  // private
  r.u32();
  uint16_t nets = r.u16();
  for (uint16_t i = 0; i < nets; i++) r.u16();
  EXPECT_EQ(r.str8(), k.raw_pub());
  EXPECT_EQ(r.str8(), "");  // no hostname
  EXPECT_EQ(r.u8(), 0);     // no tags
  EXPECT_EQ(r.str16(), "");  // private: no address
  EXPECT_EQ(r.str8(), "");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(p.size(), 4u + 1 + 4 + 2 + 2 * nets + 1 + 32 + 1 + 1 + 2 + 1);
}

TEST_F(Binary, LookupUnknownNode) {
  Conn c = binary();
  expect_binary_error(c, 0x02, be32(9999), "node 9999: not found");
}

TEST_F(Binary, ResolvePublicNode) {
  Key target = Key::generate(), requester = Key::generate();
  rdv::JsonPtr extra(json_pack("{s:[s,s]}", "lan_addrs", "192.168.1.5:4000", "10.1.1.1:4000"));
  ASSERT_EQ(reg(target, extra.get()), 1u);
  ASSERT_EQ(reg(requester), 2u);
  make_public(target, 1);
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x03, be32(1) + be32(2) + requester.sign_raw("resolve:2:1"), &t, &p);
  ASSERT_EQ(t, 0x83) << binary_error_text(p);
  Reader r{p};
  EXPECT_EQ(r.u32(), 1u);
  EXPECT_EQ(r.str16(), kPublicAddr);
  uint16_t lan = r.u16();
  ASSERT_EQ(lan, 2);
  EXPECT_EQ(r.str16(), "192.168.1.5:4000");
  EXPECT_EQ(r.str16(), "10.1.1.1:4000");
  EXPECT_EQ(r.u32(), 0u);  // key_age_days: created just now
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.in.empty());
}

TEST_F(Binary, ResolveErrors) {
  Key target = Key::generate(), requester = Key::generate();
  ASSERT_EQ(reg(target), 1u);
  ASSERT_EQ(reg(requester), 2u);
  Conn c = binary();
  expect_binary_error(c, 0x03, be32(1) + be32(2) + requester.sign_raw("resolve:2:1"),
                      "resolve denied: node 1 is private (establish mutual trust first)");
  expect_binary_error(c, 0x03, be32(1) + be32(50) + requester.sign_raw("resolve:50:1"),
                      "resolve denied: requester node 50 is not registered");
  expect_binary_error(c, 0x03, be32(1) + be32(2) + target.sign_raw("resolve:2:1"),
                      "signature verification failed");
  expect_binary_error(c, 0x03, be32(7777) + be32(2) + requester.sign_raw("resolve:2:7777"),
                      "node 7777: not found");
}

TEST_F(Binary, PassthroughJsonLookup) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x00, R"({"type":"lookup","node_id":1})", &t, &p);
  ASSERT_EQ(t, 0x00) << binary_error_text(p);
  rdv::JsonPtr j = parse_json(p);
  ASSERT_TRUE(json_is_object(j.get())) << p;
  EXPECT_EQ(str(j.get(), "type"), "lookup_ok") << p;
  EXPECT_EQ(num(j.get(), "node_id"), 1);
  EXPECT_EQ(str(j.get(), "public_key"), k.pub_b64());
}

TEST_F(Binary, PassthroughErrorsStayInsideJson) {
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x00, R"({"type":"lookup","node_id":555})", &t, &p);
  ASSERT_EQ(t, 0x00);
  rdv::JsonPtr e = parse_json(p);
  EXPECT_EQ(str(e.get(), "type"), "error") << p;
  EXPECT_EQ(str(e.get(), "error"), "node 555: node not found") << p;
  roundtrip(c, 0x00, R"({"type":"x"})", &t, &p);
  ASSERT_EQ(t, 0x00);
  rdv::JsonPtr j = parse_json(p);
  EXPECT_EQ(str(j.get(), "type"), "error") << p;
  EXPECT_EQ(str(j.get(), "error"), "request failed") << p;  // sanitised in passthrough
}

TEST_F(Binary, PassthroughRegisterWorks) {
  Key k = Key::generate();
  Conn c = binary();
  std::string body = std::string(R"({"type":"register","public_key":")") + k.pub_b64() +
                     R"(","listen_addr":")" + kPublicAddr + R"(","signature":")" +
                     k.sign_b64(std::string("register:") + kPublicAddr + ":" + k.pub_b64()) + "\"}";
  uint8_t t;
  std::string p;
  roundtrip(c, 0x00, body, &t, &p);
  ASSERT_EQ(t, 0x00);
  rdv::JsonPtr j = parse_json(p);
  EXPECT_EQ(str(j.get(), "type"), "register_ok") << p;
  EXPECT_EQ(num(j.get(), "node_id"), 1) << p;
}

TEST_F(Binary, UnknownTypeKeepsConnection) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  expect_binary_error(c, 0x77, "whatever", "unknown message type 0x77");
  expect_binary_error(c, 0xAB, "", "unknown message type 0xab");
  uint8_t t;
  std::string p;
  roundtrip(c, 0x02, be32(1), &t, &p);
  EXPECT_EQ(t, 0x82) << binary_error_text(p);
}

// §10.1 item 12.
TEST_F(Binary, ShortPayloads) {
  Conn c = binary();
  expect_binary_error(c, 0x01, std::string(2, '\0'), "heartbeat request too short: 2 bytes");
  expect_binary_error(c, 0x01, "", "heartbeat request too short: 0 bytes");
  expect_binary_error(c, 0x01, std::string(67, '\0'), "heartbeat request too short: 67 bytes");
  expect_binary_error(c, 0x02, std::string(1, '\0'), "lookup request too short: 1 bytes");
  expect_binary_error(c, 0x03, std::string(1, '\0'), "resolve request too short: 1 bytes");
  expect_binary_error(c, 0x03, std::string(71, '\0'), "resolve request too short: 71 bytes");
  // Still usable.
  expect_binary_error(c, 0x02, be32(9999), "node 9999: not found");
}

// §10.1 item 2.
TEST_F(Binary, BadVersionOneErrorFrameThenClose) {
  Conn c = server.connect();
  ASSERT_TRUE(c.send_preamble(99));
  uint8_t t;
  std::string p;
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), "unsupported wire version 99");
  std::string more;
  EXPECT_TRUE(c.expect_closed(5000, &more)) << "expected EOF after the error frame, got "
                                            << more.size() << " more bytes";
}

TEST_F(Binary, PassthroughNotJsonKeepsConnection) {
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x00, "{not json", &t, &p);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p).rfind("json decode: ", 0), 0u) << binary_error_text(p);
  expect_binary_error(c, 0x02, be32(4242), "node 4242: not found");
}

TEST_F(Binary, PassthroughSubscribeReplicationRefused) {
  Conn c = binary();
  expect_binary_error(c, 0x00, R"({"type":"subscribe_replication","token":"x"})",
                      "replication not supported over binary protocol");
  expect_binary_error(c, 0x02, be32(4242), "node 4242: not found");
}

TEST_F(Binary, PreambleAndFramesInOneWrite) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = server.connect();
  std::string all = std::string("PILT") + char(1);
  all += be32(5) + char(0x02) + be32(1);
  all += be32(5) + char(0x02) + be32(2);
  ASSERT_TRUE(c.send_all(all));
  uint8_t t;
  std::string p;
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x82);
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), "node 2: not found");
}


// §4.5: the 120 s verification cache applies to binary heartbeats too.
TEST_F(Binary, HeartbeatWithinCacheWindowNotReverified) {
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  {
    Conn j = server.connect();
    rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                               k.sign_b64("heartbeat:1").c_str()));
    ASSERT_EQ(str(j.request(req.get()).get(), "type"), "heartbeat_ok");
  }
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x01, be32(1) + other.sign_raw("heartbeat:1"), &t, &p);
  EXPECT_EQ(t, 0x81) << binary_error_text(p);
}

// §2.4, §7.7: 0x00 goes through the same dispatcher as JSON mode, for every message type:
// the reply inside the 0x00 frame is byte for byte the JSON-mode reply (errors included, with
// the same sanitiser), and only subscribe_replication is refused with 0xFF.
TEST_F(Binary, PassthroughAnswersEveryTypeAsJsonModeDoes) {
  Conn json = server.connect();
  Conn c = binary();
  size_t compared = 0;
  for (const char* type : rdv::metrics::kMessageTypes) {
    SCOPED_TRACE(type);
    std::string body = std::string("{\"type\":\"") + type + "\"}";
    uint8_t t;
    std::string p;
    roundtrip(c, 0x00, body, &t, &p);
    if (std::string_view(type) == "subscribe_replication") {
      EXPECT_EQ(t, 0xFF);
      EXPECT_EQ(binary_error_text(p), "replication not supported over binary protocol");
      continue;
    }
    ASSERT_EQ(t, 0x00) << binary_error_text(p);
    ASSERT_TRUE(json.send_json(body));
    std::string want;
    ASSERT_EQ(json.recv_json(&want), Io::Ok);
    EXPECT_EQ(p, want);
    compared++;
  }
  EXPECT_EQ(compared, rdv::metrics::kTypeCount - 1);
}

// A null body is an empty request (Go decodes it to an empty map): unknown type, inside 0x00.
TEST_F(Binary, PassthroughNullIsAnEmptyRequest) {
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x00, "null", &t, &p);
  ASSERT_EQ(t, 0x00) << binary_error_text(p);
  EXPECT_EQ(p, R"({"type":"error","error":"request failed"})");
}

TEST_F(Binary, PassthroughHeartbeatExactBytes) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  uint8_t t;
  std::string p;
  roundtrip(c, 0x00, R"({"type":"heartbeat","node_id":1,"signature":")" + k.sign_b64("heartbeat:1") + "\"}", &t, &p);
  ASSERT_EQ(t, 0x00) << binary_error_text(p);
  rdv::JsonPtr j = parse_json(p);
  EXPECT_EQ(p, "{\"time\":" + std::to_string(num(j.get(), "time")) + ",\"type\":\"heartbeat_ok\"}");
}

// One connection's native and passthrough requests share one order: a native lookup behind a
// passthrough write sees it, and replies leave in request order.
TEST_F(Binary, PassthroughWriteThenNativeReadsInOrder) {
  Key k = Key::generate();
  ASSERT_EQ(reg(k), 1u);
  Conn c = binary();
  std::string vis = R"({"type":"set_visibility","node_id":1,"public":true,"signature":")" +
                    k.sign_b64("set_visibility:1") + "\"}";
  auto frame = [](uint8_t type, const std::string& payload) { return be32(uint32_t(1 + payload.size())) + char(type) + payload; };
  ASSERT_TRUE(c.send_all(frame(0x00, vis) + frame(0x02, be32(1)) + frame(0x00, R"({"type":"lookup","node_id":1})") +
                         frame(0x02, be32(2))));
  uint8_t t;
  std::string p;
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x00);
  EXPECT_EQ(str(parse_json(p).get(), "type"), "set_visibility_ok") << p;
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x82) << binary_error_text(p);
  EXPECT_EQ(uint8_t(p[4]) & 1, 1) << "the native lookup must see the write before it";
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x00);
  EXPECT_TRUE(json_is_true(json_object_get(parse_json(p).get(), "public"))) << p;
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), "node 2: not found");
}

}  // namespace
}  // namespace rt
