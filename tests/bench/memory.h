// rendezvous-bench --memory N: the registry at scale. Registers N nodes (unsigned, random
// keys: the cost measured is the store and the process, not Ed25519), then reports the
// registry worker's resident memory per node, a lookup's latency at that size, and how long a
// SIGKILLed registry worker takes to serve again (the supervisor restarts it).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace rdv::bench {

// A field of /proc/<pid>/status in KiB ("VmRSS:", "RssAnon:", "RssFile:"), or -1.
long rss_kib(pid_t pid, const char* field = "VmRSS:");
// The registry worker among the children of the supervisor `supervisor`, or -1.
pid_t registry_pid(pid_t supervisor);

int run_memory(const std::string& bin_dir, const std::string& tmp_root, size_t nodes);

}  // namespace rdv::bench
