#include "spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

extern char** environ;

namespace rdv::supervisor {
namespace {

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool is_executable_file(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

// Environment variables meant for the supervisor alone.
bool private_to_supervisor(const char* entry) {
  static const char* const kPrefixes[] = {"NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_PID=",
                                          "LISTEN_FDNAMES=", "WATCHDOG_USEC=", "WATCHDOG_PID="};
  for (const char* p : kPrefixes)
    if (std::strncmp(entry, p, std::strlen(p)) == 0) return true;
  return false;
}

// Child side, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(int control_fd, int listener_fd, const char* binary, char* const argv[],
                             char* const envp[], const char* fail_prefix, size_t fail_prefix_len) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) ::sigaction(s, &dfl, nullptr);  // EINVAL for KILL/STOP: fine
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Move both fds above the target numbers first, so dup2 cannot clobber one with the other
  // (e.g. the control end happening to be fd 4). dup2 clears FD_CLOEXEC on the targets.
  int control = ::fcntl(control_fd, F_DUPFD_CLOEXEC, 10);
  int listener = listener_fd >= 0 ? ::fcntl(listener_fd, F_DUPFD_CLOEXEC, 10) : -1;
  int err = 0;
  if (control < 0 || (listener_fd >= 0 && listener < 0)) err = errno;
  else if (::dup2(control, kControlFd) < 0) err = errno;
  else if (listener >= 0 && ::dup2(listener, kListenerFd) < 0) err = errno;
  if (err == 0) {
    // Everything above our last fd goes, whatever its CLOEXEC flag (ENOSYS on old kernels:
    // then CLOEXEC alone protects us).
    ::close_range(listener >= 0 ? kListenerFd + 1 : kControlFd + 1, ~0U, 0);
    ::execve(binary, argv, envp);
    err = errno;
  }
  // Report and let the supervisor see exit status 127. strerrordesc_np is a table lookup
  // (no locale, no allocation), unlike strerror.
  const char* why = ::strerrordesc_np(err);
  if (!why) why = "unknown error";
  ssize_t ignored = ::write(STDERR_FILENO, fail_prefix, fail_prefix_len);
  ignored = ::write(STDERR_FILENO, why, std::strlen(why));
  ignored = ::write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  ::_exit(127);
}

}  // namespace

std::string find_worker_binary(const std::string& worker, std::string* error) {
  const std::string file = "rendezvous-" + worker;
  std::vector<std::string> dirs;
  if (const char* override_dir = std::getenv("RENDEZVOUS_LIBEXEC_DIR"); override_dir && *override_dir) {
    dirs.push_back(override_dir);
  } else {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) {
      *error = sys_error("readlink(/proc/self/exe) failed");
      return "";
    }
    buf[n] = '\0';
    std::string dir = dirname_of(buf);
    dirs.push_back(dir);
    dirs.push_back(dir + "/../lib/rendezvous");
  }
  std::string looked;
  for (auto& d : dirs) {
    std::string path = d + "/" + file;
    if (is_executable_file(path)) return path;
    looked += (looked.empty() ? "" : ", ") + path;
  }
  *error = "worker binary " + file + " not found (looked at " + looked +
           (std::getenv("RENDEZVOUS_LIBEXEC_DIR") ? "; set by RENDEZVOUS_LIBEXEC_DIR)" : ")");
  return "";
}

SpawnedWorker spawn_worker(const std::string& name, const std::string& binary, int listener_fd,
                           std::string* error) {
  SpawnedWorker out;
  int pair[2];
  // Both ends CLOEXEC; the child's end becomes fd 3 through dup2, which clears the flag. The
  // child's end stays blocking: the worker reads its configuration with a blocking recv.
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    *error = sys_error("socketpair() failed while spawning " + name);
    return out;
  }
  UniqueFd ours(pair[0]), theirs(pair[1]);
  if (!set_nonblocking(ours.get())) {
    *error = sys_error("fcntl(O_NONBLOCK) failed while spawning " + name);
    return out;
  }

  // Everything the child needs is prepared before fork: it may only call async-signal-safe
  // functions afterwards.
  std::string argv0 = "rendezvous-" + name;
  std::vector<char*> argv{argv0.data(), nullptr};
  std::vector<char*> envp;
  for (char** e = environ; e && *e; e++)
    if (!private_to_supervisor(*e)) envp.push_back(*e);
  envp.push_back(nullptr);
  std::string fail_prefix = "rendezvous: execve(" + binary + ") failed while spawning " + name + ": ";

  // Block signals across fork so no handler of the supervisor's event loop can run in the
  // child (it would write into the loop's signal pipe, shared with the parent).
  sigset_t all, old;
  sigfillset(&all);
  if (::sigprocmask(SIG_SETMASK, &all, &old) != 0) {
    *error = sys_error("sigprocmask() failed while spawning " + name);
    return out;
  }
  pid_t pid = ::fork();
  if (pid == 0)
    exec_child(theirs.get(), listener_fd, binary.c_str(), argv.data(), envp.data(), fail_prefix.data(),
               fail_prefix.size());
  int fork_errno = errno;
  // Cannot fail with a mask sigprocmask itself returned; asserted all the same, since a
  // supervisor left with every signal blocked would never see SIGCHLD or SIGTERM again.
  const int restored = ::sigprocmask(SIG_SETMASK, &old, nullptr);
  RDV_ASSERT(restored == 0);
  if (pid < 0) {
    *error = sys_error("fork() failed while spawning " + name, fork_errno);
    return out;
  }
  out.pid = pid;
  out.control = std::move(ours);
  return out;  // `theirs` closes here: only the child holds that end now
}

}  // namespace rdv::supervisor
