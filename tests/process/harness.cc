#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "crypto.h"

namespace rt {

// ---------------------------------------------------------------------------------------------
// time, bytes

int64_t mono_ms() { return rdv::mono_now_ns() / 1000000; }

void sleep_ms(int ms) {
  timespec ts{ms / 1000, long(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

std::string bin_dir() {
  if (const char* d = getenv("RENDEZVOUS_BIN_DIR"); d && *d) return d;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "build/bin";
  std::string self(buf, size_t(n));
  return self.substr(0, self.rfind('/'));
}

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) port = ntohs(a.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

std::string json_frame(std::string_view body) { return be32(uint32_t(body.size())) + std::string(body); }

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
std::string be16(uint16_t v) { return std::string{char(v >> 8), char(v)}; }
uint32_t get_be32(std::string_view s, size_t off) {
  auto p = reinterpret_cast<const uint8_t*>(s.data()) + off;
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint16_t get_be16(std::string_view s, size_t off) {
  auto p = reinterpret_cast<const uint8_t*>(s.data()) + off;
  return uint16_t(p[0] << 8 | p[1]);
}
uint64_t get_be64(std::string_view s, size_t off) {
  return uint64_t(get_be32(s, off)) << 32 | get_be32(s, off + 4);
}

// ---------------------------------------------------------------------------------------------
// keys

Key Key::generate() {
  static const bool init = sodium_init() >= 0;
  (void)init;
  Key k;
  crypto_sign_keypair(k.pk, k.sk);
  return k;
}
std::string Key::pub_b64() const { return rdv::base64_encode(pk, sizeof pk); }
std::string Key::raw_pub() const { return std::string(reinterpret_cast<const char*>(pk), sizeof pk); }
std::string Key::sign_raw(std::string_view msg) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
  return sig;
}
std::string Key::sign_b64(std::string_view msg) const {
  std::string raw = sign_raw(msg);
  return rdv::base64_encode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
}

// ---------------------------------------------------------------------------------------------
// JSON

rdv::JsonPtr parse_json(std::string_view text) {
  json_error_t err;
  return rdv::JsonPtr(json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err));
}
std::string dump(const json_t* j) {
  if (!j) return "(null)";
  char* s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  std::string out = s ? s : "(unprintable)";
  free(s);
  return out;
}
std::string str(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  return json_is_string(v) ? std::string(json_string_value(v), json_string_length(v)) : std::string();
}
int64_t num(const json_t* obj, const char* key, int64_t fallback) {
  const json_t* v = json_object_get(obj, key);
  if (json_is_integer(v)) return int64_t(json_integer_value(v));
  if (json_is_real(v)) return int64_t(json_real_value(v));
  return fallback;
}
bool has(const json_t* obj, const char* key) { return json_object_get(obj, key) != nullptr; }

// ---------------------------------------------------------------------------------------------
// TCP client

const char* io_name(Io io) {
  switch (io) {
    case Io::Ok: return "ok";
    case Io::Eof: return "eof";
    case Io::Timeout: return "timeout";
    case Io::Error: return "error";
  }
  return "?";
}

Conn::Conn(Conn&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
Conn& Conn::operator=(Conn&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}
Conn::~Conn() { close(); }

void Conn::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Conn::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

Conn Conn::open(uint16_t port, int timeout_ms, int* err) { return open_ip("127.0.0.1", port, timeout_ms, err); }

Conn Conn::adopt(int fd) {
  Conn c;
  c.fd_ = fd;
  return c;
}

Conn Conn::open_unix(const std::string& path, int* err) {
  Conn c;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof a.sun_path) {
    if (err) *err = fd < 0 ? errno : ENAMETOOLONG;
    if (fd >= 0) ::close(fd);
    return c;
  }
  memcpy(a.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (err) *err = errno;
    ::close(fd);
    return c;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (err) *err = 0;
  c.fd_ = fd;
  return c;
}

Conn Conn::open_ip(const std::string& ip, uint16_t port, int timeout_ms, int* err) {
  Conn c;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    if (err) *err = errno;
    return c;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  a.sin_port = htons(port);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno != EINPROGRESS) {
    if (err) *err = errno;
    ::close(fd);
    return c;
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    int n;
    do n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (n <= 0) soerr = ETIMEDOUT;
    else getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) {
      if (err) *err = soerr;
      ::close(fd);
      return c;
    }
  }
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (err) *err = 0;
  c.fd_ = fd;
  return c;
}

bool Conn::send_all(std::string_view data) {
  if (fd_ < 0) return false;
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(size_t(n));
  }
  return true;
}

Io Conn::recv_exact(size_t n, std::string* out, int timeout_ms) {
  out->clear();
  if (fd_ < 0) return Io::Error;
  int64_t deadline = mono_ms() + timeout_ms;
  char buf[65536];
  while (out->size() < n) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) return Io::Timeout;
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, int(left));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Io::Error;
    }
    if (rc == 0) return Io::Timeout;
    ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - out->size()), 0);
    if (got == 0) return Io::Eof;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno == ECONNRESET ? Io::Eof : Io::Error;
    }
    out->append(buf, size_t(got));
  }
  return Io::Ok;
}

