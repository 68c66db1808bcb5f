// Size limits on the fields a registration stores (they live in LMDB and are sent back by
// resolve and the admin API, so one client must not be able to store megabytes per node):
//
//   version      at most 128 bytes   "version too long (max 128 bytes)"
//   owner        at most 256 bytes   "owner too long (max 256 bytes)"
//   listen_addr  at most 256 bytes   "listen_addr too long (max 256 bytes)"
//   lan_addrs    at most 32 entries  "too many lan_addrs (max 32)"
//                each at most 64 bytes "lan_addrs entry too long (max 64 bytes)"
//
// The texts contain "too long" / "too many", so the error sanitiser (wire-protocol §2.8) lets
// them through verbatim. A value at exactly the limit is accepted. A refusal is an ordinary
// error reply: the connection stays open, and nothing is stored (no id is used up).
#include "harness.h"

namespace rt {
namespace {

using Limits = ServerTest;

void expect_refused(const rdv::JsonPtr& r, const std::string& text) {
  ASSERT_NE(r, nullptr) << "no reply to the oversized register (connection closed?)";
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get()).substr(0, 300);
  EXPECT_EQ(str(r.get(), "error"), text) << dump(r.get()).substr(0, 300);
}

void expect_accepted(const rdv::JsonPtr& r, uint32_t id) {
  ASSERT_NE(r, nullptr) << "no reply to register";
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get()).substr(0, 300);
  EXPECT_EQ(num(r.get(), "node_id"), id) << dump(r.get()).substr(0, 300);
}

// After a refusal the same connection still serves requests.
void expect_connection_serves(Conn& c) {
  rdv::JsonPtr r = do_lookup(c, 1);
  ASSERT_NE(r, nullptr) << "connection unusable after a refused register";
  EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
}

// Registers node 1 on `c` so that expect_connection_serves has something to look up.
void register_base(Conn& c) {
  ASSERT_TRUE(c.ok());
  expect_accepted(do_register(c, Key::generate()), 1);
}

std::vector<std::string> lan_list(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; i++) out.push_back("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":4000");
  return out;
}

rdv::JsonPtr lan_extra(const std::vector<std::string>& addrs) {
  rdv::JsonPtr extra(json_object());
  json_t* arr = json_array();
  for (auto& a : addrs) json_array_append_new(arr, json_string(a.c_str()));
  json_object_set_new(extra.get(), "lan_addrs", arr);
  return extra;
}

rdv::JsonPtr string_extra(const char* key, const std::string& value) {
  rdv::JsonPtr extra(json_object());
  json_object_set_new(extra.get(), key, json_stringn(value.data(), value.size()));
  return extra;
}

TEST_F(Limits, VersionAtMost128Bytes) {
  Conn c = server.connect();
  register_base(c);
  expect_refused(do_register(c, Key::generate(), kPublicAddr, string_extra("version", std::string(129, 'v')).get()),
                 "version too long (max 128 bytes)");
  expect_connection_serves(c);
  expect_accepted(do_register(c, Key::generate(), kPublicAddr, string_extra("version", std::string(128, 'v')).get()),
                  2);
}

TEST_F(Limits, HugeVersionRefused) {
  Conn c = server.connect();
  register_base(c);
  expect_refused(do_register(c, Key::generate(), kPublicAddr, string_extra("version", std::string(100000, 'v')).get()),
                 "version too long (max 128 bytes)");
  expect_connection_serves(c);
  expect_accepted(do_register(c, Key::generate()), 2);  // the refusal used no id
}

// A re-registration of a known key stores the version too, so the limit holds there as well,
// and the stored node keeps working.
TEST_F(Limits, VersionLimitOnReRegistration) {
  Conn c = server.connect();
  register_base(c);
  Key k = Key::generate();
  expect_accepted(do_register(c, k), 2);
  expect_refused(do_register(c, k, kPublicAddr, string_extra("version", std::string(129, 'v')).get()),
                 "version too long (max 128 bytes)");
  expect_connection_serves(c);
  expect_accepted(do_register(c, k, kPublicAddr, string_extra("version", "1.2.3").get()), 2);
}

