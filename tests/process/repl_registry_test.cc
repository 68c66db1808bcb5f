// The registry's side of replication (docs/replication.md; worker-registry/replication.cc),
// against the real server: the refusals of subscribe_replication / replication_fence on the
// registry port, the hand-over of the socket to <run-dir>/replicator.sock, the replicator's
// reports on registry.sock (replica_applied, repl_acked), -repl-sync holding a write's reply
// until an acknowledgement or degrading past its timeout, and a role change at run time
// through <data-dir>/role and SIGHUP.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "crypto.h"
#include "ipc.h"
#include "protocol.h"

namespace rt {
namespace {

constexpr const char* kToken = "repl-secret-token";
constexpr const char* kRefused = "standby mode: write operations not accepted (use primary)";

class ReplRegistry : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  bool start(std::vector<std::string> args) {
    server.extra_args = std::move(args);
    std::string err;
    bool ok = server.start(&err);
    EXPECT_TRUE(ok) << err;
    return ok;
  }
  Conn local() {
    int e = 0;
    Conn c = Conn::open_unix(server.run_dir + "/registry.sock", &e);
    EXPECT_TRUE(c.ok()) << "connect registry.sock: " << std::strerror(e);
    return c;
  }
  rdv::JsonPtr status() {
    Conn c = local();
    return c.request(R"({"type":"status"})");
  }
  // Polls the status reply until `pred` holds (10 s).
  template <class Pred>
  rdv::JsonPtr wait_status(Pred pred, const char* what) {
    rdv::JsonPtr s;
    for (int64_t end = mono_ms() + 10000; mono_ms() < end; sleep_ms(20)) {
      s = status();
      if (s && pred(s.get())) return s;
    }
    ADD_FAILURE() << "status never showed " << what << ": " << (s ? dump(s.get()) : "no reply");
    return s;
  }
  static std::string subscribe(const std::string& token) {
    return R"({"type":"subscribe_replication","token":")" + token +
           R"(","protocol":1,"standby_id":"test-standby","epoch":1,"last_seq":0,"last_crc":0})";
  }
  // The error reply, then the close (the registry closes after every refusal).
  static void expect_refusal(Conn& c, const std::string& request, const std::string& text) {
    SCOPED_TRACE(request);
    rdv::JsonPtr r = c.request(request);
    EXPECT_TRUE(is_error(r, text));
    std::string extra;
    EXPECT_TRUE(c.expect_closed(5000, &extra)) << "still open after the refusal; got " << extra.size() << " bytes";
  }
  std::string replicator_sock() const { return rdv::ipc::replicator_socket_path(server.run_dir); }
  bool replicator_listens() const {
    struct stat st;
    return ::lstat(replicator_sock().c_str(), &st) == 0;
  }
  Server server;
};

rdv::JsonPtr register_request(const Key& k) {
  const std::string addr = kPublicAddr;
  return rdv::JsonPtr(json_pack("{s:s, s:s, s:s, s:s}", "type", "register", "listen_addr", addr.c_str(), "public_key",
                                k.pub_b64().c_str(), "signature",
                                k.sign_b64("register:" + addr + ":" + k.pub_b64()).c_str()));
}

std::string sync_state(const json_t* s) { return str(json_object_get(s, "sync"), "state"); }
int64_t sync_num(const json_t* s, const char* key) { return num(json_object_get(s, "sync"), key); }

TEST_F(ReplRegistry, RefusedWithoutATokenConfigured) {
  ASSERT_TRUE(start({}));
  Conn c = server.connect();
  expect_refusal(c, subscribe("anything"), "replication not configured");
  Conn f = server.connect();
  expect_refusal(f, R"({"type":"replication_fence","token":"x","epoch":9,"leader":"127.0.0.1:1"})",
                 "replication not configured");
  // Inside binary passthrough: a binary error, and that connection stays usable.
  Conn b = server.connect();
  ASSERT_TRUE(b.send_preamble());
  for (const char* body : {R"({"type":"subscribe_replication","token":"x"})", R"({"type":"replication_fence"})"}) {
    ASSERT_TRUE(b.send_frame(0x00, body));
    uint8_t t;
    std::string p;
    ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
    EXPECT_EQ(t, 0xFF);
    EXPECT_EQ(binary_error_text(p), "replication not supported over binary protocol");
  }
  EXPECT_TRUE(b.still_open());
  // The registry goes on serving.
  Conn d = server.connect();
  EXPECT_TRUE(is_ok(do_register(d, Key::generate()), "register_ok"));
}

