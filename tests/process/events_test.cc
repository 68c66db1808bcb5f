// The live event stream (subscribe_events; docs/protocol-notes.md, "Live events") over the
// real protocol: the signed subscription and its refusals, the events a subscriber may see
// (membership and roles, trust, invites, handshake requests, nodes going offline at a reap and
// online again), what it may not see, the cut-off of a subscriber that never reads, resuming
// from a last id (and being told when that is impossible), a SIGKILL of the registry worker,
// and a leader losing its role.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <string>
#include <vector>

#include "network_helpers.h"
#include "protocol.h"
#include "wire.h"

namespace rt {
namespace {

using Events = ServerTest;

json_t* subscribe_req(const Daemon& d, int64_t since = -1, const Daemon* signer = nullptr) {
  const Daemon& s = signer ? *signer : d;
  json_t* req = json_pack("{s:s,s:I,s:s}", "type", "subscribe_events", "node_id", json_int_t(d.id), "signature",
                          s.sign("subscribe_events:" + std::to_string(d.id)).c_str());
  if (since >= 0) json_object_set_new(req, "since", json_integer(json_int_t(since)));
  return req;
}

// A connection of `d` that subscribed (the test fails unless answered subscribe_events_ok).
Conn subscribe(Server& s, const Daemon& d, int64_t since = -1, rdv::JsonPtr* ok = nullptr) {
  Conn c = s.connect();
  rdv::JsonPtr r = call(c, subscribe_req(d, since));
  EXPECT_TRUE(is_ok(r, "subscribe_events_ok"));
  if (ok) *ok = std::move(r);
  return c;
}

// The next event frame (null, with a test failure, when none comes within `ms`).
rdv::JsonPtr next_event(Conn& c, int ms = 5000) {
  std::string body;
  Io io = c.recv_json(&body, ms);
  EXPECT_EQ(io, Io::Ok) << "no event: " << io_name(io);
  if (io != Io::Ok) return nullptr;
  rdv::JsonPtr e = parse_json(body);
  EXPECT_EQ(str(e.get(), "type"), "event") << body;
  return e;
}

// Reads events until one named `name` comes (others are skipped); null on timeout.
rdv::JsonPtr wait_event(Conn& c, const std::string& name, int ms = 10000) {
  int64_t deadline = rdv::mono_now_ns() + int64_t(ms) * 1000000;
  while (rdv::mono_now_ns() < deadline) {
    std::string body;
    int left = int((deadline - rdv::mono_now_ns()) / 1000000);
    if (c.recv_json(&body, std::max(1, left)) != Io::Ok) break;
    rdv::JsonPtr e = parse_json(body);
    if (str(e.get(), "event") == name) return e;
  }
  ADD_FAILURE() << "no " << name << " event within " << ms << " ms";
  return nullptr;
}

rdv::JsonPtr pair_op(Conn& c, const Daemon& a, uint32_t b, const char* type) {
  std::string challenge = std::string(type) + ":" + std::to_string(a.id) + ":" + std::to_string(b);
  return call(c, json_pack("{s:s,s:I,s:I,s:s}", "type", type, "node_id", json_int_t(a.id), "peer_id", json_int_t(b),
                           "signature", a.sign(challenge).c_str()));
}

std::string handshake_body(const Daemon& from, uint32_t to, const std::string& justification) {
  std::string challenge = "handshake:" + std::to_string(from.id) + ":" + std::to_string(to);
  rdv::JsonPtr req(json_pack("{s:s,s:I,s:I,s:s%,s:s}", "type", "request_handshake", "from_node_id",
                             json_int_t(from.id), "to_node_id", json_int_t(to), "justification", justification.data(),
                             justification.size(), "signature", from.sign(challenge).c_str()));
  return dump(req.get());
}

rdv::JsonPtr rbac(Conn& c, const char* type, uint16_t net, uint32_t caller, uint32_t target) {
  return call(c, json_pack("{s:s,s:i,s:I,s:I}", "type", type, "network_id", int(net), "node_id", json_int_t(caller),
                           "target_node_id", json_int_t(target)));
}

TEST_F(Events, SubscriptionIsSignedByTheNode) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  // Signed by another node's key: refused, and the connection stays an ordinary one.
  EXPECT_TRUE(is_error_containing(call(c, subscribe_req(a, -1, &b)), "signature"));
  EXPECT_TRUE(is_error_containing(call(c, json_pack("{s:s,s:I}", "type", "subscribe_events", "node_id",
                                                    json_int_t(a.id))),
                                  "signature"));
  EXPECT_TRUE(is_error(call(c, subscribe_req(Daemon{Key::generate(), 999})), "node 999: node not found"));
  rdv::JsonPtr bad(subscribe_req(a));
  json_object_set_new(bad.get(), "since", json_string("yesterday"));
  EXPECT_TRUE(is_error_containing(c.request(bad.get()), "invalid since"));
  EXPECT_TRUE(is_ok(do_lookup(c, a.id), "lookup_ok"));
  // Accepted: the ok names the node and where the stream stands.
  rdv::JsonPtr ok = call(c, subscribe_req(a));
  ASSERT_TRUE(is_ok(ok, "subscribe_events_ok"));
  EXPECT_EQ(num(ok.get(), "node_id"), a.id);
  EXPECT_GE(num(ok.get(), "last_event_id"), 0);
}

TEST_F(Events, RequestsOnAnEventStreamEndItAndPassthroughIsRefused) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  Conn s = subscribe(server, a);
  ASSERT_TRUE(s.send_json(R"({"type":"lookup","node_id":1})"));
  rdv::JsonPtr e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "error");
  EXPECT_NE(str(e.get(), "error").find("no requests are served on an event stream"), std::string::npos);
  EXPECT_TRUE(s.expect_closed(7000));

  // Pipelined behind the subscription, before its answer: the answer is the end of the stream,
  // after the replies to what came before it.
  Conn q = server.connect();
  rdv::JsonPtr sub(subscribe_req(a));
  std::string three;
  rdv::wire::append_json_frame(three, R"({"type":"lookup","node_id":)" + std::to_string(a.id) + "}");
  rdv::wire::append_json_frame(three, dump(sub.get()));
  rdv::wire::append_json_frame(three, R"({"type":"lookup","node_id":1})");
  ASSERT_TRUE(q.send_all(three));  // one write, so the server usually decodes all three at once
  std::string body;
  ASSERT_EQ(q.recv_json(&body), Io::Ok);
  EXPECT_TRUE(is_ok(parse_json(body), "lookup_ok"));
  ASSERT_EQ(q.recv_json(&body), Io::Ok);
  e = parse_json(body);
  // Had the third frame come in a later read, after the subscription was answered, the stream
  // would have begun and then ended: the ok, then the error.
  if (str(e.get(), "type") == "subscribe_events_ok") {
    ASSERT_EQ(q.recv_json(&body), Io::Ok);
    e = parse_json(body);
  }
  EXPECT_EQ(str(e.get(), "event"), "error") << body;
  EXPECT_TRUE(q.expect_closed(7000));

  // Inside PILT: a precise refusal, and the binary connection stays open.
  Conn p = server.connect();
  ASSERT_TRUE(p.send_preamble());
  rdv::JsonPtr req(subscribe_req(a));
  ASSERT_TRUE(p.send_frame(0x00, dump(req.get())));  // the passthrough frame type
  uint8_t type = 0;
  std::string payload;
  ASSERT_EQ(p.recv_frame(&type, &payload), Io::Ok);
  EXPECT_EQ(type, 0x00);
  rdv::JsonPtr r = parse_json(payload);
  EXPECT_TRUE(is_error(r, "subscribe_events requires JSON mode (not a PILT passthrough frame)"));
  EXPECT_TRUE(p.still_open());
}

