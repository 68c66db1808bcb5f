// The registry's pipeline under a slow disk and under a crowd (ARCHITECTURE.md, registry worker):
// a writer thread owns the LMDB write transaction, so the event loop never waits for fsync;
// reads are answered from the last committed snapshot while a commit is in flight; replies to
// writes leave only after their commit; per connection, replies keep request order and a
// connection reads its own writes; loop passes have budgets and connections a cap on staged
// output, so no crowd of clients delays another connection or the supervisor's ping.
//
// The disk is made slow deterministically: the server runs under tests/shim/slow_fsync.c with
// RENDEZVOUS_FSYNC_HOLD_FILE, so every fsync/fdatasync/msync waits while the hold file exists.
// Nothing here measures speed: answers must come before a failure deadline (kDeadlineMs), far
// above what a working server needs and far below what a blocked loop would take.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "harness.h"

namespace rt {
namespace {

constexpr int kDeadlineMs = 5000;  // an answer later than this fails the test


std::string register_json(const Key& k, const std::string& listen = kPublicAddr) {
  return std::string(R"({"type":"register","public_key":")") + k.pub_b64() + R"(","listen_addr":")" + listen +
         R"(","signature":")" + k.sign_b64("register:" + listen + ":" + k.pub_b64()) + "\"}";
}

std::string lookup_json(uint32_t id) { return R"({"type":"lookup","node_id":)" + std::to_string(id) + "}"; }

std::string heartbeat_json(const Key& k, uint32_t id) {
  return R"({"type":"heartbeat","node_id":)" + std::to_string(id) + R"(,"signature":")" +
         k.sign_b64("heartbeat:" + std::to_string(id)) + "\"}";
}

std::string resolve_json(const Key& requester_key, uint32_t requester, uint32_t target) {
  return R"({"type":"resolve","node_id":)" + std::to_string(target) + R"(,"requester_id":)" +
         std::to_string(requester) + R"(,"signature":")" +
         requester_key.sign_b64("resolve:" + std::to_string(requester) + ":" + std::to_string(target)) + "\"}";
}

// True if bytes (or EOF) are waiting on the connection within `wait_ms`.
bool readable(const Conn& c, int wait_ms) {
  pollfd p{c.fd(), POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, wait_ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

// One reply frame parsed as a JSON object; null (with the I/O outcome in *why) otherwise.
rdv::JsonPtr next_reply(Conn& c, int timeout_ms, std::string* why) {
  std::string body;
  Io io = c.recv_json(&body, timeout_ms);
  if (io != Io::Ok) {
    *why = io_name(io);
    return nullptr;
  }
  rdv::JsonPtr j = parse_json(body);
  if (!json_is_object(j.get())) {
    *why = "not a JSON object: " + body;
    return nullptr;
  }
  return j;
}

uint32_t must_register(Conn& c, const Key& k) {
  rdv::JsonPtr r = do_register(c, k);
  EXPECT_NE(r, nullptr) << "no reply to register";
  if (!r) return 0;
  EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
  return uint32_t(num(r.get(), "node_id", 0));
}

// Every test runs the server under the shim with a hold file that does not exist yet (so the
// disk is normal until a test holds it), with enough descriptors for the crowd test.
class Pipeline : public ServerTest {
 protected:
  void SetUp() override {
    // The crowd test needs 300+ sockets here and as many in the registry worker, which
    // inherits this limit through the supervisor.
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0) << std::strerror(errno);
    if (rl.rlim_cur < kWantFds) {
      rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? kWantFds : std::min<rlim_t>(rl.rlim_max, kWantFds);
      ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0) << std::strerror(errno);
    }
    hold_path = server.dir + "/fsync-hold";
    std::string err;
    ASSERT_TRUE(server.use_slow_fsync(hold_path, 0, &err)) << err;
    // The crowd pipelines from one IP for longer than a connection's rate-limit grace: these
    // tests are about the pipeline's fairness, not the limiter (ratelimit_test.cc).
    server.extra_args = {"-rate-limit-global", "0", "-rate-limit-per-ip", "0", "-rate-limit-per-conn", "0"};
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    registry_pid = server.worker("rendezvous-registry");
    ASSERT_GT(registry_pid, 0) << "no registry worker";
    // Without this the hold would hold nothing and the tests below would prove nothing.
    ASSERT_TRUE(process_maps_file(registry_pid, "libslowfsync.so"))
        << "the registry worker does not run under the slow-fsync shim (LD_PRELOAD not passed on?)";
  }

  static constexpr rlim_t kWantFds = 1024;
  std::string hold_path;
  pid_t registry_pid = -1;
};

