// The replication role an operator last chose, kept in `<data-dir>/role`.
//
// `-standby HOST:PORT` gives the role an instance starts with. Promotion, demotion and
// fencing change it at run time, and must survive a restart: a promoted standby that comes
// back as the standby of its dead leader would refuse every write. So the replicator writes
// the decision here (atomically, through shared/files.h), and the supervisor applies the file
// over the flags at every start and SIGHUP, with a log line when they differ. Delete the file
// to go back to the flags.
//
// Content: one line, "rendezvous role leader", "rendezvous role standby HOST:PORT" or
// "rendezvous role fenced" (a leader that learned of a higher epoch and knows no leader to
// follow: it refuses writes until an operator promotes or demotes it). Anything else is a
// corrupt file, refused by name.
#pragma once

#include <string>
#include <string_view>

namespace rdv {

struct Config;

inline constexpr const char* kRoleFileName = "role";

struct Role {
  enum class Kind { Leader, Standby, Fenced };
  Kind kind = Kind::Leader;
  std::string leader;  // Standby only: host:port of the leader's registry

  bool operator==(const Role&) const = default;
};
const char* role_name(Role::Kind kind);  // "leader", "standby", "fenced"

bool parse_role_text(std::string_view text, Role* role, std::string* error);
std::string format_role_text(const Role& role);

// Reads `<dir>/role`; a missing file is *exists = false. False with a message naming the file
// on a link, a non-regular file or bad content.
bool read_role_file(const std::string& dir, Role* role, bool* exists, std::string* error);
// Durably replaces `<dir>/role`.
bool write_role_file(const std::string& dir, const Role& role, std::string* error);

// The role a configuration describes (-standby and the fenced mark), and the reverse.
Role role_of(const Config& cfg);
void set_role(Config& cfg, const Role& role);

// Applies `<data-dir>/role`, when present, over the flags in `cfg`. *note says what changed
// (empty when the file agrees or is missing). False with *error on an unreadable file.
bool apply_role_file(Config& cfg, std::string* note, std::string* error);

}  // namespace rdv
