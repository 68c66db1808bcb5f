#include "field_limits.h"

namespace rdv::registry {

namespace {
std::string too_long(std::string_view field, size_t max) {
  return std::string(field) + " too long (max " + std::to_string(max) + " bytes)";
}
}  // namespace

std::string register_field_error(const Config& cfg, std::string_view listen_addr, std::string_view owner,
                                 std::string_view version, const std::vector<std::string>& lan_addrs) {
  if (version.size() > kMaxVersionBytes) return too_long("version", kMaxVersionBytes);
  if (owner.size() > kMaxOwnerBytes) return too_long("owner", kMaxOwnerBytes);
  if (listen_addr.size() > kMaxListenAddrBytes) return too_long("listen_addr", kMaxListenAddrBytes);
  if (lan_addrs.size() > size_t(cfg.max_lan_addrs))
    return "too many lan_addrs (max " + std::to_string(cfg.max_lan_addrs) + ")";
  for (const std::string& a : lan_addrs)
    if (a.size() > kMaxLanAddrBytes) return too_long("lan_addrs entry", kMaxLanAddrBytes);
  return "";
}

}  // namespace rdv::registry
