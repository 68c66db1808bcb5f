// The request pipeline (worker-registry/dispatch.h) against a real temporary LMDB store:
// classify + collect_checks + run_entry as the event loop and the writer run them. Covers the
// standby gate, the authorisation classes of wire-protocol §4.3, the signature checks run
// ahead on the pool (and that handlers use their results), the nested transaction that makes
// a refused write leave nothing behind, and the writer thread (group commit, MDB_MAP_FULL
// grow and replay).
#include "worker-registry/dispatch.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "worker-registry/message_table.h"
#include "worker-registry/registry.h"
#include "worker-registry/writer.h"

namespace {

using namespace rdv::registry;

constexpr const char* kAdmin = "test-admin-token-0123456789";
constexpr const char* kListen = "198.51.100.1:4000";
const std::string kRefusedOnStandby = R"j({"type":"error","error":"standby mode: write operations not accepted (use primary)"})j";

struct Keypair {
  rdv::PublicKey pk{};
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Keypair() { crypto_sign_keypair(pk.data(), sk); }
  std::string pub() const { return rdv::base64_encode(pk.data(), pk.size()); }
  std::string sign_raw(const std::string& msg) const {
    std::string sig(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return sig;
  }
  std::string sign(const std::string& msg) const {
    std::string raw = sign_raw(msg);
    return rdv::base64_encode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  }
};

// The JSON body of a JSON-mode reply frame.
std::string body(const Entry& e) {
  if (e.reply.size() < 4) {
    ADD_FAILURE() << "no reply frame";
    return "";
  }
  uint32_t len = rdv::wire::load_be32(reinterpret_cast<const uint8_t*>(e.reply.data()));
  EXPECT_EQ(len, e.reply.size() - 4) << "one whole frame";
  return e.reply.substr(4);
}

rdv::Message parsed(const std::string& json) {
  rdv::Message m;
  std::string err;
  EXPECT_TRUE(m.parse(json, &err)) << json << ": " << err;
  return m;
}
std::string field(const std::string& json, const char* key) { return std::string(parsed(json).str(key)); }
uint32_t number(const std::string& json, const char* key) { return parsed(json).u32(key); }
std::string error_reply(const std::string& text) { return R"({"type":"error","error":")" + text + R"("})"; }

class Dispatch : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rdv::crypto_init());
    char tmpl[] = "/tmp/rdv-dispatch-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string err;
    ASSERT_TRUE(env_.open(rdv::EnvOptions{dir_ + "/data", map_bytes_, 126, true}, &err)) << err;
    rdv::Config cfg;
    cfg.data_dir = dir_ + "/data";
    cfg.admin_token = kAdmin;
    reg_ = std::make_unique<Registry>(cfg, env_, nullptr);
    ASSERT_TRUE(reg_->load(&err)) << err;
    peer_.ip = "203.0.113.7";
    peer_.port = 40000;
    peer_.local_ip = "127.0.0.1";
  }
  void TearDown() override {
    reg_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A decoded, classified request, as the loop makes it.
  std::unique_ptr<Entry> entry(const std::string& json, EntryKind kind = EntryKind::Json, bool standby = false) {
    auto e = std::make_unique<Entry>();
    e->kind = kind;
    std::string err;
    e->msg_ok = e->msg.parse(json, &err);
    EXPECT_TRUE(e->msg_ok) << json << ": " << err;
    e->now_ns = rdv::unix_now_ns();
    e->peer = &peer_;
    classify(*e, standby);
    return e;
  }

  // collect_checks on a fresh snapshot, then what the pool does: verify each job.
  void pre_verify(Entry& e) {
    rdv::Txn snap;
    ASSERT_EQ(env_.begin_read(&snap), 0);
    collect_checks(e, snap, *reg_);
    for (VerifyJob& j : e.jobs) j.ok = rdv::ed25519_verify(j.key, j.message, j.sig.data());
  }

  void apply_effects(const Entry& e) {
    for (const Effect& fx : e.effects)
      if (fx.kind != Effect::SubscribeBus) reg_->apply(fx);
  }

  // A read on the loop, against a snapshot of the last commit.
  void run_read(Entry& e, bool standby = false) {
    rdv::Txn snap;
    ASSERT_EQ(env_.begin_read(&snap), 0);
    RunContext ctx{reg_->config(), reg_->epoch(), standby, reg_.get(), nullptr, &snap, nullptr};
    run_entry(e, ctx);
    apply_effects(e);
  }

  // A write alone in a batch transaction, run here as the writer would (no Registry state).
  int run_write(Entry& e) {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_write(&t), 0);
    RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
    run_entry(e, ctx);
    EXPECT_EQ(t.commit(), 0);
    apply_effects(e);
    return ctx.store_error;
  }

  // The whole pipeline for one request; returns the reply body.
  std::string run(Entry& e, bool standby = false) {
    pre_verify(e);
    if (e.is_write) run_write(e);
    else run_read(e, standby);
    return body(e);
  }
  std::string send(const std::string& json, EntryKind kind = EntryKind::Json, bool standby = false) {
    auto e = entry(json, kind, standby);
    return run(*e, standby);
  }

  std::string register_json(const Keypair& k, const std::string& extra = "", bool sign = true) {
    std::string j = R"({"type":"register","listen_addr":")" + std::string(kListen) + R"(","public_key":")" + k.pub() + "\"";
    if (sign) j += R"(,"signature":")" + k.sign(rdv::challenge_register(kListen, k.pub())) + "\"";
    return j + extra + "}";
  }
  uint32_t register_node(const Keypair& k, const std::string& extra = "") {
    std::string b = send(register_json(k, extra));
    EXPECT_EQ(field(b, "type"), "register_ok") << b;
    return number(b, "node_id");
  }
  // {"type":<type>,"node_id":<id>,"signature":<sig over "<type>:<id>">,…}
  std::string signed_json(const std::string& type, uint32_t id, const Keypair& k, const std::string& extra = "") {
    return "{\"type\":\"" + type + "\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"" +
           k.sign(rdv::challenge_node(type, id)) + "\"" + extra + "}";
  }
  std::string lookup(uint32_t id) { return send("{\"type\":\"lookup\",\"node_id\":" + std::to_string(id) + "}"); }
  bool exists(uint32_t id) { return field(lookup(id), "type") == "lookup_ok"; }

  uint64_t last_seq() {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    return rdv::meta_u64(t, "last_seq");
  }
  uint64_t entries(rdv::Db db) {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    MDB_stat st;
    EXPECT_EQ(t.stat(db, &st), 0);
    return st.ms_entries;
  }
  bool has_key(rdv::Db db, std::string_view key) {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_read(&t), 0);
    std::string_view v;
    return t.get(db, key, &v) == 0;
  }
  static std::string raw(const rdv::PublicKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

  uint64_t map_bytes_ = 64ull << 20;
  std::string dir_;
  rdv::Env env_;
  std::unique_ptr<Registry> reg_;
  Peer peer_;
};