// Slow disk: while connection A's register waits for fsync, other connections' reads (lookups,
// a first signature-verified heartbeat, a resolve) are answered; A's reply waits for its
// commit; then A reads its own write. A pipelined [register, lookup] on D during the same
// hold comes back in order and the lookup sees the register.
TEST_F(Pipeline, ReadsAnsweredWhileACommitWaitsForTheDisk) {
  Conn setup = server.connect();
  ASSERT_TRUE(setup.ok());
  Key k1 = Key::generate(), k2 = Key::generate(), k3 = Key::generate();
  ASSERT_EQ(must_register(setup, k1), 1u);
  ASSERT_EQ(must_register(setup, k2), 2u);
  ASSERT_EQ(must_register(setup, k3), 3u);
  rdv::JsonPtr extra(json_pack("{s:b}", "public", 1));
  ASSERT_EQ(str(do_signed(setup, k1, "set_visibility", "set_visibility", 1, extra.get()).get(), "type"),
            "set_visibility_ok");

  // Connections opened and in JSON mode before the disk is held.
  Conn a = server.connect(), b = server.connect(), c = server.connect(), d = server.connect();
  for (Conn* conn : {&a, &b, &c, &d}) {
    ASSERT_TRUE(conn->ok());
    rdv::JsonPtr r = do_lookup(*conn, 1);
    ASSERT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
  }

  HoldFile hold(hold_path);
  ASSERT_TRUE(hold.hold()) << hold_path << ": " << std::strerror(errno);
  Key ka = Key::generate();
  ASSERT_TRUE(a.send_json(register_json(ka)));

  // B: lookups one by one, then three pipelined in one write.
  for (uint32_t id = 1; id <= 3; id++) {
    rdv::JsonPtr r = b.request(lookup_json(id), nullptr, kDeadlineMs);
    ASSERT_NE(r, nullptr) << "lookup of node " << id << " on connection B not answered within " << kDeadlineMs
                          << " ms while connection A's register waited for fsync: reads wait behind the commit";
    EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
    EXPECT_EQ(num(r.get(), "node_id"), id) << dump(r.get());
  }
  ASSERT_TRUE(b.send_all(json_frame(lookup_json(3)) + json_frame(lookup_json(2)) + json_frame(lookup_json(1))));
  for (uint32_t id : {3u, 2u, 1u}) {
    std::string why;
    rdv::JsonPtr r = next_reply(b, kDeadlineMs, &why);
    ASSERT_NE(r, nullptr) << "pipelined lookup of node " << id << " on B while the commit was held: " << why;
    EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
    EXPECT_EQ(num(r.get(), "node_id"), id) << "pipelined replies out of order: " << dump(r.get());
  }

  // C: the first heartbeat of node 3 (its signature is checked; liveness is not an LMDB write).
  rdv::JsonPtr r = c.request(heartbeat_json(k3, 3), nullptr, kDeadlineMs);
  ASSERT_NE(r, nullptr) << "first heartbeat on connection C not answered within " << kDeadlineMs
                        << " ms while A's commit was held";
  EXPECT_EQ(str(r.get(), "type"), "heartbeat_ok") << dump(r.get());

  // A resolve (signature checked, nothing written).
  r = b.request(resolve_json(k2, 2, 1), nullptr, kDeadlineMs);
  ASSERT_NE(r, nullptr) << "resolve on connection B not answered within " << kDeadlineMs
                        << " ms while A's commit was held";
  EXPECT_EQ(str(r.get(), "type"), "resolve_ok") << dump(r.get());
  EXPECT_EQ(str(r.get(), "real_addr"), kPublicAddr) << dump(r.get());

  // D: a register and a lookup of the node it creates, in one write, while A's commit is held.
  // A's register went in first, so A's node is 4 and D's is 5 (ids are dense, in order).
  Key kd = Key::generate();
  ASSERT_TRUE(d.send_all(json_frame(register_json(kd)) + json_frame(lookup_json(5))));
  // B's reply proves the loop ran after D's bytes were sent; still nothing for A or D.
  r = b.request(lookup_json(2), nullptr, kDeadlineMs);
  ASSERT_NE(r, nullptr) << "lookup on B not answered while the commits of A and D were held";

  EXPECT_FALSE(readable(a, 0)) << "A's register was answered while its commit waited for fsync (not durable yet)";
  EXPECT_FALSE(readable(d, 0)) << "D got a reply while its register's commit waited for fsync";

  hold.release();
  std::string why;
  rdv::JsonPtr ra = next_reply(a, kDeadlineMs, &why);
  ASSERT_NE(ra, nullptr) << "register on A not answered after the disk was released: " << why;
  ASSERT_EQ(str(ra.get(), "type"), "register_ok") << dump(ra.get());
  EXPECT_EQ(num(ra.get(), "node_id"), 4) << dump(ra.get());
  // Read-your-writes on A.
  r = a.request(lookup_json(4), nullptr, kDeadlineMs);
  ASSERT_NE(r, nullptr) << "lookup on A after its register_ok";
  EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
  EXPECT_EQ(str(r.get(), "public_key"), ka.pub_b64()) << dump(r.get());

  rdv::JsonPtr rd = next_reply(d, kDeadlineMs, &why);
  ASSERT_NE(rd, nullptr) << "D's register not answered after the disk was released: " << why;
  EXPECT_EQ(str(rd.get(), "type"), "register_ok") << "D's first reply must be its register's: " << dump(rd.get());
  EXPECT_EQ(num(rd.get(), "node_id"), 5) << dump(rd.get());
  rdv::JsonPtr rl = next_reply(d, kDeadlineMs, &why);
  ASSERT_NE(rl, nullptr) << "D's pipelined lookup not answered: " << why;
  EXPECT_EQ(str(rl.get(), "type"), "lookup_ok") << "D's lookup must see D's own register: " << dump(rl.get());
  EXPECT_EQ(num(rl.get(), "node_id"), 5) << dump(rl.get());
  EXPECT_EQ(str(rl.get(), "public_key"), kd.pub_b64()) << dump(rl.get());

  EXPECT_EQ(server.worker("rendezvous-registry"), registry_pid) << "the registry worker was restarted";
}

