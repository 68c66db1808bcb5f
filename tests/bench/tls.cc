// rendezvous-bench --tls (tls.h).
#include "tests/bench/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "tests/bench/histogram.h"
#include "tests/bench/server_process.h"
#include "tests/bench/text.h"

namespace rdv::bench {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string frame(const std::string& body) {
  std::string f(4, '\0');
  uint32_t n = uint32_t(body.size());
  f[0] = char(n >> 24), f[1] = char(n >> 16), f[2] = char(n >> 8), f[3] = char(n);
  return f + body;
}

const std::string kLookup = frame(R"({"type":"lookup","node_id":1})");

// One client connection, plain or TLS, with blocking sockets (the closed loop waits on poll).
struct Client {
  int fd = -1;
  SSL* ssl = nullptr;
  int64_t sent_ns = 0;
  std::string in;
  ~Client() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
  bool write_all(const std::string& data) {
    if (!ssl) return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size());
    return SSL_write(ssl, data.data(), int(data.size())) == int(data.size());
  }
  // Reads what is there; true once a whole frame is in `in` (consumed).
  bool read_reply(bool* failed) {
    char buf[4096];
    int n = ssl ? SSL_read(ssl, buf, sizeof buf) : int(::recv(fd, buf, sizeof buf, 0));
    if (n <= 0) {
      *failed = true;
      return false;
    }
    in.append(buf, size_t(n));
    if (in.size() < 4) return false;
    uint32_t len = uint32_t(uint8_t(in[0])) << 24 | uint32_t(uint8_t(in[1])) << 16 | uint32_t(uint8_t(in[2])) << 8 |
                   uint8_t(in[3]);
    if (in.size() < 4 + size_t(len)) return false;
    in.erase(0, 4 + len);
    return true;
  }
};

std::unique_ptr<Client> dial(uint16_t port, SSL_CTX* ctx) {
  auto c = std::make_unique<Client>();
  c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c->fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return nullptr;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ctx) {
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) return nullptr;
  }
  return c;
}

struct LoopResult {
  uint64_t replies = 0, errors = 0;
  Histogram latency;
};

