// The pure parts of the live event stream (worker-registry/events.h): which events a committed
// change record implies, the id clock, the resume window's bounds and answers, and the
// subscriber index that picks recipients without visiting everyone.
#include "worker-registry/events.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "model.h"

namespace rdv::registry {
namespace {

ChangeOp put(Db db, std::string key, std::string value = "") { return {true, db, std::move(key), std::move(value)}; }
ChangeOp del(Db db, std::string key) { return {false, db, std::move(key), ""}; }

std::string member_value(const std::string& role, std::vector<std::string> tags = {}) {
  Member m;
  m.role = role;
  m.tags = std::move(tags);
  m.joined_at = 1700000000;
  return encode_member(m);
}

TEST(DeriveEvents, AJoinWritesTheNodeARoleChangeDoesNot) {
  ChangeRecord join;
  join.type = ChangeType::Membership;
  Node n;
  n.id = 9;
  n.networks = {0, 3};
  join.ops = {put(Db::Members, key_u16(3) + key_u32(9), member_value("member")), put(Db::Nodes, key_u32(9), encode_node(n))};
  auto ev = derive_events(join);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, "member_joined");
  EXPECT_EQ(ev[0].network, 3);
  EXPECT_EQ(ev[0].to[0], 9u);
  EXPECT_TRUE(ev[0].joined);
  EXPECT_EQ(ev[0].fields, R"(,"network_id":3,"node_id":9,"role":"member")");

  ChangeRecord promote;
  promote.type = ChangeType::Membership;
  promote.ops = {put(Db::Members, key_u16(3) + key_u32(9), member_value("admin", {"db"}))};
  ev = derive_events(promote);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, "member_updated");
  EXPECT_FALSE(ev[0].joined);
  EXPECT_EQ(ev[0].fields, R"(,"network_id":3,"node_id":9,"role":"admin","tags":["db"])");

  ChangeRecord leave;
  leave.ops = {del(Db::Members, key_u16(3) + key_u32(9))};
  ev = derive_events(leave);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, "member_left");
  EXPECT_TRUE(ev[0].left);
  EXPECT_EQ(ev[0].member, 9u);
}

TEST(DeriveEvents, TrustGoesToEachSideNamingThePeer) {
  ChangeRecord r;
  r.ops = {put(Db::Trust, key_u32(2) + key_u32(5))};
  auto ev = derive_events(r);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].name, "trust_established");
  EXPECT_EQ(ev[0].to[0], 2u);
  EXPECT_EQ(ev[0].fields, R"(,"node_id":5)");
  EXPECT_EQ(ev[1].to[0], 5u);
  EXPECT_EQ(ev[1].fields, R"(,"node_id":2)");
  EXPECT_EQ(ev[0].network, 0);  // nobody else sees it
  r.ops = {del(Db::Trust, key_u32(2) + key_u32(5))};
  ev = derive_events(r);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].name, "trust_revoked");
}

TEST(DeriveEvents, InvitesAndHandshakesGoToTheirTarget) {
  Invite inv;
  inv.inviter = 4;
  inv.timestamp = 1;
  Handshake h;
  h.timestamp_ns = 1;
  h.justification = "say \"hi\"";
  HandshakeResponse resp;
  resp.accept = true;
  ChangeRecord r;
  r.ops = {put(Db::Invites, key_u32(7) + key_u16(2), encode_invite(inv)),
           put(Db::SentInvites, key_u32(4) + key_u16(2) + key_u32(7)),
           put(Db::Handshakes, key_u32(7) + key_u32(8), encode_handshake(h)),
           put(Db::Pending, key_u32(7) + key_u32(8)),
           put(Db::Responses, key_u32(8) + key_u32(7), encode_handshake_response(resp)),
           del(Db::Invites, key_u32(7) + key_u16(2))};  // a removed invite says nothing
  auto ev = derive_events(r);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].name, "invite_received");
  EXPECT_EQ(ev[0].to[0], 7u);
  EXPECT_EQ(ev[0].fields, R"(,"network_id":2,"inviter":4)");
  EXPECT_EQ(ev[1].name, "handshake_request");
  EXPECT_EQ(ev[1].to[0], 7u);
  EXPECT_EQ(ev[1].fields, R"(,"node_id":8,"justification":"say \"hi\"")");
  EXPECT_EQ(ev[2].name, "handshake_response");
  EXPECT_EQ(ev[2].to[0], 8u);
  EXPECT_EQ(ev[2].fields, R"(,"node_id":7,"accept":true)");
}

TEST(DeriveEvents, MalformedOpsAndOtherDatabasesImplyNothing) {
  ChangeRecord r;
  r.ops = {put(Db::Members, "short", member_value("member")), put(Db::Members, key_u16(1) + key_u32(2), "junk"),
           put(Db::Trust, key_u32(1)), put(Db::Handshakes, key_u32(1) + key_u32(2), "x"),
           put(Db::HostIndex, "host", key_u32(1)), put(Db::Beacons, key_u32(1), "b")};
  EXPECT_TRUE(derive_events(r).empty());
}

