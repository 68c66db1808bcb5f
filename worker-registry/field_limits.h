// Size limits on what a daemon can make the registry store. Registration is unsigned by
// default, so without them anyone could store (and have written twice, once more in the change
// log) a 100 000-byte version or 5 000 LAN addresses. The limits sit far above what a real
// daemon sends; README.md lists them. Errors contain "too long" / "too many", so they reach the
// client verbatim through the sanitiser (wire-protocol §2.8).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config.h"

namespace rdv::registry {

inline constexpr size_t kMaxVersionBytes = 128;
inline constexpr size_t kMaxOwnerBytes = 256;
inline constexpr size_t kMaxListenAddrBytes = 256;
inline constexpr size_t kMaxLanAddrBytes = 64;  // "[v6%zone]:port" fits with room to spare
// The LAN address count is -max-lan-addrs (default 32): hosts with many interfaces exist.

// "" when every field is within its limit, otherwise the first violation's error text.
std::string register_field_error(const Config& cfg, std::string_view listen_addr, std::string_view owner,
                                 std::string_view version, const std::vector<std::string>& lan_addrs);

}  // namespace rdv::registry
