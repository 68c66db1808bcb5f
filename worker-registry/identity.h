// The pure parts of the keys-and-identity handlers (identity.cc), exposed for unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::registry {

// A time as Go's time.Parse(time.RFC3339, …) returns it: the instant and the zone offset the
// text carried (set_key_expiry echoes the time in that offset, as the Go server did).
struct GoTime {
  int64_t unix = 0;    // seconds since the epoch
  int32_t nanos = 0;   // fraction, 0..999999999
  int32_t offset = 0;  // seconds east of UTC ("Z" = 0)
};

// Parses `text` exactly as Go's time.Parse(time.RFC3339, text) does — what the daemons' client
// sends (client-expectations D16: whole seconds, often a numeric offset such as +02:00) and what
// the Go server accepted: "Z" or ±hh:mm, an optional fraction after '.' or ',', a one- or
// two-digit hour, the day checked against its month. Returns "" and fills *out, or Go's error
// text ("parsing time \"x\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"x\" as \"2006\"",
// "parsing time \"…\": month out of range", "…: extra text: \"…\"").
std::string parse_go_rfc3339(std::string_view text, GoTime* out);

// Go's t.Format(time.RFC3339) for the instant `unix` seen at `offset` seconds east of UTC:
// "2006-01-02T15:04:05Z" for offset 0, "…+02:00" otherwise. Years 0..9999.
std::string format_go_rfc3339(int64_t unix, int32_t offset);

}  // namespace rdv::registry
