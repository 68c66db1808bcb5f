// rendezvous-bench --dashboards N: what open live dashboards cost the admin worker's probes.
// CivetWeb holds a thread per connection, so a live dashboard (an /api/events stream) holds one
// for as long as it is open. This mode measures /healthz, /readyz and /metrics (sequential
// requests, one connection each, for a few seconds) with no stream open — the reference — and
// again with N streams open, each having received its first snapshot, and prints the latencies
// and the ratio of the rates.
#pragma once

#include <cstddef>
#include <string>

namespace rdv::bench {

int run_dashboards(const std::string& bin_dir, const std::string& tmp_root, size_t streams);

}  // namespace rdv::bench