TEST_F(ReplRegistry, WrongTokenAndNotFirstAreRefused) {
  ASSERT_TRUE(start({"-repl-token", kToken}));
  Conn c = server.connect();
  expect_refusal(c, subscribe("not-the-token"), "invalid replication token");
  Conn e = server.connect();
  expect_refusal(e, R"({"type":"subscribe_replication"})", "invalid replication token");  // no token at all
  Conn f = server.connect();
  expect_refusal(f, R"({"type":"replication_fence","token":"repl-secret-tokeX","epoch":2})", "invalid replication token");
  // The right token, but after another request on the same connection.
  Conn g = server.connect();
  ASSERT_TRUE(g.request(R"({"type":"lookup","node_id":1})"));
  expect_refusal(g, subscribe(kToken), "subscribe_replication must be the connection's first request");
  // The refusals were never rate limited nor did they upset the server.
  Conn d = server.connect();
  EXPECT_TRUE(is_ok(do_register(d, Key::generate()), "register_ok"));
}

// With nothing listening on <run-dir>/replicator.sock: the replicator's socket file is removed
// (the worker keeps running, unreachable), as after an operator's mistake in the run dir.
TEST_F(ReplRegistry, UnavailableWhenTheReplicatorDoesNotListen) {
  ASSERT_TRUE(start({"-repl-token", kToken}));
  // The replicator worker binds the path soon after start: take it away from it.
  for (int64_t deadline = mono_ms() + 10000; !replicator_listens() && mono_ms() < deadline;) sleep_ms(20);
  ASSERT_TRUE(replicator_listens());
  ASSERT_EQ(::unlink(replicator_sock().c_str()), 0);
  Conn c = server.connect();
  expect_refusal(c, subscribe(kToken), "replication unavailable: replicator not running");
}

