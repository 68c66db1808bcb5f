#include "replicator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "crypto.h"
#include "epoch.h"
#include "follower.h"
#include "ipc.h"
#include "leader.h"
#include "log.h"
#include "util.h"
#include "wire.h"

namespace rdv::replicator {

namespace {

constexpr int64_t kSettleMs = 10;
constexpr int64_t kSettleTimeoutNs = 3LL * 1000000000;
constexpr int64_t kFenceProbeMs = 2000;

std::string default_id(const Config& cfg) {
  if (!cfg.repl_id.empty()) return cfg.repl_id;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) return "standby";
  // Two instances on one host (tests, a staging box) differ by their data dir.
  return std::string(host) + ":" + cfg.data_dir;
}

JsonPtr error_reply(const std::string& text) { return JsonPtr(json_pack("{s:s,s:s}", "type", "error", "error", text.c_str())); }

}  // namespace

// A fence probe in flight: one connection to the instance we used to follow.
struct Replicator::Probe {
  std::unique_ptr<Link> link;
};

Replicator::Replicator(event_base* base, Env& env, Config cfg)
    : base_(base), env_(env), cfg_(std::move(cfg)), role_(role_of(cfg_)), id_(default_id(cfg_)) {
  bus_ = std::make_unique<Bus>(base_, ipc::registry_socket_path(cfg_.run_dir),
                               Bus::Handlers{[this](uint64_t seq) {
                                               if (role_.kind == Role::Kind::Leader) leader_->on_commit(seq);
                                             },
                                             [this](const json_t* f) { on_bus_frame(f); }});
  leader_ = std::make_unique<Leader>(*this);
  follower_ = std::make_unique<Follower>(*this);
  settle_ev_.reset(event_new(base_, -1, EV_PERSIST, on_settle_timer, this));
  fence_ev_.reset(event_new(base_, -1, EV_PERSIST, on_fence_timer, this));
}

Replicator::~Replicator() = default;

void Replicator::start() {
  bus_->start();
  {
    Txn txn;
    if (env_.begin_read(&txn) == 0) last_seq_ = meta_u64(txn, "last_seq");
  }
  log_info("replicator role", {{"role", role_name(role_.kind)}, {"leader", role_.leader}, {"id", id_},
                               {"epoch", std::to_string(epoch())}});
  if (role_.kind == Role::Kind::Standby) follower_->start(role_.leader);
}

void Replicator::set_config(const Config& cfg) {
  Role keep = role_;
  cfg_ = cfg;
  set_role(cfg_, keep);
}

uint64_t Replicator::epoch() const {
  uint64_t e = 0;
  bool exists = false;
  std::string err;
  if (!read_epoch_file(cfg_.data_dir, &e, &exists, &err)) {
    log_warn("cannot read the epoch file", {{"error", err}});
    return 0;
  }
  return exists ? e : 0;
}

bool Replicator::raise_epoch_to(uint64_t e) {
  if (e <= epoch()) return true;
  std::string err;
  if (!write_epoch_file(cfg_.data_dir, e, &err)) {
    log_error("cannot record a higher epoch", {{"epoch", std::to_string(e)}, {"error", err}});
    return false;
  }
  log_info("epoch raised to the leader's", {{"epoch", std::to_string(e)}});
  return true;
}

