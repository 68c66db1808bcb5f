// The replication protocol between a leader and its standbys (docs/replication.md is the
// reference; this header is its code). Pure functions: no I/O, no clock, any thread.
//
// A standby's replicator dials the leader's registry port and sends, in the daemon framing
// ([u32 BE length][JSON]):
//
//   {"type":"subscribe_replication","token":T,"protocol":1,"standby_id":ID,"epoch":E,
//    "last_seq":S,"last_crc":C}
//
// The leader's registry checks the token (constant time) and hands the connection to its
// replicator over <run-dir>/replicator.sock with SCM_RIGHTS. The replicator answers, still
// in the daemon framing, either {"type":"error","error":…} and closes, or
//
//   {"type":"replication_ok","protocol":1,"epoch":E,"leader_id":ID,"mode":"records"|"copy",
//    "from_seq":N,"last_seq":L}
//
// and from then on both directions carry binary frames:
//
//   [u32 BE n][u8 kind][payload (n-5 bytes)][u32 BE CRC32C of kind ‖ payload]
//
// so a frame damaged in transit is refused as a whole, and each change record inside a
// Records frame carries its own CRC32C as well (store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdv::repl {

inline constexpr int kProtocolVersion = 1;
// A frame's n (kind + payload + CRC) is at most this; a copy is sent in chunks well below it.
inline constexpr uint32_t kMaxFrame = 64u << 20;
inline constexpr size_t kCopyChunk = 1u << 20;
// A Records frame carries at most this many records or bytes (whichever comes first).
inline constexpr size_t kBatchRecords = 1000;
inline constexpr size_t kBatchBytes = 4u << 20;

enum class Kind : uint8_t {
  // leader -> standby
  Records = 0x01,    // u32 count | count × (u32 len | change record v2)
  CopyChunk = 0x02,  // u64 offset | bytes of the compacted environment copy
  CopyEnd = 0x03,    // u64 total size | u32 CRC32C of the whole copy
  Liveness = 0x04,   // u32 count | count × (u32 node id | i64 last-seen unix ns)
  Heartbeat = 0x05,  // u64 leader last_seq | u64 epoch | i64 unix ns
  Error = 0x06,      // UTF-8 text: why the leader closes the stream
  // standby -> leader
  Ack = 0x10,            // u64 applied seq
  StandbyBeat = 0x11,    // u64 applied seq | i64 unix ns
};
const char* kind_name(Kind k);  // "unknown" for others

// One decoded frame; payload points into the decoder's buffer (valid until the next call).
struct Frame {
  Kind kind = Kind::Heartbeat;
  std::string_view payload;
};

// Appends one frame to `out`.
void append_frame(std::string& out, Kind kind, std::string_view payload);

enum class DecodeStatus { Frame, NeedMore, Bad };
// Decodes the frame at the start of `in`: Frame with *consumed set, NeedMore, or Bad with
// *why (length out of bounds, unknown kind, checksum mismatch).
DecodeStatus decode_frame(std::string_view in, Frame* frame, size_t* consumed, std::string* why);

// ---- payloads ----
struct Heartbeat {
  uint64_t last_seq = 0;
  uint64_t epoch = 0;
  int64_t unix_ns = 0;
};
std::string encode_heartbeat(const Heartbeat& h);
bool decode_heartbeat(std::string_view p, Heartbeat* h);

struct StandbyBeat {
  uint64_t applied_seq = 0;
  int64_t unix_ns = 0;
};
std::string encode_standby_beat(const StandbyBeat& b);
bool decode_standby_beat(std::string_view p, StandbyBeat* b);

std::string encode_ack(uint64_t seq);
bool decode_ack(std::string_view p, uint64_t* seq);

// Records: the stored bytes of consecutive change records, unchanged.
class RecordsBuilder {
 public:
  void add(std::string_view record);
  size_t count() const { return count_; }
  size_t bytes() const { return body_.size(); }
  bool full() const { return count_ >= kBatchRecords || body_.size() >= kBatchBytes; }
  // The payload; the builder is empty afterwards.
  std::string take();

 private:
  std::string body_;
  uint32_t count_ = 0;
};
// Splits a Records payload into the record byte strings (views into `p`). False on a
// malformed payload (count or lengths that do not match the bytes).
bool decode_records(std::string_view p, std::vector<std::string_view>* records);

struct LivenessRow {
  uint32_t id = 0;
  int64_t last_seen_ns = 0;
};
std::string encode_liveness(const std::vector<LivenessRow>& rows);
bool decode_liveness(std::string_view p, std::vector<LivenessRow>* rows);

std::string encode_copy_chunk(uint64_t offset, std::string_view bytes);
bool decode_copy_chunk(std::string_view p, uint64_t* offset, std::string_view* bytes);
std::string encode_copy_end(uint64_t size, uint32_t crc);
bool decode_copy_end(std::string_view p, uint64_t* size, uint32_t* crc);

// ---- the leader's decision at the handshake ----
//
// The standby says what it has: the epoch it has seen, its last applied sequence and the
// CRC32C (the record's last four bytes) of that record. The leader answers:
//   - Refuse  when the standby has seen a higher epoch than ours: we are the stale one;
//   - Records from last_seq + 1 when we hold that record with the same CRC (the standby's log
//     is a prefix of ours) and every record after it;
//   - Copy    otherwise: an empty standby, a diverged one (an old leader whose last writes
//     were never replicated), or one that needs records we have trimmed.
enum class Start { Records, Copy, Refuse };
struct HandshakeInputs {
  uint64_t leader_epoch = 0;
  uint64_t standby_epoch = 0;
  uint64_t standby_last_seq = 0;
  uint32_t standby_last_crc = 0;
  uint64_t leader_last_seq = 0;
  uint64_t leader_first_seq = 0;     // oldest record kept (0: the log is empty)
  bool leader_has_standby_seq = false;  // the leader holds record standby_last_seq
  uint32_t leader_crc_at_standby_seq = 0;
};
struct HandshakeDecision {
  Start start = Start::Copy;
  std::string reason;  // for the logs and the status
};
HandshakeDecision decide_start(const HandshakeInputs& in);

// The last four bytes of a stored change record: its CRC32C (0 for a record too short).
uint32_t record_crc(std::string_view record);

// ---- lag ----
//
// The leader keeps, for the newest records, when each was committed and the running byte
// total; lag is measured against that window. Older than the window, figures are lower
// bounds, and `exact` says so.
struct LagWindow {
  struct Point {
    uint64_t seq;
    int64_t commit_ns;       // monotonic time the leader learned of the commit
    uint64_t cum_bytes;      // bytes of every record up to and including seq
    uint64_t bytes;          // this record's own bytes
  };
  // Appends a commit (seq strictly increasing; others are ignored). Keeps at most `cap`.
  void add(uint64_t seq, int64_t commit_ns, uint64_t record_bytes, size_t cap = 1u << 16);
  uint64_t last_seq() const { return points_.empty() ? 0 : points_.back().seq; }

  struct Lag {
    uint64_t records = 0;
    uint64_t bytes = 0;
    double seconds = 0;
    bool exact = true;
  };
  // The lag of a consumer that has applied `acked`, at `now_ns`, when the log ends at
  // `leader_last_seq` (which may be past the window when commits are not yet in it).
  Lag lag(uint64_t acked, uint64_t leader_last_seq, int64_t now_ns) const;

 private:
  std::vector<Point> points_;  // ring kept as a vector: erased from the front in halves
};

}  // namespace rdv::repl
