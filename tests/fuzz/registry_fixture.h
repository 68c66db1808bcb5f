// The registry the dispatching fuzz targets run requests through: a real LMDB store in a
// temporary directory, created once per fuzzing process and removed at exit, holding three
// registered nodes (ids 1, 2, 3, keys from fixed seeds) so lookups, heartbeats and signed
// messages reach past "node not found".
//
// A request goes through the pipeline as the registry's loop and writer run it (classify,
// collect_checks and the verify pool's checks, run_entry), with two differences that keep
// every input independent of the ones before it: effects are not applied, and a write runs
// in a batch transaction that is aborted instead of committed.
#pragma once

#include <sodium.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "shared/crypto.h"
#include "shared/log.h"
#include "shared/store.h"
#include "shared/util.h"
#include "shared/wire.h"
#include "worker-registry/dispatch.h"
#include "worker-registry/registry.h"

namespace rdv::fuzz {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

inline constexpr const char* kAdminToken = "fuzz-admin-token-0123456789abcdef";
inline constexpr const char* kListen = "198.51.100.1:4000";

struct SeededKey {
  PublicKey pk{};
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  explicit SeededKey(uint8_t n) {
    unsigned char seed[crypto_sign_SEEDBYTES] = {};
    seed[0] = n;
    crypto_sign_seed_keypair(pk.data(), sk, seed);
  }
  std::string pub() const { return base64_encode(pk.data(), pk.size()); }
  std::string sign(const std::string& msg) const {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return base64_encode(sig, sizeof sig);
  }
};

class FuzzRegistry {
 public:
  static FuzzRegistry& get() {
    static FuzzRegistry* r = new FuzzRegistry();  // lives until exit; the atexit hook removes the dir
    return *r;
  }

  // Runs one request and returns its reply frame (possibly empty for a continuing read).
  std::string run(std::unique_ptr<registry::Entry> e) {
    e->now_ns = now_ns_;
    e->peer = &peer_;
    registry::classify(*e, false);
    {
      Txn snap;
      check(env_.begin_read(&snap) == 0, "begin_read");
      registry::collect_checks(*e, snap, *reg_);
    }
    for (registry::VerifyJob& j : e->jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
    if (e->is_write) {
      Txn t;
      check(env_.begin_write(&t) == 0, "begin_write");
      registry::RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
      registry::run_entry(*e, ctx);
      t.abort();
    } else {
      Txn snap;
      check(env_.begin_read(&snap) == 0, "begin_read");
      registry::RunContext ctx{reg_->config(), reg_->epoch(), false, reg_.get(), nullptr, &snap, nullptr};
      // A read in turns (list_nodes over a large table) runs again until it is done.
      for (int turn = 0; turn < 64; turn++) {
        registry::run_entry(*e, ctx);
        if (!e->continuing) break;
      }
    }
    return e->reply;
  }

  Env& env() { return env_; }
  const std::string& data_dir() const { return reg_->config().data_dir; }
  static std::string& dir() {
    static std::string d;
    return d;
  }

 private:
  FuzzRegistry() {
    check(crypto_init(), "crypto_init");
    log_set_level(LogLevel::Error);
    char tmpl[] = "/tmp/rdv-fuzz-XXXXXX";
    check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    dir() = tmpl;
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(dir(), ec); });
    std::string err;
    check(env_.open(EnvOptions{dir() + "/data", 64ull << 20, 126, true}, &err), "env open");
    Config cfg;
    cfg.data_dir = dir() + "/data";
    cfg.admin_token = kAdminToken;
    reg_ = std::make_unique<registry::Registry>(cfg, env_, nullptr);
    check(reg_->load(&err), "registry load");
    peer_.ip = "203.0.113.7";
    peer_.port = 40000;
    peer_.local_ip = "127.0.0.1";
    now_ns_ = unix_now_ns();
    for (uint8_t n = 1; n <= 3; n++) register_node(SeededKey(n));
  }

  void register_node(const SeededKey& k) {
    std::string json = std::string(R"({"type":"register","listen_addr":")") + kListen + R"(","public_key":")" +
                       k.pub() + R"(","signature":")" + k.sign(challenge_register(kListen, k.pub())) + "\"}";
    auto e = std::make_unique<registry::Entry>();
    std::string err;
    check(e->msg.parse(json, &err), "register json");
    e->now_ns = now_ns_;
    e->peer = &peer_;
    registry::classify(*e, false);
    Txn snap;
    check(env_.begin_read(&snap) == 0, "begin_read");
    registry::collect_checks(*e, snap, *reg_);
    snap.abort();
    for (registry::VerifyJob& j : e->jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
    Txn t;
    check(env_.begin_write(&t) == 0, "begin_write");
    registry::RunContext ctx{reg_->config(), reg_->epoch(), false, nullptr, nullptr, nullptr, &t};
    registry::run_entry(*e, ctx);
    check(t.commit() == 0, "commit");
    check(e->reply.find("register_ok") != std::string::npos, "seed node registered");
    for (const registry::Effect& fx : e->effects)
      if (fx.kind != registry::Effect::SubscribeBus) reg_->apply(fx);
  }

  Env env_;
  std::unique_ptr<registry::Registry> reg_;
  registry::Peer peer_;
  int64_t now_ns_ = 0;
};

}  // namespace rdv::fuzz
