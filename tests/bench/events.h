// rendezvous-bench --events N: the live event stream (subscribe_events) at scale.
//
// N daemons (real Ed25519 keys; registered, then joined to one shared network) each open a
// connection, answer one lookup on it (an idle connection: the memory reference), then
// subscribe_events on it. One more member of the network (the mover) joins and leaves it at
// a steady rate; each change is one member_joined / member_left event to every subscriber.
//
// Reported, with the reference measured in the same run:
//  - delivery latency, median and p99: from the mover's send of the change to each
//    subscriber's receipt, and from the event's making (its id is the microsecond it was made,
//    after the commit) to receipt; the reference is the same run of changes with one subscriber;
//  - registry worker RSS per connection: idle (after the lookups) and subscribed, the ratio
//    between them;
//  - events delivered against those expected, and subscribers cut off (none expected).
// RLIMIT_NOFILE is raised to its hard limit before the server starts (the server inherits it).
#pragma once

#include <cstddef>
#include <string>

namespace rdv::bench {

int run_events(const std::string& bin_dir, const std::string& tmp_root, size_t subscribers);

}  // namespace rdv::bench
