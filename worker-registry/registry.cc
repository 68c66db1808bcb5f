#include "registry.h"

#include <algorithm>

#include "epoch.h"
#include "log.h"
#include "util.h"

namespace rdv::registry {

namespace {
constexpr int64_t kVerifyWindowNs = 120LL * 1000000000;  // §4.5
constexpr size_t kMinReapSlice = 65536;

// The backbone network record: open, no roles; its members are every live node (not stored).
std::string backbone_record(int64_t now) {
  Network n;
  n.name = "backbone";
  n.created = now;
  return encode_network(n);
}
}  // namespace

Registry::Registry(Config cfg, Env& env, metrics::RegistryPage* page) : env_(env), page_(page) { set_config(cfg); }

void Registry::set_config(const Config& cfg) {
  cfg_ = std::make_shared<const Config>(cfg);
  CidrList allowed;
  std::string err;
  // The supervisor validated the flag; a list that still does not parse allows nothing extra.
  if (!parse_cidr_list(cfg.allow_private_endpoints, &allowed, &err))
    log_error("-allow-private-endpoints does not parse; no private endpoint is allowed", {{"error", err}});
  outbound_allowed_ = std::move(allowed);
}

const jwt::Jwks* Registry::cached_jwks(std::string_view url, int64_t now_ns) const {
  // A request decoded before the fetch finished has an earlier now_ns: that is still fresh.
  if (jwks_.keys.keys.empty() || jwks_.url != url || now_ns - jwks_.fetched_ns >= kJwksTtlNs) return nullptr;
  return &jwks_.keys;
}

void Registry::cache_jwks(std::string url, jwt::Jwks keys, int64_t now_ns) {
  jwks_.url = std::move(url);
  jwks_.keys = std::move(keys);
  jwks_.fetched_ns = now_ns;
}

bool Registry::load(std::string* error) {
  // This runs before the writer thread starts, so a write transaction here is ours alone.
  Txn t;
  int rc = is_standby() ? env_.begin_read(&t) : env_.begin_write(&t);
  if (rc) {
    *error = "store " + env_.data_file() + ": cannot begin transaction: " + lmdb_error(rc);
    return false;
  }
  // The epoch lives in <data-dir>/epoch, outside the environment, so a full copy of a
  // leader's environment onto a standby cannot overwrite it (shared/epoch.h). Stores from
  // before kept it in meta "epoch"; the first start moves it to the file.
  // On a standby the replicator owns the file; the registry only reads it.
  bool created = false, exists = false;
  if (is_standby()) {
    if (!read_epoch_file(cfg_->data_dir, &epoch_, &exists, error)) return false;
    if (!exists) epoch_ = std::max<uint64_t>(1, meta_u64(t, "epoch", 1));
  } else if (!load_or_create_epoch_file(cfg_->data_dir, meta_u64(t, "epoch", 0), &epoch_, &created, error)) {
    return false;
  }
  if (created) log_info("epoch file created", {{"epoch", std::to_string(epoch_)}});
  std::string_view v;
  if (!is_standby() && t.get(Db::Meta, "next_node", &v) == MDB_NOTFOUND) {
    // First start of a leader: counters, epoch and the backbone network, as one change record.
    // A standby never writes: its store arrives from the leader through the replicator.
    Mutation m(t, ChangeType::Init);
    int64_t now = unix_now();
    rc = set_meta_u64(m, "next_node", 1);
    if (!rc) rc = set_meta_u64(m, "next_net", 1);
    if (!rc) rc = set_meta_u64(m, "created", uint64_t(now));
    if (!rc) rc = m.put(Db::Networks, key_u16(0), backbone_record(now));
    if (!rc) rc = m.finish(epoch_);
    if (rc) {
      *error = "store " + env_.data_file() + ": cannot initialise: " + lmdb_error(rc);
      return false;
    }
    log_info("store initialised", {{"file", env_.data_file()}});
  }
  server.last_seq = meta_u64(t, "last_seq");
  // The liveness table covers every id issued; its pages are allocated as ids are touched.
  live_.cover(size_t(std::min<uint64_t>(meta_u64(t, "next_node", 1), 1ull << 32)) + 1);
  rc = t.commit();
  if (rc) {
    *error = "store " + env_.data_file() + ": commit failed: " + lmdb_error(rc);
    return false;
  }
  update_gauges(unix_now_ns());
  return true;
}

bool Registry::reload_epoch(std::string* error) {
  uint64_t epoch = epoch_;
  bool exists = false;
  if (!read_epoch_file(cfg_->data_dir, &epoch, &exists, error)) return false;
  if (exists) epoch_ = epoch;
  if (page_) page_->epoch.store(epoch_, std::memory_order_relaxed);
  return true;
}

void Registry::reset_for_leadership() {
  live_.reset_keeping_verified();  // the verify cache is about keys, still valid
  dirty_.clear();
  reap_cursor_ = 0;
  liveness_cursor_ = 0;
  liveness_loaded_ = false;
  Txn t;
  if (int rc = env_.begin_read(&t); rc == 0) {
    server.last_seq = std::max(server.last_seq, meta_u64(t, "last_seq"));
    const uint64_t next = meta_u64(t, "next_node", 1);
    live_.cover(size_t(std::min<uint64_t>(next, 1ull << 32)) + 1);
  } else {
    log_error("mdb_txn_begin(read) failed after a promotion", {{"error", lmdb_error(rc)}});
  }
  if (page_) page_->is_standby.store(0, std::memory_order_relaxed);
}

Liveness& Registry::live(uint32_t id) { return live_.at(id); }

int64_t Registry::last_seen_ns(const Txn& txn, uint32_t id) {
  if (id == 0) return 0;
  if (is_standby()) {
    std::string_view v;
    return txn.get(Db::Liveness, key_u32(id), &v) == 0 && v.size() >= 8 ? int64_t(read_u64(v)) : 0;
  }
  Liveness& l = live(id);
  if (!l.loaded) {
    std::string_view v;
    if (txn.get(Db::Liveness, key_u32(id), &v) == 0) l.last_seen_ns = std::max(l.last_seen_ns, int64_t(read_u64(v)));
    l.loaded = true;
  }
  return l.last_seen_ns;
}

bool Registry::recently_verified(uint32_t id, int64_t now_ns) const {
  int64_t last = last_verified_ns(id);
  return last && now_ns - last < kVerifyWindowNs;
}

void Registry::apply(const Effect& e) {
  switch (e.kind) {
    case Effect::Touch: {
      if (is_standby()) break;  // the leader's times arrive through the replicator (last_seen_ns)
      Liveness& l = live(e.id);
      seen(l, e.id, e.value);
      l.last_seen_ns = e.value;
      l.loaded = true;
      if (!l.dirty) {
        l.dirty = true;
        dirty_.push_back(e.id);
      }
      break;
    }
    case Effect::SetLastSeen: {
      Liveness& l = live(e.id);
      seen(l, e.id, e.value);
      l.last_seen_ns = e.value;
      l.loaded = true;
      break;
    }
    case Effect::Forget:
    case Effect::Removed:
      // Grows the table for a new id too: its "never seen" must be known (node events).
      if (e.id != 0) {
        Liveness& l = live(e.id);
        l.last_seen_ns = 0;
        l.last_verified_ns = 0;
        l.loaded = true;
        // A deregistered node is not online any more: if its key registers again, that is
        // announced, as after a reap. (Its entry is then dead, so its page can be freed.)
        if (e.kind == Effect::Removed) l.online = false;
      }
      break;
    case Effect::Verified:
      live(e.id).last_verified_ns = e.value;
      break;
    case Effect::CountRegistration:
      if (page_) page_->registrations_total.fetch_add(1, std::memory_order_relaxed);
      break;
    case Effect::CountDeregistration:
      if (page_) page_->deregistrations_total.fetch_add(1, std::memory_order_relaxed);
      break;
    case Effect::CountReaped:
      if (page_) page_->reaped_total.fetch_add(uint64_t(e.value), std::memory_order_relaxed);
      break;
    case Effect::SubscribeBus:  // the connection layer's business
    case Effect::ReplicaApplied:
    case Effect::ReplAcked:
    case Effect::SubscribeEvents:
      break;
  }
}

// Online = it was not: a new node or one that came back after its reap (register forgets the
// old last-seen time first, so it reads 0), or, once known offline, any sign of life. A node
// whose state is unknown since the start (last-seen not loaded yet) is taken as online: a
// restart announces nothing.
void Registry::seen(Liveness& l, uint32_t id, int64_t ns) {
  if (is_standby()) return;
  bool was_online;
  if (l.online_known) was_online = l.online;
  else if (!l.loaded) was_online = true;
  else was_online = l.last_seen_ns != 0 && l.last_seen_ns >= ns - cfg_->stale_threshold_ns;
  l.online = l.online_known = true;
  if (!was_online) {
    node_events.online(id);
    if (on_online) on_online(id);
  }
}

void Registry::node_went_offline(uint32_t id) {
  if (is_standby()) return;
  Liveness& l = live(id);
  if (l.online_known && !l.online) return;  // said already
  l.online = false;
  l.online_known = true;
  node_events.offline(id);
}

bool Registry::load_liveness_step(size_t max) {
  if (liveness_loaded_) return true;
  Txn t;  // its own snapshot: this runs between passes
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

std::vector<LivenessRow> Registry::liveness_to_flush() const {
  std::vector<LivenessRow> rows;
  rows.reserve(dirty_.size());
  for (uint32_t id : dirty_)
    if (int64_t seen = live_.get(id).last_seen_ns) rows.push_back({id, seen});  // 0: removed since
  return rows;
}

// Only what the flush wrote is clean. Heartbeats go on while it is in flight: an id it wrote
// may have a newer time by now, and an id it did not hold may have been touched since; both
// stay dirty for the next flush (clearing the whole list lost such a heartbeat until the node's
// next one). An id with no time left (removed since) has nothing to write.
void Registry::liveness_flushed(const std::vector<LivenessRow>& written, bool committed) {
  if (!committed) return;  // still dirty: the next flush writes them again
  for (const LivenessRow& row : written) {
    Liveness& l = live_.at(row.id);
    if (l.last_seen_ns == row.last_seen_ns) l.dirty = false;
  }
  std::erase_if(dirty_, [&](uint32_t id) {
    Liveness& l = live_.at(id);
    if (l.last_seen_ns == 0) l.dirty = false;
    return !l.dirty;
  });
}

// Every id with a known last-seen time older than the cutoff. A slice of the table per call:
// with calls every `interval_ns`, the slice is sized so a full sweep takes at most half the
// stale threshold, and is at least 64 Ki ids (well under a millisecond of scanning). Pages not
// in memory hold no last-seen time and are passed over whole; a page the sweep leaves with
// only forgotten ids is freed, so registration churn does not grow the table.
std::vector<uint32_t> Registry::reap_candidates(int64_t now_ns, int64_t interval_ns) {
  std::vector<uint32_t> out;
  if (!liveness_loaded_ || live_.ids() <= 1) return out;  // unloaded times read as "never"
  int64_t cutoff = now_ns - cfg_->stale_threshold_ns;
  int64_t sweeps = std::max<int64_t>(1, (cfg_->stale_threshold_ns / 2) / std::max<int64_t>(interval_ns, 1));
  const size_t end = live_.ids();
  size_t ids = end - 1;  // index 0 is no node
  size_t slice = std::min(ids, std::max(kMinReapSlice, ids / size_t(sweeps) + 1));  // never one id twice
  for (size_t n = 0; n < slice;) {
    if (reap_cursor_ >= end || reap_cursor_ == 0) reap_cursor_ = 1;
    const size_t first = reap_cursor_;
    const size_t page_end = std::min(end, (first | (LivenessTable::kPageIds - 1)) + 1);
    const size_t stop = std::min(page_end, first + (slice - n));
    if (live_.page_allocated(uint32_t(first))) {
      for (size_t id = first; id < stop; id++) {
        const Liveness l = live_.get(uint32_t(id));
        if (l.last_seen_ns != 0 && l.last_seen_ns < cutoff) out.push_back(uint32_t(id));
      }
      if (stop == page_end) live_.release_if_dead(uint32_t(first), liveness_loaded_);
    }
    n += stop - first;
    reap_cursor_ = stop;
  }
  return out;
}

void Registry::update_gauges(int64_t now_ns) {
  if (!page_) return;
  if (is_standby()) {
    // The loop's table is not kept on a standby (last_seen_ns): count the replicated rows. A
    // sequential cursor over the mapped database, every 2 s: milliseconds for a million nodes.
    Txn t;
    if (env_.begin_read(&t) == 0) {
      const int64_t cutoff = now_ns - cfg_->stale_threshold_ns;
      uint64_t online = 0;
      Cursor c(t, Db::Liveness);
      for (bool ok = c.seek(); ok; ok = c.next()) {
        std::string_view v = c.value();
        const int64_t seen = v.size() >= 8 ? int64_t(read_u64(v)) : 0;
        if (seen != 0 && seen >= cutoff) online++;
      }
      page_->nodes_online.store(online, std::memory_order_relaxed);
    }
  } else if (liveness_loaded_) {  // until then the page keeps the previous worker's figure
    int64_t cutoff = now_ns - cfg_->stale_threshold_ns;
    uint64_t online = 0;
    live_.for_each([&](const Liveness& l) {
      if (l.last_seen_ns >= cutoff && l.last_seen_ns != 0) online++;
    });
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

std::string beacon_endpoint(const Config& cfg, const Peer& peer) {
  std::string host, port;
  if (!go_split_host_port(cfg.beacon_addr, &host, &port)) return cfg.beacon_addr;
  if (!(host.empty() || host == "0.0.0.0" || host == "::") || peer.local_ip.empty()) return cfg.beacon_addr;
  return go_join_host_port(peer.local_ip, port);
}

}  // namespace rdv::registry
