// Honest equivalents of the Go runtime's figures (ops-spec §5.3 rows 11–12, 20–21; issue 7):
// per-process figures of every worker from /proc, and the LMDB environment's figures. Used by
// /api/runtime, /debug/*, /api/health, the dashboard and /metrics, so each is read one way.
//
// Thread rules: every function may run on any thread; nothing here keeps state.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shared/json.h"
#include "shared/store.h"

namespace rdv::admin {

// One process as /proc shows it. `alive` is false (and the figures 0) when the pid is gone.
struct ProcFigures {
  bool alive = false;
  uint64_t rss_bytes = 0;
  double cpu_seconds = 0;      // user + system
  int64_t threads = 0;
  int64_t open_fds = -1;       // -1 when /proc/<pid>/fd is not readable
  int64_t start_unix = 0;      // from the process's start time in /proc/<pid>/stat
};
ProcFigures read_proc(pid_t pid);

// A worker as the supervisor reports it in <run-dir>/workers.json, plus its /proc figures.
struct WorkerFigures {
  std::string name;     // "registry", "admin", "replicator", or "supervisor"
  pid_t pid = 0;        // 0 while it has no process
  std::string state;    // the supervisor's lifecycle state ("ready", "backoff", …)
  uint64_t starts = 0;
  uint64_t restarts = 0;
  int64_t started_unix = 0;
  std::string last_exit;  // "exit 1", "signal 9 (Killed)", or ""
  ProcFigures proc;
};

// The supervisor first, then each worker. False with *error when workers.json cannot be read
// (the supervisor not started yet, or a damaged file).
bool read_workers(const std::string& run_dir, std::vector<WorkerFigures>* out, std::string* error);

// {"name","pid","state","starts","restarts","started_unix","uptime_seconds","rss_bytes",
//  "cpu_seconds","threads","open_fds","last_exit"?}
JsonPtr worker_json(const WorkerFigures& w, int64_t now_unix);

// The LMDB environment: map size and use, readers, last transaction id.
struct StoreFigures {
  uint64_t map_size_bytes = 0;
  uint64_t used_bytes = 0;      // (last used page + 1) × page size
  uint64_t page_size = 0;
  uint64_t last_txn_id = 0;
  uint64_t max_readers = 0;
  uint64_t readers_used = 0;    // reader-table slots used so far (LMDB reports the high-water mark)
  uint64_t file_bytes = 0;      // size of data.mdb on disk
};
bool read_store_figures(Env& env, StoreFigures* out, std::string* error);
JsonPtr store_json(const StoreFigures& s);

}  // namespace rdv::admin
