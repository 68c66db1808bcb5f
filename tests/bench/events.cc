#include "tests/bench/events.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "shared/crypto.h"
#include "shared/util.h"
#include "shared/wire.h"
#include "tests/bench/blocking_io.h"
#include "tests/bench/memory.h"
#include "tests/bench/server_process.h"
#include "tests/bench/text.h"

namespace rdv::bench {

namespace {

constexpr double kRate = 10;       // changes per second
constexpr double kSeconds = 10;    // of changes with every subscriber
constexpr double kRefSeconds = 5;  // of changes with one subscriber (the reference)

struct Identity {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
  uint32_t id = 0;
  std::string sign(const std::string& msg) const {
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), sk);
    return base64_encode(sig, sizeof sig);
  }
};

uint64_t number_field(std::string_view body, std::string_view key) {
  std::string k = "\"" + std::string(key) + "\":";
  size_t at = body.find(k);
  if (at == std::string_view::npos) return 0;
  uint64_t v = 0;
  for (size_t i = at + k.size(); i < body.size() && body[i] >= '0' && body[i] <= '9'; i++) v = v * 10 + uint64_t(body[i] - '0');
  return v;
}

std::string framed(const std::string& body) {
  std::string out;
  wire::append_json_frame(out, body);
  return out;
}

// Sends `bodies` on one connection, pipelined 500 at a time, and hands each reply to `on`.
bool pipelined(uint16_t port, const std::vector<std::string>& bodies, const std::function<void(size_t, const std::string&)>& on) {
  int fd = connect_loopback(port, 20);
  if (fd < 0) return false;
  std::string buf, body;
  for (size_t at = 0; at < bodies.size(); at += 500) {
    size_t end = std::min(bodies.size(), at + 500);
    std::string batch;
    for (size_t i = at; i < end; i++) wire::append_json_frame(batch, bodies[i]);
    if (!send_all(fd, batch)) return ::close(fd), false;
    for (size_t i = at; i < end; i++) {
      if (!recv_frame(fd, buf, &body)) return ::close(fd), false;
      on(i, body);
    }
  }
  ::close(fd);
  return true;
}

// The same over `threads` connections, each a contiguous share of `bodies`.
bool pipelined_parallel(uint16_t port, const std::vector<std::string>& bodies, size_t threads,
                        const std::function<void(size_t, const std::string&)>& on) {
  std::vector<std::thread> ts;
  std::atomic<bool> ok{true};
  for (size_t t = 0; t < threads; t++)
    ts.emplace_back([&, t] {
      size_t from = bodies.size() * t / threads, to = bodies.size() * (t + 1) / threads;
      std::vector<std::string> part(bodies.begin() + ptrdiff_t(from), bodies.begin() + ptrdiff_t(to));
      if (!pipelined(port, part, [&](size_t i, const std::string& b) { on(from + i, b); })) ok = false;
    });
  for (auto& t : ts) t.join();
  return ok;
}


struct Stream {
  int fd = -1;
  std::string buf;
  size_t seen = 0;  // change events received: the next one answers change `seen`
};

struct PhaseResult {
  size_t changes = 0, expected = 0, delivered = 0, cut = 0, closed = 0;
  std::vector<int32_t> send_us, made_us;  // latencies
};

double pct(std::vector<int32_t>& v, double p) {
  if (v.empty()) return NAN;
  size_t k = std::min(v.size() - 1, size_t(p * double(v.size())));
  std::nth_element(v.begin(), v.begin() + ptrdiff_t(k), v.end());
  return v[k] / 1000.0;  // ms
}

