// The standby side: dials the leader, subscribes with what it has, and applies what comes —
// records, a full copy, liveness — acknowledging as it goes; reconnects with backoff and
// resumes from its last applied sequence (docs/replication.md).
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apply.h"
#include "event.h"
#include "json.h"
#include "link.h"
#include "replication.h"

namespace rdv::replicator {

class Replicator;

class Follower {
 public:
  explicit Follower(Replicator& r);
  ~Follower();

  void start(const std::string& leader);
  // Stops following; returns once nothing more will be applied.
  void stop();
  bool running() const { return !leader_.empty(); }
  const std::string& leader() const { return leader_; }
  uint64_t leader_epoch() const { return leader_epoch_; }
  json_t* status_json() const;

 private:
  enum class State { Idle, Connecting, Handshake, Copying, Streaming, Backoff, Refused };
  static const char* state_name(State s);
  static void on_retry(evutil_socket_t, short, void* arg);
  static void on_beat(evutil_socket_t, short, void* arg);
  static void on_ack_timer(evutil_socket_t, short, void* arg);
  static void on_connect_timeout(evutil_socket_t, short, void* arg);
  static void on_notify_timer(evutil_socket_t, short, void* arg);
  void connect();
  void on_connected();
  void on_input();
  bool on_handshake_reply(const json_t* reply);
  bool on_frame(repl::Kind kind, std::string_view payload);
  // Applies the records frames gathered from the current read in one transaction.
  bool apply_pending();
  bool on_copy_chunk(std::string_view payload);
  bool on_copy_end(std::string_view payload);
  void send_ack();
  void schedule_ack();
  void on_closed(const std::string& why);
  void backoff(const std::string& why, bool refused);
  void notify_registry();

  Replicator& r_;
  std::string leader_;
  State state_ = State::Idle;
  std::unique_ptr<Link> link_;
  EventPtr retry_ev_, beat_ev_, ack_ev_, connect_timeout_ev_, notify_ev_;
  LogPosition pos_;
  uint64_t leader_epoch_ = 0, leader_seq_ = 0, acked_ = 0, unacked_records_ = 0;
  int64_t backoff_ms_ = 100, stream_started_ns_ = 0, last_contact_unix_ = 0, leader_clock_ns_ = 0;
  uint64_t reconnects_ = 0, full_copies_ = 0, records_applied_ = 0;
  std::string last_error_;
  std::vector<std::vector<std::string_view>> pending_;  // views into link_->in()
  size_t pending_records_ = 0;
  bool ack_scheduled_ = false, notify_scheduled_ = false;
  uint64_t notified_ = 0;  // the last sequence the registry was told of
  // The copy being received.
  UniqueFd copy_fd_;
  uint64_t copy_received_ = 0;
  uint32_t copy_crc_ = 0;
};

}  // namespace rdv::replicator
