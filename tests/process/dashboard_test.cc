// The dashboard (ops-spec §5.3 rows 1, 3, 6, 22–24, §5.4–§5.6): its data routes, the live
// stream (/api/events), the page in a real browser (tests/browser), and the stream cap under
// load. Every test starts its own server.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <csignal>
#include <set>

#include "harness.h"
#include "protocol.h"

namespace rt {
namespace {

using Dashboard = ServerTest;

std::set<std::string> keys(const json_t* o) {
  std::set<std::string> out;
  const char* k;
  json_t* v;
  json_object_foreach(const_cast<json_t*>(o), k, v) out.insert(k);
  return out;
}

// An open /api/events stream on a plain socket.
struct EventStream {
  Conn conn;
  std::string buf;  // bytes after the response headers not yet consumed
  int status = 0;
  std::string headers;

  // Connects and reads the response headers. False when no header block arrives.
  bool open(uint16_t port, const std::string& path, int timeout_ms = 5000) {
    conn = Conn::open(port, timeout_ms);
    if (!conn.ok()) return false;
    if (!conn.send_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"))
      return false;
    int64_t deadline = mono_ms() + timeout_ms;
    while (mono_ms() < deadline) {
      size_t end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        headers = buf.substr(0, end);
        buf.erase(0, end + 4);
        if (headers.rfind("HTTP/1.1 ", 0) == 0) status = std::atoi(headers.c_str() + 9);
        return status != 0;
      }
      std::string chunk;
      if (conn.recv_exact(1, &chunk, int(std::max<int64_t>(deadline - mono_ms(), 1))) != Io::Ok) return false;
      buf += chunk;
    }
    return false;
  }

  // Reads until `needle` is in buf (the body of a plain reply). False on timeout or EOF.
  bool read_until(const std::string& needle, int timeout_ms = 5000) {
    int64_t deadline = mono_ms() + timeout_ms;
    while (buf.find(needle) == std::string::npos) {
      int64_t left = deadline - mono_ms();
      if (left <= 0) return false;
      char tmp[4096];
      pollfd p{conn.fd(), POLLIN, 0};
      if (::poll(&p, 1, int(left)) <= 0) return false;
      ssize_t n = ::recv(conn.fd(), tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, size_t(n));
    }
    return true;
  }