void Replicator::on_bus_frame(const json_t* f) {
  std::string_view type = json_str(f, "type");
  if (type == "commit") {
    json_t* seq = json_object_get(f, "seq");
    if (role_.kind == Role::Kind::Leader && json_is_integer(seq)) leader_->on_commit(uint64_t(json_integer_value(seq)));
  } else if (type == "liveness") {
    json_t* ms = json_object_get(f, "unix_ms");
    if (role_.kind == Role::Kind::Leader) leader_->on_liveness(json_is_integer(ms) ? json_integer_value(ms) : unix_now() * 1000);
  } else if (type == "status_ok" && settle_) {
    // A role change is settling: is the registry there yet?
    std::string_view role = json_str(f, "role");
    json_t* e = json_object_get(f, "epoch");
    bool idle = json_is_true(json_object_get(f, "writer_idle")) || !json_object_get(f, "writer_idle");
    bool ok = role == role_name(settle_->role.kind) &&
              (settle_->role.kind != Role::Kind::Leader || (json_is_integer(e) && uint64_t(json_integer_value(e)) == settle_->epoch)) &&
              (settle_->role.kind == Role::Kind::Leader || idle);
    if (ok) {
      auto s = std::move(settle_);
      event_del(settle_ev_.get());
      s->done(true, f);
    }
  }
}

void Replicator::await_registry(const Role& role, uint64_t epoch, std::function<void(bool, const json_t*)> done) {
  if (settle_) settle_->done(false, nullptr);  // superseded
  settle_ = std::make_unique<Settle>(Settle{role, epoch, mono_now_ns() + kSettleTimeoutNs, std::move(done)});
  timeval tv{0, kSettleMs * 1000};
  event_add(settle_ev_.get(), &tv);
  JsonPtr st(json_pack("{s:s}", "type", "status"));
  bus_->send(st.get());
}

void Replicator::on_settle_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Replicator*>(arg);
  if (!self->settle_) {
    event_del(self->settle_ev_.get());
    return;
  }
  if (mono_now_ns() > self->settle_->deadline_ns) {
    auto s = std::move(self->settle_);
    event_del(self->settle_ev_.get());
    s->done(false, nullptr);
    return;
  }
  JsonPtr st(json_pack("{s:s}", "type", "status"));
  self->bus_->send(st.get());
}

bool Replicator::change_role(const Role& role, std::string* error) {
  if (!write_role_file(cfg_.data_dir, role, error)) return false;
  if (!ipc::WorkerControl::request_role(role)) {
    *error = sys_error("send(role) to the supervisor");
    return false;
  }
  role_ = role;
  set_role(cfg_, role);
  return true;
}

void Replicator::promote(const std::string& by, Reply reply) {
  const int64_t started = mono_now_ns();
  uint64_t previous = epoch();
  if (role_.kind == Role::Kind::Leader) {
    reply(JsonPtr(json_pack("{s:s,s:I,s:I,s:I,s:b}", "type", "promote_ok", "epoch", json_int_t(previous),
                            "previous_epoch", json_int_t(previous), "took_ms", json_int_t(0), "already", 1)));
    return;
  }
  std::string old_leader = role_.leader;
  uint64_t seen = std::max(previous, follower_->leader_epoch());
  follower_->stop();  // nothing more is applied from here on
  uint64_t next = seen + 1;
  std::string error;
  if (!write_epoch_file(cfg_.data_dir, next, &error)) {
    log_error("promotion failed: cannot raise the epoch", {{"error", error}});
    if (!old_leader.empty()) follower_->start(old_leader);
    reply(error_reply("promotion failed: " + error));
    return;
  }
  if (!change_role(Role{Role::Kind::Leader, ""}, &error)) {
    log_error("promotion failed", {{"error", error}});
    reply(error_reply("promotion failed: " + error));
    return;
  }
  log_warn("promoted to leader", {{"epoch", std::to_string(next)}, {"previous_epoch", std::to_string(previous)}, {"by", by}});
  await_registry(role_, next, [this, reply, next, previous, started, old_leader](bool ok, const json_t*) {
    int64_t took = (mono_now_ns() - started) / 1000000;
    if (!ok) {
      reply(error_reply("promoted (epoch " + std::to_string(next) + ") but the registry did not confirm within 3 s"));
      return;
    }
    {
      Txn txn;
      if (env_.begin_read(&txn) == 0) last_seq_ = meta_u64(txn, "last_seq");
    }
    log_info("registry taking writes after promotion", {{"epoch", std::to_string(next)}, {"took_ms", std::to_string(took)}});
    if (!old_leader.empty()) {
      fence_target_ = old_leader;
      timeval tv{kFenceProbeMs / 1000, 0};
      event_add(fence_ev_.get(), &tv);
      send_fence_probe();
    }
    reply(JsonPtr(json_pack("{s:s,s:I,s:I,s:I,s:b}", "type", "promote_ok", "epoch", json_int_t(next), "previous_epoch",
                            json_int_t(previous), "took_ms", json_int_t(took), "already", 0)));
  });
}

