// Rate limiting against the real server (wire-protocol §2.7, §10.1 items 14–15; ops-spec §10):
// a request refused by a limit is answered — JSON `{"type":"error","error":"rate limited: …",
// "retry_after_ms":N}`, binary 0xFF "rate limited: …", passthrough the JSON inside 0x00 — and
// not dispatched; the connection stays open, keeps its reply order and works again once the
// bucket refills. The whitelist file is watched and bypasses the limits.
//
// The limits apply only after a connection's 5 s grace, which is real time. So only three
// tests wait it out (JSON, binary, whitelist), and they find its end by the first refusal
// rather than by sleeping. The limits are set small by flags (-rate-limit-per-ip 3: a burst
// of 3 and one token every 333 ms).
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "protocol.h"

namespace rt {
namespace {

constexpr const char* kRefusal = "rate limited: too many requests from 127.0.0.1";

class RateLimit : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }
  void start(std::vector<std::string> args) {
    server.extra_args = std::move(args);
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  std::string lookup_body(uint32_t id) { return "{\"type\":\"lookup\",\"node_id\":" + std::to_string(id) + "}"; }

  // Sends a lookup every 100 ms until one is refused: the connection's grace is over and its
  // IP's bucket is empty. Returns the refusal (null and a failure after 20 s).
  rdv::JsonPtr wait_for_refusal(Conn& c, uint32_t id) {
    int64_t deadline = mono_ms() + 20000;
    while (mono_ms() < deadline) {
      rdv::JsonPtr r = c.request(lookup_body(id));
      if (!r) {
        ADD_FAILURE() << "connection lost while waiting for the grace to end";
        return nullptr;
      }
      if (str(r.get(), "type") == "error") return r;
      EXPECT_TRUE(is_ok(r, "lookup_ok"));
      sleep_ms(100);
    }
    ADD_FAILURE() << "no request was rate limited within 20 s";
    return nullptr;
  }

  // The bucket holds at most its burst (3): after one whole window it is full, and waiting
  // longer adds nothing. This wait is the limit's own arithmetic, not a guess at speed.
  void wait_for_full_bucket() { sleep_ms(1100); }

  size_t log_count(const std::string& needle) {
    std::string log = server.log();
    size_t n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) n++;
    return n;
  }
  bool wait_log(const std::string& needle, size_t count, int timeout_ms = 10000) {
    int64_t deadline = mono_ms() + timeout_ms;
    while (mono_ms() < deadline) {
      if (log_count(needle) >= count) return true;
      sleep_ms(50);
    }
    return false;
  }
  void write_file(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
  }
  uint64_t denied_metric(const std::string& kind) {
    HttpResponse h;
    if (!http_get(server.http_port, "/metrics", &h) || h.status != 200) {
      ADD_FAILURE() << "GET /metrics failed (status " << h.status << ")";
      return 0;
    }
    std::string key = "pilot_ratelimit_denied_total{kind=\"" + kind + "\"} ";
    size_t at = h.body.find(key);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no " << key << "in /metrics:\n" << h.body.substr(h.body.size() > 1500 ? h.body.size() - 1500 : 0);
      return 0;
    }
    return std::stoull(h.body.substr(at + key.size()));
  }

  Server server;
};

::testing::AssertionResult is_refusal(const rdv::JsonPtr& r) {
  if (!r) return ::testing::AssertionFailure() << "no reply";
  if (str(r.get(), "type") != "error" || str(r.get(), "error") != kRefusal)
    return ::testing::AssertionFailure() << "expected a rate-limit refusal, got " << dump(r.get());
  json_t* retry = json_object_get(r.get(), "retry_after_ms");
  if (!json_is_integer(retry) || json_integer_value(retry) < 1 || json_integer_value(retry) > 1000)
    return ::testing::AssertionFailure() << "retry_after_ms must be an integer in 1..1000: " << dump(r.get());
  return ::testing::AssertionSuccess();
}

