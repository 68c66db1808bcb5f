// rendezvous-bench --tls: what TLS on the registry port (-tls) costs, each figure beside a
// reference measured in the same run:
//
//   lookups     lookups over 64 established connections (2 client threads, closed loop, one
//               request in flight per connection, as the daemons' client does): over TLS on a
//               -tls server / the same client over plain TCP on a plain server.
//   handshakes  new connections per second, each a full TLS 1.3 handshake, one lookup and a
//               close, from 2 threads / full handshakes per second with both ends in one
//               thread over a memory BIO pair (this machine's raw handshake rate per core).
//   stall       lookup latency (median, p99, max) on 16 established TLS connections, alone and
//               while the handshake load runs: the handshakes must not hold the lookups up.
//
// No figure is asserted: a shared 2-core machine makes each of them noisy.
#pragma once

#include <string>

namespace rdv::bench {

struct TlsBenchOptions {
  std::string bin_dir = "build/bin";
  std::string tmp_root;
  double window_s = 5;
};

// Prints the section; 0 when every measurement could be made, 1 otherwise.
int run_tls_bench(const TlsBenchOptions& opt);

}  // namespace rdv::bench