void Replicator::demote(const std::string& leader, const std::string& by, Reply reply) {
  std::string host;
  int port = 0;
  if (!split_host_port(leader, &host, &port) || host.empty() || port == 0) {
    reply(error_reply("leader must be host:port"));
    return;
  }
  if (role_.kind == Role::Kind::Standby && role_.leader == leader) {
    reply(JsonPtr(json_pack("{s:s,s:s,s:b}", "type", "demote_ok", "leader", leader.c_str(), "already", 1)));
    return;
  }
  std::string error;
  Role next{Role::Kind::Standby, leader};
  if (!change_role(next, &error)) {
    reply(error_reply("demotion failed: " + error));
    return;
  }
  event_del(fence_ev_.get());
  probe_.reset();
  leader_->stop_all("this instance became a standby of " + leader);
  follower_->stop();
  log_warn("demoted to standby", {{"leader", leader}, {"by", by}});
  await_registry(next, 0, [this, reply, leader](bool ok, const json_t*) {
    if (role_.kind != Role::Kind::Standby || role_.leader != leader) return;  // superseded meanwhile
    if (!ok) log_warn("the registry did not confirm the standby role within 3 s; following anyway");
    follower_->start(leader);
    reply(JsonPtr(json_pack("{s:s,s:s,s:b}", "type", "demote_ok", "leader", leader.c_str(), "already", 0)));
  });
}

void Replicator::fence(uint64_t higher_epoch, const std::string& new_leader, const std::string& why) {
  if (role_.kind != Role::Kind::Leader) return;
  raise_epoch_to(higher_epoch);
  log_error("a higher epoch exists: this leader steps down", {{"epoch", std::to_string(higher_epoch)}, {"why", why},
                                                             {"new_leader", new_leader}});
  if (!new_leader.empty()) {
    demote(new_leader, "fence", [](JsonPtr) {});
    return;
  }
  std::string error;
  if (!change_role(Role{Role::Kind::Fenced, ""}, &error)) {
    log_error("cannot record the fenced role", {{"error", error}});
    return;
  }
  leader_->stop_all("this instance is fenced");
}

// ---- the fence probe: after a promotion, tell our old leader ----

void Replicator::on_fence_timer(evutil_socket_t, short, void* arg) {
  static_cast<Replicator*>(arg)->send_fence_probe();
}

