// rendezvous-bench --replication (also part of the default run): what replication costs and
// how fast it is, measured on pairs of real instances on loopback (docs/replication.md), each
// figure beside a reference measured in the same run:
//
//   catch-up      a leader loaded with N signed registrations at the load generator's full
//                 rate (the reference: the leader's own write rate), then a fresh standby:
//                 start → applied_seq = the leader's last_seq (full copy + records); then the
//                 standby stopped, M more records written, the standby restarted: records only.
//   lag           a rate-paced writer (fixed 10 ms steps) at 5 000 registrations/s for the
//                 window; the leader's lag_records and lag_seconds for its standby sampled every
//                 100 ms (median, p99, max), on an asynchronous pair and on a -repl-sync pair.
//   sync cost     registrations at full rate (closed loop) on the sync pair / the same on the
//                 async pair.
//   promotion     fresh pairs: SIGKILL of the leader (or nothing: the leader keeps running),
//                 `promote` on the standby's replicator.sock, then registers retried in a tight
//                 loop on the standby's registry port until one is accepted; promote's took_ms
//                 and kill → first accepted write, over a few trials (median, max).
//   reads         lookups at 64 connections on the standby / the same on the leader (same nodes).
//
// No figure is asserted: a shared 2-core machine makes every one of them noisy.
#pragma once

#include <cstddef>
#include <string>

namespace rdv::bench {

struct ReplicationOptions {
  std::string bin_dir = "build/bin";
  std::string tmp_root;         // the temp dir goes here (<root>/rendezvous-bench.XXXXXX)
  double window_s = 5;          // lag sampling window, and each timed cell (after 0.5 s warm-up)
  size_t load_records = 50000;  // N: the leader's records before the fresh standby starts
  size_t gap_records = 20000;   // M: written while the standby is stopped
  double paced_rate = 5000;     // registrations/s of the lag measurement
  int connections = 64;         // closed-loop writers and the lookup cells
  int threads = 1;              // load-generator threads
  int promote_trials = 3;       // per kind (leader killed, leader running)
};

// Prints the section; 0 when every measurement could be made, 1 otherwise.
int run_replication(const ReplicationOptions& opt);

}  // namespace rdv::bench
