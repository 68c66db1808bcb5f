#include "follower.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "crc32c.h"
#include "log.h"
#include "replicator.h"
#include "util.h"
#include "wire.h"

namespace rdv::replicator {

namespace {

constexpr int64_t kConnectTimeoutMs = 10000;
constexpr int64_t kAckEveryMs = 100;
constexpr int64_t kNotifyEveryMs = 50;
constexpr uint64_t kAckEveryRecords = 1000;
constexpr size_t kMaxPendingRecords = 20000;  // records of one read applied in one transaction
constexpr int64_t kMaxBackoffMs = 5000;
constexpr int64_t kStableStreamNs = 10LL * 1000000000;

void arm(event* ev, int64_t ms) {
  timeval tv{time_t(ms / 1000), suseconds_t((ms % 1000) * 1000)};
  event_add(ev, &tv);
}

std::string incoming_dir(const Replicator& r) { return r.config().data_dir + "/replica-incoming"; }

void remove_incoming(const std::string& dir) {
  for (const char* f : {"/data.mdb", "/lock.mdb"}) ::unlink((dir + f).c_str());
}

}  // namespace

Follower::Follower(Replicator& r) : r_(r) {
  retry_ev_.reset(event_new(r_.base(), -1, 0, on_retry, this));
  beat_ev_.reset(event_new(r_.base(), -1, EV_PERSIST, on_beat, this));
  ack_ev_.reset(event_new(r_.base(), -1, 0, on_ack_timer, this));
  connect_timeout_ev_.reset(event_new(r_.base(), -1, 0, on_connect_timeout, this));
  notify_ev_.reset(event_new(r_.base(), -1, 0, on_notify_timer, this));
}

Follower::~Follower() { stop(); }

const char* Follower::state_name(State s) {
  switch (s) {
    case State::Idle: return "idle";
    case State::Connecting: return "connecting";
    case State::Handshake: return "handshake";
    case State::Copying: return "copying";
    case State::Streaming: return "streaming";
    case State::Backoff: return "backoff";
    case State::Refused: return "refused";
  }
  return "idle";
}

void Follower::start(const std::string& leader) {
  stop();
  leader_ = leader;
  backoff_ms_ = 100;
  arm(beat_ev_.get(), std::max<int64_t>(10, r_.config().repl_heartbeat_ns / 1000000));
  log_info("following the leader", {{"leader", leader_}});
  connect();
}

void Follower::stop() {
  if (link_ && state_ == State::Streaming) send_ack();  // what we applied, while we can
  link_.reset();
  copy_fd_.reset();
  for (event* ev : {retry_ev_.get(), beat_ev_.get(), ack_ev_.get(), connect_timeout_ev_.get(), notify_ev_.get()})
    if (ev) event_del(ev);
  if (notify_scheduled_) notify_registry();
  ack_scheduled_ = notify_scheduled_ = false;
  if (!leader_.empty()) log_info("stopped following the leader", {{"leader", leader_}});
  leader_.clear();
  state_ = State::Idle;
}

void Follower::on_retry(evutil_socket_t, short, void* arg) { static_cast<Follower*>(arg)->connect(); }

void Follower::connect() {
  if (leader_.empty()) return;
  state_ = State::Connecting;
  std::string error;
  link_ = dial_leader(r_.base(), r_.config(), leader_,
                      Link::Handlers{[this] { on_input(); }, [this](const std::string& why) { on_closed(why); }, nullptr},
                      &error);
  if (!link_) {
    backoff(error, false);
    return;
  }
  link_->await_connect([this] { on_connected(); });
  arm(connect_timeout_ev_.get(), kConnectTimeoutMs);
}

void Follower::on_connect_timeout(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Follower*>(arg);
  if (self->link_ && self->state_ == State::Connecting) self->link_->close("connect timed out after 10 s");
}

void Follower::on_connected() {
  event_del(connect_timeout_ev_.get());
  {
    Txn txn;
    if (int rc = r_.env().begin_read(&txn)) {
      link_->close("store unavailable: " + lmdb_error(rc));
      return;
    }
    read_position(txn, &pos_);
  }
  std::string id = r_.id();
  JsonPtr sub(json_pack("{s:s,s:s,s:i,s:s,s:I,s:I,s:I}", "type", "subscribe_replication", "token",
                        r_.config().repl_token.c_str(), "protocol", repl::kProtocolVersion, "standby_id", id.c_str(),
                        "epoch", json_int_t(r_.epoch()), "last_seq", json_int_t(pos_.last_seq), "last_crc",
                        json_int_t(pos_.last_crc)));
  std::string out;
  wire::append_json_frame(out, json_dump_compact(sub.get()));
  link_->send(out);
  state_ = State::Handshake;
  last_contact_unix_ = unix_now();
}

void Follower::on_input() {
  std::string& in = link_->in();
  size_t off = 0;
  if (state_ == State::Handshake) {
    if (in.size() < 4) return;
    uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(in.data()));
    if (len > (1u << 20)) {
      link_->close("handshake reply too large");
      return;
    }
    if (in.size() < 4 + size_t(len)) return;
    json_error_t err;
    JsonPtr reply(json_loadb(in.data() + 4, len, 0, &err));
    off = 4 + len;
    if (!reply || !on_handshake_reply(reply.get())) return;
  }
  while (link_ && link_->alive()) {
    repl::Frame f;
    size_t used = 0;
    std::string why;
    repl::DecodeStatus st = repl::decode_frame(std::string_view(in).substr(off), &f, &used, &why);
    if (st == repl::DecodeStatus::NeedMore) break;
    if (st == repl::DecodeStatus::Bad) {
      if (apply_pending() && state_ == State::Streaming && acked_ != pos_.last_seq) send_ack();
      last_error_ = "bad frame from the leader: " + why;
      log_error("replication stream refused", {{"leader", leader_}, {"error", last_error_}});
      link_->close(last_error_);
      return;
    }
    last_contact_unix_ = unix_now();
    if (!on_frame(f.kind, f.payload)) {
      pending_.clear();
      pending_records_ = 0;
      // Tell the leader what did apply, then start again from there.
      if (link_->alive() && state_ == State::Streaming && acked_ != pos_.last_seq) send_ack();
      link_->close_after_flush(last_error_);
      return;
    }
    off += used;
  }
  if (!link_ || !link_->alive()) return;
  // The gathered records point into the input buffer: applied before it is consumed.
  if (!apply_pending()) {
    pending_.clear();
    pending_records_ = 0;
    if (acked_ != pos_.last_seq) send_ack();
    link_->close_after_flush(last_error_);
    return;
  }
  link_->consume(off);
  // Everything that arrived is applied: say so now rather than at the 100 ms tick, so a
  // leader in -repl-sync mode releases its writes after one round trip. Under load a read
  // brings many frames, so this is still one ack per burst.
  if (state_ == State::Streaming && acked_ != pos_.last_seq) send_ack();
}

