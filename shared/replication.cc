#include "replication.h"

#include <algorithm>

#include "crc32c.h"

namespace rdv::repl {

namespace {

void put_u32(std::string& out, uint32_t v) {
  out += char(v >> 24);
  out += char(v >> 16);
  out += char(v >> 8);
  out += char(v);
}
void put_u64(std::string& out, uint64_t v) {
  put_u32(out, uint32_t(v >> 32));
  put_u32(out, uint32_t(v));
}
uint32_t get_u32(std::string_view p) {
  auto b = reinterpret_cast<const uint8_t*>(p.data());
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}
uint64_t get_u64(std::string_view p) { return uint64_t(get_u32(p)) << 32 | get_u32(p.substr(4)); }

bool known_kind(uint8_t k) {
  switch (Kind(k)) {
    case Kind::Records:
    case Kind::CopyChunk:
    case Kind::CopyEnd:
    case Kind::Liveness:
    case Kind::Heartbeat:
    case Kind::Error:
    case Kind::Ack:
    case Kind::StandbyBeat:
      return true;
  }
  return false;
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Records: return "records";
    case Kind::CopyChunk: return "copy_chunk";
    case Kind::CopyEnd: return "copy_end";
    case Kind::Liveness: return "liveness";
    case Kind::Heartbeat: return "heartbeat";
    case Kind::Error: return "error";
    case Kind::Ack: return "ack";
    case Kind::StandbyBeat: return "standby_heartbeat";
  }
  return "unknown";
}

void append_frame(std::string& out, Kind kind, std::string_view payload) {
  const size_t start = out.size();
  put_u32(out, uint32_t(1 + payload.size() + 4));
  out += char(kind);
  out.append(payload);
  put_u32(out, crc32c(std::string_view(out).substr(start + 4)));
}

DecodeStatus decode_frame(std::string_view in, Frame* frame, size_t* consumed, std::string* why) {
  if (in.size() < 4) return DecodeStatus::NeedMore;
  uint32_t n = get_u32(in);
  if (n < 5 || n > kMaxFrame) {
    *why = "frame length " + std::to_string(n) + " out of bounds";
    return DecodeStatus::Bad;
  }
  if (in.size() < 4 + size_t(n)) return DecodeStatus::NeedMore;
  std::string_view body = in.substr(4, n - 4);
  uint32_t stored = get_u32(in.substr(4 + n - 4));
  if (crc32c(body) != stored) {
    *why = "frame checksum mismatch";
    return DecodeStatus::Bad;
  }
  if (!known_kind(uint8_t(body[0]))) {
    *why = "unknown frame kind " + std::to_string(uint8_t(body[0]));
    return DecodeStatus::Bad;
  }
  frame->kind = Kind(uint8_t(body[0]));
  frame->payload = body.substr(1);
  *consumed = 4 + size_t(n);
  return DecodeStatus::Frame;
}

std::string encode_heartbeat(const Heartbeat& h) {
  std::string out;
  put_u64(out, h.last_seq);
  put_u64(out, h.epoch);
  put_u64(out, uint64_t(h.unix_ns));
  return out;
}
bool decode_heartbeat(std::string_view p, Heartbeat* h) {
  if (p.size() != 24) return false;
  h->last_seq = get_u64(p);
  h->epoch = get_u64(p.substr(8));
  h->unix_ns = int64_t(get_u64(p.substr(16)));
  return true;
}

std::string encode_standby_beat(const StandbyBeat& b) {
  std::string out;
  put_u64(out, b.applied_seq);
  put_u64(out, uint64_t(b.unix_ns));
  return out;
}
bool decode_standby_beat(std::string_view p, StandbyBeat* b) {
  if (p.size() != 16) return false;
  b->applied_seq = get_u64(p);
  b->unix_ns = int64_t(get_u64(p.substr(8)));
  return true;
}

std::string encode_ack(uint64_t seq) {
  std::string out;
  put_u64(out, seq);
  return out;
}
bool decode_ack(std::string_view p, uint64_t* seq) {
  if (p.size() != 8) return false;
  *seq = get_u64(p);
  return true;
}

void RecordsBuilder::add(std::string_view record) {
  put_u32(body_, uint32_t(record.size()));
  body_.append(record);
  count_++;
}

std::string RecordsBuilder::take() {
  std::string out;
  out.reserve(4 + body_.size());
  put_u32(out, count_);
  out += body_;
  body_.clear();
  count_ = 0;
  return out;
}

bool decode_records(std::string_view p, std::vector<std::string_view>* records) {
  records->clear();
  if (p.size() < 4) return false;
  uint32_t count = get_u32(p);
  p.remove_prefix(4);
  if (count > p.size() / 4) return false;  // each record takes at least its length
  records->reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    if (p.size() < 4) return false;
    uint32_t len = get_u32(p);
    p.remove_prefix(4);
    if (len > p.size()) return false;
    records->push_back(p.substr(0, len));
    p.remove_prefix(len);
  }
  return p.empty();
}