TEST_F(Limits, OwnerAtMost256Bytes) {
  Conn c = server.connect();
  register_base(c);
  expect_refused(do_register(c, Key::generate(), kPublicAddr, string_extra("owner", std::string(257, 'o')).get()),
                 "owner too long (max 256 bytes)");
  expect_connection_serves(c);
  expect_accepted(do_register(c, Key::generate(), kPublicAddr, string_extra("owner", std::string(256, 'o')).get()),
                  2);
}

TEST_F(Limits, ListenAddrAtMost256Bytes) {
  Conn c = server.connect();
  register_base(c);
  // A host name padded to the length wanted, with a port: kept verbatim as the observed address.
  auto addr = [](size_t len) {
    std::string tail = ".example:4000";
    return std::string(len - tail.size(), 'h') + tail;
  };
  // Signed over the long address, so only the length can be the reason for a refusal.
  expect_refused(do_register(c, Key::generate(), addr(257)), "listen_addr too long (max 256 bytes)");
  expect_connection_serves(c);
  rdv::JsonPtr r = do_register(c, Key::generate(), addr(256));
  expect_accepted(r, 2);
  EXPECT_EQ(str(r.get(), "observed_addr"), addr(256));
}

TEST_F(Limits, LanAddrsAtMost32Entries) {
  Conn c = server.connect();
  register_base(c);
  expect_refused(do_register(c, Key::generate(), kPublicAddr, lan_extra(lan_list(33)).get()),
                 "too many lan_addrs (max 32)");
  expect_connection_serves(c);
  expect_accepted(do_register(c, Key::generate(), kPublicAddr, lan_extra(lan_list(32)).get()), 2);
}

TEST_F(Limits, LanAddrsEntryAtMost64Bytes) {
  Conn c = server.connect();
  register_base(c);
  std::vector<std::string> addrs = lan_list(3);
  addrs[1] = std::string(65 - 5, 'l') + ":4000";
  expect_refused(do_register(c, Key::generate(), kPublicAddr, lan_extra(addrs).get()),
                 "lan_addrs entry too long (max 64 bytes)");
  expect_connection_serves(c);
  addrs[1] = std::string(64 - 5, 'l') + ":4000";
  expect_accepted(do_register(c, Key::generate(), kPublicAddr, lan_extra(addrs).get()), 2);
}

// Every field at its limit at once is still one valid registration, and resolve returns the
// stored lan_addrs intact.
TEST_F(Limits, AllFieldsAtTheirLimitsTogether) {
  Conn c = server.connect();
  register_base(c);
  std::vector<std::string> addrs;
  for (int i = 0; i < 32; i++) {
    std::string port = ":" + std::to_string(4000 + i);
    addrs.push_back(std::string(64 - port.size(), char('a' + i % 26)) + port);
  }
  rdv::JsonPtr extra = lan_extra(addrs);
  json_object_set_new(extra.get(), "version", json_string(std::string(128, 'v').c_str()));
  json_object_set_new(extra.get(), "owner", json_string(std::string(256, 'o').c_str()));
  Key k = Key::generate();
  expect_accepted(do_register(c, k, kPublicAddr, extra.get()), 2);

  // Resolve the node from node 1's side after making it public: its lan_addrs come back whole.
  rdv::JsonPtr vis(json_pack("{s:b}", "public", 1));
  ASSERT_EQ(str(do_signed(c, k, "set_visibility", "set_visibility", 2, vis.get()).get(), "type"), "set_visibility_ok");
  Key requester = Key::generate();
  expect_accepted(do_register(c, requester), 3);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 2, "requester_id", 3, "signature",
                             requester.sign_b64("resolve:3:2").c_str()));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(str(r.get(), "type"), "resolve_ok") << dump(r.get());
  const json_t* lan = json_object_get(r.get(), "lan_addrs");
  ASSERT_TRUE(json_is_array(lan)) << dump(r.get());
  ASSERT_EQ(json_array_size(lan), addrs.size());
  for (size_t i = 0; i < addrs.size(); i++) EXPECT_EQ(json_string_value(json_array_get(lan, i)), addrs[i]);
}

}  // namespace
}  // namespace rt