bool Follower::on_handshake_reply(const json_t* reply) {
  std::string_view type = json_str(reply, "type");
  if (type == "error") {
    last_error_ = std::string(json_str(reply, "error"));
    log_error("the leader refused this standby", {{"leader", leader_}, {"error", last_error_}});
    state_ = State::Refused;
    link_->close(last_error_);
    return false;
  }
  if (type != "replication_ok") {
    last_error_ = "unexpected handshake reply \"" + std::string(type.substr(0, 40)) + "\"";
    link_->close(last_error_);
    return false;
  }
  json_t* e = json_object_get(reply, "epoch");
  uint64_t epoch = json_is_integer(e) && json_integer_value(e) > 0 ? uint64_t(json_integer_value(e)) : 0;
  if (epoch < r_.epoch()) {
    last_error_ = "leader " + leader_ + " is at epoch " + std::to_string(epoch) + ", this standby has seen " +
                  std::to_string(r_.epoch()) + ": refusing a stale leader";
    log_error("refusing a stale leader", {{"leader", leader_}, {"error", last_error_}});
    state_ = State::Refused;
    link_->close(last_error_);
    return false;
  }
  if (epoch > r_.epoch()) r_.raise_epoch_to(epoch);
  leader_epoch_ = epoch;
  json_t* ls = json_object_get(reply, "last_seq");
  leader_seq_ = json_is_integer(ls) ? uint64_t(json_integer_value(ls)) : 0;
  stream_started_ns_ = mono_now_ns();
  if (json_str(reply, "mode") == "copy") {
    std::string dir = incoming_dir(r_);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      last_error_ = dir + ": " + sys_error("mkdir");
      link_->close(last_error_);
      return false;
    }
    remove_incoming(dir);
    copy_fd_.reset(::open((dir + "/data.mdb").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!copy_fd_) {
      last_error_ = dir + "/data.mdb: " + sys_error("open");
      link_->close(last_error_);
      return false;
    }
    copy_received_ = 0;
    copy_crc_ = 0;
    state_ = State::Copying;
    log_info("receiving a full copy from the leader", {{"leader", leader_}});
  } else {
    state_ = State::Streaming;
    log_info("streaming from the leader", {{"leader", leader_}, {"from_seq", std::to_string(pos_.last_seq + 1)},
                                           {"leader_seq", std::to_string(leader_seq_)}});
  }
  return true;
}

