// The standby's writes: applying streamed change records, installing a full copy, and the
// liveness rows of the lossy channel. Each runs in one LMDB write transaction, so a record
// or a copy is applied entirely or not at all (docs/replication.md).
//
// Threading: the replicator's loop thread; the Env is the replicator's own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "replication.h"
#include "store.h"

namespace rdv::replicator {

// Where this store's change log ends: the newest sequence, the CRC of that record and its
// epoch (all 0 for an empty log).
struct LogPosition {
  uint64_t last_seq = 0;
  uint32_t last_crc = 0;
  uint64_t last_epoch = 0;
  uint64_t first_seq = 0;  // oldest record kept
};
int read_position(const Txn& txn, LogPosition* out);

// The record `seq` (stored bytes), or false.
bool read_record(const Txn& txn, uint64_t seq, std::string_view* out);

struct ApplyResult {
  uint64_t applied = 0;      // records applied
  LogPosition position;      // after them
  std::string error;         // why the batch was refused (nothing applied then)
};
// Applies consecutive records after `from` (our current position): each must decode, carry
// the next sequence, and an epoch neither above `leader_epoch` nor below its predecessor's.
// All or nothing: on any refusal nothing is written and error says why. Grows the map and
// retries on MDB_MAP_FULL.
ApplyResult apply_records(Env& env, const LogPosition& from, const std::vector<std::string_view>& records,
                          uint64_t leader_epoch);

// Replaces every replicated database, the change log and meta with the environment in
// `copy_dir` (a received compacted copy), and empties the consumers, in one transaction.
// False with *error (the live store unchanged) when the copy cannot be opened, is of a newer
// store format, or a write fails.
bool install_copy(Env& env, const std::string& copy_dir, LogPosition* position, std::string* error);

// Writes last-seen times into the liveness database (outside the change log), skipping
// nodes this store does not have (a row may arrive before the record that creates its node
// on a lagging standby; the next flush brings it again).
int apply_liveness(Env& env, const std::vector<repl::LivenessRow>& rows, size_t* written);

}  // namespace rdv::replicator
