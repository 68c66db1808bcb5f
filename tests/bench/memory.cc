#include "tests/bench/memory.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "shared/crypto.h"
#include "shared/util.h"
#include "shared/wire.h"
#include "tests/bench/blocking_io.h"
#include "tests/bench/server_process.h"

namespace rdv::bench {

namespace {

// Registers nodes [from, to) over one connection, pipelining 1000 at a time.
bool load_range(uint16_t port, size_t from, size_t to, uint64_t seed, size_t* failures) {
  int fd = connect_loopback(port, 10);
  if (fd < 0) return false;
  std::mt19937_64 rng(seed);
  std::string buf, body;
  for (size_t base = from; base < to; base += 1000) {
    size_t end = std::min(to, base + 1000);
    std::string batch;
    for (size_t i = base; i < end; i++) {
      uint8_t key[32];
      for (int k = 0; k < 32; k += 8) {
        uint64_t v = rng();
        std::memcpy(key + k, &v, 8);
      }
      std::string req = R"({"type":"register","public_key":")" + base64_encode(key, 32) +
                        R"(","listen_addr":"203.0.113.9:4000","version":"bench"})";
      wire::append_json_frame(batch, req);
    }
    if (!send_all(fd, batch)) return ::close(fd), false;
    for (size_t i = base; i < end; i++) {
      if (!recv_frame(fd, buf, &body)) return ::close(fd), false;
      if (body.find("\"register_ok\"") == std::string::npos) (*failures)++;
    }
  }
  ::close(fd);
  return true;
}

}  // namespace

long rss_kib(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::strtol(line.c_str() + std::strlen(field), nullptr, 10);
  return -1;
}

pid_t registry_pid(pid_t supervisor) {
  DIR* d = opendir("/proc");
  pid_t found = -1;
  while (dirent* e = d ? readdir(d) : nullptr) {
    pid_t pid = pid_t(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(st, stat);
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::string comm = stat.substr(stat.find('(') + 1, close - stat.find('(') - 1);
    int ppid = 0;
    char state;
    std::sscanf(stat.c_str() + close + 2, "%c %d", &state, &ppid);
    if (ppid == supervisor && comm == "rendezvous-regi") found = pid;
  }
  if (d) closedir(d);
  return found;
}

namespace {

// One lookup on a fresh connection; true on lookup_ok.
bool lookup_ok(uint16_t port, uint32_t id) {
  int fd = connect_loopback(port, 10);
  if (fd < 0) return false;
  std::string frame, buf, body;
  wire::append_json_frame(frame, R"({"type":"lookup","node_id":)" + std::to_string(id) + "}");
  bool ok = send_all(fd, frame) && recv_frame(fd, buf, &body) && body.find("lookup_ok") != std::string::npos;
  ::close(fd);
  return ok;
}

}  // namespace

int run_memory(const std::string& bin_dir, const std::string& tmp_root, size_t nodes) {
  OwnServer own;
  own.server.log_level = "info";  // the registry's start-up timings are logged at info
  if (!own.start(bin_dir, tmp_root)) return 1;
  ServerProcess& server = own.server;
  int rc = 1;
  do {
    pid_t reg = registry_pid(server.pid());
    long rss0 = rss_kib(reg);
    printf("memory: registering %zu nodes (unsigned, random keys) into %s\n", nodes, server.data_dir().c_str());
    int64_t t0 = mono_now_ns();
    const size_t conns = 8;
    std::vector<std::thread> threads;
    std::vector<size_t> failures(conns, 0);
    std::vector<char> ok(conns, 0);
    for (size_t c = 0; c < conns; c++)
      threads.emplace_back([&, c] {
        size_t from = nodes * c / conns, to = nodes * (c + 1) / conns;
        ok[c] = load_range(server.registry_port(), from, to, 1000 + c, &failures[c]);
      });
    for (auto& t : threads) t.join();
    double load_s = double(mono_now_ns() - t0) / 1e9;
    size_t failed = 0;
    for (size_t c = 0; c < conns; c++) {
      failed += failures[c];
      if (!ok[c]) fprintf(stderr, "rendezvous-bench: loader %zu lost its connection\n", c);
    }
    long rss = rss_kib(reg), rss_file = rss_kib(reg, "RssFile:"), rss_anon = rss_kib(reg, "RssAnon:");
    printf("  loaded in %.1f s (%.0f durable registrations/s), %zu refused\n", load_s, double(nodes) / load_s, failed);
    printf("  registry RSS: %.1f MiB before, %.1f MiB after (anon %.1f MiB, LMDB map %.1f MiB)\n", rss0 / 1024.0,
           rss / 1024.0, rss_anon / 1024.0, rss_file / 1024.0);
    printf("  = %.0f bytes of RSS per registered node (aim: <= 1024)\n", double(rss) * 1024.0 / double(nodes));

    // A crash at this size: SIGKILL the registry worker, time until a lookup is answered.
    int64_t k0 = mono_now_ns();
    ::kill(reg, SIGKILL);
    while (!lookup_ok(server.registry_port(), 1) && mono_now_ns() - k0 < 30000000000LL) usleep(200);
    double restart_ms = double(mono_now_ns() - k0) / 1e6;
    pid_t reg2 = registry_pid(server.pid());
    printf("  SIGKILL of the registry worker -> serving again in %.1f ms (aim: <= 100 ms); "
           "RSS of the new worker %.1f MiB\n",
           restart_ms, rss_kib(reg2) / 1024.0);
    // The restarted worker logs where its start-up time went.
    std::string tail = server.log_tail(65536);
    size_t at = tail.rfind("msg=\"registry serving\"");
    if (at != std::string::npos) {
      size_t eol = tail.find('\n', at);
      std::string line = tail.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
      for (const char* key : {"open_ms=", "load_ms=", "startup_ms="}) {
        size_t k = line.find(key);
        if (k != std::string::npos) printf("  restarted worker %s%ld\n", key, std::strtol(line.c_str() + k + strlen(key), nullptr, 10));
      }
    }
    printf("\n| nodes | load/s | RSS MiB | bytes/node | restart ms |\n|---:|---:|---:|---:|---:|\n");
    printf("| %zu | %.0f | %.1f | %.0f | %.1f |\n", nodes, double(nodes) / load_s, rss / 1024.0,
           double(rss) * 1024.0 / double(nodes), restart_ms);
    rc = failed == 0 ? 0 : 1;
  } while (false);
  return own.finish(rc);
}

}  // namespace rdv::bench
