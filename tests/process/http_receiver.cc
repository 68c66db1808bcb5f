#include "http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "harness.h"

namespace rt {

namespace {

constexpr size_t kMaxRequestBytes = 1 << 20;
constexpr int kReadTimeoutMs = 10000;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(uint8_t(c)));
  return s;
}

// The value of header `name` (lower case) in a raw header block, "" when absent.
std::string header_value(const std::string& headers, const std::string& name) {
  std::string l = lower(headers);
  size_t pos = 0;
  while ((pos = l.find("\r\n" + name + ":", pos)) != std::string::npos) {
    size_t start = pos + 2 + name.size() + 1, end = l.find("\r\n", start);
    std::string v = headers.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
    return v;
  }
  return "";
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

// Reads until `out` holds `want` bytes or the peer stops. False on timeout or close.
bool read_more(int fd, std::string* out) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kReadTimeoutMs) <= 0) return false;
  char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  out->append(buf, size_t(n));
  return out->size() <= kMaxRequestBytes;
}

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // the caller gave up (e.g. timed out): nothing to tell it
    off += size_t(n);
  }
}

}  // namespace

HttpReceiver::HttpReceiver(Handler handler) : handler_(std::move(handler)) {
  listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!listener_ || !wake_) {
    listener_.reset();
    return;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listener_.get(), 64) != 0 ||
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    listener_.reset();
    return;
  }
  port_ = ntohs(sa.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpReceiver::~HttpReceiver() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  uint64_t one = 1;
  if (wake_ && ::write(wake_.get(), &one, sizeof one) < 0) perror("http receiver: write(eventfd)");
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

std::string HttpReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

size_t HttpReceiver::count(const std::string& path) const {
  std::lock_guard lock(mu_);
  if (path.empty()) return received_.size();
  size_t n = 0;
  for (const auto& r : received_) n += r.path == path;
  return n;
}

std::vector<ReceivedRequest> HttpReceiver::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

bool HttpReceiver::wait_for(size_t n, int timeout_ms) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return received_.size() >= n; });
}

size_t HttpReceiver::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

void HttpReceiver::release_held() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

void HttpReceiver::accept_loop() {
  for (;;) {
    pollfd p[2] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void HttpReceiver::serve(int raw_fd) {
  rdv::UniqueFd fd(raw_fd);
  std::string in;
  size_t head_end;
  while ((head_end = in.find("\r\n\r\n")) == std::string::npos)
    if (!read_more(fd.get(), &in)) return;
  ReceivedRequest req;
  std::string head = in.substr(0, head_end + 2);  // keeps the last header's CRLF
  size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return;
  req.method = head.substr(0, sp1);
  req.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
  req.headers = head.substr(head.find("\r\n"));
  size_t length = size_t(std::strtoul(header_value(req.headers, "content-length").c_str(), nullptr, 10));
  if (length > kMaxRequestBytes) return;
  if (lower(header_value(req.headers, "expect")) == "100-continue") send_all(fd.get(), "HTTP/1.1 100 Continue\r\n\r\n");
  std::string body = in.substr(head_end + 4);
  while (body.size() < length)
    if (!read_more(fd.get(), &body)) return;
  req.body = body.substr(0, length);

  HttpReply reply = handler_(req);
  {
    std::unique_lock lock(mu_);
    received_.push_back(req);
    if (reply.hold) {
      held_++;  // counted with the request: a test that saw it received sees it held
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_ || stopping_; });
      held_--;
    }
  }
  cv_.notify_all();
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
  if (!reply.content_type.empty()) out += "Content-Type: " + reply.content_type + "\r\n";
  for (const std::string& h : reply.headers) out += h + "\r\n";
  out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n" + reply.body;
  send_all(fd.get(), out);
}

}  // namespace rt
