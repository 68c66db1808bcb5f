// The strict switches against the real server (wire-protocol §4.6):
//   -strict-heartbeat-freshness  §10.3 items 54–56
//   -strict-directory-auth       §10.4 items 60–64, 68, 75
// Both default off and both break today's daemons (client-expectations D6); see
// docs/protocol-notes/limits.md.
//
// Networks and trust pairs are given state here, written into the store while the server is
// stopped: the messages that create them belong to other areas, and these tests are about who
// may see what once they exist.
#include <ctime>
#include <functional>

#include "model.h"
#include "protocol.h"
#include "store.h"

namespace rt {
namespace {

class Strict : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  void start(std::vector<std::string> args) {
    server.extra_args = std::move(args);
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  // Stops the server, changes the store through `fn`, starts it again (new ports).
  void seed(const std::function<void(rdv::Txn&)>& fn) {
    ASSERT_NE(server.stop(), -1);
    {
      rdv::Env env;
      std::string err;
      ASSERT_TRUE(env.open(rdv::EnvOptions{server.data_dir, 1ull << 30, 126, false}, &err)) << err;
      rdv::Txn t;
      ASSERT_EQ(env.begin_write(&t), 0);
      fn(t);
      ASSERT_EQ(t.commit(), 0);
    }
    server.new_ports();
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  // Network `net` with `members` (records, member entries, and each node's network list).
  static void network(rdv::Txn& t, uint16_t net, std::vector<uint32_t> members) {
    rdv::Network n;
    n.id = net;
    n.name = "net-" + std::to_string(net);
    n.member_count = uint32_t(members.size());
    ASSERT_EQ(t.put(rdv::Db::Networks, rdv::key_u16(net), rdv::encode_network(n)), 0);
    ASSERT_EQ(t.put(rdv::Db::NetNames, n.name, rdv::key_u16(net)), 0);
    for (uint32_t id : members) {
      rdv::Member m;
      m.joined_at = 1;
      ASSERT_EQ(t.put(rdv::Db::Members, rdv::key_u16(net) + rdv::key_u32(id), rdv::encode_member(m)), 0);
      std::string_view v;
      ASSERT_EQ(t.get(rdv::Db::Nodes, rdv::key_u32(id), &v), 0);
      rdv::Node node;
      ASSERT_TRUE(rdv::decode_node(v, &node));
      node.networks.push_back(net);
      ASSERT_EQ(t.put(rdv::Db::Nodes, rdv::key_u32(id), rdv::encode_node(node)), 0);
    }
  }
  static void trust(rdv::Txn& t, uint32_t a, uint32_t b) {
    if (a > b) std::swap(a, b);
    ASSERT_EQ(t.put(rdv::Db::Trust, rdv::key_u32(a) + rdv::key_u32(b), ""), 0);
  }

  Server server;
};

std::string id_text(uint32_t id) { return std::to_string(id); }
int64_t now_s() { return int64_t(::time(nullptr)); }

rdv::JsonPtr heartbeat(Conn& c, const Daemon& d, int64_t ts, const std::string& challenge) {
  return call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "heartbeat", "node_id", json_int_t(d.id), "ts",
                           json_int_t(ts), "signature", d.sign(challenge).c_str()));
}
std::string fresh(const Daemon& d, int64_t ts) { return "heartbeat:" + id_text(d.id) + ":" + std::to_string(ts); }

// ---- StrictHeartbeatFreshness ----

// §10.3 item 54.
TEST_F(Strict, FreshnessNeedsASignedTsWithinSixtySeconds) {
  start({"-strict-heartbeat-freshness"});
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  int64_t now = now_s();
  std::string raw;
  rdv::JsonPtr ok = c.request(rdv::JsonPtr(json_pack("{s:s, s:I, s:I, s:s}", "type", "heartbeat", "node_id",
                                                     json_int_t(d.id), "ts", json_int_t(now), "signature",
                                                     d.sign(fresh(d, now)).c_str())).get(),
                              &raw);
  ASSERT_TRUE(is_ok(ok, "heartbeat_ok"));
  EXPECT_EQ(raw, "{\"time\":" + std::to_string(num(ok.get(), "time")) + ",\"type\":\"heartbeat_ok\"}");

  EXPECT_TRUE(is_error(do_signed(c, d.key, "heartbeat", "heartbeat", d.id), "heartbeat requires a ts field"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:n, s:s}", "type", "heartbeat", "node_id", json_int_t(d.id),
                                         "ts", "signature", d.sign(fresh(d, now)).c_str())),
                       "heartbeat requires a ts field"));
  rdv::JsonPtr stale = heartbeat(c, d, now - 120, fresh(d, now - 120));
  EXPECT_TRUE(is_error_containing(stale, "heartbeat ts expired: "));
  EXPECT_TRUE(is_error_containing(stale, "s behind registry time (max 60s)"));
  rdv::JsonPtr future = heartbeat(c, d, now + 120, fresh(d, now + 120));
  EXPECT_TRUE(is_error_containing(future, "heartbeat ts invalid: "));
  EXPECT_TRUE(is_error_containing(future, "s ahead of registry time (max 60s)"));
  // An ill-typed ts reads as 0 (§3.1): far in the past.
  EXPECT_TRUE(is_error_containing(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "heartbeat", "node_id",
                                                    json_int_t(d.id), "ts", "now", "signature",
                                                    d.sign(fresh(d, 0)).c_str())),
                                  "heartbeat ts expired"));
  // The signature covers the ts: the non-strict challenge does not do.
  EXPECT_TRUE(is_error(heartbeat(c, d, now, "heartbeat:" + id_text(d.id)), "signature verification failed"));
  // …and a fresh one is accepted again afterwards.
  now = now_s();
  EXPECT_TRUE(is_ok(heartbeat(c, d, now, fresh(d, now)), "heartbeat_ok"));
  // Unknown node first, as always.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I}", "type", "heartbeat", "node_id", json_int_t(9999))),
                       "node 9999: node not found"));
}

