// Migration from the Go server (supervisor/import.h): a Go-format registry.json and .wal made
// here exactly as the Go writer makes them (compact JSON, keys in ops-spec §3.3's order, the
// SHA-256 spliced in before the final '}'), imported with `rendezvous import-go-snapshot` or
// at the first start with -store, then checked over the real protocol.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "network_helpers.h"
#include "store.h"

namespace rt {
namespace {

using RunResult = CommandResult;

// Runs the supervisor binary with `args` (stdout and stderr captured) and waits for it.
RunResult run_rendezvous(const std::string& dir, const std::vector<std::string>& args) {
  std::string cmd = shell_quote(bin_dir() + "/rendezvous");
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  return run_command(dir, cmd);
}

std::string hex_sha256(std::string_view s) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : d) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

bool write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
  return bool(f);
}

std::string wal_record(const std::string& json) {
  uint32_t n = uint32_t(json.size());
  return std::string{char(n & 0xff), char(n >> 8 & 0xff), char(n >> 16 & 0xff), char(n >> 24 & 0xff)} + json;
}

// The Go server's state for these tests: nodes 1, 2, 5 (and 7 from the WAL), network 1
// ("team", enterprise, invite-only) with 1 owner and 2 admin, a trust pair 1:5, an invite for
// 5 to network 1, a handshake request from 5 waiting for 2, term 3, next_node 10.
struct GoFixture {
  Key k1 = Key::generate(), k2 = Key::generate(), k5 = Key::generate(), k7 = Key::generate();
  std::string now = rdv::rfc3339_utc(rdv::unix_now());
  std::string justification = "<please> let me in & stay";

  std::string snapshot_body() const {
    std::string b;
    rdv::JsonWriter w(b);
    w.begin_object().num("version", 1).num("next_node", 10).num("next_net", 2);
    w.key("nodes").begin_object();
    w.key("1").begin_object().num("id", 1).str("owner", "alice@example.com").str("public_key", k1.pub_b64())
        .str("real_addr", "203.0.113.9:4000").begin_array("networks").value_num(0).value_num(1).end_array()
        .boolean("public", true).str("last_seen", now).str("hostname", "alpha").end_object();
    w.key("2").begin_object().num("id", 2).str("public_key", k2.pub_b64()).begin_array("networks").value_num(0)
        .value_num(1).end_array().str("last_seen", now).end_object();
    w.key("5").begin_object().num("id", 5).str("public_key", k5.pub_b64()).begin_array("networks").value_num(0)
        .end_array().str("last_seen", now).str("hostname", "echo").end_object();
    w.end_object();
    w.key("networks").begin_object();
    w.key("0").begin_object().num("id", 0).str("name", "backbone").str("join_rule", "open").begin_array("members")
        .value_num(1).value_num(2).value_num(5).end_array().str("created", "2026-01-01T00:00:00Z").end_object();
    w.key("1").begin_object().num("id", 1).str("name", "team").str("join_rule", "invite").begin_array("members")
        .value_num(1).value_num(2).end_array();
    w.key("member_roles").begin_object().str("1", "owner").str("2", "admin").end_object();
    w.boolean("enterprise", true).str("created", "2026-02-01T00:00:00Z").end_object();
    w.end_object();
    w.begin_array("trust_pairs").value_str("1:5").end_array();
    w.key("handshake_inbox").begin_object().begin_array("2").begin_object().num("from_node_id", 5)
        .str("justification", justification).str("timestamp", now).end_object().end_array().end_object();
    w.key("invite_inbox").begin_object().begin_array("5").begin_object().num("network_id", 1).num("inviter_id", 1)
        .str("timestamp", now).end_object().end_array().end_object();
    w.begin_array("audit_log").begin_object().str("timestamp", now).str("action", "network.created")
        .num("network_id", 1).num("node_id", 1).str("details", "name=team").end_object().end_array();
    w.key("idp_config").begin_object().str("type", "oidc").str("url", "https://idp.example.com/jwks")
        .str("issuer", "https://idp.example.com").end_object();
    w.key("rbac_pre_assign").begin_object().begin_array("1").begin_object().str("external_id", "Carol@Example.com")
        .str("role", "admin").end_object().end_array().end_object();
    w.num("term", 3);
    w.end_object();
    return b;
  }
  std::string snapshot() const {
    std::string body = snapshot_body();
    return body.substr(0, body.size() - 1) + ",\"checksum\":\"" + hex_sha256(body) + "\"}";
  }
  // Node 7 registered and joined network 1 after the last snapshot; the last write is torn.
  std::string wal() const {
    std::string w = wal_record(R"({"seq_no":0,"type":1,"node_id":7,"data":{"node_id":7,"public_key":")" +
                               k7.pub_b64() + R"(","created_at":")" + now + R"("}})");
    w += wal_record(R"({"seq_no":0,"type":10,"node_id":7,"data":{"node_id":7,"network_id":1}})");
    w += wal_record(R"({"seq_no":0,"type":2,"node_id":2,"data":{"node_id":2}})").substr(0, 9);
    return w;
  }
  bool write(const std::string& dir) const {
    return write_file(dir + "/registry.json", snapshot()) && write_file(dir + "/registry.json.wal", wal());
  }
};

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<int64_t> ints(const json_t* arr) {
  std::vector<int64_t> out;
  size_t i;
  json_t* v;
  json_array_foreach(arr, i, v) out.push_back(json_integer_value(v));
  return out;
}

