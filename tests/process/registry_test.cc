// JSON-mode registry RPCs against the real server (wire-protocol §6.1–§6.3, §10.2–§10.4).
// Each test starts its own server, so node ids start at 1.
#include <regex>
#include <set>

#include "crypto.h"
#include "harness.h"

namespace rt {
namespace {

using Registry = ServerTest;

// Registers `k` (signed, public listen_addr claim) and returns the node id, failing the test
// when the reply is not register_ok.
uint32_t must_register(Conn& c, const Key& k, const std::string& listen = kPublicAddr,
                       const json_t* extra = nullptr) {
  rdv::JsonPtr r = do_register(c, k, listen, extra);
  EXPECT_NE(r, nullptr) << "no reply to register";
  if (!r) return 0;
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  return uint32_t(num(r.get(), "node_id", 0));
}

void expect_error(const rdv::JsonPtr& r, const std::string& text) {
  ASSERT_NE(r, nullptr) << "no reply (connection closed?)";
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  EXPECT_EQ(str(r.get(), "error"), text) << dump(r.get());
}

TEST_F(Registry, RegisterFirstNodeGetsIdOne) {
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  Key k = Key::generate();
  rdv::JsonPtr r = do_register(c, k);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1) << dump(r.get());
  EXPECT_EQ(num(r.get(), "network_id"), 0) << dump(r.get());
  EXPECT_EQ(str(r.get(), "address"), "0:0000.0000.0001");
  EXPECT_EQ(str(r.get(), "public_key"), k.pub_b64());
  EXPECT_EQ(str(r.get(), "observed_addr"), kPublicAddr);  // public claim kept verbatim
  EXPECT_EQ(num(r.get(), "protocol_version"), 1) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "hostname_error"));
  EXPECT_FALSE(has(r.get(), "error"));
}

TEST_F(Registry, RegisterSecondKeyGetsNextId) {
  Conn c = server.connect();
  Key a = Key::generate(), b = Key::generate();
  EXPECT_EQ(must_register(c, a), 1u);
  rdv::JsonPtr r = do_register(c, b);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(num(r.get(), "node_id"), 2);
  EXPECT_EQ(str(r.get(), "address"), "0:0000.0000.0002");
}

// §6.1.1 step 1: a loopback (non-public) listen_addr is replaced by the TCP source IP,
// keeping the port; an empty one becomes the TCP source ip:port.
TEST_F(Registry, ObservedAddrSanitised) {
  Conn c = server.connect();
  rdv::JsonPtr r = do_register(c, Key::generate(), "127.0.0.1:4321");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "observed_addr"), "127.0.0.1:4321") << dump(r.get());
  r = do_register(c, Key::generate(), "0.0.0.0:4322");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "observed_addr"), "127.0.0.1:4322") << dump(r.get());
  r = do_register(c, Key::generate(), "");
  ASSERT_NE(r, nullptr);
  std::string observed = str(r.get(), "observed_addr");
  EXPECT_EQ(observed.rfind("127.0.0.1:", 0), 0u) << dump(r.get());
  EXPECT_GT(observed.size(), std::string("127.0.0.1:").size());
}

TEST_F(Registry, LookupPrivateNodeFields) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr r = do_lookup(c, 1);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "address"), "0:0000.0000.0001");
  const json_t* nets = json_object_get(r.get(), "networks");
  ASSERT_TRUE(json_is_array(nets)) << dump(r.get());
  ASSERT_EQ(json_array_size(nets), 1u);
  EXPECT_EQ(json_integer_value(json_array_get(nets, 0)), 0);
  EXPECT_EQ(str(r.get(), "public_key"), k.pub_b64());
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "public"))) << dump(r.get());
  EXPECT_TRUE(json_is_integer(json_object_get(r.get(), "last_seen_unix"))) << dump(r.get());
  EXPECT_GT(num(r.get(), "last_seen_unix"), 1600000000);
  EXPECT_TRUE(json_is_integer(json_object_get(r.get(), "key_generation"))) << dump(r.get());
  EXPECT_EQ(num(r.get(), "key_generation"), 0);
  // Private: no endpoint. Never: external_id, owner, lan_addrs.
  EXPECT_FALSE(has(r.get(), "real_addr")) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "endpoint")) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "external_id"));
  EXPECT_FALSE(has(r.get(), "owner"));
  EXPECT_FALSE(has(r.get(), "lan_addrs"));
  EXPECT_FALSE(has(r.get(), "hostname"));
  EXPECT_FALSE(has(r.get(), "tags"));
}

TEST_F(Registry, LookupNeverShowsOwnerOrLanAddrs) {
  Conn c = server.connect();
  rdv::JsonPtr extra(json_pack("{s:s, s:[s]}", "owner", "alice@example.com", "lan_addrs", "192.168.1.5:4000"));
  ASSERT_EQ(must_register(c, Key::generate(), kPublicAddr, extra.get()), 1u);
  rdv::JsonPtr r = do_lookup(c, 1);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(has(r.get(), "owner")) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "lan_addrs")) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "external_id")) << dump(r.get());
}

TEST_F(Registry, SetVisibilityPublicShowsRealAddr) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  rdv::JsonPtr r = do_signed(c, k, "set_visibility", "set_visibility", 1, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "set_visibility_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "visibility"), "public");
  r = do_lookup(c, 1);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "public"))) << dump(r.get());
  EXPECT_EQ(str(r.get(), "real_addr"), kPublicAddr) << dump(r.get());
  EXPECT_EQ(str(r.get(), "endpoint"), kPublicAddr) << dump(r.get());

  // And back to private.
  extra.reset(json_pack("{s:b}", "public", 0));
  r = do_signed(c, k, "set_visibility", "set_visibility", 1, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "visibility"), "private") << dump(r.get());
  r = do_lookup(c, 1);
  EXPECT_FALSE(has(r.get(), "real_addr")) << dump(r.get());
}

