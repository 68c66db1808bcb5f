#include "fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstdint>

#include "util.h"

namespace rdv {

bool raise_fd_limit(FdLimit* out, std::string* error) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    *error = sys_error("getrlimit(RLIMIT_NOFILE) failed");
    return false;
  }
  auto value = [](rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : uint64_t(v); };
  out->soft = value(rl.rlim_cur);
  out->hard = value(rl.rlim_max);
  out->raised = false;
  if (rl.rlim_cur == rl.rlim_max) return true;
  rlimit want = rl;
  want.rlim_cur = rl.rlim_max;
  // An unlimited hard limit is not a valid soft RLIMIT_NOFILE on Linux (EPERM above
  // fs.nr_open): fall back to nr_open's usual default.
  if (want.rlim_cur == RLIM_INFINITY) want.rlim_cur = 1048576;
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    *error = sys_error("setrlimit(RLIMIT_NOFILE) failed");
    return false;
  }
  out->soft = value(want.rlim_cur);
  out->raised = true;
  return true;
}

}  // namespace rdv