// ---- (a) the standby gate ----

TEST_F(Dispatch, LeaderHandsEveryWriteToTheWriter) {
  for (const MessageDesc* d : all_messages()) {
    auto e = entry("{\"type\":\"" + std::string(d->type) + "\"}", EntryKind::Control);
    EXPECT_EQ(e->is_write, d->access == Access::Write) << d->type;
  }
}

TEST_F(Dispatch, StandbyRefusesEveryWriteBeforeTheWriter) {
  Keypair k;
  uint32_t id = register_node(k);
  uint64_t seq = last_seq();
  int writes = 0;
  for (const MessageDesc* d : all_messages()) {
    if (d->access != Access::Write || d->auth == Auth::Local || d->standby_read) continue;  // local ones: below
    writes++;
    // Properly signed, so only the gate can refuse it.
    std::string json = std::string(d->type) == "register" ? register_json(Keypair())
                                                          : signed_json(std::string(d->type), id, k, R"(,"hostname":"h1","public":true,"tags":["a"])");
    auto e = entry(json, EntryKind::Json, /*standby=*/true);
    EXPECT_EQ(e->desc, d) << d->type;
    EXPECT_FALSE(e->is_write) << d->type << " must never reach the writer on a standby";
    pre_verify(*e);
    run_read(*e, true);
    // Verbatim: the sanitiser would hide it as "request failed" (docs/protocol-notes.md).
    EXPECT_EQ(body(*e), kRefusedOnStandby) << d->type;
    EXPECT_TRUE(e->is_error);
    EXPECT_TRUE(e->effects.empty());
  }
  EXPECT_GE(writes, 5);
  EXPECT_EQ(last_seq(), seq);
  EXPECT_TRUE(exists(id));  // the deregister was not run
  EXPECT_EQ(entries(rdv::Db::Nodes), 1u);
}

// A promotion between classification and the request's turn: the write classified on the
// standby has no batch transaction, so it is still refused (running it would need one).
TEST_F(Dispatch, WriteClassifiedOnAStandbyStaysRefusedAfterAPromotion) {
  Keypair k;
  uint32_t id = register_node(k);
  uint64_t seq = last_seq();
  auto e = entry(signed_json("set_hostname", id, k, R"(,"hostname":"h1")"), EntryKind::Json, /*standby=*/true);
  ASSERT_FALSE(e->is_write);
  pre_verify(*e);
  run_read(*e, /*standby=*/false);  // the role is leader by the time it runs
  EXPECT_EQ(body(*e), kRefusedOnStandby);
  EXPECT_TRUE(e->is_error);
  EXPECT_EQ(last_seq(), seq);
}

TEST_F(Dispatch, StandbyRefusesWritesFromTheLocalOperatorToo) {
  Keypair k;
  uint32_t id = register_node(k);
  auto e = entry("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + "}", EntryKind::Control, true);
  EXPECT_FALSE(e->is_write);
  run_read(*e, true);
  EXPECT_TRUE(e->is_error);
  EXPECT_EQ(field(body(*e), "type"), "error");
  EXPECT_TRUE(exists(id));
  // Local writes (consumer acknowledgements) are the leader's bookkeeping: refused too.
  auto ack = entry(R"({"type":"bus_ack","consumer":"x","seq":1})", EntryKind::Control, true);
  ASSERT_TRUE(ack->desc);
  EXPECT_FALSE(ack->is_write);
  run_read(*ack, true);
  EXPECT_TRUE(ack->is_error);
}

