// Handshake inboxes against a real temporary store (worker-registry/trust.cc), for what the
// wire cannot show cheaply: a standby serves poll_handshakes as a read that lists without
// draining, and one poll drains at most 1000 responses (the rest wait for the next).
#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crypto.h"
#include "store.h"
#include "util.h"
#include "worker-registry/dispatch.h"
#include "worker-registry/registry.h"

namespace {

using namespace rdv::registry;

struct Keypair {
  rdv::PublicKey pk{};
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Keypair() { crypto_sign_keypair(pk.data(), sk); }
  std::string pub() const { return rdv::base64_encode(pk.data(), pk.size()); }
  std::string sign(const std::string& msg) const {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return rdv::base64_encode(sig, sizeof sig);
  }
};

rdv::Message parsed(const std::string& json) {
  rdv::Message m;
  std::string err;
  EXPECT_TRUE(m.parse(json, &err)) << json << ": " << err;
  return m;
}

class TrustStore : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rdv::crypto_init());
    char tmpl[] = "/tmp/rdv-trust-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string err;
    ASSERT_TRUE(env_.open(rdv::EnvOptions{dir_ + "/data", 256ull << 20, 126, true}, &err)) << err;
    rdv::Config cfg;
    cfg.data_dir = dir_ + "/data";
    reg_ = std::make_unique<Registry>(cfg, env_, nullptr);
    ASSERT_TRUE(reg_->load(&err)) << err;
    peer_.ip = "203.0.113.7";
    peer_.port = 40000;
  }
  void TearDown() override {
    reg_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Entry> entry(const std::string& json, bool standby) {
    auto e = std::make_unique<Entry>();
    e->kind = EntryKind::Json;
    std::string err;
    e->msg_ok = e->msg.parse(json, &err);
    EXPECT_TRUE(e->msg_ok) << err;
    e->now_ns = rdv::unix_now_ns();
    e->peer = &peer_;
    classify(*e, standby);
    return e;
  }
  // Writes in one batch transaction, as the writer runs them; returns the reply bodies.
  std::vector<std::string> write_batch(const std::vector<std::string>& jsons) {
    rdv::Txn t;
    EXPECT_EQ(env_.begin_write(&t), 0);
    RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
    std::vector<std::string> out;
    for (const std::string& j : jsons) {
      auto e = entry(j, false);
      EXPECT_TRUE(e->is_write) << j;
      run_entry(*e, ctx);
      out.push_back(e->reply.size() >= 4 ? e->reply.substr(4) : "");
    }
    EXPECT_EQ(t.commit(), 0);
    return out;
  }
  std::string write(const std::string& json) { return write_batch({json})[0]; }
  // A read on a standby's loop: the standby gate lets poll_handshakes through as a read.
  std::string standby_read(const std::string& json) {
    auto e = entry(json, true);
    EXPECT_FALSE(e->is_write);
    rdv::Txn snap;
    EXPECT_EQ(env_.begin_read(&snap), 0);
    RunContext ctx{reg_->config(), reg_->epoch(), true, reg_.get(), nullptr, &snap, nullptr};
    run_entry(*e, ctx);
    return e->reply.size() >= 4 ? e->reply.substr(4) : "";
  }

  std::string register_json(const Keypair& k) {
    const std::string listen = "198.51.100.1:4000";
    return R"({"type":"register","listen_addr":")" + listen + R"(","public_key":")" + k.pub() +
           R"(","signature":")" + k.sign(rdv::challenge_register(listen, k.pub())) + "\"}";
  }
  std::vector<uint32_t> register_all(const std::vector<Keypair>& keys) {
    std::vector<std::string> reqs;
    for (const Keypair& k : keys) reqs.push_back(register_json(k));
    std::vector<uint32_t> ids;
    for (const std::string& b : write_batch(reqs)) ids.push_back(parsed(b).u32("node_id"));
    return ids;
  }
  static std::string poll_json(const Keypair& k, uint32_t id) {
    return "{\"type\":\"poll_handshakes\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"" +
           k.sign("poll_handshakes:" + std::to_string(id)) + "\"}";
  }
  static std::string respond_json(const Keypair& k, uint32_t node, uint32_t peer, bool accept) {
    return "{\"type\":\"respond_handshake\",\"node_id\":" + std::to_string(node) + ",\"peer_id\":" +
           std::to_string(peer) + ",\"accept\":" + (accept ? "true" : "false") + ",\"signature\":\"" +
           k.sign("respond:" + std::to_string(node) + ":" + std::to_string(peer)) + "\"}";
  }
  static size_t list_size(const std::string& body, const char* key) {
    rdv::JsonPtr j = parsed(body).json(key);
    EXPECT_TRUE(json_is_array(j.get())) << body;
    return json_array_size(j.get());
  }

  std::string dir_;
  rdv::Env env_;
  std::unique_ptr<Registry> reg_;
  Peer peer_;
};

TEST_F(TrustStore, StandbyPollListsWithoutDraining) {
  std::vector<Keypair> keys(2);
  std::vector<uint32_t> ids = register_all(keys);
  const Keypair &a = keys[0], &b = keys[1];
  std::string req = "{\"type\":\"request_handshake\",\"from_node_id\":" + std::to_string(ids[0]) + ",\"to_node_id\":" +
                    std::to_string(ids[1]) + ",\"justification\":\"hi\",\"signature\":\"" +
                    a.sign("handshake:" + std::to_string(ids[0]) + ":" + std::to_string(ids[1])) + "\"}";
  ASSERT_EQ(parsed(write(req)).str("type"), "request_handshake_ok");

  for (int i = 0; i < 2; i++) {
    std::string body = standby_read(poll_json(b, ids[1]));
    ASSERT_EQ(parsed(body).str("type"), "poll_handshakes_ok") << body;
    EXPECT_EQ(list_size(body, "requests"), 1u) << "standby poll " << i << " must not drain: " << body;
  }
  // A wrong signature is refused on the standby too.
  std::string forged = standby_read(poll_json(a, ids[1]));
  EXPECT_EQ(parsed(forged).str("error"), "signature verification failed") << forged;
  // The leader's poll drains.
  EXPECT_EQ(list_size(write(poll_json(b, ids[1])), "requests"), 1u);
  EXPECT_EQ(list_size(write(poll_json(b, ids[1])), "requests"), 0u);
  EXPECT_EQ(list_size(standby_read(poll_json(b, ids[1])), "requests"), 0u);
}

TEST_F(TrustStore, OnePollDrainsAtMostAThousandResponses) {
  const size_t responders = 1001;
  std::vector<Keypair> keys(responders + 1);
  std::vector<uint32_t> ids = register_all(keys);
  uint32_t requester = ids[0];
  std::vector<std::string> rejections;
  for (size_t i = 1; i <= responders; i++) rejections.push_back(respond_json(keys[i], ids[i], requester, false));
  for (const std::string& b : write_batch(rejections)) ASSERT_EQ(parsed(b).str("type"), "respond_handshake_ok") << b;

  std::string first = write(poll_json(keys[0], requester));
  EXPECT_EQ(list_size(first, "responses"), 1000u);
  std::string second = write(poll_json(keys[0], requester));
  EXPECT_EQ(list_size(second, "responses"), 1u);
  EXPECT_EQ(list_size(write(poll_json(keys[0], requester)), "responses"), 0u);
}

}  // namespace
