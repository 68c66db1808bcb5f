// The leader side: one Session per standby, from the handshake through a full copy (when
// needed) to the record stream, with acknowledgements, heartbeats and lag
// (docs/replication.md). New records are announced by the registry's bus (on_commit); a
// session reads what it has not sent from LMDB while its socket takes it.
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

class Leader {
 public:
  explicit Leader(Replicator& r);
  ~Leader();

  // A connection handed over by the registry, with its first frame (subscribe_replication).
  void adopt(UniqueFd fd, const json_t* request, std::string buffered, std::string peer);
  void on_commit(uint64_t seq);
  void on_liveness(int64_t flush_unix_ms);
  // Closes every standby's stream (demotion, fencing).
  void stop_all(const std::string& why);
  // The standbys, for status.
  json_t* standbys_json() const;
  size_t streaming() const;
  int64_t last_sent_unix() const { return last_sent_unix_; }

 private:
  struct Session;
  struct Copier;
  static void on_beat(evutil_socket_t, short, void* arg);
  static void on_ack_flush(evutil_socket_t, short, void* arg);
  void handshake(Session& s, const json_t* request);
  void begin_copy(Session& s);
  void copy_done(Session& s);
  void pump(Session& s);
  void send_liveness(Session& s, int64_t since_ns);
  void on_frame(Session& s, repl::Kind kind, std::string_view payload);
  void on_input(Session& s);
  void refuse(Session& s, const std::string& error);
  void drop(Session* s, const std::string& why);
  void report_acks();
  Session* find(const std::string& id);

  Replicator& r_;
  std::vector<std::unique_ptr<Session>> sessions_;
  repl::LagWindow window_;
  EventPtr beat_ev_, ack_ev_;
  uint64_t reported_ack_ = 0;
  size_t reported_streaming_ = 0;
  int64_t last_sent_unix_ = 0;
  int64_t last_flush_unix_ms_ = 0;
};

}  // namespace rdv::replicator
