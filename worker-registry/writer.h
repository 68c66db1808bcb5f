// The writer thread: the only thread that writes the store.
//
// LMDB requires the thread that begins a write transaction to end it (the writer lock is a
// mutex in lock.mdb), and a commit waits for the disk. So one thread owns every write
// transaction and the event loop never waits for either: it hands the writer a Batch — the
// write requests that accumulated since the last one, plus timer work (liveness flush, reap,
// change-log trim) — and goes on serving reads from the last committed snapshot. The writer
// runs each request in its own nested transaction (dispatch.cc), commits the batch once
// (group commit: one fsync for all of them) and hands the batch back through an eventfd. Only
// then does the loop apply the requests' in-memory effects and release their replies, so
// nothing is acknowledged before it is on disk. While one batch commits the next accumulates.
//
// MDB_MAP_FULL: the map is grown and the whole batch replayed from its requests; nothing was
// acknowledged yet, so the replay is invisible to clients. Another commit failure (disk full,
// I/O error) fails only that batch's writes, with the error; reads never see it. A fatal LMDB
// state (MDB_PANIC) exits the process for the supervisor to restart it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "config.h"
#include "delivery.h"
#include "entry.h"
#include "metrics.h"
#include "registry.h"
#include "store.h"
#include "util.h"

namespace rdv::registry {

struct Batch {
  // Input, filled by the loop.
  std::vector<Entry*> entries;  // write requests, in arrival order (owned by their connections)
  std::shared_ptr<const Config> cfg;
  uint64_t epoch = 1;
  std::vector<LivenessRow> liveness;  // a liveness flush (unlogged)
  bool flush_liveness = false;
  std::vector<uint32_t> reap;         // ids the loop found stale
  bool trim = false;
  // The audit deliverer's cursors and counters (delivery.h): each written, in its own change
  // record, only if its guard record still reads as expected.
  std::vector<SettingsWrite> settings;
  // Audit entries the loop produced (node.online / node.offline, node_events.h).
  std::vector<AuditEntry> audit;

  // Output, filled by the writer.
  int rc = 0;                 // 0 when committed
  uint64_t last_seq = 0;      // the newest change-log sequence after the commit
  uint64_t last_audit_seq = 0;  // the newest audit-log sequence after the commit (0: none)
  uint64_t nodes_total = 0;
  std::vector<uint32_t> reaped;
  TrimResult trimmed;
  int replays = 0;
};

class Writer {
 public:
  Writer(Env& env, metrics::RegistryPage* page);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Starts the thread. False with *error when the notification eventfd cannot be made.
  bool start(std::string* error);
  // Readable when a batch came back (take_finished()).
  int notify_fd() const { return notify_.get(); }

  // Loop thread. One batch at a time: submit only when !busy().
  bool busy() const { return busy_; }
  void submit(std::unique_ptr<Batch> batch);
  std::unique_ptr<Batch> take_finished();
  // Lets the batch in hand finish, then joins the thread (before the batch's owners go).
  void stop();

 private:
  void thread_main();
  void run(Batch& b);
  // The batch's requests and timer work in `txn`. Returns a store error (MDB_MAP_FULL: replay).
  int apply(Batch& b, Txn& txn);
  void fail_writes(Batch& b, int rc);

  Env& env_;
  metrics::RegistryPage* page_;
  UniqueFd notify_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<Batch> in_, out_;
  bool stop_ = false;
  bool busy_ = false;  // loop thread only
};

}  // namespace rdv::registry
