#include "ipc.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "crypto.h"
#include "log.h"
#include "util.h"
#include "wire.h"

namespace rdv::ipc {

bool send_msg(int fd, const json_t* msg) {
  std::string s = json_dump_compact(msg);
  for (;;) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    return false;
  }
}

bool send_op(int fd, const char* op) {
  JsonPtr m(json_pack("{s:s}", "op", op));
  return send_msg(fd, m.get());
}

JsonPtr recv_msg(int fd, bool* eof) {
  *eof = false;
  // Reused per thread: a fresh megabyte per message would be zero-filled on every ping.
  thread_local std::vector<char> buf(kMaxControlMessage);
  ssize_t n;
  do {
    n = ::recv(fd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    *eof = true;
    return nullptr;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) *eof = true;
    return nullptr;
  }
  json_error_t err;
  JsonPtr j(json_loadb(buf.data(), size_t(n), 0, &err));
  if (!j || !json_is_object(j.get())) {
    log_warn("control: malformed message ignored", {{"error", err.text}});
    return nullptr;
  }
  return j;
}

std::string registry_socket_path(const std::string& run_dir) { return run_dir + "/registry.sock"; }
std::string registry_metrics_path(const std::string& run_dir) { return run_dir + "/metrics-registry"; }
std::string workers_file_path(const std::string& run_dir) { return run_dir + "/workers.json"; }
std::string replicator_socket_path(const std::string& run_dir) { return run_dir + "/replicator.sock"; }

JsonPtr registry_call(const std::string& run_dir, const json_t* request, int timeout_ms, std::string* error) {
  return unix_call(registry_socket_path(run_dir), request, timeout_ms, error);
}

bool send_with_fd(int sock, std::string_view data, int fd) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  ssize_t n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
  if (n < 0) return false;
  if (size_t(n) != data.size()) {
    errno = EMSGSIZE;
    return false;
  }
  return true;
}

ssize_t recv_with_fd(int sock, std::string* data, size_t max, int* fd) {
  *fd = -1;
  data->resize(max);
  iovec iov{data->data(), max};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  if (n < 0) {
    data->clear();
    return n;
  }
  data->resize(size_t(n));
  for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      std::memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      if (*fd < 0) *fd = got;
      else ::close(got);  // one descriptor per message: any extra is not ours to keep
    }
  }
  return n;
}

JsonPtr unix_call(const std::string& path, const json_t* request, int timeout_ms, std::string* error) {
  const std::string label = path.substr(path.rfind('/') + 1);  // "registry.sock", "replicator.sock"
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    *error = sys_error("socket");
    return nullptr;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    *error = "socket path too long: " + path;
    return nullptr;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    *error = path + ": " + sys_error("connect");
    return nullptr;
  }
  std::string out;
  wire::append_json_frame(out, json_dump_compact(request));
  int64_t deadline = mono_now_ns() + int64_t(timeout_ms) * 1000000;
  auto wait = [&](short events) {
    int64_t left_ms = (deadline - mono_now_ns()) / 1000000;
    if (left_ms <= 0) return false;
    pollfd p{fd.get(), events, 0};
    return ::poll(&p, 1, int(left_ms)) > 0;
  };
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += size_t(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait(POLLOUT)) {
        *error = label + ": write timed out";
        return nullptr;
      }
    } else {
      *error = label + ": " + sys_error("send");
      return nullptr;
    }
  }
  std::string in;
  // On the heap: callers include CivetWeb worker threads, whose stacks are small (the packaged
  // library sets a fixed stack size), and a 64 KiB array here overflowed one in json_dumps.
  std::vector<char> buf(65536);
  for (;;) {
    if (in.size() >= 4) {
      uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(in.data()));
      if (len > wire::kMaxMessageSize) {
        *error = label + ": reply too large";
        return nullptr;
      }
      if (in.size() >= 4 + size_t(len)) {
        json_error_t jerr;
        JsonPtr j(json_loadb(in.data() + 4, len, 0, &jerr));
        if (!j) *error = std::string(label + ": bad reply: ") + jerr.text;
        return j;
      }
    }
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n > 0) {
      in.append(buf.data(), size_t(n));
    } else if (n == 0) {
      *error = label + ": closed before replying";
      return nullptr;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait(POLLIN)) {
        *error = label + ": no reply in time";
        return nullptr;
      }
    } else {
      *error = label + ": " + sys_error("recv");
      return nullptr;
    }
  }
}

// ---- worker side ----

Config WorkerControl::boot(const char* name) {
  log_init(name);
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) log_warn(sys_error("signal(SIGPIPE) failed"));
  // Belt and braces with the EOF check: if the supervisor dies, the kernel sends SIGTERM.
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) log_warn(sys_error("prctl(PR_SET_PDEATHSIG) failed"));
  if (getppid() == 1) std::exit(kExitOk);  // supervisor already gone before prctl
  if (!set_cloexec(kControlFd)) log_warn(sys_error("fcntl(FD_CLOEXEC) failed on the control socket"));
  // The configuration is the supervisor's first message; wait for it whether or not the
  // socket was created non-blocking.
  pollfd pfd{kControlFd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, 10000);
  } while (ready < 0 && errno == EINTR);
  bool eof = false;
  JsonPtr msg = ready > 0 ? recv_msg(kControlFd, &eof) : nullptr;
  if (!msg) {
    log_error("no configuration from the supervisor (workers are started by rendezvous, not by hand)");
    std::exit(kExitConfig);
  }
  if (json_str(msg.get(), "op") != "config") fatal("first control message is not a configuration");
  Config cfg;
  std::string err;
  if (!cfg.from_json(json_object_get(msg.get(), "config"), &err)) fatal(err);
  LogLevel lvl;
  if (parse_log_level(cfg.log_level, &lvl)) log_set_level(lvl);
  log_set_format(cfg.log_format == "json" ? LogFormat::Json : LogFormat::Text);
  if (!crypto_init()) fatal("libsodium initialisation failed");
  return cfg;
}