  // The next `data:` event's payload as JSON (comments and retry lines skipped); null on
  // timeout or EOF.
  rdv::JsonPtr next(int timeout_ms = 5000) {
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
      size_t end;
      while ((end = buf.find("\n\n")) != std::string::npos) {
        std::string block = buf.substr(0, end);
        buf.erase(0, end + 2);
        if (block.rfind("data: ", 0) == 0) return parse_json(block.substr(6));
      }
      int64_t left = deadline - mono_ms();
      if (left <= 0) return nullptr;
      char tmp[8192];
      pollfd p{conn.fd(), POLLIN, 0};
      if (::poll(&p, 1, int(left)) <= 0) return nullptr;
      ssize_t n = ::recv(conn.fd(), tmp, sizeof tmp, 0);
      if (n <= 0) return nullptr;
      buf.append(tmp, size_t(n));
    }
  }
};

std::string header_of(const std::string& headers, const std::string& name) {
  HttpResponse r;
  r.headers = headers;
  return r.header(name);
}

TEST_F(Dashboard, PublicStatsHasExactlyTheSpecKeysAndCumulativeTotal) {
  Conn c = server.connect();
  Daemon a = register_daemon(c);
  Daemon b = register_daemon(c);
  HttpResponse h;
  rdv::JsonPtr j;
  int64_t deadline = mono_ms() + 5000;
  while (mono_ms() < deadline) {  // active_nodes is the registry's gauge: refreshed on its timer
    ASSERT_TRUE(http_get(server.http_port, "/api/public-stats", &h));
    ASSERT_EQ(h.status, 200) << h.body;
    j = parse_json(h.body);
    ASSERT_TRUE(j) << h.body;
    if (num(j.get(), "active_nodes") == 2) break;
    sleep_ms(50);
  }
  EXPECT_EQ(h.header("Access-Control-Allow-Origin"), "*");
  EXPECT_NE(h.header("Content-Type").find("application/json"), std::string::npos);
  EXPECT_EQ(keys(j.get()), (std::set<std::string>{"server_time", "uptime_seconds", "active_nodes", "total_nodes",
                                                   "total_requests", "requests_per_sec", "components",
                                                   "build_info"}))
      << h.body;
  EXPECT_EQ(num(j.get(), "active_nodes"), 2) << h.body;
  EXPECT_EQ(num(j.get(), "total_nodes"), 2) << h.body;
  EXPECT_GE(num(j.get(), "total_requests"), 2) << h.body;
  EXPECT_TRUE(json_is_number(json_object_get(j.get(), "requests_per_sec"))) << h.body;
  const json_t* comp = json_object_get(j.get(), "components");
  EXPECT_EQ(str(comp, "registry"), "up") << h.body;
  EXPECT_EQ(str(comp, "dashboard"), "up") << h.body;
  EXPECT_EQ(str(comp, "beacon"), "unknown") << h.body;
  const json_t* build = json_object_get(j.get(), "build_info");
  EXPECT_FALSE(str(build, "version").empty()) << h.body;
  EXPECT_EQ(str(build, "binary_sha256").size(), 64u) << h.body;
  EXPECT_FALSE(has(build, "go_version")) << h.body;
  // Nothing identifying: no key, no network table.
  EXPECT_EQ(h.body.find(a.key.pub_b64()), std::string::npos);
  EXPECT_EQ(h.body.find(b.key.pub_b64()), std::string::npos);

  // total_nodes is cumulative: a deregistered node still counts.
  rdv::JsonPtr d = call(c, json_pack("{s:s,s:I,s:s}", "type", "deregister", "node_id", json_int_t(b.id), "signature",
                                     b.sign("deregister:" + std::to_string(b.id)).c_str()));
  ASSERT_TRUE(is_ok(d, "deregister_ok"));
  register_daemon(c);
  ASSERT_TRUE(http_get(server.http_port, "/api/public-stats", &h));
  EXPECT_EQ(num(parse_json(h.body).get(), "total_nodes"), 3) << h.body;
}

TEST_F(Dashboard, StatsNeedsTheTokenAndListsNetworks) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/api/stats", &h));
  EXPECT_EQ(h.status, 401);
  EXPECT_EQ(h.body, "unauthorized\n");
  ASSERT_TRUE(http_get(server.http_port, "/api/stats?token=legacy", &h));
  EXPECT_EQ(h.status, 401);  // the legacy dashboard token unlocks nothing (§5.5)

  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = create_network(c, server, owner, "lab-net");
  ASSERT_NE(net, 0);
  h = admin_http(server, "GET", "/api/stats");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.header("Access-Control-Allow-Origin"), "*");
  rdv::JsonPtr j = json_body(h);
  for (const char* k : {"total_requests", "total_nodes", "active_nodes", "uptime_secs", "maintenance_banner"})
    EXPECT_TRUE(has(j.get(), k)) << k << " " << h.body;
  const json_t* nets = json_object_get(j.get(), "networks");
  ASSERT_TRUE(json_is_array(nets)) << h.body;
  bool found = false;
  size_t i;
  json_t* row;
  json_array_foreach(nets, i, row) {
    if (num(row, "id") != net) continue;
    found = true;
    EXPECT_EQ(str(row, "name"), "lab-net") << h.body;
    EXPECT_EQ(num(row, "members"), 1) << h.body;
  }
  EXPECT_TRUE(found) << h.body;
  EXPECT_EQ(h.body.find(owner.key.pub_b64()), std::string::npos);
  EXPECT_EQ(h.body.find("127.0.0.1"), std::string::npos);
}

TEST_F(Dashboard, PulseIsSampledEverySecond) {
  HttpResponse h = admin_http(server, "GET", "/api/pulse");
  ASSERT_EQ(h.status, 200) << h.body;
  Conn c = server.connect();
  register_daemon(c);
  // Wait for a sample that saw the registration (the sampler runs once a second).
  int64_t deadline = mono_ms() + 10000;
  rdv::JsonPtr j;
  while (mono_ms() < deadline) {
    h = admin_http(server, "GET", "/api/pulse");
    j = json_body(h);
    const json_t* s = json_object_get(j.get(), "samples");
    if (json_array_size(s) >= 2 && num(json_array_get(s, json_array_size(s) - 1), "total") >= 1) break;
    sleep_ms(100);
  }
  EXPECT_EQ(keys(j.get()), (std::set<std::string>{"ts", "total_requests", "samples"})) << h.body;
  const json_t* s = json_object_get(j.get(), "samples");
  ASSERT_GE(json_array_size(s), 2u) << h.body;
  EXPECT_LE(json_array_size(s), 120u);
  for (size_t i = 1; i < json_array_size(s); i++)
    EXPECT_LT(num(json_array_get(s, i - 1), "ts"), num(json_array_get(s, i), "ts")) << h.body;
  EXPECT_GE(num(json_array_get(s, json_array_size(s) - 1), "total"), 1) << h.body;
}

