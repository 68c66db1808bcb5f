// LMDB: the one source of truth, shared by all workers through the memory map.
//
// Layout: one environment in the data dir (data.mdb, lock.mdb) with these named databases.
// Integer keys are fixed-width big-endian so cursor order is id order.
//
//   meta       "format" "next_node" "next_net" "epoch" "created" …   small values
//   nodes      u32 node id        → encode_node()                     (model.h)
//   keyidx     32-byte raw key    → u32 node id  (never removed on reap/deregister)
//   hostidx    hostname           → u32 node id  (live nodes only)
//   owneridx   owner              → u32 node id  (never removed on reap/deregister)
//   liveness   u32 node id        → i64 BE last-seen unix ns (flushed in batches)
//   networks   u16 network id     → encode_network() (model.h)
//   members    u16 net ‖ u32 node → encode_member() (non-backbone networks only)
//   trust      u32 min ‖ u32 max  → "" (symmetric trust pairs)
//   netnames   network name       → u16 network id
//   invites    u32 target ‖ u16 net → encode_invite()   (a node's invite inbox)
//   handshakes u32 target ‖ u32 from → encode_handshake() (a node's handshake-request inbox)
//   pending    u32 target ‖ u32 from → ""  (requests an accepting respond_handshake may consume)
//   responses  u32 requester ‖ u32 responder → encode_handshake_response() (response inbox)
//   beacons    u32 beacon id      → encode_beacon()
//   audit      u64 sequence       → encode_audit() (hash-chained; the newest -audit-keep kept)
//   settings   name               → JSON text (webhook, identity webhook, IdP, audit export)
//   nonces     recovery nonce     → i64 BE expiry unix seconds (used recovery authorisations)
//   preassign  u16 net ‖ lower-case external id → role (RBAC pre-assignments)
//   sentinvites u32 inviter ‖ u16 net ‖ u32 target → "" (invites by sender, to drop them)
//   changelog  u64 sequence       → change record v2 (see "The change log" below)
//   consumers  consumer name      → u64 BE last acknowledged sequence (see below)
//   accept     the pending-registration queue (-accept-mode manual; shared/accept_queue.h)
//
// The epoch is NOT in LMDB any more (store format 2): it lives in `<data-dir>/epoch`
// (epoch.h), where a full copy of the environment cannot overwrite it. Format-1 stores kept
// it in meta "epoch"; that key is left in place for the registry to migrate (see epoch.h).
//
// Process rules: every process opens its own Env after exec (never across fork), with
// MDB_NOTLS so CivetWeb threads may each hold a read transaction. Only the registry worker
// (or, on a standby, the replicator) writes. Every open runs mdb_reader_check.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rdv {

// The in-process handle of a database. The ordinal is NOT stable and never leaves the
// process: change-log ops name a database by db_stable_id() instead.
enum class Db : uint8_t {
  Meta = 0, Nodes, KeyIndex, HostIndex, OwnerIndex, Liveness, Networks, Members, Trust,
  ChangeLog, Consumers,
  // store format 3
  NetNames, Invites, Handshakes, Pending, Responses, Beacons, Audit, Settings, Nonces, PreAssign, SentInvites,
  // store format 4
  Accept,
  Count
};
const char* db_name(Db db);

// Stable database ids, written into every change-log op. NEVER change or reuse a number:
// records written by one version are applied by another (a standby across an upgrade).
//
//   1 meta   2 nodes   3 keyidx   4 hostidx   5 owneridx   6 liveness   7 networks
//   8 members   9 trust   10 changelog   11 consumers   12 netnames   13 invites
//   14 handshakes   15 pending   16 responses   17 beacons   18 audit   19 settings
//   20 nonces   21 preassign   22 sentinvites   23 accept
//
// 0 is never a valid id. changelog and consumers have ids for completeness but are local to
// a node (db_is_replicated() is false): an op may not name them.
uint8_t db_stable_id(Db db);
// The Db for a stable id; false for an unknown id.
bool db_from_stable_id(uint8_t id, Db* db);
// False for the databases an op may not write: the change log itself, and the consumers'
// acknowledgements (each node keeps its own; replicating them would make every ack a record
// that needs acking).
bool db_is_replicated(Db db);

