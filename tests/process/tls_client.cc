// The test TLS client (tls_client.h).
#include "tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>

namespace rt {

TlsConn::~TlsConn() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

TlsConn::TlsConn(TlsConn&& o) noexcept : fd_(o.fd_), ctx_(o.ctx_), ssl_(o.ssl_) {
  o.fd_ = -1;
  o.ctx_ = nullptr;
  o.ssl_ = nullptr;
}

TlsConn& TlsConn::operator=(TlsConn&& o) noexcept {
  if (this != &o) {
    this->~TlsConn();
    new (this) TlsConn(std::move(o));
  }
  return *this;
}

namespace {
std::string ssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out;
}

bool wait_fd(int fd, short events, int64_t deadline) {
  int64_t left = deadline - mono_ms();
  if (left <= 0) return false;
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, int(left)) > 0;
}
}  // namespace

TlsConn TlsConn::dial(uint16_t port, const TlsOptions& opt, std::string* err) {
  ::signal(SIGPIPE, SIG_IGN);  // a write to a connection the server closed must fail, not kill
  TlsConn c;
  int64_t deadline = mono_ms() + opt.timeout_ms;
  c.fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (c.fd_ < 0 || ::connect(c.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    *err = std::string("connect: ") + std::strerror(errno);
    return TlsConn();
  }
  for (size_t off = 0; off < opt.before.size();) {
    ssize_t n = ::send(c.fd_, opt.before.data() + off, opt.before.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      *err = "writing the bytes before the handshake failed";
      return TlsConn();
    }
    off += size_t(n);
  }
  c.ctx_ = SSL_CTX_new(TLS_client_method());
  if (opt.max_tls12) SSL_CTX_set_max_proto_version(c.ctx_, TLS1_2_VERSION);
  if (!opt.ca_file.empty()) {
    SSL_CTX_set_verify(c.ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(c.ctx_, opt.ca_file.c_str(), nullptr) != 1) {
      *err = "loading the CA: " + ssl_errors();
      return TlsConn();
    }
  }
  SSL* ssl = SSL_new(c.ctx_);
  SSL_set_fd(ssl, c.fd_);
  if (!opt.verify_host.empty()) {
    SSL_set_tlsext_host_name(ssl, opt.verify_host.c_str());
    SSL_set1_host(ssl, opt.verify_host.c_str());
  }
  // The socket is blocking (Conn::open); the handshake is bounded by poll on a non-blocking one.
  int flags = fcntl(c.fd_, F_GETFL);
  fcntl(c.fd_, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    int rc = SSL_connect(ssl);
    if (rc == 1) break;
    int e = SSL_get_error(ssl, rc);
    if ((e == SSL_ERROR_WANT_READ && wait_fd(c.fd_, POLLIN, deadline)) ||
        (e == SSL_ERROR_WANT_WRITE && wait_fd(c.fd_, POLLOUT, deadline)))
      continue;
    long v = SSL_get_verify_result(ssl);
    *err = "handshake failed (" + std::to_string(e) + "): " + ssl_errors() +
           (v != X509_V_OK ? std::string(" verify: ") + X509_verify_cert_error_string(v) : "");
    SSL_free(ssl);
    return TlsConn();
  }
  fcntl(c.fd_, F_SETFL, flags);
  c.ssl_ = ssl;
  return c;
}

std::string TlsConn::fingerprint() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return "";
  unsigned char* der = nullptr;
  int n = i2d_X509(cert, &der);
  if (n <= 0) return "";
  unsigned char md[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(md, der, size_t(n));
  OPENSSL_free(der);
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : md) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::string TlsConn::version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

bool TlsConn::send_all(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    int n = SSL_write(ssl_, data.data() + off, int(data.size() - off));
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

bool TlsConn::recv_exact(std::string* out, size_t n, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  out->clear();
  char buf[16384];
  while (out->size() < n) {
    if (SSL_pending(ssl_) == 0 && !wait_fd(fd_, POLLIN, deadline)) return false;
    int got = SSL_read(ssl_, buf, int(std::min(sizeof buf, n - out->size())));
    if (got <= 0) {
      int e = SSL_get_error(ssl_, got);
      if (e == SSL_ERROR_WANT_READ) continue;
      return false;
    }
    out->append(buf, size_t(got));
  }
  return true;
}

rdv::JsonPtr TlsConn::recv_json(int timeout_ms) {
  std::string head, body;
  if (!recv_exact(&head, 4, timeout_ms)) return nullptr;
  uint32_t len = uint32_t(uint8_t(head[0])) << 24 | uint32_t(uint8_t(head[1])) << 16 | uint32_t(uint8_t(head[2])) << 8 |
                 uint8_t(head[3]);
  if (len > (1u << 24) || !recv_exact(&body, len, timeout_ms)) return nullptr;
  return rdv::JsonPtr(json_loadb(body.data(), body.size(), 0, nullptr));
}

rdv::JsonPtr TlsConn::request(std::string_view body, int timeout_ms) {
  if (!send_json(body)) return nullptr;
  return recv_json(timeout_ms);
}

bool TlsConn::recv_frame(uint8_t* type, std::string* payload, int timeout_ms) {
  std::string head;
  if (!recv_exact(&head, 5, timeout_ms)) return false;
  uint32_t len = uint32_t(uint8_t(head[0])) << 24 | uint32_t(uint8_t(head[1])) << 16 | uint32_t(uint8_t(head[2])) << 8 |
                 uint8_t(head[3]);
  if (len == 0 || len > (1u << 24)) return false;
  *type = uint8_t(head[4]);
  return recv_exact(payload, len - 1, timeout_ms);
}

bool TlsConn::expect_closed(int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  char buf[256];
  for (;;) {
    if (SSL_pending(ssl_) == 0 && !wait_fd(fd_, POLLIN, deadline)) return false;
    int got = SSL_read(ssl_, buf, sizeof buf);
    if (got > 0) continue;  // data before the close (none expected; read past it)
    int e = SSL_get_error(ssl_, got);
    if (e == SSL_ERROR_WANT_READ) continue;
    return true;  // close_notify, EOF or reset
  }
}

std::string logged_fingerprint(const Server& s) {
  static const std::regex re("fingerprint_sha256[=\":]+([0-9a-f]{64})");
  std::smatch m;
  std::string log = s.log();
  return std::regex_search(log, m, re) ? m[1].str() : "";
}

bool make_test_ca(const std::string& dir, std::string* err) {
  CommandResult r = run_command(dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
                                "'/O=rendezvous tests/CN=rendezvous test CA' -addext basicConstraints=critical,CA:TRUE "
                                "-keyout " + shell_quote(dir + "/ca.key") + " -out " + shell_quote(dir + "/ca.pem") + " 2>&1");
  if (r.code != 0) *err = "openssl req (CA): " + r.out + r.err;
  return r.code == 0;
}

bool make_leaf(const std::string& dir, const std::string& name, std::string* err) {
  std::string key = shell_quote(dir + "/" + name + ".key"), csr = shell_quote(dir + "/" + name + ".csr"),
              pem = shell_quote(dir + "/" + name + ".pem"), ext = shell_quote(dir + "/" + name + ".ext");
  CommandResult r = run_command(dir,
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > " + ext +
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/O=rendezvous tests/CN=localhost' -keyout " +
      key + " -out " + csr + " 2>&1 && openssl x509 -req -in " + csr + " -CA " + shell_quote(dir + "/ca.pem") + " -CAkey " +
      shell_quote(dir + "/ca.key") + " -CAcreateserial -days 2 -extfile " + ext + " -out " + pem + " 2>&1");
  if (r.code != 0) *err = "openssl (leaf " + name + "): " + r.out + r.err;
  return r.code == 0;
}

}  // namespace rt

namespace rt {
std::string register_body(const Key& k, const std::string& listen_addr) {
  rdv::JsonPtr req(json_pack("{s:s,s:s,s:s,s:s}", "type", "register", "public_key", k.pub_b64().c_str(), "listen_addr",
                             listen_addr.c_str(), "signature",
                             k.sign_b64("register:" + listen_addr + ":" + k.pub_b64()).c_str()));
  return dump(req.get());
}
}  // namespace rt
