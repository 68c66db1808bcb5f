// Leader/standby replication with real instances on loopback (docs/replication.md): catch-up
// by full copy and by records, every kind of state, lag, failover with promotion and fencing,
// synchronous mode, refusals, a corrupted record from a leader the test plays itself, and
// SIGKILLed replicators resuming without a full copy.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "network_helpers.h"
#include "operator_helpers.h"
#include "protocol.h"
#include "replication.h"
#include "store.h"

namespace rt {
namespace {

const char* kToken = "test-repl-token";

void as_leader(Server& s) {
  s.extra_args.insert(s.extra_args.end(), {"-repl-token", kToken, "-repl-heartbeat", "200ms"});
}
void as_standby(Server& s, const Server& leader, const std::string& token = kToken) {
  s.extra_args.insert(s.extra_args.end(), {"-standby", "127.0.0.1:" + std::to_string(leader.registry_port),
                                           "-repl-token", token, "-repl-heartbeat", "200ms"});
}

// One request on a local socket of `s` (replicator.sock or registry.sock).
rdv::JsonPtr local_call(const Server& s, const std::string& sock, const std::string& body, int timeout_ms = 10000) {
  int err = 0;
  Conn c = Conn::open_unix(s.run_dir + "/" + sock, &err);
  if (!c.ok()) return nullptr;
  return c.request(body, nullptr, timeout_ms);
}
rdv::JsonPtr repl_status(const Server& s) { return local_call(s, "replicator.sock", R"({"type":"status"})"); }
uint64_t leader_seq(const Server& s) {
  rdv::JsonPtr st = local_call(s, "registry.sock", R"({"type":"status"})");
  return st ? uint64_t(num(st.get(), "last_seq", 0)) : 0;
}
const json_t* follower(const rdv::JsonPtr& st) { return st ? json_object_get(st.get(), "follower") : nullptr; }
uint64_t applied(const Server& s) {
  rdv::JsonPtr st = repl_status(s);
  const json_t* f = follower(st);
  return f ? uint64_t(num(f, "applied_seq", 0)) : 0;
}
int64_t follower_field(const Server& s, const char* key) {
  rdv::JsonPtr st = repl_status(s);
  const json_t* f = follower(st);
  return f ? num(f, key, -1) : -1;
}

// Waits until the standby has applied everything the leader has committed.
bool caught_up(const Server& standby, const Server& leader, int timeout_ms = 20000) {
  return eventually([&] {
    uint64_t want = leader_seq(leader);
    return want > 0 && applied(standby) >= want;
  }, timeout_ms);
}

// Registers `n` fresh keys, pipelined over 8 connections (the registry takes one write of a
// connection at a time, so one connection would pay a commit per registration); returns the
// daemons in order.
std::vector<Daemon> register_many(const Server& s, size_t n) {
  constexpr size_t kConns = 8, kChunk = 100;
  std::vector<Daemon> out(n);
  std::vector<std::string> bodies;
  for (auto& d : out) {
    d.key = Key::generate();
    std::string challenge = std::string("register:") + kPublicAddr + ":" + d.key.pub_b64();
    rdv::JsonPtr req(json_pack("{s:s,s:s,s:s,s:s}", "type", "register", "public_key", d.key.pub_b64().c_str(),
                               "listen_addr", kPublicAddr, "signature", d.key.sign_b64(challenge).c_str()));
    bodies.push_back(dump(req.get()));
  }
  std::vector<Conn> conns;
  for (size_t i = 0; i < kConns; i++) conns.push_back(Conn::open(s.registry_port));
  // Request i goes on connection i % kConns; each round sends a chunk on every connection,
  // then reads those replies.
  for (size_t round = 0; round * kConns * kChunk < n; round++) {
    std::vector<size_t> sent;
    for (size_t k = 0; k < kConns; k++)
      for (size_t j = 0; j < kChunk; j++) {
        size_t i = (round * kChunk + j) * kConns + k;
        if (i < n && conns[k].send_json(bodies[i])) sent.push_back(i);
      }
    for (size_t i : sent) {
      std::string body;
      rdv::JsonPtr r = conns[i % kConns].recv_json(&body, 20000) == Io::Ok ? parse_json(body) : nullptr;
      EXPECT_TRUE(r && str(r.get(), "type") == "register_ok") << (r ? dump(r.get()) : "no reply");
      if (r) out[i].id = uint32_t(num(r.get(), "node_id", 0));
    }
  }
  return out;
}

bool knows(Conn& c, const Daemon& d) {
  rdv::JsonPtr r = do_lookup(c, d.id);
  return r && str(r.get(), "type") == "lookup_ok" && str(r.get(), "public_key") == d.key.pub_b64();
}

class Replication : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (Server* s : {&leader, &standby, &third}) dump_log(*s);
    }
  }
  void start_pair() {
    as_leader(leader);
    std::string err;
    ASSERT_TRUE(leader.start(&err)) << err;
    as_standby(standby, leader);
    ASSERT_TRUE(standby.start(&err)) << err;
  }
  Server leader, standby, third;
};