// Format history:
//   1  change-log records v1 (no version, ordinal db ids, no checksum); epoch in meta
//   2  change-log records v2; the consumers database; epoch in <data-dir>/epoch
//   3  the databases of the whole protocol (netnames … preassign); records unchanged
//   4  accept (the pending-registration queue); records unchanged
// The writer migrates a format-1 store on open (Env::open); other processes accept a format-1
// store read-only until then (Env::format() tells which they saw).
inline constexpr uint32_t kStoreFormat = 4;
inline constexpr uint32_t kOldestStoreFormat = 1;
// Written next to data.mdb once a store exists, so a later missing or empty data.mdb is an
// error instead of a silent fresh start.
inline constexpr const char* kStoreMarker = "rendezvous.store";

// Big-endian keys.
std::string key_u16(uint16_t v);
std::string key_u32(uint32_t v);
std::string key_u64(uint64_t v);
uint32_t read_u32(std::string_view b);  // 0 if the size is wrong
uint64_t read_u64(std::string_view b);

class Env;

// A transaction that aborts unless committed. Read transactions hold the Env's resize lock
// in shared mode so the map is never resized under them.
class Txn {
 public:
  Txn() = default;
  Txn(Txn&& o) noexcept;
  Txn& operator=(Txn&& o) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  bool active() const { return txn_ != nullptr; }
  MDB_txn* get() const { return txn_; }
  Env* env() const { return env_; }  // the Env that began it (null when inactive)

  // Returns MDB_SUCCESS, MDB_NOTFOUND, or an LMDB error. `out` points into the map and is
  // valid until the transaction ends or the next write.
  int get(Db db, std::string_view key, std::string_view* out) const;
  int put(Db db, std::string_view key, std::string_view value);
  int del(Db db, std::string_view key);  // MDB_NOTFOUND is not an error for callers
  // mdb_stat of one database. A database this Env does not have (Env::has) reads as empty.
  int stat(Db db, MDB_stat* out) const;
  int commit();
  void abort();

 private:
  friend class Env;
  friend class Cursor;
  MDB_txn* txn_ = nullptr;
  Env* env_ = nullptr;
  std::shared_lock<std::shared_mutex> resize_lock_;
};

// Forward-iterating cursor over one database.
class Cursor {
 public:
  // A database the Env does not have (Env::has) iterates as empty.
  Cursor(const Txn& txn, Db db);
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  // Positions at the first key >= `key` (or the first key when empty). False at the end.
  bool seek(std::string_view key = {});
  bool next();
  bool last();
  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }
  int error() const { return err_; }

 private:
  bool load(MDB_cursor_op op, std::string_view key = {});
  MDB_cursor* cur_ = nullptr;
  std::string_view key_, value_;
  int err_ = 0;
};

struct EnvOptions {
  std::string dir;
  uint64_t map_size = 1ull << 30;
  unsigned max_readers = 1024;
  bool create = false;  // create databases (only the writer); others require them to exist
};

class Env {
 public:
  Env() = default;
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Opens (and with options.create, initialises) the environment, runs mdb_reader_check and
  // verifies the store: format marker, every database present, first/last records readable
  // (and, for the change log, decodable). On failure returns false with a message that names
  // the file and the reason; the caller exits with kExitConfig. Nothing is ever reset to empty.
  //
  // Format 1 (kOldestStoreFormat): with options.create the store is migrated to format 2 in
  // one write transaction (every change-log record re-encoded as v2, the consumers database
  // created, meta "format" set) and an info line says so. Without options.create the store
  // is opened as it is: format() returns 1, has(Db::Consumers) is false, and the change log
  // may hold v1 records that decode_change() refuses. Such a reader keeps working (its reads
  // see format-2 data once the writer has migrated, except the consumers database); reopen
  // the Env to see the consumers too.
  bool open(const EnvOptions& options, std::string* error);

  // The store format found at open (after a writer's migration: kStoreFormat).
  uint32_t format() const { return format_; }
  // Whether the database was opened (false only for Db::Consumers in a format-1 reader).
  bool has(Db db) const { return present_[size_t(db)]; }

  int begin_read(Txn* txn);
  int begin_write(Txn* txn);
  // A transaction nested in the active write transaction `parent` (same thread): committing
  // it folds its changes into the parent, aborting it drops them and leaves the parent as it
  // was. The registry runs each write request in one, so a refused request leaves nothing.
  int begin_nested(Txn& parent, Txn* child);

  // Doubles the map. Precondition: no transaction of this process is active (the registry
  // calls it after aborting the batch that hit MDB_MAP_FULL).
  int grow();
  uint64_t map_size() const { return map_size_.load(std::memory_order_relaxed); }  // any thread

