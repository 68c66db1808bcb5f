// Audit delivery (worker-registry/delivery.h; ops-spec §7.3, §8): the audit webhook and the
// audit export against a real HTTP receiver run by the test (http_receiver.h) — signed bodies
// delivered once per event, retries, the dead-letter queue, redelivery after a crash, the
// configuration surviving a restart, the three export formats, node.online / node.offline.
//
// Servers start with -allow-private-endpoints 127.0.0.0/8 so the loopback receiver may be
// called, and RENDEZVOUS_DELIVERY_BACKOFF_MS=50 so retries do not wait 1 s and 2 s.
#include <signal.h>
#include <sodium.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>

#include "http_receiver.h"
#include "protocol.h"

namespace rt {
namespace {

rdv::JsonPtr admin_call(Conn& c, const Server& s, json_t* req) {
  json_object_set_new(req, "admin_token", json_string(s.admin_token.c_str()));
  return call(c, req);
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// The value of header `name` in a received request ("" when absent).
std::string header(const ReceivedRequest& r, const std::string& name) {
  std::string want = lower(name) + ":";
  size_t pos = 0;
  while (pos < r.headers.size()) {
    size_t end = r.headers.find('\n', pos);
    std::string line = r.headers.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lower(line).rfind(want, 0) == 0) {
      std::string v = line.substr(want.size());
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return "";
}

std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[2 * sizeof mac + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return hex;
}

rdv::JsonPtr parse(const std::string& body) { return rdv::JsonPtr(json_loads(body.c_str(), 0, nullptr)); }

HttpReply status_reply(int status) {
  HttpReply r;
  r.status = status;
  r.body = "{}";
  return r;
}

// The node_id in a webhook event's details (0 when none).
int64_t event_node(const json_t* ev) { return num(json_object_get(ev, "details"), "node_id", 0); }

bool poll_until(const std::function<bool()>& done, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  while (mono_ms() < deadline) {
    if (done()) return true;
    sleep_ms(20);
  }
  return done();
}

class Delivery : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  void start(std::vector<std::string> more = {}) {
    server.extra_args = {"-allow-private-endpoints", "127.0.0.0/8"};
    for (auto& a : more) server.extra_args.push_back(a);
    server.extra_env = {"RENDEZVOUS_DELIVERY_BACKOFF_MS=50"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void set_webhook(const std::string& url, const std::string& secret = "") {
    Conn c = server.connect();
    json_t* req = json_pack("{s:s,s:s}", "type", "set_webhook", "url", url.c_str());
    if (!secret.empty()) json_object_set_new(req, "secret", json_string(secret.c_str()));
    ASSERT_TRUE(is_ok(admin_call(c, server, req), "set_webhook_ok"));
  }
  rdv::JsonPtr get(const char* type) {
    Conn c = server.connect();
    return admin_call(c, server, json_pack("{s:s}", "type", type));
  }
  // Webhook events received, parsed, with their requests.
  std::vector<std::pair<rdv::JsonPtr, ReceivedRequest>> events(const HttpReceiver& rx) {
    std::vector<std::pair<rdv::JsonPtr, ReceivedRequest>> out;
    for (auto& r : rx.received()) out.emplace_back(parse(r.body), r);
    return out;
  }
  // Received node.registered events naming `id`.
  size_t registered_events(const HttpReceiver& rx, uint32_t id) {
    size_t n = 0;
    for (auto& [ev, req] : events(rx))
      if (str(ev.get(), "action") == "node.registered" && event_node(ev.get()) == int64_t(id)) n++;
    return n;
  }

  Server server;
};

TEST_F(Delivery, WebhookOncePerEventSignedAndRedacted) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start();
  set_webhook(rx.url("/hook"), "hook-secret-1");
  Conn c = server.connect();
  std::vector<Daemon> ds;
  for (int i = 0; i < 3; i++) ds.push_back(register_daemon(c));
  ASSERT_TRUE(poll_until([&] { return registered_events(rx, ds.back().id) >= 1; }, 10000)) << rx.count();
  // Every event so far arrived; delivered counts them (the counter is written after the POST).
  ASSERT_TRUE(poll_until([&] { return num(get("get_webhook").get(), "delivered") == int64_t(rx.count()); }, 5000))
      << dump(get("get_webhook").get()) << " received " << rx.count();
  std::set<int64_t> ids;
  std::vector<std::string> actions;
  for (auto& [ev, req] : events(rx)) {
    ASSERT_TRUE(ev) << req.body;
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.path, "/hook");
    EXPECT_EQ(header(req, "Content-Type"), "application/json");
    EXPECT_EQ(header(req, "X-Pilot-Signature-256"), hmac_hex("hook-secret-1", req.body)) << req.headers;
    EXPECT_TRUE(ids.insert(num(ev.get(), "event_id")).second) << "event posted twice: " << req.body;
    EXPECT_GT(num(ev.get(), "event_id"), 0);
    std::string ts = str(ev.get(), "timestamp");
    EXPECT_EQ(ts.size(), 20u) << ts;  // 2006-01-02T15:04:05Z: whole seconds, RFC 3339 nano form
    EXPECT_EQ(ts.back(), 'Z');
    actions.push_back(str(ev.get(), "action"));
    EXPECT_EQ(req.body.find("hook-secret-1"), std::string::npos) << req.body;
  }
  // The first event is the webhook's own configuration (redacted: no secret, signed=true).
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0], "webhook.set");
  auto evs = events(rx);
  EXPECT_EQ(str(json_object_get(evs[0].first.get(), "details"), "signed"), "true") << evs[0].second.body;
  for (auto& d : ds) EXPECT_EQ(registered_events(rx, d.id), 1u) << d.id;
  rdv::JsonPtr g = get("get_webhook");
  EXPECT_EQ(num(g.get(), "failed"), 0);
  EXPECT_EQ(num(g.get(), "dlq_size"), 0);
}

TEST_F(Delivery, WebhookRetriesAfter500) {
  std::atomic<int> calls{0};
  HttpReceiver rx([&](const ReceivedRequest&) { return status_reply(calls++ < 2 ? 500 : 200); });
  ASSERT_TRUE(rx.ok());
  start();
  set_webhook(rx.url("/hook"));
  // webhook.set: 500, 500, then 200 on the third attempt.
  ASSERT_TRUE(poll_until([&] { return num(get("get_webhook").get(), "delivered") >= 1; }, 10000))
      << dump(get("get_webhook").get());
  auto evs = events(rx);
  ASSERT_GE(evs.size(), 3u);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(str(evs[i].first.get(), "action"), "webhook.set");
    EXPECT_EQ(num(evs[i].first.get(), "event_id"), num(evs[0].first.get(), "event_id"));  // the same event again
    EXPECT_EQ(evs[i].second.body, evs[0].second.body);  // rebuilt, not drained
    EXPECT_EQ(header(evs[i].second, "X-Pilot-Signature-256"), "");  // no secret, no header
  }
  rdv::JsonPtr g = get("get_webhook");
  EXPECT_EQ(num(g.get(), "failed"), 0);
  EXPECT_EQ(num(g.get(), "dlq_size"), 0);
}

