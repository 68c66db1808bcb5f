// The admin API rows of ops-spec §5.3 served by worker-admin/networks.cc, audit_routes.cc,
// replication.cc, runtime.cc and verify.cc: access classes, methods, error texts, shapes, and
// the operator kick / role change checked over the real protocol state.
#include "network_helpers.h"

namespace rt {
namespace {

using AdminApi = ServerTest;

HttpResponse http(const Server& s, const std::string& method, const std::string& path, const std::string& body = "",
                  const std::vector<std::string>& headers = {}) {
  HttpResponse r;
  EXPECT_TRUE(http_request(s.http_port, method, path, body, &r, headers)) << method << " " << path;
  return r;
}

rdv::JsonPtr member_role(Conn& c, uint16_t net, uint32_t node) {
  return call(c, json_pack("{s:s,s:i,s:I}", "type", "get_member_role", "network_id", int(net), "target_node_id",
                           json_int_t(node)));
}

int64_t admin_members_count(Conn& c, const Server& s, uint16_t net) {
  rdv::JsonPtr l = call(c, json_pack("{s:s,s:s}", "type", "list_networks", "admin_token", s.admin_token.c_str()));
  json_t* nets = json_object_get(l.get(), "networks");
  for (size_t i = 0; i < json_array_size(nets); i++)
    if (num(json_array_get(nets, i), "id") == net) return num(json_array_get(nets, i), "members");
  return -1;
}

// An enterprise network "ops" owned by one daemon with `members` more joined.
struct Fixture {
  Daemon owner;
  std::vector<Daemon> members;
  uint16_t net = 0;
};
Fixture make_network(Conn& c, const Server& s, int members) {
  Fixture f;
  f.owner = register_daemon(c);
  f.net = create_enterprise(c, s, f.owner, "ops");
  for (int i = 0; i < members; i++) {
    f.members.push_back(register_daemon(c));
    EXPECT_TRUE(is_ok(join(c, f.members.back(), f.net), "join_network_ok"));
  }
  return f;
}

const json_t* find_member(const json_t* listing, uint32_t node) {
  json_t* list = json_object_get(listing, "members");
  for (size_t i = 0; i < json_array_size(list); i++)
    if (num(json_array_get(list, i), "node_id") == node) return json_array_get(list, i);
  return nullptr;
}

// ---- access classes ----

TEST_F(AdminApi, AdminRoutesRefuseMissingAndWrongTokens) {
  for (const char* path : {"/api/admin/networks", "/api/admin/networks/1/members", "/api/admin/audit/recent",
                           "/api/admin/replication-status", "/api/runtime", "/api/health"}) {
    HttpResponse r = http(server, "GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.body, "unauthorized\n") << path;
    r = http(server, "GET", path, "", {"X-Admin-Token: wrong"});
    EXPECT_EQ(r.status, 401) << path;
    r = http(server, "GET", std::string(path) + "?admin_token=" + server.admin_token);
    EXPECT_NE(r.status, 401) << path << ": " << r.body;
  }
  // The query token is for GET only (the CSRF rule of §5.2).
  HttpResponse r = http(server, "DELETE", "/api/admin/networks/1/members/2?reason=x&admin_token=" + server.admin_token);
  EXPECT_EQ(r.status, 401) << r.body;
  r = http(server, "PUT", "/api/admin/networks/1/members/2/role?admin_token=" + server.admin_token, R"({"role":"admin"})");
  EXPECT_EQ(r.status, 401) << r.body;
  r = http(server, "POST", "/api/admin/runtime/gc?admin_token=" + server.admin_token);
  EXPECT_EQ(r.status, 401) << r.body;
  r = http(server, "POST", "/api/admin/runtime/profile-rates?admin_token=" + server.admin_token, "{}");
  EXPECT_EQ(r.status, 401) << r.body;
}

// ---- networks (rows 27–30) ----

TEST_F(AdminApi, NetworksListing) {
  Conn c = server.connect();
  Fixture f = make_network(c, server, 2);
  HttpResponse r = admin_http(server, "GET", "/api/admin/networks");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("Content-Type").find("application/json"), std::string::npos);
  rdv::JsonPtr j = json_body(r);
  json_t* nets = json_object_get(j.get(), "networks");
  EXPECT_EQ(num(j.get(), "count"), int64_t(json_array_size(nets)));
  const json_t* ops = nullptr;
  for (size_t i = 0; i < json_array_size(nets); i++)
    if (num(json_array_get(nets, i), "id") == f.net) ops = json_array_get(nets, i);
  ASSERT_NE(ops, nullptr) << r.body;
  EXPECT_EQ(str(ops, "name"), "ops");
  EXPECT_EQ(num(ops, "members_count"), 3);
  EXPECT_EQ(num(ops, "owners_count"), 1);
  EXPECT_EQ(num(ops, "admins_count"), 0);
  EXPECT_TRUE(json_is_true(json_object_get(ops, "enterprise")));
  EXPECT_TRUE(json_is_false(json_object_get(ops, "policy_set")));
  EXPECT_EQ(json_object_size(ops), 7u) << r.body;
  EXPECT_EQ(admin_http(server, "GET", "/api/admin/networks/").status, 200);
  r = admin_http(server, "POST", "/api/admin/networks");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
}

TEST_F(AdminApi, MembersListingPagingAndFilter) {
  Conn c = server.connect();
  Fixture f = make_network(c, server, 4);
  std::string base = "/api/admin/networks/" + std::to_string(f.net) + "/members";
  HttpResponse r = admin_http(server, "GET", base);
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_EQ(num(j.get(), "network_id"), f.net);
  EXPECT_EQ(num(j.get(), "count"), 5);
  EXPECT_EQ(num(j.get(), "total"), 5);
  EXPECT_EQ(num(j.get(), "filtered_total"), 5);
  EXPECT_EQ(num(j.get(), "offset"), 0);
  EXPECT_EQ(num(j.get(), "limit"), 200);
  const json_t* owner = find_member(j.get(), f.owner.id);
  ASSERT_NE(owner, nullptr) << r.body;
  EXPECT_EQ(str(owner, "role"), "owner");
  EXPECT_GT(num(owner, "last_seen_unix"), 0) << r.body;
  EXPECT_EQ(str(find_member(j.get(), f.members[0].id), "role"), "member");

  j = json_body(admin_http(server, "GET", base + "/?limit=2&offset=1"));
  EXPECT_EQ(num(j.get(), "count"), 2);
  EXPECT_EQ(num(j.get(), "offset"), 1);
  EXPECT_EQ(num(j.get(), "limit"), 2);
  EXPECT_EQ(json_array_size(json_object_get(j.get(), "members")), 2u);
  j = json_body(admin_http(server, "GET", base + "?limit=-3&offset=99"));
  EXPECT_EQ(num(j.get(), "limit"), 200);
  EXPECT_EQ(num(j.get(), "offset"), 5);
  EXPECT_EQ(num(j.get(), "count"), 0);
  j = json_body(admin_http(server, "GET", base + "?limit=99999&offset=abc"));
  EXPECT_EQ(num(j.get(), "limit"), 5000);
  EXPECT_EQ(num(j.get(), "offset"), 0);
  // q matches the decimal node id.
  j = json_body(admin_http(server, "GET", base + "?q=" + std::to_string(f.members[2].id)));
  EXPECT_GE(num(j.get(), "filtered_total"), 1);
  EXPECT_NE(find_member(j.get(), f.members[2].id), nullptr);
  EXPECT_EQ(num(j.get(), "total"), 5);
  // q matches the hostname, case-insensitively; listed rows carry it.
  Daemon named = register_daemon(c, rdv::JsonPtr(json_pack("{s:s}", "hostname", "web-01")).get());
  ASSERT_TRUE(is_ok(join(c, named, f.net), "join_network_ok"));
  j = json_body(admin_http(server, "GET", base + "?q=WEB-0"));
  EXPECT_EQ(num(j.get(), "filtered_total"), 1) << rdv::json_dump_compact(j.get());
  EXPECT_EQ(num(j.get(), "total"), 6);
  EXPECT_EQ(str(find_member(j.get(), named.id), "hostname"), "web-01");
  j = json_body(admin_http(server, "GET", base + "?offset=5"));
  EXPECT_EQ(str(find_member(j.get(), named.id), "hostname"), "web-01") << rdv::json_dump_compact(j.get());
  j = json_body(admin_http(server, "GET", base + "?q=no-such-host"));
  EXPECT_EQ(num(j.get(), "filtered_total"), 0);
  EXPECT_EQ(json_array_size(json_object_get(j.get(), "members")), 0u);
}

TEST_F(AdminApi, MembersErrors) {
  HttpResponse r = admin_http(server, "GET", "/api/admin/networks/65536/members");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "bad request: network id must be uint16\n");
  r = admin_http(server, "GET", "/api/admin/networks/-1/members");
  EXPECT_EQ(r.body, "bad request: network id must be uint16\n");
  r = admin_http(server, "DELETE", "/api/admin/networks/1/members/4294967296?reason=x");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "bad request: node id must be uint32\n");
  r = admin_http(server, "GET", "/api/admin/networks/999/members");
  EXPECT_EQ(r.status, 404) << r.body;
  for (const char* p : {"/api/admin/networks/1", "/api/admin/networks/1/other", "/api/admin/networks/1/members/2/x",
                        "/api/admin/networks/1/members/2/role/x"}) {
    r = admin_http(server, "GET", p);
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_EQ(r.body, "not found\n") << p;
  }
  r = admin_http(server, "POST", "/api/admin/networks/1/members");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
  r = admin_http(server, "GET", "/api/admin/networks/1/members/2");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "DELETE");
  r = admin_http(server, "GET", "/api/admin/networks/1/members/2/role");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "PUT, POST");
}

