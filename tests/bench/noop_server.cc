#include "tests/bench/noop_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "shared/util.h"
#include "shared/wire.h"

namespace rdv::bench {

std::string_view NoopServer::reply_body() {
  // The size and shape of a real lookup_ok for a private node with a hostname.
  static constexpr std::string_view kReply =
      R"({"type":"lookup_ok","node_id":4242,"address":"0:0000.0000.1092","networks":[0],)"
      R"("public_key":"GeC9TtqRjZ4CUwrlPHjp1uRBv+k8Z6y0ZJ0gJ3N6m2k=","public":false,)"
      R"("last_seen_unix":1764460000,"key_generation":0,"hostname":"bench-noop-4242"})";
  return kReply;
}

namespace {

// ---- child side: everything below runs only in the forked process ----

struct NoopConn {
  int fd = -1;
  event* rev = nullptr;
  event* wev = nullptr;
  std::string in;
  std::string out;
  size_t out_off = 0;
  bool write_armed = false;
  wire::Mode mode = wire::Mode::Undetected;
};

void noop_close(NoopConn* c) {
  if (c->rev) event_free(c->rev);
  if (c->wev) event_free(c->wev);
  ::close(c->fd);
  delete c;
}

// Returns false if the connection was closed.
bool noop_flush(NoopConn* c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (!c->write_armed) event_add(c->wev, nullptr);
      c->write_armed = true;
      return true;
    } else {
      noop_close(c);
      return false;
    }
  }
  c->out.clear();
  c->out_off = 0;
  if (c->write_armed) event_del(c->wev);
  c->write_armed = false;
  return true;
}

void noop_on_write(evutil_socket_t, short, void* arg) { noop_flush(static_cast<NoopConn*>(arg)); }

void noop_on_read(evutil_socket_t fd, short, void* arg) {
  NoopConn* c = static_cast<NoopConn*>(arg);
  char buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    noop_close(c);
    return;
  }
  if (n < 0) return;
  c->in.append(buf, size_t(n));
  size_t off = 0;
  while (true) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(c->in.data()) + off;
    wire::Decoded d = wire::decode_next(c->mode, p, c->in.size() - off, wire::kMaxMessageSize);
    if (d.status == wire::DecodeStatus::NeedMore) break;
    if (d.status != wire::DecodeStatus::Frame || c->mode != wire::Mode::Json) {
      noop_close(c);  // the reference speaks JSON mode only
      return;
    }
    wire::append_json_frame(c->out, NoopServer::reply_body());
    off += d.consumed;
  }
  c->in.erase(0, off);
  if (!c->out.empty()) noop_flush(c);
}

void noop_on_accept(evutil_socket_t lfd, short, void* arg) {
  event_base* base = static_cast<event_base*>(arg);
  for (int i = 0; i < 64; i++) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new NoopConn;
    c->fd = fd;
    c->rev = event_new(base, fd, EV_READ | EV_PERSIST, noop_on_read, c);
    c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, noop_on_write, c);
    event_add(c->rev, nullptr);
  }
}

[[noreturn]] void noop_child_main(int lfd) {
  event_base* base = event_base_new();
  if (!base) _exit(1);
  event* ev = event_new(base, lfd, EV_READ | EV_PERSIST, noop_on_accept, base);
  event_add(ev, nullptr);
  event_base_dispatch(base);
  _exit(0);
}

}  // namespace

bool NoopServer::start(std::string* error) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lfd < 0) {
    *error = sys_error("socket()");
    return false;
  }
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 4096) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    *error = sys_error("bind/listen noop server");
    ::close(lfd);
    return false;
  }
  port_ = ntohs(sa.sin_port);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = sys_error("fork()");
    ::close(lfd);
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    signal(SIGINT, SIG_IGN);  // the parent decides when we stop
    noop_child_main(lfd);
  }
  ::close(lfd);
  pid_ = pid;
  return true;
}

void NoopServer::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace rdv::bench
