// The descriptor limit (RLIMIT_NOFILE). Every registry connection is a descriptor, so the
// soft limit a distribution starts services with (often 1024) caps -max-connections far below
// its default. The supervisor raises its soft limit to the hard one at start; the workers
// inherit it through fork/exec.
#pragma once

#include <cstdint>
#include <string>

namespace rdv {

struct FdLimit {
  uint64_t soft = 0;  // after the raise
  uint64_t hard = 0;  // UINT64_MAX when unlimited
  bool raised = false;  // the soft limit was below the hard one and setrlimit moved it
};

// Raises the soft RLIMIT_NOFILE to the hard one. Returns false with *error naming the failing
// call (the limits are then those in force; `out` holds them when getrlimit worked).
// Any thread; call before opening many descriptors.
bool raise_fd_limit(FdLimit* out, std::string* error);

// Descriptors a process needs besides its connections: listeners, the store, pipes, logs,
// the verify pool's notifier, outbound HTTP. A generous bound, for the start-up warning.
inline constexpr uint64_t kFdReserve = 64;

}  // namespace rdv