TEST_F(AdminApi, OperatorKickOverTheProtocol) {
  Conn c = server.connect();
  Fixture f = make_network(c, server, 2);
  std::string member = "/api/admin/networks/" + std::to_string(f.net) + "/members/";
  HttpResponse r = admin_http(server, "DELETE", member + std::to_string(f.members[0].id));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "bad request: reason is required\n");
  r = admin_http(server, "DELETE", member + std::to_string(f.members[0].id) + "?reason=%20%20");
  EXPECT_EQ(r.body, "bad request: reason is required\n");
  r = admin_http(server, "DELETE", member + std::to_string(f.owner.id) + "?reason=x");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "cannot kick the network owner\n");
  r = admin_http(server, "DELETE", "/api/admin/networks/999/members/1?reason=x");
  EXPECT_EQ(r.status, 404) << r.body;

  r = admin_http(server, "DELETE", member + std::to_string(f.members[0].id) + "/?reason=abuse+report");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_TRUE(json_is_true(json_object_get(j.get(), "ok")));
  EXPECT_EQ(num(j.get(), "network_id"), f.net);
  EXPECT_EQ(num(j.get(), "node_id"), f.members[0].id);
  EXPECT_TRUE(is_error_containing(member_role(c, f.net, f.members[0].id), "is not a member"));
  EXPECT_EQ(admin_members_count(c, server, f.net), 2);
  // Kicking again: not a member → 400 with the registry's text.
  r = admin_http(server, "DELETE", member + std::to_string(f.members[0].id) + "?reason=again");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("is not a member"), std::string::npos) << r.body;

  // Audited with the operator's reason, newest first.
  j = json_body(admin_http(server, "GET", "/api/admin/audit/recent?n=1"));
  ASSERT_EQ(num(j.get(), "count"), 1) << rdv::json_dump_compact(j.get());
  const json_t* e = json_array_get(json_object_get(j.get(), "events"), 0);
  EXPECT_EQ(str(e, "action"), "member.kicked");
  EXPECT_EQ(num(e, "network_id"), f.net);
  EXPECT_EQ(num(e, "node_id"), f.members[0].id);
  EXPECT_NE(str(e, "details").find("by=operator"), std::string::npos) << str(e, "details");
  EXPECT_NE(str(e, "details").find("reason=abuse report"), std::string::npos) << str(e, "details");
  EXPECT_EQ(str(e, "hash").size(), 64u);

  // Committed: a SIGKILLed registry's successor still has the member gone.
  Conn c2 = kill_registry(server);
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(is_error_containing(member_role(c2, f.net, f.members[0].id), "is not a member"));
  EXPECT_TRUE(is_ok(member_role(c2, f.net, f.members[1].id), "get_member_role_ok"));
  EXPECT_EQ(admin_members_count(c2, server, f.net), 2);
  // And the members listing agrees.
  j = json_body(admin_http(server, "GET", "/api/admin/networks/" + std::to_string(f.net) + "/members"));
  EXPECT_EQ(num(j.get(), "total"), 2);
  EXPECT_EQ(find_member(j.get(), f.members[0].id), nullptr);
}

