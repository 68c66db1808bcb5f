#include "worker-admin/process_stats.h"

#include <dirent.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "shared/files.h"
#include "shared/ipc.h"
#include "shared/util.h"

namespace rdv::admin {

namespace {

constexpr size_t kMaxProcFile = 64 << 10;
constexpr size_t kMaxWorkersFile = 64 << 10;

std::string read_proc_file(const std::string& path) {
  std::string text, error;
  bool exists = false;
  read_small_file(path, kMaxProcFile, &text, &exists, &error);  // /proc files: errors read as ""
  return text;
}

// Boot time, for turning /proc/<pid>/stat's start time (clock ticks since boot) into unix time.
int64_t boot_unix() {
  std::string stat = read_proc_file("/proc/stat");
  size_t at = stat.find("\nbtime ");
  return at == std::string::npos ? 0 : std::strtoll(stat.c_str() + at + 7, nullptr, 10);
}

}  // namespace

ProcFigures read_proc(pid_t pid) {
  ProcFigures f;
  if (pid <= 0) return f;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string stat = read_proc_file(dir + "/stat");
  // The command name (field 2) is in parentheses and may hold spaces: fields count from the
  // last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return f;
  f.alive = true;
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  for (size_t pos = close + 2; pos < stat.size();) {
    size_t sp = stat.find(' ', pos);
    fields.push_back(stat.substr(pos, sp - pos));
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  const double ticks = double(sysconf(_SC_CLK_TCK));
  auto field = [&](size_t n) { return n - 3 < fields.size() ? std::strtod(fields[n - 3].c_str(), nullptr) : 0.0; };
  f.cpu_seconds = (field(14) + field(15)) / ticks;  // utime + stime
  f.threads = int64_t(field(20));
  f.start_unix = boot_unix() + int64_t(field(22) / ticks);
  f.rss_bytes = uint64_t(field(24)) * uint64_t(sysconf(_SC_PAGESIZE));
  if (DIR* d = ::opendir((dir + "/fd").c_str())) {
    f.open_fds = 0;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') f.open_fds++;
    ::closedir(d);
  }
  return f;
}

bool read_workers(const std::string& run_dir, std::vector<WorkerFigures>* out, std::string* error) {
  out->clear();
  const std::string path = ipc::workers_file_path(run_dir);
  std::string text;
  bool exists = false;
  if (!read_small_file(path, kMaxWorkersFile, &text, &exists, error)) return false;
  if (!exists) {
    *error = path + " does not exist (is the supervisor running?)";
    return false;
  }
  json_error_t err;
  JsonPtr doc(json_loadb(text.data(), text.size(), 0, &err));
  json_t* workers = doc ? json_object_get(doc.get(), "workers") : nullptr;
  if (!json_is_array(workers)) {
    *error = path + ": not a workers file" + (doc ? "" : std::string(" (") + err.text + ")");
    return false;
  }
  WorkerFigures sup;
  sup.name = "supervisor";
  sup.pid = pid_t(json_integer_value(json_object_get(doc.get(), "supervisor_pid")));
  sup.proc = read_proc(sup.pid);
  sup.state = sup.proc.alive ? "running" : "gone";
  sup.started_unix = sup.proc.start_unix;
  out->push_back(sup);
  size_t i;
  json_t* w;
  json_array_foreach(workers, i, w) {
    WorkerFigures f;
    f.name = json_str(w, "name");
    f.pid = pid_t(json_integer_value(json_object_get(w, "pid")));
    f.state = json_str(w, "state");
    f.starts = uint64_t(json_integer_value(json_object_get(w, "starts")));
    f.restarts = uint64_t(json_integer_value(json_object_get(w, "restarts")));
    f.started_unix = json_integer_value(json_object_get(w, "started_unix"));
    f.last_exit = json_str(w, "last_exit");
    f.proc = read_proc(f.pid);
    out->push_back(std::move(f));
  }
  return true;
}

JsonPtr worker_json(const WorkerFigures& w, int64_t now_unix) {
  json_t* o = json_object();
  json_object_set_new(o, "name", json_string(w.name.c_str()));
  json_object_set_new(o, "pid", json_integer(w.pid));
  json_object_set_new(o, "state", json_string(w.state.c_str()));
  json_object_set_new(o, "starts", json_integer(json_int_t(w.starts)));
  json_object_set_new(o, "restarts", json_integer(json_int_t(w.restarts)));
  json_object_set_new(o, "started_unix", json_integer(w.started_unix));
  json_object_set_new(o, "uptime_seconds",
                      json_integer(w.proc.alive && w.started_unix > 0 ? std::max<int64_t>(0, now_unix - w.started_unix) : 0));
  json_object_set_new(o, "rss_bytes", json_integer(json_int_t(w.proc.rss_bytes)));
  json_object_set_new(o, "cpu_seconds", json_real(w.proc.cpu_seconds));
  json_object_set_new(o, "threads", json_integer(w.proc.threads));
  json_object_set_new(o, "open_fds", json_integer(w.proc.open_fds));
  if (!w.last_exit.empty()) json_object_set_new(o, "last_exit", json_string(w.last_exit.c_str()));
  return JsonPtr(o);
}

bool read_store_figures(Env& env, StoreFigures* out, std::string* error) {
  MDB_envinfo info;
  MDB_stat st;
  if (int rc = mdb_env_info(env.get(), &info)) {
    *error = "mdb_env_info: " + lmdb_error(rc);
    return false;
  }
  if (int rc = mdb_env_stat(env.get(), &st)) {
    *error = "mdb_env_stat: " + lmdb_error(rc);
    return false;
  }
  out->map_size_bytes = info.me_mapsize;
  out->page_size = st.ms_psize;
  out->used_bytes = uint64_t(info.me_last_pgno + 1) * st.ms_psize;
  out->last_txn_id = info.me_last_txnid;
  out->max_readers = info.me_maxreaders;
  out->readers_used = info.me_numreaders;
  const char* path = nullptr;
  struct stat fst;
  if (mdb_env_get_path(env.get(), &path) == 0 && path &&
      ::stat((std::string(path) + "/data.mdb").c_str(), &fst) == 0)
    out->file_bytes = uint64_t(fst.st_size);
  return true;
}

JsonPtr store_json(const StoreFigures& s) {
  return JsonPtr(json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "map_size_bytes", json_int_t(s.map_size_bytes), "used_bytes",
                           json_int_t(s.used_bytes), "page_size", json_int_t(s.page_size), "file_bytes",
                           json_int_t(s.file_bytes), "last_txn_id", json_int_t(s.last_txn_id), "max_readers",
                           json_int_t(s.max_readers), "readers_used", json_int_t(s.readers_used)));
}

}  // namespace rdv::admin