// §2.7: no limit applies during a connection's first 5 s.
TEST_F(RateLimit, NothingIsLimitedDuringTheGrace) {
  start({"-rate-limit-per-ip", "1", "-rate-limit-global", "1", "-rate-limit-per-conn", "1"});
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  std::string all;
  for (int i = 0; i < 50; i++) all += json_frame(lookup_body(4242));
  ASSERT_TRUE(c.send_all(all));
  for (int i = 0; i < 50; i++) {
    std::string body;
    ASSERT_EQ(c.recv_json(&body), Io::Ok) << "reply " << i;
    rdv::JsonPtr r = parse_json(body);
    ASSERT_TRUE(is_error(r, "node 4242: node not found")) << "reply " << i;
  }
}

// §10.1 item 14, JSON mode.
TEST_F(RateLimit, JsonRefusalIsNotDispatchedKeepsOrderAndRecovers) {
  start({"-rate-limit-per-ip", "3", "-rate-limit-global", "0", "-rate-limit-per-conn", "0"});
  Daemon d;
  {
    Conn setup = server.connect();
    d = register_daemon(setup);
  }
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  rdv::JsonPtr first = wait_for_refusal(c, d.id);
  ASSERT_TRUE(is_refusal(first));
  wait_for_full_bucket();

  // Six requests in one write, with 3 tokens: a write and two reads pass; a read, a write and
  // a read behind them are refused. The refusals wait for the write before them to commit,
  // replies leave in request order, and the refused write is not executed.
  auto signed_body = [&](const char* type, const char* extra) {
    return std::string("{\"type\":\"") + type + "\",\"node_id\":" + std::to_string(d.id) + ",\"signature\":\"" +
           d.sign(std::string(type) + ":" + std::to_string(d.id)) + "\"," + extra + "}";
  };
  std::string all = json_frame(signed_body("set_visibility", "\"public\":true")) + json_frame(lookup_body(d.id)) +
                    json_frame(lookup_body(d.id)) + json_frame(lookup_body(d.id)) +
                    json_frame(signed_body("set_hostname", "\"hostname\":\"never-set\"")) + json_frame(lookup_body(d.id));
  ASSERT_TRUE(c.send_all(all));
  std::vector<rdv::JsonPtr> replies;
  for (int i = 0; i < 6; i++) {
    std::string body;
    ASSERT_EQ(c.recv_json(&body), Io::Ok) << "reply " << i;
    replies.push_back(parse_json(body));
  }
  EXPECT_TRUE(is_ok(replies[0], "set_visibility_ok"));
  ASSERT_TRUE(is_ok(replies[1], "lookup_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(replies[1].get(), "public"))) << "reads its own write";
  EXPECT_TRUE(is_ok(replies[2], "lookup_ok"));
  EXPECT_TRUE(is_refusal(replies[3]));
  EXPECT_TRUE(is_refusal(replies[4]));
  EXPECT_TRUE(is_refusal(replies[5]));

  // The same connection works again once a token is back, and the refused set_hostname left
  // nothing behind.
  rdv::JsonPtr again;
  int64_t deadline = mono_ms() + 5000;
  do {
    again = c.request(lookup_body(d.id));
    ASSERT_NE(again, nullptr) << "the connection was closed after a refusal";
    if (str(again.get(), "type") == "lookup_ok") break;
    EXPECT_TRUE(is_refusal(again));
    sleep_ms(50);
  } while (mono_ms() < deadline);
  ASSERT_TRUE(is_ok(again, "lookup_ok"));
  EXPECT_FALSE(has(again.get(), "hostname")) << dump(again.get());

  EXPECT_GE(denied_metric("ip"), 4u);
  EXPECT_EQ(denied_metric("global"), 0u);
}

// §10.1 item 15, binary mode (native opcodes and 0x00 passthrough), and client-expectations
// D1/D5: the official binary client redials after any 0xFF, so a peer that closes right after
// a refusal (or before reading it) must cost the server nothing.
TEST_F(RateLimit, BinaryRefusalKeepsOrderAndRecovers) {
  start({"-rate-limit-per-ip", "3", "-rate-limit-global", "0", "-rate-limit-per-conn", "0"});
  Daemon d;
  {
    Conn setup = server.connect();
    d = register_daemon(setup);
  }
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send_preamble());
  std::string lookup = be32(d.id);
  uint8_t t = 0;
  std::string p;
  int64_t deadline = mono_ms() + 20000;
  for (;;) {
    ASSERT_LT(mono_ms(), deadline) << "no binary request was rate limited within 20 s";
    ASSERT_TRUE(c.send_frame(0x02, lookup));
    ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
    if (t == 0xFF) break;
    ASSERT_EQ(t, 0x82);
    sleep_ms(100);
  }
  EXPECT_EQ(binary_error_text(p), kRefusal);
  wait_for_full_bucket();

  auto frame = [](uint8_t type, const std::string& payload) { return be32(uint32_t(1 + payload.size())) + char(type) + payload; };
  std::string heartbeat = be32(d.id) + d.key.sign_raw("heartbeat:" + std::to_string(d.id));
  std::string pass = lookup_body(d.id);
  ASSERT_TRUE(c.send_all(frame(0x02, lookup) + frame(0x00, pass) + frame(0x01, heartbeat) + frame(0x02, lookup) +
                         frame(0x00, pass) + frame(0x01, heartbeat)));
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x82);
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x00);
  EXPECT_TRUE(is_ok(parse_json(p), "lookup_ok"));
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x81) << binary_error_text(p);
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), kRefusal);
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x00) << "a passthrough request is refused inside a 0x00 frame, as JSON";
  EXPECT_TRUE(is_refusal(parse_json(p)));
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0xFF);
  EXPECT_EQ(binary_error_text(p), kRefusal);

  // Same connection, once a token is back.
  deadline = mono_ms() + 5000;
  do {
    ASSERT_TRUE(c.send_frame(0x02, lookup));
    ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok) << "the connection was closed after a refusal";
    if (t == 0x82) break;
    EXPECT_EQ(binary_error_text(p), kRefusal);
    sleep_ms(50);
  } while (mono_ms() < deadline);
  EXPECT_EQ(t, 0x82);

  // D1: refusals the client never reads, then it hangs up.
  pid_t worker = server.worker("rendezvous-registry");
  std::string burst;
  for (int i = 0; i < 20; i++) burst += frame(0x02, lookup);
  ASSERT_TRUE(c.send_all(burst));
  c.close();
  Conn fresh = server.connect();
  rdv::JsonPtr r = fresh.request(lookup_body(d.id));
  EXPECT_TRUE(is_ok(r, "lookup_ok"));
  EXPECT_EQ(server.worker("rendezvous-registry"), worker) << "the registry worker restarted";
  EXPECT_GE(denied_metric("ip"), 2u);
}