TEST_F(AdminApi, OperatorRoleChange) {
  Conn c = server.connect();
  Fixture f = make_network(c, server, 1);
  std::string role = "/api/admin/networks/" + std::to_string(f.net) + "/members/" + std::to_string(f.members[0].id) + "/role";
  HttpResponse r = admin_http(server, "PUT", role, R"({"role":" Admin ","reason":"on call"})");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_TRUE(json_is_true(json_object_get(j.get(), "ok")));
  EXPECT_EQ(num(j.get(), "network_id"), f.net);
  EXPECT_EQ(num(j.get(), "node_id"), f.members[0].id);
  EXPECT_EQ(str(j.get(), "role"), "admin");
  rdv::JsonPtr m = member_role(c, f.net, f.members[0].id);
  ASSERT_TRUE(is_ok(m, "get_member_role_ok"));
  EXPECT_EQ(str(m.get(), "role"), "admin");
  r = admin_http(server, "POST", role, R"({"role":"member"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(member_role(c, f.net, f.members[0].id).get(), "role"), "member");

  for (const char* body : {R"({"role":"owner"})", R"({"role":""})", R"({})"}) {
    r = admin_http(server, "PUT", role, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.body, "bad request: role must be \"admin\" or \"member\"\n") << body;
  }
  r = admin_http(server, "PUT", role, "not json");
  EXPECT_EQ(r.status, 400);
  r = admin_http(server, "PUT", role, std::string(8193, ' '));
  EXPECT_EQ(r.status, 400);
  std::string owner_role = "/api/admin/networks/" + std::to_string(f.net) + "/members/" + std::to_string(f.owner.id) + "/role";
  r = admin_http(server, "PUT", owner_role, R"({"role":"member"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(str(member_role(c, f.net, f.owner.id).get(), "role"), "owner");
  r = admin_http(server, "PUT", "/api/admin/networks/999/members/1/role", R"({"role":"member"})");
  EXPECT_EQ(r.status, 404) << r.body;
}

// ---- audit (row 17) ----

TEST_F(AdminApi, AuditRecentNewestFirst) {
  Conn c = server.connect();
  Fixture f = make_network(c, server, 2);  // network.created, member.joined ×2 at least
  HttpResponse r = admin_http(server, "GET", "/api/admin/audit/recent");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr all = json_body(r);
  json_t* events = json_object_get(all.get(), "events");
  int64_t total = num(all.get(), "count");
  ASSERT_GE(total, 3) << r.body;
  ASSERT_EQ(total, int64_t(json_array_size(events)));
  // Newest first: the last join is the first entry; timestamps never increase down the list.
  EXPECT_EQ(num(json_array_get(events, 0), "node_id"), f.members[1].id) << r.body;
  for (size_t i = 1; i < json_array_size(events); i++)
    EXPECT_GE(str(json_array_get(events, i - 1), "timestamp"), str(json_array_get(events, i), "timestamp"));
  for (const char* q : {"?n=abc", "?n=0", "?n=-2", "?n=100000"})
    EXPECT_EQ(num(json_body(admin_http(server, "GET", std::string("/api/admin/audit/recent") + q)).get(), "count"),
              total) << q;
  rdv::JsonPtr two = json_body(admin_http(server, "GET", "/api/admin/audit/recent?n=2"));
  EXPECT_EQ(num(two.get(), "count"), 2);
  EXPECT_EQ(str(json_array_get(json_object_get(two.get(), "events"), 1), "hash"),
            str(json_array_get(events, 1), "hash"));
  r = admin_http(server, "POST", "/api/admin/audit/recent");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
}

// ---- replication status (row 15) ----

TEST_F(AdminApi, ReplicationStatusOnALeader) {
  HttpResponse r = admin_http(server, "GET", "/api/admin/replication-status");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_GE(num(j.get(), "term"), 1) << r.body;
  EXPECT_TRUE(json_is_false(json_object_get(j.get(), "is_standby"))) << r.body;
  EXPECT_EQ(num(j.get(), "subscribers"), 0) << r.body;
  // The Go keys, then ours (docs/replication.md "Lag"); no standby ever subscribed, so no
  // last push time.
  EXPECT_FALSE(has(j.get(), "last_push_unix")) << r.body;
  EXPECT_EQ(str(j.get(), "role"), "leader") << r.body;
  EXPECT_EQ(num(j.get(), "epoch"), num(j.get(), "term")) << r.body;
  EXPECT_TRUE(json_is_array(json_object_get(j.get(), "standbys"))) << r.body;
  EXPECT_TRUE(json_is_object(json_object_get(j.get(), "sync"))) << r.body;
  r = admin_http(server, "PUT", "/api/admin/replication-status");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
}

// ---- runtime (rows 11, 12, 18–21) ----

TEST_F(AdminApi, RuntimeFigures) {
  HttpResponse r = admin_http(server, "GET", "/api/runtime");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_GT(num(j.get(), "server_time"), 0);
  EXPECT_GE(num(j.get(), "num_cpu"), 1);
  EXPECT_GT(num(j.get(), "open_fds"), 0);
  EXPECT_EQ(num(j.get(), "nodes_total"), 0) << r.body;
  EXPECT_EQ(num(j.get(), "networks_total"), 0) << r.body;
  json_t* workers = json_object_get(j.get(), "workers");
  ASSERT_TRUE(json_is_array(workers)) << r.body;
  bool registry = false;
  for (size_t i = 0; i < json_array_size(workers); i++)
    if (str(json_array_get(workers, i), "name") == "registry") {
      registry = true;
      EXPECT_EQ(num(json_array_get(workers, i), "pid"), server.worker("rendezvous-registry"));
      EXPECT_GT(num(json_array_get(workers, i), "threads"), 0);
    }
  EXPECT_TRUE(registry) << r.body;
  EXPECT_GT(num(json_object_get(j.get(), "store"), "map_size_bytes"), 0) << r.body;
  json_t* pipeline = json_object_get(j.get(), "pipeline");
  ASSERT_TRUE(json_is_object(pipeline)) << r.body;
  EXPECT_GT(num(pipeline, "loop_passes_total"), 0) << r.body;
  EXPECT_TRUE(json_is_number(json_object_get(pipeline, "loop_passes_per_sec"))) << r.body;
  EXPECT_EQ(num(pipeline, "loop_passes_window_ms"), 250);
  EXPECT_TRUE(json_is_object(json_object_get(pipeline, "commit_wait_seconds"))) << r.body;
}

TEST_F(AdminApi, HealthAfterACommit) {
  Conn c = server.connect();
  register_daemon(c);
  HttpResponse r = admin_http(server, "GET", "/api/health");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_GE(num(j.get(), "commits_total"), 1) << r.body;
  EXPECT_EQ(num(j.get(), "commit_failures_total"), 0) << r.body;
  EXPECT_GT(json_number_value(json_object_get(j.get(), "max_commit_duration_ms")), 0) << r.body;
  EXPECT_GT(num(j.get(), "map_used_bytes"), 0) << r.body;
  EXPECT_EQ(num(j.get(), "replication_subscribers"), 0) << r.body;
  EXPECT_GT(num(j.get(), "server_time"), 0);
  EXPECT_EQ(admin_http(server, "POST", "/api/health").status, 405);
}

TEST_F(AdminApi, DebugLocksAndPprof) {
  HttpResponse r = http(server, "GET", "/debug/locks");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_FALSE(str(j.get(), "captured_at").empty());
  EXPECT_TRUE(json_is_integer(json_object_get(j.get(), "verify_queue_depth"))) << r.body;
  EXPECT_TRUE(json_is_object(json_object_get(j.get(), "commit_wait_seconds"))) << r.body;
  EXPECT_GT(num(json_object_get(j.get(), "threads"), "registry"), 0) << r.body;

  r = http(server, "GET", "/debug/pprof/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("/debug/pprof/cmdline"), std::string::npos) << r.body;
  r = http(server, "GET", "/debug/pprof/cmdline");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("rendezvous-registry"), std::string::npos) << r.body;
  std::string registry_pid = std::to_string(server.worker("rendezvous-registry"));
  for (const char* p : {"/debug/pprof/profile", "/debug/pprof/trace", "/debug/pprof/heap"}) {
    r = http(server, "GET", p);
    EXPECT_EQ(r.status, 501) << p;
    EXPECT_NE(r.body.find(registry_pid), std::string::npos) << p << ": " << r.body;
  }
  EXPECT_NE(http(server, "GET", "/debug/pprof/profile").body.find("perf record"), std::string::npos);
  EXPECT_EQ(http(server, "GET", "/debug/pprof/symbol").body, "num_symbols: 0\n");
  r = http(server, "GET", "/debug/pprof/nonsense");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "Unknown profile\n");
}

TEST_F(AdminApi, GcAndProfileRates) {
  HttpResponse r = admin_http(server, "POST", "/api/admin/runtime/gc");
  ASSERT_EQ(r.status, 200) << r.body;
  rdv::JsonPtr j = json_body(r);
  EXPECT_TRUE(json_is_true(json_object_get(j.get(), "ok")));
  EXPECT_GE(num(j.get(), "duration_ms"), 0);
  r = admin_http(server, "GET", "/api/admin/runtime/gc");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "POST");

  r = admin_http(server, "PUT", "/api/admin/runtime/profile-rates", R"({"mutex_fraction":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json_body(r);
  EXPECT_EQ(num(j.get(), "mutex_fraction"), 5);
  EXPECT_EQ(json_object_get(j.get(), "block_rate_ns"), nullptr);
  // The current fraction is echoed when only the block rate changes.
  j = json_body(admin_http(server, "POST", "/api/admin/runtime/profile-rates", R"({"block_rate_ns":1000})"));
  EXPECT_EQ(num(j.get(), "mutex_fraction"), 5);
  EXPECT_EQ(num(j.get(), "block_rate_ns"), 1000);
  EXPECT_EQ(admin_http(server, "PUT", "/api/admin/runtime/profile-rates", "nope").status, 400);
  EXPECT_EQ(admin_http(server, "PUT", "/api/admin/runtime/profile-rates", R"({"mutex_fraction":"x"})").status, 400);
  EXPECT_EQ(admin_http(server, "PUT", "/api/admin/runtime/profile-rates", std::string(1025, ' ')).status, 400);
  r = admin_http(server, "GET", "/api/admin/runtime/profile-rates");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "PUT, POST");
}