TEST_F(Events, MembershipRolesTrustInvitesAndHandshakes) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), x = register_daemon(c), d = register_daemon(c);
  uint16_t net = create_enterprise(c, server, a, "team");
  uint16_t other = create_enterprise(c, server, d, "club", "invite");
  Conn s = subscribe(server, a);

  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  rdv::JsonPtr e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "member_joined") << dump(e.get());
  EXPECT_EQ(num(e.get(), "network_id"), net);
  EXPECT_EQ(num(e.get(), "node_id"), b.id);
  EXPECT_EQ(str(e.get(), "role"), "member");
  int64_t last = num(e.get(), "id");
  EXPECT_GT(last, 0);

  ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, a.id, b.id), "promote_member_ok"));
  e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "member_updated") << dump(e.get());
  EXPECT_EQ(str(e.get(), "role"), "admin");
  EXPECT_GT(num(e.get(), "id"), last);
  last = num(e.get(), "id");

  ASSERT_TRUE(is_ok(leave(c, b, net), "leave_network_ok"));
  e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "member_left") << dump(e.get());
  EXPECT_EQ(num(e.get(), "node_id"), b.id);

  ASSERT_TRUE(is_ok(pair_op(c, x, a.id, "report_trust"), "report_trust_ok"));
  e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "trust_established") << dump(e.get());
  EXPECT_EQ(num(e.get(), "node_id"), x.id);
  ASSERT_TRUE(is_ok(pair_op(c, a, x.id, "revoke_trust"), "revoke_trust_ok"));
  e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "trust_revoked") << dump(e.get());
  EXPECT_EQ(num(e.get(), "node_id"), x.id);

  ASSERT_TRUE(is_ok(invite(c, d, other, a.id), "invite_to_network_ok"));
  e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "invite_received") << dump(e.get());
  EXPECT_EQ(num(e.get(), "network_id"), other);
  EXPECT_EQ(num(e.get(), "inviter"), d.id);

  ASSERT_TRUE(c.send_json(handshake_body(x, a.id, "backup sync")));
  std::string body;
  ASSERT_EQ(c.recv_json(&body), Io::Ok);
  ASSERT_TRUE(is_ok(parse_json(body), "request_handshake_ok"));
  e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "handshake_request") << dump(e.get());
  EXPECT_EQ(num(e.get(), "node_id"), x.id);
  EXPECT_EQ(str(e.get(), "justification"), "backup sync");

  // Accepting the invite: the subscriber's own join, and from then on that network's events.
  ASSERT_TRUE(is_ok(respond_invite(c, a, other, true), "respond_invite_ok"));
  e = wait_event(s, "member_joined");
  EXPECT_EQ(num(e.get(), "network_id"), other);
  EXPECT_EQ(num(e.get(), "node_id"), a.id);
  ASSERT_TRUE(is_ok(invite(c, d, other, b.id), "invite_to_network_ok"));
  ASSERT_TRUE(is_ok(respond_invite(c, b, other, true), "respond_invite_ok"));
  e = wait_event(s, "member_joined");
  EXPECT_EQ(num(e.get(), "network_id"), other);
  EXPECT_EQ(num(e.get(), "node_id"), b.id);
}

