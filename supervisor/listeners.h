// The listening sockets, owned by the supervisor for its whole life. Workers inherit them as
// fd 4 (kListenerFd) and accept on them; because the supervisor keeps its copy open, a worker
// crash never closes a port: the kernel keeps queueing connections in the backlog until the
// restarted worker accepts them again.
//
// Two sources:
//   * bind_listener(): our own socket, bind and listen (SO_REUSEADDR, backlog 65535 — the
//     kernel clamps it to net.core.somaxconn —, O_NONBLOCK, O_CLOEXEC). A host-less address
//     (":9000") means every interface: [::] dual-stack (IPV6_V6ONLY=0), falling back to
//     0.0.0.0 when the host has no IPv6.
//   * take_activated_listeners(): sockets passed by systemd socket activation
//     (sd_listen_fds_with_names). Each is matched to its role by FileDescriptorName
//     ("registry", or "admin"/"http") or else by comparing its bound port with the configured
//     registry-addr / http port. A socket matching neither is a configuration error.
//
// Process rules: supervisor only, before any worker is spawned.
#pragma once

#include <string>

#include "config.h"
#include "util.h"

namespace rdv::supervisor {

struct Listeners {
  UniqueFd registry;  // always set after a successful setup
  UniqueFd admin;     // set only when cfg.http is non-empty
  std::string registry_addr;  // actual bound address, e.g. "[::]:9000", "127.0.0.1:41234"
  std::string admin_addr;
};

// Binds one TCP listener on `addr` ("host:port", host may be empty or a bracketed IPv6
// literal; port 0 picks a free port). Returns an invalid fd and sets *error (naming the failed
// call) on failure; *bound gets the actual address.
// `ipv4_for_any`: a host-less address binds 0.0.0.0 instead of [::] (the admin listener:
// Debian's CivetWeb is built without IPv6 and reports no peer address on IPv6 sockets, which
// would make every localhost-only route refuse everyone).
UniqueFd bind_listener(const std::string& addr, std::string* bound, std::string* error,
                       bool ipv4_for_any = false);

// The local address of a socket as "ip:port" / "[ipv6]:port", or "" when unknown.
std::string socket_address(int fd);
// The local port of a socket, or -1.
int socket_port(int fd);

enum class SetupStatus { Ok, ConfigError, SystemError };

// Takes systemd-activated sockets (if any), then binds whatever is still missing. On failure
// *error says why; ConfigError means restarting cannot help (exit kExitConfig), SystemError
// may be transient (e.g. address in use; exit kExitFailure).
SetupStatus setup_listeners(const Config& cfg, Listeners* out, std::string* error);

}  // namespace rdv::supervisor
