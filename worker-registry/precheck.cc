// Collects the signature checks a pass's requests will need, so VerifyPool can run them on
// all cores before the requests execute in order (see verify.h). Only the hot signed
// messages are collected: register, heartbeat and resolve, JSON and binary.
#include "registry.h"
#include "verify.h"
#include "wire.h"

namespace rdv::registry {

namespace {

void add_job(std::vector<VerifyJob>& jobs, const PublicKey& key, std::string message, std::string_view sig_b64) {
  VerifyJob j;
  if (!decode_signature(sig_b64, &j.sig)) return;
  j.key = key;
  j.message = std::move(message);
  jobs.push_back(std::move(j));
}

void add_raw_job(std::vector<VerifyJob>& jobs, const PublicKey& key, std::string message, const uint8_t* sig) {
  VerifyJob j;
  std::copy(sig, sig + 64, j.sig.begin());
  j.key = key;
  j.message = std::move(message);
  jobs.push_back(std::move(j));
}

}  // namespace

void collect_json_checks(Registry& reg, const Message& msg, int64_t now_ns, std::vector<VerifyJob>& jobs) {
  std::string_view type = msg.str("type");
  std::string_view sig = msg.str("signature");
  if (sig.empty()) return;
  if (type == "register") {
    std::string_view pub = msg.str("public_key");
    PublicKey key;
    if (decode_public_key(pub, &key)) add_job(jobs, key, challenge_register(msg.str("listen_addr"), pub), sig);
  } else if (type == "heartbeat") {
    uint32_t id = msg.u32("node_id");
    Node n;
    if (!heartbeat_recently_verified(reg, id, now_ns) && reg.get_node(id, &n) && n.has_key)
      add_job(jobs, n.public_key, challenge_node("heartbeat", id), sig);
  } else if (type == "resolve") {
    uint32_t target = msg.u32("node_id"), requester = msg.u32("requester_id");
    Node n;
    if (reg.get_node(requester, &n) && n.has_key)
      add_job(jobs, n.public_key, challenge_pair("resolve", requester, target), sig);
  }
}

void collect_native_checks(Registry& reg, uint8_t type, const uint8_t* p, size_t len, int64_t now_ns,
                           std::vector<VerifyJob>& jobs) {
  Node n;
  if (type == wire::kHeartbeat && len >= 68) {
    uint32_t id = wire::load_be32(p);
    if (!heartbeat_recently_verified(reg, id, now_ns) && reg.get_node(id, &n) && n.has_key)
      add_raw_job(jobs, n.public_key, challenge_node("heartbeat", id), p + 4);
  } else if (type == wire::kResolve && len >= 72) {
    uint32_t target = wire::load_be32(p), requester = wire::load_be32(p + 4);
    if (reg.get_node(requester, &n) && n.has_key)
      add_raw_job(jobs, n.public_key, challenge_pair("resolve", requester, target), p + 8);
  }
}

}  // namespace rdv::registry