bool Follower::apply_pending() {
  if (pending_.empty()) return true;
  std::vector<std::vector<std::string_view>> frames;
  frames.swap(pending_);
  pending_records_ = 0;
  std::vector<std::string_view> all;
  for (auto& f : frames) all.insert(all.end(), f.begin(), f.end());
  const uint64_t before = pos_.last_seq;
  std::string error;
  ApplyResult res = apply_records(r_.env(), pos_, all, leader_epoch_);
  if (res.error.empty()) {
    pos_ = res.position;
  } else if (frames.size() == 1) {
    error = res.error;
  } else {
    // Refused: apply frame by frame up to the bad one, so the stream restarts right after
    // the last good record.
    for (auto& f : frames) {
      ApplyResult one = apply_records(r_.env(), pos_, f, leader_epoch_);
      if (!one.error.empty()) {
        error = one.error;
        break;
      }
      pos_ = one.position;
    }
  }
  const uint64_t applied = pos_.last_seq - before;
  records_applied_ += applied;
  unacked_records_ += applied;
  leader_seq_ = std::max(leader_seq_, pos_.last_seq);
  r_.set_last_seq(pos_.last_seq);
  if (!error.empty()) {
    last_error_ = error;
    log_error("refusing records from the leader; reconnecting from the last good sequence",
              {{"leader", leader_}, {"error", error}, {"last_good", std::to_string(pos_.last_seq)}});
    return false;
  }
  if (unacked_records_ >= kAckEveryRecords) send_ack();
  else schedule_ack();
  return true;
}

bool Follower::on_frame(repl::Kind kind, std::string_view payload) {
  // Frames apply in order: records gathered so far go in before anything else.
  if (kind != repl::Kind::Records && !apply_pending()) return false;
  switch (kind) {
    case repl::Kind::Records: {
      if (state_ != State::Streaming) {
        last_error_ = "records before the copy was complete";
        return false;
      }
      std::vector<std::string_view> records;
      if (!repl::decode_records(payload, &records)) {
        last_error_ = "malformed records frame";
        return false;
      }
      // Applied with the rest of this read's frames, in one transaction (apply_pending).
      pending_.push_back(std::move(records));
      pending_records_ += pending_.back().size();
      return pending_records_ < kMaxPendingRecords || apply_pending();
    }
    case repl::Kind::CopyChunk:
      return on_copy_chunk(payload);
    case repl::Kind::CopyEnd:
      return on_copy_end(payload);
    case repl::Kind::Liveness: {
      std::vector<repl::LivenessRow> rows;
      if (!repl::decode_liveness(payload, &rows)) {
        last_error_ = "malformed liveness frame";
        return false;
      }
      size_t written = 0;
      if (int rc = apply_liveness(r_.env(), rows, &written))
        log_warn("liveness rows not written", {{"error", lmdb_error(rc)}});  // lossy by design: the next flush
      return true;
    }
    case repl::Kind::Heartbeat: {
      repl::Heartbeat hb;
      if (!repl::decode_heartbeat(payload, &hb)) {
        last_error_ = "malformed heartbeat";
        return false;
      }
      if (hb.epoch < r_.epoch()) {
        last_error_ = "leader " + leader_ + " fell to epoch " + std::to_string(hb.epoch) + " below the " +
                      std::to_string(r_.epoch()) + " this standby has seen: refusing a stale leader";
        state_ = State::Refused;
        return false;
      }
      if (hb.epoch > leader_epoch_) {
        leader_epoch_ = hb.epoch;
        r_.raise_epoch_to(hb.epoch);
      }
      leader_seq_ = std::max(leader_seq_, hb.last_seq);
      leader_clock_ns_ = hb.unix_ns;
      return true;
    }
    case repl::Kind::Error:
      last_error_ = "leader closed the stream: " + std::string(payload.substr(0, 500));
      log_warn("the leader closed the replication stream", {{"leader", leader_}, {"error", std::string(payload.substr(0, 500))}});
      return false;
    default:
      last_error_ = std::string("unexpected frame from the leader: ") + repl::kind_name(kind);
      return false;
  }
}

bool Follower::on_copy_chunk(std::string_view payload) {
  uint64_t offset;
  std::string_view bytes;
  if (state_ != State::Copying || !repl::decode_copy_chunk(payload, &offset, &bytes) || offset != copy_received_) {
    last_error_ = "copy chunk out of order";
    return false;
  }
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(copy_fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      last_error_ = "writing the received copy: " + sys_error("write");
      return false;
    }
    done += size_t(n);
  }
  copy_received_ += bytes.size();
  copy_crc_ = crc32c(bytes, copy_crc_);
  return true;
}

