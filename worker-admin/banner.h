// The operator's banner (ops-spec §5.3 row 8). It lives in the store (settings "banner", JSON
// {"banner":"…"}), written by the registry's banner_set message, so it replicates and survives
// restarts (the original kept it in banner.txt beside the snapshot).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shared/store.h"

namespace rdv::admin {

inline constexpr std::string_view kBannerSetting = "banner";
inline constexpr size_t kMaxBannerBytes = 8192;

// The banner as stored, or nullopt when no operator ever set one (or the store cannot be
// read). A read transaction of its own; safe from any thread.
std::optional<std::string> stored_banner(Env& env);
// What the banner is now: the stored one, else `fallback` (-maintenance-banner).
std::string read_banner(Env& env, std::string_view fallback = {});

}  // namespace rdv::admin
