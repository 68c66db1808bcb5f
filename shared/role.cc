#include "role.h"

#include "config.h"
#include "files.h"

namespace rdv {

namespace {
constexpr std::string_view kPrefix = "rendezvous role ";
constexpr size_t kMaxRoleFile = 512;
}  // namespace

const char* role_name(Role::Kind kind) {
  switch (kind) {
    case Role::Kind::Leader: return "leader";
    case Role::Kind::Standby: return "standby";
    case Role::Kind::Fenced: return "fenced";
  }
  return "leader";
}

bool parse_role_text(std::string_view text, Role* role, std::string* error) {
  if (text.size() < 2 || text.back() != '\n' || text.substr(0, kPrefix.size()) != kPrefix) {
    *error = "expected one line \"rendezvous role leader|standby HOST:PORT|fenced\"";
    return false;
  }
  std::string_view rest = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
  if (rest.find('\n') != std::string_view::npos) {
    *error = "more than one line";
    return false;
  }
  Role r;
  if (rest == "leader") {
    r.kind = Role::Kind::Leader;
  } else if (rest == "fenced") {
    r.kind = Role::Kind::Fenced;
  } else if (rest.substr(0, 8) == "standby ") {
    r.kind = Role::Kind::Standby;
    r.leader = std::string(rest.substr(8));
    std::string host;
    int port;
    if (!split_host_port(r.leader, &host, &port) || host.empty() || port == 0) {
      *error = "standby leader \"" + r.leader.substr(0, 64) + "\" is not host:port";
      return false;
    }
  } else {
    *error = "unknown role \"" + std::string(rest.substr(0, 32)) + "\"";
    return false;
  }
  *role = std::move(r);
  return true;
}

std::string format_role_text(const Role& role) {
  std::string out(kPrefix);
  out += role_name(role.kind);
  if (role.kind == Role::Kind::Standby) out += " " + role.leader;
  return out + "\n";
}

bool read_role_file(const std::string& dir, Role* role, bool* exists, std::string* error) {
  const std::string path = dir + "/" + kRoleFileName;
  std::string text;
  if (!read_small_file(path, kMaxRoleFile, &text, exists, error)) return false;
  if (!*exists) return true;
  std::string why;
  if (!parse_role_text(text, role, &why)) {
    *error = path + ": " + why;
    return false;
  }
  return true;
}

bool write_role_file(const std::string& dir, const Role& role, std::string* error) {
  return write_file_atomic(dir + "/" + kRoleFileName, format_role_text(role), 0640, true, error);
}

Role role_of(const Config& cfg) {
  if (cfg.fenced) return {Role::Kind::Fenced, ""};
  if (!cfg.standby.empty()) return {Role::Kind::Standby, cfg.standby};
  return {};
}

void set_role(Config& cfg, const Role& role) {
  cfg.fenced = role.kind == Role::Kind::Fenced;
  cfg.standby = role.kind == Role::Kind::Standby ? role.leader : "";
}

bool apply_role_file(Config& cfg, std::string* note, std::string* error) {
  note->clear();
  Role role;
  bool exists = false;
  if (!read_role_file(cfg.data_dir, &role, &exists, error)) return false;
  if (!exists) return true;
  Role flags = role_of(cfg);
  if (flags != role) {
    *note = std::string("the role file says ") + role_name(role.kind) + (role.leader.empty() ? "" : " of " + role.leader) +
            " (an operator's promotion, demotion or a fence), the flags say " + role_name(flags.kind) +
            (flags.leader.empty() ? "" : " of " + flags.leader) + "; the role file wins (delete " + cfg.data_dir + "/" +
            kRoleFileName + " to follow the flags)";
  }
  set_role(cfg, role);
  return true;
}

}  // namespace rdv