TEST_F(Events, ASubscriberOutsideTheNetworkSeesNothingOfIt) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c), outsider = register_daemon(c), m = register_daemon(c);
  uint16_t net = create_enterprise(c, server, a, "private");
  Conn s = subscribe(server, outsider);
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  ASSERT_TRUE(is_ok(rbac(c, "promote_member", net, a.id, b.id), "promote_member_ok"));
  ASSERT_TRUE(is_ok(pair_op(c, a, b.id, "report_trust"), "report_trust_ok"));
  ASSERT_TRUE(is_ok(leave(c, b, net), "leave_network_ok"));
  // A marker addressed to the outsider: the first thing it receives.
  ASSERT_TRUE(is_ok(pair_op(c, m, outsider.id, "report_trust"), "report_trust_ok"));
  rdv::JsonPtr e = next_event(s);
  EXPECT_EQ(str(e.get(), "event"), "trust_established") << dump(e.get());
  EXPECT_EQ(num(e.get(), "node_id"), m.id);
}

class EventsReap : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-stale-threshold", "2s"};
    ServerTest::SetUp();
  }
};

TEST_F(EventsReap, NodesGoOfflineAtTheReapAndOnlineWhenTheyReturn) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), b = register_daemon(c);
  uint16_t net = create_enterprise(c, server, a, "team");
  ASSERT_TRUE(is_ok(join(c, b, net), "join_network_ok"));
  Conn s = subscribe(server, a);
  // a keeps heartbeating; b falls silent and is reaped.
  int64_t deadline = rdv::mono_now_ns() + 20LL * 1000000000;
  rdv::JsonPtr offline;
  while (!offline && rdv::mono_now_ns() < deadline) {
    EXPECT_TRUE(is_ok(do_signed(c, a.key, "heartbeat", "heartbeat", a.id), "heartbeat_ok"));
    std::string body;
    if (s.recv_json(&body, 500) != Io::Ok) continue;
    rdv::JsonPtr e = parse_json(body);
    if (str(e.get(), "event") == "node_offline") offline = std::move(e);
  }
  ASSERT_TRUE(offline) << "no node_offline within 20 s with a 2 s stale threshold";
  EXPECT_EQ(num(offline.get(), "node_id"), b.id);
  EXPECT_EQ(num(offline.get(), "network_id"), net);
  // b comes back with the same key: its networks are restored, and it is online again.
  ASSERT_TRUE(is_ok(do_register(c, b.key), "register_ok"));
  rdv::JsonPtr e = wait_event(s, "node_online");
  EXPECT_EQ(num(e.get(), "node_id"), b.id);
  EXPECT_EQ(num(e.get(), "network_id"), net);
  EXPECT_GT(num(e.get(), "id"), num(offline.get(), "id"));
}

