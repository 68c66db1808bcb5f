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
//   networks   u16 network id     → network record
//   members    u16 net ‖ u32 node → membership record
//   trust      u32 min ‖ u32 max  → "" (symmetric trust pairs)
//   changelog  u64 sequence       → change record (see ChangeLog below)
//
// Process rules: every process opens its own Env after exec (never across fork), with
// MDB_NOTLS so CivetWeb threads may each hold a read transaction. Only the registry worker
// (or, on a standby, the replicator) writes. Every open runs mdb_reader_check.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rdv {

enum class Db : uint8_t {
  Meta = 0, Nodes, KeyIndex, HostIndex, OwnerIndex, Liveness, Networks, Members, Trust,
  ChangeLog,
  Count
};
const char* db_name(Db db);

inline constexpr uint32_t kStoreFormat = 1;
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
  Env* env() const { return env_; }

  // Returns MDB_SUCCESS, MDB_NOTFOUND, or an LMDB error. `out` points into the map and is
  // valid until the transaction ends or the next write.
  int get(Db db, std::string_view key, std::string_view* out) const;
  int put(Db db, std::string_view key, std::string_view value);
  int del(Db db, std::string_view key);  // MDB_NOTFOUND is not an error for callers
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
  // verifies the store: format marker, every database present, first/last records readable.
  // On failure returns false with a message that names the file and the reason; the caller
  // exits with kExitConfig. Nothing is ever reset to empty.
  bool open(const EnvOptions& options, std::string* error);

  int begin_read(Txn* txn);
  int begin_write(Txn* txn);
  // A transaction nested in the active write transaction `parent` (same thread): committing
  // it folds its changes into the parent, aborting it drops them and leaves the parent as it
  // was. The registry runs each write request in one, so a refused request leaves nothing.
  int begin_nested(Txn& parent, Txn* child);

  // Doubles the map. Precondition: no transaction of this process is active (the registry
  // calls it after aborting the batch that hit MDB_MAP_FULL).
  int grow();
  uint64_t map_size() const { return map_size_; }

  // Reclaims reader slots of dead processes. Returns the number cleared.
  int reader_check();

  MDB_env* get() const { return env_; }
  MDB_dbi dbi(Db db) const { return dbis_[size_t(db)]; }
  const std::string& data_file() const { return data_file_; }

 private:
  friend class Txn;
  MDB_env* env_ = nullptr;
  MDB_dbi dbis_[size_t(Db::Count)] = {};
  uint64_t map_size_ = 0;
  std::string data_file_;
  std::shared_mutex resize_mutex_;
};

std::string lmdb_error(int rc);

// The change log: every mutation's effect as a list of low-level operations, written in the
// same transaction as the mutation itself, so a standby can apply it verbatim and a reader
// can see exactly what changed.
//
//   key   u64 BE sequence (strictly increasing from 1)
//   value u64 BE epoch | u8 change type | varint op count | ops…
//   op    u8 kind (1 put, 2 delete) | u8 Db | varint key len | key | [varint value len | value]
enum class ChangeType : uint8_t {
  Init = 1, Register, Deregister, Liveness, SetHostname, SetVisibility, SetTags, Reap,
};
const char* change_type_name(ChangeType t);

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

std::string encode_change(const ChangeRecord& r);
bool decode_change(std::string_view bytes, ChangeRecord* r);

// Writes through a write transaction and records every operation; finish() appends the
// change-log record. One Mutation per logical change (one register, one reap pass, …).
class Mutation {
 public:
  Mutation(Txn& txn, ChangeType type) : txn_(txn) { rec_.type = type; }
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

// meta helpers
uint64_t meta_u64(const Txn& txn, std::string_view key, uint64_t fallback = 0);
int set_meta_u64(Mutation& m, std::string_view key, uint64_t value);

}  // namespace rdv