bool Conn::expect_closed(int timeout_ms, std::string* unexpected) {
  if (fd_ < 0) return false;
  int64_t deadline = mono_ms() + timeout_ms;
  std::string junk;
  char buf[4096];
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, int(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
    if (got == 0 || (got < 0 && (errno == ECONNRESET || errno == EPIPE))) {
      if (unexpected) *unexpected = junk;
      return junk.empty();
    }
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    junk.append(buf, size_t(got));
  }
  if (unexpected) *unexpected = junk;
  return false;
}

bool Conn::still_open(int wait_ms) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  int rc = poll(&p, 1, wait_ms);
  if (rc == 0) return true;
  char c;
  ssize_t got = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return got > 0 ? false : (got < 0 && errno == EAGAIN);
}

bool Conn::send_json(std::string_view body) {
  std::string frame = be32(uint32_t(body.size()));
  frame.append(body);
  return send_all(frame);
}

Io Conn::recv_json(std::string* body, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  std::string hdr;
  Io io = recv_exact(4, &hdr, timeout_ms);
  if (io != Io::Ok) return io;
  uint32_t n = get_be32(hdr, 0);
  if (n > (64u << 20)) return Io::Error;
  int64_t left = std::max<int64_t>(1, deadline - mono_ms());
  return recv_exact(n, body, int(left));
}

rdv::JsonPtr Conn::request(std::string_view body, std::string* raw, int timeout_ms) {
  if (!send_json(body)) return nullptr;
  std::string reply;
  if (recv_json(&reply, timeout_ms) != Io::Ok) return nullptr;
  if (raw) *raw = reply;
  rdv::JsonPtr j = parse_json(reply);
  if (!json_is_object(j.get())) return nullptr;
  return j;
}

rdv::JsonPtr Conn::request(const json_t* req, std::string* raw, int timeout_ms) {
  char* s = json_dumps(req, JSON_COMPACT);
  std::string body = s ? s : "";
  free(s);
  return request(body, raw, timeout_ms);
}

bool Conn::send_preamble(uint8_t version) {
  std::string p = "PILT";
  p += char(version);
  return send_all(p);
}

bool Conn::send_frame(uint8_t type, std::string_view payload) {
  std::string f = be32(uint32_t(payload.size() + 1));
  f += char(type);
  f.append(payload);
  return send_all(f);
}

Io Conn::recv_frame(uint8_t* type, std::string* payload, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  std::string hdr;
  Io io = recv_exact(5, &hdr, timeout_ms);
  if (io != Io::Ok) return io;
  uint32_t n = get_be32(hdr, 0);
  if (n < 1 || n > (64u << 20)) return Io::Error;
  *type = uint8_t(hdr[4]);
  int64_t left = std::max<int64_t>(1, deadline - mono_ms());
  return recv_exact(n - 1, payload, int(left));
}

std::string binary_error_text(std::string_view payload) {
  if (payload.size() < 2) return "unknown error";
  size_t n = std::min<size_t>(get_be16(payload, 0), payload.size() - 2);
  return std::string(payload.substr(2, n));
}

