// rendezvous-bench --soak [--soak-minutes N] [--idle-connections N]: the registry under a
// steady mixed load for a long time (default 30 minutes; not part of make test), and the
// memory an idle connection costs.
//
//  1. Idle connections: N (default 10 000) connections opened and left idle, against the
//     registry and against the no-op reference server (noop_server.h) in the same run; the
//     growth of each one's resident memory per connection, and the ratio.
//  2. Soak: two client threads, each paced at no more than 500 requests/s (so the box stays
//     usable; a thread waits for each reply, so writes' commits slow it below that), each
//     keep 8 connections and mix lookups, signed heartbeats, signed registrations each paired
//     with a deregistration (the node count stays flat), joins and leaves of an open network,
//     one-request connections, and closing/reopening their connections. Every 5 s (a
//     sixtieth of shorter runs) the registry worker's RSS (and its anonymous part, the heap)
//     and open descriptors are sampled.
//  3. At the end: start/end/max of each, the slope over the run after its first tenth (the
//     warm-up: caches, the store's pages), error replies and lost connections, and three
//     verdicts: heap flat (anonymous RSS at the end within 10 % of the warm-up sample; the rest
//     of RSS is LMDB's mapped pages, which grow with the change log and are printed beside it),
//     descriptors flat (within 16 under load, back to the start once the clients left), zero
//     error replies. The exit code is 0 only when all three hold and no connection was lost.
//
// --idle-connections N alone (without --soak) runs part 1 only.
#pragma once

#include <cstddef>
#include <string>

namespace rdv::bench {

struct SoakOptions {
  std::string bin_dir, tmp_root;
  double minutes = 30;
  size_t idle_connections = 10000;
  bool idle_only = false;  // part 1 only
};

int run_soak(const SoakOptions& options);

}  // namespace rdv::bench
