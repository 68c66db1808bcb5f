#include "writer.h"

#include <sys/eventfd.h>

#include "dispatch.h"
#include "log.h"

namespace rdv::registry {

namespace {
constexpr int kMaxReplays = 16;
constexpr size_t kTrimBatch = 50000;

// Removes the stale nodes among `ids` (one Reap change record). Removed from the backbone;
// kept in other networks' member lists, key and owner indices kept (§6.2.3) so the same key
// gets its id back. The loop chose them from its liveness table; a heartbeat that raced the
// choice finds the node gone and the daemon registers again, as after any reap.
//
// One audit entry per pass (node.reaped with the count and the first ids), not one per node:
// a pass may reap thousands, which would flush the whole audit log out.
int reap(Txn& txn, const Config& cfg, uint64_t epoch, const std::vector<uint32_t>& ids, std::vector<uint32_t>* reaped) {
  Mutation m(txn, ChangeType::Reap);
  size_t before = reaped->size();
  for (uint32_t id : ids) {
    std::string_view v;
    int rc = txn.get(Db::Nodes, key_u32(id), &v);
    if (rc == MDB_NOTFOUND) continue;
    Node n;
    if (rc || !decode_node(v, &n)) return rc ? rc : MDB_CORRUPTED;
    std::string hostname = n.hostname;
    if ((rc = m.del(Db::Nodes, key_u32(id)))) return rc;
    if ((rc = m.del(Db::Liveness, key_u32(id)))) return rc;
    if (!hostname.empty()) {
      std::string_view holder;
      if (txn.get(Db::HostIndex, hostname, &holder) == 0 && read_u32(holder) == id &&
          (rc = m.del(Db::HostIndex, hostname)))
        return rc;
    }
    reaped->push_back(id);
  }
  if (size_t n = reaped->size() - before) {
    AuditEntry e;
    e.timestamp = unix_now();
    e.action = "node.reaped";
    if (n == 1) e.node_id = (*reaped)[before];
    std::string first;
    for (size_t i = before; i < reaped->size() && i < before + 20; i++) first += (first.empty() ? "" : " ") + std::to_string((*reaped)[i]);
    e.details = audit_details({{"count", std::to_string(n)}, {"nodes", first + (n > 20 ? " …" : "")}});
    if (int rc = append_audit(m, txn, e, uint64_t(std::max<int64_t>(1, cfg.audit_keep)))) return rc;
  }
  return m.finish(epoch);
}

}  // namespace

Writer::Writer(Env& env, metrics::RegistryPage* page) : env_(env), page_(page) {}

Writer::~Writer() { stop(); }

void Writer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Writer::start(std::string* error) {
  notify_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!notify_) {
    *error = sys_error("eventfd") + " for the writer thread";
    return false;
  }
  thread_ = std::thread([this] { thread_main(); });
  return true;
}

void Writer::submit(std::unique_ptr<Batch> batch) {
  RDV_ASSERT(!busy_);
  busy_ = true;
  {
    std::lock_guard lock(mu_);
    in_ = std::move(batch);
  }
  cv_.notify_one();
}

std::unique_ptr<Batch> Writer::take_finished() {
  uint64_t n;
  if (::read(notify_.get(), &n, sizeof n) < 0 && errno != EAGAIN)
    log_error("read(eventfd) failed", {{"error", sys_error("read")}});
  std::lock_guard lock(mu_);
  if (out_) busy_ = false;
  return std::move(out_);
}

void Writer::thread_main() {
  for (;;) {
    std::unique_ptr<Batch> b;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || in_; });
      if (!in_) return;  // stopping with nothing left to write
      b = std::move(in_);
    }
    run(*b);
    {
      std::lock_guard lock(mu_);
      out_ = std::move(b);
    }
    uint64_t one = 1;
    if (::write(notify_.get(), &one, sizeof one) < 0)
      log_error("write(eventfd) failed", {{"error", sys_error("write")}});
  }
}