// ---------------------------------------------------------------------------------------------
// HTTP

std::string HttpResponse::header(const std::string& name) const {
  std::istringstream in(headers);
  std::string line;
  auto lower = [](std::string s) {
    for (auto& c : s) c = char(tolower(c));
    return s;
  };
  std::string want = lower(name);
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (lower(line.substr(0, colon)) != want) continue;
    std::string v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
    return v;
  }
  return "";
}

namespace {
bool http_impl(const std::string& ip, uint16_t port, const std::string& method, const std::string& path,
               const std::string* body, HttpResponse* out, int timeout_ms,
               const std::vector<std::string>& extra_headers);
}

bool http_get(uint16_t port, const std::string& path, HttpResponse* out, int timeout_ms,
              const std::vector<std::string>& extra_headers) {
  return http_impl("127.0.0.1", port, "GET", path, nullptr, out, timeout_ms, extra_headers);
}

bool http_get_ip(const std::string& ip, uint16_t port, const std::string& path, HttpResponse* out,
                 int timeout_ms, const std::vector<std::string>& extra_headers) {
  return http_impl(ip, port, "GET", path, nullptr, out, timeout_ms, extra_headers);
}

bool http_request(uint16_t port, const std::string& method, const std::string& path, const std::string& body,
                  HttpResponse* out, const std::vector<std::string>& extra_headers, int timeout_ms) {
  bool with_body = !(method == "GET" || method == "HEAD") || !body.empty();
  return http_impl("127.0.0.1", port, method, path, with_body ? &body : nullptr, out, timeout_ms, extra_headers);
}

std::string non_loopback_ipv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (!(i->ifa_flags & IFF_UP)) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    found = buf;
  }
  freeifaddrs(list);
  return found;
}

namespace {
bool http_impl(const std::string& ip, uint16_t port, const std::string& method, const std::string& path,
               const std::string* body, HttpResponse* out, int timeout_ms,
               const std::vector<std::string>& extra_headers) {
  *out = HttpResponse{};
  int64_t deadline = mono_ms() + timeout_ms;
  Conn c = Conn::open_ip(ip, port, timeout_ms);
  if (!c.ok()) return false;
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  for (auto& h : extra_headers) req += h + "\r\n";
  if (body) req += "Content-Length: " + std::to_string(body->size()) + "\r\n";
  req += "\r\n";
  if (body) req += *body;
  if (!c.send_all(req)) return false;
  std::string resp;
  char buf[16384];
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) return false;
    pollfd p{c.fd(), POLLIN, 0};
    int rc = poll(&p, 1, int(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    ssize_t got = ::recv(c.fd(), buf, sizeof buf, 0);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET && !resp.empty()) break;
      return false;
    }
    resp.append(buf, size_t(got));
    // Stop early when Content-Length says we have everything (keep-alive servers).
    auto end = resp.find("\r\n\r\n");
    if (end != std::string::npos) {
      HttpResponse tmp;
      tmp.headers = resp.substr(0, end);
      std::string cl = tmp.header("Content-Length");
      if (!cl.empty() && resp.size() >= end + 4 + std::stoul(cl)) break;
    }
  }
  auto end = resp.find("\r\n\r\n");
  if (resp.compare(0, 5, "HTTP/") != 0 || end == std::string::npos) return false;
  auto sp = resp.find(' ');
  out->status = std::atoi(resp.c_str() + sp + 1);
  out->headers = resp.substr(0, end);
  out->body = resp.substr(end + 4);
  std::string cl = out->header("Content-Length");
  if (!cl.empty() && out->body.size() > std::stoul(cl)) out->body.resize(std::stoul(cl));
  if (out->header("Transfer-Encoding").find("chunked") != std::string::npos) {
    std::string decoded, b = out->body;
    size_t pos = 0;
    for (;;) {
      auto eol = b.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t n = std::stoul(b.substr(pos, eol - pos), nullptr, 16);
      if (n == 0) break;
      decoded += b.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    out->body = decoded;
  }
  return true;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// processes

namespace {
bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::string base_name(std::string s) {
  const std::string deleted = " (deleted)";
  if (s.size() > deleted.size() && s.compare(s.size() - deleted.size(), deleted.size(), deleted) == 0)
    s.resize(s.size() - deleted.size());
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

bool read_proc(pid_t pid, ProcInfo* info) {
  std::string stat;
  if (!read_file("/proc/" + std::to_string(pid) + "/stat", &stat)) return false;
  auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(stat.substr(close + 2));
  char state;
  long ppid, pgrp;
  if (!(rest >> state >> ppid >> pgrp)) return false;
  info->pid = pid;
  info->state = state;
  info->ppid = pid_t(ppid);
  info->pgrp = pid_t(pgrp);
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) {
    info->name = base_name(std::string(buf, size_t(n)));
  } else {
    std::string cmd;
    if (read_file("/proc/" + std::to_string(pid) + "/cmdline", &cmd) && !cmd.empty())
      info->name = base_name(cmd.substr(0, cmd.find('\0')));
  }
  return true;
}
}  // namespace

std::vector<ProcInfo> list_processes() {
  std::vector<ProcInfo> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    ProcInfo info;
    if (read_proc(pid_t(pid), &info)) out.push_back(info);
  }
  closedir(d);
  return out;
}

