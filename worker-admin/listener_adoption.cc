#include "worker-admin/listener_adoption.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>

#include "shared/util.h"

namespace rdv::admin {

namespace {

struct DirClose {
  void operator()(DIR* d) const { closedir(d); }
};

bool is_listening_socket(int fd) {
  int accepting = 0;
  socklen_t len = sizeof accepting;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting == 1;
}

// Local port of an AF_INET/AF_INET6 socket, or -1.
int local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

}  // namespace

bool check_inherited_listener(int fd, int* family, std::string* error) {
  std::string what = "listener fd " + std::to_string(fd);
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    *error = what + ": " + sys_error("getsockopt(SO_TYPE)") +
             " (the supervisor passes the HTTP listener as fd 4; is -http set?)";
    return false;
  }
  if (type != SOCK_STREAM) {
    *error = what + ": not a stream socket";
    return false;
  }
  if (!is_listening_socket(fd)) {
    *error = what + ": socket is not listening";
    return false;
  }
  sockaddr_storage ss{};
  len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    *error = what + ": " + sys_error("getsockname");
    return false;
  }
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
    *error = what + ": not a TCP/IP socket (family " + std::to_string(ss.ss_family) + ")";
    return false;
  }
  if (!set_cloexec(fd)) {
    *error = what + ": " + sys_error("fcntl(FD_CLOEXEC)");
    return false;
  }
  *family = ss.ss_family;
  return true;
}

bool list_open_fds(std::vector<int>* out, std::string* error) {
  out->clear();
  std::unique_ptr<DIR, DirClose> dir(opendir("/proc/self/fd"));
  if (!dir) {
    *error = "/proc/self/fd: " + sys_error("opendir");
    return false;
  }
  int own = dirfd(dir.get());
  errno = 0;
  while (dirent* e = readdir(dir.get())) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) out->push_back(fd);
  }
  if (errno != 0) {  // readdir returns null at the end and on an error; only errors set errno
    *error = "/proc/self/fd: " + sys_error("readdir");
    return false;
  }
  dir.reset();
  std::sort(out->begin(), out->end());
  return true;
}

int adopt_listener(const std::vector<int>& before, int inherited_fd, int port, std::string* error) {
  std::vector<int> now;
  if (!list_open_fds(&now, error)) return -1;
  int found = -1;
  for (int fd : now) {
    if (fd == inherited_fd || std::binary_search(before.begin(), before.end(), fd)) continue;
    if (!is_listening_socket(fd) || local_port(fd) != port) continue;
    if (found >= 0) {
      *error = "CivetWeb opened more than one listener on port " + std::to_string(port) + " (fds " +
               std::to_string(found) + " and " + std::to_string(fd) + ")";
      return -1;
    }
    found = fd;
  }
  if (found < 0) {
    *error = "cannot find CivetWeb's listening socket on 127.0.0.1:" + std::to_string(port);
    return -1;
  }
  if (dup2(inherited_fd, found) < 0) {
    *error = "listener fd " + std::to_string(inherited_fd) + ": " + sys_error("dup2");
    return -1;
  }
  if (!set_cloexec(found)) {
    *error = "listener fd " + std::to_string(found) + ": " + sys_error("fcntl(FD_CLOEXEC)");
    return -1;
  }
  return found;
}

}  // namespace rdv::admin
