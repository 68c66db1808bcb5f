#include "listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

#include "log.h"

namespace rdv::supervisor {
namespace {

constexpr int kBacklog = 65535;  // the kernel clamps to net.core.somaxconn

// socket + options + bind + listen for one resolved address. On failure returns an invalid fd
// with *error naming the call; *err_no keeps errno for the caller's fallback decision.
UniqueFd bind_one(const sockaddr* sa, socklen_t len, bool dual_stack, std::string* error, int* err_no) {
  UniqueFd fd(::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *err_no = errno;
    *error = sys_error("socket() failed");
    return {};
  }
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    *err_no = errno;
    *error = sys_error("setsockopt(SO_REUSEADDR) failed");
    return {};
  }
  if (sa->sa_family == AF_INET6) {
    int v6only = dual_stack ? 0 : 1;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
      *err_no = errno;
      *error = sys_error("setsockopt(IPV6_V6ONLY) failed");
      return {};
    }
  }
  if (::bind(fd.get(), sa, len) != 0) {
    *err_no = errno;
    *error = sys_error("bind() failed");
    return {};
  }
  if (::listen(fd.get(), kBacklog) != 0) {
    *err_no = errno;
    *error = sys_error("listen() failed");
    return {};
  }
  return fd;
}

bool is_listening_tcp(int fd) {
  int type = 0, accepting = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof accepting;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) return false;
  sockaddr_storage ss{};
  len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

int configured_port(const std::string& addr) {
  std::string host;
  int port = -1;
  if (addr.empty() || !split_host_port(addr, &host, &port)) return -1;
  return port;
}

}  // namespace

std::string socket_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char ip[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "";
}

int socket_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

UniqueFd bind_listener(const std::string& addr, std::string* bound, std::string* error, bool ipv4_for_any) {
  std::string host;
  int port = 0;
  if (!split_host_port(addr, &host, &port)) {
    *error = "\"" + addr + "\" is not host:port";
    return {};
  }
  int err_no = 0;
  UniqueFd fd;
  if (host.empty() && ipv4_for_any) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_ANY);
    in.sin_port = htons(uint16_t(port));
    fd = bind_one(reinterpret_cast<sockaddr*>(&in), sizeof in, false, error, &err_no);
  } else if (host.empty() || host == "::") {
    // Every interface: one dual-stack IPv6 socket, or IPv4 only when the host has no IPv6.
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_addr = in6addr_any;
    in6.sin6_port = htons(uint16_t(port));
    fd = bind_one(reinterpret_cast<sockaddr*>(&in6), sizeof in6, true, error, &err_no);
    if (!fd && host.empty() &&
        (err_no == EAFNOSUPPORT || err_no == EADDRNOTAVAIL || err_no == EPROTONOSUPPORT)) {
      log_info("no IPv6 on this host; listening on IPv4 only", {{"addr", addr}, {"reason", *error}});
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_addr.s_addr = htonl(INADDR_ANY);
      in.sin_port = htons(uint16_t(port));
      fd = bind_one(reinterpret_cast<sockaddr*>(&in), sizeof in, false, error, &err_no);
    }
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0) {
      *error = "getaddrinfo(" + host + ") failed: " + gai_strerror(rc);
      return {};
    }
    for (addrinfo* ai = res; ai && !fd; ai = ai->ai_next)
      fd = bind_one(ai->ai_addr, ai->ai_addrlen, false, error, &err_no);
    ::freeaddrinfo(res);
  }
  if (!fd) {
    *error += " (" + addr + ")";
    return {};
  }
  *bound = socket_address(fd.get());
  return fd;
}

SetupStatus setup_listeners(const Config& cfg, Listeners* out, std::string* error) {
  char** names = nullptr;
  // unset_environment = 1: the workers must not see LISTEN_FDS/LISTEN_PID.
  int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) {
    *error = sys_error("sd_listen_fds_with_names() failed", -n);
    return SetupStatus::SystemError;
  }
  const int registry_port = configured_port(cfg.registry_addr);
  const int admin_port = configured_port(cfg.http);
  SetupStatus status = SetupStatus::Ok;
  for (int i = 0; i < n; i++) {
    UniqueFd fd(SD_LISTEN_FDS_START + i);  // owned from here on, even when rejected
    std::string name = names && names[i] ? names[i] : "";
    if (status != SetupStatus::Ok) continue;
    if (!is_listening_tcp(fd.get())) {
      *error = "socket activation: fd " + std::to_string(fd.get()) + " (" + name +
               ") is not a listening TCP socket";
      status = SetupStatus::ConfigError;
      continue;
    }
    const int port = socket_port(fd.get());
    UniqueFd* slot = nullptr;
    const char* role = nullptr;
    if (name == "registry" || (name != "admin" && name != "http" && port == registry_port)) {
      slot = &out->registry;
      role = "registry";
    } else if (!cfg.http.empty() &&
               (name == "admin" || name == "http" || port == admin_port)) {
      slot = &out->admin;
      role = "admin";
    }
    if (!slot) {
      *error = "socket activation: socket " + socket_address(fd.get()) + " (fd " + std::to_string(fd.get()) +
               ", name \"" + name + "\") matches neither registry-addr " + cfg.registry_addr +
               (cfg.http.empty() ? std::string(" (and -http is not set)") : " nor http " + cfg.http);
      status = SetupStatus::ConfigError;
      continue;
    }
    if (slot->valid()) {
      *error = std::string("socket activation: two sockets for the ") + role + " listener";
      status = SetupStatus::ConfigError;
      continue;
    }
    if (!set_nonblocking(fd.get()) || !set_cloexec(fd.get())) {
      *error = sys_error("fcntl() failed on a socket-activated fd");
      status = SetupStatus::SystemError;
      continue;
    }
    std::string addr = socket_address(fd.get());
    log_info("listening (socket activation)", {{"role", role}, {"addr", addr}, {"name", name}});
    (role[0] == 'r' ? out->registry_addr : out->admin_addr) = addr;
    *slot = std::move(fd);
  }
  if (names) {
    for (int i = 0; i < n; i++) std::free(names[i]);
    std::free(names);
  }
  if (status != SetupStatus::Ok) return status;

  if (!out->registry.valid()) {
    std::string err;
    out->registry = bind_listener(cfg.registry_addr, &out->registry_addr, &err);
    if (!out->registry) {
      *error = "registry listener: " + err;
      return SetupStatus::SystemError;
    }
    log_info("listening", {{"role", "registry"}, {"addr", out->registry_addr}});
  }
  if (!cfg.http.empty() && !out->admin.valid()) {
    std::string err;
    out->admin = bind_listener(cfg.http, &out->admin_addr, &err, /*ipv4_for_any=*/true);
    if (!out->admin) {
      *error = "admin listener: " + err;
      return SetupStatus::SystemError;
    }
    log_info("listening", {{"role", "admin"}, {"addr", out->admin_addr}});
  }
  return SetupStatus::Ok;
}

}  // namespace rdv::supervisor