TEST_F(Dispatch, StandbyServesReads) {
  Keypair a, b;
  uint32_t ida = register_node(a);
  uint32_t idb = register_node(b, R"(,"hostname":"bee")");
  ASSERT_EQ(field(send(signed_json("set_visibility", idb, b, R"(,"public":true)")), "type"), "set_visibility_ok");

  std::string r = send("{\"type\":\"lookup\",\"node_id\":" + std::to_string(ida) + "}", EntryKind::Json, true);
  EXPECT_EQ(field(r, "type"), "lookup_ok") << r;
  r = send(signed_json("heartbeat", ida, a), EntryKind::Json, true);
  EXPECT_EQ(field(r, "type"), "heartbeat_ok") << r;
  r = send("{\"type\":\"resolve\",\"requester_id\":" + std::to_string(ida) + ",\"node_id\":" + std::to_string(idb) +
               ",\"signature\":\"" + a.sign(rdv::challenge_pair("resolve", ida, idb)) + "\"}",
           EntryKind::Json, true);
  EXPECT_EQ(field(r, "type"), "resolve_ok") << r;
  r = send(R"({"type":"resolve_hostname","hostname":"bee"})", EntryKind::Json, true);
  EXPECT_EQ(field(r, "type"), "resolve_hostname_ok") << r;
  r = send(std::string(R"({"type":"list_nodes","network_id":0,"admin_token":")") + kAdmin + "\"}", EntryKind::Json, true);
  EXPECT_EQ(field(r, "type"), "list_nodes_ok") << r;
  r = send(R"({"type":"status"})", EntryKind::Control, true);
  EXPECT_EQ(field(r, "type"), "status_ok") << r;
}

TEST_F(Dispatch, StandbyServesNativeLookup) {
  Keypair k;
  uint32_t id = register_node(k);
  Entry e;
  e.kind = EntryKind::Native;
  e.opcode = rdv::wire::kLookup;
  rdv::wire::put_be32(e.payload, id);
  e.now_ns = rdv::unix_now_ns();
  e.peer = &peer_;
  classify(e, true);
  ASSERT_NE(e.desc, nullptr);
  EXPECT_FALSE(e.is_write);
  run_read(e, true);
  ASSERT_GT(e.reply.size(), 4u);
  EXPECT_EQ(uint8_t(e.reply[4]), rdv::wire::kLookupOk);
  EXPECT_FALSE(e.is_error);
}

// ---- (b) authorisation decisions ----

TEST_F(Dispatch, DeregisterWithValidSignature) {
  Keypair k;
  uint32_t id = register_node(k);
  std::string r = send(signed_json("deregister", id, k));
  EXPECT_EQ(r, R"({"type":"deregister_ok"})");
  EXPECT_FALSE(exists(id));
}

TEST_F(Dispatch, DeregisterWithWrongSignature) {
  Keypair k, other;
  uint32_t id = register_node(k);
  uint64_t seq = last_seq();
  EXPECT_EQ(send(signed_json("deregister", id, other)), error_reply("signature verification failed"));
  EXPECT_TRUE(exists(id));
  EXPECT_EQ(last_seq(), seq);
}

TEST_F(Dispatch, DeregisterSignatureOverAnotherNodesChallengeFails) {
  Keypair k;
  uint32_t id = register_node(k);
  std::string json = "{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"" +
                     k.sign(rdv::challenge_node("deregister", id + 1)) + "\"}";
  EXPECT_EQ(send(json), error_reply("signature verification failed"));
  // Nor is a heartbeat signature good for a deregister.
  json = "{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"" +
         k.sign(rdv::challenge_node("heartbeat", id)) + "\"}";
  EXPECT_EQ(send(json), error_reply("signature verification failed"));
  EXPECT_TRUE(exists(id));
}

TEST_F(Dispatch, DeregisterWithoutSignature) {
  Keypair k;
  uint32_t id = register_node(k);
  EXPECT_EQ(send("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + "}"),
            error_reply("signature required for authenticated node"));
  EXPECT_TRUE(exists(id));
}

TEST_F(Dispatch, DeregisterWithUndecodableSignature) {
  Keypair k;
  uint32_t id = register_node(k);
  EXPECT_EQ(send("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"not-base64!\"}"),
            error_reply("invalid signature encoding: illegal base64 data at input byte 3"));
  EXPECT_TRUE(exists(id));
}

// Undecodable signatures are reported with Go's base64.StdEncoding offsets: the length for
// "xx=" at the end (one '=' where two are needed: a signature that lost its last character),
// the offset of a misplaced '=', and the start of a partial unpadded group.
TEST_F(Dispatch, UndecodableSignatureOffsetsMatchGo) {
  Keypair k;
  uint32_t id = register_node(k);
  std::string sig = k.sign(rdv::challenge_node("deregister", id));
  ASSERT_EQ(sig.size(), 88u);
  ASSERT_EQ(sig.substr(86), "==");
  std::string truncated = sig.substr(0, 87);  // "…X=": not enough padding
  EXPECT_EQ(send("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"" + truncated + "\"}"),
            error_reply("invalid signature encoding: illegal base64 data at input byte 87"));
  EXPECT_TRUE(exists(id));
  // Go's CorruptInputError offsets for text made only of alphabet bytes and '=':
  EXPECT_EQ(base64_error_detail("AB="), "illegal base64 data at input byte 3");       // not enough padding: the length
  EXPECT_EQ(base64_error_detail("A==="), "illegal base64 data at input byte 1");      // '=' after one byte: its offset
  EXPECT_EQ(base64_error_detail("AAAA=AAA"), "illegal base64 data at input byte 4");  // '=' opening a group
  EXPECT_EQ(base64_error_detail("abc"), "illegal base64 data at input byte 0");       // partial unpadded group: its start
}

