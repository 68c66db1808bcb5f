// The operator surface of replication as pure functions (worker-admin/replication.h,
// health.h): the replication-status merge of the registry's and the replicator's replies,
// the /readyz decision, the leader address check, and the promote/demote routes answered by
// a canned replicator (the AdminContext's replicator_call is a function for this purpose).
#include <gtest/gtest.h>

#include "shared/ipc.h"
#include "worker-admin/health.h"
#include "worker-admin/metrics_endpoint.h"
#include "worker-admin/replication.h"
#include "worker-admin/routes.h"

namespace rdv::admin {
namespace {

JsonPtr parse(const char* text) {
  json_error_t e;
  JsonPtr j(json_loads(text, 0, &e));
  EXPECT_TRUE(j) << e.text << " in " << text;
  return j;
}

const char* kLeaderReplicator =
    R"({"type":"status_ok","role":"leader","epoch":3,"last_seq":10234,"id":"node-a",
        "standbys":[{"id":"node-b","addr":"10.0.0.2:40112","state":"streaming","acked_seq":10230,
                     "lag_records":4,"lag_bytes":812,"lag_seconds":0.004,"lag_exact":true,
                     "connected_unix":900,"last_heard_unix":990,"records_sent":10230,"bytes_sent":2093112,
                     "full_copies":1,"last_sent_unix":995,"internal":"not shown"},
                    {"id":"node-c","addr":"10.0.0.3:40113","state":"copying","acked_seq":0,
                     "lag_records":10234,"lag_bytes":99999,"lag_seconds":12.5,"lag_exact":false,
                     "last_sent_unix":980}],
        "follower":null})";

TEST(ReplicationStatus, LeaderMergesBothReplies) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"leader","epoch":3,"last_seq":10234,
                          "sync":{"enabled":true,"state":"degraded","held":2,"degraded_total":5}})");
  JsonPtr rep = parse(kLeaderReplicator);
  JsonPtr j = replication_status_json(reg.get(), rep.get(), "", true, 1000);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "term")), 3);
  EXPECT_TRUE(json_is_false(json_object_get(j.get(), "is_standby")));
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "subscribers")), 1);  // only the streaming one
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "last_push_unix")), 995);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "last_push_age_secs")), 5);
  EXPECT_EQ(json_str(j.get(), "role"), "leader");
  EXPECT_EQ(json_object_get(j.get(), "leader"), nullptr);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "last_seq")), 10234);
  json_t* standbys = json_object_get(j.get(), "standbys");
  ASSERT_EQ(json_array_size(standbys), 2u);
  json_t* b = json_array_get(standbys, 0);
  EXPECT_EQ(json_str(b, "id"), "node-b");
  EXPECT_EQ(json_integer_value(json_object_get(b, "lag_records")), 4);
  EXPECT_DOUBLE_EQ(json_real_value(json_object_get(b, "lag_seconds")), 0.004);
  EXPECT_TRUE(json_is_true(json_object_get(b, "lag_exact")));
  EXPECT_EQ(json_object_get(b, "internal"), nullptr) << "undocumented replicator fields stay internal";
  EXPECT_TRUE(json_is_false(json_object_get(json_array_get(standbys, 1), "lag_exact")));
  EXPECT_EQ(json_object_get(j.get(), "follower"), nullptr);
  json_t* sync = json_object_get(j.get(), "sync");
  EXPECT_EQ(json_str(sync, "state"), "degraded");
  EXPECT_EQ(json_integer_value(json_object_get(sync, "held")), 2);
  EXPECT_EQ(json_integer_value(json_object_get(sync, "degraded_total")), 5);
  EXPECT_EQ(json_str(j.get(), "replicator"), "ok");
  EXPECT_EQ(json_str(j.get(), "registry"), "ok");
}

