#include "store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>

#include "crc32c.h"
#include "log.h"
#include "util.h"

namespace rdv {

namespace {
const char* const kDbNames[] = {"meta",     "nodes",      "keyidx",    "hostidx",  "owneridx",   "liveness",
                                "networks", "members",    "trust",     "changelog", "consumers", "netnames",
                                "invites",  "handshakes", "pending",   "responses", "beacons",   "audit",
                                "settings", "nonces",     "preassign", "sentinvites", "accept"};
static_assert(sizeof(kDbNames) / sizeof(kDbNames[0]) == size_t(Db::Count));

// Db → stable id (store.h). Indexed by the enum ordinal; the numbers are the contract.
constexpr uint8_t kStableIds[] = {
    1,   // meta
    2,   // nodes
    3,   // keyidx
    4,   // hostidx
    5,   // owneridx
    6,   // liveness
    7,   // networks
    8,   // members
    9,   // trust
    10,  // changelog (never in an op)
    11,  // consumers (never in an op)
    12,  // netnames
    13,  // invites
    14,  // handshakes
    15,  // pending
    16,  // responses
    17,  // beacons
    18,  // audit
    19,  // settings
    20,  // nonces
    21,  // preassign
    22,  // sentinvites
    23,  // accept
};
static_assert(sizeof(kStableIds) == size_t(Db::Count), "every Db needs a stable id");

// The Db ordinals of store format 1, which wrote the ordinal into each op. Frozen: only the
// migration reads them.
constexpr Db kFormat1Dbs[] = {Db::Meta,     Db::Nodes,    Db::KeyIndex, Db::HostIndex, Db::OwnerIndex,
                              Db::Liveness, Db::Networks, Db::Members,  Db::Trust};

// The store format that introduced each database (indexed by ordinal). A reader of an older
// store leaves the newer ones out (Env::has false); the writer creates them on open.
constexpr uint8_t kDbSince[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4};
static_assert(sizeof(kDbSince) == size_t(Db::Count), "every Db needs its format");

constexpr size_t kMaxConsumerName = 255;

MDB_val as_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view as_view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out += char(uint8_t(v));
}
bool get_varint(std::string_view& in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    uint8_t b = uint8_t(in[0]);
    in.remove_prefix(1);
    *v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
}  // namespace

const char* db_name(Db db) { return kDbNames[size_t(db)]; }

std::string key_u16(uint16_t v) { return std::string{char(v >> 8), char(v)}; }
std::string key_u32(uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string key_u64(uint64_t v) { return key_u32(uint32_t(v >> 32)) + key_u32(uint32_t(v)); }
uint32_t read_u32(std::string_view b) {
  if (b.size() != 4) return 0;
  auto p = reinterpret_cast<const uint8_t*>(b.data());
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint64_t read_u64(std::string_view b) {
  if (b.size() != 8) return 0;
  return uint64_t(read_u32(b.substr(0, 4))) << 32 | read_u32(b.substr(4));
}

std::string lmdb_error(int rc) { return mdb_strerror(rc); }

uint8_t db_stable_id(Db db) { return size_t(db) < size_t(Db::Count) ? kStableIds[size_t(db)] : 0; }

bool db_from_stable_id(uint8_t id, Db* db) {
  for (size_t i = 0; i < size_t(Db::Count); i++) {
    if (kStableIds[i] == id && id != 0) {
      *db = Db(i);
      return true;
    }
  }
  return false;
}

bool db_is_replicated(Db db) { return db != Db::ChangeLog && db != Db::Consumers && size_t(db) < size_t(Db::Count); }

// ---- Txn ----

Txn::Txn(Txn&& o) noexcept : txn_(o.txn_), env_(o.env_), resize_lock_(std::move(o.resize_lock_)) {
  o.txn_ = nullptr;
}

Txn& Txn::operator=(Txn&& o) noexcept {
  if (this != &o) {
    abort();
    txn_ = o.txn_;
    env_ = o.env_;
    resize_lock_ = std::move(o.resize_lock_);
    o.txn_ = nullptr;
  }
  return *this;
}

int Txn::get(Db db, std::string_view key, std::string_view* out) const {
  if (!txn_) return EINVAL;
  if (!env_->has(db)) return MDB_NOTFOUND;
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn_, env_->dbi(db), &k, &v);
  if (rc == MDB_SUCCESS) *out = as_view(v);
  return rc;
}

int Txn::put(Db db, std::string_view key, std::string_view value) {
  if (!txn_ || !env_->has(db)) return EINVAL;
  MDB_val k = as_val(key), v = as_val(value);
  return mdb_put(txn_, env_->dbi(db), &k, &v, 0);
}

int Txn::del(Db db, std::string_view key) {
  if (!txn_ || !env_->has(db)) return EINVAL;
  MDB_val k = as_val(key);
  return mdb_del(txn_, env_->dbi(db), &k, nullptr);
}

int Txn::stat(Db db, MDB_stat* out) const {
  if (!txn_) return EINVAL;
  if (!env_->has(db)) {
    *out = MDB_stat{};
    return 0;
  }
  return mdb_stat(txn_, env_->dbi(db), out);
}

int Txn::commit() {
  if (!txn_) return EINVAL;
  int rc = mdb_txn_commit(txn_);  // frees the txn even on failure
  txn_ = nullptr;
  if (resize_lock_.owns_lock()) resize_lock_.unlock();
  return rc;
}

void Txn::abort() {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
  if (resize_lock_.owns_lock()) resize_lock_.unlock();
}

// ---- Cursor ----

Cursor::Cursor(const Txn& txn, Db db) {
  if (!txn.txn_) {
    err_ = EINVAL;
    return;
  }
  if (!txn.env_->has(db)) return;  // iterates as empty
  err_ = mdb_cursor_open(txn.get(), txn.env_->dbi(db), &cur_);
  if (err_) cur_ = nullptr;
}

Cursor::~Cursor() {
  if (cur_) mdb_cursor_close(cur_);
}

bool Cursor::load(MDB_cursor_op op, std::string_view key) {
  if (!cur_) return false;
  MDB_val k = as_val(key), v{0, nullptr};
  int rc = mdb_cursor_get(cur_, &k, &v, op);
  if (rc != MDB_SUCCESS) {
    if (rc != MDB_NOTFOUND) err_ = rc;
    return false;
  }
  key_ = as_view(k);
  value_ = as_view(v);
  return true;
}

bool Cursor::seek(std::string_view key) { return key.empty() ? load(MDB_FIRST) : load(MDB_SET_RANGE, key); }
bool Cursor::next() { return load(MDB_NEXT); }
bool Cursor::last() { return load(MDB_LAST); }

// ---- Env ----

namespace {
// Creates the store marker durably (file and directory entry fsynced). O_NOFOLLOW|O_EXCL: the
// marker is only ever created, never written through a link someone planted.
bool write_marker(const std::string& path, std::string* error) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd) {
    *error = call_failed("open", path, errno);
    return false;
  }
  std::string text = "rendezvous store format " + std::to_string(kStoreFormat) + ", created " +
                     rfc3339_utc(unix_now()) + "\nThis file marks that data.mdb here holds a store; " +
                     "do not delete it unless you mean to start a new, empty store.\n";
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = call_failed("write", path, errno);
      return false;
    }
    rest.remove_prefix(size_t(n));
  }
  if (::fsync(fd.get()) != 0) {
    *error = call_failed("fsync", path, errno);
    return false;
  }
  return fsync_directory(path.substr(0, path.rfind('/')), error);
}