// The mover joins and leaves the network `changes` times at kRate; receiver threads read every
// stream with epoll and time each event.
PhaseResult run_phase(uint16_t port, std::vector<Stream>& streams, const Identity& mover, uint16_t net,
                      size_t changes) {
  PhaseResult res;
  res.changes = changes;
  res.expected = changes * streams.size();
  std::vector<std::atomic<int64_t>> sent(changes);
  for (auto& s : sent) s.store(0);
  std::atomic<bool> stop{false};
  std::atomic<size_t> delivered{0};
  const size_t nthreads = streams.size() > 1 ? 2 : 1;
  struct Local {
    std::vector<int32_t> send_us, made_us;
    size_t cut = 0, closed = 0;
  };
  std::vector<Local> locals(nthreads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < nthreads; t++)
    threads.emplace_back([&, t] {
      Local& L = locals[t];
      int ep = epoll_create1(EPOLL_CLOEXEC);
      for (size_t i = t; i < streams.size(); i += nthreads) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &streams[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, streams[i].fd, &ev);
      }
      epoll_event evs[256];
      char tmp[65536];
      while (!stop.load(std::memory_order_relaxed)) {
        int n = epoll_wait(ep, evs, 256, 50);
        for (int i = 0; i < n; i++) {
          Stream& s = *static_cast<Stream*>(evs[i].data.ptr);
          for (;;) {
            ssize_t r = ::recv(s.fd, tmp, sizeof tmp, MSG_DONTWAIT);
            if (r > 0) {
              s.buf.append(tmp, size_t(r));
              continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
              L.closed++;
              epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
            }
            break;
          }
          const int64_t now_mono = mono_now_ns(), now_us = unix_now_ns() / 1000;
          size_t off = 0;
          while (s.buf.size() - off >= 4) {
            uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(s.buf.data() + off));
            if (s.buf.size() - off < 4 + size_t(len)) break;
            std::string_view body(s.buf.data() + off + 4, len);
            off += 4 + len;
            if (body.find("\"event\":\"member_") != std::string_view::npos) {
              uint64_t id = number_field(body, "id");
              L.made_us.push_back(int32_t(std::max<int64_t>(0, now_us - int64_t(id))));
              if (s.seen < changes) {
                int64_t at = sent[s.seen].load(std::memory_order_acquire);
                if (at) L.send_us.push_back(int32_t((now_mono - at) / 1000));
              }
              s.seen++;
              delivered.fetch_add(1, std::memory_order_relaxed);
            } else if (body.find("\"event\":\"error\"") != std::string_view::npos) {
              L.cut++;
            }
          }
          s.buf.erase(0, off);
        }
      }
      ::close(ep);
    });

  int fd = connect_loopback(port, 20);
  std::string buf, body;
  const int64_t start = mono_now_ns();
  for (size_t i = 0; i < changes && fd >= 0; i++) {
    const char* verb = i % 2 == 0 ? "join_network" : "leave_network";
    std::string req = std::string(R"({"type":")") + verb + R"(","node_id":)" + std::to_string(mover.id) +
                      R"(,"network_id":)" + std::to_string(net) + R"(,"signature":")" +
                      mover.sign(std::string(verb) + ":" + std::to_string(mover.id) + ":" + std::to_string(net)) + "\"}";
    sent[i].store(mono_now_ns(), std::memory_order_release);
    if (!send_all(fd, framed(req)) || !recv_frame(fd, buf, &body)) break;
    if (body.find("\"error\"") != std::string::npos) fprintf(stderr, "rendezvous-bench: mover: %s\n", body.c_str());
    int64_t next = start + int64_t(double(i + 1) * 1e9 / kRate);
    while (mono_now_ns() < next) usleep(1000);
  }
  if (fd >= 0) ::close(fd);
  // Let the last events arrive: until all are in, or nothing moved for 3 s.
  size_t last = delivered.load();
  int64_t quiet_since = mono_now_ns();
  while (delivered.load() < res.expected && mono_now_ns() - quiet_since < 3000000000LL) {
    usleep(20000);
    if (size_t d = delivered.load(); d != last) {
      last = d;
      quiet_since = mono_now_ns();
    }
  }
  stop = true;
  for (auto& t : threads) t.join();
  res.delivered = delivered.load();
  for (Local& L : locals) {
    res.send_us.insert(res.send_us.end(), L.send_us.begin(), L.send_us.end());
    res.made_us.insert(res.made_us.end(), L.made_us.begin(), L.made_us.end());
    res.cut += L.cut;
    res.closed += L.closed;
  }
  return res;
}

