// Operator settings the admin worker changes for operators: the banner, the rate-limit whitelist
// and circuit breakers. Local-only messages on registry.sock (Auth::Local), so only the service's
// own user reaches them. Every change is a write request — refused on a standby (standby_ok
// false), validated here, audited with the operator's reason in the request's transaction —
// so the registry stays the single writer of everything operators change.
//
// Files (breakers.json, the whitelist) are replaced atomically (shared/files.h) from the writer
// thread before the audit entry commits; a request replayed after MDB_MAP_FULL writes the same
// bytes again, so the replay is harmless.
#include <string>

#include "breakers.h"
#include "files.h"
#include "json.h"
#include "message_table.h"
#include "ratelimit.h"
#include "util.h"

namespace rdv::registry {

namespace {

// ---- circuit breakers (ops-spec §9.4) ----

Outcome handle_breaker_set(Request& r) {
  std::string name(r.msg.str("name"));
  if (!breakers::valid_name(name)) return Outcome::fail("missing or invalid breaker name");
  std::string state_text(r.msg.str("state"));
  breakers::State to;
  if (state_text.size() > 64 || !breakers::parse_state(state_text, &to))
    return Outcome::fail("breaker set: unknown breaker state " + go_quote(state_text.substr(0, 64)));
  std::string reason(r.msg.str("reason"));
  if (reason.size() > breakers::kMaxReasonBytes)
    return Outcome::fail("breaker set: reason too long (max " + std::to_string(breakers::kMaxReasonBytes) + " bytes)");
  const std::string path = breakers_path(r.cfg.data_dir);
  breakers::Map map = registry_breakers().current(path);
  auto it = map.find(name);
  const char* from = breakers::state_name(it == map.end() ? breakers::State::Closed : it->second.state);
  map[name] = breakers::Breaker{to, reason};
  std::string err;
  if (!write_file_atomic(path, breakers::encode_file(map), 0644, true, &err)) return Outcome::fail("breaker set: " + err);
  registry_breakers().applied(path, map, r.now_ns / 1000000000);
  Write w(r);
  w.audit("breaker.set", 0, 0, {{"name", name}, {"from", from}, {"to", breakers::state_name(to)}, {"reason", reason}});
  return Outcome::ok(json_pack("{s:s,s:b,s:s}", "type", "breaker_set_ok", "ok", 1, "name", name.c_str()));
}

Outcome handle_breaker_delete(Request& r) {
  std::string name(r.msg.str("name"));
  if (!breakers::valid_name(name)) return Outcome::fail("missing or invalid breaker name");
  std::string reason(r.msg.str("reason"));
  if (reason.size() > breakers::kMaxReasonBytes)
    return Outcome::fail("breaker delete: reason too long (max " + std::to_string(breakers::kMaxReasonBytes) + " bytes)");
  const std::string path = breakers_path(r.cfg.data_dir);
  breakers::Map map = registry_breakers().current(path);
  auto it = map.find(name);
  const char* from = breakers::state_name(it == map.end() ? breakers::State::Closed : it->second.state);
  if (it != map.end()) {
    map.erase(it);
    std::string err;
    if (!write_file_atomic(path, breakers::encode_file(map), 0644, true, &err))
      return Outcome::fail("breaker delete: " + err);
    registry_breakers().applied(path, map, r.now_ns / 1000000000);
  }
  // Deleting keeps the name's counters (§9.1). An absent name is not an error: the result —
  // no breaker by that name — is what the operator asked for; the audit says it was closed.
  Write w(r);
  w.audit("breaker.delete", 0, 0, {{"name", name}, {"from", from}, {"reason", reason}});
  return Outcome::ok(json_pack("{s:s,s:b,s:s}", "type", "breaker_delete_ok", "ok", 1, "name", name.c_str()));
}

// The admin view's list (§9.4): configuration from the file, counters from this process.
Outcome handle_breakers_status(Request& r) {
  json_t* list = json_array();
  for (const BreakerStatus& s : registry_breakers().snapshot(breakers_path(r.cfg.data_dir))) {
    json_t* e = json_object();
    json_object_set_new(e, "name", json_stringn(s.name.data(), s.name.size()));
    json_object_set_new(e, "state", json_string(breakers::state_name(s.state)));
    if (!s.reason.empty()) json_object_set_new(e, "reason", json_stringn(s.reason.data(), s.reason.size()));
    if (s.configured && s.updated_at) json_object_set_new(e, "updated_at", json_integer(s.updated_at));
    json_object_set_new(e, "allowed_total", json_integer(json_int_t(s.allowed_total)));
    json_object_set_new(e, "denied_total", json_integer(json_int_t(s.denied_total)));
    if (s.last_denied_at) json_object_set_new(e, "last_denied_at", json_integer(s.last_denied_at));
    json_array_append_new(list, e);
  }
  return Outcome::ok(json_pack("{s:s,s:o}", "type", "breakers_status_ok", "breakers", list));
}

// ---- the banner (ops-spec §5.3 row 8) ----

constexpr std::string_view kBannerSetting = "banner";  // worker-admin/banner.h reads it
constexpr size_t kMaxBannerBytes = 8192;

Outcome handle_banner_set(Request& r) {
  if (!r.msg.has("banner") || r.msg.raw("banner").front() != '"') return Outcome::fail("banner required (a string)");
  std::string text(r.msg.str("banner"));
  if (text.size() > kMaxBannerBytes)
    return Outcome::fail("bad request: body too large (max " + std::to_string(kMaxBannerBytes) + " bytes)");
  // Stored even when empty: an operator's empty banner is a choice that -maintenance-banner
  // must not override after a restart.
  JsonPtr value(json_pack("{s:s#}", "banner", text.data(), int(text.size())));
  std::string before = r.view.setting(kBannerSetting);
  Write w(r);
  w.put_setting(kBannerSetting, json_dump_compact(value.get()));
  constexpr size_t kAuditExcerpt = 256;
  w.audit("banner.set", 0, 0, {{"length", std::to_string(text.size())}, {"banner", text.substr(0, kAuditExcerpt)},
                               {"cleared", text.empty() ? "true" : "false"}, {"first", before.empty() ? "true" : "false"}});
  return Outcome::ok(json_pack("{s:s,s:b}", "type", "banner_set_ok", "ok", 1));
}

// ---- the rate-limit whitelist (ops-spec §10.4) ----

// Where the registry's watcher (server.cc) reads the whitelist.
std::string whitelist_file(const Config& cfg) {
  return cfg.rate_limit_whitelist.empty() ? cfg.data_dir + "/rate-limit-whitelist.json" : cfg.rate_limit_whitelist;
}

// {"entries":[…],"reason"?}: validated with the watcher's own parser (REC of §10.4: an invalid
// set is refused here instead of being written and then ignored), written as a pretty-printed
// array for the watcher to apply at its next poll, audited whitelist.set.
Outcome handle_whitelist_set(Request& r) {
  std::string_view raw = r.msg.raw("entries");
  if (raw.empty() || raw.front() != '[') return Outcome::fail("bad request: entries required (an array of {cidr,rate})");
  if (raw.size() > WhitelistFile::kMaxBytes) return Outcome::fail("bad request: whitelist too large (max 1 MiB)");
  Whitelist parsed;
  std::string err;
  if (!parse_whitelist(raw, &parsed, &err)) return Outcome::fail("bad request: invalid whitelist: " + err);
  std::string reason(r.msg.str("reason"));
  if (reason.size() > 1024) return Outcome::fail("bad request: reason too long (max 1024 bytes)");
  // Re-parsed without Message's doubles, so integers stay integers in the file.
  JsonPtr doc(json_loadb(raw.data(), raw.size(), 0, nullptr));
  char* pretty = doc ? json_dumps(doc.get(), JSON_INDENT(2) | JSON_PRESERVE_ORDER) : nullptr;
  if (!pretty) return Outcome::fail("bad request: invalid whitelist: cannot re-encode it");
  std::string text = std::string(pretty) + "\n";
  free(pretty);
  if (!write_file_atomic(whitelist_file(r.cfg), text, 0644, true, &err)) return Outcome::fail("whitelist write: " + err);
  Write w(r);
  w.audit("whitelist.set", 0, 0, {{"count", std::to_string(parsed.size())}, {"reason", reason}});
  return Outcome::ok(json_pack("{s:s,s:b,s:I}", "type", "whitelist_set_ok", "ok", 1, "count", json_int_t(parsed.size())));
}

const MessageDesc kMessages[] = {
    {.type = "whitelist_set", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_whitelist_set, .change = ChangeType::Settings},
    {.type = "banner_set", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_banner_set, .change = ChangeType::Settings},
    {.type = "breaker_set", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_breaker_set, .change = ChangeType::Settings},
    {.type = "breaker_delete", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_breaker_delete, .change = ChangeType::Settings},
    {.type = "breakers_status", .access = Access::Read, .auth = Auth::Local, .standby_ok = true,
     .handler = handle_breakers_status},
};

}  // namespace

std::span<const MessageDesc> operator_messages() { return kMessages; }

}  // namespace rdv::registry