int Writer::apply(Batch& b, Txn& txn) {
  RunContext ctx{*b.cfg, b.epoch, false, nullptr, page_, nullptr, &txn};
  for (Entry* e : b.entries) {
    run_entry(*e, ctx);
    if (ctx.store_error == MDB_MAP_FULL) return MDB_MAP_FULL;
  }
  if (b.flush_liveness)
    for (const LivenessRow& row : b.liveness) {
      std::string_view v;
      if (txn.get(Db::Nodes, key_u32(row.id), &v) != 0) continue;  // removed since
      if (int rc = txn.put(Db::Liveness, key_u32(row.id), key_u64(uint64_t(row.last_seen_ns)))) return rc;
    }
  if (!b.reap.empty())
    if (int rc = reap(txn, *b.cfg, b.epoch, b.reap, &b.reaped)) return rc;
  if (b.trim) {
    // Bounded by -changelog-keep, by what every registered consumer acknowledged, and by
    // -changelog-max-mb (store.h plan_changelog_trim). Not itself logged: it changes no state
    // a standby applies.
    TrimLimits limits{uint64_t(b.cfg->changelog_keep), uint64_t(b.cfg->changelog_max_mb) << 20};
    if (int rc = rdv::trim_changelog(txn, limits, kTrimBatch, &b.trimmed)) return rc;
  }
  if (!b.audit.empty()) {
    Mutation m(txn, ChangeType::Reap);  // liveness news: the reaper's kind of change
    for (AuditEntry e : b.audit)
      if (int rc = append_audit(m, txn, e, uint64_t(std::max<int64_t>(1, b.cfg->audit_keep)))) return rc;
    if (int rc = m.finish(b.epoch)) return rc;
  }
  for (SettingsWrite& w : b.settings) {
    std::string_view cur;
    int rc = txn.get(Db::Settings, w.guard, &cur);
    if (rc && rc != MDB_NOTFOUND) return rc;
    w.applied = false;
    if ((rc == MDB_NOTFOUND ? std::string_view() : cur) != w.expected) continue;  // replaced meanwhile
    Mutation m(txn, ChangeType::Settings);
    for (auto& [name, text] : w.puts)
      if (int prc = text.empty() ? m.del(Db::Settings, name) : m.put(Db::Settings, name, text)) return prc;
    if (int frc = m.finish(b.epoch)) return frc;
    w.applied = true;
  }
  {
    Cursor c(txn, Db::Audit);
    b.last_audit_seq = c.last() ? read_u64(c.key()) : 0;
  }
  MDB_stat st;
  if (mdb_stat(txn.get(), env_.dbi(Db::Nodes), &st) == 0) b.nodes_total = st.ms_entries;
  b.last_seq = meta_u64(txn, "last_seq");
  return 0;
}

void Writer::fail_writes(Batch& b, int rc) {
  std::string text = "registry cannot store the request: " + lmdb_error(rc);
  log_error("commit failed; its writes answered with errors",
            {{"error", lmdb_error(rc)}, {"requests", std::to_string(b.entries.size())}});
  for (Entry* e : b.entries) fail_entry(*e, text);
  b.reaped.clear();
  b.rc = rc;
}

void Writer::run(Batch& b) {
  const int64_t began = mono_now_ns();
  for (int attempt = 0;; attempt++) {
    b.reaped.clear();
    Txn txn;
    int rc = env_.begin_write(&txn);
    if (rc == MDB_PANIC) {
      // LMDB marks the environment unusable after a failed meta-page write; only reopening it
      // recovers. Exit so the supervisor restarts us: nothing unacknowledged is lost.
      log_error("LMDB environment in a fatal state; exiting for a restart", {{"error", lmdb_error(rc)}});
      ::_exit(kExitFailure);
    }
    if (rc) {
      log_error("mdb_txn_begin() failed", {{"error", lmdb_error(rc)}});
      return fail_writes(b, rc);
    }
    rc = apply(b, txn);
    if (rc == 0) rc = txn.commit();
    else txn.abort();
    if (rc == MDB_MAP_FULL && attempt < kMaxReplays) {
      // Grow and run the whole batch again from its requests. Env::grow waits for the loop's
      // snapshot to end (the loop holds one only within a pass).
      int grc = env_.grow();
      if (page_) {
        page_->map_resizes_total.fetch_add(1, std::memory_order_relaxed);
        page_->map_size_bytes.store(env_.map_size(), std::memory_order_relaxed);
      }
      log_info("LMDB map full; grown", {{"map_size", std::to_string(env_.map_size())}, {"error", grc ? lmdb_error(grc) : ""}});
      b.replays++;
      if (grc == 0) continue;
    }
    if (rc) {
      if (page_) page_->commit_failures_total.fetch_add(1, std::memory_order_relaxed);
      return fail_writes(b, rc);
    }
    if (page_) {
      page_->commits_total.fetch_add(1, std::memory_order_relaxed);
      page_->nodes_total.store(b.nodes_total, std::memory_order_relaxed);
      page_->changelog_last_seq.store(b.last_seq, std::memory_order_relaxed);
      const int64_t took = mono_now_ns() - began;
      metrics::observe(page_->commit_duration, metrics::kCommitBuckets, double(took) / 1e9, uint64_t(took));
      metrics::observe(page_->commit_batch_size, metrics::kBatchBuckets, double(b.entries.size()), b.entries.size());
    }
    b.rc = 0;
    return;
  }
}

}  // namespace rdv::registry
