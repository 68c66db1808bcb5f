#include "breakers.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cctype>

#include "files.h"
#include "json.h"
#include "log.h"
#include "util.h"

namespace rdv::breakers {

namespace {

std::string lower_trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One entry of either shape; false (skipped) for a bad name or state.
bool add_entry(std::string_view name, const json_t* obj, Map* out, std::vector<std::string>* skipped) {
  State st;
  const json_t* state = json_object_get(obj, "state");
  if (!valid_name(name) || !json_is_object(obj) || (state && !json_is_string(state)) ||
      !parse_state(state ? json_string_value(state) : "", &st)) {
    if (skipped) skipped->emplace_back(name.substr(0, kMaxNameBytes));
    return false;
  }
  Breaker b;
  b.state = st;
  b.reason = std::string(json_str(obj, "reason").substr(0, kMaxReasonBytes));
  (*out)[std::string(name)] = std::move(b);
  return true;
}

}  // namespace

const char* state_name(State s) {
  switch (s) {
    case State::Closed: return "closed";
    case State::HalfOpen: return "half_open";
    case State::Open: return "open";
  }
  return "closed";
}

bool parse_state(std::string_view text, State* out) {
  std::string t = lower_trimmed(text);
  if (t.empty() || t == "closed") *out = State::Closed;
  else if (t == "half_open" || t == "half-open" || t == "halfopen") *out = State::HalfOpen;
  else if (t == "open") *out = State::Open;
  else return false;
  return true;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name)
    if (c <= ' ' || c > '~' || c == '/') return false;
  return true;
}

bool parse_file(std::string_view text, Map* out, std::string* error, std::vector<std::string>* skipped) {
  out->clear();
  json_error_t jerr;
  JsonPtr root(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &jerr));
  if (!root) {
    *error = std::string("invalid JSON: ") + jerr.text;
    return false;
  }
  if (!json_is_object(root.get())) {
    *error = "breakers file must be a JSON object";
    return false;
  }
  const json_t* list = json_object_get(root.get(), "breakers");
  if (json_is_array(list) && json_object_size(root.get()) == 1) {
    size_t i;
    const json_t* item;
    json_array_foreach(list, i, item) add_entry(json_str(item, "name"), item, out, skipped);
    return true;
  }
  const char* name;
  const json_t* value;
  json_object_foreach(const_cast<json_t*>(root.get()), name, value) add_entry(name, value, out, skipped);
  return true;
}

std::string encode_file(const Map& map) {
  JsonPtr root(json_object());
  for (const auto& [name, b] : map) {
    json_t* e = json_object();
    json_object_set_new(e, "state", json_string(state_name(b.state)));
    if (!b.reason.empty()) json_object_set_new(e, "reason", json_stringn(b.reason.data(), b.reason.size()));
    json_object_set_new(root.get(), name.c_str(), e);
  }
  char* s = json_dumps(root.get(), JSON_INDENT(2) | JSON_SORT_KEYS);
  std::string text = s ? s : "{}";
  free(s);
  return text + "\n";
}

std::string_view breaker_for_type(std::string_view type) {
  struct Row {
    std::string_view type, breaker;
  };
  static constexpr Row kRows[] = {
      {"register", "registry.register"},
      {"heartbeat", "registry.heartbeat"},
      {"lookup", "registry.resolve"},
      {"resolve", "registry.resolve"},
      {"resolve_hostname", "registry.resolve"},
      {"list_networks", "registry.resolve"},
      {"list_nodes", "registry.resolve"},
      {"punch", "registry.punch"},
      {"deregister", "registry.deregister"},
      {"report_trust", "registry.trust"},
      {"revoke_trust", "registry.trust"},
      {"check_trust", "registry.trust"},
      {"request_handshake", "registry.handshake"},
      {"poll_handshakes", "registry.handshake"},
      {"respond_handshake", "registry.handshake"},
      {"invite_to_network", "registry.invite"},
      {"poll_invites", "registry.invite"},
      {"respond_invite", "registry.invite"},
      {"create_network", "registry.network_admin"},
      {"delete_network", "registry.network_admin"},
      {"join_network", "registry.network_admin"},
      {"leave_network", "registry.network_admin"},
      {"rename_network", "registry.network_admin"},
      {"beacon_register", "registry.beacon_register"},
      {"beacon_list", "registry.beacon_register"},
  };
  for (const Row& r : kRows)
    if (r.type == type) return r.breaker;
  return {};
}

std::string denial_text(std::string_view name, std::string_view reason) {
  std::string t = "service unavailable: breaker " + go_quote(name) + " is open";
  if (!reason.empty()) t += " (" + std::string(reason) + ")";
  return t;
}

FileWatch::Change FileWatch::poll(const std::string& path, Map* map, int64_t* mtime_unix, std::string* error,
                                  std::vector<std::string>* skipped) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      if (!present_) return Change::None;
      present_ = false;
      mtime_ns_ = size_ = -1;
      map->clear();
      return Change::Cleared;
    }
    *error = call_failed("lstat", path, errno);
    return Change::Failed;
  }
  int64_t mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (present_ && mtime_ns == mtime_ns_ && int64_t(st.st_size) == size_ && uint64_t(st.st_ino) == inode_)
    return Change::None;
  // Remember the identity even when the content is bad, so a bad file is reported once.
  present_ = true;
  mtime_ns_ = mtime_ns;
  size_ = int64_t(st.st_size);
  inode_ = uint64_t(st.st_ino);
  std::string text;
  bool exists = false;
  if (!read_small_file(path, kMaxFileBytes, &text, &exists, error)) return Change::Failed;
  if (!exists) {
    present_ = false;
    map->clear();
    return Change::Cleared;
  }
  Map fresh;
  if (!parse_file(text, &fresh, error, skipped)) return Change::Failed;
  *map = std::move(fresh);
  if (mtime_unix) *mtime_unix = int64_t(st.st_mtim.tv_sec);
  return Change::Loaded;
}

bool FileBreakers::allows(const std::string& path, std::string_view name, std::string* reason) {
  std::lock_guard lock(mutex_);
  int64_t now = mono_now_ns();
  if (path != path_) {
    path_ = path;
    watch_ = FileWatch();
    map_.clear();
    next_poll_ns_ = 0;
  }
  if (now >= next_poll_ns_) {
    next_poll_ns_ = now + kPollNs;
    std::string err;
    Map fresh;
    switch (watch_.poll(path_, &fresh, nullptr, &err)) {
      case FileWatch::Change::Loaded: map_ = std::move(fresh); break;
      case FileWatch::Change::Cleared: map_.clear(); break;
      case FileWatch::Change::Failed: log_warn("breakers parse failed; leaving previous map in place", {{"error", err}}); break;
      case FileWatch::Change::None: break;
    }
  }
  auto c = counters_.find(name);
  if (c == counters_.end()) c = counters_.emplace(std::string(name), Counters{}).first;
  auto it = map_.find(std::string(name));
  if (it == map_.end() || it->second.state != State::Open) {
    c->second.allowed++;
    return true;
  }
  c->second.denied++;
  c->second.last_denied_at = unix_now();
  if (reason) *reason = it->second.reason;
  return false;
}

std::vector<FileBreakers::Counted> FileBreakers::counted() {
  std::lock_guard lock(mutex_);
  std::vector<Counted> out;
  for (const auto& [name, c] : counters_) {
    Counted e;
    e.name = name;
    if (auto it = map_.find(name); it != map_.end()) e.breaker = it->second;
    e.allowed = c.allowed;
    e.denied = c.denied;
    e.last_denied_at = c.last_denied_at;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace rdv::breakers
