// Crashes (ARCHITECTURE.md promises): a crashed worker is restarted without refusing a single
// connection; every acknowledged registration survives a registry SIGKILL; the admin worker
// comes back; killing the supervisor leaves no orphans.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "harness.h"

namespace rt {
namespace {

using Crash = ServerTest;

struct Ack {
  uint32_t node_id;
  std::string pub;
};

TEST_F(Crash, RegistryKilledUnderLoadLosesNoAcknowledgedRegistration) {
  constexpr int kThreads = 50;
  constexpr int kMaxPerThread = 600;  // enough to keep the load on past kill + 2 s
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0) << "no rendezvous-registry child of the supervisor";

  std::atomic<bool> stop{false};
  std::atomic<bool> killed{false};
  std::atomic<int> acks_total{0}, acks_after_kill{0}, refused{0}, connect_other{0}, io_failures{0},
      rate_limited{0};
  std::mutex mu;
  std::vector<Ack> acks;
  std::vector<std::string> unexpected;

  auto worker = [&](int idx) {
    Conn c;
    for (int i = 0; i < kMaxPerThread && !stop.load(); i++) {
      if (!c.ok()) {
        int e = 0;
        c = Conn::open(server.registry_port, 5000, &e);
        if (!c.ok()) {
          if (e == ECONNREFUSED) refused++;
          else connect_other++;
          sleep_ms(5);
          continue;
        }
      }
      Key k = Key::generate();
      std::string listen = "198.51.100." + std::to_string(idx + 1) + ":" + std::to_string(1000 + i);
      rdv::JsonPtr req(json_object());
      json_object_set_new(req.get(), "type", json_string("register"));
      json_object_set_new(req.get(), "public_key", json_string(k.pub_b64().c_str()));
      json_object_set_new(req.get(), "listen_addr", json_string(listen.c_str()));
      json_object_set_new(req.get(), "signature",
                          json_string(k.sign_b64("register:" + listen + ":" + k.pub_b64()).c_str()));
      bool after_kill = killed.load();
      rdv::JsonPtr r = c.request(req.get(), nullptr, 20000);
      if (!r) {  // EOF, reset or timeout: the worker died under us; reconnect
        io_failures++;
        c.close();
        continue;
      }
      if (str(r.get(), "type") == "register_ok") {
        std::lock_guard lock(mu);
        acks.push_back({uint32_t(num(r.get(), "node_id", 0)), k.pub_b64()});
        acks_total++;
        if (after_kill) acks_after_kill++;
      } else if (str(r.get(), "error").find("rate limited") != std::string::npos) {
        rate_limited++;
        c.close();  // a fresh connection has a grace period
        sleep_ms(50);
      } else {
        std::lock_guard lock(mu);
        if (unexpected.size() < 5) unexpected.push_back(dump(r.get()));
      }
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) threads.emplace_back(worker, i);

  // Let load build up, then kill the registry worker.
  int64_t deadline = mono_ms() + 10000;
  while (acks_total.load() < 200 && mono_ms() < deadline) sleep_ms(5);
  int acks_before_kill = acks_total.load();
  killed = true;
  EXPECT_EQ(kill(registry, SIGKILL), 0);  // not ASSERT: the load threads must be joined
  int64_t kill_time = mono_ms();

  // Keep the load on for 2 s after the kill, longer (up to 20 s) if the restarted worker has
  // not acknowledged anything yet.
  while (mono_ms() < kill_time + 2000 || (acks_after_kill.load() == 0 && mono_ms() < kill_time + 20000))
    sleep_ms(10);
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_GT(acks_before_kill, 0) << "no registration was acknowledged before the kill";
  EXPECT_EQ(refused.load(), 0) << "connect() was refused while the registry worker restarted";
  EXPECT_EQ(connect_other.load(), 0) << "connect() failed for another reason";
  EXPECT_GT(acks_after_kill.load(), 0) << "the registry did not serve again after the kill";
  for (auto& u : unexpected) ADD_FAILURE() << "unexpected reply: " << u;

  pid_t restarted = server.worker("rendezvous-registry");
  EXPECT_GT(restarted, 0);
  EXPECT_NE(restarted, registry) << "registry worker pid unchanged: was it killed?";

  // Every acknowledged registration is still there, with a distinct node id.
  std::set<uint32_t> ids;
  for (auto& a : acks) EXPECT_TRUE(ids.insert(a.node_id).second) << "node id " << a.node_id << " acknowledged twice";

  std::atomic<int> missing{0}, wrong{0};
  std::vector<std::string> examples;
  auto verify = [&](size_t from, size_t step) {
    Conn c;
    int64_t opened = 0;
    for (size_t i = from; i < acks.size(); i += step) {
      for (int attempt = 0; attempt < 3; attempt++) {
        // Fresh connections every 2 s keep us inside the per-connection grace period.
        if (!c.ok() || mono_ms() - opened > 2000) {
          c = server.connect();
          opened = mono_ms();
        }
        rdv::JsonPtr r = do_lookup(c, acks[i].node_id);
        if (!r) {
          c.close();
          continue;
        }
        if (str(r.get(), "error").find("rate limited") != std::string::npos) {
          c.close();
          sleep_ms(100);
          continue;
        }
        if (str(r.get(), "type") != "lookup_ok") {
          missing++;
          std::lock_guard lock(mu);
          if (examples.size() < 5) examples.push_back("node " + std::to_string(acks[i].node_id) + ": " + dump(r.get()));
        } else if (str(r.get(), "public_key") != acks[i].pub || num(r.get(), "node_id") != acks[i].node_id) {
          wrong++;
          std::lock_guard lock(mu);
          if (examples.size() < 5) examples.push_back("node " + std::to_string(acks[i].node_id) + ": " + dump(r.get()));
        }
        break;
      }
    }
  };
  std::vector<std::thread> verifiers;
  for (size_t i = 0; i < 4; i++) verifiers.emplace_back(verify, i, 4);
  for (auto& t : verifiers) t.join();
  EXPECT_EQ(missing.load(), 0) << "acknowledged registrations lost after the crash";
  EXPECT_EQ(wrong.load(), 0) << "acknowledged registrations changed after the crash";
  for (auto& e : examples) ADD_FAILURE() << e;
  RecordProperty("acks", int(acks.size()));
  RecordProperty("acks_before_kill", acks_before_kill);
  RecordProperty("acks_after_kill", acks_after_kill.load());
  RecordProperty("io_failures", io_failures.load());
  RecordProperty("rate_limited", rate_limited.load());
}

// The admin worker comes back after a crash and serves /healthz again. The supervisor restarts
// a worker's first crash at once, not after a backoff (restart_policy.h): checked by what it
// logged, not with a stopwatch.
TEST_F(Crash, AdminWorkerKilledIsRestartedAtOnceAndHealthzAnswers) {
  pid_t admin = server.worker("rendezvous-admin");
  ASSERT_GT(admin, 0) << "no rendezvous-admin child of the supervisor";
  ASSERT_EQ(kill(admin, SIGKILL), 0);
  pid_t restarted = server.wait_worker("rendezvous-admin", admin, 20000);
  ASSERT_GT(restarted, 0) << "admin worker was not restarted";
  // Generous deadline: a failure bound, not a speed requirement.
  int64_t deadline = mono_ms() + 20000;
  bool answered = false;
  HttpResponse h;
  while (!answered && mono_ms() < deadline) {
    answered = http_get(server.http_port, "/healthz", &h, 1000) && h.status == 200;
    if (!answered) sleep_ms(20);
  }
  EXPECT_TRUE(answered) << "GET /healthz did not answer 200 after the admin worker's restart";
  std::string log = server.log();
  EXPECT_NE(log.find("msg=\"restarting worker now\" worker=admin"), std::string::npos) << log;
  EXPECT_EQ(log.find("msg=\"restarting worker after backoff\" worker=admin"), std::string::npos)
      << "the first restart of a healthy admin worker waited for a backoff";
  // The registry was not disturbed.
  Conn c = server.connect();
  rdv::JsonPtr r = do_lookup(c, 1);
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
}

TEST_F(Crash, RegistryKilledIdleRestartsAndServes) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(num(do_register(c, k).get(), "node_id"), 1);
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);
  ASSERT_EQ(kill(registry, SIGKILL), 0);
  // The old connection is gone with the worker.
  EXPECT_TRUE(c.expect_closed(5000));
  // A new connection made at once is queued by the supervisor's listener, not refused.
  int e = 0;
  Conn c2 = Conn::open(server.registry_port, 3000, &e);
  ASSERT_TRUE(c2.ok()) << "connect: " << strerror(e);
  rdv::JsonPtr r = c2.request(R"({"type":"lookup","node_id":1})", nullptr, 20000);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
  EXPECT_EQ(str(r.get(), "public_key"), k.pub_b64());
  EXPECT_NE(server.worker("rendezvous-registry"), registry);
}