// Closed loop on `clients` until `stop`: a lookup in flight on each.
void closed_loop(std::vector<std::unique_ptr<Client>>& clients, const std::atomic<bool>& stop,
                 const std::atomic<bool>& counting, LoopResult* out) {
  std::vector<pollfd> fds(clients.size());
  for (size_t i = 0; i < clients.size(); i++) {
    fds[i] = {clients[i]->fd, POLLIN, 0};
    clients[i]->sent_ns = now_ns();
    if (!clients[i]->write_all(kLookup)) out->errors++;
  }
  while (!stop.load(std::memory_order_relaxed)) {
    // Replies OpenSSL already holds are read before waiting.
    bool buffered = false;
    for (auto& c : clients) buffered |= c->ssl && SSL_pending(c->ssl) > 0;
    if (!buffered && ::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (size_t i = 0; i < clients.size(); i++) {
      Client& c = *clients[i];
      if (!(fds[i].revents & POLLIN) && !(c.ssl && SSL_pending(c.ssl) > 0)) continue;
      bool failed = false;
      if (!c.read_reply(&failed)) {
        if (failed) {
          out->errors++;
          fds[i].fd = -1;
        }
        continue;
      }
      if (counting.load(std::memory_order_relaxed)) {
        out->replies++;
        out->latency.record(now_ns() - c.sent_ns);
      }
      c.sent_ns = now_ns();
      if (!c.write_all(kLookup)) out->errors++;
    }
  }
}

// Lookups/s over `conns` connections in `threads` threads for the window (after 0.5 s warm-up).
bool lookup_rate(uint16_t port, SSL_CTX* ctx, int conns, int threads, double window_s, double* rate,
                 Histogram* latency, std::string* error) {
  std::vector<std::vector<std::unique_ptr<Client>>> per(threads);
  for (int i = 0; i < conns; i++) {
    auto c = dial(port, ctx);
    if (!c) {
      *error = "connection " + std::to_string(i) + " failed";
      return false;
    }
    per[i % threads].push_back(std::move(c));
  }
  std::atomic<bool> stop{false}, counting{false};
  std::vector<LoopResult> res(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { closed_loop(per[t], stop, counting, &res[t]); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  counting = true;
  int64_t t0 = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(int64_t(window_s * 1000)));
  counting = false;
  int64_t t1 = now_ns();
  stop = true;
  for (auto& t : ts) t.join();
  uint64_t replies = 0, errors = 0;
  for (auto& r : res) {
    replies += r.replies;
    errors += r.errors;
    if (latency) latency->merge(r.latency);
  }
  *rate = double(replies) / (double(t1 - t0) / 1e9);
  if (errors) *error = std::to_string(errors) + " failed requests";
  return errors == 0;
}

// New TLS connections (handshake + one lookup + close) per second from `threads` threads.
void handshake_load(uint16_t port, SSL_CTX* ctx, int threads, const std::atomic<bool>& stop, std::atomic<uint64_t>* done,
                    std::atomic<uint64_t>* failed) {
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++)
    ts.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto c = dial(port, ctx);
        bool bad = false;
        if (!c || !c->write_all(kLookup)) {
          failed->fetch_add(1);
          continue;
        }
        while (!c->read_reply(&bad) && !bad) {
        }
        (bad ? failed : done)->fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
}

// Full handshakes per second with both ends in this thread, over a memory BIO pair.
double raw_handshake_rate(SSL_CTX* server_ctx, SSL_CTX* client_ctx, double seconds) {
  uint64_t n = 0;
  int64_t t0 = now_ns(), end = t0 + int64_t(seconds * 1e9);
  while (now_ns() < end) {
    SSL* s = SSL_new(server_ctx);
    SSL* c = SSL_new(client_ctx);
    BIO *bs = nullptr, *bc = nullptr;
    BIO_new_bio_pair(&bs, 0, &bc, 0);
    SSL_set_bio(s, bs, bs);
    SSL_set_bio(c, bc, bc);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    for (int i = 0; i < 20 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); i++) {
      SSL_do_handshake(c);
      SSL_do_handshake(s);
    }
    if (SSL_is_init_finished(s) && SSL_is_init_finished(c)) n++;
    SSL_free(s);
    SSL_free(c);
  }
  return double(n) / (double(now_ns() - t0) / 1e9);
}