// §10.3 item 55: no 120 s cache while freshness is enforced.
TEST_F(Strict, FreshnessBypassesTheVerifyCache) {
  start({"-strict-heartbeat-freshness"});
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  Key other = Key::generate();
  int64_t now = now_s();
  ASSERT_TRUE(is_ok(heartbeat(c, d, now, fresh(d, now)), "heartbeat_ok"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "heartbeat", "node_id", json_int_t(d.id),
                                         "ts", json_int_t(now), "signature", other.sign_b64(fresh(d, now)).c_str())),
                       "signature verification failed"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I}", "type", "heartbeat", "node_id", json_int_t(d.id), "ts",
                                         json_int_t(now))),
                       "signature required for authenticated node"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "heartbeat", "node_id", json_int_t(d.id),
                                         "ts", json_int_t(now), "signature", "%%%")),
                       "invalid signature encoding: illegal base64 data at input byte 0"));
}

// §10.3 item 56: binary heartbeats cannot carry a ts, so they are refused and change nothing.
TEST_F(Strict, FreshnessRefusesBinaryHeartbeatsWithoutTouchingLastSeen) {
  start({"-strict-heartbeat-freshness"});
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  rdv::JsonPtr before = do_lookup(c, d.id);
  ASSERT_TRUE(is_ok(before, "lookup_ok"));
  int64_t registered = num(before.get(), "last_seen_unix");
  // last_seen has one-second resolution: wait for the clock to pass the registration's second.
  int64_t deadline = mono_ms() + 3000;
  while (now_s() <= registered && mono_ms() < deadline) sleep_ms(20);
  ASSERT_GT(now_s(), registered);

  Conn b = server.connect();
  ASSERT_TRUE(b.send_preamble());
  ASSERT_TRUE(b.send_frame(0x01, be32(d.id) + d.key.sign_raw("heartbeat:" + id_text(d.id))));
  uint8_t t = 0;
  std::string p;
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p),
            "binary heartbeat encoding carries no timestamp; use the JSON heartbeat while freshness is enforced");
  EXPECT_EQ(num(do_lookup(c, d.id).get(), "last_seen_unix"), registered) << "a refused heartbeat moved last_seen";
  // The binary connection is still usable.
  ASSERT_TRUE(b.send_frame(0x02, be32(d.id)));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x82);

  int64_t now = now_s();
  ASSERT_TRUE(is_ok(heartbeat(c, d, now, fresh(d, now)), "heartbeat_ok"));
  EXPECT_GT(num(do_lookup(c, d.id).get(), "last_seen_unix"), registered);
}

