#include "leader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "crc32c.h"
#include "crypto.h"
#include "log.h"
#include "replicator.h"
#include "util.h"
#include "wire.h"

namespace rdv::replicator {

namespace {

constexpr size_t kMaxQueuedOutput = 8u << 20;  // a session is not fed more while this is unsent
constexpr size_t kLivenessRowsPerFrame = 100000;
constexpr size_t kMaxStandbyId = 200;
constexpr int64_t kAckFlushMs = 100;  // standbys' acks go to the registry's consumers this often

std::string consumer_name(const std::string& id) { return "standby:" + id; }

void send_json(Link& link, const json_t* j) {
  std::string out;
  wire::append_json_frame(out, json_dump_compact(j));
  link.send(out);
}

void send_frame(Link& link, repl::Kind kind, std::string_view payload) {
  std::string out;
  repl::append_frame(out, kind, payload);
  link.send(out);
}

bool get_u64(const json_t* msg, const char* key, uint64_t* out) {
  json_t* v = json_object_get(msg, key);
  if (!v) {
    *out = 0;
    return true;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = uint64_t(json_integer_value(v));
  return true;
}

}  // namespace

// The full copy of one session: mdb_env_copyfd2 (compacting, in its own read transaction, so
// the registry's writer never waits) into an unnamed file in the data dir, then its size and
// CRC32C, on a thread; the loop hears of the end through a pipe.
struct Leader::Copier {
  UniqueFd file, pipe_r, pipe_w;
  EventPtr ev;
  std::thread thread;
  int rc = 0;
  uint64_t size = 0;
  uint32_t crc = 0;
  std::string error;
  ~Copier() {
    if (thread.joinable()) thread.join();
  }
};

struct Leader::Session {
  Leader* owner = nullptr;
  std::unique_ptr<Link> link;
  std::string id, addr;
  enum class State { Handshake, Copying, AwaitCopyAck, Streaming } state = State::Handshake;
  uint64_t acked = 0, sent_through = 0, consumer_reported = 0;
  int64_t connected_unix = 0, last_heard_unix = 0, last_sent_unix = 0;
  uint64_t records_sent = 0, bytes_sent = 0, full_copies = 0;
  std::unique_ptr<Copier> copier;
  uint64_t copy_off = 0;
  bool copy_ready = false;
};

Leader::Leader(Replicator& r) : r_(r) {
  beat_ev_.reset(event_new(r_.base(), -1, EV_PERSIST, on_beat, this));
  ack_ev_.reset(event_new(r_.base(), -1, EV_PERSIST, on_ack_flush, this));
  int64_t ms = std::max<int64_t>(10, r_.config().repl_heartbeat_ns / 1000000);
  timeval tv{time_t(ms / 1000), suseconds_t((ms % 1000) * 1000)};
  event_add(beat_ev_.get(), &tv);
  timeval ack{0, kAckFlushMs * 1000};
  event_add(ack_ev_.get(), &ack);
}

Leader::~Leader() = default;

Leader::Session* Leader::find(const std::string& id) {
  for (auto& s : sessions_)
    if (s->id == id && s->link && s->link->alive()) return s.get();
  return nullptr;
}

size_t Leader::streaming() const {
  return size_t(std::count_if(sessions_.begin(), sessions_.end(),
                              [](const auto& s) { return s->state == Session::State::Streaming && s->link->alive(); }));
}

void Leader::adopt(UniqueFd fd, const json_t* request, std::string buffered, std::string peer) {
  auto owned = std::make_unique<Session>();
  Session* s = owned.get();
  s->owner = this;
  s->addr = std::move(peer);
  s->connected_unix = s->last_heard_unix = unix_now();
  s->link = std::make_unique<Link>(
      r_.base(), std::move(fd),
      Link::Handlers{[this, s] { on_input(*s); }, [this, s](const std::string& why) { drop(s, why); },
                     [this, s] { pump(*s); }});
  sessions_.push_back(std::move(owned));
  s->link->in() = std::move(buffered);
  handshake(*s, request);
}

void Leader::refuse(Session& s, const std::string& error) {
  log_warn("standby refused", {{"standby", s.id.empty() ? "?" : s.id}, {"peer", s.addr}, {"error", error}});
  JsonPtr j(json_pack("{s:s,s:s}", "type", "error", "error", error.c_str()));
  send_json(*s.link, j.get());
  s.link->close_after_flush("refused: " + error);
}

void Leader::handshake(Session& s, const json_t* req) {
  if (r_.role().kind == Role::Kind::Standby)
    return refuse(s, "replication refused: this instance is a standby (leader " + r_.role().leader + ")");
  if (r_.role().kind == Role::Kind::Fenced) return refuse(s, "replication refused: this instance is fenced");
  json_t* proto = json_object_get(req, "protocol");
  if (!json_is_integer(proto) || json_integer_value(proto) != repl::kProtocolVersion)
    return refuse(s, "unsupported replication protocol " + (json_is_integer(proto) ? std::to_string(json_integer_value(proto)) : std::string("(none)")) +
                         " (this leader speaks " + std::to_string(repl::kProtocolVersion) + ")");
  std::string_view id = json_str(req, "standby_id");
  if (id.empty() || id.size() > kMaxStandbyId) return refuse(s, "standby_id required (1 to 200 bytes)");
  uint64_t standby_epoch, last_seq, last_crc;
  if (!get_u64(req, "epoch", &standby_epoch) || !get_u64(req, "last_seq", &last_seq) ||
      !get_u64(req, "last_crc", &last_crc) || last_crc > 0xffffffffu)
    return refuse(s, "epoch, last_seq and last_crc must be non-negative integers");
  s.id = std::string(id);

  repl::HandshakeInputs in;
  in.leader_epoch = r_.epoch();
  in.standby_epoch = standby_epoch;
  in.standby_last_seq = last_seq;
  in.standby_last_crc = uint32_t(last_crc);
  uint64_t leader_last = 0;
  {
    Txn txn;
    if (int rc = r_.env().begin_read(&txn)) return refuse(s, "leader store unavailable: " + lmdb_error(rc));
    LogPosition pos;
    read_position(txn, &pos);
    in.leader_last_seq = leader_last = pos.last_seq;
    in.leader_first_seq = pos.first_seq;
    std::string_view rec;
    if (last_seq > 0 && read_record(txn, last_seq, &rec)) {
      in.leader_has_standby_seq = true;
      in.leader_crc_at_standby_seq = repl::record_crc(rec);
    }
  }
  repl::HandshakeDecision d = repl::decide_start(in);
  if (d.start == repl::Start::Refuse) {
    refuse(s, "stale leader: " + d.reason);
    r_.fence(standby_epoch, "", "standby " + s.id + " at " + s.addr + " has seen epoch " + std::to_string(standby_epoch));
    return;
  }
  if (Session* old = find(s.id); old && old != &s) old->link->close("replaced by a new connection from the same standby");
  bool copy = d.start == repl::Start::Copy;
  JsonPtr ok(json_pack("{s:s,s:i,s:I,s:s,s:s,s:I,s:I}", "type", "replication_ok", "protocol", repl::kProtocolVersion,
                       "epoch", json_int_t(in.leader_epoch), "leader_id", r_.id().c_str(), "mode",
                       copy ? "copy" : "records", "from_seq", json_int_t(copy ? 0 : last_seq + 1), "last_seq",
                       json_int_t(leader_last)));
  send_json(*s.link, ok.get());
  log_info("standby connected", {{"standby", s.id}, {"peer", s.addr}, {"mode", copy ? "copy" : "records"},
                                 {"reason", d.reason}, {"standby_seq", std::to_string(last_seq)},
                                 {"leader_seq", std::to_string(leader_last)}});
  // Registered as a consumer at once, so the records it needs are not trimmed meanwhile.
  uint64_t keep_from = copy ? leader_last : last_seq;
  JsonPtr ack(json_pack("{s:s,s:s,s:I}", "type", "bus_ack", "consumer", consumer_name(s.id).c_str(), "seq",
                        json_int_t(keep_from)));
  r_.bus().send(ack.get());
  s.consumer_reported = keep_from;
  if (copy) {
    begin_copy(s);
    return;
  }
  s.state = Session::State::Streaming;
  s.acked = s.sent_through = last_seq;
  send_liveness(s, 0);
  pump(s);
  report_acks();
}

void Leader::begin_copy(Session& s) {
  s.state = Session::State::Copying;
  s.full_copies++;
  auto c = std::make_unique<Copier>();
  const std::string& dir = r_.config().data_dir;
  c->file.reset(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!c->file) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    std::string path = dir + "/replica-outgoing.XXXXXX";
    c->file.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (c->file) ::unlink(path.c_str());
  }
  int p[2];
  if (!c->file || ::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    s.link->close("cannot prepare a full copy: " + sys_error("open/pipe2"));
    return;
  }
  c->pipe_r.reset(p[0]);
  c->pipe_w.reset(p[1]);
  Session* sp = &s;
  c->ev.reset(event_new(
      r_.base(), c->pipe_r.get(), EV_READ,
      [](evutil_socket_t, short, void* arg) {
        auto* ss = static_cast<Session*>(arg);
        ss->owner->copy_done(*ss);
      },
      sp));
  event_add(c->ev.get(), nullptr);
  Copier* raw = c.get();
  MDB_env* env = r_.env().get();
  raw->thread = std::thread([raw, env] {
    raw->rc = mdb_env_copyfd2(env, raw->file.get(), MDB_CP_COMPACT);
    if (raw->rc == 0) {
      struct stat st;
      if (fstat(raw->file.get(), &st) != 0) {
        raw->rc = errno;
      } else {
        raw->size = uint64_t(st.st_size);
        std::string buf(repl::kCopyChunk, '\0');
        for (uint64_t off = 0; off < raw->size;) {
          ssize_t n = ::pread(raw->file.get(), buf.data(), buf.size(), off_t(off));
          if (n <= 0) {
            raw->rc = n < 0 ? errno : EIO;
            break;
          }
          raw->crc = crc32c(std::string_view(buf.data(), size_t(n)), raw->crc);
          off += uint64_t(n);
        }
      }
    }
    if (raw->rc) raw->error = mdb_strerror(raw->rc);
    char one = 1;
    (void)!::write(raw->pipe_w.get(), &one, 1);
  });
  s.copier = std::move(c);
  log_info("full copy started", {{"standby", s.id}});
}

void Leader::copy_done(Session& s) {
  Copier& c = *s.copier;
  c.thread.join();
  if (c.rc != 0) {
    log_error("full copy failed", {{"standby", s.id}, {"error", c.error}});
    send_frame(*s.link, repl::Kind::Error, "full copy failed: " + c.error);
    s.link->close_after_flush("full copy failed");
    return;
  }
  log_info("full copy taken; sending", {{"standby", s.id}, {"bytes", std::to_string(c.size)}});
  s.copy_ready = true;
  s.copy_off = 0;
  pump(s);
}

void Leader::pump(Session& s) {
  if (!s.link || !s.link->alive()) return;
  if (s.state == Session::State::Copying) {
    if (!s.copy_ready) return;
    Copier& c = *s.copier;
    std::string buf(repl::kCopyChunk, '\0');
    while (s.copy_off < c.size && s.link->pending_output() < kMaxQueuedOutput) {
      ssize_t n = ::pread(c.file.get(), buf.data(), buf.size(), off_t(s.copy_off));
      if (n <= 0) {
        s.link->close("reading the full copy: " + sys_error("pread"));
        return;
      }
      send_frame(*s.link, repl::Kind::CopyChunk, repl::encode_copy_chunk(s.copy_off, std::string_view(buf.data(), size_t(n))));
      s.copy_off += uint64_t(n);
      s.bytes_sent += uint64_t(n);
    }
    if (s.copy_off >= c.size) {
      send_frame(*s.link, repl::Kind::CopyEnd, repl::encode_copy_end(c.size, c.crc));
      s.state = Session::State::AwaitCopyAck;
      s.copier.reset();
      s.copy_ready = false;
    }
    return;
  }
  if (s.state != Session::State::Streaming) return;
  if (s.link->pending_output() >= kMaxQueuedOutput) return;
  Txn txn;
  if (int rc = r_.env().begin_read(&txn)) {
    log_error("reading the change log failed", {{"error", lmdb_error(rc)}});
    return;
  }
  Cursor c(txn, Db::ChangeLog);
  repl::RecordsBuilder batch;
  auto send_batch = [&] {
    if (batch.count() == 0) return;
    s.records_sent += batch.count();
    s.bytes_sent += batch.bytes();
    send_frame(*s.link, repl::Kind::Records, batch.take());
    s.last_sent_unix = last_sent_unix_ = unix_now();
  };
  for (bool ok = c.seek(key_u64(s.sent_through + 1)); ok; ok = c.next()) {
    uint64_t seq = read_u64(c.key());
    if (seq != s.sent_through + 1) {
      send_batch();
      send_frame(*s.link, repl::Kind::Error,
                 "records after " + std::to_string(s.sent_through) + " are no longer kept; reconnect for a full copy");
      s.link->close_after_flush("standby needs trimmed records");
      return;
    }
    batch.add(c.value());
    s.sent_through = seq;
    if (batch.full()) {
      send_batch();
      if (!s.link->alive() || s.link->pending_output() >= kMaxQueuedOutput) break;
    }
  }
  send_batch();
}

void Leader::send_liveness(Session& s, int64_t since_ns) {
  Txn txn;
  if (r_.env().begin_read(&txn) != 0) return;
  Cursor c(txn, Db::Liveness);
  std::vector<repl::LivenessRow> rows;
  for (bool ok = c.seek(); ok; ok = c.next()) {
    int64_t ns = int64_t(read_u64(c.value()));
    if (ns < since_ns) continue;
    rows.push_back({read_u32(c.key()), ns});
    if (rows.size() >= kLivenessRowsPerFrame) {
      send_frame(*s.link, repl::Kind::Liveness, repl::encode_liveness(rows));
      rows.clear();
    }
  }
  if (!rows.empty()) send_frame(*s.link, repl::Kind::Liveness, repl::encode_liveness(rows));
}

void Leader::on_commit(uint64_t seq) {
  r_.set_last_seq(seq);
  if (sessions_.empty()) return;
  // The lag window: when each new record became known, and its size.
  {
    Txn txn;
    if (r_.env().begin_read(&txn) == 0) {
      uint64_t from = window_.last_seq() + 1;
      if (seq > 1000 && from + 1000 < seq) from = seq - 1000;  // a large jump: the newest suffice
      const int64_t now = mono_now_ns();
      Cursor c(txn, Db::ChangeLog);
      for (bool ok = c.seek(key_u64(from)); ok; ok = c.next()) {
        uint64_t s = read_u64(c.key());
        if (s > seq) break;
        window_.add(s, now, c.key().size() + c.value().size());
      }
    }
  }
  for (auto& s : sessions_) pump(*s);
}

void Leader::on_liveness(int64_t flush_unix_ms) {
  int64_t since_ns = (last_flush_unix_ms_ - 2000) * 1000000;  // overlap: rows resent are harmless
  last_flush_unix_ms_ = flush_unix_ms;
  for (auto& s : sessions_)
    if (s->state == Session::State::Streaming && s->link->alive()) send_liveness(*s, since_ns);
}

void Leader::on_input(Session& s) {
  std::string& in = s.link->in();
  size_t off = 0;
  while (s.link->alive()) {
    repl::Frame f;
    size_t used = 0;
    std::string why;
    repl::DecodeStatus st = repl::decode_frame(std::string_view(in).substr(off), &f, &used, &why);
    if (st == repl::DecodeStatus::NeedMore) break;
    if (st == repl::DecodeStatus::Bad) {
      s.link->close("bad frame from standby: " + why);
      return;
    }
    on_frame(s, f.kind, f.payload);
    off += used;
  }
  if (s.link->alive()) s.link->consume(off);
}

void Leader::on_frame(Session& s, repl::Kind kind, std::string_view payload) {
  s.last_heard_unix = unix_now();
  uint64_t seq = 0;
  if (kind == repl::Kind::Ack) {
    if (!repl::decode_ack(payload, &seq)) return s.link->close("malformed ack");
  } else if (kind == repl::Kind::StandbyBeat) {
    repl::StandbyBeat b;
    if (!repl::decode_standby_beat(payload, &b)) return s.link->close("malformed standby heartbeat");
    seq = b.applied_seq;
  } else {
    return s.link->close(std::string("unexpected frame from standby: ") + repl::kind_name(kind));
  }
  if (s.state == Session::State::AwaitCopyAck && kind == repl::Kind::Ack) {
    // The standby installed the copy: stream from what it holds now.
    s.state = Session::State::Streaming;
    s.acked = s.sent_through = seq;
    log_info("standby installed the full copy; streaming", {{"standby", s.id}, {"seq", std::to_string(seq)}});
    send_liveness(s, 0);
    pump(s);
    report_acks();
    return;
  }
  if (s.state != Session::State::Streaming) return;
  if (seq > s.sent_through) return s.link->close("standby acknowledged records it was never sent");
  if (seq > s.acked) {
    s.acked = seq;
    report_acks();
  }
}

void Leader::report_acks() {
  uint64_t best = 0;
  size_t n = 0;
  for (auto& s : sessions_) {
    if (s->state != Session::State::Streaming || !s->link->alive()) continue;
    best = std::max(best, s->acked);
    n++;
  }
  if (best == reported_ack_ && n == reported_streaming_) return;
  reported_ack_ = best;
  reported_streaming_ = n;
  JsonPtr m(json_pack("{s:s,s:I,s:I}", "type", "repl_acked", "seq", json_int_t(best), "standbys", json_int_t(n)));
  r_.bus().send(m.get());
}

void Leader::on_ack_flush(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Leader*>(arg);
  for (auto& s : self->sessions_) {
    if (s->state != Session::State::Streaming || s->acked <= s->consumer_reported) continue;
    JsonPtr m(json_pack("{s:s,s:s,s:I}", "type", "bus_ack", "consumer", consumer_name(s->id).c_str(), "seq",
                        json_int_t(s->acked)));
    self->r_.bus().send(m.get());
    s->consumer_reported = s->acked;
  }
}

void Leader::on_beat(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Leader*>(arg);
  const int64_t silent_ns = 3 * self->r_.config().repl_heartbeat_ns;
  repl::Heartbeat hb{self->r_.last_seq(), self->r_.epoch(), unix_now_ns()};
  std::string payload = repl::encode_heartbeat(hb);
  for (auto& s : self->sessions_) {
    if (!s->link->alive() || s->state == Session::State::Handshake) continue;
    if (mono_now_ns() - s->link->last_input_ns() > silent_ns) {
      s->link->close("standby silent for 3 heartbeats");
      continue;
    }
    send_frame(*s->link, repl::Kind::Heartbeat, payload);
  }
}

void Leader::drop(Session* s, const std::string& why) {
  auto it = std::find_if(sessions_.begin(), sessions_.end(), [s](const auto& p) { return p.get() == s; });
  if (it == sessions_.end()) return;
  if (!s->id.empty()) log_info("standby disconnected", {{"standby", s->id}, {"peer", s->addr}, {"reason", why}});
  std::unique_ptr<Session> gone = std::move(*it);
  sessions_.erase(it);
  report_acks();
}

void Leader::stop_all(const std::string& why) {
  for (auto& s : sessions_) {
    if (!s->link->alive()) continue;
    send_frame(*s->link, repl::Kind::Error, why);
    s->link->close_after_flush(why);
  }
}

json_t* Leader::standbys_json() const {
  json_t* arr = json_array();
  const int64_t now = mono_now_ns();
  for (auto& s : sessions_) {
    if (s->id.empty()) continue;
    const char* state = s->state == Session::State::Streaming   ? "streaming"
                        : s->state == Session::State::Handshake ? "handshake"
                                                                : "copying";
    repl::LagWindow::Lag lag = window_.lag(s->acked, std::max(r_.last_seq(), s->sent_through), now);
    if (s->state != Session::State::Streaming) {
      lag.records = r_.last_seq() > s->acked ? r_.last_seq() - s->acked : 0;
      lag.exact = false;
    }
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:f,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "id", s->id.c_str(), "addr",
                       s->addr.c_str(), "state", state, "acked_seq", json_int_t(s->acked), "lag_records",
                       json_int_t(lag.records), "lag_bytes", json_int_t(lag.bytes), "lag_seconds", lag.seconds,
                       "lag_exact", int(lag.exact), "connected_unix", json_int_t(s->connected_unix), "last_heard_unix",
                       json_int_t(s->last_heard_unix), "records_sent", json_int_t(s->records_sent), "bytes_sent",
                       json_int_t(s->bytes_sent), "full_copies", json_int_t(s->full_copies), "last_sent_unix",
                       json_int_t(s->last_sent_unix)));
  }
  return arr;
}

}  // namespace rdv::replicator