TEST_F(Replication, CatchesUpFromEmptyByACopyThenFromAGapByRecords) {
  as_leader(leader);
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  Conn lc = leader.connect();
  std::vector<Daemon> first = register_many(leader, 50);

  as_standby(standby, leader);
  ASSERT_TRUE(standby.start(&err)) << err;
  ASSERT_TRUE(caught_up(standby, leader));
  EXPECT_EQ(follower_field(standby, "full_copies"), 1) << "an empty standby starts from a full copy";
  Conn sc = standby.connect();
  for (auto& d : first) EXPECT_TRUE(knows(sc, d)) << d.id;

  // A gap: the standby is away while the leader takes more writes.
  EXPECT_EQ(standby.stop(), 0);
  std::vector<Daemon> second = register_many(leader, 50);
  standby.new_ports();
  ASSERT_TRUE(standby.start(&err)) << err;
  ASSERT_TRUE(caught_up(standby, leader));
  EXPECT_EQ(follower_field(standby, "full_copies"), 0) << "a standby with a prefix of the log gets records only";
  sc = standby.connect();
  for (auto& d : second) EXPECT_TRUE(knows(sc, d)) << d.id;
  // The standby serves reads and refuses writes verbatim.
  rdv::JsonPtr r = do_register(sc, Key::generate());
  EXPECT_TRUE(is_error(r, "standby mode: write operations not accepted (use primary)"));
}