// Under the slow-fsync shim: a change whose commit waits for the disk says nothing until it is
// on disk, while the registry goes on answering reads.
class EventsCommit : public ServerTest {
 protected:
  void SetUp() override {
    hold_path = server.dir + "/fsync-hold";
    std::string err;
    ASSERT_TRUE(server.use_slow_fsync(hold_path, 0, &err)) << err;
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    pid_t reg = server.worker("rendezvous-registry");
    ASSERT_TRUE(reg > 0 && process_maps_file(reg, "libslowfsync.so")) << "the registry does not run under the shim";
  }
  std::string hold_path;
};

TEST_F(EventsCommit, AChangeIsToldOnlyOnceItIsCommitted) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), x = register_daemon(c);
  Conn s = subscribe(server, a);
  Conn w = server.connect();
  ASSERT_TRUE(is_ok(do_lookup(w, a.id), "lookup_ok"));
  HoldFile hold(hold_path);
  ASSERT_TRUE(hold.hold()) << hold_path << ": " << std::strerror(errno);
  std::string challenge = "report_trust:" + std::to_string(x.id) + ":" + std::to_string(a.id);
  rdv::JsonPtr req(json_pack("{s:s,s:I,s:I,s:s}", "type", "report_trust", "node_id", json_int_t(x.id), "peer_id",
                             json_int_t(a.id), "signature", x.sign(challenge).c_str()));
  ASSERT_TRUE(w.send_json(dump(req.get())));
  // While the commit waits: reads are answered, and the subscriber hears nothing.
  EXPECT_TRUE(is_ok(do_lookup(c, x.id), "lookup_ok"));
  std::string body;
  EXPECT_EQ(s.recv_json(&body, 1500), Io::Timeout) << "an event before its commit: " << body;
  hold.release();
  rdv::JsonPtr e = next_event(s, 10000);
  EXPECT_EQ(str(e.get(), "event"), "trust_established") << dump(e.get());
  ASSERT_EQ(w.recv_json(&body, 10000), Io::Ok);
  EXPECT_TRUE(is_ok(parse_json(body), "report_trust_ok"));
}

class EventsSmallBuffer : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-max-conn-output-kb", "64"};
    ServerTest::SetUp();
  }
};

TEST_F(EventsSmallBuffer, ASubscriberThatNeverReadsIsCutOffAndTheServerStaysResponsive) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), x = register_daemon(c);
  // A small receive buffer set before the connect (so the advertised window is small from the
  // start): the server's side fills soon.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(server.registry_port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  Conn s = Conn::adopt(fd);
  ASSERT_TRUE(is_ok(call(s, subscribe_req(a)), "subscribe_events_ok"));
  // Handshake requests to a, each event about 1 KiB (a's poll empties the inbox for the next),
  // until far more than the kernel buffers and the 64 KiB bound hold; s never reads meanwhile.
  const std::string why(900, 'j');
  rdv::JsonPtr poll(json_pack("{s:s,s:I,s:s}", "type", "poll_handshakes", "node_id", json_int_t(a.id), "signature",
                              a.sign("poll_handshakes:" + std::to_string(a.id)).c_str()));
  std::vector<std::string> bodies;
  for (int i = 0; i < 1000; i++) {
    bodies.push_back(handshake_body(x, a.id, why));
    bodies.push_back(dump(poll.get()));
  }
  for (const rdv::JsonPtr& r : pipelined(c, bodies)) ASSERT_TRUE(r && str(r.get(), "type") != "error") << dump(r.get());
  EXPECT_TRUE(is_ok(do_lookup(c, a.id), "lookup_ok"));  // everyone else is served
  // Reading now: events, then one error event, then the end of the stream.
  std::string last;
  size_t events = 0;
  for (;;) {
    std::string body;
    Io io = s.recv_json(&body, 10000);
    if (io != Io::Ok) {
      EXPECT_TRUE(io == Io::Eof || io == Io::Error) << io_name(io);
      break;
    }
    last = body;
    events++;
  }
  rdv::JsonPtr e = parse_json(last);
  EXPECT_EQ(str(e.get(), "event"), "error") << last;
  EXPECT_NE(str(e.get(), "error").find("fell behind"), std::string::npos) << last;
  EXPECT_LT(events, bodies.size() / 2);
  // A new subscription works and the server answers as before.
  Conn again = subscribe(server, a);
  EXPECT_TRUE(is_ok(do_lookup(c, a.id), "lookup_ok"));
}

