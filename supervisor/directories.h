// The data and run directories: created when missing, and refused when another user could
// write into them (ops hazard: a world-writable run dir lets anyone replace the registry's
// command socket or the metrics page; a world-writable data dir, the LMDB files).
//
// Process rules: supervisor only, at start-up, before any worker is spawned.
#pragma once

#include <string>

namespace rdv::supervisor {

// mkdir -p with mode 0750 for the components it creates; existing directories are kept as
// they are. Returns false with *error naming the call and the path.
bool make_dirs(const std::string& path, std::string* error);

// Checks that `path` (the value of the flag `flag`, e.g. "run-dir") is a directory that no
// other user can write to:
//   * if `path` itself is a symlink, it must be owned by us or by root (someone else's link
//     could be repointed at a directory of their choosing between two starts);
//   * the directory it names must not be world-writable (S_IWOTH).
// Returns true when it is fine; otherwise false with *error naming the flag, the directory,
// why, and how to fix it ("chmod o-w …"). A failing stat is reported by the call's name.
bool check_private_directory(const std::string& flag, const std::string& path, std::string* error);

}  // namespace rdv::supervisor
