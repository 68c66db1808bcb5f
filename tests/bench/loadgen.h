// The closed-loop load generator: N TCP connections spread over T threads, each thread with its
// own libevent event_base; every connection keeps exactly one JSON request in flight, as the
// daemons' registry client does (send, wait for the reply, send the next one).
//
// Requests come from a RequestSource, one instance per thread (built by a factory), so sources
// need no locking. Every reply is checked (classify_reply) and only replies that pass count as
// throughput; error replies, replies of the wrong type and requests lost to a dropped connection
// are counted separately and never enter the latency histogram.
//
// Two modes:
//   timed  (duration_s > 0): start all connections at t0, run warmup_s uncounted, then count
//          replies that complete inside the next duration_s, then stop. Requests still in
//          flight at the deadline are abandoned (not counted either way). If a source runs
//          out first (finite key pools), that thread stops there and its rate is computed
//          over the time it actually ran.
//   drain  (duration_s == 0): run until every source is exhausted and every reply has arrived
//          (setup phases: registering nodes), bounded by timeout_s.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/bench/histogram.h"

namespace rdv::bench {

// Set by SIGINT/SIGTERM handlers; every running load phase stops within ~100 ms.
extern volatile std::sig_atomic_t g_interrupted;

enum class OpKind : uint8_t {
  Lookup, ResolveHostname, Heartbeat, Register, SetVisibility,
  RequestHandshake, PollHandshakes, RespondHandshake, JoinNetwork, LeaveNetwork,
  Other
};
inline constexpr int kOpKinds = 11;
const char* op_kind_name(OpKind kind);

// What a request is and which reply it expects.
struct Op {
  OpKind kind = OpKind::Other;
  std::string_view expect_type;  // reply "type" meaning success, e.g. "lookup_ok" (static storage)
  uint32_t tag = 0;              // the source's own index (e.g. pool slot), passed back on success
};

// One thread's request stream. Used only by the thread that owns it.
class RequestSource {
 public:
  virtual ~RequestSource() = default;
  // Appends the next complete request frame ([u32 BE length][JSON]) to *frame and describes it
  // in *op. Returns false when the source is exhausted.
  virtual bool next(std::string* frame, Op* op) = 0;
  // Called for every reply that passed the checks, with the reply's JSON body (warm-up and
  // counted window alike).
  virtual void on_success(const Op& op, std::string_view body) {
    (void)op;
    (void)body;
  }
  // Called once for every request handed out by next() whose outcome is a failure: an error
  // reply, a reply of the wrong type, or the connection failing while it was in flight. Not
  // called for requests still in flight when a timed run stops (those never get an outcome).
  virtual void on_failure(const Op& op) { (void)op; }
};

// A source built from two callables (most workloads are a few lines).
class LambdaSource final : public RequestSource {
 public:
  using Next = std::function<bool(std::string*, Op*)>;
  using Success = std::function<void(const Op&, std::string_view)>;
  explicit LambdaSource(Next next, Success success = nullptr)
      : next_(std::move(next)), success_(std::move(success)) {}
  bool next(std::string* frame, Op* op) override { return next_(frame, op); }
  void on_success(const Op& op, std::string_view body) override {
    if (success_) success_(op, body);
  }

 private:
  Next next_;
  Success success_;
};

// Builds the source of thread `index` out of `count` threads.
using SourceFactory = std::function<std::unique_ptr<RequestSource>(int index, int count)>;

struct RunSpec {
  std::string host = "127.0.0.1";  // IPv4 literal (loopback)
  uint16_t port = 0;
  int connections = 64;
  int threads = 1;
  double duration_s = 5;      // > 0 timed, 0 drain
  double warmup_s = 0;        // timed: run this long first without counting (connections warm,
                              // caches and page tables populated, CPU clocks up)
  double timeout_s = 300;     // drain mode: give up after this long
  bool accept_any = false;    // noop reference server: any well-formed reply frame is a success
  uint32_t max_frame = 1u << 20;
};

struct RunResult {
  uint64_t ok = 0;
  uint64_t error_replies = 0;  // reply with an "error" key or type "error"
  uint64_t wrong_type = 0;     // reply without the expected type, or a frame nobody asked for
  uint64_t conn_failures = 0;  // request lost because the connection failed or was closed
  uint64_t ok_by_kind[kOpKinds] = {};
  uint64_t err_by_kind[kOpKinds] = {};
  Histogram latency;           // successful requests only
  Histogram latency_by_kind[kOpKinds];
  double elapsed_s = 0;        // the measured window, after warm-up (per-thread average)
  double rate = 0;             // successful requests per second (sum of per-thread rates)
  double rate_by_kind[kOpKinds] = {};  // the same per kind
  bool exhausted = false;      // a source ran out before the deadline (timed mode)
  bool timed_out = false;      // drain mode hit timeout_s
  bool interrupted = false;
  std::string setup_error;     // could not connect etc.; nothing was measured
  std::vector<std::string> error_samples;  // first few distinct error texts

  uint64_t errors() const { return error_replies + wrong_type + conn_failures; }
};

RunResult run_closed_loop(const RunSpec& spec, const SourceFactory& factory);

// Reply checks, pure, on the JSON body of one frame.
enum class ReplyClass : uint8_t { Ok, ErrorReply, WrongType };
// ErrorReply if the body has an "error" key or "type":"error"; WrongType if its "type" is not
// `expect_type` (or missing); otherwise Ok. Looks at the first "type" key, which is the
// top-level one for every reply this benchmark expects (none has nested objects before it).
ReplyClass classify_reply(std::string_view body, std::string_view expect_type);
// True if `body` has the key `key` (a quoted string followed by optional spaces and ':').
bool json_has_key(std::string_view body, std::string_view key);
// The string value of the first key `key`, or false.
bool json_string_field(std::string_view body, std::string_view key, std::string_view* value);
// The unsigned integer value of the first key `key`, or false.
bool json_uint_field(std::string_view body, std::string_view key, uint64_t* value);

// One blocking request/reply on a fresh or given connection, for probes and readiness checks.
// Returns false (with *error) on connect/IO failure or timeout.
int connect_loopback(const std::string& host, uint16_t port, std::string* error);
bool blocking_rpc(int fd, std::string_view json_body, std::string* reply, int timeout_ms,
                  std::string* error);

}  // namespace rdv::bench