bool subscribe_blocking(Stream& s, const Identity& who) {
  std::string req = R"({"type":"subscribe_events","node_id":)" + std::to_string(who.id) + R"(,"signature":")" +
                    who.sign("subscribe_events:" + std::to_string(who.id)) + "\"}";
  std::string body;
  return send_all(s.fd, framed(req)) && recv_frame(s.fd, s.buf, &body) &&
         body.find("subscribe_events_ok") != std::string::npos;
}

}  // namespace

int run_events(const std::string& bin_dir, const std::string& tmp_root, size_t n) {
  // Every subscriber is a descriptor here and one in the registry worker, which inherits the
  // limit through the supervisor (the systemd unit sets LimitNOFILE=1048576 in production).
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < n + 256) {
    fprintf(stderr, "rendezvous-bench: RLIMIT_NOFILE is %llu; %zu subscribers need more\n",
            (unsigned long long)rl.rlim_cur, n);
    return 1;
  }
  OwnServer own;
  if (!own.start(bin_dir, tmp_root)) return 1;
  ServerProcess& server = own.server;
  int rc = 1;
  std::vector<Stream> streams;
  do {
    const uint16_t port = server.registry_port();
    printf("# rendezvous-bench --events %zu: %g changes/s for %g s (reference: 1 subscriber, %g s)\n", n, kRate,
           kSeconds, kRefSeconds);
    // n subscribers, the network's owner, the mover.
    std::vector<Identity> ids(n + 2);
    for (Identity& id : ids) crypto_sign_keypair(id.pk, id.sk);
    std::vector<std::string> bodies;
    for (const Identity& id : ids)
      bodies.push_back(R"({"type":"register","public_key":")" + base64_encode(id.pk, sizeof id.pk) +
                       R"(","listen_addr":"203.0.113.9:4000","version":"bench"})");
    int64_t t0 = mono_now_ns();
    if (!pipelined_parallel(port, bodies, 8, [&](size_t i, const std::string& b) { ids[i].id = uint32_t(number_field(b, "node_id")); })) {
      fprintf(stderr, "rendezvous-bench: registration lost its connection\n");
      break;
    }
    Identity& owner = ids[n];
    Identity& mover = ids[n + 1];
    std::string body, buf;
    uint16_t net = 0;
    pipelined(port, {R"({"type":"create_network","admin_token":")" + std::string(kAdminToken) + R"(","node_id":)" +
                     std::to_string(owner.id) + R"(,"name":"events-bench"})"},
              [&](size_t, const std::string& b) { net = uint16_t(number_field(b, "network_id")); });
    if (!net) {
      fprintf(stderr, "rendezvous-bench: create_network failed\n");
      break;
    }
    bodies.clear();
    for (size_t i = 0; i < n; i++)
      bodies.push_back(R"({"type":"join_network","node_id":)" + std::to_string(ids[i].id) + R"(,"network_id":)" +
                       std::to_string(net) + R"(,"signature":")" +
                       ids[i].sign("join_network:" + std::to_string(ids[i].id) + ":" + std::to_string(net)) + "\"}");
    size_t join_errors = 0;
    pipelined_parallel(port, bodies, 8, [&](size_t, const std::string& b) { join_errors += b.find("join_network_ok") == std::string::npos; });
    printf("  %zu nodes registered and %zu joined network %u in %.1f s (%zu join errors)\n", n + 2, n, net,
           double(mono_now_ns() - t0) / 1e9, join_errors);

    // The reference: the same changes with one subscriber.
    std::vector<Stream> one(1);
    one[0].fd = connect_loopback(port, 20);
    if (one[0].fd < 0 || !subscribe_blocking(one[0], ids[0])) {
      fprintf(stderr, "rendezvous-bench: the reference subscription failed\n");
      break;
    }
    PhaseResult ref = run_phase(port, one, mover, net, size_t(kRate * kRefSeconds));
    ::close(one[0].fd);

    // n idle connections (one lookup each), then each subscribes.
    pid_t reg = registry_pid(server.pid());
    long rss0 = rss_kib(reg);
    streams.resize(n);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
      streams[i].fd = connect_loopback(port, 20);
      if (streams[i].fd < 0) {
        fprintf(stderr, "rendezvous-bench: connection %zu: %s\n", i, strerror(errno));
        break;
      }
      if (!send_all(streams[i].fd, framed(R"({"type":"lookup","node_id":)" + std::to_string(ids[i].id) + "}")) ||
          !recv_frame(streams[i].fd, streams[i].buf, &body))
        failed++;
    }
    if (failed || streams.back().fd < 0) {
      fprintf(stderr, "rendezvous-bench: %zu idle connections failed\n", failed);
      break;
    }
    usleep(300000);
    long rss1 = rss_kib(reg);
    int64_t s0 = mono_now_ns();
    for (size_t i = 0; i < n; i++) failed += !subscribe_blocking(streams[i], ids[i]);
    double subscribe_s = double(mono_now_ns() - s0) / 1e9;
    usleep(300000);
    long rss2 = rss_kib(reg);
    if (failed) {
      fprintf(stderr, "rendezvous-bench: %zu subscriptions failed\n", failed);
      break;
    }
    printf("  %zu subscribed in %.2f s\n", n, subscribe_s);

    PhaseResult all = run_phase(port, streams, mover, net, size_t(kRate * kSeconds));
    long rss3 = rss_kib(reg);

    printf("\n  %-40s %14s %14s %8s\n", "", "1 subscriber", thousands(double(n)).append(" subs").c_str(), "ratio");
    auto row = [&](const char* name, double a, double b, const char* unit) {
      printf("  %-40s %11.2f %s %11.2f %s %8s\n", name, a, unit, b, unit, ratio_text(b / a).c_str());
    };
    row("send -> receipt, median", pct(ref.send_us, 0.5), pct(all.send_us, 0.5), "ms");
    row("send -> receipt, p99", pct(ref.send_us, 0.99), pct(all.send_us, 0.99), "ms");
    row("made (after commit) -> receipt, median", pct(ref.made_us, 0.5), pct(all.made_us, 0.5), "ms");
    row("made (after commit) -> receipt, p99", pct(ref.made_us, 0.99), pct(all.made_us, 0.99), "ms");
    printf("  events delivered: %s of %s (reference %s of %s); cut off: %zu; closed: %zu\n",
           thousands(double(all.delivered)).c_str(), thousands(double(all.expected)).c_str(),
           thousands(double(ref.delivered)).c_str(), thousands(double(ref.expected)).c_str(), all.cut, all.closed);
    printf("  frames sent: %s/s\n", thousands(double(all.delivered) / kSeconds).c_str());
    double idle_b = double(rss1 - rss0) * 1024.0 / double(n), sub_b = double(rss2 - rss0) * 1024.0 / double(n);
    printf("  registry RSS: %.1f MiB before, %.1f MiB with %zu idle connections, %.1f MiB subscribed, %.1f MiB after "
           "the changes\n",
           rss0 / 1024.0, rss1 / 1024.0, n, rss2 / 1024.0, rss3 / 1024.0);
    printf("  RSS per connection: idle %s B (the reference), subscribed %s B (%s), of which the subscription %s B\n",
           thousands(idle_b).c_str(), thousands(sub_b).c_str(), ratio_text(sub_b / idle_b).c_str(),
           thousands(sub_b - idle_b).c_str());
    rc = all.delivered == all.expected && all.cut == 0 ? 0 : 1;
  } while (false);
  for (Stream& s : streams)
    if (s.fd >= 0) ::close(s.fd);
  return own.finish(rc);
}

}  // namespace rdv::bench
