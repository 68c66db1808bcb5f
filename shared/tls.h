// TLS with OpenSSL, for the registry listener (-tls) and a standby's stream to a TLS leader
// (-standby-tls). OpenSSL does the record layer and the handshake; the loops that own the
// sockets (worker-registry/server.cc, worker-replicator/link.cc) stay in charge of readiness,
// so a TLS connection is one more non-blocking stream on the same event loop.
//
// The listener's identity is a certificate chain and key from -tls-cert/-tls-key, or, with
// -tls and no -tls-cert, a self-signed ECDSA P-256 certificate (SAN localhost, 127.0.0.1, ::1,
// one year) that the supervisor generates once at start and hands to the registry worker with
// its configuration. So a restarted registry worker keeps the certificate, and a daemon's pin
// (DialTLSPinned: the lowercase hex SHA-256 of the DER leaf) stays valid until the process
// restarts. A SIGHUP re-reads the files; connections keep the context they started with.
//
// TLS 1.3 is the minimum both ways. Session tickets are off (the official client never
// resumes), and idle connections release their record buffers, so an idle TLS connection
// costs about what a plain one does.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>

namespace rdv::tls {

struct CtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// A listener's identity: the context new connections are accepted with, and what the log says.
struct ServerIdentity {
  CtxPtr ctx;
  std::string fingerprint;  // lowercase hex SHA-256 of the DER leaf certificate
  std::string subject;      // the leaf's subject, one line
  std::string not_after;    // "YYYY-MM-DDTHH:MM:SSZ"
};

// A self-signed ECDSA P-256 certificate (O "Pilot Protocol", SAN localhost, 127.0.0.1, ::1,
// valid for a year) and its key, as PEM: the certificate, then the key.
bool generate_self_signed(std::string* pem, std::string* error);

// From PEM files (the chain, leaf first; the key). Follows links: certbot's live/ names are
// links, and the operator names these files explicitly.
bool load_server_identity(const std::string& cert_file, const std::string& key_file, ServerIdentity* out,
                          std::string* error);
// From PEM text holding a certificate and then its key (generate_self_signed's output).
bool server_identity_from_pem(const std::string& pem, ServerIdentity* out, std::string* error);

// A client context: verifies the server against `ca_file` (PEM), or the system's roots when it
// is empty. With `pin` (lowercase hex SHA-256) the chain is not verified; check_pin decides.
bool client_context(const std::string& ca_file, bool pinned, CtxPtr* out, std::string* error);

// Lowercase hex SHA-256 of the peer's DER leaf certificate ("" without one).
std::string peer_fingerprint(SSL* ssl);
// Whether the peer's leaf matches `pin` (case-insensitive hex; compared in constant time).
bool check_pin(SSL* ssl, const std::string& pin);

// The last OpenSSL errors of this thread, as one line (and clears the queue).
std::string openssl_errors();

// One TLS connection over a non-blocking socket the caller owns. Every call returns at once:
// Want* says which readiness to wait for before calling again.
class Stream {
 public:
  enum class Io { Ok, WantRead, WantWrite, Closed, Error };

  // The server side of an accepted socket.
  static std::unique_ptr<Stream> accept(SSL_CTX* ctx, int fd, std::string* error);
  // The client side; `host` is sent as SNI and, unless the context is pinned, verified
  // against the certificate (a name or an IP address).
  static std::unique_ptr<Stream> connect(SSL_CTX* ctx, int fd, const std::string& host, bool verify_host,
                                         std::string* error);

  Io handshake();
  bool established() const { return established_; }
  // At most `cap` bytes of plaintext into `buf`; Ok with *n > 0, or Closed on the peer's
  // close_notify or EOF.
  Io read(char* buf, size_t cap, size_t* n);
  // Writes a prefix of [buf, buf+len). After WantRead/WantWrite the next call must pass at
  // least the same bytes (moving buffers are allowed: the caller's string may reallocate).
  Io write(const char* buf, size_t len, size_t* n);
  // Bytes OpenSSL holds (decrypted, or read and not yet processed) that no socket event will
  // announce.
  bool pending() const { return SSL_has_pending(ssl_.get()) == 1; }
  // The reason of the last Error.
  const std::string& error() const { return error_; }
  SSL* ssl() const { return ssl_.get(); }
  // "TLSv1.3 TLS_AES_128_GCM_SHA256" once established.
  std::string describe() const;

 private:
  explicit Stream(SslPtr ssl) : ssl_(std::move(ssl)) {}
  Io result(int rc);

  SslPtr ssl_;
  bool established_ = false;
  std::string error_;
};

}  // namespace rdv::tls