WorkerControl::WorkerControl(event_base* base, Handlers h) : handlers_(std::move(h)) {
  // Non-blocking so on_readable can drain every queued datagram without stalling the loop.
  if (!set_nonblocking(kControlFd)) {
    log_error(sys_error("fcntl(O_NONBLOCK) failed on the control socket"));
    std::exit(kExitFailure);
  }
  ev_.reset(event_new(base, kControlFd, EV_READ | EV_PERSIST, &WorkerControl::on_readable, this));
  if (!ev_) {
    log_error("event_new(control socket) failed");
    std::exit(kExitFailure);
  }
  if (event_add(ev_.get(), nullptr) != 0) {
    log_error("event_add(control socket) failed");
    std::exit(kExitFailure);
  }
}

void WorkerControl::ready() {
  if (!send_op(kControlFd, "ready")) log_warn(sys_error("send(ready) failed on the control socket"));
}

void WorkerControl::status(std::string_view text) {
  JsonPtr m(json_pack("{s:s,s:s#}", "op", "status", "text", text.data(), int(text.size())));
  if (!send_msg(kControlFd, m.get())) log_warn(sys_error("send(status) failed on the control socket"));
}

bool WorkerControl::request_role(const Role& role) {
  JsonPtr m(json_pack("{s:s,s:s,s:s}", "op", "role", "role", role_name(role.kind), "leader", role.leader.c_str()));
  return send_msg(kControlFd, m.get());
}

bool WorkerControl::request_log_level(std::string_view level) {
  JsonPtr m(json_pack("{s:s,s:s#}", "op", "log_level", "level", level.data(), int(level.size())));
  return send_msg(kControlFd, m.get());
}

void WorkerControl::fatal(std::string_view message) {
  log_error("fatal", {{"error", message}});
  JsonPtr m(json_pack("{s:s,s:s#}", "op", "fatal", "message", message.data(), int(message.size())));
  // Best effort: the exit status 78 alone already stops the restarts.
  if (!send_msg(kControlFd, m.get())) log_warn(sys_error("send(fatal) failed on the control socket"));
  std::exit(kExitConfig);
}

void WorkerControl::on_readable(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<WorkerControl*>(arg);
  for (;;) {
    bool eof = false;
    JsonPtr msg = recv_msg(fd, &eof);
    if (eof) {
      log_info("supervisor gone; exiting");
      if (self->handlers_.on_supervisor_gone) self->handlers_.on_supervisor_gone();
      else std::exit(kExitOk);
      return;
    }
    if (!msg) return;
    std::string_view op = json_str(msg.get(), "op");
    if (op == "ping") {
      JsonPtr pong(json_pack("{s:s,s:O}", "op", "pong", "seq", json_object_get(msg.get(), "seq")));
      if (!send_msg(fd, pong.get())) log_warn(sys_error("send(pong) failed on the control socket"));
    } else if (op == "reload") {
      Config cfg;
      std::string err;
      if (!cfg.from_json(json_object_get(msg.get(), "config"), &err)) {
        log_warn("reload ignored", {{"error", err}});
        continue;
      }
      LogLevel lvl;
      if (parse_log_level(cfg.log_level, &lvl)) log_set_level(lvl);
      log_set_format(cfg.log_format == "json" ? LogFormat::Json : LogFormat::Text);
      if (self->handlers_.on_reload) self->handlers_.on_reload(cfg);
    } else if (op == "log_level") {
      // The supervisor's broadcast of an operator's change (admin API): this process only.
      LogLevel lvl;
      if (parse_log_level(json_str(msg.get(), "level"), &lvl)) {
        log_set_level(lvl);
        // At warn, so the line shows whatever the new level is (error aside).
        log_warn("log level changed by an operator", {{"level", log_level_name(lvl)}});
      }
    } else if (op == "role") {
      Role role;
      std::string why, text = "rendezvous role " + std::string(json_str(msg.get(), "role"));
      if (std::string_view leader = json_str(msg.get(), "leader"); !leader.empty()) text += " " + std::string(leader);
      if (!parse_role_text(text + "\n", &role, &why)) {
        log_warn("control: invalid role ignored", {{"error", why}});
        continue;
      }
      if (self->handlers_.on_role) self->handlers_.on_role(role);
    } else if (op == "peer_died") {
      if (self->handlers_.on_peer_died) self->handlers_.on_peer_died(json_str(msg.get(), "worker"));
    } else {
      log_debug("control: unknown op ignored", {{"op", op}});
    }
  }
}

}  // namespace rdv::ipc
