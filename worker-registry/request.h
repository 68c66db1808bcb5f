// What every handler works with: the request, the caller's authority as the dispatcher decided
// it, a view of the store, the one write path, and the in-memory effects it asks for.
//
// Threading: a Request lives for one handler call. Reads run on the event-loop thread against
// the last committed snapshot; writes run on the writer thread inside the batch transaction
// (writer.h). Neither kind touches the in-memory state (liveness, verify cache, counters)
// directly: handlers append Effects, which the event loop applies once the request is final —
// at once for a read, after the commit for a write. So memory never runs ahead of the disk.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "audit.h"
#include "crypto.h"
#include "json.h"
#include "message.h"
#include "metrics.h"
#include "model.h"
#include "outbound_call.h"
#include "store.h"
#include "verify.h"

namespace rdv::registry {

struct MessageDesc;

// What a JSON handler returns: a success object, a pre-encoded success body, or an error text
// (before the sanitiser).
struct Outcome {
  JsonPtr json;
  std::string raw;
  std::string error;
  bool failed = false;
  bool continues = false;  // a read that goes on in a later pass (Request::resume)
  // An error answer whose writes are committed all the same (the accept queue records a held
  // registration and answers that it is pending).
  bool keep_writes = false;

  static Outcome ok(json_t* j) {
    Outcome o;
    o.json.reset(j);
    return o;
  }
  static Outcome ok_raw(std::string body) {
    Outcome o;
    o.raw = std::move(body);
    return o;
  }
  static Outcome more() {
    Outcome o;
    o.continues = true;
    return o;
  }
  static Outcome fail(std::string text) {
    Outcome o;
    o.error = std::move(text);
    o.failed = true;
    return o;
  }
  static Outcome fail_keeping_writes(std::string text) {
    Outcome o = fail(std::move(text));
    o.keep_writes = true;
    return o;
  }
};

// The TCP peer of the connection a request came in on.
struct Peer {
  std::string ip;  // IPv4-mapped IPv6 reduced to IPv4
  uint16_t port = 0;
  std::string local_ip;  // our address on this connection (the one the daemon dialled)
};

// An in-memory change a handler asks for; applied by Registry::apply() on the loop thread.
struct Effect {
  enum Kind : uint8_t {
    Touch,                // last_seen = value (a heartbeat); marked for the liveness flush
    SetLastSeen,          // last_seen = value, already on disk (register wrote it)
    Forget,               // a new start (register, a new key): liveness and verify cache cleared
    Removed,              // deregistered: as Forget, and no longer online (a return is announced)
    Verified,             // a heartbeat signature verified at `value`
    CountRegistration,    // counters, bumped only once the request is final
    CountDeregistration,
    CountReaped,          // `value` nodes reaped
    SubscribeBus,         // the connection becomes a local-bus subscriber (control.cc)
    ReplicaApplied,       // standby: the replicator applied records up to `value` (control.cc)
    ReplAcked,            // leader: a standby acknowledged `value`; `id` standbys stream
    SubscribeEvents,      // the connection becomes node `id`'s event stream, resuming after `value` (-1: live only; events.cc)
  };
  Kind kind;
  uint32_t id = 0;
  int64_t value = 0;
};

// Store reads through one transaction (the loop's snapshot, or a write request's own nested
// transaction). A store error other than "not found" is remembered: a write request that hit
// one is not committed, and MDB_MAP_FULL makes the writer grow the map and replay its batch.
class View {
 public:
  explicit View(const Txn& txn) : txn_(txn) {}
  const Txn& txn() const { return txn_; }
  int error() const { return error_; }
  void note(int rc) {
    if (rc && rc != MDB_NOTFOUND && !error_) error_ = rc;
  }

  bool get_node(uint32_t id, Node* out);
  uint32_t node_for_key(const PublicKey& key);
  uint32_t node_for_hostname(std::string_view hostname);
  uint32_t node_for_owner(std::string_view owner);
  bool trust_pair(uint32_t a, uint32_t b);
  uint64_t node_count();
  // Networks (§5.3). Network 0 is the backbone (its members are every live node, not stored).
  bool get_network(uint16_t id, Network* out);
  uint16_t network_for_name(std::string_view name);  // 0 when no network has the name
  // A non-backbone membership; false when `node` is not a member of `net`.
  bool get_member(uint16_t net, uint32_t node, Member* out = nullptr);
  // A settings value (store.h settings): JSON text, "" when unset.
  std::string setting(std::string_view name);
  // Last-seen time as last flushed to the liveness database (0 when none).
  int64_t stored_last_seen_ns(uint32_t id);