// The hand-over itself: a listener of ours stands in for the replicator at its path (the
// worker's socket file is removed first), receives the handoff frame with the socket, and
// answers through the passed socket; the registry writes nothing more on it.
TEST_F(ReplRegistry, HandsTheConnectionToTheReplicator) {
  ASSERT_TRUE(start({"-repl-token", kToken}));
  // The replicator worker binds the path soon after start: take it away from it.
  for (int64_t deadline = mono_ms() + 10000; !replicator_listens() && mono_ms() < deadline;) sleep_ms(20);
  ASSERT_TRUE(replicator_listens());
  ASSERT_EQ(::unlink(replicator_sock().c_str()), 0);
  rdv::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, replicator_sock().c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(listener.get(), 4), 0);

  Conn standby = server.connect();
  const std::string req = subscribe(kToken);
  // The subscribe and a few bytes after it in one write: they travel as "buffered".
  ASSERT_TRUE(standby.send_all(json_frame(req) + "AB"));

  timeval tv{10, 0};
  ASSERT_EQ(::setsockopt(listener.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  rdv::UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn) << "the registry never connected: " << std::strerror(errno);
  ASSERT_EQ(::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  std::string data;
  int fd = -1;
  ssize_t n = rdv::ipc::recv_with_fd(conn.get(), &data, 65536, &fd);
  ASSERT_GT(n, 4) << std::strerror(errno);
  rdv::UniqueFd passed(fd);
  ASSERT_TRUE(passed) << "no descriptor came with the handoff";
  ASSERT_EQ(get_be32(data, 0), data.size() - 4) << "one daemon-framed message";
  rdv::JsonPtr h = parse_json(std::string_view(data).substr(4));
  ASSERT_TRUE(h) << data;
  EXPECT_EQ(str(h.get(), "type"), "handoff");
  EXPECT_EQ(str(h.get(), "peer").rfind("127.0.0.1:", 0), 0u) << dump(h.get());
  const json_t* request = json_object_get(h.get(), "request");
  EXPECT_EQ(str(request, "type"), "subscribe_replication");
  EXPECT_EQ(str(request, "token"), kToken);
  EXPECT_EQ(str(request, "standby_id"), "test-standby");
  std::string buffered;
  ASSERT_TRUE(rdv::base64_decode(str(h.get(), "buffered"), &buffered)) << dump(h.get());
  EXPECT_EQ(buffered, "AB");

  // The passed descriptor is the standby's connection: what we write there, it reads, and
  // nothing from the registry came before it.
  const std::string ok = R"({"type":"replication_ok","protocol":1})";
  const std::string frame = json_frame(ok);
  ASSERT_EQ(::send(passed.get(), frame.data(), frame.size(), MSG_NOSIGNAL), ssize_t(frame.size()));
  std::string got;
  ASSERT_EQ(standby.recv_json(&got), Io::Ok);
  EXPECT_EQ(got, ok);
  // The registry closed its own copy: the connection lives on through ours.
  EXPECT_TRUE(standby.still_open(200));
  rdv::JsonPtr s = status();
  ASSERT_TRUE(s);
  EXPECT_EQ(num(s.get(), "connections"), 0) << "the registry still counts the handed-over connection";
  ::unlink(replicator_sock().c_str());
}

// End to end with the replicator worker: a subscription handed over is answered by it; a
// fence from a higher epoch demotes this leader at run time (the replicator's role broadcast
// reaches the registry, which refuses writes), and a promotion makes it a leader again at a
// higher epoch that takes writes.
TEST_F(ReplRegistry, TheReplicatorAnswersAndChangesTheRole) {
  ASSERT_TRUE(start({"-repl-token", kToken, "-repl-heartbeat", "200ms"}));
  for (int64_t deadline = mono_ms() + 10000; !replicator_listens() && mono_ms() < deadline;) sleep_ms(20);
  if (!replicator_listens()) GTEST_SKIP() << "no replicator worker binds " << replicator_sock();
  {
    Conn standby = server.connect();
    rdv::JsonPtr ok = standby.request(subscribe(kToken));
    ASSERT_TRUE(is_ok(ok, "replication_ok"));
    EXPECT_EQ(num(ok.get(), "protocol"), 1);
    EXPECT_EQ(num(status().get(), "connections"), 0) << "the registry kept the handed-over connection";
  }
  Conn d = server.connect();
  Daemon a = register_daemon(d);
  const int64_t epoch = num(status().get(), "epoch");

  Conn fence = server.connect();
  rdv::JsonPtr f = fence.request(R"({"type":"replication_fence","token":")" + std::string(kToken) +
                                 R"(","epoch":)" + std::to_string(epoch + 5) + R"(,"leader":"127.0.0.1:1"})");
  ASSERT_TRUE(is_ok(f, "replication_fence_ok"));
  rdv::JsonPtr s = wait_status([](const json_t* j) { return str(j, "role") == "standby"; }, "role standby");
  EXPECT_EQ(str(s.get(), "leader"), "127.0.0.1:1");
  EXPECT_TRUE(is_error(do_register(d, Key::generate()), kRefused));
  EXPECT_TRUE(is_ok(do_lookup(d, a.id), "lookup_ok"));
  EXPECT_TRUE(is_ok(do_signed(d, a.key, "heartbeat", "heartbeat", a.id), "heartbeat_ok"));

  int e = 0;
  Conn repl = Conn::open_unix(replicator_sock(), &e);
  ASSERT_TRUE(repl.ok()) << std::strerror(e);
  rdv::JsonPtr p = repl.request(R"({"type":"promote","by":"repl_registry_test"})", nullptr, 15000);
  ASSERT_TRUE(is_ok(p, "promote_ok"));
  s = wait_status([](const json_t* j) { return str(j, "role") == "leader"; }, "role leader");
  EXPECT_GT(num(s.get(), "epoch"), epoch + 5) << dump(s.get());
  EXPECT_TRUE(is_ok(do_register(d, Key::generate()), "register_ok"));
  EXPECT_TRUE(is_ok(do_lookup(d, a.id), "lookup_ok"));
  EXPECT_NE(server.log().find("role changed: leader, accepting writes"), std::string::npos);
}

