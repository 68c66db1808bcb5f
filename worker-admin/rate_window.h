// The admin worker's per-IP fixed-window limiters (ops-spec §10.5): badges 30/min, verify
// 60/min, verify keys 120/min, each its own table. Here, apart from the handlers, so unit tests
// can drive the clock.
//
// Thread rules: allow() may be called from any thread (one mutex; a handful of map operations
// per request on a public endpoint that is itself rate limited).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rdv::admin {

struct Request;

// The address a limiter counts (ops-spec §10.5): the TCP peer, or X-Real-IP when the peer is
// loopback (a reverse proxy on the same host forwards the real client).
std::string_view limiter_key(const Request& req);

class FixedWindowLimiter {
 public:
  // `limit` requests per `window_ns` per key; at most `max_keys` keys tracked at once.
  FixedWindowLimiter(uint32_t limit, int64_t window_ns, size_t max_keys)
      : limit_(limit), window_ns_(window_ns), max_keys_(max_keys) {}

  // Counts one request from `key` at monotonic time `now_ns`; false when it is over the limit.
  // A key's window starts at its first request and lasts window_ns. When the table is full,
  // expired windows are dropped first; a new key that still finds no room is refused (a flood
  // of addresses must not grow memory without bound, nor reset everyone's windows).
  bool allow(std::string_view key, int64_t now_ns);

  size_t tracked() const;

 private:
  struct Window {
    int64_t start_ns = 0;
    uint32_t count = 0;
  };
  const uint32_t limit_;
  const int64_t window_ns_;
  const size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mutex_
};

}  // namespace rdv::admin
