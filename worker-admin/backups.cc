// Backups: compacted LMDB copies, the retention sweep, /api/snapshot and /api/admin/backups
// (ops-spec §3.9, §5.3 rows 9 and 16). See backups.h.
#include "worker-admin/backups.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <regex>

#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/routes.h"

namespace rdv::admin {

namespace {

// One copy or sweep at a time in this process: two copies in the same second would share a
// .tmp name, and a sweep must not delete a file a concurrent listing is about to report.
std::mutex g_backup_mutex;

constexpr int64_t kSweepPeriodNs = 3600LL * 1000000000;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Closes a descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string backups_dir(const std::string& data_dir) { return data_dir + "/" + kBackupsDirName; }

bool is_own_backup_name(std::string_view name) {
  // rendezvous-YYYYMMDDTHHMMSSZ.mdb
  constexpr std::string_view prefix = "rendezvous-", suffix = "Z.mdb";
  if (name.size() != prefix.size() + 15 + suffix.size()) return false;
  if (name.substr(0, prefix.size()) != prefix || name.substr(name.size() - suffix.size()) != suffix) return false;
  std::string_view stamp = name.substr(prefix.size(), 15);
  return all_digits(stamp.substr(0, 8)) && stamp[8] == 'T' && all_digits(stamp.substr(9, 6));
}

bool is_go_backup_name(std::string_view name) {
  // Names are short (a directory entry); the pattern has no nested repetition to blow up.
  static const std::regex pattern(R"(^registry-([a-z0-9_-]+-)?[0-9]{8}[T-][0-9]{6}Z?\.json$)");
  if (name.size() > 255) return false;
  return std::regex_match(name.begin(), name.end(), pattern);
}

bool is_sweepable_backup_name(std::string_view name) { return is_own_backup_name(name) || is_go_backup_name(name); }

std::string backup_name_for(int64_t unix_seconds) {
  time_t t = time_t(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "rendezvous-%Y%m%dT%H%M%SZ.mdb", &tm);
  return buf;
}

std::vector<size_t> select_for_sweep(const std::vector<BackupFile>& files, int64_t now_ns, int64_t max_age_ns,
                                     int64_t max_count) {
  std::vector<size_t> out;
  if (max_age_ns <= 0 && max_count <= 0) return out;
  std::vector<size_t> candidates;
  for (size_t i = 0; i < files.size(); i++)
    if (is_sweepable_backup_name(files[i].name)) candidates.push_back(i);
  std::sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
    if (files[a].mtime_ns != files[b].mtime_ns) return files[a].mtime_ns > files[b].mtime_ns;
    return files[a].name > files[b].name;
  });
  for (size_t rank = 0; rank < candidates.size(); rank++) {
    const BackupFile& f = files[candidates[rank]];
    bool too_many = max_count > 0 && int64_t(rank) >= max_count;
    bool too_old = max_age_ns > 0 && now_ns - f.mtime_ns > max_age_ns;
    if (too_many || too_old) out.push_back(candidates[rank]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool list_backup_dir(const std::string& dir, std::vector<BackupFile>* out, std::string* error) {
  out->clear();
  DIR* d = opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return true;
    *error = call_failed("opendir", dir, errno);
    return false;
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, closedir);
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    // lstat: a symlink planted here is neither listed as a backup nor followed.
    if (fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished meanwhile
    if (!S_ISREG(st.st_mode)) continue;
    BackupFile f;
    f.name = std::move(name);
    f.size_bytes = int64_t(st.st_size);
    f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    out->push_back(std::move(f));
  }
  std::sort(out->begin(), out->end(), [](const BackupFile& a, const BackupFile& b) { return a.name < b.name; });
  return true;
}

namespace {

bool take_backup_locked(Env& env, const std::string& data_dir, std::string* name, std::string* error) {
  const std::string dir = backups_dir(data_dir);
  if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    *error = call_failed("mkdir", dir, errno);
    return false;
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = dir + ": not a directory";
    return false;
  }
  *name = backup_name_for(unix_now());
  const std::string final_path = dir + "/" + *name;
  const std::string tmp_path = final_path + ".tmp";
  // A .tmp left by a crash mid-copy is garbage (never renamed into place): drop it.
  unlink(tmp_path.c_str());
  Fd out;
  out.fd = open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (out.fd < 0) {
    *error = call_failed("open", tmp_path, errno);
    return false;
  }
  // A read transaction of our own first: Env::begin_read adopts a map the registry grew, so
  // the copy's internal read transaction does not fail with MDB_MAP_RESIZED. It also holds
  // the Env's resize lock for the whole copy.
  Txn txn;
  int rc = env.begin_read(&txn);
  if (rc == 0) rc = mdb_env_copyfd2(env.get(), out.fd, MDB_CP_COMPACT);
  txn.abort();
  if (rc != 0) {
    *error = "mdb_env_copyfd2: " + lmdb_error(rc);
    unlink(tmp_path.c_str());
    return false;
  }
  if (fsync(out.fd) != 0) {
    *error = call_failed("fsync", tmp_path, errno);
    unlink(tmp_path.c_str());
    return false;
  }
  ::close(out.fd);
  out.fd = -1;
  if (rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    *error = call_failed("rename", tmp_path, errno);
    unlink(tmp_path.c_str());
    return false;
  }
  if (!fsync_directory(dir, error)) return false;
  if (lstat(final_path.c_str(), &st) == 0)
    log_info("backup written", {{"file", final_path}, {"size_bytes", std::to_string(st.st_size)}});
  return true;
}

SweepResult sweep_locked(const std::string& data_dir, int64_t max_age_ns, int64_t max_count) {
  SweepResult result;
  if (max_age_ns <= 0 && max_count <= 0) return result;
  const std::string dir = backups_dir(data_dir);
  std::vector<BackupFile> files;
  std::string error;
  if (!list_backup_dir(dir, &files, &error)) {
    log_warn("backup retention: cannot list the directory; retried next time", {{"error", error}});
    return result;
  }
  std::vector<size_t> doomed = select_for_sweep(files, unix_now_ns(), max_age_ns, max_count);
  size_t candidates = 0;
  for (const BackupFile& f : files) candidates += is_sweepable_backup_name(f.name) ? 1 : 0;
  for (size_t i : doomed) {
    const std::string path = dir + "/" + files[i].name;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      log_warn("backup retention: cannot delete; retried next time", {{"error", call_failed("unlink", path, errno)}});
      continue;
    }
    result.deleted++;
    result.freed_bytes += files[i].size_bytes;
  }
  result.kept = int(candidates) - result.deleted;
  if (result.deleted > 0)
    log_info("backup retention swept", {{"deleted", std::to_string(result.deleted)},
                                        {"freed_bytes", std::to_string(result.freed_bytes)},
                                        {"kept", std::to_string(result.kept)},
                                        {"max_age", format_duration(max_age_ns)},
                                        {"max_count", std::to_string(max_count)}});
  return result;
}

}  // namespace