TEST(ReplicationStatus, StandbyShowsFollowerAndLeader) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"standby","epoch":4})");
  JsonPtr rep = parse(R"({"type":"status_ok","role":"standby","epoch":4,"last_seq":50,"standbys":[],
      "follower":{"leader":"10.0.0.1:9000","state":"streaming","applied_seq":50,"leader_seq":52,
                  "leader_epoch":4,"lag_records":2,"lag_seconds":0.5,"connected":true,"reconnects":1,
                  "full_copies":0,"last_error":""}})");
  JsonPtr j = replication_status_json(reg.get(), rep.get(), "10.0.0.9:9000", false, 1000);
  EXPECT_TRUE(json_is_true(json_object_get(j.get(), "is_standby")));
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "subscribers")), 0);
  EXPECT_EQ(json_object_get(j.get(), "last_push_unix"), nullptr);
  // The replicator's follower knows the leader of now better than the start-up flag.
  EXPECT_EQ(json_str(j.get(), "leader"), "10.0.0.1:9000");
  json_t* f = json_object_get(j.get(), "follower");
  ASSERT_TRUE(json_is_object(f));
  EXPECT_EQ(json_str(f, "state"), "streaming");
  EXPECT_EQ(json_integer_value(json_object_get(f, "lag_records")), 2);
  EXPECT_EQ(json_str(json_object_get(j.get(), "sync"), "state"), "off");
}

TEST(ReplicationStatus, ReplicatorUnavailableAnswersFromTheRegistry) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"standby","epoch":2,"last_seq":7})");
  JsonPtr j = replication_status_json(reg.get(), nullptr, "127.0.0.1:9", true, 1000);
  EXPECT_EQ(json_str(j.get(), "replicator"), "unavailable");
  EXPECT_EQ(json_str(j.get(), "role"), "standby");
  EXPECT_EQ(json_str(j.get(), "leader"), "127.0.0.1:9");
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "term")), 2);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "last_seq")), 7);
  EXPECT_EQ(json_array_size(json_object_get(j.get(), "standbys")), 0u);
  // No sync report from the registry: what the flag asks for, state unknown.
  EXPECT_EQ(json_str(json_object_get(j.get(), "sync"), "state"), "unknown");
  // An error reply counts as no reply.
  JsonPtr err = parse(R"({"type":"error","error":"boom"})");
  j = replication_status_json(reg.get(), err.get(), "", false, 1000);
  EXPECT_EQ(json_str(j.get(), "replicator"), "unavailable");
}

TEST(ReplicationStatus, EpochIsTheHigherOfBoth) {
  // Mid-promotion the replicator has raised the epoch and the registry has not re-read it yet.
  JsonPtr reg = parse(R"({"type":"status_ok","role":"standby","epoch":4})");
  JsonPtr rep = parse(R"({"type":"status_ok","role":"leader","epoch":5,"standbys":[]})");
  JsonPtr j = replication_status_json(reg.get(), rep.get(), "", false, 0);
  EXPECT_EQ(json_integer_value(json_object_get(j.get(), "epoch")), 5);
  EXPECT_EQ(json_str(j.get(), "role"), "standby") << "the role is what the registry serves";
}

TEST(ReplicationStatus, FencedIsNotALeader) {
  JsonPtr reg = parse(R"({"type":"status_ok","role":"fenced","epoch":4})");
  JsonPtr j = replication_status_json(reg.get(), nullptr, "", false, 0);
  EXPECT_TRUE(json_is_true(json_object_get(j.get(), "is_standby")));
  EXPECT_EQ(json_object_get(j.get(), "leader"), nullptr);
}

// ---- /readyz ----

JsonPtr body_of(const Response& r) { return parse(r.body.c_str()); }

TEST(Readiness, ServingLeaderIsReadyWithSyncState) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"leader","sync":{"enabled":true,"state":"sync"}})");
  Response r = readiness_response(reg.get(), "");
  EXPECT_EQ(r.status, 200);
  JsonPtr b = body_of(r);
  EXPECT_EQ(json_str(b.get(), "status"), "ready");
  EXPECT_EQ(json_str(b.get(), "role"), "leader");
  EXPECT_EQ(json_str(b.get(), "sync"), "sync");
}

TEST(Readiness, DegradedLeaderStaysReady) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"leader","sync":{"enabled":true,"state":"degraded"}})");
  Response r = readiness_response(reg.get(), "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json_str(body_of(r).get(), "sync"), "degraded");
  reg = parse(R"({"type":"status_ok","serving":true,"role":"leader"})");
  EXPECT_EQ(json_str(body_of(readiness_response(reg.get(), "")).get(), "sync"), "off");
}

