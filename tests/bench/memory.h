// rendezvous-bench --memory N: the registry at scale. Registers N nodes (unsigned, random
// keys: the cost measured is the store and the process, not Ed25519), then reports the
// registry worker's resident memory per node, a lookup's latency at that size, and how long a
// SIGKILLed registry worker takes to serve again (the supervisor restarts it).
#pragma once

#include <cstddef>
#include <string>

namespace rdv::bench {

int run_memory(const std::string& bin_dir, const std::string& tmp_root, size_t nodes);

}  // namespace rdv::bench