// Per connection, replies keep request order and a connection reads its own writes, also when
// the write's commit is slow: a lookup pipelined behind a register must not be answered from
// the snapshot before the register commits.
TEST_F(Pipeline, PipelinedRegisterThenLookupKeepOrderAcrossAHeldCommit) {
  Conn setup = server.connect();
  for (int i = 1; i <= 3; i++) ASSERT_EQ(must_register(setup, Key::generate()), uint32_t(i));
  Conn d = server.connect();
  ASSERT_EQ(str(do_lookup(d, 1).get(), "type"), "lookup_ok");

  HoldFile hold(hold_path);
  ASSERT_TRUE(hold.hold()) << hold_path << ": " << std::strerror(errno);
  Key kd = Key::generate();
  ASSERT_TRUE(d.send_all(json_frame(register_json(kd)) + json_frame(lookup_json(4)) + json_frame(lookup_json(1))));
  // Neither reply may leave before the register is durable (a short look, not a timing claim).
  EXPECT_FALSE(readable(d, 200)) << "a reply left while the register's commit waited for fsync";
  hold.release();

  std::string why;
  rdv::JsonPtr r1 = next_reply(d, kDeadlineMs, &why);
  ASSERT_NE(r1, nullptr) << "register not answered after the disk was released: " << why;
  EXPECT_EQ(str(r1.get(), "type"), "register_ok") << dump(r1.get());
  EXPECT_EQ(num(r1.get(), "node_id"), 4) << dump(r1.get());
  rdv::JsonPtr r2 = next_reply(d, kDeadlineMs, &why);
  ASSERT_NE(r2, nullptr) << "pipelined lookup not answered: " << why;
  EXPECT_EQ(str(r2.get(), "type"), "lookup_ok") << dump(r2.get());
  EXPECT_EQ(str(r2.get(), "public_key"), kd.pub_b64()) << dump(r2.get());
  rdv::JsonPtr r3 = next_reply(d, kDeadlineMs, &why);
  ASSERT_NE(r3, nullptr) << "second pipelined lookup not answered: " << why;
  EXPECT_EQ(str(r3.get(), "type"), "lookup_ok") << dump(r3.get());
  EXPECT_EQ(num(r3.get(), "node_id"), 1) << "replies out of order: " << dump(r3.get());
}

// ---- a crowd of never-reading pipeliners ----

constexpr int kFloodConns = 300;
constexpr size_t kFloodBytes = 512 * 1024;  // per connection, pipelined lookups
constexpr int kFloodMs = 11000;             // longer than the supervisor's 10 s ping deadline

