// JSON Web Tokens as an identity provider issues them, for validate_token (wire-protocol §6.1.8):
// the compact JWS form, the claim checks, HS256 (libsodium) and RS256 (OpenSSL) signatures and
// JWKS documents (RFC 7515, 7517, 7518, 7519).
//
// Pure functions: no clock (callers pass the time), no I/O, no state. Safe on any thread.
// Error texts follow the Go server's words, so they can be compared with its replies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdv::jwt {

// base64url without padding (RFC 7515 §2; Go's base64.RawURLEncoding). Decoding refuses
// padding, characters outside the URL-safe alphabet and impossible lengths.
std::string base64url_encode(std::string_view bytes);
bool base64url_decode(std::string_view text, std::string* out);

struct Header {
  std::string alg, typ, kid;
};

struct Claims {
  std::string iss, sub;
  std::vector<std::string> aud;  // "aud" is a string or an array of strings
  int64_t exp = 0, nbf = 0, iat = 0;  // unix seconds; 0 when absent
};

struct Token {
  Header header;
  Claims claims;
  std::string signing_input;  // "<header b64>.<claims b64>" exactly as sent
  std::string signature_b64;  // the third part, decoded only when the signature is checked
};

// Splits and decodes "<header>.<claims>.<signature>". "" on success, otherwise why not:
// "expected 3 parts, got N", "decode JWT header: …", "parse JWT header: …",
// "decode JWT claims: …", "parse JWT claims: …". The header and claims must be JSON objects;
// iss, sub, alg, typ and kid must be strings when present; exp, nbf and iat numbers.
std::string decode(std::string_view token, Token* out);

// Allowed clock difference for exp and nbf.
inline constexpr int64_t kClockSkewS = 60;

// iss equals `issuer` (when `issuer` is non-empty), aud contains `audience` (when non-empty),
// exp not older than now - skew and nbf not newer than now + skew (each only when present).
// "" when the claims hold, otherwise the first that does not ("issuer mismatch: got \"a\",
// want \"b\"", "audience mismatch: …", "token expired at E (now N)", "token not yet valid
// (nbf B, now N)"), checked in that order.
std::string check_claims(const Claims& c, std::string_view issuer, std::string_view audience, int64_t now_s);

// The algorithms validate_token verifies.
bool supported_alg(std::string_view alg);  // HS256, RS256

// One key of a JWKS document. The base64url members (k, n, e) are kept as sent.
struct Jwk {
  std::string kty, kid, alg, k, n, e;
};
struct Jwks {
  std::vector<Jwk> keys;
};

// {"keys":[{…},…]}. "" on success, otherwise "parse JWKS: …". A key member of the wrong type
// makes the document unparsable; unknown members are ignored.
std::string parse_jwks(std::string_view json, Jwks* out);

// The key a token names: the one whose kid equals `kid`, or the only key when `kid` is empty
// and the set has exactly one. Otherwise "" is not returned and *out stays untouched:
// "JWT missing required 'kid' header; JWKS has N keys" or "JWKS key \"k\" not found".
std::string select_key(const Jwks& set, std::string_view kid, const Jwk** out);

struct SignatureCheck {
  bool valid = false;
  // The key cannot be used for the token at all (its kty or alg does not fit the header's
  // alg, an HMAC key that does not decode): an error of the request, not of the token.
  bool hard_error = false;
  std::string reason;  // why not, when !valid
};

// Verifies t's signature with `key` for t.header.alg (HS256 or RS256; anything else is a hard
// error "unsupported JWT algorithm: <alg>"). HS256 compares HMAC-SHA-256 in constant time;
// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 over a modulus of 1024 to 8192 bits.
SignatureCheck check_signature(const Token& t, const Jwk& key);

// The primitives, for tests and other callers. `signature` and the key parts are raw bytes.
bool verify_hs256(std::string_view signing_input, std::string_view signature, std::string_view secret);
// "" when the signature is valid under the RSA key (n, e big-endian), otherwise why not.
std::string verify_rs256(std::string_view signing_input, std::string_view signature, std::string_view n,
                         std::string_view e);

}  // namespace rdv::jwt
