// The replicator worker's state: its role, the epoch it has seen, the leader side (serving
// standbys) and the follower side (following a leader), the registry bus, and the role
// changes — promotion, demotion, fencing (docs/replication.md).
//
// Threading: everything runs on the worker's libevent loop, except the full copy, which a
// thread writes (copier in leader.cc) and hands back through a pipe.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bus.h"
#include "config.h"
#include "event.h"
#include "json.h"
#include "role.h"
#include "store.h"

namespace rdv::replicator {

class Leader;
class Follower;

using Reply = std::function<void(JsonPtr)>;

class Replicator {
 public:
  Replicator(event_base* base, Env& env, Config cfg);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  void start();

  // ---- shared by the two sides ----
  event_base* base() const { return base_; }
  Env& env() { return env_; }
  const Config& config() const { return cfg_; }
  void set_config(const Config& cfg);  // SIGHUP: tokens, intervals (not the role)
  Bus& bus() { return *bus_; }
  const Role& role() const { return role_; }
  const std::string& id() const { return id_; }
  // The highest epoch this instance has seen (<data-dir>/epoch, re-read on every call: the
  // registry writes it on a leader).
  uint64_t epoch() const;
  // Records that a higher epoch exists (a leader's, during following): written to the epoch
  // file so a later promotion goes above it. False with a log line when the write fails.
  bool raise_epoch_to(uint64_t epoch);
  // The newest sequence the registry announced (leader) or we applied (standby).
  uint64_t last_seq() const { return last_seq_; }
  void set_last_seq(uint64_t seq) { last_seq_ = std::max(last_seq_, seq); }

  // ---- requests on replicator.sock ----
  void handoff(int fd, const json_t* msg);
  void promote(const std::string& by, Reply reply);
  void demote(const std::string& leader, const std::string& by, Reply reply);
  JsonPtr status() const;

  // A leader learned of a higher epoch: with a leader address it follows it, without one it
  // is fenced (writes refused until an operator decides).
  void fence(uint64_t higher_epoch, const std::string& new_leader, const std::string& why);

 private:
  // Applies a role: the file, the supervisor's broadcast, then our own sides.
  bool change_role(const Role& role, std::string* error);
  // Waits (asking the registry's status every 10 ms, at most 3 s) until the registry reports
  // `role` (and, for a standby, an idle writer); then runs done(ok, status).
  void await_registry(const Role& role, uint64_t epoch, std::function<void(bool, const json_t*)> done);
  void on_bus_frame(const json_t* frame);
  static void on_settle_timer(evutil_socket_t, short, void* arg);
  static void on_fence_timer(evutil_socket_t, short, void* arg);
  void send_fence_probe();

  event_base* base_;
  Env& env_;
  Config cfg_;
  Role role_;
  std::string id_;
  uint64_t last_seq_ = 0;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Leader> leader_;
  std::unique_ptr<Follower> follower_;

  struct Settle {
    Role role;
    uint64_t epoch = 0;
    int64_t deadline_ns = 0;
    std::function<void(bool, const json_t*)> done;
  };
  std::unique_ptr<Settle> settle_;
  EventPtr settle_ev_;

  // After a promotion: tell the instance we used to follow that our epoch is higher.
  std::string fence_target_;
  EventPtr fence_ev_;
  struct Probe;
  std::unique_ptr<Probe> probe_;
};

}  // namespace rdv::replicator