TEST_F(Registry, SetVisibilityUnknownNodeNotFound) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  expect_error(do_signed(c, k, "set_visibility", "set_visibility", 77, extra.get()),
               "node 77: node not found");
}

TEST_F(Registry, SetVisibilityBadSignatureRejected) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  rdv::JsonPtr r = do_signed(c, other, "set_visibility", "set_visibility", 1, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  EXPECT_NE(str(r.get(), "error").find("signature"), std::string::npos) << dump(r.get());
  r = do_lookup(c, 1);
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "public"))) << dump(r.get());
}

TEST_F(Registry, SetVisibilityWithAdminToken) {
  Conn c = server.connect();
  ASSERT_EQ(must_register(c, Key::generate()), 1u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:b, s:s}", "type", "set_visibility", "node_id", 1, "public", 1,
                             "admin_token", server.admin_token.c_str()));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "set_visibility_ok") << dump(r.get());
}

TEST_F(Registry, SetHostnameThenResolveHostname) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "my-host"));
  rdv::JsonPtr r = do_signed(c, k, "set_hostname", "set_hostname", 1, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "set_hostname_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "hostname"), "my-host");

  // Private node: resolvable by itself (requester_id taken on faith when strict is off).
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:i}", "type", "resolve_hostname", "hostname", "my-host",
                             "requester_id", 1));
  r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "resolve_hostname_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "address"), "0:0000.0000.0001");
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "public"))) << dump(r.get());
  EXPECT_EQ(str(r.get(), "hostname"), "my-host");
  EXPECT_TRUE(json_is_integer(json_object_get(r.get(), "last_seen_unix"))) << dump(r.get());
  EXPECT_GT(num(r.get(), "last_seen_unix"), 1600000000);

  r = do_lookup(c, 1);
  EXPECT_EQ(str(r.get(), "hostname"), "my-host") << dump(r.get());
}

TEST_F(Registry, ResolveHostnamePrivateNodeHiddenFromStranger) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  ASSERT_EQ(must_register(c, Key::generate()), 2u);
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "hidden-host"));
  ASSERT_EQ(str(do_signed(c, k, "set_hostname", "set_hostname", 1, extra.get()).get(), "type"), "set_hostname_ok");
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:i}", "type", "resolve_hostname", "hostname", "hidden-host",
                             "requester_id", 2));
  expect_error(c.request(req.get()), "hostname \"hidden-host\" not found");
  req.reset(json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", "hidden-host"));
  expect_error(c.request(req.get()), "hostname \"hidden-host\" not found");
}

TEST_F(Registry, ResolveHostnamePublicNodeForAnyone) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  ASSERT_NE(do_signed(c, k, "set_visibility", "set_visibility", 1, extra.get()), nullptr);
  extra.reset(json_pack("{s:s}", "hostname", "pub-host"));
  ASSERT_NE(do_signed(c, k, "set_hostname", "set_hostname", 1, extra.get()), nullptr);
  rdv::JsonPtr req(json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", "pub-host"));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "resolve_hostname_ok") << dump(r.get());
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "public"))) << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
}

// §10.4 item 66.
TEST_F(Registry, ResolveHostnameErrors) {
  Conn c = server.connect();
  rdv::JsonPtr req(json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", ""));
  expect_error(c.request(req.get()), "hostname required");
  req.reset(json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", "nope"));
  expect_error(c.request(req.get()), "hostname \"nope\" not found");
}

// §10.4 item 70.
TEST_F(Registry, SetHostnameErrors) {
  Conn c = server.connect();
  Key a = Key::generate(), b = Key::generate();
  ASSERT_EQ(must_register(c, a), 1u);
  ASSERT_EQ(must_register(c, b), 2u);
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "my-host"));
  rdv::JsonPtr r = do_signed(c, a, "set_hostname", "set_hostname", 1, extra.get());
  ASSERT_EQ(str(r.get(), "type"), "set_hostname_ok") << dump(r.get());

  extra.reset(json_pack("{s:s}", "hostname", "UPPERCASE-NOT-ALLOWED"));
  r = do_signed(c, b, "set_hostname", "set_hostname", 2, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "error");
  EXPECT_EQ(str(r.get(), "error").rfind("invalid hostname", 0), 0u) << dump(r.get());

  extra.reset(json_pack("{s:s}", "hostname", "my-host"));
  expect_error(do_signed(c, b, "set_hostname", "set_hostname", 2, extra.get()),
               "hostname \"my-host\" already in use by node 1");

  extra.reset(json_pack("{s:s}", "hostname", "free-name"));
  expect_error(do_signed(c, b, "set_hostname", "set_hostname", 999, extra.get()), "node 999: node not found");

  // Clearing frees the name for node 2.
  extra.reset(json_pack("{s:s}", "hostname", ""));
  r = do_signed(c, a, "set_hostname", "set_hostname", 1, extra.get());
  EXPECT_EQ(str(r.get(), "type"), "set_hostname_ok") << dump(r.get());
  extra.reset(json_pack("{s:s}", "hostname", "my-host"));
  r = do_signed(c, b, "set_hostname", "set_hostname", 2, extra.get());
  EXPECT_EQ(str(r.get(), "type"), "set_hostname_ok") << dump(r.get());
}