TEST(Readiness, StandbyIsNotReadyAndNamesItsLeader) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"standby","leader":"10.0.0.1:9000"})");
  Response r = readiness_response(reg.get(), "", "10.0.0.9:1");
  EXPECT_EQ(r.status, 503);
  JsonPtr b = body_of(r);
  EXPECT_EQ(json_str(b.get(), "status"), "not ready");
  EXPECT_EQ(json_str(b.get(), "role"), "standby");
  EXPECT_EQ(json_str(b.get(), "leader"), "10.0.0.1:9000");
  EXPECT_EQ(json_str(b.get(), "sync"), "off");
  // Without a leader in the reply, the configured one.
  reg = parse(R"({"type":"status_ok","serving":true,"role":"standby"})");
  EXPECT_EQ(json_str(body_of(readiness_response(reg.get(), "", "10.0.0.9:1")).get(), "leader"), "10.0.0.9:1");
}

TEST(Readiness, FencedUnservingAndUnreachableAreNotReady) {
  JsonPtr reg = parse(R"({"type":"status_ok","serving":true,"role":"fenced"})");
  Response r = readiness_response(reg.get(), "");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json_str(body_of(r).get(), "role"), "fenced");
  reg = parse(R"({"type":"status_ok","serving":false,"role":"leader"})");
  r = readiness_response(reg.get(), "");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json_str(body_of(r).get(), "reason"), "registry not serving");
  r = readiness_response(nullptr, "connect failed");
  EXPECT_EQ(r.status, 503);
  JsonPtr b = body_of(r);
  EXPECT_EQ(json_str(b.get(), "role"), "unknown");
  EXPECT_EQ(json_str(b.get(), "reason"), "registry unreachable: connect failed");
  EXPECT_EQ(json_str(b.get(), "sync"), "off");
}

TEST(Readiness, SyncState) {
  EXPECT_EQ(sync_state(parse(R"({"sync":{"enabled":false,"state":"sync"}})").get()), "off");
  EXPECT_EQ(sync_state(parse(R"({"sync":{"enabled":true,"state":"weird"}})").get()), "off");
  EXPECT_EQ(sync_state(parse(R"({})").get()), "off");
}

TEST(ReplicationRoutes, LeaderAddress) {
  EXPECT_TRUE(valid_leader_address("10.0.0.1:9000"));
  EXPECT_TRUE(valid_leader_address("registry-b.example.net:9000"));
  EXPECT_TRUE(valid_leader_address("[::1]:9000"));
  EXPECT_FALSE(valid_leader_address("10.0.0.1"));
  EXPECT_FALSE(valid_leader_address(":9000"));
  EXPECT_FALSE(valid_leader_address("10.0.0.1:0"));
  EXPECT_FALSE(valid_leader_address("10.0.0.1:65536"));
  EXPECT_FALSE(valid_leader_address("a b:9000"));
  EXPECT_FALSE(valid_leader_address("host/x:9000"));
  EXPECT_FALSE(valid_leader_address(std::string(300, 'a') + ":1"));
}

// ---- promote / demote against a canned replicator ----

struct Canned {
  AdminContext ctx;
  LiveConfig config{Config{}};
  std::string reply;  // "" = unreachable
  std::string last_request;
  Canned() {
    Config c;
    c.admin_token = "tok";
    config.set(c);
    ctx.config = &config;
    ctx.replicator_call = [this](const json_t* req, std::string* err) -> JsonPtr {
      last_request = json_dump_compact(req);
      if (reply.empty()) {
        *err = "connect(" + ipc::replicator_socket_path(config.get()->run_dir) + ") failed: No such file or directory";
        return nullptr;
      }
      return JsonPtr(json_loads(reply.c_str(), 0, nullptr));
    };
  }
  Response post(std::string_view path, std::string_view body) {
    Request req;
    req.method = "POST";
    req.path = path;
    req.remote_addr = "127.0.0.1";
    req.body = body;
    req.headers.emplace_back("X-Admin-Token", "tok");
    return dispatch(ctx, req);
  }
};