std::vector<ProcInfo> children_of(pid_t parent) {
  std::vector<ProcInfo> out;
  for (auto& p : list_processes())
    if (p.ppid == parent) out.push_back(p);
  return out;
}

bool process_alive(pid_t pid) {
  ProcInfo info;
  if (!read_proc(pid, &info)) return false;
  return info.state != 'Z' && info.state != 'X';
}

// ---------------------------------------------------------------------------------------------
// server

Server::Server() {
  char tmpl[] = "/tmp/rdv-proc-XXXXXX";
  if (mkdtemp(tmpl)) dir = tmpl;
  data_dir = dir + "/data";
  run_dir = dir + "/run";
  log_path = dir + "/server.log";
  mkdir(data_dir.c_str(), 0750);
  mkdir(run_dir.c_str(), 0750);
  new_ports();
}

Server::~Server() {
  if (pid > 0 && !reaped_) stop(5000);
  kill_all();
  const char* keep = getenv("RDV_KEEP_TMP");
  if (!dir.empty() && !(keep && *keep == '1')) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

void Server::new_ports() {
  registry_port = free_port();
  do http_port = free_port();
  while (http_port == registry_port);
}

bool Server::spawn(std::string* err) {
  if (pid > 0 && !reaped_) {
    *err = "server already running";
    return false;
  }
  std::string exe = bin_dir() + "/rendezvous";
  if (access(exe.c_str(), X_OK) != 0) {
    *err = exe + " is not built (" + std::strerror(errno) + ")";
    return false;
  }
  std::vector<std::string> args = {exe,
                                   "-registry-addr", bind_host + ":" + std::to_string(registry_port),
                                   "-http", bind_host + ":" + std::to_string(http_port),
                                   "-data-dir", data_dir,
                                   "-run-dir", run_dir,
                                   "-log-level", "debug"};
  if (pass_admin_token) {
    args.push_back("-admin-token");
    args.push_back(admin_token);
  }
  if (!rate_limits)
    for (const char* flag : {"-rate-limit-global", "-rate-limit-per-ip", "-rate-limit-per-conn"}) {
      args.push_back(flag);
      args.push_back("0");
    }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  {
    std::ofstream log(log_path, std::ios::app);
    log << "==== harness: starting";
    for (auto& a : args) log << ' ' << a;
    log << "\n";
  }
  int logfd = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (logfd < 0) {
    *err = "open " + log_path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++) {
    std::string kv = *e;
    std::string name = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (auto& x : extra_env)
      if (x.substr(0, x.find('=')) == name) overridden = true;
    if (!overridden) env_strings.push_back(kv);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  // Room for LISTEN_PID / LISTEN_FDS, filled in by the child (its pid is known only there).
  static char listen_pid[32], listen_fds[32];
  if (!activation_fds.empty()) {
    envp.push_back(listen_pid);
    envp.push_back(listen_fds);
  }
  envp.push_back(nullptr);
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    *err = std::string("fork: ") + std::strerror(errno);
    ::close(logfd);
    return false;
  }
  if (child == 0) {
    setpgid(0, 0);  // own process group, so kill_all() reaches stragglers and nothing else
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!activation_fds.empty()) {
      // Move the sockets out of the way first, then into 3, 4, … (dup2 clears CLOEXEC).
      std::vector<int> high;
      for (int fd : activation_fds) high.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 100));
      for (size_t i = 0; i < high.size(); i++) dup2(high[i], int(3 + i));
      snprintf(listen_pid, sizeof listen_pid, "LISTEN_PID=%d", int(getpid()));
      snprintf(listen_fds, sizeof listen_fds, "LISTEN_FDS=%zu", activation_fds.size());
    }
    execve(exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  setpgid(child, child);
  ::close(logfd);
  pid = child;
  reaped_ = false;
  status_ = 0;
  return true;
}