TEST_F(Delivery, WebhookClientErrorAndExhaustionGoToTheDeadLetterQueue) {
  std::atomic<bool> always_500{false};
  HttpReceiver rx([&](const ReceivedRequest&) { return status_reply(always_500 ? 503 : 404); });
  ASSERT_TRUE(rx.ok());
  start();
  set_webhook(rx.url("/gone"), "k");
  // 404: no retry, dead-lettered.
  ASSERT_TRUE(poll_until([&] { return num(get("get_webhook").get(), "dlq_size") >= 1; }, 10000))
      << dump(get("get_webhook").get());
  EXPECT_EQ(rx.count(), 1u);
  always_500 = true;
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  // 503 three times: exhausted, dead-lettered.
  ASSERT_TRUE(poll_until([&] { return registered_events(rx, d.id) >= 3; }, 10000)) << rx.count();
  ASSERT_TRUE(poll_until([&] { return num(get("get_webhook").get(), "dlq_size") >= 2; }, 10000))
      << dump(get("get_webhook").get());
  EXPECT_EQ(registered_events(rx, d.id), 3u);
  rdv::JsonPtr dlq = get("get_webhook_dlq");
  ASSERT_TRUE(is_ok(dlq, "get_webhook_dlq_ok"));
  rdv::JsonPtr g = get("get_webhook");
  EXPECT_EQ(num(g.get(), "failed"), num(dlq.get(), "count"));
  EXPECT_EQ(num(g.get(), "dlq_size"), num(dlq.get(), "count"));
  EXPECT_EQ(num(g.get(), "delivered"), 0);
  const json_t* events = json_object_get(dlq.get(), "events");
  ASSERT_GE(json_array_size(events), 2u) << dump(dlq.get());
  EXPECT_EQ(str(json_array_get(events, 0), "action"), "webhook.set");
  const json_t* second = nullptr;
  for (size_t i = 0; i < json_array_size(events); i++)
    if (str(json_array_get(events, i), "action") == "node.registered") second = json_array_get(events, i);
  ASSERT_NE(second, nullptr) << dump(dlq.get());
  EXPECT_EQ(event_node(second), int64_t(d.id)) << dump(second);
  EXPECT_GT(num(second, "event_id"), num(json_array_get(events, 0), "event_id"));
  EXPECT_EQ(str(second, "timestamp").size(), 20u);
  int64_t count = num(dlq.get(), "count");
  // The dead letters survive a restart (they are in the store).
  restart(server);
  dlq = get("get_webhook_dlq");
  EXPECT_EQ(num(dlq.get(), "count"), count) << dump(dlq.get());
}