TEST_F(Dashboard, BadgesAreSvgAndRateLimited) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/api/badge/nodes", &h));
  EXPECT_EQ(h.status, 401);
  h = admin_http(server, "GET", "/api/badge/nodes");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.header("Content-Type"), "image/svg+xml");
  EXPECT_EQ(h.header("Cache-Control"), "no-cache, no-store, must-revalidate");
  EXPECT_EQ(h.header("Access-Control-Allow-Origin"), "*");
  EXPECT_NE(h.body.find("#9f9f9f"), std::string::npos) << h.body;  // no node online yet
  h = admin_http(server, "GET", "/api/badge/requests");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_NE(h.body.find("#a855f7"), std::string::npos) << h.body;
  // 30 a minute per IP, both badges together: 2 used; the window may roll over once while we
  // send, so allow for one fresh window before the refusal.
  int refused_at = -1;
  for (int i = 0; i < 62 && refused_at < 0; i++) {
    h = admin_http(server, "GET", "/api/badge/nodes");
    if (h.status == 429) refused_at = i;
    else ASSERT_EQ(h.status, 200) << h.body;
  }
  ASSERT_GE(refused_at, 0) << "no 429 after 62 requests";
  EXPECT_EQ(h.body, "Too Many Requests\n");
}

TEST_F(Dashboard, IndexIsSelfContainedWithCsp) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/", &h));
  ASSERT_EQ(h.status, 200);
  EXPECT_NE(h.header("Content-Type").find("text/html"), std::string::npos);
  EXPECT_EQ(h.header("Content-Security-Policy"), "default-src 'self'");
  EXPECT_NE(h.body.find("Pilot Protocol"), std::string::npos);
  EXPECT_EQ(h.body.find("http://"), std::string::npos) << "the page loads nothing from elsewhere";
  EXPECT_EQ(h.body.find("https://"), std::string::npos) << "the page loads nothing from elsewhere";
  for (const char* asset : {"/assets/dashboard.js", "/assets/dashboard.css", "/assets/favicon.svg"}) {
    ASSERT_TRUE(http_get(server.http_port, asset, &h)) << asset;
    EXPECT_EQ(h.status, 200) << asset;
    EXPECT_FALSE(h.body.empty()) << asset;
  }
  ASSERT_TRUE(http_get(server.http_port, "/index.html", &h));
  EXPECT_EQ(h.status, 404);
}

TEST_F(Dashboard, PublicStreamPushesWhenANodeRegisters) {
  EventStream es;
  ASSERT_TRUE(es.open(server.http_port, "/api/events"));
  ASSERT_EQ(es.status, 200) << es.headers;
  EXPECT_NE(header_of(es.headers, "Content-Type").find("text/event-stream"), std::string::npos) << es.headers;
  rdv::JsonPtr first = es.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(keys(first.get()), (std::set<std::string>{"server_time", "uptime_seconds", "active_nodes", "total_nodes",
                                                       "total_requests", "requests_per_sec", "components",
                                                       "build_info"}));
  Conn c = server.connect();
  Daemon d = register_daemon(c);
  int64_t deadline = mono_ms() + 5000;
  int64_t total = -1;
  std::string raw;
  while (mono_ms() < deadline && total != 1) {
    rdv::JsonPtr ev = es.next(int(deadline - mono_ms()));
    if (!ev) break;
    raw = dump(ev.get());
    total = num(ev.get(), "total_nodes");
    EXPECT_EQ(raw.find(d.key.pub_b64()), std::string::npos);
  }
  EXPECT_EQ(total, 1) << raw;
}