TEST(LivenessEvents, OnePerNetworkBackboneLeftOut) {
  auto ev = liveness_events(5, false, {0, 3, 4});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].name, "node_offline");
  EXPECT_EQ(ev[0].network, 3);
  EXPECT_EQ(ev[1].network, 4);
  EXPECT_EQ(ev[1].fields, R"(,"network_id":4,"node_id":5)");
  EXPECT_EQ(liveness_events(5, true, {3})[0].name, "node_online");
}

TEST(EventClock, IdsIncreaseAndFollowTheClock) {
  EventClock c(1000);
  EXPECT_EQ(c.first(), 1000u);
  EXPECT_EQ(c.last(), 999u);  // nothing given yet
  EXPECT_EQ(c.next(1000), 1000u);
  EXPECT_EQ(c.next(1000), 1001u);  // same microsecond
  EXPECT_EQ(c.next(990), 1002u);   // the clock stepped back: still increasing
  EXPECT_EQ(c.next(5000), 5000u);
  // A later worker starts above every id of this one (as long as it starts later in time).
  EventClock later(6000);
  EXPECT_GT(later.next(6000), c.last());
}

EventWindow::Stored stored(uint64_t id, int64_t at_ns, uint16_t net = 1) {
  EventWindow::Stored s;
  s.id = id;
  s.at_ns = at_ns;
  s.network = net;
  s.body = "{}";
  return s;
}

TEST(EventWindow, BoundedByCountAndAge) {
  EventWindow w(100, 3, 1000);
  for (uint64_t id = 100; id < 105; id++) w.add(stored(id, 10), 10);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(w.dropped_up_to(), 101u);
  w.expire(1011);  // every event is older than 1000 ns now
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.dropped_up_to(), 104u);
}

TEST(EventWindow, ResumeAnswers) {
  EventWindow w(100, 3, 1000000);
  EXPECT_EQ(w.check(99, 99), EventWindow::Resume::Ok);  // nothing given yet, nothing missed
  EXPECT_EQ(w.check(50, 99), EventWindow::Resume::Restarted);
  for (uint64_t id = 100; id < 105; id++) w.add(stored(id, 10), 10);  // 100, 101 dropped
  EXPECT_EQ(w.check(104, 104), EventWindow::Resume::Ok);
  EXPECT_EQ(w.check(101, 104), EventWindow::Resume::Ok);  // 102.. are all here
  EXPECT_EQ(w.check(100, 104), EventWindow::Resume::TooOld);
  EXPECT_EQ(w.check(105, 104), EventWindow::Resume::Unknown);
  EXPECT_EQ(w.check(7, 104), EventWindow::Resume::Restarted);
  auto after = w.after(102, [](const EventWindow::Stored& s) { return s.id != 104; });
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]->id, 103u);
}

TEST(SubscriberIndex, RecipientsByNetworkAndNodeEachOnce) {
  SubscriberIndex<int> idx;
  idx.add(1, 10, {0, 3});
  idx.add(2, 20, {3, 4});
  idx.add(3, 30, {});
  std::vector<int> out;
  const uint32_t none[2] = {0, 0};
  idx.recipients(3, none, &out);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  idx.recipients(0, none, &out);  // the backbone is nobody's audience
  EXPECT_TRUE(out.empty());
  const uint32_t to20[2] = {20, 20};
  idx.recipients(3, to20, &out);  // 2 is in 3 and is the target: once
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  const uint32_t to30[2] = {30, 10};
  idx.recipients(0, to30, &out);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, (std::vector<int>{1, 3}));
  EXPECT_TRUE(idx.sees(3, 9, to30));
  EXPECT_FALSE(idx.sees(3, 4, none));
  EXPECT_TRUE(idx.sees(2, 4, none));
}

TEST(SubscriberIndex, MembershipChangesFollowEverySubscriptionOfTheNode) {
  SubscriberIndex<int> idx;
  idx.add(1, 10, {});
  idx.add(2, 10, {});  // the same node on two connections
  idx.joined(10, 5);
  std::vector<int> out;
  const uint32_t none[2] = {0, 0};
  idx.recipients(5, none, &out);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_TRUE(idx.watches_network(5));
  idx.left(10, 5);
  idx.recipients(5, none, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(idx.watches_network(5));
  idx.joined(10, 6);
  idx.remove(1);
  idx.recipients(6, none, &out);
  EXPECT_EQ(out, (std::vector<int>{2}));
  idx.remove(2);
  EXPECT_TRUE(idx.empty());
  EXPECT_FALSE(idx.watches_network(6));
}

TEST(EventBody, FrameShape) {
  EXPECT_EQ(event_body(7, "node_online", R"(,"network_id":1,"node_id":2)"),
            R"({"type":"event","id":7,"event":"node_online","network_id":1,"node_id":2})");
  EXPECT_EQ(subscribe_events_challenge_text(12), "subscribe_events:12");
}

}  // namespace
}  // namespace rdv::registry
