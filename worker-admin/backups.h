// Backups (ops-spec §3.9, issue 7 "Backups"): compacted copies of the LMDB environment in
// <data-dir>/backups/, taken periodically and on POST /api/snapshot, and a retention sweep.
//
// A copy is mdb_env_copyfd2(MDB_CP_COMPACT): LMDB runs its own read transaction over one
// consistent snapshot, so the registry's writer never waits for it. The file is written as
// "<name>.tmp" (O_EXCL|O_NOFOLLOW), fsynced, renamed into place and the directory fsynced, so
// a crash never leaves a half-written file under a backup name.
//
// A backup is a complete data.mdb: restoring is copying it as data.mdb into an empty data dir
// (docs/operations.md). The epoch file is not part of it (epoch.h).
//
// Thread rules: take_backup(), take_backup_and_sweep(), sweep_backups() and the listing of
// /api/admin/backups are serialised by one process-wide mutex (two copies in the same second
// would otherwise share a .tmp name); everything else is pure.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shared/store.h"
#include "worker-admin/live_config.h"

namespace rdv::admin {

inline constexpr const char* kBackupsDirName = "backups";

// "<data-dir>/backups".
std::string backups_dir(const std::string& data_dir);

// Our copies: rendezvous-YYYYMMDDTHHMMSSZ.mdb.
bool is_own_backup_name(std::string_view name);
// The Go server's imported copies (§3.9): ^registry-([a-z0-9_-]+-)?[0-9]{8}[T-][0-9]{6}Z?\.json$
bool is_go_backup_name(std::string_view name);
// Either: the only names the sweep may delete.
bool is_sweepable_backup_name(std::string_view name);
// The name of a copy taken at `unix_seconds` (UTC).
std::string backup_name_for(int64_t unix_seconds);

struct BackupFile {
  std::string name;
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;  // modification time, unix nanoseconds
};

// The §3.9 selection, pure: of `files` (any order), the indexes to delete. Only sweepable
// names are candidates; they are ordered newest-first by mtime (ties by name, newest name
// first, so the order is deterministic); a candidate goes when its index >= max_count
// (max_count > 0) or its age now_ns - mtime_ns > max_age_ns (max_age_ns > 0). Both 0: none.
std::vector<size_t> select_for_sweep(const std::vector<BackupFile>& files, int64_t now_ns, int64_t max_age_ns,
                                     int64_t max_count);

// Every regular file in `dir` (sorted by name). A missing directory is an empty list.
bool list_backup_dir(const std::string& dir, std::vector<BackupFile>* out, std::string* error);

// Takes one compacted copy of `env` into backups_dir(data_dir); *name gets the file name.
bool take_backup(Env& env, const std::string& data_dir, std::string* name, std::string* error);

// take_backup, then the sweep with cfg's limits, under one lock: no one sees the extra copy.
bool take_backup_and_sweep(Env& env, const Config& cfg, std::string* name, std::string* error);

struct SweepResult {
  int deleted = 0;
  int64_t freed_bytes = 0;
  int kept = 0;
};
// Runs the sweep over backups_dir(data_dir); logs "backup retention swept" when it deleted
// something and a warning for each failure (retried next time).
SweepResult sweep_backups(const std::string& data_dir, int64_t max_age_ns, int64_t max_count);

// The admin worker's backup thread: a sweep at start, then a copy every backup_interval_ns
// (0 = never) followed by a sweep, and a sweep every hour. Reads the configuration on every
// turn, so a reload applies. stop() wakes it and joins it.
class BackupScheduler {
 public:
  BackupScheduler(Env* env, LiveConfig* config) : env_(env), config_(config) {}
  ~BackupScheduler() { stop(); }
  BackupScheduler(const BackupScheduler&) = delete;
  BackupScheduler& operator=(const BackupScheduler&) = delete;

  void start();
  void stop();

 private:
  void run();
  Env* env_;
  LiveConfig* config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rdv::admin