// What the imported registry answers over the protocol.
void expect_imported(Server& server, const GoFixture& go) {
  Conn c = server.connect();
  rdv::JsonPtr r = do_lookup(c, 1);
  ASSERT_TRUE(is_ok(r, "lookup_ok"));
  EXPECT_EQ(str(r.get(), "public_key"), go.k1.pub_b64());
  EXPECT_EQ(str(r.get(), "hostname"), "alpha");
  EXPECT_EQ(ints(json_object_get(r.get(), "networks")), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(str(r.get(), "real_addr"), "203.0.113.9:4000");
  r = do_lookup(c, 7);  // from the WAL
  ASSERT_TRUE(is_ok(r, "lookup_ok"));
  EXPECT_EQ(str(r.get(), "public_key"), go.k7.pub_b64());
  EXPECT_EQ(ints(json_object_get(r.get(), "networks")), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(is_ok(do_lookup(c, 2), "lookup_ok")) << "the torn deregister is not applied";

  r = call(c, json_pack("{s:s,s:s}", "type", "list_networks", "admin_token", server.admin_token.c_str()));
  ASSERT_TRUE(is_ok(r, "list_networks_ok"));
  bool found = false;
  size_t i;
  json_t* n;
  json_array_foreach(json_object_get(r.get(), "networks"), i, n) {
    if (num(n, "id") != 1) continue;
    found = true;
    EXPECT_EQ(str(n, "name"), "team");
    EXPECT_EQ(str(n, "join_rule"), "invite");
    EXPECT_EQ(num(n, "members"), 3) << dump(n);
    EXPECT_EQ(num(n, "created"), 1769904000);
  }
  EXPECT_TRUE(found) << dump(r.get());

  r = call(c, json_pack("{s:s,s:i,s:i}", "type", "get_member_role", "network_id", 1, "target_node_id", 2));
  ASSERT_TRUE(is_ok(r, "get_member_role_ok"));
  EXPECT_EQ(str(r.get(), "role"), "admin");

  r = call(c, json_pack("{s:s,s:i,s:i}", "type", "check_trust", "node_id", 5, "peer_id", 1));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "trusted")));
  r = call(c, json_pack("{s:s,s:i,s:i}", "type", "check_trust", "node_id", 5, "peer_id", 7));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(r.get(), "trusted"))) << "no pair, no shared network";

  r = call(c, json_pack("{s:s,s:s}", "type", "get_idp_config", "admin_token", server.admin_token.c_str()));
  ASSERT_TRUE(is_ok(r, "get_idp_config_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "configured"))) << dump(r.get());
  EXPECT_EQ(str(r.get(), "idp_type"), "oidc");
  EXPECT_EQ(str(r.get(), "url"), "https://idp.example.com/jwks");

  // The inboxes, read with the imported keys' signatures.
  Daemon d5{go.k5, 5}, d2{go.k2, 2}, d7{go.k7, 7};
  r = poll_invites(c, d5);
  ASSERT_TRUE(is_ok(r, "poll_invites_ok"));
  json_t* inv = json_array_get(json_object_get(r.get(), "invites"), 0);
  ASSERT_TRUE(inv) << dump(r.get());
  EXPECT_EQ(num(inv, "network_id"), 1);
  EXPECT_EQ(num(inv, "inviter_id"), 1);
  r = call(c, json_pack("{s:s,s:i,s:s}", "type", "poll_handshakes", "node_id", 2, "signature",
                        d2.sign("poll_handshakes:2").c_str()));
  ASSERT_TRUE(is_ok(r, "poll_handshakes_ok"));
  json_t* req = json_array_get(json_object_get(r.get(), "requests"), 0);
  ASSERT_TRUE(req) << dump(r.get());
  EXPECT_EQ(num(req, "from_node_id"), 5);
  EXPECT_EQ(str(req, "justification"), go.justification);

  // Imported keys sign like any other: a heartbeat, and the pending handshake accepted.
  EXPECT_TRUE(is_ok(do_signed(c, go.k7, "heartbeat", "heartbeat", 7), "heartbeat_ok"));
  r = call(c, json_pack("{s:s,s:i,s:i,s:b,s:s}", "type", "respond_handshake", "node_id", 2, "peer_id", 5, "accept", 1,
                        "signature", d2.sign("respond:2:5").c_str()));
  EXPECT_TRUE(is_ok(r, "respond_handshake_ok"));

  // A returning key keeps its id; a new key gets one above next_node.
  r = do_register(c, go.k5);
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), 5);
  Daemon fresh = register_daemon(c);
  EXPECT_GE(fresh.id, 10u);
  (void)d7;
}

