// Small building blocks every process uses: an owning fd, clocks, string helpers,
// and the exit codes that the supervisor interprets.
//
// Thread rules: everything here is safe to call from any thread.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unistd.h>

namespace rdv {

// Exit codes shared by every worker (s6-style: documented, uniform).
//   0  clean shutdown (SIGTERM or supervisor gone)
//   1  runtime failure: the supervisor restarts the worker with backoff
//  78  configuration or store error (EX_CONFIG): restarting cannot help, so the
//      supervisor stops and exits non-zero with the worker's message
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitConfig = 78;

// Well-known fd numbers in a worker, set up by the supervisor before exec.
inline constexpr int kControlFd = 3;   // SOCK_SEQPACKET to the supervisor
inline constexpr int kListenerFd = 4;  // the worker's listening socket, if it has one

// Move-only owner of a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// "<call>: <strerror(err)>" — nginx style: every syscall failure names the call.
inline std::string sys_error(std::string_view call, int err = errno) {
  std::string s(call);
  s += ": ";
  s += std::strerror(err);
  return s;
}

// "<call>() failed on <path>: <strerror(err)>", for file operations.
std::string call_failed(const char* call, const std::string& path, int err);
// fsync of a directory, so a file created or renamed in it is durable. False with *error.
bool fsync_directory(const std::string& dir, std::string* error);

// Wall clock (unix) and monotonic clock.
int64_t unix_now_ns();
inline int64_t unix_now() { return unix_now_ns() / 1000000000; }
int64_t mono_now_ns();

// RFC 3339 UTC with second precision: 2006-01-02T15:04:05Z.
std::string rfc3339_utc(int64_t unix_seconds);

// Go's %q of a string, for error texts the daemons' client shows as the Go server wrote them:
// quotes, backslash escapes for \" \\ and the C escapes, \xNN for other control bytes.
std::string go_quote(std::string_view s);

// Parse an RFC 3339 timestamp (Z or ±hh:mm offset, optional fraction). Returns false on
// anything else. Result in unix seconds (fraction dropped).
bool parse_rfc3339(std::string_view text, int64_t* unix_seconds);

// Parse a Go-style duration ("30m", "1h30m", "10s", "250ms", "1.5h"). Returns false on error.
bool parse_duration(std::string_view text, int64_t* nanoseconds);
std::string format_duration(int64_t nanoseconds);

// Sets O_NONBLOCK / FD_CLOEXEC. Return false and keep errno on failure.
bool set_nonblocking(int fd);
bool set_cloexec(int fd, bool on = true);

// Abort with file:line in the log: invariants, not input validation.
[[noreturn]] void assert_fail(const char* expr, const char* file, int line);
#define RDV_ASSERT(e) ((e) ? (void)0 : ::rdv::assert_fail(#e, __FILE__, __LINE__))

}  // namespace rdv