 private:
  const Txn& txn_;
  int error_ = 0;
};

// The caller as the dispatcher decided it, once per request. `local_operator` is set for
// requests from the registry's Unix socket (the admin worker, rendezvousctl): the socket is
// 0600 in the run dir, so only the service's own user reaches it, and it may do what the
// admin token may do.
struct Caller {
  bool local_operator = false;
  bool admin_checked = false;
  std::string admin_error;  // "" once admin_checked: the admin token is valid
};

// Hands a signature check to the pass's pre-verified results (verify.h) or verifies inline.
// Counts every check in the metrics page.
struct SignatureChecker {
  const std::vector<VerifyJob>* ahead = nullptr;
  metrics::RegistryPage* page = nullptr;
  bool verify(const PublicKey& key, std::string_view message, const uint8_t* sig) const;
};

// The in-memory figures a read may consult (loop thread only; see registry.h).
class Registry;

struct Request {
  const MessageDesc& desc;
  const Message& msg;          // JSON requests (empty for native binary ones)
  std::string_view payload;    // native binary payload
  const Peer& peer;
  int64_t now_ns;
  const Config& cfg;
  uint64_t epoch;
  View& view;
  Txn* write_txn;              // the request's own transaction; null for reads
  Registry* state;             // loop-thread state; null on the writer thread
  Caller& caller;
  SignatureChecker sigs;
  metrics::RegistryPage* page;
  std::vector<Effect>& effects;
  // A long read done in turns: `resume` is empty on the first call; a handler that returns
  // Outcome::more() leaves where to go on in it and its reply so far in `partial`.
  std::string* resume;
  std::string* partial;
  // The result of the descriptor's outbound step (MessageDesc::fetch), when it decided to make
  // a call; null otherwise. Owned by the entry; valid for the handler call.
  const HttpResult* fetched = nullptr;

  void effect(Effect::Kind kind, uint32_t id = 0, int64_t value = 0) { effects.push_back({kind, id, value}); }

  // ---- authorisation (wire-protocol §4.3), decided by the dispatcher's rules ----
  // The descriptor's class for `signer`, the node named by the descriptor's signer field:
  // SIG, SIG|ADMIN or ADMIN. Returns "" when authorised, otherwise the error text.
  std::string authorise(const Node& signer);
  // SIG of §4.3 over an explicit `challenge`, whatever the descriptor's class: for the strict
  // switches, whose challenges depend on configuration (heartbeat:<id>:<ts>, lookup:<r>:<t>…).
  std::string signed_by(const Node& signer, std::string_view challenge);
  // ADMIN: the global admin token (or the local operator).
  const std::string& admin();
  // ROLE(roles…) of §4.3 for network `net`: a valid global admin token; or the network's own
  // non-empty admin token in `admin_token`; or the role of `node_id` (no signature: the
  // official client sends none). "" when authorised, otherwise the error text in Go's words
  // ("network <n>: network not found", "rbac: …"). *network receives the record when found.
  std::string role(uint16_t net, std::initializer_list<std::string_view> roles, Network* network = nullptr);
  // ENTERPRISE of §4.3: "" or "network <n>: network not found" / "enterprise feature: requires
  // enterprise network".
  std::string enterprise(uint16_t net, Network* network = nullptr);
  // Whether the request carries a valid global admin token (or comes from the local operator),
  // without making the admin error the answer: for messages where admin only widens access.
  bool has_admin() { return msg.has("admin_token") || caller.local_operator ? admin().empty() : false; }
  // A raw signature (binary mode).
  bool verify(const PublicKey& key, std::string_view message, const uint8_t* sig) const {
    return sigs.verify(key, message, sig);
  }

  // Last-seen time in unix ns: the loop's live figure, or the flushed one on the writer.
  int64_t last_seen_ns(uint32_t id);
};

// The one write path. Every state change of a write request goes through a Write: the state
// change and its change-log record land in the request's transaction together, the record is
// stamped with the epoch and the descriptor's change type, and store errors are noted on the
// view. A request that fails after writing has its transaction aborted by the dispatcher, so
// a refused request leaves nothing behind.
class Write {
 public:
  explicit Write(Request& r);
  ~Write();  // appends the change record
  Write(const Write&) = delete;
  Write& operator=(const Write&) = delete;

  void put(Db db, std::string_view key, std::string_view value) { r_.view.note(m_.put(db, key, value)); }
  void del(Db db, std::string_view key) { r_.view.note(m_.del(db, key)); }
  void put_node(const Node& n);
  // Liveness rides its own lossy channel (docs/architecture.md): written, never logged.
  void set_liveness(uint32_t id, int64_t ns);
  // Allocates the next node id (0 when the space is exhausted).
  uint32_t allocate_node_id();
  // Allocates the next network id (0 when the u16 space is exhausted).
  uint16_t allocate_network_id();
  void put_network(const Network& n);
  void put_member(uint16_t net, uint32_t node, const Member& m);
  void put_setting(std::string_view name, std::string_view json_text);  // "" deletes
  // Appends one audit entry (ops-spec §7.1) in this request's transaction, chained to the last
  // one, and trims the log to -audit-keep entries. `attrs` become the redacted details.
  // Explicit non-zero ids win over node_id / network_id attributes (§7.1).
  void audit(std::string_view action, uint16_t network_id, uint32_t node_id, const AuditAttrs& attrs = {});
  // A local-bus consumer's acknowledged sequence (store.h consumers): this server's own
  // bookkeeping, so written but never logged. Returns the stored (never lower) value.
  uint64_t ack_consumer(std::string_view name, uint64_t seq);
  void forget_consumer(std::string_view name);

 private:
  Request& r_;
  Mutation m_;
};

// Appends `e` (details already built) to the audit log through `m`, chained to the newest
// entry, and drops the entry that falls out of the newest `keep`. Write::audit and the
// writer's reaper use it. Returns 0 or an LMDB error.
int append_audit(Mutation& m, const Txn& txn, AuditEntry& e, uint64_t keep);

std::string node_not_found(uint32_t id);  // "node <id>: node not found"
json_t* json_string_list(const std::vector<std::string>& v);
// "invalid signature encoding: …" detail for undecodable base64, in Go's words.
std::string base64_error_detail(std::string_view text);

}  // namespace rdv::registry