// A v1 record (store format 1), for the migration only.
bool decode_change_v1(std::string_view in, ChangeRecord* r, std::string* why) {
  auto fail = [why](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (in.size() < 9) return fail("truncated header");
  r->epoch = read_u64(in.substr(0, 8));
  r->type = ChangeType(uint8_t(in[8]));
  in.remove_prefix(9);
  uint64_t n;
  if (!get_varint(in, &n) || n > in.size()) return fail("bad op count");
  r->ops.clear();
  for (uint64_t i = 0; i < n; i++) {
    if (in.size() < 2) return fail("truncated op");
    if (in[0] != 1 && in[0] != 2) return fail("bad op kind");
    ChangeOp op;
    op.is_put = in[0] == 1;
    uint8_t ordinal = uint8_t(in[1]);
    if (ordinal >= std::size(kFormat1Dbs)) return fail("bad database ordinal");
    op.db = kFormat1Dbs[ordinal];
    in.remove_prefix(2);
    uint64_t len;
    if (!get_varint(in, &len) || len > in.size()) return fail("truncated key");
    op.key = std::string(in.substr(0, len));
    in.remove_prefix(len);
    if (op.is_put) {
      if (!get_varint(in, &len) || len > in.size()) return fail("truncated value");
      op.value = std::string(in.substr(0, len));
      in.remove_prefix(len);
    }
    r->ops.push_back(std::move(op));
  }
  if (!in.empty()) return fail("trailing bytes");
  return true;
}
}  // namespace

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

