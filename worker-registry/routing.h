// The pure rules of the routing messages (wire-protocol §6.7): when a beacon is listed, when a
// re-registration is too soon, and Go's host:port check. routing.cc applies them; they are
// here so the unit tests can run the 60 s window without waiting 60 s.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::registry {

// A beacon is listed while it was seen at most this long ago (Go: routing.BeaconTTL), and
// removed from the store once it was not (routing.cc, inside beacon_register).
inline constexpr int64_t kBeaconTtlNs = 60LL * 1000000000;

// Seen within the TTL: now - last_seen <= 60 s, exactly Go's "skip when now.Sub(last) > TTL".
// A last_seen in the future (the clock stepped back) counts as live.
bool beacon_live(int64_t last_seen_ns, int64_t now_ns);

// A re-registration of the same beacon id inside the cooldown (-beacon-register-cooldown;
// 0 turns it off): 0 <= now - last_seen < cooldown. A last_seen in the future does not block
// (a clock stepped back must not lock a beacon out until it catches up).
bool beacon_in_cooldown(int64_t last_seen_ns, int64_t now_ns, int64_t cooldown_ns);

// Go's net.SplitHostPort check: "" when `addr` splits into host and port, otherwise Go's
// error text, e.g. "address 1.2.3.4: missing port in address" (the port is not checked for
// being a number, the host may be empty, as in Go).
std::string host_port_error(std::string_view addr);

}  // namespace rdv::registry