bool Server::running() {
  if (pid <= 0 || reaped_) return false;
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

bool Server::wait_ready(int timeout_ms, std::string* err) {
  int64_t deadline = mono_ms() + timeout_ms;
  bool registry_ok = false;
  std::string last = "no attempt";
  while (mono_ms() < deadline) {
    if (!running()) {
      *err = "supervisor exited before it was ready (wait status " + std::to_string(status_) +
             (WIFEXITED(status_) ? ", exit code " + std::to_string(WEXITSTATUS(status_)) : "") +
             (WIFSIGNALED(status_) ? ", signal " + std::to_string(WTERMSIG(status_)) : "") + ")";
      return false;
    }
    if (!registry_ok && registry_probe) {
      registry_ok = registry_probe(&last);
    } else if (!registry_ok) {
      int e = 0;
      Conn c = Conn::open(registry_port, 500, &e);
      if (c.ok()) {
        rdv::JsonPtr r = c.request(R"({"type":"lookup","node_id":1})", nullptr, 1000);
        if (r && has(r.get(), "type")) registry_ok = true;
        else last = "registry did not answer a lookup";
      } else {
        last = std::string("connect registry: ") + std::strerror(e);
      }
    }
    if (registry_ok) {
      HttpResponse h;
      if (http_get(http_port, "/healthz", &h, 1000) && h.status == 200) return true;
      last = "GET /healthz: " + (h.status ? std::to_string(h.status) : std::string("no answer"));
    }
    sleep_ms(20);
  }
  *err = "server not ready within " + std::to_string(timeout_ms) + " ms: " + last;
  return false;
}

int Server::wait_exit(int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  while (running()) {
    if (mono_ms() >= deadline) return -1;
    sleep_ms(10);
  }
  return reaped_ ? status_ : -1;
}

int Server::stop(int timeout_ms) {
  if (pid <= 0) return -1;
  if (!reaped_ && running()) kill(pid, SIGTERM);
  int st = wait_exit(timeout_ms);
  if (st == -1) {
    kill_all();
    wait_exit(2000);
    return -1;
  }
  return st;
}

void Server::kill_all() {
  if (pid <= 0) return;
  // The process group id is the supervisor's pid; it stays reserved while any member lives.
  kill(-pid, SIGKILL);
  if (!reaped_) {
    int st;
    if (waitpid(pid, &st, 0) == pid) {
      reaped_ = true;
      status_ = st;
    }
  }
}

std::string Server::log() const {
  std::string s;
  read_file(log_path, &s);
  return s;
}

std::string Server::log_tail(size_t max_bytes) const {
  std::string s = log();
  if (s.size() > max_bytes) s = "…" + s.substr(s.size() - max_bytes);
  return s;
}

pid_t Server::worker(const std::string& name) {
  if (pid <= 0) return -1;
  for (auto& p : children_of(pid))
    if (p.name == name && p.state != 'Z') return p.pid;
  return -1;
}

pid_t Server::wait_worker(const std::string& name, pid_t not_pid, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  do {
    pid_t w = worker(name);
    if (w > 0 && w != not_pid) return w;
    sleep_ms(10);
  } while (mono_ms() < deadline);
  return -1;
}

bool Server::use_slow_fsync(const std::string& hold_file, int delay_ms, std::string* err) {
  std::string shim = slow_fsync_shim();
  if (shim.empty()) {
    *err = "the slow-fsync shim is not built (expected " + bin_dir() +
           "/../lib/libslowfsync.so; make builds it with process-tests)";
    return false;
  }
  std::string preload = shim;
  if (const char* old = getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
  extra_env.push_back("LD_PRELOAD=" + preload);
  // Under AddressSanitizer (make test-san) the ASan runtime insists on coming first in the
  // library list; a preloaded shim comes before it. The check is only about link order.
  std::string asan = "verify_asan_link_order=0";
  if (const char* old = getenv("ASAN_OPTIONS"); old && *old) asan = std::string(old) + ":" + asan;
  extra_env.push_back("ASAN_OPTIONS=" + asan);
  if (!hold_file.empty()) extra_env.push_back("RENDEZVOUS_FSYNC_HOLD_FILE=" + hold_file);
  if (delay_ms > 0) extra_env.push_back("RENDEZVOUS_SLOW_FSYNC_MS=" + std::to_string(delay_ms));
  return true;
}

void dump_log(const Server& s) {
  fprintf(stderr, "---- server log (%s) ----\n%s\n---- end of server log ----\n", s.log_path.c_str(),
          s.log_tail().c_str());
}

void ServerTest::SetUp() {
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;  // TearDown dumps the log
}

void ServerTest::TearDown() {
  if (HasFailure()) dump_log(server);
}

// ---------------------------------------------------------------------------------------------
// slow-fsync shim

std::string slow_fsync_shim() {
  std::string path = bin_dir() + "/../lib/libslowfsync.so";
  char buf[PATH_MAX];
  if (!realpath(path.c_str(), buf)) return "";
  return buf;
}

bool process_maps_file(pid_t pid, const std::string& needle) {
  std::string maps;
  if (!read_file("/proc/" + std::to_string(pid) + "/maps", &maps)) return false;
  return maps.find(needle) != std::string::npos;
}

bool HoldFile::hold() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  held_ = true;
  return true;
}

void HoldFile::release() {
  if (!held_) return;
  ::unlink(path_.c_str());
  held_ = false;
}

// ---------------------------------------------------------------------------------------------
// protocol helpers

rdv::JsonPtr do_register(Conn& c, const Key& k, const std::string& listen_addr, const json_t* extra,
                         bool sign) {
  rdv::JsonPtr req(json_object());
  json_object_set_new(req.get(), "type", json_string("register"));
  json_object_set_new(req.get(), "public_key", json_string(k.pub_b64().c_str()));
  json_object_set_new(req.get(), "listen_addr", json_string(listen_addr.c_str()));
  if (sign) {
    std::string challenge = "register:" + listen_addr + ":" + k.pub_b64();
    json_object_set_new(req.get(), "signature", json_string(k.sign_b64(challenge).c_str()));
  }
  if (extra) json_object_update(req.get(), const_cast<json_t*>(extra));
  return c.request(req.get());
}

rdv::JsonPtr do_lookup(Conn& c, uint32_t node_id) {
  rdv::JsonPtr req(json_pack("{s:s, s:I}", "type", "lookup", "node_id", json_int_t(node_id)));
  return c.request(req.get());
}

rdv::JsonPtr do_signed(Conn& c, const Key& k, const char* type, const char* verb, uint32_t id,
                       const json_t* extra) {
  std::string challenge = std::string(verb) + ":" + std::to_string(id);
  rdv::JsonPtr req(json_pack("{s:s, s:I, s:s}", "type", type, "node_id", json_int_t(id), "signature",
                             k.sign_b64(challenge).c_str()));
  if (extra) json_object_update(req.get(), const_cast<json_t*>(extra));
  return c.request(req.get());
}

}  // namespace rt

namespace rt {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CommandResult run_command(const std::string& dir, const std::string& cmd) {
  const std::string err_file = dir + "/command.stderr";
  CommandResult r;
  FILE* p = popen((cmd + " 2>" + shell_quote(err_file)).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

}  // namespace rt