TEST_F(Dispatch, DeregisterWithShortSignatureFailsVerification) {
  Keypair k;
  uint32_t id = register_node(k);
  EXPECT_EQ(send("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"AAAA\"}"),
            error_reply("signature verification failed"));
  EXPECT_TRUE(exists(id));
}

TEST_F(Dispatch, DeregisterWithAdminTokenInsteadOfSignature) {
  Keypair k;
  uint32_t id = register_node(k);
  std::string r = send("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"admin_token\":\"" + kAdmin + "\"}");
  EXPECT_EQ(r, R"({"type":"deregister_ok"})");
  EXPECT_FALSE(exists(id));
}

TEST_F(Dispatch, DeregisterAdminTokenStandsInForABadSignature) {
  Keypair k, other;
  uint32_t id = register_node(k);
  std::string r = send(signed_json("deregister", id, other, std::string(R"(,"admin_token":")") + kAdmin + "\""));
  EXPECT_EQ(r, R"({"type":"deregister_ok"})");
  EXPECT_FALSE(exists(id));
}

TEST_F(Dispatch, DeregisterWithWrongAdminTokenGetsTheSignatureError) {
  Keypair k;
  uint32_t id = register_node(k);
  EXPECT_EQ(send("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + ",\"admin_token\":\"wrong\"}"),
            error_reply("signature required for authenticated node"));
  Keypair other;
  EXPECT_EQ(send(signed_json("deregister", id, other, R"(,"admin_token":"wrong")")),
            error_reply("signature verification failed"));
  EXPECT_TRUE(exists(id));
}

TEST_F(Dispatch, DeregisterFromTheLocalOperatorNeedsNoSignature) {
  Keypair k;
  uint32_t id = register_node(k);
  auto e = entry("{\"type\":\"deregister\",\"node_id\":" + std::to_string(id) + "}", EntryKind::Control);
  EXPECT_TRUE(e->is_write);
  EXPECT_EQ(run(*e), R"({"type":"deregister_ok"})");
  EXPECT_FALSE(exists(id));
}

TEST_F(Dispatch, HeartbeatIsSigOnlyTheAdminTokenDoesNotStandIn) {
  Keypair k;
  uint32_t id = register_node(k);
  std::string r = send("{\"type\":\"heartbeat\",\"node_id\":" + std::to_string(id) + ",\"admin_token\":\"" + kAdmin + "\"}");
  EXPECT_EQ(r, error_reply("signature required for authenticated node"));
}

TEST_F(Dispatch, SetHostnameWithAndWithoutSignature) {
  Keypair k, other;
  uint32_t id = register_node(k);
  EXPECT_EQ(send(signed_json("set_hostname", id, other, R"(,"hostname":"box")")),
            error_reply("signature verification failed"));
  EXPECT_FALSE(has_key(rdv::Db::HostIndex, "box"));
  std::string r = send(signed_json("set_hostname", id, k, R"(,"hostname":"box")"));
  EXPECT_EQ(field(r, "type"), "set_hostname_ok") << r;
  EXPECT_TRUE(has_key(rdv::Db::HostIndex, "box"));
}

TEST_F(Dispatch, ListBackboneNodesNeedsAdmin) {
  Keypair a, b;
  register_node(a);
  register_node(b);
  const std::string want = "listing backbone nodes is not permitted (use lookup with a specific node_id)";
  // The handler's text (directory.cc) …
  {
    auto e = entry(R"({"type":"list_nodes","network_id":0})");
    rdv::Txn snap;
    ASSERT_EQ(env_.begin_read(&snap), 0);
    View view(snap);
    Caller caller;
    std::vector<Effect> fx;
    std::string resume, partial;
    Request r{*e->desc, e->msg, e->payload, peer_, e->now_ns, reg_->config(), reg_->epoch(), view, nullptr,
              reg_.get(), caller, SignatureChecker{&e->jobs, nullptr}, nullptr, fx, &resume, &partial};
    Outcome o = e->desc->handler(r);
    EXPECT_TRUE(o.failed);
    EXPECT_EQ(o.error, want);
  }
  // … reaches the daemon through the sanitiser (no keyword in it).
  EXPECT_EQ(rdv::wire::sanitize_error(want), "request failed");
  EXPECT_EQ(send(R"({"type":"list_nodes","network_id":0})"), error_reply("request failed"));
  EXPECT_EQ(send(R"({"type":"list_nodes"})"), error_reply("request failed"));
  EXPECT_EQ(send(R"({"type":"list_nodes","network_id":0,"admin_token":"wrong"})"), error_reply("request failed"));
  // A valid token, or the local operator, lists every node.
  for (auto [json, kind] : {std::pair{std::string(R"({"type":"list_nodes","network_id":0,"admin_token":")") + kAdmin + "\"}",
                                      EntryKind::Json},
                            std::pair{std::string(R"({"type":"list_nodes","network_id":0})"), EntryKind::Control}}) {
    std::string r = send(json, kind);
    ASSERT_EQ(field(r, "type"), "list_nodes_ok") << r;
    rdv::JsonPtr nodes = parsed(r).json("nodes");
    ASSERT_TRUE(nodes);
    EXPECT_EQ(json_array_size(nodes.get()), 2u);
  }
}

