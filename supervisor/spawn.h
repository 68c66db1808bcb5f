// Starting a worker process: finding its binary and fork+exec with exactly the fds it needs.
//
// A worker gets
//   fd 0-2  the supervisor's stdin/stdout/stderr (logs go to stderr, so to the journal)
//   fd 3    its end of a SOCK_SEQPACKET socketpair to the supervisor (kControlFd)
//   fd 4    its listening socket, when it has one (kListenerFd)
// and nothing else: every other fd of the supervisor is O_CLOEXEC, and the child also closes
// everything above its last fd before exec as a second line of defence. Signal mask and
// dispositions are reset to the defaults; the environment loses NOTIFY_SOCKET, LISTEN_* and
// WATCHDOG_* (only the supervisor talks to systemd). Workers stay in the supervisor's process
// group, so `kill -- -<pgid>` (and a terminal's Ctrl-C) reaches all of them; SIGINT reaches the
// supervisor before any worker can exit, so it never mistakes that for a crash.
//
// Process rules: supervisor only, from its loop thread.
#pragma once

#include <sys/types.h>

#include <string>

#include "util.h"

namespace rdv::supervisor {

// Where the worker binaries live: $RENDEZVOUS_LIBEXEC_DIR when set (and only there);
// otherwise the directory of /proc/self/exe, then <that>/../lib/rendezvous. Returns the full
// path of "rendezvous-<worker>" in the first directory that has it executable, or "" with
// *error listing where it looked.
std::string find_worker_binary(const std::string& worker, std::string* error);

struct SpawnedWorker {
  pid_t pid = -1;
  UniqueFd control;  // supervisor end of the control socketpair (non-blocking, CLOEXEC)
};

// fork+exec `binary` as worker `name`, passing `listener_fd` (or -1) as fd 4. On failure
// returns pid -1 with *error naming the failed call ("socketpair() failed while spawning
// registry: …"). A failed exec shows up later as the child's exit status 127.
SpawnedWorker spawn_worker(const std::string& name, const std::string& binary, int listener_fd,
                           std::string* error);

}  // namespace rdv::supervisor
