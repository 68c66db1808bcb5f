#include "store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "util.h"

namespace rdv {

namespace {
const char* const kDbNames[] = {"meta", "nodes", "keyidx", "hostidx", "owneridx", "liveness",
                                "networks", "members", "trust", "changelog"};
static_assert(sizeof(kDbNames) / sizeof(kDbNames[0]) == size_t(Db::Count));

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
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn_, env_->dbi(db), &k, &v);
  if (rc == MDB_SUCCESS) *out = as_view(v);
  return rc;
}

int Txn::put(Db db, std::string_view key, std::string_view value) {
  if (!txn_) return EINVAL;
  MDB_val k = as_val(key), v = as_val(value);
  return mdb_put(txn_, env_->dbi(db), &k, &v, 0);
}

int Txn::del(Db db, std::string_view key) {
  if (!txn_) return EINVAL;
  MDB_val k = as_val(key);
  return mdb_del(txn_, env_->dbi(db), &k, nullptr);
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
// Creates the store marker durably (file and directory entry fsynced).
bool write_marker(const std::string& path, std::string* error) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd) {
    *error = path + ": " + sys_error("open");
    return false;
  }
  std::string text = "rendezvous store format " + std::to_string(kStoreFormat) + ", created " +
                     rfc3339_utc(unix_now()) + "\nThis file marks that data.mdb here holds a store; " +
                     "do not delete it unless you mean to start a new, empty store.\n";
  if (::write(fd.get(), text.data(), text.size()) != ssize_t(text.size()) || ::fsync(fd.get()) != 0) {
    *error = path + ": " + sys_error("write");
    return false;
  }
  std::string dir = path.substr(0, path.rfind('/'));
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
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
      mdb_env_set_mapsize(env_, 0);
      MDB_envinfo info;
      mdb_env_info(env_, &info);
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
      mdb_env_set_mapsize(env_, 0);
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
  uint64_t next = map_size_ * 2;
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc == 0) map_size_ = next;
  return rc;
}