int Env::begin_read(Txn* txn) {
  txn->abort();
  for (;;) {
    std::shared_lock lock(resize_mutex_);
    MDB_txn* t = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t);
    if (rc == MDB_MAP_RESIZED) {
      // Another process grew the map: adopt its size with no transaction of ours active.
      lock.unlock();
      std::unique_lock excl(resize_mutex_);
      if (int src = mdb_env_set_mapsize(env_, 0)) return src;
      MDB_envinfo info;
      if (int irc = mdb_env_info(env_, &info)) return irc;
      map_size_ = info.me_mapsize;
      continue;
    }
    if (rc) return rc;
    txn->txn_ = t;
    txn->env_ = this;
    txn->resize_lock_ = std::move(lock);
    return 0;
  }
}

int Env::begin_write(Txn* txn) {
  txn->abort();
  for (;;) {
    MDB_txn* t = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &t);
    if (rc == MDB_MAP_RESIZED) {
      std::unique_lock excl(resize_mutex_);
      if (int src = mdb_env_set_mapsize(env_, 0)) return src;
      MDB_envinfo info;
      if (mdb_env_info(env_, &info) == 0) map_size_ = info.me_mapsize;
      continue;
    }
    if (rc) return rc;
    txn->txn_ = t;
    txn->env_ = this;
    return 0;
  }
}

int Env::begin_nested(Txn& parent, Txn* child) {
  child->abort();
  if (!parent.txn_) return EINVAL;
  MDB_txn* t = nullptr;
  int rc = mdb_txn_begin(env_, parent.txn_, 0, &t);
  if (rc) return rc;
  child->txn_ = t;
  child->env_ = this;
  return 0;
}

int Env::grow() {
  std::unique_lock excl(resize_mutex_);
  uint64_t next = map_size_.load() * 2;
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc == 0) map_size_ = next;
  return rc;
}

int Env::reader_check() {
  int dead = 0;
  if (int rc = mdb_reader_check(env_, &dead)) {
    log_warn("mdb_reader_check() failed; reader slots of dead processes stay taken",
             {{"file", data_file_}, {"error", lmdb_error(rc)}});
    return 0;
  }
  return dead;
}

// Re-encodes every v1 record as v2 in `txn` (the open's write transaction) and sets format 2.
// The consumers database was created by the caller in the same transaction. Returns 0 or an
// LMDB error (MDB_CORRUPTED for a record that is not v1) with *error set.
int Env::migrate_from_format_1(Txn& txn, std::string* error) {
  MDB_cursor* raw = nullptr;
  int rc = mdb_cursor_open(txn.get(), dbi(Db::ChangeLog), &raw);
  if (rc) {
    *error = "migration: mdb_cursor_open(changelog): " + lmdb_error(rc);
    return rc;
  }
  std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> cur(raw, mdb_cursor_close);
  uint64_t migrated = 0;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = as_view(k);
    ChangeRecord rec;
    std::string why;
    if (key.size() != 8) {
      *error = "migration: change-log key of " + std::to_string(key.size()) + " bytes (expected 8)";
      return MDB_CORRUPTED;
    }
    rec.seq = read_u64(key);
    if (!decode_change_v1(as_view(v), &rec, &why)) {
      *error = "migration: change-log record " + std::to_string(rec.seq) + " is not a valid v1 record (" + why + ")";
      return MDB_CORRUPTED;
    }
    std::string encoded = encode_change(rec);
    // Copies: k and v point into a page the put may rewrite.
    std::string key_copy(key);
    MDB_val nk = as_val(key_copy), nv = as_val(encoded);
    // MDB_CURRENT replaces the value at the cursor and keeps the cursor where it is.
    rc = mdb_cursor_put(cur.get(), &nk, &nv, MDB_CURRENT);
    if (rc) {
      *error = "migration: rewriting change-log record " + std::to_string(rec.seq) + ": " + lmdb_error(rc);
      return rc;
    }
    migrated++;
  }
  if (rc != MDB_NOTFOUND) {
    *error = "migration: reading the change log: " + lmdb_error(rc);
    return rc;
  }
  cur.reset();
  rc = txn.put(Db::Meta, "format", key_u32(kStoreFormat));
  if (rc) {
    *error = "migration: writing the format marker: " + lmdb_error(rc);
    return rc;
  }
  log_info("store migrated from format 1 to format " + std::to_string(kStoreFormat) + " (change-log records re-encoded as v2, newer databases added)",
           {{"file", data_file_}, {"records", std::to_string(migrated)}});
  return 0;
}