// ops-spec §10.3: the whitelist file (default <data-dir>/rate-limit-whitelist.json) is polled,
// its sources bypass every limit, a new version replaces it, an invalid one is ignored with a
// warning, and removing the file clears it — all on a live connection.
TEST_F(RateLimit, WhitelistFileIsWatchedAndBypassesTheLimits) {
  start({"-rate-limit-per-ip", "3", "-rate-limit-global", "2", "-rate-limit-per-conn", "2"});
  const std::string path = server.data_dir + "/rate-limit-whitelist.json";
  Daemon d;
  {
    Conn setup = server.connect();
    d = register_daemon(setup);
  }
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(is_refusal(wait_for_refusal(c, d.id)));

  auto burst = [&](int n) {
    std::string all;
    for (int i = 0; i < n; i++) all += json_frame(lookup_body(d.id));
    EXPECT_TRUE(c.send_all(all));
    int refused = 0;
    for (int i = 0; i < n; i++) {
      std::string body;
      EXPECT_EQ(c.recv_json(&body), Io::Ok) << "reply " << i;
      rdv::JsonPtr r = parse_json(body);
      if (str(r.get(), "type") == "error") {
        EXPECT_TRUE(is_refusal(r));
        refused++;
      } else {
        EXPECT_TRUE(is_ok(r, "lookup_ok"));
      }
    }
    return refused;
  };

  write_file(path, R"([{"cidr":"127.0.0.0/8","rate":100000}])");
  ASSERT_TRUE(wait_log("rate-limit-whitelist reloaded", 1)) << "the watcher did not load the new file";
  EXPECT_EQ(burst(60), 0) << "a whitelisted source skips the per-connection, per-IP and global limits";

  write_file(path, R"([{"cidr":"10.0.0.0/8","rate":100000},{"cidr":"192.0.2.1","rate":5}])");
  ASSERT_TRUE(wait_log("rate-limit-whitelist reloaded", 2));
  EXPECT_NE(server.log().find("entries=2"), std::string::npos);
  EXPECT_GE(burst(10), 8) << "no longer whitelisted: per-connection limit 2";

  write_file(path, R"([{"cidr":"127.0.0.0/8","rate":100000},{"cidr":"not-a-cidr","rate":5}])");
  ASSERT_TRUE(wait_log("rate-limit-whitelist not applied", 1)) << "an invalid file must be reported";
  sleep_ms(1100);  // a full window: the per-connection bucket has its 2 tokens again
  EXPECT_GE(burst(10), 8) << "all or nothing: the valid entry of a bad file does not apply";

  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_TRUE(wait_log("rate-limit-whitelist removed", 1));
  EXPECT_GE(denied_metric("connection"), 16u);
}