TEST_F(Crash, SupervisorKilledLeavesNoOrphans) {
  std::vector<ProcInfo> workers = children_of(server.pid);
  ASSERT_GE(workers.size(), 2u) << "expected at least the registry and admin workers";
  std::set<std::string> names;
  for (auto& w : workers) names.insert(w.name);
  EXPECT_TRUE(names.count("rendezvous-registry"));
  EXPECT_TRUE(names.count("rendezvous-admin"));

  pid_t sup = server.pid;
  ASSERT_EQ(kill(sup, SIGKILL), 0);
  int st = server.wait_exit(5000);
  ASSERT_NE(st, -1);
  ASSERT_TRUE(WIFSIGNALED(st));

  int64_t deadline = mono_ms() + 5000;
  std::vector<pid_t> alive;
  do {
    alive.clear();
    for (auto& w : workers)
      if (process_alive(w.pid)) alive.push_back(w.pid);
    // Anything else still in the server's process group (grandchildren included).
    for (auto& p : list_processes())
      if (p.pgrp == sup && p.state != 'Z' && p.state != 'X' &&
          std::find(alive.begin(), alive.end(), p.pid) == alive.end())
        alive.push_back(p.pid);
    if (alive.empty()) break;
    sleep_ms(20);
  } while (mono_ms() < deadline);
  std::string list;
  for (pid_t p : alive) list += " " + std::to_string(p);
  EXPECT_TRUE(alive.empty()) << "processes left running after the supervisor was killed:" << list;
}