TEST(ImportGoSnapshot, SubcommandImportsAndTheServerServesIt) {
  Server server;
  GoFixture go;
  ASSERT_TRUE(go.write(server.dir));
  RunResult r = run_rendezvous(server.dir, {"import-go-snapshot", server.dir + "/registry.json", "-data-dir",
                                            server.data_dir});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("nodes: 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("networks: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("members: 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trust pairs: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("invites: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("handshake requests: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 records, 2 applied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("9 torn bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rbac pre-assignments: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("next_node: 10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("term: 3 -> epoch 3"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(server.data_dir + "/epoch"), "rendezvous epoch 3\n");

  // A second import into the now non-empty data dir is refused and changes nothing.
  RunResult again = run_rendezvous(server.dir, {"import-go-snapshot", server.dir + "/registry.json", "-data-dir",
                                                server.data_dir});
  EXPECT_EQ(again.code, 78);
  EXPECT_NE(again.err.find("already holds a store"), std::string::npos) << again.err;

  // The import is in the change log as ordinary, decodable records (what a standby streams),
  // all of the import's epoch, with every node among their puts; liveness stays out of it.
  {
    rdv::Env env;
    rdv::EnvOptions o;
    o.dir = server.data_dir;
    std::string why;
    ASSERT_TRUE(env.open(o, &why)) << why;
    rdv::Txn t;
    ASSERT_EQ(env.begin_read(&t), 0);
    rdv::Cursor cur(t, rdv::Db::ChangeLog);
    uint64_t records = 0, node_puts = 0, liveness_ops = 0, expected_seq = 1;
    for (bool ok = cur.seek(); ok; ok = cur.next()) {
      rdv::ChangeRecord rec;
      ASSERT_TRUE(rdv::decode_change(cur.value(), &rec, &why)) << why;
      EXPECT_EQ(rec.seq, expected_seq++);
      EXPECT_EQ(rec.epoch, 3u);
      records++;
      for (const rdv::ChangeOp& op : rec.ops) {
        if (op.db == rdv::Db::Nodes && op.is_put) node_puts++;
        if (op.db == rdv::Db::Liveness) liveness_ops++;
      }
    }
    EXPECT_GE(records, 5u);
    EXPECT_EQ(node_puts, 4u);
    EXPECT_EQ(liveness_ops, 0u);
    EXPECT_EQ(rdv::meta_u64(t, "last_seq"), records);
  }

  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  expect_imported(server, go);
  if (HasFailure()) dump_log(server);

  // The import is in the change log like any other write: a restart serves the same data.
  restart(server);
  Conn c = server.connect();
  EXPECT_TRUE(is_ok(do_lookup(c, 7), "lookup_ok"));
}

TEST(ImportGoSnapshot, TamperedSnapshotIsRefusedAndLeavesTheDataDirEmpty) {
  Server server;
  GoFixture go;
  std::string file = go.snapshot();
  size_t at = file.find("\"team\"");
  ASSERT_NE(at, std::string::npos);
  file[at + 1] = 'T';
  ASSERT_TRUE(write_file(server.dir + "/registry.json", file));
  RunResult r = run_rendezvous(server.dir, {"import-go-snapshot", server.dir + "/registry.json", "-data-dir",
                                            server.data_dir});
  EXPECT_EQ(r.code, 78) << r.out;
  EXPECT_NE(r.err.find("checksum mismatch: expected " + hex_sha256(go.snapshot_body())), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("computed "), std::string::npos) << r.err;
  for (const char* f : {"data.mdb", "lock.mdb", "rendezvous.store", "epoch"})
    EXPECT_FALSE(exists(server.data_dir + "/" + f)) << f;

  // Unparsable JSON and an unknown version are refused the same way.
  ASSERT_TRUE(write_file(server.dir + "/bad.json", "{\"version\":1,\"nodes\":{"));
  r = run_rendezvous(server.dir, {"import-go-snapshot", server.dir + "/bad.json", "-data-dir", server.data_dir});
  EXPECT_EQ(r.code, 78);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  std::string v9 = "{\"version\":9,\"nodes\":{},\"networks\":{}}";
  ASSERT_TRUE(write_file(server.dir + "/v9.json", v9.substr(0, v9.size() - 1) + ",\"checksum\":\"" + hex_sha256(v9) + "\"}"));
  r = run_rendezvous(server.dir, {"import-go-snapshot", server.dir + "/v9.json", "-data-dir", server.data_dir});
  EXPECT_EQ(r.code, 78);
  EXPECT_NE(r.err.find("version 9"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(server.data_dir + "/data.mdb"));
}

TEST(ImportGoSnapshot, StoreFlagImportsAtTheFirstStartOnly) {
  Server server;
  GoFixture go;
  ASSERT_TRUE(go.write(server.dir));
  server.extra_args = {"-store", server.dir + "/registry.json"};
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  expect_imported(server, go);
  EXPECT_NE(server.log().find("Go snapshot imported"), std::string::npos);
  if (HasFailure()) dump_log(server);

  // Later starts keep the store (with what changed since) and say -store is ignored.
  restart(server);
  EXPECT_NE(server.log().find("-store is ignored"), std::string::npos) << server.log_tail();
  Conn c = server.connect();
  rdv::JsonPtr r = call(c, json_pack("{s:s,s:i,s:i}", "type", "check_trust", "node_id", 2, "peer_id", 5));
  ASSERT_TRUE(is_ok(r, "check_trust_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "trusted"))) << "the pair accepted after the import survives";
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// A standby's store comes from its leader: -store is not imported there, whatever the data dir.
TEST(ImportGoSnapshot, StandbyDoesNotImport) {
  Server server;
  GoFixture go;
  ASSERT_TRUE(go.write(server.dir));
  server.extra_args = {"-store", server.dir + "/registry.json", "-standby", "127.0.0.1:" + std::to_string(free_port())};
  std::string err;
  ASSERT_TRUE(server.spawn(&err)) << err;
  int64_t deadline = mono_ms() + 10000;
  while (server.log().find("-store is ignored: this node is not the leader") == std::string::npos && mono_ms() < deadline)
    sleep_ms(20);
  EXPECT_NE(server.log().find("-store is ignored: this node is not the leader"), std::string::npos) << server.log_tail();
  EXPECT_EQ(server.log().find("Go snapshot imported"), std::string::npos);
  server.stop();
}

}  // namespace
}  // namespace rt