// A whitelist present at start applies before the first request; -rate-limit-whitelist moves it.
TEST_F(RateLimit, WhitelistAtStartAndItsFlag) {
  std::string path = server.dir + "/elsewhere.json";
  std::ofstream(path) << R"([{"cidr":"127.0.0.0/8","rate":1000},{"cidr":"2001:db8::1","rate":9}])";
  start({"-rate-limit-whitelist", path});
  EXPECT_TRUE(wait_log("rate-limit-whitelist reloaded", 1));
  std::string log = server.log();
  size_t at = log.find("rate-limit-whitelist reloaded");
  ASSERT_NE(at, std::string::npos);
  std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_NE(line.find("entries=2"), std::string::npos) << line;
  EXPECT_NE(line.find(path), std::string::npos) << line;
}

// The whitelist is a file, so a registry worker killed and restarted by the supervisor reads
// it again before serving.
TEST_F(RateLimit, WhitelistSurvivesARegistryCrash) {
  std::string path = server.data_dir + "/rate-limit-whitelist.json";
  std::ofstream(path) << R"([{"cidr":"127.0.0.0/8","rate":1000}])";
  start({});
  ASSERT_TRUE(wait_log("rate-limit-whitelist reloaded", 1));
  pid_t old = server.worker("rendezvous-registry");
  ASSERT_GT(old, 0);
  ASSERT_EQ(::kill(old, SIGKILL), 0);
  ASSERT_GT(server.wait_worker("rendezvous-registry", old, 20000), 0);
  EXPECT_TRUE(wait_log("rate-limit-whitelist reloaded", 2)) << "the new worker did not load the whitelist";
}

// The escape hatch reaches the worker through the supervisor's environment (its effect on
// the limits is tested in tests/unit/ratelimit_test.cc).
TEST_F(RateLimit, NoRateLimitEnvironmentIsHonoured) {
  server.extra_env.push_back("PILOT_REGISTRY_NORATELIMIT=1");
  start({});
  EXPECT_TRUE(wait_log("PILOT_REGISTRY_NORATELIMIT=1: the per-IP rate limit is off", 1));
}

TEST_F(RateLimit, InvalidWhitelistAtStartIsReportedAndIgnored) {
  std::string path = server.data_dir + "/rate-limit-whitelist.json";
  std::ofstream(path) << R"([{"cidr":"127.0.0.0/8","rate":0}])";
  start({});
  EXPECT_TRUE(wait_log("rate-limit-whitelist not applied", 1));
  EXPECT_EQ(log_count("rate-limit-whitelist reloaded"), 0u);
  Conn c = server.connect();
  EXPECT_TRUE(is_error(c.request(lookup_body(1)), "node 1: node not found"));  // serving anyway
}

}  // namespace
}  // namespace rt