std::string encode_liveness(const std::vector<LivenessRow>& rows) {
  std::string out;
  out.reserve(4 + rows.size() * 12);
  put_u32(out, uint32_t(rows.size()));
  for (const LivenessRow& r : rows) {
    put_u32(out, r.id);
    put_u64(out, uint64_t(r.last_seen_ns));
  }
  return out;
}
bool decode_liveness(std::string_view p, std::vector<LivenessRow>* rows) {
  rows->clear();
  if (p.size() < 4) return false;
  uint32_t count = get_u32(p);
  p.remove_prefix(4);
  if (p.size() != size_t(count) * 12) return false;
  rows->reserve(count);
  for (uint32_t i = 0; i < count; i++, p.remove_prefix(12))
    rows->push_back({get_u32(p), int64_t(get_u64(p.substr(4)))});
  return true;
}

std::string encode_copy_chunk(uint64_t offset, std::string_view bytes) {
  std::string out;
  out.reserve(8 + bytes.size());
  put_u64(out, offset);
  out.append(bytes);
  return out;
}
bool decode_copy_chunk(std::string_view p, uint64_t* offset, std::string_view* bytes) {
  if (p.size() < 8) return false;
  *offset = get_u64(p);
  *bytes = p.substr(8);
  return true;
}

std::string encode_copy_end(uint64_t size, uint32_t crc) {
  std::string out;
  put_u64(out, size);
  put_u32(out, crc);
  return out;
}
bool decode_copy_end(std::string_view p, uint64_t* size, uint32_t* crc) {
  if (p.size() != 12) return false;
  *size = get_u64(p);
  *crc = get_u32(p.substr(8));
  return true;
}

HandshakeDecision decide_start(const HandshakeInputs& in) {
  if (in.standby_epoch > in.leader_epoch)
    return {Start::Refuse, "standby has seen epoch " + std::to_string(in.standby_epoch) + ", this leader is at epoch " +
                               std::to_string(in.leader_epoch) + ": this leader is stale"};
  if (in.standby_last_seq == 0) return {Start::Copy, "standby is empty"};
  if (in.standby_last_seq > in.leader_last_seq)
    return {Start::Copy, "standby is ahead of this leader (sequence " + std::to_string(in.standby_last_seq) + " > " +
                             std::to_string(in.leader_last_seq) + "): its last writes were never replicated"};
  if (!in.leader_has_standby_seq || in.leader_first_seq == 0 || in.standby_last_seq < in.leader_first_seq)
    return {Start::Copy, "records after " + std::to_string(in.standby_last_seq) + " are no longer kept"};
  if (in.leader_crc_at_standby_seq != in.standby_last_crc)
    return {Start::Copy, "standby diverged at sequence " + std::to_string(in.standby_last_seq)};
  return {Start::Records, "resuming after sequence " + std::to_string(in.standby_last_seq)};
}

uint32_t record_crc(std::string_view record) { return record.size() < 4 ? 0 : get_u32(record.substr(record.size() - 4)); }

void LagWindow::add(uint64_t seq, int64_t commit_ns, uint64_t record_bytes, size_t cap) {
  if (!points_.empty() && seq <= points_.back().seq) return;
  uint64_t cum = (points_.empty() ? 0 : points_.back().cum_bytes) + record_bytes;
  points_.push_back({seq, commit_ns, cum, record_bytes});
  if (cap > 1 && points_.size() > cap) points_.erase(points_.begin(), points_.begin() + ptrdiff_t(points_.size() / 2));
}

LagWindow::Lag LagWindow::lag(uint64_t acked, uint64_t leader_last_seq, int64_t now_ns) const {
  Lag out;
  if (acked >= leader_last_seq) return out;
  out.records = leader_last_seq - acked;
  if (points_.empty()) {
    out.exact = false;
    return out;
  }
  // The first record the consumer lacks is acked + 1.
  auto it = std::lower_bound(points_.begin(), points_.end(), acked + 1,
                             [](const Point& p, uint64_t seq) { return p.seq < seq; });
  const Point& last = points_.back();
  if (it == points_.end()) {
    // Everything it lacks committed after the window's newest point: not yet seen here.
    out.exact = false;
    return out;
  }
  out.seconds = double(std::max<int64_t>(0, now_ns - it->commit_ns)) / 1e9;
  if (it == points_.begin() && it->seq > acked + 1) out.exact = false;  // older than the window
  out.bytes = last.cum_bytes - (it->cum_bytes - it->bytes);
  if (leader_last_seq > last.seq) out.exact = false;
  return out;
}

}  // namespace rdv::repl
