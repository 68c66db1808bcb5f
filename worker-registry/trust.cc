// Trust pairs and the handshake inboxes (wire-protocol §6.5), and their descriptors.
//
// State (shared/store.h):
//   trust       u32 min ‖ u32 max        → ""   a symmetric pair, stored once
//   handshakes  u32 target ‖ u32 from    → encode_handshake()  the target's request inbox:
//               at most 100 per target, one per sender while it waits there
//   pending     u32 target ‖ u32 from    → ""   requests an accepting respond_handshake may
//               consume: added with the request, kept across polls
//   responses   u32 requester ‖ u32 responder → encode_handshake_response()  the requester's
//               response inbox: one per responder, the latest wins (the Go server queued every
//               response; a second answer from the same peer supersedes the first here)
//
// None of this is touched by reap or deregister: pairs and inboxes outlive their nodes, and
// only revoke_trust removes a pair (§6.5).
#include <algorithm>

#include "crypto.h"
#include "message_table.h"

namespace rdv::registry {

namespace {

constexpr size_t kMaxJustificationBytes = 1024;
constexpr size_t kMaxHandshakeInbox = 100;
// A poll drains at most this many responses; more wait for the next poll. Responses need no
// pending request (a rejection can come from anyone), so one requester's response inbox is
// bounded only by the number of nodes, and one poll must stay one bounded write.
constexpr size_t kMaxResponsesPerPoll = 1000;

std::string pair_key(uint32_t a, uint32_t b) {
  if (a > b) std::swap(a, b);
  return key_u32(a) + key_u32(b);
}

json_t* type_only(const char* type) { return json_pack("{s:s}", "type", type); }

// A signature in the request's `signature` field by `node` over `challenge`, checked with the
// pool's result when it was verified ahead.
enum class SigCheck { Ok, Missing, BadEncoding, Failed };
SigCheck check_signature(Request& r, const Node& node, const std::string& challenge, std::string* detail) {
  std::string_view b64 = r.msg.str("signature");
  if (b64.empty()) return SigCheck::Missing;
  std::string raw;
  if (!base64_decode(b64, &raw)) {
    *detail = base64_error_detail(b64);
    return SigCheck::BadEncoding;
  }
  if (raw.size() != 64 || !r.verify(node.public_key, challenge, reinterpret_cast<const uint8_t*>(raw.data())))
    return SigCheck::Failed;
  return SigCheck::Ok;
}

// The handshake messages' own rule: the signature is required whenever the signer has a key,
// with their own texts, and the admin token never stands in (a key-less legacy node signs
// nothing, as in the Go server). The local operator acts with admin authority.
std::string handshake_signature(Request& r, const Node& signer, const std::string& challenge, const char* what) {
  if (r.caller.local_operator || !signer.has_key) return "";
  std::string detail;
  switch (check_signature(r, signer, challenge, &detail)) {
    case SigCheck::Ok: return "";
    case SigCheck::Missing: return std::string("handshake ") + what + " requires signature";
    case SigCheck::BadEncoding: return "invalid signature encoding: " + detail;
    case SigCheck::Failed: return std::string("handshake ") + what + " signature verification failed";
  }
  return "signature verification failed";
}

// The SIG class of §4.3 for a message whose descriptor is OPEN (check_trust is signed only
// under strict directory auth): Request::authorise() would wave it through.
std::string sig_class(Request& r, const Node& signer, const std::string& challenge) {
  if (r.caller.local_operator) return "";
  if (!signer.has_key)
    return r.admin().empty() ? "" : "node has no public key: signature or admin token required";
  std::string detail;
  switch (check_signature(r, signer, challenge, &detail)) {
    case SigCheck::Ok: return "";
    case SigCheck::Missing: return "signature required for authenticated node";
    case SigCheck::BadEncoding: return "invalid signature encoding: " + detail;
    case SigCheck::Failed: return "signature verification failed";
  }
  return "signature verification failed";
}

bool share_network(const Node& a, const Node& b) {
  for (uint16_t x : a.networks)
    if (x != 0 && std::find(b.networks.begin(), b.networks.end(), x) != b.networks.end()) return true;
  return false;
}

Signer node_signer(const Message& m) { return {m.u32("node_id"), {}}; }
Signer requester_signer(const Message& m) { return {m.u32("requester_id"), {}}; }
Signer from_signer(const Message& m) { return {m.u32("from_node_id"), {}}; }
std::string report_challenge(const Message& m) { return challenge_pair("report_trust", m.u32("node_id"), m.u32("peer_id")); }
std::string revoke_challenge(const Message& m) { return challenge_pair("revoke_trust", m.u32("node_id"), m.u32("peer_id")); }
std::string check_challenge(const Message& m) { return challenge_pair("check_trust", m.u32("node_id"), m.u32("peer_id")); }
std::string handshake_challenge(const Message& m) {
  return challenge_pair("handshake", m.u32("from_node_id"), m.u32("to_node_id"));
}
std::string poll_challenge(const Message& m) { return challenge_node("poll_handshakes", m.u32("node_id")); }
std::string respond_challenge(const Message& m) { return challenge_pair("respond", m.u32("node_id"), m.u32("peer_id")); }

}  // namespace

// Unilateral (§6.5): the peer is not asked. Reporting an existing pair changes nothing and is
// not audited again (daemons report every trusted peer after each re-registration).
Outcome handle_report_trust(Request& r) {
  uint32_t a = r.msg.u32("node_id"), b = r.msg.u32("peer_id");
  Node na, nb;
  if (!r.view.get_node(a, &na)) return Outcome::fail(node_not_found(a));
  if (!r.view.get_node(b, &nb)) return Outcome::fail(node_not_found(b));
  std::string err = r.authorise(na);
  if (!err.empty()) return Outcome::fail(err);
  if (!r.view.trust_pair(a, b)) {
    Write w(r);
    w.put(Db::Trust, pair_key(a, b), "");
    w.audit("trust.created", 0, a, {{"node_a", std::to_string(a)}, {"node_b", std::to_string(b)}});
  }
  return Outcome::ok(type_only("report_trust_ok"));
}

// Only node_id must exist: a node may drop its pair with a peer that is gone.
Outcome handle_revoke_trust(Request& r) {
  uint32_t a = r.msg.u32("node_id"), b = r.msg.u32("peer_id");
  Node na;
  if (!r.view.get_node(a, &na)) return Outcome::fail(node_not_found(a));
  std::string err = r.authorise(na);
  if (!err.empty()) return Outcome::fail(err);
  if (!r.view.trust_pair(a, b))
    return Outcome::fail("no trust pair between " + std::to_string(a) + " and " + std::to_string(b));
  Write w(r);
  w.del(Db::Trust, pair_key(a, b));
  w.audit("trust.revoked", 0, a, {{"node_a", std::to_string(a)}, {"node_b", std::to_string(b)}});
  return Outcome::ok(type_only("revoke_trust_ok"));
}

// Called on every inbound packet from a peer a private daemon does not know yet
// (client-expectations §4.12): two or three point reads, no scan.
Outcome handle_check_trust(Request& r) {
  uint32_t a = r.msg.u32("node_id"), b = r.msg.u32("peer_id");
  if (r.cfg.strict_directory_auth) {
    uint32_t requester = r.msg.u32("requester_id");
    if (requester != a && requester != b) return Outcome::fail("check_trust denied: requester must be participant");
    Node req;
    if (!r.view.get_node(requester, &req)) return Outcome::fail(node_not_found(requester));
    std::string err = sig_class(r, req, challenge_pair("check_trust", a, b));
    if (!err.empty()) return Outcome::fail(err);
  }
  bool trusted = r.view.trust_pair(a, b);
  if (!trusted) {
    Node na, nb;
    trusted = r.view.get_node(a, &na) && r.view.get_node(b, &nb) && share_network(na, nb);
  }
  return Outcome::ok(json_pack("{s:s,s:b}", "type", "check_trust_ok", "trusted", int(trusted)));
}

Outcome handle_request_handshake(Request& r) {
  uint32_t from = r.msg.u32("from_node_id"), to = r.msg.u32("to_node_id");
  std::string justification(r.msg.str("justification"));
  if (justification.size() > kMaxJustificationBytes)
    return Outcome::fail("justification too large: " + std::to_string(justification.size()) + " bytes (max " +
                         std::to_string(kMaxJustificationBytes) + ")");
  Node sender, target;
  if (!r.view.get_node(from, &sender)) return Outcome::fail(node_not_found(from));
  if (!r.view.get_node(to, &target)) return Outcome::fail(node_not_found(to));
  std::string err = handshake_signature(r, sender, challenge_pair("handshake", from, to), "request");
  if (!err.empty()) return Outcome::fail(err);

  std::string key = key_u32(to) + key_u32(from);
  std::string_view existing;
  int rc = r.view.txn().get(Db::Handshakes, key, &existing);
  r.view.note(rc);
  if (rc == 0) return Outcome::fail("handshake request already pending from node " + std::to_string(from));
  size_t waiting = 0;
  {
    const std::string prefix = key_u32(to);
    Cursor c(r.view.txn(), Db::Handshakes);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 4) == prefix && waiting < kMaxHandshakeInbox; ok = c.next())
      waiting++;
    r.view.note(c.error());
  }
  if (waiting >= kMaxHandshakeInbox) return Outcome::fail("handshake inbox full for node " + std::to_string(to));

  Write w(r);
  w.put(Db::Handshakes, key, encode_handshake({r.now_ns, justification}));
  w.put(Db::Pending, key, "");
  w.audit("handshake.requested", 0, from, {{"from_node_id", std::to_string(from)}, {"to_node_id", std::to_string(to)}});
  return Outcome::ok(json_pack("{s:s,s:s}", "type", "request_handshake_ok", "status", "delivered"));
}