  // Reclaims reader slots of dead processes. Returns the number cleared; a failure of
  // mdb_reader_check is logged (log_warn, naming the call and the file) and returns 0.
  int reader_check();

  MDB_env* get() const { return env_; }
  MDB_dbi dbi(Db db) const { return dbis_[size_t(db)]; }
  const std::string& data_file() const { return data_file_; }

 private:
  friend class Txn;
  int migrate_from_format_1(Txn& txn, std::string* error);
  MDB_env* env_ = nullptr;
  MDB_dbi dbis_[size_t(Db::Count)] = {};
  bool present_[size_t(Db::Count)] = {};
  uint32_t format_ = 0;
  std::atomic<uint64_t> map_size_{0};  // written by the writing thread, read by others
  std::string data_file_;
  std::shared_mutex resize_mutex_;
};

std::string lmdb_error(int rc);

// The change log: every mutation's effect as a list of low-level operations, written in the
// same transaction as the mutation itself, so a standby can verify and apply it verbatim and
// a reader can see exactly what changed.
//
// Record format v2 (store format 2), all integers big-endian:
//
//   key     u64 sequence (strictly increasing from 1)
//   value   u8 version (= 2) | u64 sequence | u64 epoch | u8 change type | varint op count |
//           ops… | u32 CRC32C (crc32c.h) of every byte before it
//   op      u8 kind (1 put, 2 delete) | u8 stable db id (db_stable_id) | varint key len | key |
//           [put only: varint value len | value]
//
// The sequence is repeated inside the value so a record streamed on its own is bound to its
// position by the checksum. varints are LEB128 (7 bits a byte, low first, at most 10 bytes).
//
// Format v1 (store format 1, read only by the migration): u64 epoch | u8 type | varint count |
// ops with the Db ordinal instead of a stable id; no version, sequence or checksum.
inline constexpr uint8_t kChangeRecordVersion = 2;

// Stable numbers, written into every record: NEVER change or reuse one. The type only
// describes a record (logs, metrics); applying a record needs its ops alone, so a reader
// accepts a type it does not know.
enum class ChangeType : uint8_t {
  Init = 1,
  Register = 2,
  Deregister = 3,
  // RETIRED (number 4 stays reserved): liveness timestamps no longer go through the change
  // log; they are written with Txn::put on their own lossy path. Kept so records written by
  // format-1 stores and older registries still decode; new code must not write it.
  Liveness = 4,
  SetHostname = 5,
  SetVisibility = 6,
  SetTags = 7,
  Reap = 8,
  Identity = 9,     // rotate_key, set_key_expiry, badges, recovery, external ids
  Network = 10,     // create, delete, rename, enterprise flag, provisioning
  Membership = 11,  // join, leave, kick, roles, member tags, directory sync
  Invite = 12,
  Trust = 13,
  Handshake = 14,
  Policy = 15,      // network and expression policies
  Beacon = 16,
  Settings = 17,    // enterprise configuration: webhooks, IdP, audit export
};
const char* change_type_name(ChangeType t);  // "unknown" for a number this build does not know

struct ChangeOp {
  bool is_put = true;
  Db db = Db::Meta;
  std::string key, value;
};

struct ChangeRecord {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  ChangeType type = ChangeType::Init;
  std::vector<ChangeOp> ops;
};

// Encodes `r` as a v2 record. Precondition: every op names a replicated database
// (db_is_replicated); Mutation guarantees it.
std::string encode_change(const ChangeRecord& r);
// Decodes a v2 record. Returns false, leaving *r unspecified and (when `why` is given) a
// short reason, for: a version other than 2, a checksum mismatch, a change type 0, an op kind
// other than put/delete, an unknown or non-replicated stable db id, truncated data, or bytes
// after the last op.
bool decode_change(std::string_view bytes, ChangeRecord* r, std::string* why = nullptr);

// Writes through a write transaction and records every operation; finish() appends the
// change-log record. One Mutation per logical change (one register, one reap pass, …).
class Mutation {
 public:
  Mutation(Txn& txn, ChangeType type) : txn_(txn) { rec_.type = type; }
  // Both return EINVAL, writing nothing, for a database that is not replicated (the change
  // log itself, consumers): those are written with Txn directly.
  int put(Db db, std::string_view key, std::string_view value);
  int del(Db db, std::string_view key);  // deleting a missing key is recorded as nothing
  // Appends the record with the next sequence number (read from and stored in meta
  // "last_seq"). Returns an LMDB error code.
  int finish(uint64_t epoch);
  bool empty() const { return rec_.ops.empty(); }