TEST_F(Delivery, CrashRedeliversEveryEvent) {
  std::atomic<bool> hold_first{true};
  HttpReceiver rx([&](const ReceivedRequest&) {
    HttpReply r = status_reply(200);
    if (hold_first.exchange(false)) r.hold = true;  // the first POST never answers before the crash
    return r;
  });
  ASSERT_TRUE(rx.ok());
  start();
  set_webhook(rx.url("/hook"), "crash-key");
  ASSERT_TRUE(poll_until([&] { return rx.held() == 1; }, 10000));
  Conn c = server.connect();
  std::vector<Daemon> ds;
  for (int i = 0; i < 3; i++) ds.push_back(register_daemon(c));
  c.close();
  Conn after = kill_registry(server);
  ASSERT_TRUE(after.ok());
  Daemon late = register_daemon(after);
  ds.push_back(late);
  for (auto& d : ds)
    EXPECT_TRUE(poll_until([&] { return registered_events(rx, d.id) >= 1; }, 15000)) << "node " << d.id << " never arrived";
  rx.release_held();
  // The webhook.set event was in flight at the crash: sent again, with the same event_id.
  std::map<int64_t, int> per_id;
  for (auto& [ev, req] : events(rx)) {
    per_id[num(ev.get(), "event_id")]++;
    EXPECT_EQ(header(req, "X-Pilot-Signature-256"), hmac_hex("crash-key", req.body));
  }
  auto evs = events(rx);
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(str(evs[0].first.get(), "action"), "webhook.set");
  EXPECT_GE(per_id[num(evs[0].first.get(), "event_id")], 2);
}

TEST_F(Delivery, WebhookUrlAndSecretSurviveARestart) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start();
  set_webhook(rx.url("/hook"), "persist-key");
  ASSERT_TRUE(poll_until([&] { return num(get("get_webhook").get(), "delivered") >= 1; }, 10000));
  restart(server);
  rdv::JsonPtr g = get("get_webhook");
  EXPECT_TRUE(json_is_true(json_object_get(g.get(), "enabled"))) << dump(g.get());
  EXPECT_EQ(str(g.get(), "url"), rx.url("/hook"));
  EXPECT_GE(num(g.get(), "delivered"), 1);  // counters are in the store too
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  ASSERT_TRUE(poll_until([&] { return registered_events(rx, d.id) == 1; }, 10000));
  for (auto& [ev, req] : events(rx)) EXPECT_EQ(header(req, "X-Pilot-Signature-256"), hmac_hex("persist-key", req.body));
  // The webhook.set event was not sent again after the clean restart.
  size_t sets = 0;
  for (auto& [ev, req] : events(rx)) sets += str(ev.get(), "action") == "webhook.set";
  EXPECT_EQ(sets, 1u);
}

TEST_F(Delivery, SecretFromTheSecretFile) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  std::string file = server.dir + "/webhook-secret";
  {
    std::ofstream f(file);
    f << "file-secret\n";
  }
  start({"-webhook-secret-file", file});
  set_webhook(rx.url("/hook"));
  ASSERT_TRUE(poll_until([&] { return rx.count() >= 1; }, 10000));
  ReceivedRequest r = rx.received()[0];
  EXPECT_EQ(header(r, "X-Pilot-Signature-256"), hmac_hex("file-secret", r.body)) << r.headers;
  EXPECT_EQ(server.log().find("file-secret"), std::string::npos);
}

// ---- the audit export (§7.3) ----

class Export : public Delivery {
 protected:
  void set_export(const std::string& format, const std::string& endpoint, const std::string& token = "",
                  const std::string& index = "") {
    Conn c = server.connect();
    json_t* req = json_pack("{s:s,s:s,s:s}", "type", "set_audit_export", "format", format.c_str(), "endpoint",
                            endpoint.c_str());
    if (!token.empty()) json_object_set_new(req, "token", json_string(token.c_str()));
    if (!index.empty()) json_object_set_new(req, "index", json_string(index.c_str()));
    ASSERT_TRUE(is_ok(admin_call(c, server, req), "set_audit_export_ok"));
  }
  // The received request whose body mentions node `id` as node.registered, or null.
  const ReceivedRequest* find(const std::vector<ReceivedRequest>& all, const std::string& part) {
    for (auto& r : all)
      if (r.body.find(part) != std::string::npos) return &r;
    return nullptr;
  }
};