TEST_F(EventsSmallBuffer, AResumeWhoseReplayWouldPassTheBoundIsToldToResync) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), x = register_daemon(c);
  int64_t seen = 0;
  {
    Conn s = subscribe(server, a);
    ASSERT_TRUE(is_ok(pair_op(c, x, a.id, "report_trust"), "report_trust_ok"));
    rdv::JsonPtr e = next_event(s);
    ASSERT_TRUE(e);
    seen = num(e.get(), "id");
  }
  // About 100 KiB of events for a while it is away: more than the 64 KiB bound.
  rdv::JsonPtr poll(json_pack("{s:s,s:I,s:s}", "type", "poll_handshakes", "node_id", json_int_t(a.id), "signature",
                              a.sign("poll_handshakes:" + std::to_string(a.id)).c_str()));
  std::vector<std::string> bodies;
  for (int i = 0; i < 100; i++) {
    bodies.push_back(handshake_body(x, a.id, std::string(1000, 'k')));
    bodies.push_back(dump(poll.get()));
  }
  for (const rdv::JsonPtr& r : pipelined(c, bodies)) ASSERT_TRUE(r && str(r.get(), "type") != "error") << dump(r.get());
  Conn s = subscribe(server, a, seen);
  rdv::JsonPtr r = next_event(s);
  EXPECT_EQ(str(r.get(), "event"), "resync_required") << dump(r.get());
  EXPECT_NE(str(r.get(), "reason").find("too many events"), std::string::npos) << dump(r.get());
  // A resume from the id it was given replays nothing and goes on live.
  Conn s2 = subscribe(server, a, num(r.get(), "id"));
  ASSERT_TRUE(is_ok(pair_op(c, a, x.id, "revoke_trust"), "revoke_trust_ok"));
  rdv::JsonPtr e = next_event(s2);
  EXPECT_EQ(str(e.get(), "event"), "trust_revoked") << dump(e.get());
}

TEST_F(Events, ResumeReplaysWhatWasMissedAndSaysWhenItCannot) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), x = register_daemon(c), y = register_daemon(c);
  int64_t seen = 0;
  {
    Conn s = subscribe(server, a);
    ASSERT_TRUE(is_ok(pair_op(c, x, a.id, "report_trust"), "report_trust_ok"));
    rdv::JsonPtr e = next_event(s);
    ASSERT_TRUE(e);
    seen = num(e.get(), "id");
  }
  // Missed while away: two events for a, one not for a.
  ASSERT_TRUE(is_ok(pair_op(c, y, a.id, "report_trust"), "report_trust_ok"));
  ASSERT_TRUE(is_ok(pair_op(c, x, y.id, "report_trust"), "report_trust_ok"));
  ASSERT_TRUE(is_ok(pair_op(c, a, x.id, "revoke_trust"), "revoke_trust_ok"));
  rdv::JsonPtr ok;
  Conn s = subscribe(server, a, seen, &ok);
  rdv::JsonPtr e1 = next_event(s), e2 = next_event(s);
  EXPECT_EQ(str(e1.get(), "event"), "trust_established") << dump(e1.get());
  EXPECT_EQ(num(e1.get(), "node_id"), y.id);
  EXPECT_EQ(str(e2.get(), "event"), "trust_revoked") << dump(e2.get());
  EXPECT_EQ(num(e2.get(), "node_id"), x.id);
  EXPECT_GT(num(e1.get(), "id"), seen);
  EXPECT_GT(num(e2.get(), "id"), num(e1.get(), "id"));
  EXPECT_GE(num(ok.get(), "last_event_id"), num(e2.get(), "id"));
  // Then live events.
  ASSERT_TRUE(is_ok(pair_op(c, x, a.id, "report_trust"), "report_trust_ok"));
  rdv::JsonPtr e3 = next_event(s);
  EXPECT_EQ(str(e3.get(), "event"), "trust_established") << dump(e3.get());
  EXPECT_GT(num(e3.get(), "id"), num(e2.get(), "id"));

  // An id from before this worker started, and one newer than any: resync_required.
  Conn old = subscribe(server, a, 1);
  rdv::JsonPtr r = next_event(old);
  EXPECT_EQ(str(r.get(), "event"), "resync_required") << dump(r.get());
  EXPECT_NE(str(r.get(), "reason").find("before the registry worker restarted"), std::string::npos);
  Conn future = subscribe(server, a, int64_t(1) << 62);
  r = next_event(future);
  EXPECT_EQ(str(r.get(), "event"), "resync_required") << dump(r.get());
  EXPECT_NE(str(r.get(), "reason").find("newer than any event"), std::string::npos);
}

