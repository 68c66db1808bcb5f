// Request rate limiting of the connection layer (wire-protocol §2.7, ops-spec §10): pure
// token buckets, the table of per-source-IP buckets, the operator whitelist, and the decision
// for one request. Unit-tested without sockets (tests/unit/ratelimit_test.cc); server.cc asks
// RateLimiter::admit() once per decoded request and answers a denial itself, in order, without
// dispatching the request.
//
// The limits, each in requests per second with a burst of one second's worth, 0 = off:
//   per connection  -rate-limit-per-conn (500)
//   per source IP   -rate-limit-per-ip (100); at most 50 000 IPs tracked
//   global          -rate-limit-global (1000), the whole server
// None of them applies during a connection's first 5 s (the grace of §2.7). A whitelisted
// source skips the per-connection and global limits and gets its own per-IP rate instead.
//
// Cost: admit() allocates nothing unless it meets a new IP and the table has to grow; it reads
// no clock (the caller passes the time it read for the request anyway); a connection finds
// its IP's bucket again without hashing, through a hint that stays valid until an eviction.
//
// Threading: a RateLimiter and everything it hands out belong to the registry's event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "cidr.h"

namespace rdv::registry {

inline constexpr int64_t kRateWindowNs = 1000000000;       // a bucket's burst refills in one window
inline constexpr int64_t kRateGraceNs = 5 * kRateWindowNs;  // no checks in a connection's first 5 s
inline constexpr int64_t kRateIdleNs = 2 * kRateWindowNs;   // a bucket unused this long may be evicted
inline constexpr size_t kMaxTrackedIps = 50000;
inline constexpr int64_t kMaxRate = 1000000000;             // one request per ns: the clock's grain

// A token bucket of `rate` tokens per second with a burst of `rate` tokens, kept as GCRA's
// theoretical arrival time: one integer, exact, no floating point and no refill loop. A new
// bucket is full. `rate` is passed on each call, so a limit changed by a reload applies at once.
// Times are monotonic nanoseconds (any origin >= 0).
class TokenBucket {
 public:
  // 0 when a token is available at `now_ns`; otherwise how long until one is.
  int64_t wait_ns(int64_t rate, int64_t now_ns) const;
  // Takes one token (call only after wait_ns() said 0).
  void take(int64_t rate, int64_t now_ns);

 private:
  int64_t tat_ns_ = std::numeric_limits<int64_t>::min() / 4;  // far past: full
};

// ---- the whitelist file (ops-spec §10.3) ----

struct WhitelistEntry {
  Cidr cidr;
  int64_t rate = 0;  // requests per second for a matching source's own bucket
};
using Whitelist = std::vector<WhitelistEntry>;

// Parses `[{"cidr":"10.0.0.0/8","rate":100000}, …]` (or `{"entries":[…]}`, the shape the admin
// API accepts). A bare address is a /32 or /128. All or nothing: an entry that is not an
// object, has an empty or unparsable cidr, or a rate that is not a number >= 1 rejects the
// whole file with *error naming the entry. Rates above kMaxRate are capped.
bool parse_whitelist(std::string_view json_text, Whitelist* out, std::string* error);
// The rate of the first entry containing `ip`, or 0 when none does.
int64_t whitelist_rate(const Whitelist& list, const IpAddr& ip);

// ---- per-IP buckets ----

struct IpBucket {
  TokenBucket bucket;
  int64_t rate = 0;            // the rate this IP's bucket runs at
  int64_t last_used_ns = 0;
  uint32_t generation = 0;     // RateLimiter generation `rate` was computed for
};

// Where an IP's bucket was found: lets a connection skip the hash on its next request. Valid
// while the table has not moved any bucket since (evictions and growth move them; inserts do
// not).
struct BucketHint {
  size_t index = 0;
  uint64_t version = 0;  // 0: none
};

// At most `max_entries` buckets in an open-addressing table (linear probing, backward-shift
// deletion: no tombstones, so probes stay short after evictions), seeded so that a client
// cannot choose addresses that collide. Grows by doubling up to what max_entries needs; memory
// is proportional to the IPs seen, not to the maximum.
class IpBucketTable {
 public:
  explicit IpBucketTable(size_t max_entries = kMaxTrackedIps, uint64_t seed = 0);