TEST_F(Dispatch, UnknownTypeIsRefusedWithoutAHandler) {
  auto e = entry(R"({"type":"no_such_thing"})");
  EXPECT_EQ(e->desc, nullptr);
  EXPECT_FALSE(e->is_write);
  run_read(*e);
  // "unknown message type: \"no_such_thing\"" has no sanitiser keyword.
  EXPECT_EQ(body(*e), error_reply("request failed"));
  auto c = entry(R"({"type":"no_such_thing"})", EntryKind::Control);
  run_read(*c);
  EXPECT_EQ(body(*c), error_reply(R"(unknown command \"no_such_thing\")"));
  // A local message from the network is unknown too.
  auto s = entry(R"({"type":"status"})");
  run_read(*s);
  EXPECT_EQ(body(*s), error_reply("request failed"));
}

// ---- (c) signature checks run ahead ----

TEST_F(Dispatch, CollectChecksForSignedRegister) {
  Keypair k;
  auto e = entry(register_json(k));
  rdv::Txn snap;
  ASSERT_EQ(env_.begin_read(&snap), 0);
  collect_checks(*e, snap, *reg_);
  ASSERT_EQ(e->jobs.size(), 1u);
  EXPECT_EQ(e->jobs[0].key, k.pk);
  EXPECT_EQ(e->jobs[0].message, rdv::challenge_register(kListen, k.pub()));
  rdv::Signature sig{};  // the signature the request carries (Ed25519 here may be hedged, not deterministic)
  ASSERT_TRUE(rdv::decode_signature(e->msg.str("signature"), &sig));
  EXPECT_EQ(e->jobs[0].sig, sig);
  EXPECT_TRUE(rdv::ed25519_verify(e->jobs[0].key, e->jobs[0].message, e->jobs[0].sig.data()));
}

TEST_F(Dispatch, CollectChecksForSignedHeartbeatAndResolve) {
  Keypair a, b;
  uint32_t ida = register_node(a), idb = register_node(b);
  auto hb = entry(signed_json("heartbeat", ida, a));
  auto rs = entry("{\"type\":\"resolve\",\"requester_id\":" + std::to_string(idb) + ",\"node_id\":" + std::to_string(ida) +
                  ",\"signature\":\"" + b.sign(rdv::challenge_pair("resolve", idb, ida)) + "\"}");
  auto dr = entry(signed_json("deregister", ida, a));
  rdv::Txn snap;
  ASSERT_EQ(env_.begin_read(&snap), 0);
  collect_checks(*hb, snap, *reg_);
  collect_checks(*rs, snap, *reg_);
  collect_checks(*dr, snap, *reg_);
  ASSERT_EQ(hb->jobs.size(), 1u);
  EXPECT_EQ(hb->jobs[0].key, a.pk);  // the key comes from the store
  EXPECT_EQ(hb->jobs[0].message, "heartbeat:" + std::to_string(ida));
  ASSERT_EQ(rs->jobs.size(), 1u);
  EXPECT_EQ(rs->jobs[0].key, b.pk);  // the requester signs
  EXPECT_EQ(rs->jobs[0].message, "resolve:" + std::to_string(idb) + ":" + std::to_string(ida));
  ASSERT_EQ(dr->jobs.size(), 1u);
  EXPECT_EQ(dr->jobs[0].message, "deregister:" + std::to_string(ida));
}

TEST_F(Dispatch, CollectChecksNativeHeartbeat) {
  Keypair k;
  uint32_t id = register_node(k);
  Entry e;
  e.kind = EntryKind::Native;
  e.opcode = rdv::wire::kHeartbeat;
  rdv::wire::put_be32(e.payload, id);
  e.payload += k.sign_raw(rdv::challenge_node("heartbeat", id));
  e.now_ns = rdv::unix_now_ns();
  e.peer = &peer_;
  classify(e, false);
  rdv::Txn snap;
  ASSERT_EQ(env_.begin_read(&snap), 0);
  collect_checks(e, snap, *reg_);
  ASSERT_EQ(e.jobs.size(), 1u);
  EXPECT_EQ(e.jobs[0].key, k.pk);
  EXPECT_EQ(e.jobs[0].message, "heartbeat:" + std::to_string(id));
}

TEST_F(Dispatch, CollectChecksFindsNothingToVerify) {
  Keypair k;
  uint32_t id = register_node(k);
  std::vector<std::unique_ptr<Entry>> none;
  none.push_back(entry("{\"type\":\"lookup\",\"node_id\":" + std::to_string(id) + "}"));
  none.push_back(entry(register_json(Keypair(), "", /*sign=*/false)));          // unsigned
  none.push_back(entry("{\"type\":\"heartbeat\",\"node_id\":" + std::to_string(id) + "}"));  // no signature
  none.push_back(entry(signed_json("heartbeat", id + 50, k)));                   // unknown node
  none.push_back(entry(signed_json("heartbeat", id, k), EntryKind::Control));  // the local operator
  none.push_back(entry("{\"type\":\"heartbeat\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"!!\"}"));
  rdv::Txn snap;
  ASSERT_EQ(env_.begin_read(&snap), 0);
  for (auto& e : none) {
    collect_checks(*e, snap, *reg_);
    EXPECT_TRUE(e->jobs.empty()) << e->msg.type();
  }
}