void Replicator::send_fence_probe() {
  if (fence_target_.empty() || role_.kind != Role::Kind::Leader || probe_) return;
  std::string error;
  probe_ = std::make_unique<Probe>();
  Link* link = nullptr;
  // Over TLS when we followed it over TLS (-standby-tls): the old leader is a -tls instance.
  probe_->link = dial_leader(
      base_, cfg_, fence_target_,
      Link::Handlers{[this] {
                       std::string& in = probe_->link->in();
                       if (in.size() < 4) return;
                       uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(in.data()));
                       if (len > 65536 || in.size() < 4 + size_t(len)) {
                         if (len > 65536) probe_->link->close("reply too large");
                         return;
                       }
                       json_error_t err;
                       JsonPtr reply(json_loadb(in.data() + 4, len, 0, &err));
                       json_t* e = reply ? json_object_get(reply.get(), "epoch") : nullptr;
                       if (reply && json_str(reply.get(), "type") == "replication_fence_ok" && json_is_integer(e)) {
                         log_info("old leader fenced", {{"peer", fence_target_}, {"action", json_str(reply.get(), "action")}});
                         fence_target_.clear();
                         event_del(fence_ev_.get());
                       }
                       probe_->link->close("done");
                     },
                     [this](const std::string&) { probe_.reset(); }, nullptr},
      &error);
  if (!probe_->link) {
    log_debug("fence probe not started", {{"peer", fence_target_}, {"error", error}});
    probe_.reset();
    return;
  }
  link = probe_->link.get();
  link->await_connect([this, link] {
    std::string advertise = cfg_.repl_advertise;
    if (advertise.empty()) {
      // Our address as the peer sees it: the local end of this connection, our registry port.
      sockaddr_storage ss;
      socklen_t len = sizeof ss;
      std::string host, p;
      int port = 0;
      split_host_port(cfg_.registry_addr, &host, &port);
      char buf[64] = "127.0.0.1";
      if (getsockname(link->fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
      advertise = std::string(buf) + ":" + std::to_string(port);
    }
    JsonPtr m(json_pack("{s:s,s:s,s:I,s:s}", "type", "replication_fence", "token", cfg_.repl_token.c_str(), "epoch",
                        json_int_t(epoch()), "leader", advertise.c_str()));
    std::string out;
    wire::append_json_frame(out, json_dump_compact(m.get()));
    link->send(out);
  });
}

// ---- handoffs from the registry ----

void Replicator::handoff(int raw_fd, const json_t* msg) {
  UniqueFd fd(raw_fd);
  const json_t* req = json_object_get(msg, "request");
  std::string peer(json_str(msg, "peer"));
  std::string buffered;
  if (std::string_view b64 = json_str(msg, "buffered"); !b64.empty() && !base64_decode(b64, &buffered)) buffered.clear();
  std::string_view type = json_str(req, "type");
  if (type == "subscribe_replication") {
    leader_->adopt(std::move(fd), req, std::move(buffered), std::move(peer));
    return;
  }
  if (type == "replication_fence") {
    json_t* e = json_object_get(req, "epoch");
    uint64_t theirs = json_is_integer(e) && json_integer_value(e) > 0 ? uint64_t(json_integer_value(e)) : 0;
    uint64_t ours = epoch();
    std::string leader(json_str(req, "leader"));
    std::string host;
    int port = 0;
    bool valid_leader = split_host_port(leader, &host, &port) && !host.empty() && port != 0;
    const char* action = "none";
    if (theirs > ours && valid_leader && role_.kind != Role::Kind::Standby) action = "demoted";
    else if (theirs > ours && role_.kind == Role::Kind::Standby) action = "following";
    JsonPtr reply(json_pack("{s:s,s:I,s:s,s:s}", "type", "replication_fence_ok", "epoch", json_int_t(ours), "role",
                            role_name(role_.kind), "action", action));
    std::string out;
    wire::append_json_frame(out, json_dump_compact(reply.get()));
    (void)!::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (std::string_view(action) == "demoted") {
      raise_epoch_to(theirs);
      fence(theirs, leader, "replication_fence from " + peer);
    } else if (std::string_view(action) == "following") {
      raise_epoch_to(theirs);
    }
    return;
  }
  log_warn("handoff of an unknown message ignored", {{"type", type.substr(0, 40)}});
}

JsonPtr Replicator::status() const {
  JsonPtr out(json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "type", "status_ok", "role", role_name(role_.kind), "leader",
                        role_.leader.c_str(), "epoch", json_int_t(epoch()), "last_seq", json_int_t(last_seq_), "id",
                        id_.c_str()));
  json_object_set_new(out.get(), "standbys", leader_->standbys_json());
  json_object_set_new(out.get(), "subscribers", json_integer(json_int_t(leader_->streaming())));
  json_object_set_new(out.get(), "follower", follower_->status_json());
  if (!fence_target_.empty()) json_object_set_new(out.get(), "fencing", json_string(fence_target_.c_str()));
  return out;
}

}  // namespace rdv::replicator