TEST_F(Dashboard, AdminStreamCarriesStatsWorkersRoleAndPulse) {
  EventStream bad;
  ASSERT_TRUE(bad.open(server.http_port, "/api/events?admin_token=wrong"));
  EXPECT_EQ(bad.status, 401);
  EventStream es;
  ASSERT_TRUE(es.open(server.http_port, "/api/events?admin_token=" + server.admin_token));
  ASSERT_EQ(es.status, 200) << es.headers;
  rdv::JsonPtr ev;
  int64_t deadline = mono_ms() + 10000;
  // The workers list appears once the supervisor has written workers.json.
  while (mono_ms() < deadline) {
    ev = es.next(int(std::max<int64_t>(deadline - mono_ms(), 1)));
    if (!ev) break;
    if (json_array_size(json_object_get(ev.get(), "workers")) >= 2) break;
  }
  ASSERT_TRUE(ev);
  for (const char* k : {"stats", "public", "workers", "replication", "pulse", "pending"})
    EXPECT_TRUE(has(ev.get(), k)) << k << " " << dump(ev.get());
  EXPECT_EQ(json_integer_value(json_object_get(json_object_get(ev.get(), "pending"), "count")), 0) << dump(ev.get());
  EXPECT_EQ(str(json_object_get(ev.get(), "replication"), "role"), "leader") << dump(ev.get());
  EXPECT_TRUE(has(json_object_get(ev.get(), "stats"), "maintenance_banner"));
  const json_t* workers = json_object_get(ev.get(), "workers");
  std::set<std::string> names;
  size_t i;
  json_t* w;
  json_array_foreach(workers, i, w) {
    names.insert(str(w, "name"));
    EXPECT_TRUE(has(w, "pid") && has(w, "restarts") && has(w, "uptime_seconds")) << dump(w);
  }
  EXPECT_TRUE(names.count("registry") && names.count("admin")) << dump(workers);
}