// ARCHITECTURE.md: liveness times may be flushed in batches, losing at most ~1 s of them in a
// crash. A heartbeat time the registry has flushed must still be reflected after a SIGKILL.
TEST_F(Crash, HeartbeatTimeSurvivesRegistryKill) {
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_EQ(num(do_register(c, k).get(), "node_id"), 1);
  int64_t registered = num(do_lookup(c, 1).get(), "last_seen_unix");
  ASSERT_GT(registered, 0);
  // Wait until the clock has moved on by 2 s, then heartbeat.
  while (rdv::unix_now() < registered + 2) sleep_ms(50);
  rdv::JsonPtr hb(json_pack("{s:s, s:i, s:s}", "type", "heartbeat", "node_id", 1, "signature",
                            k.sign_b64("heartbeat:1").c_str()));
  rdv::JsonPtr r = c.request(hb.get());
  ASSERT_EQ(str(r.get(), "type"), "heartbeat_ok") << dump(r.get());
  int64_t beat = num(r.get(), "time");
  EXPECT_GE(num(do_lookup(c, 1).get(), "last_seen_unix"), beat);
  // Wait for the flush itself rather than sleeping past the ~1 s window: /api/nodes is served
  // by the admin worker straight from LMDB, so it shows the last-seen time once it is
  // committed. The deadline only bounds a failure.
  int64_t persisted = 0;
  HttpResponse h;
  for (int64_t deadline = mono_ms() + 20000; persisted < beat && mono_ms() < deadline;) {
    if (http_get(server.http_port, "/api/nodes", &h) && h.status == 200) {
      rdv::JsonPtr body = parse_json(h.body);
      json_t* nodes = json_object_get(body.get(), "nodes");
      for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t* n = json_array_get(nodes, i);
        if (num(n, "node_id") == 1) rdv::parse_rfc3339(str(n, "last_seen"), &persisted);
      }
    }
    if (persisted < beat) sleep_ms(50);
  }
  ASSERT_GE(persisted, beat) << "the heartbeat time was never flushed to the store; /api/nodes: " << h.body;
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);
  ASSERT_EQ(kill(registry, SIGKILL), 0);
  Conn c2 = server.connect();
  r = c2.request(R"({"type":"lookup","node_id":1})", nullptr, 20000);
  ASSERT_NE(r, nullptr);
  EXPECT_GE(num(r.get(), "last_seen_unix"), beat) << "heartbeat time lost in the crash: " << dump(r.get());
}

// The metrics page outlives a registry crash: counters keep counting across the restart.
TEST_F(Crash, MetricsSurviveRegistryRestart) {
  Conn c = server.connect();
  ASSERT_EQ(num(do_register(c, Key::generate()).get(), "node_id"), 1);
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);
  ASSERT_EQ(kill(registry, SIGKILL), 0);
  Conn c2 = server.connect();
  ASSERT_NE(c2.request(R"({"type":"lookup","node_id":1})", nullptr, 20000), nullptr);
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/metrics", &h));
  EXPECT_NE(h.body.find("\npilot_registrations_total 1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("pilot_requests_total{type=\"register\"} 1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("\npilot_registry_worker_starts_total 2\n"), std::string::npos) << h.body;
}

}  // namespace
}  // namespace rt
