// Circuit breakers (ops-spec §9): named operator switches, default-allow, kept in
// <data-dir>/breakers.json. This is the pure part both workers share: the state spellings, the
// file's two shapes, the catalogue of §9.2, the denial text, and a bounded, change-detecting
// reader of the file. The registry keeps its counters around it (worker-registry/breakers.h);
// the admin worker consults dashboard.public_stats and dashboard.verify through FileBreakers.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rdv::breakers {

enum class State : uint8_t { Closed, HalfOpen, Open };
const char* state_name(State s);  // "closed", "half_open", "open"
// §9.1 spellings, case-insensitive and trimmed: "" / closed, half_open / half-open / halfopen,
// open. Anything else is false (never silently closed).
bool parse_state(std::string_view text, State* out);

struct Breaker {
  State state = State::Closed;
  std::string reason;
};
// Sorted by name, as every listing must be; transparent, so a lookup by string_view allocates
// nothing (the registry consults it per gated request).
using Map = std::map<std::string, Breaker, std::less<>>;

inline constexpr size_t kMaxFileBytes = 1 << 20;
inline constexpr size_t kMaxNameBytes = 128;
inline constexpr size_t kMaxReasonBytes = 1024;
inline constexpr int64_t kPollNs = 2000000000;  // §9.3: the file is looked at every 2 s

// Non-empty, at most kMaxNameBytes, printable ASCII without '/' or spaces (names go in URLs).
bool valid_name(std::string_view name);

// Parses the file: the flat map {"<name>":{"state":…,"reason"?:…},…} that the admin API
// writes, or BREAKERS.md's {"breakers":[{"name","state","reason"?},…]} (REC of §9.3: both).
// Entries with an unknown state or an invalid name are skipped and listed in *skipped; a
// file that is not one of the two shapes is false with *error (the caller keeps its map).
bool parse_file(std::string_view text, Map* out, std::string* error, std::vector<std::string>* skipped = nullptr);
// The flat map, pretty-printed (2-space indent), newline-terminated.
std::string encode_file(const Map& map);

// The breaker gating a registry message type (§9.2), or "" when none does.
std::string_view breaker_for_type(std::string_view type);
// `service unavailable: breaker "<name>" is open (<reason>)`, without the parenthesis when
// there is no reason.
std::string denial_text(std::string_view name, std::string_view reason);

// Change detection for the file: re-read when its mtime, size or inode changed.
class FileWatch {
 public:
  enum class Change : uint8_t { None, Loaded, Cleared, Failed };
  // *map gets the new content on Loaded (cleared on Cleared); *mtime_unix the file's mtime.
  Change poll(const std::string& path, Map* map, int64_t* mtime_unix, std::string* error,
              std::vector<std::string>* skipped = nullptr);

 private:
  bool present_ = false;
  int64_t mtime_ns_ = -1, size_ = -1;
  uint64_t inode_ = 0;
};

// A thread-safe view of one breakers file, refreshed at most every kPollNs, with the §9.1
// counters of the names consulted through it: what the admin worker consults (its handlers
// run on many threads).
class FileBreakers {
 public:
  struct Counted {
    std::string name;
    Breaker breaker;  // as configured now (closed when not configured)
    uint64_t allowed = 0, denied = 0;
    int64_t last_denied_at = 0;  // unix seconds, 0: never
  };
  // True unless `name` is open; *reason gets the operator's reason when it is. Counted.
  bool allows(const std::string& path, std::string_view name, std::string* reason);
  // Every name consulted so far, sorted by name.
  std::vector<Counted> counted();

 private:
  struct Counters {
    uint64_t allowed = 0, denied = 0;
    int64_t last_denied_at = 0;
  };
  std::mutex mutex_;
  std::string path_;
  FileWatch watch_;
  Map map_;
  int64_t next_poll_ns_ = 0;
  std::map<std::string, Counters, std::less<>> counters_;
};

}  // namespace rdv::breakers
