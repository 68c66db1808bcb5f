// TLS contexts, identities and non-blocking streams over OpenSSL (tls.h).
#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace rdv::tls {

namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

bool fail(std::string* error, const std::string& what) {
  std::string e = openssl_errors();
  *error = e.empty() ? what : what + ": " + e;
  return false;
}

std::string hex_sha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!cert || !X509_digest(cert, EVP_sha256(), md, &n)) return {};
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; i++) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 0x0F];
  }
  return out;
}

bool add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1);
}

// The settings every context shares: TLS 1.3 at least, no renegotiation, buffers released
// while idle, writes that may complete partially from a buffer that moves between retries.
void common_settings(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

bool finish_identity(CtxPtr ctx, ServerIdentity* out, std::string* error) {
  if (SSL_CTX_check_private_key(ctx.get()) != 1) return fail(error, "the private key does not match the certificate");
  X509* leaf = SSL_CTX_get0_certificate(ctx.get());
  out->fingerprint = hex_sha256(leaf);
  char line[512] = {};
  X509_NAME_oneline(X509_get_subject_name(leaf), line, sizeof line);
  out->subject = line;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm)) {
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out->not_after = buf;
  }
  out->ctx = std::move(ctx);
  return true;
}

CtxPtr new_server_ctx(std::string* error) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    fail(error, "SSL_CTX_new");
    return nullptr;
  }
  common_settings(ctx.get());
  // The official client never resumes a session: tickets would only cost a signature per
  // handshake and bytes on the wire.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

}  // namespace

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

bool generate_self_signed(std::string* pem, std::string* error) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return fail(error, "generating an ECDSA P-256 key");
  X509Ptr cert(X509_new());
  if (!cert) return fail(error, "X509_new");
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  ok = ok && X509_set_version(cert.get(), 2) && X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) &&
       X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600) &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Pilot Protocol"), -1,
                                  -1, 0) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("rendezvous"), -1, -1,
                                  0) &&
       X509_set_issuer_name(cert.get(), name) && X509_set_pubkey(cert.get(), key.get()) &&
       add_ext(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
       add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
       add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") &&
       add_ext(cert.get(), NID_ext_key_usage, "serverAuth") && X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return fail(error, "building the self-signed certificate");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), cert.get()) ||
      !PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    return fail(error, "writing the self-signed certificate as PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  pem->assign(data, size_t(n));
  return true;
}

bool load_server_identity(const std::string& cert_file, const std::string& key_file, ServerIdentity* out,
                          std::string* error) {
  CtxPtr ctx = new_server_ctx(error);
  if (!ctx) return false;
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1)
    return fail(error, "reading the certificate chain " + cert_file);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail(error, "reading the private key " + key_file);
  return finish_identity(std::move(ctx), out, error);
}

bool server_identity_from_pem(const std::string& pem, ServerIdentity* out, std::string* error) {
  CtxPtr ctx = new_server_ctx(error);
  if (!ctx) return false;
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  PkeyPtr key(cert ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert || !key) return fail(error, "reading the generated certificate");
  if (SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 || SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1)
    return fail(error, "installing the generated certificate");
  return finish_identity(std::move(ctx), out, error);
}

bool client_context(const std::string& ca_file, bool pinned, CtxPtr* out, std::string* error) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return fail(error, "SSL_CTX_new");
  common_settings(ctx.get());
  if (pinned) {
    // The pin is the trust: a self-signed leader has no chain to verify (check_pin decides).
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                             : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
    if (ok != 1) return fail(error, ca_file.empty() ? "loading the system's CA certificates" : "reading the CA file " + ca_file);
  }
  *out = std::move(ctx);
  return true;
}

std::string peer_fingerprint(SSL* ssl) { return hex_sha256(SSL_get0_peer_certificate(ssl)); }

bool check_pin(SSL* ssl, const std::string& pin) {
  std::string have = peer_fingerprint(ssl), want;
  for (char ch : pin) want += char(std::tolower(static_cast<unsigned char>(ch)));
  return !have.empty() && have.size() == want.size() && sodium_memcmp(have.data(), want.data(), have.size()) == 0;
}

std::unique_ptr<Stream> Stream::accept(SSL_CTX* ctx, int fd, std::string* error) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    fail(error, "SSL_new");
    return nullptr;
  }
  SSL_set_accept_state(ssl.get());
  return std::unique_ptr<Stream>(new Stream(std::move(ssl)));
}

std::unique_ptr<Stream> Stream::connect(SSL_CTX* ctx, int fd, const std::string& host, bool verify_host,
                                        std::string* error) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    fail(error, "SSL_new");
    return nullptr;
  }
  // SNI carries names only; an address is verified as an IP SAN.
  bool is_ip = host.find_first_not_of("0123456789.") == std::string::npos || host.find(':') != std::string::npos;
  if (!is_ip) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  if (verify_host) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : SSL_set1_host(ssl.get(), host.c_str());
    if (ok != 1) {
      fail(error, "setting the name to verify (" + host + ")");
      return nullptr;
    }
  }
  SSL_set_connect_state(ssl.get());
  return std::unique_ptr<Stream>(new Stream(std::move(ssl)));
}

Stream::Io Stream::result(int rc) {
  int err = SSL_get_error(ssl_.get(), rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return Io::WantRead;
    case SSL_ERROR_WANT_WRITE:
      return Io::WantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return Io::Closed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        // EOF without close_notify, or a socket error: either way the peer is gone.
        error_ = errno ? std::string("socket: ") + std::strerror(errno) : "the peer closed the connection";
        ERR_clear_error();
        return Io::Closed;
      }
      [[fallthrough]];
    default: {
      std::string e = openssl_errors();
      error_ = e.empty() ? "TLS error " + std::to_string(err) : e;
      return Io::Error;
    }
  }
}

Stream::Io Stream::handshake() {
  if (established_) return Io::Ok;
  ERR_clear_error();
  errno = 0;
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    established_ = true;
    return Io::Ok;
  }
  Io io = result(rc);
  if (io != Io::Closed) return io;
  // A handshake that ends in EOF is a failed handshake, not a clean close.
  if (error_.empty()) error_ = "the peer closed during the handshake";
  return Io::Error;
}

Stream::Io Stream::read(char* buf, size_t cap, size_t* n) {
  *n = 0;
  ERR_clear_error();
  errno = 0;
  size_t got = 0;
  int rc = SSL_read_ex(ssl_.get(), buf, cap, &got);
  if (rc == 1) {
    *n = got;
    return Io::Ok;
  }
  return result(rc);
}

Stream::Io Stream::write(const char* buf, size_t len, size_t* n) {
  *n = 0;
  ERR_clear_error();
  errno = 0;
  size_t put = 0;
  int rc = SSL_write_ex(ssl_.get(), buf, len, &put);
  if (rc == 1) {
    *n = put;
    return Io::Ok;
  }
  return result(rc);
}

std::string Stream::describe() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
  return std::string(SSL_get_version(ssl_.get())) + " " + (c ? SSL_CIPHER_get_name(c) : "");
}

}  // namespace rdv::tls