TEST_F(ReplRegistry, ReplicaAppliedOnAStandbyPublishesTheCommit) {
  // A leader address nobody serves: the replicator, when it follows, only retries.
  ASSERT_TRUE(start({"-standby", "127.0.0.1:1"}));
  rdv::JsonPtr s = status();
  ASSERT_TRUE(s);
  EXPECT_EQ(str(s.get(), "role"), "standby");
  EXPECT_EQ(str(s.get(), "leader"), "127.0.0.1:1");
  EXPECT_EQ(sync_state(s.get()), "off");
  const int64_t seq = num(s.get(), "last_seq") + 7;

  Conn bus = local();
  ASSERT_TRUE(is_ok(bus.request(R"({"type":"bus_subscribe"})"), "bus_subscribe_ok"));
  Conn repl = local();
  rdv::JsonPtr r = repl.request(R"({"type":"replica_applied","seq":)" + std::to_string(seq) + "}");
  ASSERT_TRUE(is_ok(r, "replica_applied_ok"));
  bool announced = false;
  for (int frames = 0; frames < 10 && !announced; frames++) {
    std::string body;
    ASSERT_EQ(bus.recv_json(&body, 10000), Io::Ok) << "no commit published";
    rdv::JsonPtr f = parse_json(body);
    if (str(f.get(), "type") == "commit") {
      EXPECT_EQ(num(f.get(), "seq"), seq) << body;
      EXPECT_GE(num(f.get(), "epoch"), 1) << body;
      announced = true;
    }
  }
  EXPECT_TRUE(announced);
  EXPECT_EQ(num(status().get(), "last_seq"), seq);
  // After a full copy the applied sequence may be lower (a diverged store replaced).
  ASSERT_TRUE(is_ok(repl.request(R"({"type":"replica_applied","seq":)" + std::to_string(seq - 3) + "}"),
                    "replica_applied_ok"));
  EXPECT_EQ(num(status().get(), "last_seq"), seq - 3);
  // Bad input: a precise error.
  EXPECT_TRUE(is_error(repl.request(R"({"type":"replica_applied","seq":-1})"), "seq required (a non-negative integer)"));
  EXPECT_TRUE(is_error(repl.request(R"({"type":"repl_acked","seq":3})"), "standbys required (a non-negative integer)"));
  // Daemons cannot send the replicator's reports.
  Conn d = server.connect();
  EXPECT_EQ(str(d.request(R"({"type":"replica_applied","seq":99})").get(), "type"), "error");
}

TEST_F(ReplRegistry, ReplicaAppliedRefusedOnALeader) {
  ASSERT_TRUE(start({}));
  Conn repl = local();
  EXPECT_TRUE(is_error(repl.request(R"({"type":"replica_applied","seq":5})"),
                       "replica_applied: this instance is the leader; only a standby applies records"));
  rdv::JsonPtr s = status();
  EXPECT_EQ(str(s.get(), "role"), "leader");
  EXPECT_EQ(str(s.get(), "leader"), "");
  EXPECT_TRUE(json_is_true(json_object_get(s.get(), "writer_idle"))) << dump(s.get());
  EXPECT_EQ(sync_state(s.get()), "off");
  EXPECT_TRUE(json_is_false(json_object_get(json_object_get(s.get(), "sync"), "enabled"))) << dump(s.get());
}

// -repl-sync with no standby: the first write waits the timeout, then the leader degrades and
// the write still succeeds; later writes do not wait. An ack that reaches the last commit
// brings synchronous mode back.
TEST_F(ReplRegistry, SyncWithoutAStandbyDegradesAndRecovers) {
  ASSERT_TRUE(start({"-repl-token", kToken, "-repl-sync", "-repl-sync-timeout", "200ms"}));
  rdv::JsonPtr s = status();
  ASSERT_TRUE(s);
  EXPECT_EQ(sync_state(s.get()), "sync") << dump(s.get());
  EXPECT_TRUE(json_is_true(json_object_get(json_object_get(s.get(), "sync"), "enabled")));

  Conn d = server.connect();
  EXPECT_TRUE(is_ok(do_register(d, Key::generate()), "register_ok"));
  s = wait_status([](const json_t* j) { return sync_state(j) == "degraded"; }, "sync degraded");
  EXPECT_EQ(sync_num(s.get(), "degraded_total"), 1) << dump(s.get());
  EXPECT_EQ(sync_num(s.get(), "held"), 0) << dump(s.get());
  EXPECT_NE(server.log().find("synchronous replication degraded to asynchronous"), std::string::npos);
  EXPECT_TRUE(is_ok(do_register(d, Key::generate()), "register_ok"));

  HttpResponse m;
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &m));
  EXPECT_NE(m.body.find("pilot_replication_sync_state 2\n"), std::string::npos) << m.body.substr(0, 400);
  EXPECT_NE(m.body.find("pilot_replication_sync_degraded_total 1\n"), std::string::npos);

  // A standby that has everything: back to sync. Timer work (a liveness flush, node events)
  // may commit between reading last_seq and the ack, so the ack is repeated until it covers
  // the last commit.
  Conn repl = local();
  wait_status([&](const json_t*) {
    const int64_t last = num(status().get(), "last_seq");
    EXPECT_TRUE(is_ok(repl.request(R"({"type":"repl_acked","seq":)" + std::to_string(last) + R"(,"standbys":1})"),
                      "repl_acked_ok"));
    return sync_state(status().get()) == "sync";
  }, "sync restored");
  EXPECT_NE(server.log().find("synchronous replication restored"), std::string::npos);
}