bool take_backup(Env& env, const std::string& data_dir, std::string* name, std::string* error) {
  std::lock_guard lock(g_backup_mutex);
  return take_backup_locked(env, data_dir, name, error);
}

bool take_backup_and_sweep(Env& env, const Config& cfg, std::string* name, std::string* error) {
  std::lock_guard lock(g_backup_mutex);
  if (!take_backup_locked(env, cfg.data_dir, name, error)) return false;
  sweep_locked(cfg.data_dir, cfg.backups_max_age_ns, cfg.backups_max_count);
  return true;
}

SweepResult sweep_backups(const std::string& data_dir, int64_t max_age_ns, int64_t max_count) {
  std::lock_guard lock(g_backup_mutex);
  return sweep_locked(data_dir, max_age_ns, max_count);
}

// ---- the backup thread ----

void BackupScheduler::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void BackupScheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackupScheduler::run() {
  auto cfg = config_->get();
  sweep_backups(cfg->data_dir, cfg->backups_max_age_ns, cfg->backups_max_count);
  int64_t last_backup = mono_now_ns();
  int64_t last_sweep = last_backup;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cfg = config_->get();
    const int64_t now = mono_now_ns();
    int64_t next = last_sweep + kSweepPeriodNs;
    if (cfg->backup_interval_ns > 0) next = std::min<int64_t>(next, last_backup + cfg->backup_interval_ns);
    // Wake at least once a minute so an interval shortened by a reload takes effect.
    next = std::min<int64_t>(next, now + int64_t(60) * 1000000000);
    if (now < next) {
      wake_.wait_for(lock, std::chrono::nanoseconds(next - now));
      continue;
    }
    lock.unlock();
    if (cfg->backup_interval_ns > 0 && now - last_backup >= cfg->backup_interval_ns) {
      std::string name, error;
      if (!take_backup_and_sweep(*env_, *cfg, &name, &error)) {
        log_error("periodic backup failed; retried at the next interval", {{"error", error}});
      } else {
        last_sweep = mono_now_ns();
      }
      last_backup = mono_now_ns();
    }
    if (now - last_sweep >= kSweepPeriodNs) {
      sweep_backups(cfg->data_dir, cfg->backups_max_age_ns, cfg->backups_max_count);
      last_sweep = mono_now_ns();
    }
    lock.lock();
  }
}