TEST_F(Registry, ResolvePublicNodeBySignedRequester) {
  Conn c = server.connect();
  Key target = Key::generate(), req_key = Key::generate();
  rdv::JsonPtr extra(json_pack("{s:[s]}", "lan_addrs", "192.168.1.5:4000"));
  ASSERT_EQ(must_register(c, target, kPublicAddr, extra.get()), 1u);
  ASSERT_EQ(must_register(c, req_key, "198.51.100.9:5000"), 2u);
  extra.reset(json_pack("{s:b}", "public", 1));
  ASSERT_EQ(str(do_signed(c, target, "set_visibility", "set_visibility", 1, extra.get()).get(), "type"),
            "set_visibility_ok");
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 1, "requester_id", 2,
                             "signature", req_key.sign_b64("resolve:2:1").c_str()));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "resolve_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "real_addr"), kPublicAddr);
  EXPECT_EQ(num(r.get(), "key_age_days"), 0) << dump(r.get());
  const json_t* lan = json_object_get(r.get(), "lan_addrs");
  ASSERT_TRUE(json_is_array(lan)) << dump(r.get());
  ASSERT_EQ(json_array_size(lan), 1u);
  EXPECT_STREQ(json_string_value(json_array_get(lan, 0)), "192.168.1.5:4000");
}

TEST_F(Registry, ResolvePrivateNodeIsSanitised) {
  Conn c = server.connect();
  Key target = Key::generate(), req_key = Key::generate();
  ASSERT_EQ(must_register(c, target), 1u);
  ASSERT_EQ(must_register(c, req_key), 2u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 1, "requester_id", 2,
                             "signature", req_key.sign_b64("resolve:2:1").c_str()));
  // Handler text "resolve denied: node 1 is private (…)" has no keyword → "request failed".
  expect_error(c.request(req.get()), "request failed");
}

TEST_F(Registry, ResolveErrors) {
  Conn c = server.connect();
  Key req_key = Key::generate();
  ASSERT_EQ(must_register(c, req_key), 1u);
  // Unregistered requester → RF.
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 1, "requester_id", 50,
                             "signature", req_key.sign_b64("resolve:50:1").c_str()));
  expect_error(c.request(req.get()), "request failed");
  // Unknown target.
  req.reset(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 60, "requester_id", 1,
                      "signature", req_key.sign_b64("resolve:1:60").c_str()));
  expect_error(c.request(req.get()), "node 60: node not found");
  // Bad signature.
  req.reset(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 1, "requester_id", 1,
                      "signature", req_key.sign_b64("resolve:1:2").c_str()));
  expect_error(c.request(req.get()), "signature verification failed");
}

TEST_F(Registry, SetTagsNormalises) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:[s,s,s,s]}", "tags", "web", "api", "#prod", "prod"));
  rdv::JsonPtr r = do_signed(c, k, "set_tags", "set_tags", 1, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "set_tags_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(dump(json_object_get(r.get(), "tags")), R"(["web","api","prod"])") << dump(r.get());
  r = do_lookup(c, 1);
  EXPECT_EQ(dump(json_object_get(r.get(), "tags")), R"(["web","api","prod"])") << dump(r.get());
}

// §10.4 item 72.
TEST_F(Registry, SetTagsErrors) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr tags(json_array());
  for (int i = 0; i < 11; i++) json_array_append_new(tags.get(), json_string(("t" + std::to_string(i)).c_str()));
  rdv::JsonPtr extra(json_object());
  json_object_set(extra.get(), "tags", tags.get());
  expect_error(do_signed(c, k, "set_tags", "set_tags", 1, extra.get()), "too many tags (max 10)");

  std::string t33(33, 'a');
  extra.reset(json_pack("{s:[s]}", "tags", t33.c_str()));
  expect_error(do_signed(c, k, "set_tags", "set_tags", 1, extra.get()),
               "tag \"" + t33 + "\" too long (max 32 chars)");

  extra.reset(json_pack("{s:[s]}", "tags", "Web"));
  expect_error(do_signed(c, k, "set_tags", "set_tags", 1, extra.get()), "request failed");

  extra.reset(json_pack("{s:[s]}", "tags", "web"));
  expect_error(do_signed(c, k, "set_tags", "set_tags", 5, extra.get()), "node 5: node not found");
}

TEST_F(Registry, ListNodesBackboneRequiresAdminToken) {
  Conn c = server.connect();
  Key a = Key::generate(), b = Key::generate();
  ASSERT_EQ(must_register(c, a), 1u);
  ASSERT_EQ(must_register(c, b), 2u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 0, "admin_token",
                             server.admin_token.c_str()));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "list_nodes_ok") << dump(r.get());
  const json_t* nodes = json_object_get(r.get(), "nodes");
  ASSERT_TRUE(json_is_array(nodes)) << dump(r.get());
  ASSERT_EQ(json_array_size(nodes), 2u) << dump(r.get());
  std::set<int64_t> ids;
  for (size_t i = 0; i < 2; i++) {
    const json_t* n = json_array_get(nodes, i);
    ids.insert(num(n, "node_id"));
    EXPECT_EQ(str(n, "address"), "0:0000.0000.000" + std::to_string(num(n, "node_id"))) << dump(n);
    EXPECT_TRUE(json_is_boolean(json_object_get(n, "public"))) << dump(n);
    EXPECT_FALSE(has(n, "real_addr")) << dump(n);  // private nodes
    EXPECT_FALSE(str(n, "last_seen").empty()) << dump(n);
  }
  EXPECT_EQ(ids, (std::set<int64_t>{1, 2}));

  req.reset(json_pack("{s:s, s:i}", "type", "list_nodes", "network_id", 0));
  expect_error(c.request(req.get()), "request failed");
  req.reset(json_pack("{s:s}", "type", "list_nodes"));
  expect_error(c.request(req.get()), "request failed");
  req.reset(json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 0, "admin_token", "wrong"));
  rdv::JsonPtr wrong = c.request(req.get());
  ASSERT_NE(wrong, nullptr);
  EXPECT_EQ(str(wrong.get(), "type"), "error") << dump(wrong.get());
}