TEST_F(Events, AfterASigkillOfTheRegistryWorkerSubscribersResubscribeAndAreToldToResync) {
  Conn c = server.connect();
  Daemon a = register_daemon(c), x = register_daemon(c);
  Conn s = subscribe(server, a);
  ASSERT_TRUE(is_ok(pair_op(c, x, a.id, "report_trust"), "report_trust_ok"));
  rdv::JsonPtr e = next_event(s);
  ASSERT_TRUE(e);
  int64_t seen = num(e.get(), "id");
  Conn c2 = kill_registry(server);
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(s.expect_closed(5000));
  // The window went with the worker: a resume from before says so, then events flow again,
  // with ids above every id the killed worker gave.
  Conn s2 = subscribe(server, a, seen);
  rdv::JsonPtr r = next_event(s2);
  EXPECT_EQ(str(r.get(), "event"), "resync_required") << dump(r.get());
  ASSERT_TRUE(is_ok(pair_op(c2, a, x.id, "revoke_trust"), "revoke_trust_ok"));
  e = next_event(s2);
  EXPECT_EQ(str(e.get(), "event"), "trust_revoked") << dump(e.get());
  EXPECT_GT(num(e.get(), "id"), seen);
}

// A leader that loses its role makes no more events: its subscribers are told why and closed,
// to subscribe again at the new leader (replication.cc role_changed → events_demoted).
using EventsFailover = PairTest;

TEST_F(EventsFailover, SubscribersOfADemotedLeaderAreToldAndClosed) {
  ASSERT_NO_FATAL_FAILURE(start_pair("events-failover-repl-token"));
  Conn c = leader.connect();
  Daemon a = register_daemon(c), x = register_daemon(c);
  Conn s = subscribe(leader, a);
  ASSERT_TRUE(is_ok(pair_op(c, x, a.id, "report_trust"), "report_trust_ok"));
  rdv::JsonPtr e = next_event(s);
  ASSERT_TRUE(e);
  EXPECT_EQ(str(e.get(), "event"), "trust_established") << dump(e.get());
  std::string last;
  ASSERT_TRUE(wait_streaming(standby, 10000, &last)) << last;
  // The standby takes over; the old leader is told to follow it.
  HttpResponse h = admin_http(standby, "POST", "/api/admin/promote");
  ASSERT_EQ(h.status, 200) << h.body;
  const std::string standby_addr = "127.0.0.1:" + std::to_string(standby.registry_port);
  h = admin_http(leader, "POST", "/api/admin/demote", "{\"leader\":\"" + standby_addr + "\"}");
  ASSERT_EQ(h.status, 200) << h.body;  // demoted here, or already by the new leader's fence
  e = wait_event(s, "error");
  ASSERT_TRUE(e);
  EXPECT_NE(str(e.get(), "error").find("no longer the leader"), std::string::npos) << dump(e.get());
  EXPECT_TRUE(s.expect_closed(5000));
  // At the old leader a new subscription is refused; at the new one it is served.
  Conn again = leader.connect();
  EXPECT_TRUE(is_error(call(again, subscribe_req(a)), "standby mode: write operations not accepted (use primary)"));
  Conn fresh = subscribe(standby, a);
  Conn c2 = standby.connect();
  ASSERT_TRUE(is_ok(pair_op(c2, a, x.id, "revoke_trust"), "revoke_trust_ok"));
  e = wait_event(fresh, "trust_revoked");
  EXPECT_TRUE(e);
}

}  // namespace
}  // namespace rt