namespace {

struct WaitingRequest {
  uint32_t from;
  Handshake h;
};
struct WaitingResponse {
  uint32_t from;
  HandshakeResponse resp;
};

}  // namespace

// Returns and drains both inboxes, oldest first; the pending set is left alone, so the node
// can still accept a request it has polled. On a standby (write_txn null) the same listing is
// served without draining: the leader's copy is the one that drains.
Outcome handle_poll_handshakes(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  std::string err = r.authorise(node);
  if (!err.empty()) return Outcome::fail(err);

  const std::string prefix = key_u32(id);
  std::vector<WaitingRequest> requests;
  std::vector<WaitingResponse> responses;
  {
    Cursor c(r.view.txn(), Db::Handshakes);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 4) == prefix; ok = c.next()) {
      WaitingRequest w{read_u32(c.key().substr(4)), {}};
      if (decode_handshake(c.value(), &w.h)) requests.push_back(std::move(w));
    }
    r.view.note(c.error());
  }
  {
    Cursor c(r.view.txn(), Db::Responses);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 4) == prefix && responses.size() < kMaxResponsesPerPoll;
         ok = c.next()) {
      WaitingResponse w{read_u32(c.key().substr(4)), {}};
      if (decode_handshake_response(c.value(), &w.resp)) responses.push_back(w);
    }
    r.view.note(c.error());
  }
  std::stable_sort(requests.begin(), requests.end(),
                   [](const WaitingRequest& x, const WaitingRequest& y) { return x.h.timestamp_ns < y.h.timestamp_ns; });
  std::stable_sort(responses.begin(), responses.end(), [](const WaitingResponse& x, const WaitingResponse& y) {
    return x.resp.timestamp_ns < y.resp.timestamp_ns;
  });

  std::string body;
  JsonWriter jw(body);
  jw.begin_object().str("type", "poll_handshakes_ok").begin_array("requests");
  for (const WaitingRequest& q : requests)
    jw.begin_object()
        .num("from_node_id", q.from)
        .str("justification", q.h.justification)
        .num("timestamp", q.h.timestamp_ns / 1000000000)
        .end_object();
  jw.end_array().begin_array("responses");
  for (const WaitingResponse& p : responses)
    jw.begin_object()
        .num("from_node_id", p.from)
        .boolean("accept", p.resp.accept)
        .num("timestamp", p.resp.timestamp_ns / 1000000000)
        .end_object();
  jw.end_array().end_object();

  if (r.write_txn && (!requests.empty() || !responses.empty())) {
    Write w(r);
    for (const WaitingRequest& q : requests) w.del(Db::Handshakes, prefix + key_u32(q.from));
    for (const WaitingResponse& p : responses) w.del(Db::Responses, prefix + key_u32(p.from));
  }
  return Outcome::ok_raw(std::move(body));
}