// ---- verify (rows 4–5): no verdict issuer in this server ----

TEST_F(AdminApi, VerifyWithoutAVerdictIssuer) {
  HttpResponse r = http(server, "POST", "/api/v1/verify", R"({"envelope":"e","signature":"s"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "verification not available\n");
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
  r = http(server, "GET", "/api/v1/verify");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "POST");
  r = http(server, "POST", "/api/v1/verify", std::string(8193, 'x'));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("bad request", 0), 0u) << r.body;

  r = http(server, "GET", "/api/v1/verify/keys");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"keys":[]})");
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
  r = http(server, "POST", "/api/v1/verify/keys");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
}

TEST_F(AdminApi, VerifyRateLimitsPerEndpoint) {
  // 60 POSTs per minute per IP; the window starts at the first request, so this is exact.
  for (int i = 0; i < 60; i++) ASSERT_EQ(http(server, "POST", "/api/v1/verify", "{}").status, 503) << i;
  HttpResponse r = http(server, "POST", "/api/v1/verify", "{}");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, "Too Many Requests\n");
  // The keys endpoint has its own bucket of 120.
  for (int i = 0; i < 120; i++) ASSERT_EQ(http(server, "GET", "/api/v1/verify/keys").status, 200) << i;
  EXPECT_EQ(http(server, "GET", "/api/v1/verify/keys").status, 429);
}

