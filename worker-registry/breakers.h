// The registry's circuit breakers (ops-spec §9): the file's current map (shared/breakers.h
// parses it), the per-name counters of §9.1, and the 2-second watcher.
//
// One instance per registry process (registry_breakers()). Consulted by run_entry() for each
// gated message type, on the loop thread for reads and on the writer thread for writes, and
// changed by the operator messages (operator.cc) on the writer: hence the mutex. The watcher
// runs lazily inside allow()/snapshot() — at most one lstat per 2 s — so an idle registry does
// no file work at all and nothing needs a timer of its own.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "shared/breakers.h"

namespace rdv::registry {

struct BreakerStatus {
  std::string name;
  breakers::State state = breakers::State::Closed;
  std::string reason;
  int64_t updated_at = 0;  // the file's mtime when configured (0: not configured)
  bool configured = false;
  uint64_t allowed_total = 0, denied_total = 0;
  int64_t last_denied_at = 0;  // unix seconds, 0: never
};

class Breakers {
 public:
  // Consults `name` (counting it, §9.1, configured or not) against <data_dir>/breakers.json.
  // False when it is open; *reason gets the operator's reason then. On the request path:
  // no allocation unless the data dir changed or the file is due for its 2 s poll.
  bool allow(const std::string& data_dir, std::string_view name, int64_t now_unix, std::string* reason);
  // Every configured breaker and every name consulted so far, sorted by name.
  std::vector<BreakerStatus> snapshot(const std::string& path);
  // The current map, freshly re-read (the operator messages change it from this).
  breakers::Map current(const std::string& path);
  // After the operator wrote the file: apply `map` at once instead of at the next poll.
  void applied(const std::string& path, breakers::Map map, int64_t mtime_unix);

 private:
  void refresh_locked(const std::string& path, bool force);

  struct Counters {
    uint64_t allowed = 0, denied = 0;
    int64_t last_denied_at = 0;
  };
  std::mutex mutex_;
  std::string allow_dir_, allow_path_;  // allow()'s data dir and the path derived from it
  std::string path_;
  breakers::FileWatch watch_;
  breakers::Map map_;
  int64_t updated_at_ = 0;
  int64_t next_poll_ns_ = 0;
  std::map<std::string, Counters, std::less<>> counters_;
};

Breakers& registry_breakers();
// <data-dir>/breakers.json
std::string breakers_path(const std::string& data_dir);

}  // namespace rdv::registry