TEST_F(Registry, DeregisterThenLookupNotFound) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "gone-host"));
  ASSERT_EQ(str(do_signed(c, k, "set_hostname", "set_hostname", 1, extra.get()).get(), "type"), "set_hostname_ok");
  std::string raw;
  rdv::JsonPtr r = do_signed(c, k, "deregister", "deregister", 1);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(dump(r.get()), R"({"type":"deregister_ok"})");
  expect_error(do_lookup(c, 1), "node 1: node not found");
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:i}", "type", "resolve_hostname", "hostname", "gone-host",
                             "requester_id", 1));
  expect_error(c.request(req.get()), "hostname \"gone-host\" not found");
  // The key index survives: the same key comes back with the same id.
  EXPECT_EQ(must_register(c, k), 1u);
}

TEST_F(Registry, DeregisterUnknownNodeIsOk) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr r = do_signed(c, k, "deregister", "deregister", 12345);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "deregister_ok") << dump(r.get());
}

TEST_F(Registry, DeregisterWithBadSignatureRefused) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr r = do_signed(c, other, "deregister", "deregister", 1);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  EXPECT_EQ(str(do_lookup(c, 1).get(), "type"), "lookup_ok");
}

TEST_F(Registry, SameKeyTwiceSameNodeId) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr r = do_register(c, k, "198.51.100.20:7000");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(num(r.get(), "node_id"), 1) << dump(r.get());
  EXPECT_EQ(str(r.get(), "public_key"), k.pub_b64());
  // Signed re-register moves the endpoint (§10.2 item 32).
  EXPECT_EQ(str(r.get(), "observed_addr"), "198.51.100.20:7000");
  // A separate connection sees the same.
  Conn c2 = server.connect();
  EXPECT_EQ(num(do_register(c2, k).get(), "node_id"), 1);
}

// §10.2 items 31 and 33.
TEST_F(Registry, UnsignedReRegisterOfLatchedKeyRefused) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  const std::string want = "node 1: unsigned registration cannot modify a signature-verified key";
  expect_error(do_register(c, k, "198.51.100.30:7000", nullptr, /*sign=*/false), want);
  expect_error(do_register(c, k, kPublicAddr, nullptr, /*sign=*/false), want);  // same endpoint too
  // Nothing changed.
  Key stranger = Key::generate();
  ASSERT_EQ(must_register(c, stranger), 2u);
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  ASSERT_NE(do_signed(c, k, "set_visibility", "set_visibility", 1, extra.get()), nullptr);
  EXPECT_EQ(str(do_lookup(c, 1).get(), "real_addr"), kPublicAddr);
}

// §10.2 item 34: a key that never registered signed may move unsigned.
TEST_F(Registry, UnsignedKeyMayReRegisterUnsigned) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr r = do_register(c, k, kPublicAddr, nullptr, false);  // item 25: unsigned is ok
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  r = do_register(c, k, "198.51.100.40:7000", nullptr, false);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "observed_addr"), "198.51.100.40:7000");
}

TEST_F(Registry, HeartbeatExactBytes) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                             k.sign_b64("heartbeat:1").c_str()));
  std::string raw;
  ASSERT_NE(c.request(req.get(), &raw), nullptr);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(raw, m, std::regex(R"(\{"time":(\d+),"type":"heartbeat_ok"\})"))) << raw;
  int64_t t = std::stoll(m[1].str());
  EXPECT_EQ(raw, "{\"time\":" + std::to_string(t) + ",\"type\":\"heartbeat_ok\"}");
  EXPECT_GT(t, 1600000000);
  EXPECT_LT(std::llabs(t - rdv::unix_now()), 120) << "server clock vs local clock";
}

TEST_F(Registry, HeartbeatUnknownNode) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 99, "signature",
                             k.sign_b64("heartbeat:99").c_str()));
  expect_error(c.request(req.get()), "node 99: node not found");
}

TEST_F(Registry, HeartbeatBadSignatureBeforeAnyVerifiedOneRefused) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                             other.sign_b64("heartbeat:1").c_str()));
  expect_error(c.request(req.get()), "signature verification failed");
}

// §4.5 / §10.3 item 53: inside 120 s of a verified heartbeat the signature is not re-checked.
TEST_F(Registry, SecondHeartbeatWithinWindowNotReverified) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                             k.sign_b64("heartbeat:1").c_str()));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_EQ(str(r.get(), "type"), "heartbeat_ok") << dump(r.get());
  req.reset(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                      other.sign_b64("heartbeat:1").c_str()));
  r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "heartbeat_ok") << dump(r.get());
  req.reset(json_pack("{s:s, s:i}", "type", "heartbeat", "node_id", 1));  // missing signature
  r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "heartbeat_ok") << dump(r.get());
}

// §10.2 item 19.
TEST_F(Registry, RegisterWithoutPublicKey) {
  Conn c = server.connect();
  rdv::JsonPtr req(json_pack("{s:s, s:s}", "type", "register", "listen_addr", kPublicAddr));
  expect_error(c.request(req.get()), "registration requires public_key");
  req.reset(json_pack("{s:s, s:s}", "type", "register", "public_key", ""));
  expect_error(c.request(req.get()), "registration requires public_key");
}

// §10.2 item 20.
TEST_F(Registry, RegisterUndecodableKey) {
  Conn c = server.connect();
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:s}", "type", "register", "public_key", "!!!", "listen_addr",
                             kPublicAddr));
  rdv::JsonPtr r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  EXPECT_EQ(str(r.get(), "error").rfind("invalid public key", 0), 0u) << dump(r.get());
  // A 31-byte key is just as invalid.
  std::string raw31(31, 'k');
  req.reset(json_pack("{s:s, s:s}", "type", "register", "public_key",
                      rdv::base64_encode(reinterpret_cast<const uint8_t*>(raw31.data()), 31).c_str()));
  r = c.request(req.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "error").rfind("invalid public key", 0), 0u) << dump(r.get());
}