// A write's reply is held until an acknowledgement covers its commit (a timeout far away, so
// only the ack can release it).
TEST_F(ReplRegistry, SyncHoldsTheReplyUntilAnAck) {
  ASSERT_TRUE(start({"-repl-token", kToken, "-repl-sync", "-repl-sync-timeout", "120s"}));
  const int64_t before = num(status().get(), "last_seq");  // the write commits above this
  Conn d = server.connect();
  Key k = Key::generate();
  ASSERT_TRUE(d.send_json(dump(register_request(k).get())));
  rdv::JsonPtr s = wait_status([](const json_t* j) { return sync_num(j, "held") == 1; }, "one held reply");
  std::string early;
  EXPECT_EQ(d.recv_json(&early, 200), Io::Timeout) << "answered before any ack: " << early;
  // A connection that goes away while its reply is held: released later into nothing.
  {
    Conn gone = server.connect();
    ASSERT_TRUE(gone.send_json(dump(register_request(Key::generate()).get())));
    wait_status([](const json_t* j) { return sync_num(j, "held") == 2; }, "two held replies");
    linger reset{1, 0};  // close with a reset: the registry's read fails and it closes at once
    ASSERT_EQ(::setsockopt(gone.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  }
  wait_status([](const json_t* j) { return num(j, "connections") == 1; }, "the reset connection closed");
  // An ack below the commit releases nothing; one at it does (the node.online audit entry may
  // have committed after it: the newest sequence covers both).
  Conn repl = local();
  ASSERT_TRUE(is_ok(repl.request(R"({"type":"repl_acked","seq":)" + std::to_string(before) + R"(,"standbys":1})"),
                    "repl_acked_ok"));
  EXPECT_EQ(sync_num(status().get(), "held"), 2);
  const int64_t last = num(status().get(), "last_seq");
  ASSERT_GT(last, before);
  ASSERT_TRUE(is_ok(repl.request(R"({"type":"repl_acked","seq":)" + std::to_string(last) + R"(,"standbys":1})"),
                    "repl_acked_ok"));
  std::string body;
  ASSERT_EQ(d.recv_json(&body, 10000), Io::Ok);
  EXPECT_EQ(str(parse_json(body).get(), "type"), "register_ok") << body;
  s = status();
  ASSERT_TRUE(s) << "the registry did not survive releasing a closed connection's reply";
  EXPECT_EQ(sync_num(s.get(), "held"), 0);
  EXPECT_EQ(num(s.get(), "connections"), 1) << dump(s.get());  // d only
  EXPECT_EQ(sync_state(s.get()), "sync");
  EXPECT_EQ(sync_num(s.get(), "degraded_total"), 0);
}

// A bus subscriber's writes are never held: the replicator's bus_ack shares its connection
// with the repl_acked that releases daemons' writes, and would otherwise wait for itself. The
// disk is held (slow-fsync shim) so the bus_ack joins a batch with a daemon's register.
TEST_F(ReplRegistry, SyncNeverHoldsABusSubscribersWrites) {
  const std::string hold_path = server.dir + "/fsync-hold";
  std::string err;
  ASSERT_TRUE(server.use_slow_fsync(hold_path, 0, &err)) << err;
  ASSERT_TRUE(start({"-repl-token", kToken, "-repl-sync", "-repl-sync-timeout", "120s"}));
  Conn d1 = server.connect(), d2 = server.connect();
  // Both in JSON mode before the disk is held.
  ASSERT_TRUE(d1.request(R"({"type":"lookup","node_id":1})"));
  ASSERT_TRUE(d2.request(R"({"type":"lookup","node_id":1})"));
  Conn ctl = local();  // as the replicator's: subscribed to the bus
  ASSERT_TRUE(is_ok(ctl.request(R"({"type":"bus_subscribe"})"), "bus_subscribe_ok"));
  // The next reply on ctl, past the bus's commit and liveness frames.
  auto reply = [&](std::string* body) {
    for (int frames = 0; frames < 50; frames++) {
      if (ctl.recv_json(body, 10000) != Io::Ok) return false;
      std::string type = str(parse_json(*body).get(), "type");
      if (type != "commit" && type != "liveness") return true;
    }
    return false;
  };

  HoldFile hold(hold_path);
  ASSERT_TRUE(hold.hold()) << std::strerror(errno);
  ASSERT_TRUE(d1.send_json(dump(register_request(Key::generate()).get())));
  // The writer has d1's batch and waits on the disk; what comes now forms the next batch.
  wait_status([](const json_t* j) { return json_is_false(json_object_get(j, "writer_idle")); }, "writer busy");
  ASSERT_TRUE(d2.send_json(dump(register_request(Key::generate()).get())));
  ASSERT_TRUE(ctl.send_json(R"({"type":"bus_ack","consumer":"standby:test","seq":1})"));
  // A new connection's round trip takes an accept and a read, later passes than the ones that
  // read d2's and ctl's requests: both are in the next batch by now.
  ASSERT_TRUE(status());
  hold.release();

  std::string body;
  ASSERT_TRUE(reply(&body)) << "the bus subscriber's write was held";
  EXPECT_EQ(str(parse_json(body).get(), "type"), "bus_ack_ok") << body;
  rdv::JsonPtr s = wait_status([](const json_t* j) { return sync_num(j, "held") == 2; }, "both registers held");
  std::string early;
  EXPECT_EQ(d1.recv_json(&early, 100), Io::Timeout) << early;
  EXPECT_EQ(d2.recv_json(&early, 100), Io::Timeout) << early;
  ASSERT_TRUE(ctl.send_json(R"({"type":"repl_acked","seq":)" + std::to_string(num(s.get(), "last_seq")) +
                            R"(,"standbys":1})"));
  ASSERT_TRUE(reply(&body));
  EXPECT_EQ(str(parse_json(body).get(), "type"), "repl_acked_ok") << body;
  for (Conn* d : {&d1, &d2}) {
    ASSERT_EQ(d->recv_json(&body, 10000), Io::Ok);
    EXPECT_EQ(str(parse_json(body).get(), "type"), "register_ok") << body;
  }
}

// A fenced instance (the role file, as a fence leaves it, applied at start): writes are
// refused verbatim, reads and heartbeats are served, and the status names the role. The
// change at run time comes from the replicator (docs/replication.md, "Promotion, demotion,
// fencing") and is tested with it.
TEST_F(ReplRegistry, FencedRefusesWritesAndServesReads) {
  ASSERT_TRUE(start({}));
  Daemon a;
  {
    Conn d = server.connect();
    a = register_daemon(d);
  }
  ASSERT_NE(server.stop(), -1);
  std::ofstream(server.data_dir + "/role") << "rendezvous role fenced\n";
  server.new_ports();
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  rdv::JsonPtr s = status();
  ASSERT_TRUE(s);
  EXPECT_EQ(str(s.get(), "role"), "fenced") << dump(s.get());
  EXPECT_EQ(str(s.get(), "leader"), "");
  Conn d = server.connect();
  EXPECT_TRUE(is_error(do_register(d, Key::generate()), kRefused));
  EXPECT_TRUE(is_error(do_signed(d, a.key, "deregister", "deregister", a.id), kRefused));
  EXPECT_TRUE(is_ok(do_lookup(d, a.id), "lookup_ok"));
  EXPECT_TRUE(is_ok(do_signed(d, a.key, "heartbeat", "heartbeat", a.id), "heartbeat_ok"));
}

}  // namespace
}  // namespace rt
