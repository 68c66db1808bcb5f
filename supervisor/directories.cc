#include "directories.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "util.h"

namespace rdv::supervisor {

bool make_dirs(const std::string& path, std::string* error) {
  std::string partial;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    partial = path.substr(0, next);
    pos = next + 1;
    if (partial.empty()) continue;  // leading '/'
    if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      *error = sys_error("mkdir(" + partial + ") failed");
      return false;
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *error = sys_error("stat(" + path + ") failed");
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = path + " exists but is not a directory";
    return false;
  }
  return true;
}

bool check_private_directory(const std::string& flag, const std::string& path, std::string* error) {
  struct stat link;
  if (::lstat(path.c_str(), &link) != 0) {
    *error = flag + " " + path + ": " + sys_error("lstat() failed");
    return false;
  }
  if (S_ISLNK(link.st_mode) && link.st_uid != ::geteuid() && link.st_uid != 0) {
    *error = flag + " " + path + " is a symlink owned by uid " + std::to_string(link.st_uid) +
             ", not by this user or root, so its owner can point it at another directory; use the real "
             "directory (readlink -f " + path + ") or a link you own";
    return false;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *error = flag + " " + path + ": " + sys_error("stat() failed");
    return false;
  }
  if (st.st_mode & S_IWOTH) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    *error = flag + " " + path + " is writable by every user (mode " + mode +
             "), so anyone could replace the files and sockets in it; fix it with: chmod o-w " + path;
    return false;
  }
  return true;
}

}  // namespace rdv::supervisor