// §10.2 item 21.
TEST_F(Registry, RegisterWithInvalidHostnameStillSucceeds) {
  Conn c = server.connect();
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "BAD!NAME"));
  rdv::JsonPtr r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(str(r.get(), "hostname_error"),
            "hostname must be lowercase alphanumeric with hyphens, start/end with alphanumeric")
      << dump(r.get());
  EXPECT_FALSE(has(r.get(), "hostname")) << dump(r.get());
  EXPECT_FALSE(has(do_lookup(c, 1).get(), "hostname"));
}

TEST_F(Registry, RegisterWithValidHostname) {
  Conn c = server.connect();
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "reg-host"));
  rdv::JsonPtr r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "hostname"), "reg-host") << dump(r.get());
  EXPECT_FALSE(has(r.get(), "hostname_error"));
  // §10.2 item 37: another key claiming the same hostname registers, with hostname_error.
  r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_NE(str(r.get(), "hostname_error").find("already in use"), std::string::npos) << dump(r.get());
  EXPECT_EQ(str(do_lookup(c, 1).get(), "hostname"), "reg-host");
}

// §10.2 item 22.
TEST_F(Registry, RegisterWithExtrasAccepted) {
  Conn c = server.connect();
  rdv::JsonPtr extra(json_pack("{s:[s,s], s:i, s:b, s:s}", "lan_addrs", "192.168.1.2:4000", "",
                               "protocol_version", 9999, "relay_only", 1, "version", "v9.9.9"));
  rdv::JsonPtr r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_TRUE(has(r.get(), "observed_addr"));
}

// §10.2 items 25, 27, 28, 29 (strict registration off, the default).
TEST_F(Registry, RegisterSignatureChecks) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  // 28: signed by a different key.
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:s, s:s}", "type", "register", "public_key", k.pub_b64().c_str(),
                             "listen_addr", kPublicAddr, "signature",
                             other.sign_b64(std::string("register:") + kPublicAddr + ":" + k.pub_b64()).c_str()));
  expect_error(c.request(req.get()), "registration: signature verification failed");
  // 29: not base64.
  req.reset(json_pack("{s:s, s:s, s:s, s:s}", "type", "register", "public_key", k.pub_b64().c_str(),
                      "listen_addr", kPublicAddr, "signature", "not-base64!!"));
  expect_error(c.request(req.get()), "registration: invalid signature encoding");
  // 30: the signature binds listen_addr.
  req.reset(json_pack("{s:s, s:s, s:s, s:s}", "type", "register", "public_key", k.pub_b64().c_str(),
                      "listen_addr", "10.0.0.9:4000", "signature",
                      k.sign_b64("register:10.0.0.7:4000:" + k.pub_b64()).c_str()));
  expect_error(c.request(req.get()), "registration: signature verification failed");
  // Nothing was registered by the failures: 27, a correct signature, gets node 1.
  rdv::JsonPtr r = do_register(c, k, kPublicAddr);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  // 27 with an empty listen_addr: challenge "register::<pub>".
  r = do_register(c, other, "");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "node_id"), 2);
}

// §10.2 item 38.
TEST_F(Registry, OwnerBoundToLiveNodeRefusesOtherKey) {
  Conn c = server.connect();
  rdv::JsonPtr extra(json_pack("{s:s}", "owner", "alice"));
  ASSERT_EQ(must_register(c, Key::generate(), kPublicAddr, extra.get()), 1u);
  rdv::JsonPtr r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  EXPECT_NE(str(r.get(), "error").find("recover_identity"), std::string::npos) << dump(r.get());
}

TEST_F(Registry, LookupUnknownNode) {
  Conn c = server.connect();
  expect_error(do_lookup(c, 42), "node 42: node not found");
}

TEST_F(Registry, UnknownTypeIsRequestFailedAndConnectionKept) {
  Conn c = server.connect();
  std::string raw;
  rdv::JsonPtr r = c.request(R"({"type":"x"})", &raw);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(dump(r.get()), R"({"error":"request failed","type":"error"})") << raw;
  EXPECT_EQ(str(do_lookup(c, 1).get(), "type"), "error");  // still answering
}

TEST_F(Registry, ManyRequestsOnOneConnectionInOrder) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  // Pipeline: send several requests before reading; replies come back in order.
  std::string batch;
  for (int i = 0; i < 20; i++) {
    std::string body = i % 2 ? R"({"type":"lookup","node_id":1})" : R"({"type":"lookup","node_id":77})";
    batch += be32(uint32_t(body.size())) + body;
  }
  ASSERT_TRUE(c.send_all(batch));
  for (int i = 0; i < 20; i++) {
    std::string body;
    ASSERT_EQ(c.recv_json(&body), Io::Ok) << i;
    rdv::JsonPtr r = parse_json(body);
    EXPECT_EQ(str(r.get(), "type"), i % 2 ? "lookup_ok" : "error") << i << " " << body;
  }
}

TEST_F(Registry, SplitWritesAreReassembled) {
  Conn c = server.connect();
  // Client writes the prefix and the body separately, and the body byte by byte.
  std::string body = R"({"type":"lookup","node_id":3})";
  ASSERT_TRUE(c.send_all(be32(uint32_t(body.size()))));
  for (char ch : body) ASSERT_TRUE(c.send_all(std::string(1, ch)));
  std::string reply;
  ASSERT_EQ(c.recv_json(&reply), Io::Ok);
  EXPECT_EQ(str(parse_json(reply).get(), "error"), "node 3: node not found") << reply;
}