bool Follower::on_copy_end(std::string_view payload) {
  uint64_t size;
  uint32_t crc;
  if (state_ != State::Copying || !repl::decode_copy_end(payload, &size, &crc)) {
    last_error_ = "unexpected copy end";
    return false;
  }
  if (size != copy_received_ || crc != copy_crc_) {
    last_error_ = "received copy damaged: " + std::to_string(copy_received_) + " bytes with CRC " +
                  std::to_string(copy_crc_) + ", the leader sent " + std::to_string(size) + " with " + std::to_string(crc);
    log_error("refusing the full copy", {{"leader", leader_}, {"error", last_error_}});
    return false;
  }
  if (::fsync(copy_fd_.get()) != 0) log_warn("fsync of the received copy failed", {{"error", sys_error("fsync")}});
  copy_fd_.reset();
  std::string error;
  const std::string dir = incoming_dir(r_);
  bool ok = install_copy(r_.env(), dir, &pos_, &error);
  remove_incoming(dir);
  if (!ok) {
    last_error_ = error;
    log_error("full copy not installed", {{"error", error}});
    return false;
  }
  full_copies_++;
  state_ = State::Streaming;
  r_.set_last_seq(pos_.last_seq);
  send_ack();  // the leader streams from here once it hears it
  return true;
}

void Follower::send_ack() {
  if (!link_ || !link_->alive()) return;
  std::string out;
  repl::append_frame(out, repl::Kind::Ack, repl::encode_ack(pos_.last_seq));
  link_->send(out);
  acked_ = pos_.last_seq;
  unacked_records_ = 0;
  if (!notify_scheduled_) {
    // The registry hears of applied records at most every 50 ms (it republishes each on its bus).
    notify_scheduled_ = true;
    arm(notify_ev_.get(), kNotifyEveryMs);
  }
}

void Follower::on_notify_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Follower*>(arg);
  self->notify_scheduled_ = false;
  self->notify_registry();
}

void Follower::schedule_ack() {
  if (ack_scheduled_) return;
  ack_scheduled_ = true;
  arm(ack_ev_.get(), kAckEveryMs);
}

void Follower::on_ack_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Follower*>(arg);
  self->ack_scheduled_ = false;
  if (self->acked_ != self->pos_.last_seq) self->send_ack();
}

void Follower::notify_registry() {
  if (pos_.last_seq == notified_) return;
  notified_ = pos_.last_seq;
  JsonPtr m(json_pack("{s:s,s:I}", "type", "replica_applied", "seq", json_int_t(pos_.last_seq)));
  r_.bus().send(m.get());
}

void Follower::on_beat(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Follower*>(arg);
  if (!self->link_ || !self->link_->alive()) return;
  if (self->state_ != State::Streaming && self->state_ != State::Copying) return;
  if (mono_now_ns() - self->link_->last_input_ns() > 3 * self->r_.config().repl_heartbeat_ns) {
    self->last_error_ = "leader silent for 3 heartbeats";
    self->link_->close(self->last_error_);
    return;
  }
  std::string out;
  repl::append_frame(out, repl::Kind::StandbyBeat, repl::encode_standby_beat({self->pos_.last_seq, unix_now_ns()}));
  self->link_->send(out);
}

void Follower::on_closed(const std::string& why) {
  link_.reset();
  copy_fd_.reset();
  event_del(connect_timeout_ev_.get());
  if (leader_.empty()) return;  // stopped
  if (last_error_.empty()) last_error_ = why;
  backoff(why, state_ == State::Refused);
}

void Follower::backoff(const std::string& why, bool refused) {
  if (stream_started_ns_ && mono_now_ns() - stream_started_ns_ > kStableStreamNs) backoff_ms_ = 100;
  stream_started_ns_ = 0;
  if (last_error_.empty()) last_error_ = why;
  log_info("replication connection ended; retrying", {{"leader", leader_}, {"reason", why},
                                                      {"retry_ms", std::to_string(backoff_ms_)}});
  state_ = refused ? State::Refused : State::Backoff;
  reconnects_++;
  arm(retry_ev_.get(), backoff_ms_);
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
}

json_t* Follower::status_json() const {
  if (leader_.empty()) return json_null();
  uint64_t lag = leader_seq_ > pos_.last_seq ? leader_seq_ - pos_.last_seq : 0;
  // Seconds behind: how old the leader's clock was at its last heartbeat when we were caught up
  // is unknowable here; report the time since last contact while behind, 0 when caught up.
  double lag_s = lag == 0 ? 0.0 : double(std::max<int64_t>(0, unix_now() - last_contact_unix_));
  return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:I,s:b,s:I,s:I,s:s}", "leader", leader_.c_str(), "state",
                   state_name(state_), "applied_seq", json_int_t(pos_.last_seq), "leader_seq", json_int_t(leader_seq_),
                   "leader_epoch", json_int_t(leader_epoch_), "lag_records", json_int_t(lag), "lag_seconds", lag_s,
                   "last_contact_unix", json_int_t(last_contact_unix_), "connected",
                   int(state_ == State::Streaming || state_ == State::Copying), "reconnects", json_int_t(reconnects_),
                   "full_copies", json_int_t(full_copies_), "last_error", last_error_.c_str());
}

}  // namespace rdv::replicator
