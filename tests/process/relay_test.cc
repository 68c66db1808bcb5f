// Relay-only nodes with the default, host-less -beacon-addr (":9001"): the published beacon
// address must be dialable (client-expectations D11), so the registry fills in the address the
// daemon reached it on.
#include "harness.h"

namespace rt {
namespace {

class DefaultBeacon : public ServerTest {};

TEST_F(DefaultBeacon, RelayOnlyEndpointIsTheAddressTheDaemonDialled) {
  Conn c = server.connect();
  Key relay = Key::generate(), other = Key::generate();
  const std::string listen = "203.0.113.50:4000";
  auto reg = [&](const Key& k, bool relay_only) {
    rdv::JsonPtr req(json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "register", "public_key", k.pub_b64().c_str(),
                               "listen_addr", listen.c_str(), "signature",
                               k.sign_b64("register:" + listen + ":" + k.pub_b64()).c_str(), "relay_only",
                               relay_only));
    rdv::JsonPtr r = c.request(req.get());
    EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
    return uint32_t(num(r.get(), "node_id"));
  };
  uint32_t id = reg(relay, true);
  uint32_t req_id = reg(other, false);
  rdv::JsonPtr vis(json_pack("{s:s,s:i,s:b,s:s}", "type", "set_visibility", "node_id", int(id), "public", 1,
                             "signature", relay.sign_b64("set_visibility:" + std::to_string(id)).c_str()));
  ASSERT_EQ(str(c.request(vis.get()).get(), "type"), "set_visibility_ok");

  rdv::JsonPtr l = c.request(std::string(R"({"type":"lookup","node_id":)") + std::to_string(id) + "}");
  EXPECT_EQ(str(l.get(), "real_addr"), "127.0.0.1:9001") << dump(l.get());
  EXPECT_EQ(str(l.get(), "endpoint"), "127.0.0.1:9001") << dump(l.get());

  rdv::JsonPtr res(json_pack("{s:s,s:i,s:i,s:s}", "type", "resolve", "node_id", int(id), "requester_id", int(req_id),
                             "signature",
                             other.sign_b64("resolve:" + std::to_string(req_id) + ":" + std::to_string(id)).c_str()));
  rdv::JsonPtr r = c.request(res.get());
  EXPECT_EQ(str(r.get(), "real_addr"), "127.0.0.1:9001") << dump(r.get());

  // Binary lookup: the same address in the 0x82 reply's real_addr (str16, before external_id).
  Conn b = server.connect();
  ASSERT_TRUE(b.send_preamble());
  ASSERT_TRUE(b.send_frame(0x02, be32(id)));
  uint8_t type = 0;
  std::string payload;
  ASSERT_EQ(b.recv_frame(&type, &payload), Io::Ok);
  ASSERT_EQ(type, 0x82);
  std::string want = be16(14) + "127.0.0.1:9001" + std::string(1, '\0');
  EXPECT_EQ(payload.substr(payload.size() - want.size()), want);
}

}  // namespace
}  // namespace rt