int Env::reader_check() {
  int dead = 0;
  mdb_reader_check(env_, &dead);
  return dead;
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
  mdb_env_set_maxdbs(env_, 32);
  mdb_env_set_maxreaders(env_, o.max_readers);
  // An existing file may be larger than the requested map; LMDB then uses the file size.
  map_size_ = o.map_size;
  mdb_env_set_mapsize(env_, map_size_);
  rc = mdb_env_open(env_, o.dir.c_str(), MDB_NOTLS | MDB_NORDAHEAD, 0640);
  if (rc) {
    std::string why = lmdb_error(rc);
    if (rc == MDB_INVALID) why = "not an LMDB file or corrupt header (" + why + ")";
    *error = "store " + data_file_ + ": cannot open: " + why +
             "; refusing to start (move the file aside to start empty, or restore a backup)";
    mdb_env_close(env_);
    env_ = nullptr;
    return false;
  }
  MDB_envinfo info;
  mdb_env_info(env_, &info);
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
      mdb_env_close(env_);
      env_ = nullptr;
      return false;
    }
  }

  auto fail = [&](const std::string& what) {
    *error = "store " + data_file_ + ": " + what + "; refusing to start";
    return false;
  };

  // Open (or create) the named databases in one transaction.
  {
    Txn txn;
    rc = o.create ? begin_write(&txn) : begin_read(&txn);
    if (rc) return fail("cannot begin transaction: " + lmdb_error(rc));
    bool fresh = false;
    for (size_t i = 0; i < size_t(Db::Count); i++) {
      rc = mdb_dbi_open(txn.get(), kDbNames[i], o.create ? MDB_CREATE : 0, &dbis_[i]);
      if (rc == MDB_NOTFOUND) return fail(std::string("database \"") + kDbNames[i] + "\" is missing");
      if (rc) return fail(std::string("cannot open database \"") + kDbNames[i] + "\": " + lmdb_error(rc));
    }
    std::string_view fmt;
    rc = txn.get(Db::Meta, "format", &fmt);
    if (rc == MDB_NOTFOUND) {
      // A brand-new environment has no records anywhere; anything else without a format
      // marker is not ours.
      MDB_stat s;
      for (size_t i = 0; i < size_t(Db::Count); i++) {
        if (mdb_stat(txn.get(), dbis_[i], &s) == 0 && s.ms_entries > 0)
          return fail(std::string("database \"") + kDbNames[i] + "\" has data but the store has no format marker");
      }
      if (!o.create) return fail("store is not initialised yet");
      fresh = true;
    } else if (rc) {
      return fail("cannot read format marker: " + lmdb_error(rc));
    } else if (read_u32(fmt) != kStoreFormat) {
      return fail("unsupported store format " + std::to_string(read_u32(fmt)) + " (this build reads " +
                  std::to_string(kStoreFormat) + ")");
    }
    if (fresh) rc = txn.put(Db::Meta, "format", key_u32(kStoreFormat));
    // Committing (also a read-only transaction) keeps the dbi handles for the environment.
    if (!rc) rc = txn.commit();
    if (rc) return fail("cannot initialise: " + lmdb_error(rc));
  }

  if (o.create && access(marker.c_str(), F_OK) != 0) {
    std::string err;
    if (!write_marker(marker, &err)) return fail(err);
  }

  // Light integrity pass: stat every database and read its first and last record, so a
  // truncated or damaged file is caught now rather than on some later request.
  Txn txn;
  rc = begin_read(&txn);
  if (rc) return fail("cannot begin read transaction: " + lmdb_error(rc));
  for (size_t i = 0; i < size_t(Db::Count); i++) {
    MDB_stat s;
    rc = mdb_stat(txn.get(), dbis_[i], &s);
    if (rc) return fail(std::string("database \"") + kDbNames[i] + "\": " + lmdb_error(rc));
    Cursor c(txn, Db(i));
    if (c.seek()) c.last();
    if (c.error()) return fail(std::string("database \"") + kDbNames[i] + "\" is damaged: " + lmdb_error(c.error()));
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
  }
  return "unknown";
}

std::string encode_change(const ChangeRecord& r) {
  std::string out = key_u64(r.epoch);
  out += char(r.type);
  put_varint(out, r.ops.size());
  for (auto& op : r.ops) {
    out += char(op.is_put ? 1 : 2);
    out += char(op.db);
    put_varint(out, op.key.size());
    out += op.key;
    if (op.is_put) {
      put_varint(out, op.value.size());
      out += op.value;
    }
  }
  return out;
}

bool decode_change(std::string_view in, ChangeRecord* r) {
  if (in.size() < 9) return false;
  r->epoch = read_u64(in.substr(0, 8));
  r->type = ChangeType(uint8_t(in[8]));
  in.remove_prefix(9);
  uint64_t n;
  if (!get_varint(in, &n) || n > in.size()) return false;
  r->ops.clear();
  for (uint64_t i = 0; i < n; i++) {
    if (in.size() < 2) return false;
    ChangeOp op;
    op.is_put = in[0] == 1;
    if (in[0] != 1 && in[0] != 2) return false;
    op.db = Db(uint8_t(in[1]));
    if (uint8_t(op.db) >= uint8_t(Db::ChangeLog)) return false;
    in.remove_prefix(2);
    uint64_t len;
    if (!get_varint(in, &len) || len > in.size()) return false;
    op.key = std::string(in.substr(0, len));
    in.remove_prefix(len);
    if (op.is_put) {
      if (!get_varint(in, &len) || len > in.size()) return false;
      op.value = std::string(in.substr(0, len));
      in.remove_prefix(len);
    }
    r->ops.push_back(std::move(op));
  }
  return true;
}

int Mutation::put(Db db, std::string_view key, std::string_view value) {
  int rc = txn_.put(db, key, value);
  if (rc == 0) rec_.ops.push_back({true, db, std::string(key), std::string(value)});
  return rc;
}

int Mutation::del(Db db, std::string_view key) {
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

}  // namespace rdv