// ---- a hot standby refuses operator mutations (409 naming the leader) ----

class AdminApiStandby : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-standby", "127.0.0.1:9"};
    ServerTest::SetUp();
  }
};

TEST_F(AdminApiStandby, MutationsAre409AndStatusSaysStandby) {
  HttpResponse r = admin_http(server, "DELETE", "/api/admin/networks/1/members/2?reason=x");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("127.0.0.1:9"), std::string::npos) << r.body;
  r = admin_http(server, "PUT", "/api/admin/networks/1/members/2/role", R"({"role":"admin"})");
  EXPECT_EQ(r.status, 409) << r.body;
  rdv::JsonPtr j = json_body(admin_http(server, "GET", "/api/admin/replication-status"));
  EXPECT_TRUE(json_is_true(json_object_get(j.get(), "is_standby"))) << rdv::json_dump_compact(j.get());
}

class AdminApiRemote : public ServerTest {
 protected:
  void SetUp() override {
    ip_ = non_loopback_ipv4();
    if (ip_.empty()) GTEST_SKIP() << "this host has no non-loopback IPv4 address";
    server.bind_host = "0.0.0.0";
    ServerTest::SetUp();
  }
  std::string ip_;
};

TEST_F(AdminApiRemote, DebugRoutesAreLocalhostOnly) {
  for (const char* p : {"/debug/locks", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile",
                        "/debug/pprof/heap"}) {
    HttpResponse h;
    ASSERT_TRUE(http_get_ip(ip_, server.http_port, p, &h)) << p;
    EXPECT_EQ(h.status, 403) << p;
    EXPECT_EQ(h.body, "Forbidden\n") << p;
  }
  // Admin routes are reachable from elsewhere with the token.
  HttpResponse h;
  ASSERT_TRUE(http_get_ip(ip_, server.http_port, "/api/admin/networks", &h, 3000,
                          {"X-Admin-Token: " + server.admin_token}));
  EXPECT_EQ(h.status, 200) << h.body;
}

}  // namespace
}  // namespace rt