TEST_F(Dispatch, HeartbeatInsideTheVerifyWindowIsNotVerifiedAgain) {
  Keypair k;
  uint32_t id = register_node(k);
  auto first = entry(signed_json("heartbeat", id, k));
  EXPECT_EQ(field(run(*first), "type"), "heartbeat_ok");
  EXPECT_EQ(first->jobs.size(), 1u);
  EXPECT_NE(reg_->last_verified_ns(id), 0);
  // Within 120 s: no job, and the handler does not check the signature either (§4.5).
  auto next = entry(signed_json("heartbeat", id, Keypair()));
  rdv::Txn snap;
  ASSERT_EQ(env_.begin_read(&snap), 0);
  collect_checks(*next, snap, *reg_);
  snap.abort();
  EXPECT_TRUE(next->jobs.empty());
  run_read(*next);
  EXPECT_EQ(field(body(*next), "type"), "heartbeat_ok");
  // Past the window the check is collected again.
  auto later = entry(signed_json("heartbeat", id, k));
  later->now_ns += 121LL * 1000000000;
  ASSERT_EQ(env_.begin_read(&snap), 0);
  collect_checks(*later, snap, *reg_);
  EXPECT_EQ(later->jobs.size(), 1u);
}

TEST_F(Dispatch, RegisterUsesThePreVerifiedResult) {
  Keypair k;
  auto e = entry(register_json(k));
  pre_verify(*e);
  ASSERT_EQ(e->jobs.size(), 1u);
  ASSERT_TRUE(e->jobs[0].ok);  // the signature is good…
  e->jobs[0].ok = false;       // …but the pool said no: the handler must believe the pool
  run_write(*e);
  EXPECT_EQ(body(*e), error_reply("registration: signature verification failed"));
  EXPECT_FALSE(has_key(rdv::Db::KeyIndex, raw(k.pk)));
  EXPECT_EQ(entries(rdv::Db::Nodes), 0u);
}

TEST_F(Dispatch, HeartbeatUsesThePreVerifiedResult) {
  Keypair k;
  uint32_t id = register_node(k);
  auto e = entry(signed_json("heartbeat", id, k));
  pre_verify(*e);
  ASSERT_EQ(e->jobs.size(), 1u);
  ASSERT_TRUE(e->jobs[0].ok);
  e->jobs[0].ok = false;
  run_read(*e);
  EXPECT_EQ(body(*e), error_reply("signature verification failed"));
  EXPECT_EQ(reg_->last_verified_ns(id), 0);  // refused: no effects
}

TEST_F(Dispatch, DeregisterUsesThePreVerifiedResultInTheWriter) {
  Keypair k, other;
  uint32_t id = register_node(k);
  // A bad signature the pool vouched for is accepted: the writer does not verify again.
  auto e = entry(signed_json("deregister", id, other));
  pre_verify(*e);
  ASSERT_EQ(e->jobs.size(), 1u);
  EXPECT_EQ(e->jobs[0].key, k.pk);  // the node's key from the snapshot
  ASSERT_FALSE(e->jobs[0].ok);
  e->jobs[0].ok = true;
  run_write(*e);
  EXPECT_EQ(body(*e), R"({"type":"deregister_ok"})");
}

TEST_F(Dispatch, AJobForAnotherMessageIsIgnoredAndVerifiedInline) {
  Keypair k, other;
  uint32_t id = register_node(k);
  // A valid heartbeat carrying a stale "false" verdict about some other text: verified here.
  auto good = entry(signed_json("heartbeat", id, k));
  pre_verify(*good);
  ASSERT_EQ(good->jobs.size(), 1u);
  good->jobs[0].message = "heartbeat:999999";
  good->jobs[0].ok = false;
  run_read(*good);
  EXPECT_EQ(field(body(*good), "type"), "heartbeat_ok");

  // An invalid one carrying a "true" verdict about some other text: still refused.
  Keypair k2;
  uint32_t id2 = register_node(k2);
  auto bad = entry(signed_json("heartbeat", id2, other));
  VerifyJob j;
  j.key = k2.pk;
  j.message = "heartbeat:999999";
  ASSERT_TRUE(rdv::decode_signature(bad->msg.str("signature"), &j.sig));
  j.ok = true;
  bad->jobs.push_back(j);
  run_read(*bad);
  EXPECT_EQ(body(*bad), error_reply("signature verification failed"));

  // A verdict about another key (the node's key changed since the check) is ignored too.
  auto rotated = entry(signed_json("heartbeat", id2, other));
  j.key = other.pk;
  j.message = rdv::challenge_node("heartbeat", id2);
  rotated->jobs = {j};
  run_read(*rotated);
  EXPECT_EQ(body(*rotated), error_reply("signature verification failed"));
}

// ---- (d) a refused write leaves nothing behind ----

TEST_F(Dispatch, RegisterRefusedForABoundOwnerLeavesNothing) {
  Keypair a, b;
  uint32_t ida = register_node(a, R"(,"owner":"alice@example.com")");
  uint64_t seq = last_seq();
  uint64_t keys = entries(rdv::Db::KeyIndex);
  std::string r = send(register_json(b, R"(,"owner":"alice@example.com","hostname":"bob")"));
  EXPECT_EQ(r, error_reply("owner \\\"alice@example.com\\\" is already bound to node " + std::to_string(ida) +
                           " with a different key; use recover_identity to rotate the key"));
  EXPECT_FALSE(has_key(rdv::Db::KeyIndex, raw(b.pk)));
  EXPECT_FALSE(has_key(rdv::Db::HostIndex, "bob"));
  EXPECT_EQ(entries(rdv::Db::KeyIndex), keys);
  EXPECT_EQ(entries(rdv::Db::Nodes), 1u);
  EXPECT_EQ(last_seq(), seq);
  // The next registration gets the next id: none was used up by the refused one.
  EXPECT_EQ(register_node(Keypair()), ida + 1);
}