// client-expectations D9: tags null (or missing) means "clear", not an error.
TEST_F(Registry, SetTagsNullOrMissingClears) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr extra(json_pack("{s:[s]}", "tags", "web"));
  ASSERT_EQ(str(do_signed(c, k, "set_tags", "set_tags", 1, extra.get()).get(), "type"), "set_tags_ok");
  extra.reset(json_pack("{s:n}", "tags"));
  rdv::JsonPtr r = do_signed(c, k, "set_tags", "set_tags", 1, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "set_tags_ok") << dump(r.get());
  EXPECT_TRUE(json_is_null(json_object_get(r.get(), "tags"))) << "§6.3.7: null when empty: " << dump(r.get());
  EXPECT_FALSE(has(do_lookup(c, 1).get(), "tags"));
  extra.reset(json_pack("{s:[s]}", "tags", "api"));
  ASSERT_EQ(str(do_signed(c, k, "set_tags", "set_tags", 1, extra.get()).get(), "type"), "set_tags_ok");
  r = do_signed(c, k, "set_tags", "set_tags", 1);  // no tags key at all
  EXPECT_EQ(str(r.get(), "type"), "set_tags_ok") << dump(r.get());
  EXPECT_FALSE(has(do_lookup(c, 1).get(), "tags"));
}

TEST_F(Registry, ListNodesUnknownNetwork) {
  Conn c = server.connect();
  ASSERT_EQ(must_register(c, Key::generate()), 1u);
  rdv::JsonPtr req(json_pack("{s:s, s:i}", "type", "list_nodes", "network_id", 7));
  expect_error(c.request(req.get()), "network 7: network not found");
}

// §10.4 item 69: re-register updates the endpoint and the version; an owner can be added to a
// node that had none, and then binds (§10.2 item 38).
TEST_F(Registry, ReRegisterUpdatesVersionAndOwner) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr extra(json_pack("{s:s}", "version", "v1.0.0"));
  ASSERT_EQ(must_register(c, k, kPublicAddr, extra.get()), 1u);
  EXPECT_EQ(str(do_lookup(c, 1).get(), "version"), "v1.0.0");
  extra.reset(json_pack("{s:s, s:s}", "version", "v2.0.0", "owner", "bob"));
  ASSERT_EQ(must_register(c, k, "198.51.100.77:4000", extra.get()), 1u);
  rdv::JsonPtr r = do_lookup(c, 1);
  EXPECT_EQ(str(r.get(), "version"), "v2.0.0") << dump(r.get());
  extra.reset(json_pack("{s:b}", "public", 1));
  ASSERT_NE(do_signed(c, k, "set_visibility", "set_visibility", 1, extra.get()), nullptr);
  EXPECT_EQ(str(do_lookup(c, 1).get(), "real_addr"), "198.51.100.77:4000");
  // An empty version does not erase the stored one.
  ASSERT_EQ(must_register(c, k, "198.51.100.77:4000"), 1u);
  EXPECT_EQ(str(do_lookup(c, 1).get(), "version"), "v2.0.0");
  extra.reset(json_pack("{s:s}", "owner", "bob"));
  r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  EXPECT_NE(str(r.get(), "error").find("recover_identity"), std::string::npos) << dump(r.get());
}

// §6.1.1 step 8 "key known, node gone": same id, fresh private record without tags or
// hostname; the freed hostname can be taken by another node (§6.1.2).
TEST_F(Registry, DeregisteredKeyComesBackAsFreshRecord) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  ASSERT_EQ(must_register(c, other), 2u);
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  ASSERT_NE(do_signed(c, k, "set_visibility", "set_visibility", 1, extra.get()), nullptr);
  extra.reset(json_pack("{s:[s]}", "tags", "web"));
  ASSERT_NE(do_signed(c, k, "set_tags", "set_tags", 1, extra.get()), nullptr);
  extra.reset(json_pack("{s:s}", "hostname", "old-name"));
  ASSERT_EQ(str(do_signed(c, k, "set_hostname", "set_hostname", 1, extra.get()).get(), "type"), "set_hostname_ok");
  ASSERT_EQ(str(do_signed(c, k, "deregister", "deregister", 1).get(), "type"), "deregister_ok");

  rdv::JsonPtr r = do_signed(c, other, "set_hostname", "set_hostname", 2, extra.get());
  EXPECT_EQ(str(r.get(), "type"), "set_hostname_ok") << "hostname not freed by deregister: " << dump(r.get());

  ASSERT_EQ(must_register(c, k), 1u);
  r = do_lookup(c, 1);
  ASSERT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "public"))) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "tags")) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "hostname")) << dump(r.get());
  EXPECT_EQ(dump(json_object_get(r.get(), "networks")), "[0]") << dump(r.get());
}

TEST_F(Registry, DeregisterWithAdminToken) {
  Conn c = server.connect();
  ASSERT_EQ(must_register(c, Key::generate()), 1u);
  rdv::JsonPtr req(json_pack("{s:s, s:i, s:s}", "type", "deregister", "node_id", 1, "admin_token",
                             server.admin_token.c_str()));
  EXPECT_EQ(str(c.request(req.get()).get(), "type"), "deregister_ok");
  expect_error(do_lookup(c, 1), "node 1: node not found");
}

TEST_F(Registry, RegisterWithReservedHostname) {
  Conn c = server.connect();
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "localhost"));
  rdv::JsonPtr r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  EXPECT_EQ(str(r.get(), "hostname_error"), "hostname \"localhost\" is reserved") << dump(r.get());
  extra.reset(json_pack("{s:s}", "hostname", std::string(64, 'h').c_str()));
  r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  EXPECT_EQ(str(r.get(), "hostname_error"), "hostname too long (max 63 chars)") << dump(r.get());
}