// Off (the default), ts is ignored and the challenge stays heartbeat:<id>.
TEST_F(Strict, FreshnessOffIgnoresTs) {
  start({});
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  EXPECT_TRUE(is_ok(heartbeat(c, d, now_s() - 3600, "heartbeat:" + id_text(d.id)), "heartbeat_ok"));
}

// ---- StrictDirectoryAuth ----

// The cast of §10.4: target T (private, hostname target-host) shares network 8 with M, has a
// trust pair with R, and nothing with stranger S; P is public.
struct Cast {
  Daemon t, m, r, s, p;
};

class StrictDirectoryAuth : public Strict {
 protected:
  void cast(std::vector<std::string> args) {
    start(std::move(args));
    Conn c = server.connect();
    who.t = register_daemon(c);
    who.m = register_daemon(c);
    who.r = register_daemon(c);
    who.s = register_daemon(c);
    who.p = register_daemon(c);
    ASSERT_TRUE(is_ok(do_signed(c, who.t.key, "set_hostname", "set_hostname", who.t.id,
                                rdv::JsonPtr(json_pack("{s:s}", "hostname", "target-host")).get()),
                      "set_hostname_ok"));
    ASSERT_TRUE(is_ok(do_signed(c, who.p.key, "set_visibility", "set_visibility", who.p.id,
                                rdv::JsonPtr(json_pack("{s:b}", "public", 1)).get()),
                      "set_visibility_ok"));
    c.close();
    seed([&](rdv::Txn& tx) {
      network(tx, 8, {who.t.id, who.m.id});
      trust(tx, who.r.id, who.t.id);
    });
  }
  // lookup of the target by `req`, signed by `signer` over lookup:<req>:<target>.
  rdv::JsonPtr lookup_as(Conn& c, const Daemon& req, const Daemon& signer, uint32_t target) {
    std::string challenge = "lookup:" + id_text(req.id) + ":" + id_text(target);
    return call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "lookup", "node_id", json_int_t(target), "requester_id",
                             json_int_t(req.id), "signature", signer.sign(challenge).c_str()));
  }
  rdv::JsonPtr resolve_hostname_as(Conn& c, const Daemon& req, bool sign) {
    rdv::JsonPtr q(json_pack("{s:s, s:s, s:I}", "type", "resolve_hostname", "hostname", "target-host", "requester_id",
                             json_int_t(req.id)));
    if (sign) json_object_set_new(q.get(), "signature", json_string(req.sign("resolve_hostname:" + id_text(req.id)).c_str()));
    return c.request(q.get());
  }
  rdv::JsonPtr list_as(Conn& c, const Daemon& req, uint16_t net, bool sign) {
    rdv::JsonPtr q(json_pack("{s:s, s:i, s:I}", "type", "list_nodes", "network_id", int(net), "requester_id",
                             json_int_t(req.id)));
    if (sign)
      json_object_set_new(q.get(), "signature",
                          json_string(req.sign("list_nodes:" + id_text(req.id) + ":" + std::to_string(net)).c_str()));
    return c.request(q.get());
  }
  Cast who;
};