TEST_F(Export, Json) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start();
  set_export("json", rx.url("/json"));
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  std::string want = "\"action\":\"node.registered\",\"node_id\":" + std::to_string(d.id) + ",";
  ASSERT_TRUE(poll_until([&] { return find(rx.received(), want) != nullptr; }, 10000));
  auto all = rx.received();
  const ReceivedRequest* r = find(all, want);
  EXPECT_EQ(header(*r, "Content-Type"), "application/json");
  EXPECT_EQ(header(*r, "Authorization"), "");
  rdv::JsonPtr e = parse(r->body);
  ASSERT_TRUE(e) << r->body;
  EXPECT_EQ(str(e.get(), "timestamp").size(), 20u);
  EXPECT_EQ(str(e.get(), "hash").size(), 64u);
  EXPECT_EQ(r->body.rfind("{\"timestamp\":", 0), 0u) << r->body;
  ASSERT_TRUE(poll_until([&] { return num(get("get_audit_export").get(), "exported") == int64_t(rx.count()); }, 5000))
      << dump(get("get_audit_export").get());
  EXPECT_EQ(num(get("get_audit_export").get(), "dropped"), 0);
}

TEST_F(Export, SplunkHecWithToken) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start();
  set_export("splunk_hec", rx.url("/services/collector"), "hec-token-9", "main");
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  std::string want = "\"network_id\":0,\"node_id\":" + std::to_string(d.id) + "}}";
  ASSERT_TRUE(poll_until([&] { return find(rx.received(), want) != nullptr; }, 10000));
  auto all = rx.received();
  const ReceivedRequest* r = find(all, want);
  EXPECT_EQ(header(*r, "Authorization"), "Splunk hec-token-9");
  EXPECT_EQ(header(*r, "Content-Type"), "application/json");
  EXPECT_EQ(r->body.rfind("{\"time\":", 0), 0u) << r->body;
  EXPECT_NE(r->body.find(",\"source\":\"pilot-registry\",\"sourcetype\":\"pilot:audit\",\"index\":\"main\","
                         "\"event\":{\"action\":\"node.registered\""),
            std::string::npos)
      << r->body;
  // The token is never in the audit entries, hence never in what is exported.
  for (auto& q : all) EXPECT_EQ(q.body.find("hec-token-9"), std::string::npos) << q.body;
}

TEST_F(Export, SyslogCefToHostPort) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start();
  set_export("syslog_cef", "127.0.0.1:" + std::to_string(rx.port()));
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  std::string want = "cn2=" + std::to_string(d.id) + " cn2Label=node_id";
  ASSERT_TRUE(poll_until([&] { return find(rx.received(), want) != nullptr; }, 10000));
  auto all = rx.received();
  const ReceivedRequest* r = find(all, want);
  EXPECT_EQ(header(*r, "Content-Type"), "text/plain");
  EXPECT_EQ(r->body.rfind("CEF:0|Pilot|Registry|1.0|node.registered|node.registered|3|dvc=pilot-registry dvchost=registry "
                          "cs1=node.registered cs1Label=action cn1=0 cn1Label=network_id cn2=",
                          0),
            0u)
      << r->body;
}

TEST_F(Export, ClientErrorDropsWithoutRetry) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(400); });
  ASSERT_TRUE(rx.ok());
  start();
  set_export("json", rx.url("/bad"));
  ASSERT_TRUE(poll_until([&] { return num(get("get_audit_export").get(), "dropped") >= 1; }, 10000))
      << dump(get("get_audit_export").get());
  EXPECT_EQ(rx.count(), size_t(num(get("get_audit_export").get(), "dropped")));  // one POST each
  EXPECT_EQ(num(get("get_audit_export").get(), "exported"), 0);
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// ---- node.online / node.offline ----

