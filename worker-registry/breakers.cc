#include "breakers.h"

#include "log.h"
#include "util.h"

namespace rdv::registry {

void Breakers::refresh_locked(const std::string& path, bool force) {
  int64_t now = mono_now_ns();
  if (path != path_) {
    path_ = path;
    watch_ = breakers::FileWatch();
    map_.clear();
    force = true;
  }
  if (!force && now < next_poll_ns_) return;
  next_poll_ns_ = now + breakers::kPollNs;
  breakers::Map fresh;
  std::string err;
  std::vector<std::string> skipped;
  int64_t mtime = 0;
  switch (watch_.poll(path_, &fresh, &mtime, &err, &skipped)) {
    case breakers::FileWatch::Change::Loaded:
      for (const std::string& name : skipped)
        log_warn("breakers: skipping entry with an invalid name or unknown state", {{"name", name}});
      map_ = std::move(fresh);
      updated_at_ = mtime;
      log_info("breakers reloaded", {{"file", path_}, {"entries", std::to_string(map_.size())}});
      break;
    case breakers::FileWatch::Change::Cleared:
      map_.clear();
      updated_at_ = 0;
      log_info("breakers file removed; every breaker closed", {{"file", path_}});
      break;
    case breakers::FileWatch::Change::Failed:
      log_warn("breakers parse failed; leaving previous map in place", {{"file", path_}, {"error", err}});
      break;
    case breakers::FileWatch::Change::None: break;
  }
}

bool Breakers::allow(const std::string& data_dir, std::string_view name, int64_t now_unix, std::string* reason) {
  std::lock_guard lock(mutex_);
  if (data_dir != allow_dir_) {
    allow_dir_ = data_dir;
    allow_path_ = breakers_path(data_dir);
  }
  refresh_locked(allow_path_, false);
  auto c = counters_.find(name);
  if (c == counters_.end()) c = counters_.emplace(std::string(name), Counters{}).first;
  auto it = map_.find(name);
  if (it != map_.end() && it->second.state == breakers::State::Open) {
    c->second.denied++;
    c->second.last_denied_at = now_unix;
    if (reason) *reason = it->second.reason;
    return false;
  }
  if (it != map_.end() && it->second.state == breakers::State::HalfOpen)
    log_debug("registry breaker half_open", {{"name", name}});
  c->second.allowed++;
  return true;
}

std::vector<BreakerStatus> Breakers::snapshot(const std::string& path) {
  std::lock_guard lock(mutex_);
  refresh_locked(path, false);
  std::map<std::string, BreakerStatus> out;
  for (const auto& [name, b] : map_) {
    BreakerStatus& s = out[name];
    s.name = name;
    s.state = b.state;
    s.reason = b.reason;
    s.updated_at = updated_at_;
    s.configured = true;
  }
  for (const auto& [name, c] : counters_) {
    BreakerStatus& s = out[name];
    s.name = name;
    s.allowed_total = c.allowed;
    s.denied_total = c.denied;
    s.last_denied_at = c.last_denied_at;
  }
  std::vector<BreakerStatus> v;
  v.reserve(out.size());
  for (auto& [_, s] : out) v.push_back(std::move(s));
  return v;
}

breakers::Map Breakers::current(const std::string& path) {
  std::lock_guard lock(mutex_);
  refresh_locked(path, true);
  return map_;
}

void Breakers::applied(const std::string& path, breakers::Map map, int64_t mtime_unix) {
  std::lock_guard lock(mutex_);
  if (path != path_) {
    path_ = path;
    watch_ = breakers::FileWatch();
  }
  map_ = std::move(map);
  updated_at_ = mtime_unix;
  // The watcher re-reads the file it has not seen yet and finds the same content.
}

Breakers& registry_breakers() {
  static Breakers b;
  return b;
}

std::string breakers_path(const std::string& data_dir) { return data_dir + "/breakers.json"; }

}  // namespace rdv::registry