// ---- routes ----

namespace {

Response handle_snapshot(const AdminContext& ctx, const Request&) {
  auto cfg = ctx.config->get();
  std::string name, error;
  if (!take_backup_and_sweep(*ctx.env, *cfg, &name, &error)) {
    log_error("/api/snapshot: backup failed", {{"error", error}});
    return text_error(500, "snapshot failed: " + error);
  }
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "status", json_string("ok"));
  json_object_set_new(body.get(), "message", json_string("snapshot saved successfully"));
  json_object_set_new(body.get(), "name", json_string(name.c_str()));
  return json_response(200, body.get());
}

Response handle_backups(const AdminContext& ctx, const Request&) {
  auto cfg = ctx.config->get();
  std::vector<BackupFile> files;
  std::string error;
  {
    std::lock_guard lock(g_backup_mutex);
    if (!list_backup_dir(backups_dir(cfg->data_dir), &files, &error)) {
      log_error("/api/admin/backups: listing failed", {{"error", error}});
      return text_error(500, "listing backups failed: " + error);
    }
  }
  // A copy in progress is not a backup yet.
  std::erase_if(files, [](const BackupFile& f) { return f.name.ends_with(".tmp"); });
  std::sort(files.begin(), files.end(), [](const BackupFile& a, const BackupFile& b) {
    if (a.mtime_ns != b.mtime_ns) return a.mtime_ns > b.mtime_ns;
    return a.name > b.name;
  });
  JsonPtr entries(json_array());
  int64_t total = 0;
  for (const BackupFile& f : files) {
    json_t* e = json_object();
    json_object_set_new(e, "name", json_stringn(f.name.data(), f.name.size()));
    json_object_set_new(e, "size_bytes", json_integer(json_int_t(f.size_bytes)));
    json_object_set_new(e, "mod_unix", json_integer(json_int_t(f.mtime_ns / 1000000000)));
    json_array_append_new(entries.get(), e);
    total += f.size_bytes;
  }
  JsonPtr body(json_object());
  json_object_set_new(body.get(), "count", json_integer(json_int_t(files.size())));
  json_object_set_new(body.get(), "total_size_bytes", json_integer(json_int_t(total)));
  json_object_set_new(body.get(), "entries", entries.release());
  return json_response(200, body.get());
}

const Route kRoutes[] = {
    {.pattern = "/api/snapshot", .methods = "POST", .access = Access::LocalhostOnly, .handler = handle_snapshot},
    {.pattern = "/api/admin/backups", .methods = "GET", .access = Access::Admin, .handler = handle_backups},
};

}  // namespace

std::span<const Route> backup_routes() { return kRoutes; }

}  // namespace rdv::admin
