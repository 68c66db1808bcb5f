#include "tests/bench/dashboards.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "shared/util.h"
#include "tests/bench/histogram.h"
#include "tests/bench/server_process.h"

namespace rdv::bench {

namespace {

constexpr const char* kProbes[] = {"/healthz", "/readyz", "/metrics"};
constexpr size_t kProbeCount = sizeof kProbes / sizeof kProbes[0];
constexpr double kMeasureSeconds = 3;

struct ProbeFigures {
  Histogram latency[kProbeCount];
  uint64_t failures = 0;
  double seconds = 0;
};

// Round-robin over the probes for kMeasureSeconds; a reply without "200 OK" is a failure.
ProbeFigures measure(uint16_t port) {
  ProbeFigures f;
  const int64_t start = mono_now_ns(), end = start + int64_t(kMeasureSeconds * 1e9);
  for (size_t i = 0; mono_now_ns() < end; i++) {
    const size_t p = i % kProbeCount;
    const int64_t t0 = mono_now_ns();
    std::string reply = http_get_local(port, kProbes[p], 5);
    f.latency[p].record(mono_now_ns() - t0);
    if (reply.find(" 200 ") == std::string::npos) f.failures++;
  }
  f.seconds = double(mono_now_ns() - start) / 1e9;
  return f;
}

// Opens one /api/events stream and waits for its first event; -1 when it did not come.
int open_stream(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char req[] = "GET /api/events HTTP/1.0\r\nHost: localhost\r\n\r\n";
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == ssize_t(sizeof req - 1)) {
    char buf[4096];
    ssize_t n;
    while (got.find("data: ") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, size_t(n));
  }
  if (got.find("data: ") == std::string::npos) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void print(const char* label, const ProbeFigures& f) {
  uint64_t total = 0;
  for (auto& h : f.latency) total += h.count();
  printf("| %s | %.0f |", label, double(total) / f.seconds);
  for (auto& h : f.latency) printf(" %.2f / %.2f |", double(h.quantile_ns(0.5)) / 1e6, double(h.quantile_ns(0.99)) / 1e6);
  printf(" %llu |\n", static_cast<unsigned long long>(f.failures));
}

}  // namespace

int run_dashboards(const std::string& bin_dir, const std::string& tmp_root, size_t streams) {
  OwnServer own;
  if (!own.start(bin_dir, tmp_root)) return 1;
  ServerProcess& server = own.server;
  int rc = 1;
  std::vector<int> open;
  do {
    ProbeFigures reference = measure(server.http_port());
    for (size_t i = 0; i < streams; i++) {
      int fd = open_stream(server.http_port());
      if (fd < 0) {
        fprintf(stderr, "rendezvous-bench: stream %zu did not get its first event\n", i + 1);
        break;
      }
      open.push_back(fd);
    }
    if (open.size() != streams) break;
    ProbeFigures loaded = measure(server.http_port());
    printf("dashboards: probes with no stream open (reference) and with %zu live /api/events streams\n\n", streams);
    printf("| streams | probes/s | /healthz p50 / p99 ms | /readyz p50 / p99 ms | /metrics p50 / p99 ms | failures |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    print("0", reference);
    print(std::to_string(streams).c_str(), loaded);
    uint64_t ref_n = 0, load_n = 0;
    for (size_t p = 0; p < kProbeCount; p++) ref_n += reference.latency[p].count(), load_n += loaded.latency[p].count();
    printf("\nratio of probe rates (with streams / reference): %.2f\n",
           (double(load_n) / loaded.seconds) / (double(ref_n) / reference.seconds));
    rc = reference.failures == 0 && loaded.failures == 0 ? 0 : 1;
  } while (false);
  for (int fd : open) ::close(fd);
  return own.finish(rc);
}

}  // namespace rdv::bench
