#include "tests/bench/server_process.h"

#include <arpa/inet.h>
#include <cmath>
#include <cstdlib>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "shared/util.h"
#include "tests/bench/loadgen.h"

namespace rdv::bench {

std::string make_temp_dir(const std::string& root, std::string* error) {
  std::string templ = root + "/rendezvous-bench.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    *error = sys_error("mkdtemp(" + templ + ")");
    return "";
  }
  return buf.data();
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}
}  // namespace

void remove_tree(const std::string& path) {
  if (path.empty() || path == "/") return;
  nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

uint16_t free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  ::close(fd);
  return port;
}

bool ServerProcess::start(const std::string& bin_dir, const std::string& dir,
                          std::string* error) {
  dir_ = dir;
  data_dir_ = dir + "/data";
  std::string run_dir = dir + "/run";
  log_path_ = dir + "/server.log";
  if ((::mkdir(data_dir_.c_str(), 0700) != 0 && errno != EEXIST) ||
      (::mkdir(run_dir.c_str(), 0700) != 0 && errno != EEXIST)) {
    *error = sys_error("mkdir(" + data_dir_ + ")");
    return false;
  }
  const std::string whitelist = data_dir_ + "/rate-limit-whitelist.json";
  if (limits == Limits::Whitelisted) {
    std::ofstream wl(whitelist);
    wl << "[{\"cidr\":\"127.0.0.0/8\",\"rate\":100000000}]\n";
    wl.close();
    if (!wl) {
      *error = "could not write " + whitelist;
      return false;
    }
  }
  registry_port_ = free_tcp_port();
  http_port_ = free_tcp_port();
  if (registry_port_ == 0 || http_port_ == 0 || registry_port_ == http_port_) {
    *error = "could not find free loopback ports";
    return false;
  }
  std::string exe = bin_dir + "/rendezvous";
  if (::access(exe.c_str(), X_OK) != 0) {
    *error = sys_error("access(" + exe + ")");
    return false;
  }
  std::vector<std::string> args = {exe,
                                    "-registry-addr", "127.0.0.1:" + std::to_string(registry_port_),
                                    "-http", "127.0.0.1:" + std::to_string(http_port_),
                                    "-data-dir", data_dir_,
                                    "-run-dir", run_dir,
                                    "-admin-token", kAdminToken,
                                    "-log-level", log_level.c_str(),
                                    "-stale-threshold", "30m"};
  if (limits == Limits::Whitelisted) {
    args.insert(args.end(), {"-rate-limit-whitelist", whitelist});
  } else {
    args.insert(args.end(), {"-rate-limit-global", "0", "-rate-limit-per-ip", "0",
                             "-rate-limit-per-conn", "0"});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Appended, so a restarted server's log follows the previous run's.
  UniqueFd log(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) {
    *error = sys_error("open(" + log_path_ + ")");
    return false;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = sys_error("fork()");
    return false;
  }
  if (pid == 0) {
    // Own process group, so a terminal ^C reaches only the bench, which then stops the server
    // in order; dies with the bench if the bench is killed.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    for (auto& kv : extra_env) {
      size_t eq = kv.find('=');
      if (eq != std::string::npos) setenv(kv.substr(0, eq).c_str(), kv.c_str() + eq + 1, 1);
    }
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before we might signal it
  pid_ = pid;
  stopped_.clear();
  return true;
}

std::string ServerProcess::log_tail(size_t max_bytes) const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "…" + s.substr(s.size() - max_bytes);
  return s;
}

bool ServerProcess::wait_ready(double timeout_s, std::string* error) {
  int64_t limit = mono_now_ns() + int64_t(timeout_s * 1e9);
  std::string last;
  while (mono_now_ns() < limit && !g_interrupted) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      *error = "rendezvous exited during start-up (" +
               std::string(WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                             : "signal " + std::to_string(WTERMSIG(status))) +
               "); log:\n" + log_tail(2000);
      return false;
    }
    int fd = connect_loopback("127.0.0.1", registry_port_, &last);
    if (fd >= 0) {
      std::string reply;
      bool ok = blocking_rpc(fd, R"({"type":"lookup","node_id":1})", &reply, 1000, &last);
      ::close(fd);
      if (ok) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = "registry did not answer within " + std::to_string(int(timeout_s)) + " s (last: " +
           last + "); log:\n" + log_tail(2000);
  return false;
}

std::string ServerProcess::stop() {
  if (pid_ <= 0) return stopped_;
  kill(pid_, SIGTERM);
  stopped_.clear();
  int status = 0;
  int64_t limit = mono_now_ns() + 15LL * 1000000000;
  bool reaped = false;
  while (mono_now_ns() < limit) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!reaped) {
    kill(-pid_, SIGKILL);  // the group we created: the supervisor and its workers
    waitpid(pid_, &status, 0);
    stopped_ = "did not stop within 15 s of SIGTERM; SIGKILLed";
  } else {
    stopped_ = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                 : "signal " + std::to_string(WTERMSIG(status));
    if (kill(-pid_, 0) == 0) {
      // The supervisor is gone but part of its group is still alive: a worker it failed to
      // stop. Give it a moment, then kill what is left of the group we created.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (kill(-pid_, SIGKILL) == 0) stopped_ += "; leftover workers SIGKILLed";
    }
  }
  pid_ = -1;
  return stopped_;
}

std::string http_get_local(uint16_t port, const std::string& path, int timeout_s) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, size_t(n));
    }
  }
  ::close(fd);
  return response;
}

double ServerProcess::metric(const std::string& name) const {
  if (pid_ <= 0 || http_port_ == 0) return NAN;
  std::string body = http_get_local(http_port_, "/metrics", 2);
  std::string needle = "\n" + name + " ";
  size_t at = body.find(needle);
  if (at == std::string::npos) return NAN;
  return std::strtod(body.c_str() + at + needle.size(), nullptr);
}

bool OwnServer::start(const std::string& bin_dir, const std::string& tmp_root) {
  std::string err;
  dir_ = make_temp_dir(tmp_root, &err);
  if (dir_.empty()) {
    fprintf(stderr, "rendezvous-bench: %s\n", err.c_str());
    return false;
  }
  if (!server.start(bin_dir, dir_, &err) || !server.wait_ready(30, &err)) {
    fprintf(stderr, "rendezvous-bench: server: %s\n", err.c_str());
    finish(1);  // with the log's tail
    return false;
  }
  return true;
}

int OwnServer::finish(int rc) {
  if (dir_.empty()) return rc;
  if (server.pid() > 0) {
    std::string how = server.stop();
    printf("server under test stopped: %s\n", how.c_str());
    if (rc != 0) fprintf(stderr, "rendezvous-bench: server log tail:\n%s\n", server.log_tail(4000).c_str());
  }
  remove_tree(dir_);
  dir_.clear();
  return rc;
}

}  // namespace rdv::bench
