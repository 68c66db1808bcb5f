// The request context: store reads, the authorisation classes of wire-protocol §4.3, and the
// one write path.
#include "request.h"

#include "message_table.h"
#include "registry.h"

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

std::string Request::authorise(const Node& signer) {
  if (desc.auth == Auth::Admin) return admin();
  if (desc.auth == Auth::Open) return "";
  if (caller.local_operator) return "";
  std::string err;
  if (!signer.has_key) {
    // Legacy key-less record: only the admin token can authorise.
    if (admin().empty()) return "";
    err = "node has no public key: signature or admin token required";
  } else {
    std::string_view sig_b64 = msg.str("signature");
    std::string raw;
    if (sig_b64.empty()) err = "signature required for authenticated node";
    else if (!base64_decode(sig_b64, &raw)) err = "invalid signature encoding: " + base64_error_detail(sig_b64);
    else if (raw.size() != 64 || !sigs.verify(signer.public_key, desc.challenge(msg), reinterpret_cast<const uint8_t*>(raw.data())))
      err = "signature verification failed";
    else return "";
  }
  // SIG|ADMIN: a valid global admin token stands in; the signature's error otherwise.
  if (desc.auth == Auth::SigOrAdmin && msg.has("admin_token") && admin().empty()) return "";
  return err;
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