// §10.4 items 60, 63 (off), 64 (off), 68 (off), 75 (off).
TEST_F(StrictDirectoryAuth, OffPrivateNodesFollowTheOrdinaryRules) {
  cast({});
  Conn c = server.connect();
  EXPECT_TRUE(is_ok(do_lookup(c, who.t.id), "lookup_ok"));
  // resolve of a private node without trust or a shared network: the handler's text has no
  // sanitiser keyword.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "resolve", "node_id", json_int_t(who.t.id),
                                         "requester_id", json_int_t(who.s.id), "signature",
                                         who.s.sign("resolve:" + id_text(who.s.id) + ":" + id_text(who.t.id)).c_str())),
                       "request failed"));
  EXPECT_TRUE(is_ok(resolve_hostname_as(c, who.t, false), "resolve_hostname_ok"));  // self, unsigned
  rdv::JsonPtr list = call(c, json_pack("{s:s, s:i}", "type", "list_nodes", "network_id", 8));
  ASSERT_TRUE(is_ok(list, "list_nodes_ok"));
  EXPECT_EQ(json_array_size(json_object_get(list.get(), "nodes")), 2u);
  Conn b = server.connect();
  ASSERT_TRUE(b.send_preamble());
  ASSERT_TRUE(b.send_frame(0x02, be32(who.t.id)));
  uint8_t t = 0;
  std::string p;
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x82);
}

// §10.4 items 61, 62.
TEST_F(StrictDirectoryAuth, LookupOfAPrivateNodeNeedsAnEntitledSignedRequester) {
  cast({"-strict-directory-auth"});
  Conn c = server.connect();
  const std::string miss = "node " + id_text(who.t.id) + ": node not found";
  EXPECT_TRUE(is_error(do_lookup(c, who.t.id), miss));                       // nobody
  EXPECT_TRUE(is_error(lookup_as(c, who.s, who.s, who.t.id), miss));         // a stranger, signed
  EXPECT_TRUE(is_ok(lookup_as(c, who.m, who.m, who.t.id), "lookup_ok"));     // shares network 8
  EXPECT_TRUE(is_ok(lookup_as(c, who.r, who.r, who.t.id), "lookup_ok"));     // trust pair
  EXPECT_TRUE(is_ok(lookup_as(c, who.t, who.t, who.t.id), "lookup_ok"));     // itself
  EXPECT_TRUE(is_error(lookup_as(c, who.r, who.s, who.t.id), miss));         // trusted, bad signature
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I}", "type", "lookup", "node_id", json_int_t(who.t.id),
                                         "requester_id", json_int_t(who.r.id))),
                       miss));                                               // trusted, unsigned
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "lookup", "node_id", json_int_t(who.t.id),
                                         "requester_id", "abc", "signature", "%%%")),
                       miss));                                               // ill-typed fields
  // A signature over another target does not carry over.
  std::string other = "lookup:" + id_text(who.m.id) + ":" + id_text(who.p.id);
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "lookup", "node_id", json_int_t(who.t.id),
                                         "requester_id", json_int_t(who.m.id), "signature",
                                         who.m.sign(other).c_str())),
                       miss));
  EXPECT_TRUE(is_ok(do_lookup(c, who.p.id), "lookup_ok"));  // public: anyone
  EXPECT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:s}", "type", "lookup", "node_id", json_int_t(who.t.id),
                                      "admin_token", server.admin_token.c_str())),
                    "lookup_ok"));  // the operator
  EXPECT_TRUE(is_error(do_lookup(c, 9999), "node 9999: node not found"));
}

// §10.4 items 63, 64: the native lookup has no requester; resolve denials look like misses.
TEST_F(StrictDirectoryAuth, BinaryLookupAndResolveHidePrivateNodes) {
  cast({"-strict-directory-auth"});
  Conn b = server.connect();
  ASSERT_TRUE(b.send_preamble());
  uint8_t t = 0;
  std::string p;
  ASSERT_TRUE(b.send_frame(0x02, be32(who.t.id)));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), "node " + id_text(who.t.id) + ": not found");
  ASSERT_TRUE(b.send_frame(0x02, be32(who.p.id)));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x82);

  std::string resolve_s = "resolve:" + id_text(who.s.id) + ":" + id_text(who.t.id);
  ASSERT_TRUE(b.send_frame(0x03, be32(who.t.id) + be32(who.s.id) + who.s.key.sign_raw(resolve_s)));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), "node " + id_text(who.t.id) + ": not found");
  std::string resolve_m = "resolve:" + id_text(who.m.id) + ":" + id_text(who.t.id);
  ASSERT_TRUE(b.send_frame(0x03, be32(who.t.id) + be32(who.m.id) + who.m.key.sign_raw(resolve_m)));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x83) << binary_error_text(p);

  Conn c = server.connect();
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "resolve", "node_id", json_int_t(who.t.id),
                                         "requester_id", json_int_t(who.s.id), "signature",
                                         who.s.sign(resolve_s).c_str())),
                       "node " + id_text(who.t.id) + ": node not found"));
  EXPECT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "resolve", "node_id", json_int_t(who.t.id),
                                      "requester_id", json_int_t(who.r.id), "signature",
                                      who.r.sign("resolve:" + id_text(who.r.id) + ":" + id_text(who.t.id)).c_str())),
                    "resolve_ok"));
}