  // The bucket for `ip`, created when new (and then marked used at now_ns). When the table is
  // full it first evicts buckets idle for kRateIdleNs; if none can go, a new IP gets null —
  // unless `privileged` (whitelisted), which always gets a bucket, beyond max_entries if need be.
  // The pointer is valid until the next get() or evict_idle().
  // `hint` (may be null) is tried first and updated.
  IpBucket* get(const IpAddr& ip, int64_t now_ns, bool privileged, BucketHint* hint = nullptr);
  // Removes every bucket unused for kRateIdleNs. Returns how many went.
  size_t evict_idle(int64_t now_ns);
  // How long a new IP must wait, from now_ns, before a full table can have an idle bucket.
  int64_t full_wait_ns(int64_t now_ns) const;
  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    uint8_t key[16];
    uint8_t family = 0;  // 0: empty
    IpBucket value;
  };
  size_t home(const uint8_t* key, uint8_t family) const;
  size_t find(const uint8_t* key, uint8_t family) const;  // index, or npos
  void erase_at(size_t i);
  void grow();

  std::vector<Slot> slots_;
  size_t size_ = 0, max_entries_;
  uint64_t seed_;
  uint64_t version_ = 1;      // bumped whenever a bucket moves (erase, grow)
  int64_t next_idle_ns_ = 0;  // no bucket can be idle before this (computed by evict_idle)
};

// ---- the decision ----

struct RateLimits {
  int64_t global = 1000, per_ip = 100, per_conn = 500;  // requests per second; 0 = off
  bool per_ip_enabled = true;  // false: PILOT_REGISTRY_NORATELIMIT=1 (the per-IP limiter only)
};

// Why a request was refused; the names are the labels of pilot_ratelimit_denied_total.
enum class DenyKind : uint8_t { None, Ip, BucketTable, Global, Connection };
const char* deny_kind_name(DenyKind k);

struct Verdict {
  DenyKind kind = DenyKind::None;  // the first limit that refused, in the order connection, ip, global
  int64_t retry_ns = 0;            // until every refusing limit has a token again
};

// A connection's own state. The whitelist match is cached here per whitelist generation, so a
// request costs one integer compare for it.
struct ConnRate {
  int64_t start_ns = 0;  // monotonic time of the accept: the grace runs from here
  TokenBucket bucket;
  uint32_t generation = 0;
  int64_t listed_rate = 0;  // > 0: the source is whitelisted at this rate
  BucketHint ip_bucket;     // where its IP's bucket was last found
};

class RateLimiter {
 public:
  explicit RateLimiter(size_t max_ips = kMaxTrackedIps, uint64_t seed = 0);

  // New limits (start-up, SIGHUP) or a new whitelist (the watcher): both apply to the next
  // request, existing buckets included.
  void set_limits(const RateLimits& limits);
  void set_whitelist(Whitelist list);
  const RateLimits& limits() const { return limits_; }
  const Whitelist& whitelist() const { return whitelist_; }

  // One request from `ip` on connection `c` at monotonic now_ns: admitted (kind None, and every
  // applicable bucket gives a token) or refused (no bucket gives one).
  Verdict admit(ConnRate& c, const IpAddr& ip, int64_t now_ns);
  // The periodic clean-up (the registry's reap timer).
  size_t evict_idle(int64_t now_ns) { return ips_.evict_idle(now_ns); }
  size_t tracked_ips() const { return ips_.size(); }

 private:
  RateLimits limits_;
  Whitelist whitelist_;
  uint32_t generation_ = 1;  // bumped by set_limits / set_whitelist
  TokenBucket global_;
  IpBucketTable ips_;
};

// ---- the whitelist file watcher's I/O ----

// Polled every 2 s by the server. A change of the file's identity (mtime, size, inode) is read
// again; the file is opened with O_NOFOLLOW, must be a regular file of at most kMaxBytes, and
// is applied only when all of it is valid.
class WhitelistFile {
 public:
  static constexpr size_t kMaxBytes = 1 << 20;
  enum class Change : uint8_t {
    None,     // same file as before (or still missing, or still the same bad file)
    Loaded,   // *list is the file's new content
    Cleared,  // the file went away: no whitelist
    Failed,   // unreadable or invalid: keep the previous list; *error says why
  };
  Change poll(const std::string& path, Whitelist* list, std::string* error);

 private:
  bool present_ = false;  // a file was there at the last poll
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
  uint64_t inode_ = 0;
  int stat_errno_ = 0;  // the last stat() failure other than "missing", reported once
};

}  // namespace rdv::registry
