// The pure pieces of the operator API rows (ops-spec §5.3): the network routes' parsing rules
// (rows 27–30, "5.3.28–30 details"), the audit listing's count (row 17) and the replication
// status shape (row 15), separate from the handlers so unit tests can check them with plain
// values. The handlers are in networks.cc, audit_routes.cc and replication.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/json.h"

namespace rdv::admin {

// Go's strconv.ParseUint(s, 10, bits): one or more ASCII digits (no sign, no spaces), value
// at most `max`. False otherwise.
bool parse_uint_text(std::string_view s, uint64_t max, uint64_t* out);
// Go's strconv.Atoi: an optional '+' or '-' then digits, within int64. nullopt otherwise.
std::optional<int64_t> go_atoi(std::string_view s);

inline constexpr int64_t kMembersDefaultLimit = 200;
inline constexpr int64_t kMembersMaxLimit = 5000;
// limit: default 200, at most 5000; absent, non-numeric or non-positive → 200.
int64_t members_limit(const std::optional<std::string>& text);
// offset: non-numeric or negative → 0; clamped to `total`.
int64_t members_offset(const std::optional<std::string>& text, int64_t total);
// The q filter: empty matches everything; otherwise a case-insensitive substring of the
// hostname or of the decimal node id.
bool member_matches(std::string_view q, std::string_view hostname, uint32_t node_id);
// The role body's role: trimmed and lower-cased; "" unless it is "admin" or "member".
std::string normalize_operator_role(std::string_view role);
// Strips ASCII whitespace (Go's strings.TrimSpace for the texts we see) from both ends.
std::string_view trim_space(std::string_view s);

// ---- /api/admin/audit/recent (audit_routes.cc) ----
inline constexpr int64_t kAuditDefaultCount = 100;
inline constexpr int64_t kAuditMaxCount = 1000;
// n: default 100, at most 1000; absent, non-numeric or non-positive → 100.
int64_t audit_recent_count(const std::optional<std::string>& text);

}  // namespace rdv::admin