// Relay-only nodes publish the configured beacon address instead of their endpoint
// (§6.3.1, §6.3.3, §7.4).
class RelayOnly : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-beacon-addr", "198.51.100.200:9001"};
    ServerTest::SetUp();
  }
};

TEST_F(RelayOnly, LookupAndResolveShowBeaconAddress) {
  Conn c = server.connect();
  Key relay = Key::generate(), requester = Key::generate();
  rdv::JsonPtr extra(json_pack("{s:b, s:[s]}", "relay_only", 1, "lan_addrs", "192.168.9.9:4000"));
  ASSERT_EQ(must_register(c, relay, kPublicAddr, extra.get()), 1u);
  ASSERT_EQ(must_register(c, requester), 2u);
  extra.reset(json_pack("{s:b}", "public", 1));
  ASSERT_EQ(str(do_signed(c, relay, "set_visibility", "set_visibility", 1, extra.get()).get(), "type"),
            "set_visibility_ok");
  rdv::JsonPtr r = do_lookup(c, 1);
  EXPECT_EQ(str(r.get(), "real_addr"), "198.51.100.200:9001") << dump(r.get());
  EXPECT_EQ(str(r.get(), "endpoint"), "198.51.100.200:9001") << dump(r.get());
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "relay_only"))) << dump(r.get());

  rdv::JsonPtr req(json_pack("{s:s, s:i, s:i, s:s}", "type", "resolve", "node_id", 1, "requester_id", 2,
                             "signature", requester.sign_b64("resolve:2:1").c_str()));
  r = c.request(req.get());
  ASSERT_EQ(str(r.get(), "type"), "resolve_ok") << dump(r.get());
  EXPECT_EQ(str(r.get(), "real_addr"), "198.51.100.200:9001") << dump(r.get());
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "relay_only"))) << dump(r.get());
  EXPECT_FALSE(has(r.get(), "lan_addrs")) << dump(r.get());

  // §6.3.8: the admin listing shows the raw endpoint even for relay-only nodes.
  req.reset(json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 0, "admin_token",
                      server.admin_token.c_str()));
  r = c.request(req.get());
  const json_t* nodes = json_object_get(r.get(), "nodes");
  bool seen = false;
  for (size_t i = 0; i < json_array_size(nodes); i++) {
    const json_t* n = json_array_get(nodes, i);
    if (num(n, "node_id") == 1) {
      seen = true;
      EXPECT_EQ(str(n, "real_addr"), kPublicAddr) << dump(n);
    }
  }
  EXPECT_TRUE(seen) << dump(r.get());

  // Binary lookup and resolve: the same substitution.
  Conn b = server.connect();
  ASSERT_TRUE(b.send_preamble());
  ASSERT_TRUE(b.send_frame(0x02, be32(1)));
  uint8_t t;
  std::string p;
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x82) << binary_error_text(p);
  std::string beacon = "198.51.100.200:9001";
  std::string want = be16(uint16_t(beacon.size())) + beacon + std::string(1, '\0');
  EXPECT_EQ(p.substr(p.size() - want.size()), want) << "0x82 real_addr is not the beacon address";
  ASSERT_TRUE(b.send_frame(0x03, be32(1) + be32(2) + requester.sign_raw("resolve:2:1")));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x83) << binary_error_text(p);
  EXPECT_EQ(p, be32(1) + be16(uint16_t(beacon.size())) + beacon + be16(0) + be32(0));
}


// §6.2.3: nodes silent past the stale threshold are reaped (hostname freed, key index kept);
// heartbeating nodes stay. Uses a 3 s threshold; polls with a deadline.
class Reaper : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-stale-threshold", "3s"};
    ServerTest::SetUp();
  }
};

