#include "registry.h"

#include <cstdlib>

#include "log.h"
#include "util.h"

namespace rdv::registry {

namespace {
constexpr size_t kReapChunk = 10000;

// The backbone network record (networks are few; a JSON record keeps them easy to extend).
std::string backbone_record(int64_t now) {
  JsonPtr j(json_pack("{s:s,s:s,s:I}", "name", "backbone", "join_rule", "open", "created", json_int_t(now)));
  return json_dump_compact(j.get());
}
}  // namespace

Registry::Registry(Config cfg, Env& env, metrics::RegistryPage* page)
    : cfg_(std::move(cfg)), env_(env), page_(page) {}

bool Registry::load(std::string* error) {
  Txn& t = txn();
  if (int rc = pass_error_) {
    *error = "store " + env_.data_file() + ": cannot begin write transaction: " + lmdb_error(rc);
    return false;
  }
  std::string_view v;
  if (t.get(Db::Meta, "next_node", &v) == MDB_NOTFOUND) {
    // First start: counters, epoch and the backbone network, as one change record.
    Mutation m(t, ChangeType::Init);
    int64_t now = unix_now();
    int rc = set_meta_u64(m, "next_node", 1);
    if (!rc) rc = set_meta_u64(m, "next_net", 1);
    if (!rc) rc = set_meta_u64(m, "epoch", 1);
    if (!rc) rc = set_meta_u64(m, "created", uint64_t(now));
    if (!rc) rc = m.put(Db::Networks, key_u16(0), backbone_record(now));
    if (!rc) rc = m.finish(1);
    if (rc) {
      *error = "store " + env_.data_file() + ": cannot initialise: " + lmdb_error(rc);
      return false;
    }
    log_info("store initialised", {{"file", env_.data_file()}});
  }
  epoch_ = meta_u64(t, "epoch", 1);
  // One allocation for the liveness table (ids are dense); its contents load lazily.
  live_.resize(size_t(std::min<uint64_t>(meta_u64(t, "next_node", 1), 1ull << 32)) + 1);
  int rc = commit_pass();
  if (rc) {
    *error = "store " + env_.data_file() + ": commit failed: " + lmdb_error(rc);
    return false;
  }
  update_gauges(unix_now_ns());
  return true;
}

Txn& Registry::txn() {
  if (snapshot_) {
    if (!read_txn_.active()) {
      int rc = env_.begin_read(&read_txn_);
      if (rc) log_error("mdb_txn_begin(read) failed", {{"error", lmdb_error(rc)}});
    }
    return read_txn_;
  }
  if (!txn_.active()) {
    pass_error_ = 0;
    int rc = env_.begin_write(&txn_);
    if (rc == MDB_PANIC) {
      // LMDB marks the environment unusable after a failed meta-page write; only reopening it
      // recovers. Exit so the supervisor restarts us (nothing unacknowledged is lost: the
      // failed pass was answered with errors).
      log_error("LMDB environment in a fatal state; exiting for a restart", {{"error", lmdb_error(rc)}});
      std::exit(kExitFailure);
    }
    if (rc) {
      // Nothing can be served without a transaction; handlers see an inactive txn and the
      // pass is reported as failed.
      note_store_error(rc);
      log_error("mdb_txn_begin() failed", {{"error", lmdb_error(rc)}});
    }
  }
  return txn_;
}

int Registry::commit_pass() {
  if (!txn_.active()) return pass_error_;
  if (pass_error_) {
    txn_.abort();
    return pass_error_;
  }
  // nodes_total is O(1) to read here and keeps the gauge exact right after a write.
  MDB_stat st;
  uint64_t nodes = mdb_stat(txn_.get(), env_.dbi(Db::Nodes), &st) == 0 ? st.ms_entries : 0;
  int rc = txn_.commit();
  if (rc == 0 && page_) page_->nodes_total.store(nodes, std::memory_order_relaxed);
  if (rc == 0) {
    if (page_) page_->commits_total.fetch_add(1, std::memory_order_relaxed);
  } else if (page_) {
    page_->commit_failures_total.fetch_add(1, std::memory_order_relaxed);
  }
  return rc;
}

bool Registry::get_node(uint32_t id, Node* out) {
  if (id == 0) return false;
  std::string_view v;
  int rc = txn().get(Db::Nodes, key_u32(id), &v);
  if (rc == MDB_NOTFOUND) return false;
  if (rc) {
    note_store_error(rc);
    return false;
  }
  if (!decode_node(v, out)) {
    log_error("undecodable node record", {{"node_id", std::to_string(id)}});
    return false;
  }
  return true;
}

void Registry::put_node(Mutation& m, const Node& n) {
  note_store_error(m.put(Db::Nodes, key_u32(n.id), encode_node(n)));
}

namespace {
uint32_t index_lookup(Registry& reg, Db db, std::string_view key) {
  if (key.empty()) return 0;
  std::string_view v;
  int rc = reg.txn().get(db, key, &v);
  if (rc == MDB_NOTFOUND) return 0;
  reg.note_store_error(rc);
  return rc ? 0 : read_u32(v);
}
}  // namespace

uint32_t Registry::node_for_key(const PublicKey& key) {
  return index_lookup(*this, Db::KeyIndex,
                      std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}
uint32_t Registry::node_for_hostname(std::string_view h) { return index_lookup(*this, Db::HostIndex, h); }
uint32_t Registry::node_for_owner(std::string_view o) { return index_lookup(*this, Db::OwnerIndex, o); }

bool Registry::trust_pair(uint32_t a, uint32_t b) {
  if (a > b) std::swap(a, b);
  std::string_view v;
  return txn().get(Db::Trust, key_u32(a) + key_u32(b), &v) == 0;
}

bool Registry::share_network(const Node& a, const Node& b) {
  for (uint16_t x : a.networks)
    if (x != 0)
      for (uint16_t y : b.networks)
        if (x == y) return true;
  return false;
}

uint64_t Registry::node_count() {
  MDB_stat st;
  if (mdb_stat(txn().get(), env_.dbi(Db::Nodes), &st) != 0) return 0;
  return st.ms_entries;
}

void Registry::finish(Mutation& m) { note_store_error(m.finish(epoch_)); }

uint32_t Registry::allocate_node_id(Mutation& m) {
  uint64_t next = meta_u64(txn(), "next_node", 1);
  if (next == 0 || next > 0xFFFFFFFFull) return 0;
  note_store_error(set_meta_u64(m, "next_node", next + 1));
  return uint32_t(next);
}

Liveness& Registry::live(uint32_t id) {
  if (id >= live_.size()) live_.resize(std::max<size_t>(size_t(id) + 1, live_.size() * 2));
  return live_[id];
}

int64_t Registry::last_seen_ns(uint32_t id) {
  if (id == 0) return 0;
  Liveness& l = live(id);
  if (!l.loaded) {
    std::string_view v;
    if (txn().get(Db::Liveness, key_u32(id), &v) == 0) l.last_seen_ns = std::max(l.last_seen_ns, int64_t(read_u64(v)));
    l.loaded = true;
  }
  return l.last_seen_ns;
}

void Registry::touch(uint32_t id, int64_t now_ns) {
  Liveness& l = live(id);
  l.last_seen_ns = now_ns;
  l.loaded = true;
  if (!l.dirty) {
    l.dirty = true;
    dirty_.push_back(id);
  }
}

void Registry::set_last_seen(uint32_t id, int64_t ns) {
  Liveness& l = live(id);
  l.last_seen_ns = ns;
  l.loaded = true;
}

int64_t Registry::last_verified_ns(uint32_t id) { return id < live_.size() ? live_[id].last_verified_ns : 0; }
void Registry::set_verified(uint32_t id, int64_t now_ns) { live(id).last_verified_ns = now_ns; }

bool Registry::load_liveness_step(size_t max) {
  if (liveness_loaded_) return true;
  Txn t;  // its own snapshot: this runs between passes, outside the pass transaction
  if (env_.begin_read(&t) != 0) return false;
  Cursor c(t, Db::Liveness);
  size_t n = 0;
  bool ok = c.seek(key_u32(liveness_cursor_));
  for (; ok && n < max; ok = c.next(), n++) {
    uint32_t id = read_u32(c.key());
    Liveness& l = live(id);
    if (!l.loaded) {  // a heartbeat or register since the start is newer than the database
      l.last_seen_ns = int64_t(read_u64(c.value()));
      l.loaded = true;
    }
    liveness_cursor_ = id + 1;
  }
  if (!ok && !c.error()) {
    liveness_loaded_ = true;
    log_info("liveness loaded", {{"last_id", std::to_string(liveness_cursor_ ? liveness_cursor_ - 1 : 0)}});
  }
  return liveness_loaded_;
}

void Registry::forget(uint32_t id) {
  if (id < live_.size()) {
    live_[id].last_seen_ns = 0;
    live_[id].last_verified_ns = 0;
    live_[id].loaded = true;
  }
}

void Registry::liveness_committed() {
  for (uint32_t id : dirty_) live_[id].dirty = false;
  dirty_.clear();
}

void Registry::write_liveness() {
  if (dirty_.empty()) return;
  Txn& t = txn();
  if (!t.active()) return;
  Mutation m(t, ChangeType::Liveness);
  for (uint32_t id : dirty_) {
    const Liveness& l = live_[id];
    if (l.last_seen_ns == 0) continue;  // removed since
    std::string_view v;
    if (t.get(Db::Nodes, key_u32(id), &v) != 0) continue;
    note_store_error(m.put(Db::Liveness, key_u32(id), key_u64(uint64_t(l.last_seen_ns))));
  }
  finish(m);
}

size_t Registry::reap_stale(int64_t now_ns) {
  if (!liveness_loaded_) return 0;  // an unloaded last-seen time reads as "never"
  Txn& t = txn();
  if (!t.active()) return 0;
  int64_t cutoff = now_ns - cfg_.stale_threshold_ns;
  std::vector<Node> stale;
  {
    Cursor c(t, Db::Nodes);
    size_t scanned = 0;
    bool ok = c.seek(key_u32(reap_cursor_));
    if (!ok) ok = c.seek();  // wrap around
    for (; ok && scanned < kReapChunk; ok = c.next(), scanned++) {
      uint32_t id = read_u32(c.key());
      reap_cursor_ = id + 1;
      if (last_seen_ns(id) >= cutoff) continue;
      Node n;
      if (decode_node(c.value(), &n)) stale.push_back(std::move(n));
    }
    if (!ok) reap_cursor_ = 0;
  }
  if (stale.empty()) return 0;
  Mutation m(t, ChangeType::Reap);
  for (const Node& n : stale) {
    // Removed from the backbone; kept in other networks' member lists, key and owner
    // indices kept (§6.2.3) so the same key gets its id back.
    note_store_error(m.del(Db::Nodes, key_u32(n.id)));
    note_store_error(m.del(Db::Liveness, key_u32(n.id)));
    if (!n.hostname.empty() && node_for_hostname(n.hostname) == n.id)
      note_store_error(m.del(Db::HostIndex, n.hostname));
    forget(n.id);
    log_info("node reaped", {{"node_id", std::to_string(n.id)}});
  }
  finish(m);
  if (page_) page_->reaped_total.fetch_add(stale.size(), std::memory_order_relaxed);
  return stale.size();
}

void Registry::trim_changelog() {
  Txn& t = txn();
  if (!t.active()) return;
  // Two bounds: a record count (what a lagging standby can catch up from) and disk space
  // (liveness records of a large fleet are big).
  uint64_t last = meta_u64(t, "last_seq");
  uint64_t keep = uint64_t(cfg_.changelog_keep);
  uint64_t below = last > keep ? last - keep + 1 : 0;  // records with seq < below may go
  MDB_stat st;
  uint64_t bytes = 0, limit = uint64_t(cfg_.changelog_max_mb) << 20;
  if (mdb_stat(t.get(), env_.dbi(Db::ChangeLog), &st) == 0)
    bytes = uint64_t(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
  if (below == 0 && bytes <= limit) return;
  uint64_t excess = bytes > limit ? bytes - limit : 0;
  Cursor c(t, Db::ChangeLog);
  std::vector<std::string> doomed;
  for (bool ok = c.seek(); ok && doomed.size() < 50000; ok = c.next()) {
    uint64_t seq = read_u64(c.key());
    if (seq >= below && excess == 0) break;
    if (seq == last) break;  // never the newest: it carries the sequence forward
    excess -= std::min<uint64_t>(excess, c.value().size() + c.key().size());
    doomed.emplace_back(c.key());
  }
  for (auto& k : doomed) note_store_error(t.del(Db::ChangeLog, k));
}

void Registry::update_gauges(int64_t now_ns) {
  if (!page_) return;
  if (liveness_loaded_) {  // until then the page keeps the previous worker's figure
    int64_t cutoff = now_ns - cfg_.stale_threshold_ns;
    uint64_t online = 0;
    for (const Liveness& l : live_)
      if (l.last_seen_ns >= cutoff && l.last_seen_ns != 0) online++;
    page_->nodes_online.store(online, std::memory_order_relaxed);
  }
  Txn t;
  if (env_.begin_read(&t) == 0) {
    MDB_stat st;
    if (mdb_stat(t.get(), env_.dbi(Db::Nodes), &st) == 0)
      page_->nodes_total.store(st.ms_entries, std::memory_order_relaxed);
    page_->changelog_last_seq.store(meta_u64(t, "last_seq"), std::memory_order_relaxed);
  }
  page_->map_size_bytes.store(env_.map_size(), std::memory_order_relaxed);
  page_->epoch.store(epoch_, std::memory_order_relaxed);
  page_->is_standby.store(is_standby() ? 1 : 0, std::memory_order_relaxed);
  page_->heartbeat_unix.store(now_ns / 1000000000, std::memory_order_relaxed);
}

void Registry::remember_verified(const std::vector<VerifyJob>& jobs) {
  for (const VerifyJob& j : jobs) verified_[verify_cache_key(j.key, j.message, j.sig.data())] = j.ok;
}

int Registry::verified_ahead(const PublicKey& key, std::string_view msg, const uint8_t* sig) const {
  if (verified_.empty()) return -1;
  auto it = verified_.find(verify_cache_key(key, msg, sig));
  return it == verified_.end() ? -1 : (it->second ? 1 : 0);
}

std::string beacon_endpoint(const Config& cfg, const Peer& peer) {
  std::string host, port;
  if (!go_split_host_port(cfg.beacon_addr, &host, &port)) return cfg.beacon_addr;
  if (!(host.empty() || host == "0.0.0.0" || host == "::") || peer.local_ip.empty()) return cfg.beacon_addr;
  return go_join_host_port(peer.local_ip, port);
}

std::string node_not_found(uint32_t id) { return "node " + std::to_string(id) + ": node not found"; }

json_t* json_string_list(const std::vector<std::string>& v) {
  json_t* a = json_array();
  for (auto& s : v) json_array_append_new(a, json_stringn(s.data(), s.size()));
  return a;
}

}  // namespace rdv::registry
