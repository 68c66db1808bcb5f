// The request context: store reads, the authorisation classes of wire-protocol §4.3, and the
// one write path.
#include "request.h"

#include "message_table.h"
#include "registry.h"

#include <algorithm>
#include <cstdlib>

namespace rdv::registry {

// ---- View ----

bool View::get_node(uint32_t id, Node* out) {
  if (id == 0) return false;
  std::string_view v;
  int rc = txn_.get(Db::Nodes, key_u32(id), &v);
  if (rc) {
    note(rc);
    return false;
  }
  return decode_node(v, out);
}

namespace {
uint32_t index_lookup(View& view, Db db, std::string_view key) {
  if (key.empty()) return 0;
  std::string_view v;
  int rc = view.txn().get(db, key, &v);
  view.note(rc);
  return rc ? 0 : read_u32(v);
}
}  // namespace

uint32_t View::node_for_key(const PublicKey& key) {
  return index_lookup(*this, Db::KeyIndex, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}
uint32_t View::node_for_hostname(std::string_view h) { return index_lookup(*this, Db::HostIndex, h); }
uint32_t View::node_for_owner(std::string_view o) { return index_lookup(*this, Db::OwnerIndex, o); }

bool View::trust_pair(uint32_t a, uint32_t b) {
  if (a > b) std::swap(a, b);
  std::string_view v;
  int rc = txn_.get(Db::Trust, key_u32(a) + key_u32(b), &v);
  note(rc);
  return rc == 0;
}

uint64_t View::node_count() {
  MDB_stat st;
  if (int rc = mdb_stat(txn_.get(), txn_.env()->dbi(Db::Nodes), &st)) {
    note(rc);
    return 0;
  }
  return st.ms_entries;
}

bool View::get_network(uint16_t id, Network* out) {
  std::string_view v;
  int rc = txn_.get(Db::Networks, key_u16(id), &v);
  if (rc) {
    note(rc);
    return false;
  }
  if (!decode_network(v, out)) return false;
  out->id = id;
  return true;
}

uint16_t View::network_for_name(std::string_view name) {
  if (name.empty()) return 0;
  std::string_view v;
  int rc = txn_.get(Db::NetNames, name, &v);
  note(rc);
  return rc || v.size() != 2 ? 0 : uint16_t(uint8_t(v[0]) << 8 | uint8_t(v[1]));
}

bool View::get_member(uint16_t net, uint32_t node, Member* out) {
  if (net == 0) return false;
  std::string_view v;
  int rc = txn_.get(Db::Members, key_u16(net) + key_u32(node), &v);
  if (rc) {
    note(rc);
    return false;
  }
  Member m;
  if (!decode_member(v, &m)) return false;
  if (out) *out = std::move(m);
  return true;
}

std::string View::setting(std::string_view name) {
  std::string_view v;
  int rc = txn_.get(Db::Settings, name, &v);
  note(rc);
  return rc ? std::string() : std::string(v);
}

int64_t View::stored_last_seen_ns(uint32_t id) {
  std::string_view v;
  return txn_.get(Db::Liveness, key_u32(id), &v) == 0 ? int64_t(read_u64(v)) : 0;
}

// ---- signatures and authorisation ----

bool SignatureChecker::verify(const PublicKey& key, std::string_view message, const uint8_t* sig) const {
  int found = -1;
  if (ahead)
    for (const VerifyJob& j : *ahead)
      if (j.key == key && j.message == message && std::equal(j.sig.begin(), j.sig.end(), sig)) {
        found = j.ok ? 1 : 0;
        break;
      }
  // Not foreseen (the key changed since the check ahead, say): verify here.
  bool ok = found >= 0 ? found == 1 : ed25519_verify(key, message, sig);
  if (page) (ok ? page->signature_verify_ok : page->signature_verify_fail).fetch_add(1, std::memory_order_relaxed);
  return ok;
}

// Go's base64.StdEncoding.DecodeString error offset (encoding/base64 decodeQuantum, walked
// group by group): the daemons' client shows these texts, so they match byte for byte.
std::string base64_error_detail(std::string_view src) {
  auto in_alphabet = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  };
  auto newline = [](char c) { return c == '\r' || c == '\n'; };
  auto at = [](size_t off) { return "illegal base64 data at input byte " + std::to_string(off); };
  size_t si = 0;
  while (si < src.size()) {
    for (int j = 0; j < 4; j++) {
      if (si == src.size()) {
        if (j == 0) return at(0);  // whole groups only: the input was valid
        return at(si - size_t(j));
      }
      char c = src[si++];
      if (in_alphabet(c)) continue;
      if (newline(c)) {
        j--;
        continue;
      }
      if (c != '=') return at(si - 1);
      if (j < 2) return at(si - 1);  // incorrect padding
      if (j == 2) {                  // "==" expected, the first '=' consumed
        while (si < src.size() && newline(src[si])) si++;
        if (si == src.size()) return at(src.size());  // not enough padding
        if (src[si] != '=') return at(si - 1);
        si++;
      }
      while (si < src.size() && newline(src[si])) si++;
      if (si < src.size()) return at(si);  // trailing garbage
      return at(0);                        // well-formed after all
    }
  }
  return at(0);
}

const std::string& Request::admin() {
  if (!caller.admin_checked) {
    caller.admin_checked = true;
    if (caller.local_operator) caller.admin_error.clear();
    else if (cfg.admin_token.empty()) caller.admin_error = "network creation is disabled";
    else if (!token_equal(msg.str("admin_token"), cfg.admin_token)) caller.admin_error = "invalid admin token";
  }
  return caller.admin_error;
}

std::string Request::signed_by(const Node& signer, std::string_view challenge) {
  if (caller.local_operator) return "";
  if (!signer.has_key) {
    // Legacy key-less record: only the admin token can authorise.
    if (admin().empty()) return "";
    return "node has no public key: signature or admin token required";
  }
  std::string_view sig_b64 = msg.str("signature");
  std::string raw;
  if (sig_b64.empty()) return "signature required for authenticated node";
  if (!base64_decode(sig_b64, &raw)) return "invalid signature encoding: " + base64_error_detail(sig_b64);
  if (raw.size() != 64 || !sigs.verify(signer.public_key, challenge, reinterpret_cast<const uint8_t*>(raw.data())))
    return "signature verification failed";
  return "";
}

std::string Request::authorise(const Node& signer) {
  if (desc.auth == Auth::Admin) return admin();
  if (desc.auth == Auth::Open) return "";
  std::string err = signed_by(signer, desc.challenge(msg));
  if (err.empty()) return "";
  // SIG|ADMIN: a valid global admin token stands in; the signature's error otherwise.
  if (desc.auth == Auth::SigOrAdmin && msg.has("admin_token") && admin().empty()) return "";
  return err;
}

namespace {
std::string roles_list(std::initializer_list<std::string_view> roles) {
  std::string out = "[";
  for (auto r : roles) {
    if (out.size() > 1) out += ' ';
    out += r;
  }
  return out + "]";
}
}  // namespace

std::string Request::role(uint16_t net, std::initializer_list<std::string_view> roles, Network* network) {
  Network n;
  bool found = view.get_network(net, &n);
  if (network && found) *network = n;
  if (has_admin()) return found ? "" : "network " + std::to_string(net) + ": network not found";
  if (!found) return "network " + std::to_string(net) + ": network not found";
  std::string_view token = msg.str("admin_token");
  if (!n.admin_token.empty() && !token.empty() && token_equal(token, n.admin_token)) return "";
  uint32_t node = msg.u32("node_id");
  if (node == 0) return "rbac: node_id required for role-based authorization";
  Member m;
  if (!view.get_member(net, node, &m) || m.role.empty())
    return "rbac: node " + std::to_string(node) + " has no role in network " + std::to_string(net);
  for (auto r : roles)
    if (m.role == r) return "";
  return "rbac: node " + std::to_string(node) + " has role \"" + m.role + "\", requires one of " + roles_list(roles);
}

std::string Request::enterprise(uint16_t net, Network* network) {
  Network n;
  if (!view.get_network(net, &n)) return "network " + std::to_string(net) + ": network not found";
  if (network) *network = n;
  return n.enterprise ? "" : "enterprise feature: requires enterprise network";
}

int64_t Request::last_seen_ns(uint32_t id) {
  return state ? state->last_seen_ns(view.txn(), id) : view.stored_last_seen_ns(id);
}

// ---- the write path ----

Write::Write(Request& r) : r_(r), m_(*r.write_txn, r.desc.change) {
  RDV_ASSERT(r.desc.access == Access::Write && r.write_txn);
}

Write::~Write() { r_.view.note(m_.finish(r_.epoch)); }

void Write::put_node(const Node& n) { put(Db::Nodes, key_u32(n.id), encode_node(n)); }

void Write::set_liveness(uint32_t id, int64_t ns) {
  r_.view.note(r_.write_txn->put(Db::Liveness, key_u32(id), key_u64(uint64_t(ns))));
}

uint32_t Write::allocate_node_id() {
  uint64_t next = meta_u64(*r_.write_txn, "next_node", 1);
  if (next == 0 || next > 0xFFFFFFFFull) return 0;
  r_.view.note(set_meta_u64(m_, "next_node", next + 1));
  return uint32_t(next);
}

uint16_t Write::allocate_network_id() {
  uint64_t next = meta_u64(*r_.write_txn, "next_net", 1);
  if (next == 0 || next > 0xFFFFull) return 0;
  r_.view.note(set_meta_u64(m_, "next_net", next + 1));
  return uint16_t(next);
}

void Write::put_network(const Network& n) { put(Db::Networks, key_u16(n.id), encode_network(n)); }

void Write::put_member(uint16_t net, uint32_t node, const Member& m) {
  put(Db::Members, key_u16(net) + key_u32(node), encode_member(m));
}

void Write::put_setting(std::string_view name, std::string_view json_text) {
  if (json_text.empty()) del(Db::Settings, name);
  else put(Db::Settings, name, json_text);
}

void Write::audit(std::string_view action, uint16_t network_id, uint32_t node_id, const AuditAttrs& attrs) {
  AuditEntry e;
  e.timestamp = r_.now_ns / 1000000000;
  e.action = std::string(action);
  e.network_id = network_id;
  e.node_id = node_id;
  for (auto& [k, v] : attrs) {
    if (k == "node_id" && !e.node_id) e.node_id = uint32_t(std::strtoul(v.c_str(), nullptr, 10));
    if (k == "network_id" && !e.network_id) e.network_id = uint16_t(std::strtoul(v.c_str(), nullptr, 10));
  }
  e.details = audit_details(attrs);
  r_.view.note(append_audit(m_, *r_.write_txn, e, uint64_t(std::max<int64_t>(1, r_.cfg.audit_keep))));
}

int append_audit(Mutation& m, const Txn& txn, AuditEntry& e, uint64_t keep) {
  uint64_t seq = 1;
  {
    Cursor c(txn, Db::Audit);
    if (c.last()) {
      seq = read_u64(c.key()) + 1;
      AuditEntry prev;
      if (decode_audit(c.value(), &prev)) e.prev_hash = prev.hash;
    }
    if (c.error()) return c.error();
  }
  e.hash = audit_hash(e);
  if (int rc = m.put(Db::Audit, key_u64(seq), encode_audit(e))) return rc;
  // The log keeps the newest `keep` entries: one append drops at most one.
  return seq > keep ? m.del(Db::Audit, key_u64(seq - keep)) : 0;
}

uint64_t Write::ack_consumer(std::string_view name, uint64_t seq) {
  uint64_t stored = seq;
  r_.view.note(set_consumer_ack(*r_.write_txn, name, seq, &stored));
  return stored;
}

void Write::forget_consumer(std::string_view name) { r_.view.note(remove_consumer(*r_.write_txn, name)); }

std::string node_not_found(uint32_t id) { return "node " + std::to_string(id) + ": node not found"; }

json_t* json_string_list(const std::vector<std::string>& v) {
  json_t* a = json_array();
  for (auto& s : v) json_array_append_new(a, json_stringn(s.data(), s.size()));
  return a;
}

}  // namespace rdv::registry