TEST_F(Replication, TenThousandWritesReachTheStandbyAndTheLagFallsToZero) {
  start_pair();
  Conn lc = leader.connect();
  std::vector<Daemon> all;
  for (int i = 0; i < 10; i++) {
    std::vector<Daemon> batch = register_many(leader, 1000);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  ASSERT_TRUE(caught_up(standby, leader, 60000));
  Conn sc = standby.connect();
  for (size_t i = 0; i < all.size(); i += 97) EXPECT_TRUE(knows(sc, all[i]));
  EXPECT_TRUE(knows(sc, all.back()));
  EXPECT_TRUE(eventually([&] {
    rdv::JsonPtr st = repl_status(leader);
    const json_t* arr = st ? json_object_get(st.get(), "standbys") : nullptr;
    if (json_array_size(arr) != 1) return false;
    const json_t* s = json_array_get(arr, 0);
    return str(s, "state") == "streaming" && num(s, "lag_records") == 0 && num(s, "acked_seq") > 10000;
  }, 20000)) << dump(repl_status(leader).get());
}

TEST_F(Replication, EveryKindOfStateIsReplicated) {
  start_pair();
  Conn lc = leader.connect();
  Daemon a = register_daemon(lc), b = register_daemon(lc), c = register_daemon(lc);
  uint16_t open_net = create_network(lc, leader, a, "replicated-open");
  ASSERT_NE(open_net, 0);
  ASSERT_TRUE(is_ok(join(lc, b, open_net), "join_network_ok"));
  uint16_t net = create_enterprise(lc, leader, a, "replicated-net", "invite");
  ASSERT_NE(net, 0);
  ASSERT_TRUE(is_ok(invite(lc, a, net, c.id), "invite_to_network_ok"));
  rdv::JsonPtr pol(json_pack("{s:s,s:I,s:I,s:i,s:s}", "type", "set_network_policy", "network_id", json_int_t(net),
                             "node_id", json_int_t(a.id), "max_members", 42, "description", "replicated"));
  json_object_set_new(pol.get(), "admin_token", json_string(leader.admin_token.c_str()));
  ASSERT_TRUE(is_ok(lc.request(pol.get()), "set_network_policy_ok"));
  std::string challenge = "report_trust:" + std::to_string(a.id) + ":" + std::to_string(c.id);
  ASSERT_TRUE(is_ok(call(lc, json_pack("{s:s,s:I,s:I,s:s}", "type", "report_trust", "node_id", json_int_t(a.id),
                                       "peer_id", json_int_t(c.id), "signature", a.sign(challenge).c_str())),
                    "report_trust_ok"));
  std::string hs = "handshake:" + std::to_string(b.id) + ":" + std::to_string(c.id);
  ASSERT_TRUE(is_ok(call(lc, json_pack("{s:s,s:I,s:I,s:s,s:s}", "type", "request_handshake", "from_node_id",
                                       json_int_t(b.id), "to_node_id", json_int_t(c.id), "justification", "hello",
                                       "signature", b.sign(hs).c_str())),
                    "request_handshake_ok"));
  ASSERT_TRUE(caught_up(standby, leader));

  Conn sc = standby.connect();
  rdv::JsonPtr nets = call(sc, json_pack("{s:s}", "type", "list_networks"));
  ASSERT_TRUE(is_ok(nets, "list_networks_ok"));
  EXPECT_NE(network_entry(nets.get(), net), nullptr) << dump(nets.get());
  EXPECT_NE(network_entry(nets.get(), open_net), nullptr) << dump(nets.get());
  rdv::JsonPtr role = call(sc, json_pack("{s:s,s:i,s:I}", "type", "get_member_role", "network_id", int(open_net),
                                         "target_node_id", json_int_t(b.id)));
  ASSERT_TRUE(is_ok(role, "get_member_role_ok"));
  EXPECT_EQ(str(role.get(), "role"), "member");
  rdv::JsonPtr inv = poll_invites(sc, c);
  ASSERT_TRUE(is_ok(inv, "poll_invites_ok"));
  EXPECT_NE(dump(inv.get()).find("\"network_id\":" + std::to_string(net)), std::string::npos) << dump(inv.get());
  rdv::JsonPtr p = call(sc, json_pack("{s:s,s:I}", "type", "get_network_policy", "network_id", json_int_t(net)));
  ASSERT_TRUE(is_ok(p, "get_network_policy_ok"));
  EXPECT_EQ(num(p.get(), "max_members"), 42);
  rdv::JsonPtr t = call(sc, json_pack("{s:s,s:I,s:I}", "type", "check_trust", "node_id", json_int_t(a.id), "peer_id",
                                      json_int_t(c.id)));
  ASSERT_TRUE(is_ok(t, "check_trust_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(t.get(), "trusted")));
  rdv::JsonPtr h = call(sc, json_pack("{s:s,s:I,s:s}", "type", "poll_handshakes", "node_id", json_int_t(c.id),
                                      "signature", c.sign("poll_handshakes:" + std::to_string(c.id)).c_str()));
  ASSERT_TRUE(is_ok(h, "poll_handshakes_ok"));
  EXPECT_NE(dump(h.get()).find("hello"), std::string::npos) << dump(h.get());
  rdv::JsonPtr log = call(sc, json_pack("{s:s,s:s,s:i}", "type", "get_audit_log", "admin_token",
                                        standby.admin_token.c_str(), "limit", 100));
  ASSERT_TRUE(is_ok(log, "get_audit_log_ok"));
  EXPECT_NE(dump(log.get()).find("network.created"), std::string::npos) << dump(log.get());
  // Liveness reaches the standby on its own channel: a heartbeat on the leader moves the
  // standby's last_seen_unix to the leader's.
  sleep_ms(1100);  // so the heartbeat's second differs from the registration's
  ASSERT_TRUE(is_ok(do_signed(lc, a.key, "heartbeat", "heartbeat", a.id), "heartbeat_ok"));
  const int64_t on_leader = num(do_lookup(lc, a.id).get(), "last_seen_unix", 0);
  ASSERT_GT(on_leader, 0);
  EXPECT_TRUE(eventually([&] {
    rdv::JsonPtr l = do_lookup(sc, a.id);
    return l && num(l.get(), "last_seen_unix", 0) == on_leader;
  })) << "standby: " << dump(do_lookup(sc, a.id).get()) << " leader: " << on_leader;
}

// Writes from a thread until stopped; remembers what the leader acknowledged.
struct Writer {
  explicit Writer(uint16_t port) : port(port) {}
  ~Writer() { join(); }
  void start() {
    th = std::thread([this] {
      Conn c = Conn::open(port);
      while (!stop && c.ok()) {
        Key k = Key::generate();
        rdv::JsonPtr r = do_register(c, k);
        if (!r || str(r.get(), "type") != "register_ok") break;
        std::lock_guard<std::mutex> g(mu);
        acked.push_back({k, uint32_t(num(r.get(), "node_id", 0))});
      }
    });
  }
  void join() {
    stop = true;
    if (th.joinable()) th.join();
  }
  size_t count() {
    std::lock_guard<std::mutex> g(mu);
    return acked.size();
  }
  uint16_t port;
  std::thread th;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Daemon> acked;
};

rdv::JsonPtr promote(const Server& s) { return local_call(s, "replicator.sock", R"({"type":"promote","by":"test"})"); }

TEST_F(Replication, FailoverUnderLoadThenTheOldLeaderIsFencedAndCatchesUp) {
  start_pair();
  Writer w(leader.registry_port);
  w.start();
  ASSERT_TRUE(eventually([&] { return w.count() >= 200; }, 30000));
  leader.kill_all();  // SIGKILL, mid-load
  w.join();

  rdv::JsonPtr p = promote(standby);
  ASSERT_TRUE(p && str(p.get(), "type") == "promote_ok") << (p ? dump(p.get()) : "no reply");
  EXPECT_GE(num(p.get(), "epoch"), 2);
  Conn sc = standby.connect();
  uint32_t highest_replicated = 0;
  for (auto& d : w.acked)
    if (knows(sc, d)) highest_replicated = std::max(highest_replicated, d.id);
  EXPECT_GT(highest_replicated, 0u);
  Daemon fresh = register_daemon(sc);
  EXPECT_GT(fresh.id, highest_replicated) << "a promoted standby allocates above every id it has seen";

  // The old leader comes back on its old port, as a leader: the new leader's fence reaches it
  // and it follows the new leader.
  const uint16_t old_port = leader.registry_port;
  leader.extra_args.clear();
  as_leader(leader);
  std::string err;
  ASSERT_TRUE(leader.spawn(&err)) << err;
  ASSERT_EQ(leader.registry_port, old_port);
  ASSERT_TRUE(eventually([&] {
    rdv::JsonPtr st = repl_status(leader);
    return st && str(st.get(), "role") == "standby";
  }, 30000)) << leader.log_tail();
  ASSERT_TRUE(caught_up(leader, standby, 30000));
  Conn oc = leader.connect();
  EXPECT_TRUE(knows(oc, fresh));
  EXPECT_TRUE(is_error(do_register(oc, Key::generate()), "standby mode: write operations not accepted (use primary)"));
  rdv::JsonPtr st = repl_status(leader);
  EXPECT_GE(num(st.get(), "epoch"), num(p.get(), "epoch")) << "the fenced instance took the higher epoch";
}

TEST_F(Replication, SyncModeLosesNoAcknowledgedWriteInAFailover) {
  leader.extra_args = {"-repl-sync", "-repl-sync-timeout", "30s"};
  start_pair();
  ASSERT_TRUE(eventually([&] {
    rdv::JsonPtr st = repl_status(leader);
    const json_t* arr = st ? json_object_get(st.get(), "standbys") : nullptr;
    return json_array_size(arr) == 1 && str(json_array_get(arr, 0), "state") == "streaming";
  }));
  Writer w(leader.registry_port);
  w.start();
  ASSERT_TRUE(eventually([&] { return w.count() >= 200; }, 30000));
  leader.kill_all();
  w.join();
  rdv::JsonPtr p = promote(standby);
  ASSERT_TRUE(p && str(p.get(), "type") == "promote_ok") << (p ? dump(p.get()) : "no reply");
  Conn sc = standby.connect();
  uint32_t highest = 0;
  for (auto& d : w.acked) {
    EXPECT_TRUE(knows(sc, d)) << "acknowledged registration " << d.id << " lost";
    highest = std::max(highest, d.id);
  }
  EXPECT_GT(register_daemon(sc).id, highest);
}

TEST_F(Replication, AStandbyWithTheWrongTokenIsRefused) {
  as_leader(leader);
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  as_standby(standby, leader, "not-the-token");
  ASSERT_TRUE(standby.start(&err)) << err;
  EXPECT_TRUE(eventually([&] {
    rdv::JsonPtr st = repl_status(standby);
    const json_t* f = follower(st);
    return f && str(f, "state") == "refused" && str(f, "last_error") == "invalid replication token";
  })) << dump(repl_status(standby).get());
  rdv::JsonPtr st = repl_status(leader);
  EXPECT_EQ(json_array_size(json_object_get(st.get(), "standbys")), 0u);
}

// The test plays the leader: a valid frame carrying a damaged record must not be applied,
// and the standby comes back asking for the records after the last good one.
TEST_F(Replication, ACorruptedRecordIsRefusedWithoutApplyingIt) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  socklen_t len = sizeof sa;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  rdv::UniqueFd listener(lfd);
  standby.extra_args = {"-standby", "127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), "-repl-token", kToken,
                        "-repl-heartbeat", "200ms"};
  std::string err;
  ASSERT_TRUE(standby.start(&err)) << err;

  auto accept_standby = [&](rdv::JsonPtr* subscribe) {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return Conn();
    Conn c;
    int fd = ::accept(lfd, nullptr, nullptr);
    c = Conn::adopt(fd);
    std::string body;
    if (c.recv_json(&body, 10000) != Io::Ok) return Conn();
    *subscribe = parse_json(body);
    return c;
  };
  rdv::JsonPtr sub;
  Conn c = accept_standby(&sub);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(str(sub.get(), "type"), "subscribe_replication");
  uint64_t base = uint64_t(num(sub.get(), "last_seq", 0));
  uint64_t epoch = std::max<int64_t>(1, num(sub.get(), "epoch", 1));
  rdv::JsonPtr ok(json_pack("{s:s,s:i,s:I,s:s,s:s,s:I,s:I}", "type", "replication_ok", "protocol", 1, "epoch",
                            json_int_t(epoch), "leader_id", "test", "mode", "records", "from_seq", json_int_t(base + 1),
                            "last_seq", json_int_t(base + 2)));
  ASSERT_TRUE(c.send_json(dump(ok.get())));
  auto record = [&](uint64_t seq, const char* key) {
    rdv::ChangeRecord r;
    r.seq = seq;
    r.epoch = epoch;
    r.type = rdv::ChangeType::Settings;
    r.ops.push_back({true, rdv::Db::Settings, key, "{}"});
    return rdv::encode_change(r);
  };
  std::string good = record(base + 1, "replication-test-good"), bad = record(base + 2, "replication-test-bad");
  bad[bad.size() / 2] ^= 0x40;  // the record's own CRC fails; the frame's is computed over it
  for (const std::string& rec : {good, bad}) {
    rdv::repl::RecordsBuilder b;
    b.add(rec);
    std::string frame;
    rdv::repl::append_frame(frame, rdv::repl::Kind::Records, b.take());
    ASSERT_TRUE(c.send_all(frame));
  }
  // The standby acknowledges the good record, never the bad one, and closes this stream.
  std::string in, chunk;
  std::vector<uint64_t> acks;
  for (int64_t deadline = mono_ms() + 20000; mono_ms() < deadline;) {
    Io io = c.recv_exact(1, &chunk, 200);
    if (io == Io::Eof || io == Io::Error) break;
    if (io == Io::Ok) in += chunk;
    rdv::repl::Frame f;
    size_t used = 0;
    std::string why;
    while (rdv::repl::decode_frame(in, &f, &used, &why) == rdv::repl::DecodeStatus::Frame) {
      uint64_t seq = 0;
      if (f.kind == rdv::repl::Kind::Ack && rdv::repl::decode_ack(f.payload, &seq)) acks.push_back(seq);
      in.erase(0, used);
    }
  }
  c.close();
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back(), base + 1);
  Conn again = accept_standby(&sub);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(uint64_t(num(sub.get(), "last_seq", 0)), base + 1) << dump(sub.get());
  EXPECT_EQ(uint64_t(num(sub.get(), "last_crc", 0)), rdv::repl::record_crc(good));
  rdv::JsonPtr st = repl_status(standby);
  EXPECT_NE(str(follower(st), "last_error").find("checksum"), std::string::npos) << dump(st.get());
}

pid_t kill_replicator(Server& s) {
  pid_t pid = s.worker("rendezvous-replicator");
  EXPECT_GT(pid, 0);
  EXPECT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_GT(s.wait_worker("rendezvous-replicator", pid, 20000), 0) << "replicator not restarted";
  return pid;
}

TEST_F(Replication, AKilledReplicatorOnEitherSideResumesWithoutAFullCopy) {
  start_pair();
  Conn lc = leader.connect();
  register_many(leader, 100);
  ASSERT_TRUE(caught_up(standby, leader));
  ASSERT_EQ(follower_field(standby, "full_copies"), 1);

  kill_replicator(standby);
  register_many(leader, 100);
  ASSERT_TRUE(caught_up(standby, leader));
  EXPECT_EQ(follower_field(standby, "full_copies"), 0) << "the restarted standby replicator resumed from its log";

  kill_replicator(leader);
  register_many(leader, 100);
  ASSERT_TRUE(caught_up(standby, leader));
  EXPECT_EQ(follower_field(standby, "full_copies"), 0) << "a restarted leader replicator streams records";
  EXPECT_GE(follower_field(standby, "reconnects"), 1);
}

TEST_F(Replication, ALeaderServesSeveralStandbys) {
  start_pair();
  as_standby(third, leader);
  std::string err;
  ASSERT_TRUE(third.start(&err)) << err;
  Conn lc = leader.connect();
  std::vector<Daemon> ds = register_many(leader, 200);
  ASSERT_TRUE(caught_up(standby, leader));
  ASSERT_TRUE(caught_up(third, leader));
  Conn tc = third.connect();
  EXPECT_TRUE(knows(tc, ds.back()));
  rdv::JsonPtr st = repl_status(leader);
  EXPECT_EQ(json_array_size(json_object_get(st.get(), "standbys")), 2u) << dump(st.get());
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// The oldest change record the leader keeps, read from its live store (LMDB allows readers
// in other processes).
uint64_t first_kept(const Server& s) {
  rdv::Env env;
  std::string err;
  if (!env.open(rdv::EnvOptions{s.data_dir, 1ull << 30, 64, false}, &err)) {
    ADD_FAILURE() << err;
    return 0;
  }
  rdv::Txn txn;
  if (env.begin_read(&txn) != 0) return 0;
  rdv::Cursor c(txn, rdv::Db::ChangeLog);
  return c.seek() ? rdv::read_u64(c.key()) : 0;
}

TEST_F(Replication, TrimmingWaitsForEveryStandbyThenALaggingOneGetsACopy) {
  // A short stale threshold makes the trim tick (it runs with the reaper) every 250 ms.
  leader.extra_args = {"-changelog-keep", "1000", "-stale-threshold", "1s"};
  start_pair();
  Conn lc = leader.connect();
  register_many(leader, 20);
  ASSERT_TRUE(caught_up(standby, leader));
  const uint64_t acked = applied(standby);
  EXPECT_EQ(standby.stop(), 0);
  register_many(leader, 1100);  // past -changelog-keep
  // Trimming goes on, but never past what the absent standby acknowledged.
  ASSERT_TRUE(eventually([&] { return first_kept(leader) > 1; }, 20000)) << "the leader never trims";
  sleep_ms(1000);  // a few more trim ticks (nothing to wait for: they must not move past the ack)
  EXPECT_LE(first_kept(leader), acked + 1);
  standby.new_ports();
  std::string err;
  ASSERT_TRUE(standby.start(&err)) << err;
  ASSERT_TRUE(caught_up(standby, leader));
  EXPECT_EQ(follower_field(standby, "full_copies"), 0) << "its records were kept for it";

  // Once the leader forgets it, the log is trimmed past it: it needs a full copy.
  const uint64_t acked2 = applied(standby);
  EXPECT_EQ(standby.stop(), 0);
  // The standby's id is host:data-dir by default.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string consumer = std::string("standby:") + host + ":" + standby.data_dir;
  rdv::JsonPtr forget = local_call(leader, "registry.sock",
                                   dump(rdv::JsonPtr(json_pack("{s:s,s:s}", "type", "bus_forget", "consumer", consumer.c_str())).get()));
  ASSERT_TRUE(forget && str(forget.get(), "type") == "bus_forget_ok") << (forget ? dump(forget.get()) : "no reply");
  register_many(leader, 1100);
  ASSERT_TRUE(eventually([&] { return first_kept(leader) > acked2 + 1; }, 20000));
  standby.new_ports();
  ASSERT_TRUE(standby.start(&err)) << err;
  ASSERT_TRUE(caught_up(standby, leader));
  EXPECT_EQ(follower_field(standby, "full_copies"), 1);
}

}  // namespace
}  // namespace rt
