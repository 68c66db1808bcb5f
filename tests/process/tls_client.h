// A TLS client of the registry for process tests, written against OpenSSL directly (not the
// server's shared/tls.h) so the tests check the server with an independent implementation.
// It dials the way the official client does: DialTLSPinned (no chain check; the SHA-256 of
// the DER leaf, lowercase hex, compared with the pin) or DialTLS with a CA and the host name.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "harness.h"

namespace rt {

struct TlsOptions {
  std::string ca_file;      // verify the chain against this CA (PEM); "" = no verification (pinned dial)
  std::string verify_host;  // with ca_file: the name (SNI and the certificate's SAN)
  bool max_tls12 = false;   // offer TLS 1.2 at most (the server must refuse)
  std::string before;       // bytes written in clear before the handshake (a PROXY header)
  int timeout_ms = 3000;
};

class TlsConn {
 public:
  TlsConn() = default;
  ~TlsConn();
  TlsConn(TlsConn&& o) noexcept;
  TlsConn& operator=(TlsConn&& o) noexcept;
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // Connects and completes the handshake; on failure ok() is false and *err says why.
  static TlsConn dial(uint16_t port, const TlsOptions& opt, std::string* err);

  bool ok() const { return ssl_ != nullptr; }
  // Lowercase hex SHA-256 of the server's DER leaf certificate (libsodium, not OpenSSL).
  std::string fingerprint() const;
  std::string version() const;  // "TLSv1.3"
  bool send_all(std::string_view data);
  bool send_json(std::string_view body) { return send_all(json_frame(body)); }
  // One JSON frame; null on timeout, close or a bad frame.
  rdv::JsonPtr recv_json(int timeout_ms = 5000);
  rdv::JsonPtr request(std::string_view body, int timeout_ms = 5000);
  // One binary frame ([u32 len][type][payload]).
  bool recv_frame(uint8_t* type, std::string* payload, int timeout_ms = 5000);
  // True when the server closes the connection (EOF or reset) within the time.
  bool expect_closed(int timeout_ms);
  // Asks for a TLS 1.3 KeyUpdate that the server must answer with its own; it goes out before
  // the next data written.
  bool request_key_update() { return SSL_key_update(ssl_, SSL_KEY_UPDATE_REQUESTED) == 1; }

 private:
  bool recv_exact(std::string* out, size_t n, int timeout_ms);
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// The fingerprint a -tls server logged at start ("fingerprint_sha256"), "" if none yet.
std::string logged_fingerprint(const Server& s);

// Creates a test CA and a leaf certificate for localhost/127.0.0.1 signed by it, with the
// openssl command, in `dir`: ca.pem, ca.key, <name>.pem, <name>.key. False with *err on failure.
bool make_test_ca(const std::string& dir, std::string* err);
bool make_leaf(const std::string& dir, const std::string& name, std::string* err);

}  // namespace rt

namespace rt {
// The body of a signed register request (as do_register sends it).
std::string register_body(const Key& k, const std::string& listen_addr);
}  // namespace rt