// §10.4 item 68.
TEST_F(StrictDirectoryAuth, ResolveHostnameOfAPrivateNodeNeedsASignature) {
  cast({"-strict-directory-auth"});
  Conn c = server.connect();
  const std::string miss = "hostname \"target-host\" not found";
  EXPECT_TRUE(is_error(resolve_hostname_as(c, who.t, false), miss));  // self, unsigned: no longer enough
  EXPECT_TRUE(is_error(resolve_hostname_as(c, who.m, false), miss));
  EXPECT_TRUE(is_error(resolve_hostname_as(c, who.s, true), miss));   // signed stranger
  rdv::JsonPtr self = resolve_hostname_as(c, who.t, true);
  ASSERT_TRUE(is_ok(self, "resolve_hostname_ok"));
  EXPECT_EQ(num(self.get(), "node_id"), who.t.id);
  EXPECT_TRUE(is_ok(resolve_hostname_as(c, who.m, true), "resolve_hostname_ok"));
  EXPECT_TRUE(is_ok(resolve_hostname_as(c, who.r, true), "resolve_hostname_ok"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", "nope")),
                       "hostname \"nope\" not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s}", "type", "resolve_hostname", "hostname", "")),
                       "hostname required"));
}

// §10.4 item 75.
TEST_F(StrictDirectoryAuth, ListNodesOfANetworkNeedsASignedMember) {
  cast({"-strict-directory-auth"});
  Conn c = server.connect();
  EXPECT_TRUE(is_error(list_as(c, who.s, 8, true),
                       "list_nodes denied: node " + id_text(who.s.id) + " is not a member of network 8"));
  rdv::JsonPtr ok = list_as(c, who.m, 8, true);
  ASSERT_TRUE(is_ok(ok, "list_nodes_ok"));
  EXPECT_EQ(json_array_size(json_object_get(ok.get(), "nodes")), 2u);
  EXPECT_TRUE(is_error(list_as(c, who.m, 8, false), "signature required for authenticated node"));
  // Signed by someone else.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:I, s:s}", "type", "list_nodes", "network_id", 8,
                                         "requester_id", json_int_t(who.m.id), "signature",
                                         who.s.sign("list_nodes:" + id_text(who.m.id) + ":8").c_str())),
                       "signature verification failed"));
  // No requester: "list_nodes denied: requester node 0 is not registered" has no sanitiser keyword.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i}", "type", "list_nodes", "network_id", 8)), "request failed"));
  // A network that does not exist answers like one the requester is not in.
  EXPECT_TRUE(is_error(list_as(c, who.s, 77, true),
                       "list_nodes denied: node " + id_text(who.s.id) + " is not a member of network 77"));
  // The operator sees everything, and the real miss.
  EXPECT_TRUE(is_ok(call(c, json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 8, "admin_token",
                                      server.admin_token.c_str())),
                    "list_nodes_ok"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 77, "admin_token",
                                         server.admin_token.c_str())),
                       "network 77: network not found"));
  // The backbone stays admin-only.
  EXPECT_TRUE(is_error(list_as(c, who.m, 0, true), "request failed"));
}

}  // namespace
}  // namespace rt
