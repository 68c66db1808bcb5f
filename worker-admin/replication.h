// The operator surface of replication (docs/replication.md, docs/failover.md):
//   GET  /api/admin/replication-status   the role, epoch, standbys with their lag, the follower
//   POST /api/admin/promote              this standby becomes the leader (replicator `promote`)
//   POST /api/admin/demote               this instance follows another leader (`demote`)
// and the pure pieces they, /readyz, /metrics and the dashboard share.
//
// Two sources: the registry's `status` reply (registry.sock: the role it serves, the epoch,
// the sync state) and the replicator's `status_ok` (replicator.sock: the standbys it feeds,
// or the leader it follows, with lag). Either may be missing; the functions below say what
// they answer then. Promote and demote go to the replicator only: it owns role changes (it
// writes <data-dir>/role and asks the supervisor to broadcast the new role).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shared/json.h"

namespace rdv::admin {

// The /api/admin/replication-status body from the two replies (either may be null):
//   Go keys: term, is_standby, subscribers (standbys in state "streaming"), and, when a
//            standby has been sent something, last_push_unix / last_push_age_secs (the newest
//            last_sent_unix over the standbys);
//   ours:    role, leader (on a standby), epoch, last_seq, standbys[], follower (a standby's
//            stream, absent on a leader), sync {enabled,state,held,degraded_total} from the
//            registry, and replicator / registry: "ok" or "unavailable".
// The role and epoch prefer the registry's (it is what accepts or refuses writes); without
// it the replicator's. `configured_leader` (the admin's -standby copy) fills `leader` when
// neither reply names one; `sync_configured` says what `sync` is when the registry does not.
JsonPtr replication_status_json(const json_t* registry_status, const json_t* replicator_status,
                                std::string_view configured_leader, bool sync_configured, int64_t now_unix);

// The registry's sync state as /readyz and the dashboard show it: "sync", "degraded" or
// "off" (no `sync` object, or not enabled).
std::string sync_state(const json_t* registry_status);

// True when `addr` is HOST:PORT with a non-empty host of at most 253 bytes (letters, digits,
// '.', '-', '_', or a bracketed IPv6 literal) and a port in 1..65535.
bool valid_leader_address(std::string_view addr);

}  // namespace rdv::admin