TEST_F(Dashboard, StreamSurvivesARegistryRestart) {
  EventStream es;
  ASSERT_TRUE(es.open(server.http_port, "/api/events"));
  ASSERT_TRUE(es.next());
  Conn c = kill_registry(server);
  ASSERT_TRUE(c.ok());
  register_daemon(c);
  // The feed reconnects to the new registry's bus and the stream goes on with the new node.
  int64_t deadline = mono_ms() + 15000;
  int64_t total = -1;
  while (mono_ms() < deadline && total != 1) {
    rdv::JsonPtr ev = es.next(int(std::max<int64_t>(deadline - mono_ms(), 1)));
    if (!ev) break;
    total = num(ev.get(), "total_nodes");
  }
  EXPECT_EQ(total, 1);
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// The repository's top directory: bin_dir() is <top>/<build>/bin.
std::string source_dir() { return bin_dir() + "/../.."; }

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// Runs argv with stdout and stderr to `log`, waits at most timeout_ms (then SIGKILL).
// Returns the exit code, or -1 when it did not exit normally in time.
int run_program(const std::vector<std::string>& argv, const std::string& log, int timeout_ms) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  int64_t deadline = mono_ms() + timeout_ms;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (mono_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    sleep_ms(50);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const std::string& p) {
  std::string out;
  if (FILE* f = std::fopen(p.c_str(), "rb")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

// The maintenance banner is operator text: the page must show it as text, never as markup.
constexpr const char* kHostileBanner = "maintenance <b id=\"injected\">tonight</b> & <img src=x>";

class DashboardBrowser : public ServerTest {
 protected:
  void SetUp() override {
    server.extra_args = {"-maintenance-banner", kHostileBanner};
    ServerTest::SetUp();
  }
};

TEST_F(DashboardBrowser, PageInABrowser) {
  const std::string browser_dir = source_dir() + "/tests/browser";
  if (!file_exists("/usr/bin/chromium")) GTEST_SKIP() << "no /usr/bin/chromium (make deps installs it)";
  if (!file_exists(browser_dir + "/node_modules/playwright-core"))
    GTEST_SKIP() << "no tests/browser/node_modules (make test runs npm ci --prefix tests/browser)";

  Conn c = server.connect();
  Daemon a = register_daemon(c);
  Daemon b = register_daemon(c);
  create_network(c, server, a, "secret-lab-net");
  // The page must show 2 online: wait until the registry's gauge says so.
  int64_t deadline = mono_ms() + 5000;
  HttpResponse h;
  while (mono_ms() < deadline) {
    if (http_get(server.http_port, "/healthz", &h) && num(parse_json(h.body).get(), "nodes_online") == 2) break;
    sleep_ms(50);
  }
  const std::string log = server.dir + "/browser.log";
  const std::string screenshot = bin_dir() + "/../dashboard.png";
  std::vector<std::string> argv = {"node",
                                   browser_dir + "/dashboard.test.js",
                                   "--url",
                                   "http://127.0.0.1:" + std::to_string(server.http_port) + "/",
                                   "--registry",
                                   "127.0.0.1:" + std::to_string(server.registry_port),
                                   "--expect-online",
                                   "2",
                                   "--token",
                                   server.admin_token,
                                   "--network",
                                   "secret-lab-net",
                                   "--forbid",
                                   a.key.pub_b64(),
                                   "--forbid",
                                   b.key.pub_b64(),
                                   "--forbid",
                                   "secret-lab-net",
                                   "--forbid",
                                   kPublicAddr,
                                   "--forbid",
                                   "203.0.113.7",
                                   "--banner",
                                   kHostileBanner,
                                   "--screenshot",
                                   screenshot};
  int rc = run_program(argv, log, 90000);
  std::string out = read_text(log);
  // One line per browser check, marked so no test-output parser takes the script's
  // "N passed, N failed" for the suite's.
  for (size_t pos = 0; pos < out.size();) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::fprintf(stderr, "[browser] %.*s\n", int(nl - pos), out.data() + pos);
    pos = nl + 1;
  }
  if (rc == 2 && out.find("SKIP") != std::string::npos) GTEST_SKIP() << out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(" 0 failed"), std::string::npos) << out;
  EXPECT_TRUE(file_exists(screenshot)) << screenshot;
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// Probes and scrapes must still be served while many dashboards watch: CivetWeb has one
// thread per open connection, and the stream cap keeps threads free for them.
TEST_F(Dashboard, HundredStreamsLeaveRoomForProbes) {
  std::vector<EventStream> streams(100);
  for (size_t i = 0; i < streams.size(); i++) {
    ASSERT_TRUE(streams[i].open(server.http_port, "/api/events")) << "stream " << i;
    ASSERT_EQ(streams[i].status, 200) << "stream " << i << ": " << streams[i].headers;
  }
  for (size_t i = 0; i < streams.size(); i++) ASSERT_TRUE(streams[i].next(10000)) << "stream " << i;
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    HttpResponse h;
    ASSERT_TRUE(http_get(server.http_port, path, &h, 10000)) << path << " did not answer with 100 streams open";
    EXPECT_EQ(h.status, 200) << path << ": " << h.body;
  }
  // And the streams keep flowing: a registration reaches the last one opened.
  Conn c = server.connect();
  register_daemon(c);
  int64_t deadline = mono_ms() + 10000;
  int64_t total = -1;
  while (mono_ms() < deadline && total != 1) {
    rdv::JsonPtr ev = streams.back().next(int(std::max<int64_t>(deadline - mono_ms(), 1)));
    if (!ev) break;
    total = num(ev.get(), "total_nodes");
  }
  EXPECT_EQ(total, 1);
}

class DashboardStreamCap : public ServerTest {
 protected:
  static constexpr int kCap = 20;
  void SetUp() override {
    server.extra_args = {"-http-max-streams", std::to_string(kCap), "-http-threads", std::to_string(kCap + 16)};
    ServerTest::SetUp();
  }
};

TEST_F(DashboardStreamCap, StreamsBeyondTheCapGet503AndAFreedSlotIsReused) {
  std::vector<EventStream> streams(kCap);
  for (int i = 0; i < kCap; i++) {
    ASSERT_TRUE(streams[size_t(i)].open(server.http_port, "/api/events")) << "stream " << i;
    ASSERT_EQ(streams[size_t(i)].status, 200) << "stream " << i;
  }
  EventStream over;
  ASSERT_TRUE(over.open(server.http_port, "/api/events"));
  EXPECT_EQ(over.status, 503) << over.headers;
  EXPECT_TRUE(over.read_until("too many live streams\n")) << over.buf;
  // The admin view counts against the same cap.
  EventStream over_admin;
  ASSERT_TRUE(over_admin.open(server.http_port, "/api/events?admin_token=" + server.admin_token));
  EXPECT_EQ(over_admin.status, 503);
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/api/public-stats"}) {
    HttpResponse h;
    ASSERT_TRUE(http_get(server.http_port, path, &h, 10000)) << path;
    EXPECT_EQ(h.status, 200) << path;
  }
  // A client that goes away frees its slot once the server's next write to it fails (the
  // feed pushes at least once a second).
  streams.front().conn.close();
  int64_t deadline = mono_ms() + 20000;
  int status = 0;
  while (mono_ms() < deadline) {
    EventStream again;
    if (again.open(server.http_port, "/api/events") && again.status == 200) {
      status = 200;
      break;
    }
    sleep_ms(100);
  }
  EXPECT_EQ(status, 200) << "the closed stream's slot was never freed";
}

}  // namespace
}  // namespace rt