TEST(ReplicationRoutes, PromoteAnswers) {
  Canned c;
  c.reply = R"({"type":"promote_ok","epoch":5,"previous_epoch":4,"took_ms":12,"already":false})";
  Response r = c.post("/api/admin/promote", R"({"reason":"leader host died"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"status":"promoted","epoch":5,"previous_epoch":4,"took_ms":12})");
  EXPECT_NE(c.last_request.find("\"type\":\"promote\""), std::string::npos);
  EXPECT_NE(c.last_request.find("leader host died"), std::string::npos) << c.last_request;
  c.reply = R"({"type":"promote_ok","epoch":5,"previous_epoch":5,"took_ms":0,"already":true})";
  r = c.post("/api/admin/promote", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"status":"already leader","epoch":5})");
  c.reply = R"({"type":"error","error":"promotion refused: a demotion is in progress"})";
  EXPECT_EQ(c.post("/api/admin/promote", "").status, 409);
  c.reply = R"({"type":"error","error":"write epoch: No space left on device"})";
  r = c.post("/api/admin/promote", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("No space left"), std::string::npos);
  c.reply = "";
  r = c.post("/api/admin/promote", "");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("replicator.sock"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(c.config.get()->run_dir), std::string::npos) << "the run dir stays private: " << r.body;
  EXPECT_EQ(c.post("/api/admin/promote", "not json").status, 400);
  EXPECT_EQ(c.post("/api/admin/promote", R"({"reason":7})").status, 400);
}

TEST(ReplicationRoutes, DemoteValidatesTheLeader) {
  Canned c;
  c.reply = R"({"type":"demote_ok","leader":"10.0.0.2:9000","already":false})";
  EXPECT_EQ(c.post("/api/admin/demote", "").status, 400);
  EXPECT_EQ(c.post("/api/admin/demote", R"({"leader":"nope"})").status, 400);
  EXPECT_TRUE(c.last_request.empty()) << "an invalid request never reaches the replicator";
  Response r = c.post("/api/admin/demote", R"({"leader":"10.0.0.2:9000"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"status":"demoted","leader":"10.0.0.2:9000"})");
  EXPECT_NE(c.last_request.find("\"leader\":\"10.0.0.2:9000\""), std::string::npos);
  c.reply = R"({"type":"demote_ok","leader":"10.0.0.2:9000","already":true})";
  r = c.post("/api/admin/demote", R"({"leader":"10.0.0.2:9000"})");
  EXPECT_EQ(r.body, R"({"status":"already following","leader":"10.0.0.2:9000"})");
}

}  // namespace
}  // namespace rdv::admin

namespace rdv::admin {
namespace {

// ---- /metrics: the replication families ----

TEST(ReplicationMetrics, LeaderFamiliesAreWellFormedAndEscaped) {
  JsonPtr rep = parse(R"({"type":"status_ok","role":"leader","epoch":2,"standbys":[
      {"id":"b\"x\\y","state":"streaming","lag_records":4,"lag_bytes":800,"lag_seconds":0.25},
      {"id":"a","state":"copying","lag_records":100,"lag_bytes":9000,"lag_seconds":3},
      {"id":"a","state":"streaming","lag_records":1,"lag_bytes":1,"lag_seconds":1}],"follower":null})");
  std::string text = render_replication_families(rep.get());
  EXPECT_EQ(exposition_problem(text), "") << text;
  EXPECT_NE(text.find("rendezvous_replication_replicator_up 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pilot_replication_subscribers 2\n"), std::string::npos) << text;
  // Sorted by id, the first listing of a repeated id wins, the quote and backslash escaped.
  EXPECT_NE(text.find("rendezvous_replication_lag_records{standby=\"a\"} 100\n"
                      "rendezvous_replication_lag_records{standby=\"b\\\"x\\\\y\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rendezvous_replication_lag_seconds{standby=\"b\\\"x\\\\y\"} 0.25\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("follower"), std::string::npos) << "a leader has no follower families";
}

TEST(ReplicationMetrics, StandbyAndUnavailable) {
  JsonPtr rep = parse(R"({"type":"status_ok","role":"standby","standbys":[],"follower":{"connected":true,
      "lag_records":7,"lag_seconds":1.5,"full_copies":1,"reconnects":3}})");
  std::string text = render_replication_families(rep.get());
  EXPECT_EQ(exposition_problem(text), "") << text;
  EXPECT_NE(text.find("rendezvous_replication_follower_connected 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rendezvous_replication_follower_lag_records 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rendezvous_replication_reconnects_total 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pilot_replication_subscribers 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("rendezvous_replication_lag_records"), std::string::npos) << text;
  text = render_replication_families(nullptr);
  EXPECT_EQ(exposition_problem(text), "") << text;
  EXPECT_EQ(text, "# HELP rendezvous_replication_replicator_up 1 when the replicator answered this scrape; 0 means "
                  "its families are absent.\n# TYPE rendezvous_replication_replicator_up gauge\n"
                  "rendezvous_replication_replicator_up 0\n");
}

}  // namespace
}  // namespace rdv::admin