TEST_F(Reaper, SilentNodeReapedHeartbeatingNodeKept) {
  Conn c = server.connect();
  Key alive = Key::generate(), silent = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, alive), 1u);
  rdv::JsonPtr extra(json_pack("{s:s}", "hostname", "silent-host"));
  ASSERT_EQ(must_register(c, silent, kPublicAddr, extra.get()), 2u);
  ASSERT_EQ(must_register(c, other), 3u);
  rdv::JsonPtr hb(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                            alive.sign_b64("heartbeat:1").c_str()));
  rdv::JsonPtr hb3(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 3, "signature",
                             other.sign_b64("heartbeat:3").c_str()));
  // Ordering, read off the server's own clock (last_seen_unix) rather than a stopwatch:
  // present right after registering, present again while it has been silent for clearly less
  // than the threshold, and gone only once it has been silent for about the threshold.
  constexpr int64_t kThresholdS = 3;
  rdv::JsonPtr first = do_lookup(c, 2);
  ASSERT_EQ(str(first.get(), "type"), "lookup_ok") << "silent node missing right after registering: "
                                                   << dump(first.get());
  const int64_t last_seen = num(first.get(), "last_seen_unix");
  ASSERT_GT(last_seen, 0) << dump(first.get());
  while (rdv::unix_now() < last_seen + 1) sleep_ms(20);  // silent for a while, but < threshold
  rdv::JsonPtr early = do_lookup(c, 2);
  if (rdv::unix_now() <= last_seen + 1) {  // answered clearly before the threshold (else: skip)
    EXPECT_EQ(str(early.get(), "type"), "lookup_ok") << "reaped before the stale threshold: " << dump(early.get());
  }
  bool reaped = false;
  int64_t reaped_seen_at = 0;  // unix time just after the reply that showed it gone
  for (int64_t deadline = mono_ms() + 30000; mono_ms() < deadline;) {
    ASSERT_EQ(str(c.request(hb.get()).get(), "type"), "heartbeat_ok");
    ASSERT_EQ(str(c.request(hb3.get()).get(), "type"), "heartbeat_ok");
    rdv::JsonPtr r = do_lookup(c, 2);
    if (str(r.get(), "error") == "node 2: node not found") {
      reaped = true;
      reaped_seen_at = rdv::unix_now();
      break;
    }
    sleep_ms(250);
  }
  ASSERT_TRUE(reaped) << "silent node not reaped (30 s deadline) with a 3 s threshold";
  // The reap happened before that reply; with whole seconds on both sides, one second of slack.
  EXPECT_GE(reaped_seen_at, last_seen + kThresholdS - 1)
      << "reaped before the stale threshold (last seen " << last_seen << ")";
  EXPECT_EQ(str(do_lookup(c, 1).get(), "type"), "lookup_ok") << "heartbeating node was reaped";
  // Hostname freed: another node may take it.
  rdv::JsonPtr r = do_signed(c, other, "set_hostname", "set_hostname", 3, extra.get());
  EXPECT_EQ(str(r.get(), "type"), "set_hostname_ok") << dump(r.get());
  // "not found" on heartbeat tells the daemon to re-register (§6.2.3).
  rdv::JsonPtr hb2(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 2, "signature",
                             silent.sign_b64("heartbeat:2").c_str()));
  expect_error(c.request(hb2.get()), "node 2: node not found");
  // One node.reaped audit entry for the pass, naming the node.
  rdv::JsonPtr log(json_pack("{s:s, s:s}", "type", "get_audit_log", "admin_token", server.admin_token.c_str()));
  rdv::JsonPtr entries = c.request(log.get());
  ASSERT_NE(entries, nullptr);
  bool audited = false;
  size_t i;
  json_t* e;
  json_array_foreach(json_object_get(entries.get(), "entries"), i, e) {
    if (str(e, "action") == "node.reaped" && str(e, "details").find("count=1") != std::string::npos &&
        num(e, "node_id") == 2)
      audited = true;
  }
  EXPECT_TRUE(audited) << dump(entries.get());
  // Key index kept: the same key gets its id back.
  EXPECT_EQ(must_register(c, silent), 2u);
}


// Client-chosen strings come back as valid JSON whatever they contain.
TEST_F(Registry, StringsAreEscapedInReplies) {
  Conn c = server.connect();
  const std::string version = std::string("v\"1\\2\n3\t4\x01") + "5\xC3\xA9 \xF0\x9F\x9A\x80";
  rdv::JsonPtr extra(json_object());
  json_object_set_new(extra.get(), "version", json_stringn(version.data(), version.size()));
  ASSERT_EQ(must_register(c, Key::generate(), kPublicAddr, extra.get()), 1u);
  std::string raw;
  rdv::JsonPtr r = c.request(R"({"type":"lookup","node_id":1})", &raw);
  ASSERT_NE(r, nullptr) << "lookup reply is not valid JSON: " << raw;
  EXPECT_EQ(str(r.get(), "version"), version) << raw;
}

// The 120 s verification cache belongs to the node record: a node that was deregistered and
// came back must verify its next heartbeat again.
TEST_F(Registry, HeartbeatCacheDoesNotSurviveDeregister) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr good(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                              k.sign_b64("heartbeat:1").c_str()));
  ASSERT_EQ(str(c.request(good.get()).get(), "type"), "heartbeat_ok");
  ASSERT_EQ(str(do_signed(c, k, "deregister", "deregister", 1).get(), "type"), "deregister_ok");
  ASSERT_EQ(must_register(c, k), 1u);
  rdv::JsonPtr bad(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                             other.sign_b64("heartbeat:1").c_str()));
  expect_error(c.request(bad.get()), "signature verification failed");
}

// §5.1 max_nodes: new nodes beyond it fail with "registry full" [RF]; known keys still
// re-register.
class MaxNodes : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-max-nodes", "2"};
    ServerTest::SetUp();
  }
};

TEST_F(MaxNodes, ThirdNodeRefused) {
  Conn c = server.connect();
  Key a = Key::generate();
  ASSERT_EQ(must_register(c, a), 1u);
  ASSERT_EQ(must_register(c, Key::generate()), 2u);
  expect_error(do_register(c, Key::generate()), "request failed");
  EXPECT_EQ(must_register(c, a), 1u);
  // Space freed by a deregister can be used again.
  ASSERT_EQ(str(do_signed(c, a, "deregister", "deregister", 1).get(), "type"), "deregister_ok");
  EXPECT_EQ(must_register(c, Key::generate()), 3u);
}


// §4.6 / §10.2 items 26–28 with StrictRegistrationAuth on (flag, or environment variable).
class StrictRegistration : public ServerTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) server.extra_args = {"-strict-registration-auth"};
    else server.extra_env = {"RENDEZVOUS_STRICT_REGISTRATION_AUTH=1"};
    ServerTest::SetUp();
  }
};

TEST_P(StrictRegistration, UnsignedRefusedSignedAccepted) {
  Conn c = server.connect();
  Key k = Key::generate(), other = Key::generate();
  expect_error(do_register(c, k, kPublicAddr, nullptr, /*sign=*/false), "registration: signature required");
  rdv::JsonPtr req(json_pack("{s:s, s:s, s:s, s:s}", "type", "register", "public_key", k.pub_b64().c_str(),
                             "listen_addr", kPublicAddr, "signature",
                             other.sign_b64(std::string("register:") + kPublicAddr + ":" + k.pub_b64()).c_str()));
  expect_error(c.request(req.get()), "registration: signature verification failed");
  EXPECT_EQ(must_register(c, k), 1u);
}

INSTANTIATE_TEST_SUITE_P(FlagOrEnv, StrictRegistration, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Flag" : "Env"; });

}  // namespace
}  // namespace rt