bool wait_tls_ready(uint16_t port, SSL_CTX* ctx, double timeout_s) {
  int64_t end = now_ns() + int64_t(timeout_s * 1e9);
  while (now_ns() < end) {
    if (auto c = dial(port, ctx)) {
      bool bad = false;
      if (c->write_all(kLookup)) {
        while (!c->read_reply(&bad) && !bad) {
        }
        if (!bad) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string lat(const Histogram& h) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.2f / %.2f / %.2f ms", double(h.quantile_ns(0.5)) / 1e6,
                double(h.quantile_ns(0.99)) / 1e6, double(h.max_ns()) / 1e6);
  return buf;
}

}  // namespace

int run_tls_bench(const TlsBenchOptions& opt) {
  std::string err;
  std::string root = make_temp_dir(opt.tmp_root.empty() ? "/tmp" : opt.tmp_root, &err);
  if (root.empty()) {
    std::printf("tls: %s\n", err.c_str());
    return 1;
  }
  std::string plain_dir = root + "/plain", tls_dir = root + "/tls";
  ::mkdir(plain_dir.c_str(), 0700);
  ::mkdir(tls_dir.c_str(), 0700);
  ServerProcess plain, tls;
  tls.extra_args = {"-tls", "-log-level", "info"};
  SSL_CTX* client = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(client, SSL_VERIFY_NONE, nullptr);  // a pinned dial checks the pin after
  int rc = 0;
  std::printf("\n## TLS on the registry port (rendezvous-bench --tls)\n\n");
  if (!plain.start(opt.bin_dir, plain_dir, &err) || !plain.wait_ready(20, &err) ||
      !tls.start(opt.bin_dir, tls_dir, &err) || !wait_tls_ready(tls.registry_port(), client, 20)) {
    std::printf("tls: servers did not start: %s\n%s\n", err.c_str(), tls.log_tail(2000).c_str());
    remove_tree(root);
    return 1;
  }
  constexpr int kConns = 64, kThreads = 2;
  double plain_rate = 0, tls_rate = 0;
  Histogram plain_lat, tls_lat;
  std::string e1, e2;
  bool ok1 = lookup_rate(plain.registry_port(), nullptr, kConns, kThreads, opt.window_s, &plain_rate, &plain_lat, &e1);
  bool ok2 = lookup_rate(tls.registry_port(), client, kConns, kThreads, opt.window_s, &tls_rate, &tls_lat, &e2);
  if (!ok1 || !ok2) rc = 1;
  std::printf("| figure | value | reference | ratio |\n|---|---:|---|---:|\n");
  std::printf("| lookups over TLS, 64 connections | %s/s | plain TCP %s/s | %s |\n", thousands(tls_rate).c_str(),
              thousands(plain_rate).c_str(), ratio_text(plain_rate > 0 ? tls_rate / plain_rate : 0).c_str());
  std::printf("| lookup latency median / p99 / max, TLS | %s | plain %s | |\n", lat(tls_lat).c_str(), lat(plain_lat).c_str());

  // The raw rate: a server context like the registry's (generated P-256 certificate).
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_sign(cert, key, EVP_sha256());
    SSL_CTX_use_certificate(server_ctx, cert);
    SSL_CTX_use_PrivateKey(server_ctx, key);
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(server_ctx, 0);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  double raw = raw_handshake_rate(server_ctx, client, 2.0);

  // Handshakes alone, then the stall: lookups on established connections while they run.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0}, failed{0};
  std::thread herd([&] { handshake_load(tls.registry_port(), client, kThreads, stop, &done, &failed); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  uint64_t d0 = done.load();
  int64_t t0 = now_ns();
  double during_rate = 0;
  Histogram during;
  std::string e3;
  bool ok3 = lookup_rate(tls.registry_port(), client, 16, 1, opt.window_s, &during_rate, &during, &e3);
  double hs_rate = double(done.load() - d0) / (double(now_ns() - t0) / 1e9);
  stop = true;
  herd.join();
  double alone_rate = 0;
  Histogram alone;
  std::string e4;
  bool ok4 = lookup_rate(tls.registry_port(), client, 16, 1, opt.window_s, &alone_rate, &alone, &e4);
  if (!ok3 || !ok4 || failed.load()) rc = 1;
  std::printf("| new TLS connections (handshake + lookup + close), 2 threads | %s/s | raw handshakes, both ends on one core %s/s | %s |\n",
              thousands(hs_rate).c_str(), thousands(raw).c_str(), ratio_text(raw > 0 ? hs_rate / raw : 0).c_str());
  std::printf("| lookup latency median / p99 / max, 16 TLS connections, during handshakes | %s | alone %s | |\n",
              lat(during).c_str(), lat(alone).c_str());
  std::printf("| lookups on 16 TLS connections during handshakes | %s/s | alone %s/s | %s |\n",
              thousands(during_rate).c_str(), thousands(alone_rate).c_str(),
              ratio_text(alone_rate > 0 ? during_rate / alone_rate : 0).c_str());
  for (auto* e : {&e1, &e2, &e3, &e4})
    if (!e->empty()) std::printf("errors: %s\n", e->c_str());
  if (failed.load()) std::printf("errors: %llu handshake connections failed\n", (unsigned long long)failed.load());
  SSL_CTX_free(server_ctx);
  SSL_CTX_free(client);
  plain.stop();
  tls.stop();
  remove_tree(root);
  return rc;
}

}  // namespace rdv::bench