// accept=true consumes the pending request from `peer` and creates the pair; accept=false
// needs no pending request and consumes nothing. Either way the answer is queued for `peer`.
Outcome handle_respond_handshake(Request& r) {
  uint32_t node_id = r.msg.u32("node_id"), peer = r.msg.u32("peer_id");
  bool accept = r.msg.boolean("accept");
  Node responder, requester;
  if (!r.view.get_node(node_id, &responder)) return Outcome::fail(node_not_found(node_id));
  if (!r.view.get_node(peer, &requester)) return Outcome::fail(node_not_found(peer));
  std::string err = handshake_signature(r, responder, challenge_pair("respond", node_id, peer), "response");
  if (!err.empty()) return Outcome::fail(err);

  std::string pending_key = key_u32(node_id) + key_u32(peer);
  if (accept) {
    std::string_view v;
    int rc = r.view.txn().get(Db::Pending, pending_key, &v);
    r.view.note(rc);
    if (rc != 0) return Outcome::fail("no pending handshake request from node " + std::to_string(peer));
  }
  Write w(r);
  if (accept) {
    w.del(Db::Pending, pending_key);
    bool created = !r.view.trust_pair(node_id, peer);
    if (created) {
      // Every new pair has its trust.created entry, however it came about.
      w.put(Db::Trust, pair_key(node_id, peer), "");
      w.audit("trust.created", 0, node_id,
              {{"node_a", std::to_string(node_id)}, {"node_b", std::to_string(peer)}, {"via", "handshake"}});
    }
    w.audit("handshake.accepted", 0, node_id,
            {{"peer_id", std::to_string(peer)}, {"trust_created", created ? "true" : "false"}});
  } else {
    w.audit("handshake.rejected", 0, node_id, {{"peer_id", std::to_string(peer)}});
  }
  w.put(Db::Responses, key_u32(peer) + key_u32(node_id), encode_handshake_response({accept, r.now_ns}));
  return Outcome::ok(json_pack("{s:s,s:b,s:I}", "type", "respond_handshake_ok", "accept", int(accept), "peer_id",
                               json_int_t(peer)));
}

namespace {
const MessageDesc kMessages[] = {
    {.type = "report_trust", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_report_trust, .signer = node_signer, .challenge = report_challenge,
     .change = ChangeType::Trust},
    {.type = "revoke_trust", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_revoke_trust, .signer = node_signer, .challenge = revoke_challenge,
     .change = ChangeType::Trust},
    // OPEN; signed by the requester only under strict directory auth (the pool verifies ahead
    // whenever a signature is present, which costs nothing when it is not).
    {.type = "check_trust", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_check_trust, .signer = requester_signer, .challenge = check_challenge},
    {.type = "request_handshake", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_request_handshake, .signer = from_signer, .challenge = handshake_challenge,
     .change = ChangeType::Handshake},
    {.type = "poll_handshakes", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_poll_handshakes, .signer = node_signer, .challenge = poll_challenge,
     .change = ChangeType::Handshake, .standby_read = true},
    {.type = "respond_handshake", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_respond_handshake, .signer = node_signer, .challenge = respond_challenge,
     .change = ChangeType::Handshake},
};
}  // namespace

std::span<const MessageDesc> trust_messages() { return kMessages; }

}  // namespace rdv::registry
