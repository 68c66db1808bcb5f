#include "apply.h"

#include <memory>

#include "log.h"

namespace rdv::replicator {

int read_position(const Txn& txn, LogPosition* out) {
  *out = LogPosition{};
  Cursor c(txn, Db::ChangeLog);
  if (c.last()) {
    out->last_seq = read_u64(c.key());
    out->last_crc = repl::record_crc(c.value());
    ChangeRecord rec;
    if (decode_change(c.value(), &rec)) out->last_epoch = rec.epoch;
    if (c.seek()) out->first_seq = read_u64(c.key());
  }
  if (c.error()) return c.error();
  // meta last_seq is authoritative when the log was trimmed to nothing (never happens: the
  // newest record is always kept) or when meta is ahead (it never is): keep the larger.
  uint64_t meta = meta_u64(txn, "last_seq");
  if (meta > out->last_seq) {
    out->last_seq = meta;
    out->last_crc = 0;  // we do not hold it: the leader will decide on a copy
  }
  return 0;
}

bool read_record(const Txn& txn, uint64_t seq, std::string_view* out) {
  return txn.get(Db::ChangeLog, key_u64(seq), out) == 0;
}

namespace {

// Applies one decoded record's ops and stores the record itself.
int apply_one(Txn& txn, const ChangeRecord& rec, std::string_view bytes) {
  for (const ChangeOp& op : rec.ops) {
    int rc = op.is_put ? txn.put(op.db, op.key, op.value) : txn.del(op.db, op.key);
    if (rc == MDB_NOTFOUND && !op.is_put) rc = 0;
    if (rc) return rc;
  }
  if (int rc = txn.put(Db::ChangeLog, key_u64(rec.seq), bytes)) return rc;
  return txn.put(Db::Meta, "last_seq", key_u64(rec.seq));
}

}  // namespace

ApplyResult apply_records(Env& env, const LogPosition& from, const std::vector<std::string_view>& records,
                          uint64_t leader_epoch) {
  ApplyResult res;
  res.position = from;
  // Decode and check everything first: a refused batch writes nothing.
  std::vector<ChangeRecord> decoded(records.size());
  uint64_t expect = from.last_seq + 1, epoch_floor = from.last_epoch;
  for (size_t i = 0; i < records.size(); i++) {
    std::string why;
    if (!decode_change(records[i], &decoded[i], &why)) {
      res.error = "record " + std::to_string(expect) + " refused: " + why;
      return res;
    }
    const ChangeRecord& r = decoded[i];
    if (r.seq != expect) {
      res.error = "record with sequence " + std::to_string(r.seq) + " where " + std::to_string(expect) + " was due";
      return res;
    }
    if (r.epoch > leader_epoch) {
      res.error = "record " + std::to_string(r.seq) + " carries epoch " + std::to_string(r.epoch) +
                  ", above its leader's " + std::to_string(leader_epoch);
      return res;
    }
    if (r.epoch < epoch_floor) {
      res.error = "record " + std::to_string(r.seq) + " carries epoch " + std::to_string(r.epoch) +
                  ", below the " + std::to_string(epoch_floor) + " of the record before it";
      return res;
    }
    epoch_floor = r.epoch;
    expect++;
  }
  for (int attempt = 0;; attempt++) {
    Txn txn;
    int rc = env.begin_write(&txn);
    for (size_t i = 0; rc == 0 && i < decoded.size(); i++) rc = apply_one(txn, decoded[i], records[i]);
    if (rc == 0) rc = txn.commit();
    if (rc == MDB_MAP_FULL && attempt < 8) {
      txn.abort();
      if ((rc = env.grow()) == 0) continue;
    }
    if (rc) {
      res.error = "applying records: " + lmdb_error(rc);
      return res;
    }
    break;
  }
  res.applied = decoded.size();
  if (!decoded.empty()) {
    res.position.last_seq = decoded.back().seq;
    res.position.last_crc = repl::record_crc(records.back());
    res.position.last_epoch = decoded.back().epoch;
    if (res.position.first_seq == 0) res.position.first_seq = decoded.front().seq;
  }
  return res;
}

namespace {

// Empties `db` in the live transaction and refills it from the copy's.
int refill(Txn& live, const Txn& copy, Db db, uint64_t* entries) {
  if (!live.env()->has(db)) return 0;
  if (int rc = mdb_drop(live.get(), live.env()->dbi(db), 0)) return rc;
  if (!copy.env()->has(db)) return 0;
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(live.get(), live.env()->dbi(db), &raw)) return rc;
  std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> cur(raw, mdb_cursor_close);
  Cursor src(copy, db);
  for (bool ok = src.seek(); ok; ok = src.next()) {
    MDB_val k{src.key().size(), const_cast<char*>(src.key().data())};
    MDB_val v{src.value().size(), const_cast<char*>(src.value().data())};
    if (int rc = mdb_cursor_put(cur.get(), &k, &v, MDB_APPEND)) return rc;
    (*entries)++;
  }
  return src.error();
}

}  // namespace

bool install_copy(Env& env, const std::string& copy_dir, LogPosition* position, std::string* error) {
  Env copy;
  EnvOptions o;
  o.dir = copy_dir;
  o.map_size = env.map_size();
  o.create = false;
  if (!copy.open(o, error)) {
    *error = "received copy: " + *error;
    return false;
  }
  if (copy.format() > kStoreFormat) {
    *error = "received copy is store format " + std::to_string(copy.format()) + ", newer than this build's " +
             std::to_string(kStoreFormat) + ": upgrade this standby first";
    return false;
  }
  for (int attempt = 0;; attempt++) {
    Txn src;
    int rc = copy.begin_read(&src);
    if (rc) {
      *error = "received copy: " + lmdb_error(rc);
      return false;
    }
    Txn live;
    rc = env.begin_write(&live);
    uint64_t entries = 0;
    for (size_t i = 0; rc == 0 && i < size_t(Db::Count); i++) {
      Db db = Db(i);
      if (db == Db::Consumers) continue;  // the leader's consumers are not ours
      rc = refill(live, src, db, &entries);
    }
    if (rc == 0) rc = clear_consumers(live);
    if (rc == 0) rc = read_position(live, position);
    if (rc == 0) rc = live.commit();
    if (rc == MDB_MAP_FULL && attempt < 8) {
      live.abort();
      src.abort();
      if ((rc = env.grow()) == 0) continue;
    }
    if (rc) {
      *error = "installing the received copy: " + lmdb_error(rc);
      return false;
    }
    log_info("full copy installed", {{"entries", std::to_string(entries)}, {"last_seq", std::to_string(position->last_seq)}});
    return true;
  }
}

int apply_liveness(Env& env, const std::vector<repl::LivenessRow>& rows, size_t* written) {
  *written = 0;
  Txn txn;
  if (int rc = env.begin_write(&txn)) return rc;
  for (const repl::LivenessRow& r : rows) {
    std::string_view node;
    std::string key = key_u32(r.id);
    if (txn.get(Db::Nodes, key, &node) != 0) continue;
    if (int rc = txn.put(Db::Liveness, key, key_u64(uint64_t(r.last_seen_ns)))) return rc;
    (*written)++;
  }
  return txn.commit();
}

}  // namespace rdv::replicator