bool Env::open(const EnvOptions& o, std::string* error) {
  data_file_ = o.dir + "/data.mdb";
  if (o.create) {
    if (mkdir(o.dir.c_str(), 0750) != 0 && errno != EEXIST) {
      *error = "store " + o.dir + ": " + sys_error("mkdir");
      return false;
    }
  }
  struct stat st;
  if (stat(o.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "store " + o.dir + ": data directory does not exist";
    return false;
  }
  if (!o.create && stat(data_file_.c_str(), &st) != 0) {
    *error = "store " + data_file_ + ": " + sys_error("stat");
    return false;
  }
  if (stat(data_file_.c_str(), &st) == 0 && access(data_file_.c_str(), R_OK | W_OK) != 0) {
    *error = "store " + data_file_ + ": " + sys_error("access");
    return false;
  }
  // LMDB happily starts a new, empty store when data.mdb is missing or empty. The marker
  // file, written once a store exists here, tells that apart from a first start.
  const std::string marker = o.dir + "/" + kStoreMarker;
  bool data_exists = stat(data_file_.c_str(), &st) == 0;
  if (!(data_exists && st.st_size > 0) && access(marker.c_str(), F_OK) == 0) {
    *error = "store " + data_file_ + ": " + (data_exists ? "is empty" : "is missing") +
             " but " + marker + " shows a store was created here; refusing to start empty (restore data.mdb " +
             "from a backup, or remove the marker to start a new store deliberately)";
    return false;
  }
  int rc = mdb_env_create(&env_);
  if (rc) {
    *error = "store: mdb_env_create: " + lmdb_error(rc);
    return false;
  }
  auto close_env = [&] {
    mdb_env_close(env_);
    env_ = nullptr;
  };
  if ((rc = mdb_env_set_maxdbs(env_, 32)) != 0) {
    *error = "store " + data_file_ + ": mdb_env_set_maxdbs(32): " + lmdb_error(rc);
    close_env();
    return false;
  }
  if ((rc = mdb_env_set_maxreaders(env_, o.max_readers)) != 0) {
    *error = "store " + data_file_ + ": mdb_env_set_maxreaders(" + std::to_string(o.max_readers) + "): " + lmdb_error(rc);
    close_env();
    return false;
  }
  // An existing file may be larger than the requested map; LMDB then uses the file size.
  map_size_ = o.map_size;
  if ((rc = mdb_env_set_mapsize(env_, map_size_.load())) != 0) {
    *error = "store " + data_file_ + ": mdb_env_set_mapsize(" + std::to_string(map_size_.load()) + "): " + lmdb_error(rc);
    close_env();
    return false;
  }
  rc = mdb_env_open(env_, o.dir.c_str(), MDB_NOTLS | MDB_NORDAHEAD, 0640);
  if (rc) {
    std::string why = lmdb_error(rc);
    if (rc == MDB_INVALID) why = "not an LMDB file or corrupt header (" + why + ")";
    *error = "store " + data_file_ + ": cannot open: " + why +
             "; refusing to start (move the file aside to start empty, or restore a backup)";
    close_env();
    return false;
  }
  MDB_envinfo info;
  if ((rc = mdb_env_info(env_, &info)) != 0) {
    *error = "store " + data_file_ + ": mdb_env_info: " + lmdb_error(rc);
    close_env();
    return false;
  }
  map_size_ = info.me_mapsize;
  reader_check();

  // A file shorter than the pages its meta page says are in use would fault (SIGBUS) on the
  // first read of a missing page: refuse it here, with the sizes.
  MDB_stat est;
  if (mdb_env_stat(env_, &est) == 0 && stat(data_file_.c_str(), &st) == 0) {
    uint64_t needed = (uint64_t(info.me_last_pgno) + 1) * est.ms_psize;
    if (uint64_t(st.st_size) < needed) {
      *error = "store " + data_file_ + ": file is truncated (" + std::to_string(st.st_size) + " bytes, the store needs " +
               std::to_string(needed) + "); refusing to start (restore a backup or move the file aside)";
      close_env();
      return false;
    }
  }

  auto fail = [&](const std::string& what) {
    *error = "store " + data_file_ + ": " + what + "; refusing to start";
    return false;
  };

  // Open (or create) the named databases in one transaction; with a format-1 store, the
  // writer's migration runs in the same transaction, so it happens entirely or not at all.
  // Re-encoding copies every change-log page, so a nearly full map may need to grow first.
  for (int attempt = 0;; attempt++) {
    Txn txn;
    rc = o.create ? begin_write(&txn) : begin_read(&txn);
    if (rc) return fail("cannot begin transaction: " + lmdb_error(rc));
    // meta first: the format decides which databases must exist.
    rc = mdb_dbi_open(txn.get(), kDbNames[size_t(Db::Meta)], o.create ? MDB_CREATE : 0, &dbis_[size_t(Db::Meta)]);
    if (rc == MDB_NOTFOUND) return fail("database \"meta\" is missing");
    if (rc) return fail(std::string("cannot open database \"meta\": ") + lmdb_error(rc));
    present_[size_t(Db::Meta)] = true;
    std::string_view fmt;
    rc = txn.get(Db::Meta, "format", &fmt);
    bool fresh = false;
    if (rc == MDB_NOTFOUND) {
      fresh = true;
      format_ = kStoreFormat;
    } else if (rc) {
      return fail("cannot read format marker: " + lmdb_error(rc));
    } else {
      format_ = read_u32(fmt);
      if (format_ < kOldestStoreFormat || format_ > kStoreFormat)
        return fail("unsupported store format " + std::to_string(format_) + " (this build reads " +
                    std::to_string(kOldestStoreFormat) + " to " + std::to_string(kStoreFormat) + ")");
    }
    const bool reader_of_old_format = !o.create && format_ < kStoreFormat;
    for (size_t i = 0; i < size_t(Db::Count); i++) {
      if (Db(i) == Db::Meta) continue;
      // An older store lacks the databases added since; a reader leaves them out (the writer
      // creates them).
      if (!o.create && kDbSince[i] > format_) continue;
      rc = mdb_dbi_open(txn.get(), kDbNames[i], o.create ? MDB_CREATE : 0, &dbis_[i]);
      if (rc == MDB_NOTFOUND && fresh) return fail("store is not initialised yet");
      if (rc == MDB_NOTFOUND) return fail(std::string("database \"") + kDbNames[i] + "\" is missing");
      if (rc) return fail(std::string("cannot open database \"") + kDbNames[i] + "\": " + lmdb_error(rc));
      present_[i] = true;
    }
    if (fresh) {
      // A brand-new environment has no records anywhere; anything else without a format
      // marker is not ours.
      for (size_t i = 0; i < size_t(Db::Count); i++) {
        MDB_stat s;
        if (txn.stat(Db(i), &s) == 0 && s.ms_entries > 0)
          return fail(std::string("database \"") + kDbNames[i] + "\" has data but the store has no format marker");
      }
      if (!o.create) return fail("store is not initialised yet");
      rc = txn.put(Db::Meta, "format", key_u32(kStoreFormat));
    } else if (format_ == 1 && o.create) {
      std::string why;
      rc = migrate_from_format_1(txn, &why);
      if (rc == MDB_MAP_FULL && attempt < 8) {
        txn.abort();
        log_info("store migration needs a larger map; growing it", {{"file", data_file_}});
        if ((rc = grow()) != 0) return fail("migration: growing the map: mdb_env_set_mapsize: " + lmdb_error(rc));
        continue;
      }
      if (rc) return fail(why);
      format_ = kStoreFormat;
    } else if (format_ < kStoreFormat && o.create) {
      // Format 2 → 3 only adds databases, created above in this transaction.
      rc = txn.put(Db::Meta, "format", key_u32(kStoreFormat));
      if (!rc)
        log_info("store upgraded from format " + std::to_string(format_) + " to " + std::to_string(kStoreFormat) +
                     " (databases for networks, inboxes, audit and settings added)",
                 {{"file", data_file_}});
      format_ = kStoreFormat;
    } else if (reader_of_old_format) {
      log_info("store is format " + std::to_string(format_) + " (the registry upgrades it to " +
                   std::to_string(kStoreFormat) + "); opened without the newer databases",
               {{"file", data_file_}});
    }
    // Committing (also a read-only transaction) keeps the dbi handles for the environment.
    if (!rc) rc = txn.commit();
    if (rc) return fail("cannot initialise: " + lmdb_error(rc));
    break;
  }

  if (o.create && access(marker.c_str(), F_OK) != 0) {
    std::string err;
    if (!write_marker(marker, &err)) return fail(err);
  }

  // Light integrity pass: stat every database and read its first and last record, so a
  // truncated or damaged file is caught now rather than on some later request. The change
  // log's first and last records must also decode (checksum included) in a format-2 store.
  Txn txn;
  rc = begin_read(&txn);
  if (rc) return fail("cannot begin read transaction: " + lmdb_error(rc));
  for (size_t i = 0; i < size_t(Db::Count); i++) {
    if (!present_[i]) continue;
    MDB_stat s;
    rc = mdb_stat(txn.get(), dbis_[i], &s);
    if (rc) return fail(std::string("database \"") + kDbNames[i] + "\": " + lmdb_error(rc));
    Cursor c(txn, Db(i));
    bool any = c.seek();
    std::string_view first_key = c.key(), first_value = c.value();
    if (any) c.last();
    if (c.error()) return fail(std::string("database \"") + kDbNames[i] + "\" is damaged: " + lmdb_error(c.error()));
    if (any && Db(i) == Db::ChangeLog && format_ >= 2) {
      std::pair<std::string_view, std::string_view> ends[] = {{first_key, first_value}, {c.key(), c.value()}};
      for (auto& [key, value] : ends) {
        ChangeRecord rec;
        std::string why;
        if (!decode_change(value, &rec, &why))
          return fail("change-log record " + std::to_string(read_u64(key)) + " is damaged: " + why);
        if (rec.seq != read_u64(key))
          return fail("change-log record " + std::to_string(read_u64(key)) + " carries sequence " + std::to_string(rec.seq));
      }
    }
  }
  return true;
}

// ---- change log ----

const char* change_type_name(ChangeType t) {
  switch (t) {
    case ChangeType::Init: return "init";
    case ChangeType::Register: return "register";
    case ChangeType::Deregister: return "deregister";
    case ChangeType::Liveness: return "liveness";
    case ChangeType::SetHostname: return "set_hostname";
    case ChangeType::SetVisibility: return "set_visibility";
    case ChangeType::SetTags: return "set_tags";
    case ChangeType::Reap: return "reap";
    case ChangeType::Identity: return "identity";
    case ChangeType::Network: return "network";
    case ChangeType::Membership: return "membership";
    case ChangeType::Invite: return "invite";
    case ChangeType::Trust: return "trust";
    case ChangeType::Handshake: return "handshake";
    case ChangeType::Policy: return "policy";
    case ChangeType::Beacon: return "beacon";
    case ChangeType::Settings: return "settings";
  }
  return "unknown";
}

std::string encode_change(const ChangeRecord& r) {
  std::string out;
  size_t size = 1 + 8 + 8 + 1 + 10 + 4;
  for (auto& op : r.ops) size += 2 + 10 + op.key.size() + (op.is_put ? 10 + op.value.size() : 0);
  out.reserve(size);
  out += char(kChangeRecordVersion);
  out += key_u64(r.seq);
  out += key_u64(r.epoch);
  out += char(r.type);
  put_varint(out, r.ops.size());
  for (auto& op : r.ops) {
    out += char(op.is_put ? 1 : 2);
    out += char(db_stable_id(op.db));
    put_varint(out, op.key.size());
    out += op.key;
    if (op.is_put) {
      put_varint(out, op.value.size());
      out += op.value;
    }
  }
  out += key_u32(crc32c(out));
  return out;
}

bool decode_change(std::string_view in, ChangeRecord* r, std::string* why) {
  auto fail = [why](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  constexpr size_t kHeader = 1 + 8 + 8 + 1;
  if (in.empty()) return fail("empty record");
  if (uint8_t(in[0]) != kChangeRecordVersion)
    return fail("record version " + std::to_string(uint8_t(in[0])) + " (this build reads " +
                std::to_string(kChangeRecordVersion) + ")");
  if (in.size() < kHeader + 1 + 4) return fail("truncated record (" + std::to_string(in.size()) + " bytes)");
  // The checksum first: nothing else in a damaged record is worth interpreting.
  uint32_t stored = read_u32(in.substr(in.size() - 4));
  uint32_t computed = crc32c(in.substr(0, in.size() - 4));
  if (stored != computed) return fail("checksum mismatch (truncated or damaged record)");
  in.remove_suffix(4);
  r->seq = read_u64(in.substr(1, 8));
  r->epoch = read_u64(in.substr(9, 8));
  r->type = ChangeType(uint8_t(in[17]));
  if (uint8_t(r->type) == 0) return fail("change type 0");
  in.remove_prefix(kHeader);
  uint64_t n;
  // Each op takes at least 3 bytes; a larger count cannot be honest.
  if (!get_varint(in, &n) || n > in.size() / 3) return fail("bad op count");
  r->ops.clear();
  r->ops.reserve(size_t(n));
  for (uint64_t i = 0; i < n; i++) {
    if (in.size() < 2) return fail("truncated op " + std::to_string(i));
    uint8_t kind = uint8_t(in[0]), id = uint8_t(in[1]);
    if (kind != 1 && kind != 2) return fail("op " + std::to_string(i) + ": unknown kind " + std::to_string(kind));
    ChangeOp op;
    op.is_put = kind == 1;
    if (!db_from_stable_id(id, &op.db)) return fail("op " + std::to_string(i) + ": unknown database id " + std::to_string(id));
    if (!db_is_replicated(op.db))
      return fail("op " + std::to_string(i) + ": database \"" + db_name(op.db) + "\" may not be written by an op");
    in.remove_prefix(2);
    uint64_t len;
    if (!get_varint(in, &len) || len > in.size()) return fail("op " + std::to_string(i) + ": truncated key");
    op.key = std::string(in.substr(0, len));
    in.remove_prefix(len);
    if (op.is_put) {
      if (!get_varint(in, &len) || len > in.size()) return fail("op " + std::to_string(i) + ": truncated value");
      op.value = std::string(in.substr(0, len));
      in.remove_prefix(len);
    }
    r->ops.push_back(std::move(op));
  }
  if (!in.empty()) return fail(std::to_string(in.size()) + " bytes after the last op");
  return true;
}

int Mutation::put(Db db, std::string_view key, std::string_view value) {
  if (!db_is_replicated(db)) return EINVAL;
  int rc = txn_.put(db, key, value);
  if (rc == 0) rec_.ops.push_back({true, db, std::string(key), std::string(value)});
  return rc;
}

int Mutation::del(Db db, std::string_view key) {
  if (!db_is_replicated(db)) return EINVAL;
  int rc = txn_.del(db, key);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc == 0) rec_.ops.push_back({false, db, std::string(key), {}});
  return rc;
}

int Mutation::finish(uint64_t epoch) {
  if (rec_.ops.empty()) return 0;
  rec_.seq = meta_u64(txn_, "last_seq") + 1;
  rec_.epoch = epoch;
  int rc = txn_.put(Db::ChangeLog, key_u64(rec_.seq), encode_change(rec_));
  if (!rc) rc = txn_.put(Db::Meta, "last_seq", key_u64(rec_.seq));
  return rc;
}

uint64_t meta_u64(const Txn& txn, std::string_view key, uint64_t fallback) {
  std::string_view v;
  if (txn.get(Db::Meta, key, &v) != 0 || v.size() != 8) return fallback;
  return read_u64(v);
}

int set_meta_u64(Mutation& m, std::string_view key, uint64_t value) {
  return m.put(Db::Meta, key, key_u64(value));
}

// ---- consumers ----

namespace {
bool valid_consumer_name(std::string_view name) { return !name.empty() && name.size() <= kMaxConsumerName; }
}  // namespace

int set_consumer_ack(Txn& txn, std::string_view name, uint64_t seq, uint64_t* stored) {
  if (!valid_consumer_name(name)) return EINVAL;
  std::string_view old;
  int rc = txn.get(Db::Consumers, name, &old);
  if (rc == 0 && old.size() == 8 && read_u64(old) >= seq) {
    if (stored) *stored = read_u64(old);
    return 0;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  rc = txn.put(Db::Consumers, name, key_u64(seq));
  if (rc == 0 && stored) *stored = seq;
  return rc;
}

int remove_consumer(Txn& txn, std::string_view name) {
  if (!valid_consumer_name(name)) return EINVAL;
  int rc = txn.del(Db::Consumers, name);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

int clear_consumers(Txn& txn) {
  if (!txn.active() || !txn.env()->has(Db::Consumers)) return EINVAL;
  return mdb_drop(txn.get(), txn.env()->dbi(Db::Consumers), 0);  // 0: empty it, keep the handle
}

int lowest_consumer_ack(const Txn& txn, uint64_t* lowest, bool* any) {
  *lowest = 0;
  *any = false;
  Cursor c(txn, Db::Consumers);
  for (bool ok = c.seek(); ok; ok = c.next()) {
    // A value of another size is not ours to interpret; treat it as "needs everything".
    uint64_t acked = c.value().size() == 8 ? read_u64(c.value()) : 0;
    if (!*any || acked < *lowest) *lowest = acked;
    *any = true;
  }
  return c.error();
}

int list_consumers(const Txn& txn, std::vector<ConsumerAck>* out) {
  out->clear();
  Cursor c(txn, Db::Consumers);
  for (bool ok = c.seek(); ok; ok = c.next())
    out->push_back({std::string(c.key()), c.value().size() == 8 ? read_u64(c.value()) : 0});
  return c.error();
}

// ---- trimming ----

TrimPlan plan_changelog_trim(const TrimInputs& in) {
  TrimPlan plan;
  plan.newest_droppable = in.last_seq > 0 ? in.last_seq - 1 : 0;
  uint64_t through = in.last_seq > in.keep ? in.last_seq - in.keep : 0;
  if (in.lowest_ack) through = std::min(through, *in.lowest_ack);
  plan.drop_through = std::min(through, plan.newest_droppable);
  plan.bytes_over = in.log_bytes > in.max_bytes ? in.log_bytes - in.max_bytes : 0;
  plan.lowest_ack = in.lowest_ack;
  return plan;
}

bool trim_may_drop(const TrimPlan& plan, uint64_t seq, uint64_t bytes_freed) {
  if (seq == 0 || seq > plan.newest_droppable) return false;  // sequences start at 1
  return seq <= plan.drop_through || bytes_freed < plan.bytes_over;
}

int trim_changelog(Txn& txn, const TrimLimits& limits, size_t max_records, TrimResult* out) {
  TrimResult local;
  TrimResult& res = out ? *out : local;
  res = TrimResult{};
  if (!txn.active()) return EINVAL;
  TrimInputs in;
  in.last_seq = meta_u64(txn, "last_seq");
  in.keep = limits.keep;
  in.max_bytes = limits.max_bytes;
  uint64_t lowest = 0;
  bool any = false;
  if (int rc = lowest_consumer_ack(txn, &lowest, &any)) return rc;
  if (any) in.lowest_ack = lowest;
  res.lowest_ack = lowest;
  MDB_stat st;
  if (int rc = txn.stat(Db::ChangeLog, &st)) return rc;
  in.log_bytes = uint64_t(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
  const TrimPlan plan = plan_changelog_trim(in);

  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), txn.env()->dbi(Db::ChangeLog), &raw)) return rc;
  std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> cur(raw, mdb_cursor_close);
  // Always the first record: each deletion makes the next one first.
  for (;;) {
    MDB_val k, v;
    int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) return 0;  // empty log; first_kept stays 0
    if (rc) return rc;
    uint64_t seq = read_u64(as_view(k));
    if (!trim_may_drop(plan, seq, res.bytes_freed)) {
      res.first_kept = seq;
      return 0;
    }
    if (res.dropped >= max_records) {
      res.first_kept = seq;
      res.more = true;
      return 0;
    }
    uint64_t size = k.mv_size + v.mv_size;
    if ((rc = mdb_cursor_del(cur.get(), 0)) != 0) return rc;
    if (plan.lowest_ack && seq > *plan.lowest_ack) res.past_ack = true;
    res.dropped++;
    res.bytes_freed += size;
  }
}

}  // namespace rdv