TEST_F(Delivery, NodeOnlineAndOfflineReachTheWebhook) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start({"-stale-threshold", "1s"});
  set_webhook(rx.url("/hook"));
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  auto has = [&](const std::string& action, int64_t node) {
    for (auto& [ev, req] : events(rx))
      if (str(ev.get(), "action") == action && event_node(ev.get()) == node) return true;
    return false;
  };
  ASSERT_TRUE(poll_until([&] { return has("node.online", d.id); }, 10000)) << rx.count();
  // No heartbeat: past the stale threshold the reaper removes it, and it is offline.
  ASSERT_TRUE(poll_until([&] { return has("node.offline", d.id); }, 15000)) << rx.count();
  // It comes back: online again, once.
  Conn c2 = server.connect();
  rdv::JsonPtr r = do_register(c2, d.key, kPublicAddr, nullptr);
  ASSERT_TRUE(is_ok(r, "register_ok"));
  ASSERT_TRUE(poll_until([&] {
    size_t n = 0;
    for (auto& [ev, req] : events(rx)) n += str(ev.get(), "action") == "node.online" && event_node(ev.get()) == d.id;
    return n == 2;
  }, 10000));
  // In the audit log too.
  rdv::JsonPtr log = admin_call(c2, server, json_pack("{s:s,s:i}", "type", "get_audit_log", "limit", 100));
  EXPECT_NE(dump(log.get()).find("node.offline"), std::string::npos);
}

// A deregistered node is no longer online: when its key registers again (and gets its id
// back), that return is announced like one after a reap.
TEST_F(Delivery, ANodeThatDeregisteredIsOnlineAgainWhenItReturns) {
  HttpReceiver rx([](const ReceivedRequest&) { return status_reply(200); });
  ASSERT_TRUE(rx.ok());
  start({});
  set_webhook(rx.url("/hook"));
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  auto online = [&] {
    size_t n = 0;
    for (auto& [ev, req] : events(rx)) n += str(ev.get(), "action") == "node.online" && event_node(ev.get()) == d.id;
    return n;
  };
  ASSERT_TRUE(poll_until([&] { return online() == 1; }, 10000)) << rx.count();
  ASSERT_TRUE(is_ok(do_signed(c, d.key, "deregister", "deregister", d.id), "deregister_ok"));
  rdv::JsonPtr r = do_register(c, d.key, kPublicAddr, nullptr);
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  ASSERT_TRUE(poll_until([&] { return online() == 2; }, 10000)) << rx.count();
  // A registration of a node that is online says nothing more. Node events are appended with
  // the next batch, so a second write carries whatever the first one queued into the log.
  ASSERT_TRUE(is_ok(do_register(c, d.key, kPublicAddr, nullptr), "register_ok"));
  ASSERT_TRUE(is_ok(do_register(c, d.key, kPublicAddr, nullptr), "register_ok"));
  rdv::JsonPtr log = admin_call(c, server, json_pack("{s:s,s:i}", "type", "get_audit_log", "limit", 100));
  const json_t* entries = log ? json_object_get(log.get(), "entries") : nullptr;
  ASSERT_TRUE(json_is_array(entries)) << (log ? dump(log.get()) : "no reply");
  size_t logged = 0;
  for (size_t i = 0; i < json_array_size(entries); i++) {
    const json_t* e = json_array_get(entries, i);
    logged += str(e, "action") == "node.online" && num(e, "node_id") == d.id;
  }
  EXPECT_EQ(logged, 2u) << dump(log.get());
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// -audit-keep trims the log; an entry trimmed before the webhook got to it is counted as
// dropped, never skipped silently.
TEST_F(Delivery, EntriesTrimmedBeforeDeliveryCountAsDropped) {
  std::atomic<bool> hold_first{true};
  HttpReceiver rx([&](const ReceivedRequest&) {
    HttpReply r = status_reply(200);
    if (hold_first.exchange(false)) r.hold = true;
    return r;
  });
  ASSERT_TRUE(rx.ok());
  start({"-audit-keep", "3"});
  set_webhook(rx.url("/hook"));
  ASSERT_TRUE(poll_until([&] { return rx.held() == 1; }, 10000));  // webhook.set, unanswered
  Conn c = server.connect();
  for (int i = 0; i < 6; i++) register_daemon(c);
  rx.release_held();
  auto accounted = [&] {
    rdv::JsonPtr g = get("get_webhook");
    std::set<int64_t> ids;
    for (auto& [ev, req] : events(rx)) ids.insert(num(ev.get(), "event_id"));
    if (ids.empty()) return false;
    int64_t span = *ids.rbegin() - *ids.begin() + 1;
    return num(g.get(), "dropped") >= 1 && num(g.get(), "delivered") + num(g.get(), "dropped") == span &&
           num(g.get(), "delivered") == int64_t(ids.size());
  };
  ASSERT_TRUE(poll_until(accounted, 10000)) << dump(get("get_webhook").get()) << " received " << rx.count();
  EXPECT_NE(server.log().find("trimmed before delivery"), std::string::npos);
}

}  // namespace
}  // namespace rt