// Test handlers: write, then refuse or throw. Declared in the test, run through run_entry.
Outcome write_then_refuse(Request& r) {
  Write w(r);
  w.put(rdv::Db::HostIndex, "leftover", rdv::key_u32(77));
  w.set_liveness(77, 12345);
  r.effect(Effect::Touch, 77, 12345);
  return Outcome::fail("invalid test refusal");
}
Outcome write_then_throw(Request& r) {
  Write w(r);
  w.put(rdv::Db::HostIndex, "leftover", rdv::key_u32(77));
  r.effect(Effect::Touch, 77, 12345);
  throw std::runtime_error("boom");
}
Outcome write_and_succeed(Request& r) {
  Write w(r);
  w.put(rdv::Db::HostIndex, "kept", rdv::key_u32(78));
  return Outcome::ok(json_object());
}
const MessageDesc kRefuse{.type = "set_tags", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
                          .handler = write_then_refuse, .change = rdv::ChangeType::SetTags};
const MessageDesc kThrow{.type = "set_tags", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
                         .handler = write_then_throw, .change = rdv::ChangeType::SetTags};
const MessageDesc kSucceed{.type = "set_tags", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
                           .handler = write_and_succeed, .change = rdv::ChangeType::SetTags};

TEST_F(Dispatch, HandlerThatWritesThenRefusesLeavesNothingAndTheBatchGoesOn) {
  uint64_t seq = last_seq();
  auto refused = entry(R"({"type":"set_tags"})");
  refused->desc = &kRefuse;
  auto thrown = entry(R"({"type":"set_tags"})");
  thrown->desc = &kThrow;
  auto local_thrown = entry(R"({"type":"set_tags"})", EntryKind::Control);
  local_thrown->desc = &kThrow;
  auto ok = entry(R"({"type":"set_tags"})");
  ok->desc = &kSucceed;
  // One batch transaction, as the writer runs it.
  {
    rdv::Txn t;
    ASSERT_EQ(env_.begin_write(&t), 0);
    RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
    for (Entry* e : {refused.get(), thrown.get(), local_thrown.get(), ok.get()}) {
      ASSERT_TRUE(e->is_write);
      run_entry(*e, ctx);
    }
    EXPECT_EQ(ctx.store_error, 0);
    ASSERT_EQ(t.commit(), 0);
  }
  EXPECT_EQ(body(*refused), error_reply("invalid test refusal"));
  EXPECT_TRUE(refused->is_error);
  EXPECT_TRUE(refused->effects.empty());
  EXPECT_EQ(body(*thrown), error_reply("request failed"));  // sanitised for a daemon
  EXPECT_TRUE(thrown->effects.empty());
  EXPECT_EQ(body(*local_thrown), error_reply("registry handler panic recovered: boom"));  // verbatim locally
  EXPECT_EQ(body(*ok), R"({"type":"set_tags"})");
  EXPECT_FALSE(ok->is_error);
  EXPECT_FALSE(has_key(rdv::Db::HostIndex, "leftover"));
  EXPECT_FALSE(has_key(rdv::Db::Liveness, rdv::key_u32(77)));
  EXPECT_TRUE(has_key(rdv::Db::HostIndex, "kept"));
  EXPECT_EQ(last_seq(), seq + 1);  // only the successful request's change record
}

TEST_F(Dispatch, WritesInOneBatchSeeEachOther) {
  Keypair a, b;
  auto first = entry(register_json(a, R"(,"owner":"carol")"));
  auto second = entry(register_json(b, R"(,"owner":"carol")"));
  pre_verify(*first);
  pre_verify(*second);
  rdv::Txn t;
  ASSERT_EQ(env_.begin_write(&t), 0);
  RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
  run_entry(*first, ctx);
  run_entry(*second, ctx);
  ASSERT_EQ(t.commit(), 0);
  EXPECT_EQ(field(body(*first), "type"), "register_ok");
  EXPECT_EQ(field(body(*second), "type"), "error");
  EXPECT_NE(field(body(*second), "error").find("already bound"), std::string::npos) << body(*second);
  EXPECT_FALSE(has_key(rdv::Db::KeyIndex, raw(b.pk)));
}

// ---- (e) the writer thread ----

// Submits `b` and waits for it to come back.
std::unique_ptr<Batch> write_batch(Writer& w, std::unique_ptr<Batch> b) {
  w.submit(std::move(b));
  EXPECT_TRUE(w.busy());
  pollfd p{w.notify_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 60000), 1) << "the writer did not hand the batch back";
  auto done = w.take_finished();
  EXPECT_TRUE(done);
  EXPECT_FALSE(w.busy());
  return done;
}