// A non-blocking loopback socket with a small receive buffer (set before connect, so the
// kernel does not grow it): replies pile up in the server, not in this process's kernel
// buffers. -1 on failure.
int open_flood_socket(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rcvbuf = 64 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (poll(&p, 1, 3000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The flood connections and the thread that keeps feeding them; the destructor stops the
// thread and closes every socket, whatever the test did.
struct Flood {
  std::string data;  // one buffer of whole lookup frames, shared by every connection
  std::vector<int> fds;
  std::vector<size_t> sent;
  std::vector<bool> dead;  // the server closed it (or sending failed)
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<int> closed_by_server{0};
  std::thread pumper;

  ~Flood() {
    stop = true;
    if (pumper.joinable()) pumper.join();
    for (int fd : fds) ::close(fd);
  }

  // Writes to connection i as much as the kernel takes right now.
  void feed(size_t i) {
    while (!dead[i] && sent[i] < data.size()) {
      ssize_t n = ::send(fds[i], data.data() + sent[i], data.size() - sent[i], MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent[i] += size_t(n);
        bytes_sent += uint64_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      dead[i] = true;  // EPIPE / ECONNRESET: the server gave up on this client
      closed_by_server++;
    }
  }

  // Feeds every connection whenever the kernel has room, until all is sent or stop is set.
  void pump() {
    std::vector<pollfd> pfds;
    std::vector<size_t> which;
    while (!stop) {
      pfds.clear();
      which.clear();
      for (size_t i = 0; i < fds.size(); i++) {
        if (dead[i] || sent[i] >= data.size()) continue;
        pfds.push_back({fds[i], POLLOUT, 0});
        which.push_back(i);
      }
      if (pfds.empty()) return;
      int rc = poll(pfds.data(), pfds.size(), 20);
      if (rc <= 0) continue;
      for (size_t j = 0; j < pfds.size(); j++)
        if (pfds[j].revents) feed(which[j]);
    }
  }
};

// 300 connections each pipeline 512 KiB of lookups and never read their replies. Meanwhile
// another connection's lookups and fresh connections' registers are answered, throughout a
// span longer than the supervisor's ping deadline, and the registry worker is never restarted.
TEST_F(Pipeline, NeverReadingPipelinersDoNotStarveOthers) {
  Conn setup = server.connect();
  ASSERT_EQ(must_register(setup, Key::generate()), 1u);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  ASSERT_GE(rl.rlim_cur, rlim_t(kFloodConns + 64)) << "RLIMIT_NOFILE too low for the crowd";

  Flood flood;
  const std::string one = json_frame(lookup_json(1));
  while (flood.data.size() + one.size() <= kFloodBytes) flood.data += one;

  Conn probe = server.connect();  // established before the crowd arrives
  ASSERT_EQ(str(do_lookup(probe, 1).get(), "type"), "lookup_ok");

  for (int i = 0; i < kFloodConns; i++) {
    int fd = open_flood_socket(server.registry_port);
    ASSERT_GE(fd, 0) << "flood connection " << i << ": " << std::strerror(errno);
    flood.fds.push_back(fd);
  }
  flood.sent.assign(flood.fds.size(), 0);
  flood.dead.assign(flood.fds.size(), false);
  for (size_t i = 0; i < flood.fds.size(); i++) flood.feed(i);
  flood.pumper = std::thread([&flood] { flood.pump(); });

  int64_t start = mono_ms();
  int rounds = 0;
  while (mono_ms() - start < kFloodMs) {
    rdv::JsonPtr r = probe.request(lookup_json(1), nullptr, kDeadlineMs);
    ASSERT_NE(r, nullptr) << "round " << rounds << " (" << mono_ms() - start << " ms into the flood): a lookup on "
                          << "an established connection was not answered within " << kDeadlineMs
                          << " ms while " << kFloodConns << " connections pipelined without reading ("
                          << flood.bytes_sent.load() << " bytes sent so far)";
    EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());

    Conn fresh = Conn::open(server.registry_port, kDeadlineMs);
    ASSERT_TRUE(fresh.ok()) << "round " << rounds << ": could not connect during the flood";
    Key k = Key::generate();
    r = fresh.request(register_json(k), nullptr, kDeadlineMs);
    ASSERT_NE(r, nullptr) << "round " << rounds << " (" << mono_ms() - start << " ms into the flood): a register on "
                          << "a new connection was not answered within " << kDeadlineMs << " ms";
    EXPECT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
    rounds++;
    sleep_ms(100);  // pacing between rounds, not a wait for anything
  }
  RecordProperty("flood_bytes_sent", std::to_string(flood.bytes_sent.load()));
  RecordProperty("flood_connections_closed_by_server", std::to_string(flood.closed_by_server.load()));
  RecordProperty("probe_rounds", std::to_string(rounds));

  EXPECT_EQ(server.worker("rendezvous-registry"), registry_pid)
      << "the registry worker was restarted during the flood (missed the supervisor's pings?)";

  // Hang up the crowd; the server carries on.
  flood.stop = true;
  flood.pumper.join();
  for (int fd : flood.fds) ::close(fd);
  flood.fds.clear();
  rdv::JsonPtr r = probe.request(lookup_json(1), nullptr, kDeadlineMs);
  ASSERT_NE(r, nullptr) << "lookup after the crowd hung up";
  EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
  EXPECT_EQ(server.worker("rendezvous-registry"), registry_pid) << "the registry worker was restarted";
}

}  // namespace
}  // namespace rt
