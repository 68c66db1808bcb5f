// The pending-registration accept queue (-accept-mode manual) end to end over the real
// protocol: a new key's register is held with an error containing "pending", listed at
// GET /api/admin/pending, approved or rejected through the registry (audited with the
// operator's reason), and an approved key registers on its next attempt. Pending entries
// survive a restart.
#include "accept_queue.h"
#include "operator_helpers.h"
#include "store.h"

namespace rt {
namespace {

class Accept : public ::testing::Test {
 protected:
  void SetUp() override {
    server.extra_args = {"-accept-mode", "manual"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  rdv::JsonPtr pending() {
    HttpResponse r = admin_http(server, "GET", "/api/admin/pending");
    EXPECT_EQ(r.status, 200) << r.body;
    return json_body(r);
  }
  Server server;
};

TEST_F(Accept, HeldThenApprovedRegistersOnNextAttempt) {
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr r = do_register(c, k);
  ASSERT_TRUE(is_error_containing(r, "pending")) << dump(r.get());
  // Retrying does not queue the key twice.
  ASSERT_TRUE(is_error_containing(do_register(c, k), "pending"));
  Key other = Key::generate();
  ASSERT_TRUE(is_error_containing(do_register(c, other), "pending"));

  rdv::JsonPtr list = pending();
  ASSERT_TRUE(list);
  EXPECT_EQ(num(list.get(), "count"), 2);
  json_t* first = json_array_get(json_object_get(list.get(), "pending"), 0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(str(first, "public_key"), k.pub_b64());
  EXPECT_EQ(str(first, "listen_addr"), kPublicAddr);
  EXPECT_FALSE(str(first, "observed_addr").empty());
  EXPECT_GT(num(first, "requested_at"), 0);
  int64_t id = num(first, "id");
  ASSERT_GT(id, 0);
  EXPECT_TRUE(newest_audit(server, "registration.pending"));

  HttpResponse h = admin_http(server, "POST", "/api/admin/pending/" + std::to_string(id) + "/approve?reason=known%20host");
  ASSERT_EQ(h.status, 200) << h.body;
  rdv::JsonPtr body = json_body(h);
  EXPECT_TRUE(json_is_true(json_object_get(body.get(), "ok")));
  EXPECT_EQ(num(body.get(), "id"), id);
  EXPECT_EQ(str(body.get(), "decision"), "approved");
  rdv::JsonPtr audit = newest_audit(server, "registration.approved");
  ASSERT_TRUE(audit);
  EXPECT_NE(str(audit.get(), "details").find("known host"), std::string::npos) << dump(audit.get());

  EXPECT_TRUE(is_ok(do_register(c, k), "register_ok"));
  // Registered keys re-register without asking again.
  EXPECT_TRUE(is_ok(do_register(c, k), "register_ok"));
  list = pending();
  EXPECT_EQ(num(list.get(), "count"), 1);

  // Reject the other one, with the reason in the body; it is gone from the list and its next
  // attempt waits again.
  int64_t other_id = num(json_array_get(json_object_get(list.get(), "pending"), 0), "id");
  h = admin_http(server, "POST", "/api/admin/pending/" + std::to_string(other_id) + "/reject", R"({"reason":"unknown"})");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(str(json_body(h).get(), "decision"), "rejected");
  audit = newest_audit(server, "registration.rejected");
  ASSERT_TRUE(audit);
  EXPECT_NE(str(audit.get(), "details").find("unknown"), std::string::npos);
  EXPECT_EQ(num(pending().get(), "count"), 0);
  EXPECT_TRUE(is_error_containing(do_register(c, other), "pending"));

  // A decided id is not found any more.
  h = admin_http(server, "POST", "/api/admin/pending/" + std::to_string(id) + "/approve");
  EXPECT_EQ(h.status, 404) << h.body;
}

TEST_F(Accept, PendingSurvivesRestartAndApprovalAfterIt) {
  Key k = Key::generate();
  {
    Conn c = server.connect();
    ASSERT_TRUE(is_error_containing(do_register(c, k), "pending"));
  }
  restart(server);
  rdv::JsonPtr list = pending();
  ASSERT_EQ(num(list.get(), "count"), 1);
  int64_t id = num(json_array_get(json_object_get(list.get(), "pending"), 0), "id");
  ASSERT_EQ(admin_http(server, "POST", "/api/admin/pending/" + std::to_string(id) + "/approve").status, 200);
  restart(server);  // the approval is durable too
  Conn c = server.connect();
  EXPECT_TRUE(is_ok(do_register(c, k), "register_ok"));
}

TEST_F(Accept, AccessMethodsAndBadIds) {
  expect_admin_only(server, "GET", "/api/admin/pending");
  expect_admin_only(server, "POST", "/api/admin/pending/1/approve");
  expect_admin_only(server, "POST", "/api/admin/pending/1/reject");
  expect_405(server, "POST", "/api/admin/pending", "GET");
  expect_405(server, "GET", "/api/admin/pending/1/approve", "POST");
  expect_405(server, "DELETE", "/api/admin/pending/1/reject", "POST");
  for (const char* bad : {"x", "0", "-1", "4294967296"}) {
    HttpResponse r = admin_http(server, "POST", std::string("/api/admin/pending/") + bad + "/approve");
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.body, "bad request: pending id must be uint32\n") << bad;
  }
  HttpResponse r = admin_http(server, "POST", "/api/admin/pending/77/reject");
  EXPECT_EQ(r.status, 404) << r.body;
  r = admin_http(server, "POST", "/api/admin/pending/1/approve", std::string(9000, 'x'));
  EXPECT_EQ(r.status, 400);
  rdv::JsonPtr list = pending();
  EXPECT_EQ(num(list.get(), "count"), 0);
  EXPECT_TRUE(json_is_array(json_object_get(list.get(), "pending")));
}

TEST_F(Accept, QueueIsBounded) {
  // Filling 10 000 entries over the protocol would take long; the bound is a counter in the
  // store, so the test sets it while the server is stopped (the registry reads it per request).
  ASSERT_NE(server.stop(), -1);
  {
    rdv::Env env;
    rdv::EnvOptions o;
    o.dir = server.data_dir;
    std::string err;
    ASSERT_TRUE(env.open(o, &err)) << err;
    rdv::Txn t;
    ASSERT_EQ(env.begin_write(&t), 0);
    ASSERT_EQ(t.put(rdv::Db::Accept, rdv::accept::kCountKey, rdv::key_u32(uint32_t(rdv::accept::kMaxPending))), 0);
    ASSERT_EQ(t.commit(), 0);
  }
  server.new_ports();
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn c = server.connect();
  EXPECT_TRUE(is_error(do_register(c, Key::generate()), "too many pending registrations (max 10000); try again later"));
  EXPECT_EQ(num(pending().get(), "count"), 0);  // nothing was stored
}

TEST(AcceptAuto, AutoModeRegistersAtOnce) {
  Server s;
  std::string err;
  ASSERT_TRUE(s.start(&err)) << err;
  Conn c = s.connect();
  EXPECT_TRUE(is_ok(do_register(c, Key::generate()), "register_ok"));
  HttpResponse r = admin_http(s, "GET", "/api/admin/pending");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(num(json_body(r).get(), "count"), 0);
}

TEST(AcceptStandby, DecisionsAreRefusedWith409) {
  Server leader, standby;
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  ASSERT_TRUE(start_standby(standby, leader, &err)) << err;
  HttpResponse r = admin_http(standby, "POST", "/api/admin/pending/1/approve");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(admin_http(standby, "GET", "/api/admin/pending").status, 200);
}

}  // namespace
}  // namespace rt