TEST_F(Dispatch, WriterCommitsABatchOfRegistrations) {
  uint64_t seq = last_seq();
  std::vector<Keypair> keys(6);
  std::vector<std::unique_ptr<Entry>> es;
  for (size_t i = 0; i < keys.size(); i++)
    es.push_back(entry(i == 3 ? std::string(R"({"type":"register","listen_addr":"1.2.3.4:5"})") : register_json(keys[i])));
  auto batch = std::make_unique<Batch>();
  for (auto& e : es) {
    ASSERT_TRUE(e->is_write);
    pre_verify(*e);
    batch->entries.push_back(e.get());
  }
  batch->cfg = reg_->config_ptr();
  batch->epoch = reg_->epoch();
  Writer w(env_, nullptr);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  auto done = write_batch(w, std::move(batch));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->rc, 0);
  EXPECT_EQ(done->replays, 0);
  EXPECT_EQ(done->last_seq, seq + 5);  // one change record per successful write
  EXPECT_EQ(last_seq(), seq + 5);
  EXPECT_EQ(done->nodes_total, 5u);
  uint32_t next_id = 1;
  for (size_t i = 0; i < es.size(); i++) {
    std::string b = body(*es[i]);
    if (i == 3) {
      EXPECT_EQ(b, error_reply("registration requires public_key"));
      EXPECT_TRUE(es[i]->effects.empty());
      EXPECT_TRUE(es[i]->is_error);
      continue;
    }
    EXPECT_EQ(field(b, "type"), "register_ok") << b;
    EXPECT_EQ(number(b, "node_id"), next_id++);  // ids in batch order
    EXPECT_FALSE(es[i]->effects.empty());
    bool counted = false;
    for (const Effect& fx : es[i]->effects) counted |= fx.kind == Effect::CountRegistration;
    EXPECT_TRUE(counted);
    EXPECT_TRUE(has_key(rdv::Db::KeyIndex, raw(keys[i].pk)));
  }
}

TEST_F(Dispatch, WriterRunsAnEmptyBatch) {
  uint64_t seq = last_seq();
  auto batch = std::make_unique<Batch>();
  batch->cfg = reg_->config_ptr();
  Writer w(env_, nullptr);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  auto done = write_batch(w, std::move(batch));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->rc, 0);
  EXPECT_EQ(done->last_seq, seq);
}

class DispatchTinyMap : public Dispatch {
 protected:
  DispatchTinyMap() { map_bytes_ = 1ull << 20; }
};

TEST_F(DispatchTinyMap, MapFullGrowsAndReplaysTheBatch) {
  const uint64_t map_before = env_.map_size();
  ASSERT_EQ(map_before, 1ull << 20);
  uint64_t seq = last_seq();
  // Unsigned registrations near the field limits: ~5 KB each on disk (node record and its
  // change record), so 400 of them overflow the 1 MiB map several times over.
  const int n = 400;
  std::string lan = R"(,"lan_addrs":[)";
  for (int i = 0; i < 32; i++)
    lan += std::string(i ? "," : "") + "\"10.0." + std::to_string(i) + ".1:" + std::string(50, '4') + "\"";
  lan += "]";
  std::vector<std::unique_ptr<Entry>> es;
  auto batch = std::make_unique<Batch>();
  for (int i = 0; i < n; i++) {
    rdv::PublicKey pk;
    randombytes_buf(pk.data(), pk.size());
    std::string json = R"({"type":"register","listen_addr":"1.2.3.4:5","public_key":")" +
                       rdv::base64_encode(pk.data(), pk.size()) + R"(","owner":")" + std::to_string(i) +
                       std::string(200, 'o') + R"(","version":")" + std::string(120, 'v') + "\"" + lan + "}";
    es.push_back(entry(json));
    ASSERT_TRUE(es.back()->is_write);
    batch->entries.push_back(es.back().get());
  }
  batch->cfg = reg_->config_ptr();
  batch->epoch = reg_->epoch();
  Writer w(env_, nullptr);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  auto done = write_batch(w, std::move(batch));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->rc, 0) << rdv::lmdb_error(done->rc);
  EXPECT_GT(done->replays, 0);
  EXPECT_GT(env_.map_size(), map_before);
  EXPECT_EQ(done->last_seq, seq + n);
  EXPECT_EQ(done->nodes_total, uint64_t(n));
  for (int i = 0; i < n; i++) {
    std::string b = body(*es[i]);
    ASSERT_EQ(field(b, "type"), "register_ok") << i << ": " << b;
    EXPECT_EQ(number(b, "node_id"), uint32_t(i + 1));  // a replay re-allocates the same ids
    EXPECT_FALSE(es[i]->is_error);
  }
  EXPECT_EQ(entries(rdv::Db::Nodes), uint64_t(n));
  EXPECT_EQ(last_seq(), seq + n);
}

}  // namespace

namespace {
// list_nodes of more than one turn (directory.cc kListChunk = 1 000): the first run yields
// with nothing sent, the next finishes, and the one reply holds every node once, in order.
TEST_F(Dispatch, ListNodesYieldsAfterATurnAndFinishesWithOneReply) {
  {
    rdv::Txn t;
    ASSERT_EQ(env_.begin_write(&t), 0);
    for (uint32_t id = 1; id <= 1500; id++) {
      rdv::Node n;
      n.id = id;
      n.networks = {0};
      ASSERT_EQ(t.put(rdv::Db::Nodes, rdv::key_u32(id), rdv::encode_node(n)), 0);
    }
    ASSERT_EQ(t.commit(), 0);
  }
  auto e = entry(R"({"type":"list_nodes","network_id":0})", EntryKind::Control);  // the local operator
  run_read(*e);
  EXPECT_TRUE(e->continuing) << "the first turn did not yield";
  EXPECT_TRUE(e->reply.empty());
  run_read(*e);
  ASSERT_FALSE(e->continuing);
  rdv::JsonPtr j(json_loads(body(*e).c_str(), 0, nullptr));
  ASSERT_TRUE(j) << body(*e).substr(0, 200);
  json_t* nodes = json_object_get(j.get(), "nodes");
  ASSERT_EQ(json_array_size(nodes), 1500u);
  for (size_t i = 0; i < 1500; i++)
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(nodes, i), "node_id")), json_int_t(i + 1));
}
}  // namespace