 private:
  Txn& txn_;
  ChangeRecord rec_;
};

// ---- consumers: who still needs which change-log records ----
//
// One entry per change-log consumer (a standby, named by the replicator; e.g. its node name
// or address): the highest sequence it has acknowledged as applied. Trimming never drops a
// record a registered consumer still needs, unless the log outgrows its byte limit (see
// plan_changelog_trim). Local to each node: written with the Txn directly, never through the
// change log, and not meaningful on a node that received it in a full copy (clear it there).
//
// Names are 1..255 bytes. In a format-1 reader (Env::has(Db::Consumers) false) the reads
// below see no consumers and the writes return EINVAL.

// Records that `name` has applied everything up to `seq`, registering it if new. Never moves
// an ack backwards: a lower `seq` than the stored one leaves the stored one. *stored (when
// given) receives the value now stored. Returns 0, EINVAL for a bad name, or an LMDB error.
int set_consumer_ack(Txn& txn, std::string_view name, uint64_t seq, uint64_t* stored = nullptr);
// Forgets a consumer (0 also when it was not registered).
int remove_consumer(Txn& txn, std::string_view name);
// Forgets every consumer (after receiving a full copy, whose consumers are the sender's).
int clear_consumers(Txn& txn);
// The lowest ack over all consumers; *any is false (and *lowest 0) when there is none.
int lowest_consumer_ack(const Txn& txn, uint64_t* lowest, bool* any);

struct ConsumerAck {
  std::string name;
  uint64_t acked = 0;
};
// Every consumer, in name order.
int list_consumers(const Txn& txn, std::vector<ConsumerAck>* out);

// ---- trimming the change log ----

// The pure rule. Records with seq <= min(last_seq - keep, lowest_ack) may be dropped (the
// lowest ack only when some consumer is registered); besides, while the log is over its byte
// limit the oldest records are dropped regardless of acks until `bytes_over` bytes are freed
// (a consumer lagging behind them then needs a full copy). The newest record (last_seq) is
// never dropped: it carries the sequence forward.
struct TrimInputs {
  uint64_t last_seq = 0;                 // meta "last_seq"
  uint64_t keep = 0;                     // -changelog-keep
  std::optional<uint64_t> lowest_ack;    // lowest_consumer_ack(), if any consumer
  uint64_t log_bytes = 0;                // pages the change log uses × page size
  uint64_t max_bytes = 0;                // -changelog-max-mb × 2^20
};
struct TrimPlan {
  uint64_t drop_through = 0;  // every seq <= this may go by the count/ack rule
  uint64_t bytes_over = 0;    // bytes to free beyond that, oldest first, acks notwithstanding
  uint64_t newest_droppable = 0;  // last_seq - 1 (0: nothing may go)
  std::optional<uint64_t> lowest_ack;
};
TrimPlan plan_changelog_trim(const TrimInputs& in);
// Whether the oldest remaining record, `seq`, may be dropped once `bytes_freed` bytes have
// been freed by this trim already. Records are considered oldest first; the first false ends
// the trim.
bool trim_may_drop(const TrimPlan& plan, uint64_t seq, uint64_t bytes_freed);

struct TrimLimits {
  uint64_t keep = 1000000;            // -changelog-keep
  uint64_t max_bytes = 512ull << 20;  // -changelog-max-mb << 20
};
struct TrimResult {
  uint64_t dropped = 0;       // records deleted
  uint64_t bytes_freed = 0;   // their key + value bytes (the estimate the byte rule counts)
  uint64_t first_kept = 0;    // the oldest record left (0: the log is empty)
  uint64_t lowest_ack = 0;    // the lowest consumer ack seen (0 when none)
  bool past_ack = false;      // the byte limit dropped records a consumer had not acknowledged
  bool more = false;          // stopped at max_records; call again (next pass) to go on
};
// Applies plan_changelog_trim inside the write transaction `txn` (reading meta "last_seq",
// the consumers and the change log's size), deleting at most `max_records` records. Returns
// 0 or the first LMDB error (the caller aborts the transaction then). `out` may be null.
// Call it from the writer only, once per pass; the work is bounded by max_records.
int trim_changelog(Txn& txn, const TrimLimits& limits, size_t max_records, TrimResult* out);

// meta helpers
uint64_t meta_u64(const Txn& txn, std::string_view key, uint64_t fallback = 0);
int set_meta_u64(Mutation& m, std::string_view key, uint64_t value);

}  // namespace rdv
