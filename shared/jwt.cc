#include "jwt.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include <memory>

#include "json.h"
#include "util.h"

namespace rdv::jwt {

namespace {

// A string member: absent or null reads as "", any other non-string is a type error.
bool string_member(const json_t* obj, const char* key, std::string* out, std::string* error) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return true;
  if (!json_is_string(v)) {
    *error = std::string(key) + " must be a string";
    return false;
  }
  out->assign(json_string_value(v), json_string_length(v));
  return true;
}

// A NumericDate (RFC 7519 §2): a JSON number, fractions cut. Absent or null reads as 0.
bool date_member(const json_t* obj, const char* key, int64_t* out, std::string* error) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return true;
  if (!json_is_number(v)) {
    *error = std::string(key) + " must be a number";
    return false;
  }
  double d = json_number_value(v);
  if (!(d > -9.2e18 && d < 9.2e18)) {
    *error = std::string(key) + " out of range";
    return false;
  }
  *out = int64_t(d);
  return true;
}

JsonPtr parse_object(std::string_view text, std::string* error) {
  json_error_t err;
  JsonPtr j(json_loadb(text.data(), text.size(), 0, &err));
  if (!j) {
    *error = err.text;
    return nullptr;
  }
  if (!json_is_object(j.get())) {
    *error = "not a JSON object";
    return nullptr;
  }
  return j;
}

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// Builds an RSA public key from its modulus and exponent. Null when OpenSSL refuses them.
std::unique_ptr<EVP_PKEY, PkeyFree> rsa_public_key(std::string_view n, std::string_view e) {
  std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(bytes(n), int(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(bytes(e), int(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld) return nullptr;
  if (!OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return nullptr;
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  return std::unique_ptr<EVP_PKEY, PkeyFree>(key);
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  std::string out(sodium_base64_encoded_len(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes(in), in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

bool base64url_decode(std::string_view text, std::string* out) {
  out->assign(text.size() * 3 / 4 + 3, '\0');
  size_t n = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(), text.size(),
                        nullptr, &n, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return false;
  if (end != text.data() + text.size()) return false;
  out->resize(n);
  return true;
}

std::string decode(std::string_view token, Token* out) {
  *out = Token{};
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    size_t parts = 1;
    for (char c : token) parts += c == '.';
    return "expected 3 parts, got " + std::to_string(parts);
  }
  std::string_view h64 = token.substr(0, dot1), c64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string text, error;

  if (!base64url_decode(h64, &text)) return "decode JWT header: illegal base64url data";
  JsonPtr header = parse_object(text, &error);
  if (!header) return "parse JWT header: " + error;
  if (!string_member(header.get(), "alg", &out->header.alg, &error) ||
      !string_member(header.get(), "typ", &out->header.typ, &error) ||
      !string_member(header.get(), "kid", &out->header.kid, &error))
    return "parse JWT header: " + error;

  if (!base64url_decode(c64, &text)) return "decode JWT claims: illegal base64url data";
  JsonPtr claims = parse_object(text, &error);
  if (!claims) return "parse JWT claims: " + error;
  Claims& c = out->claims;
  if (!string_member(claims.get(), "iss", &c.iss, &error) || !string_member(claims.get(), "sub", &c.sub, &error) ||
      !date_member(claims.get(), "exp", &c.exp, &error) || !date_member(claims.get(), "nbf", &c.nbf, &error) ||
      !date_member(claims.get(), "iat", &c.iat, &error))
    return "parse JWT claims: " + error;
  const json_t* aud = json_object_get(claims.get(), "aud");
  if (json_is_string(aud)) {
    c.aud.emplace_back(json_string_value(aud), json_string_length(aud));
  } else if (json_is_array(aud)) {
    size_t i;
    const json_t* v;
    json_array_foreach(aud, i, v) {
      if (!json_is_string(v)) return "parse JWT claims: aud must be string or []string";
      c.aud.emplace_back(json_string_value(v), json_string_length(v));
    }
  } else if (aud && !json_is_null(aud)) {
    return "parse JWT claims: aud must be string or []string";
  }

  out->signing_input.assign(token.substr(0, dot2));
  out->signature_b64.assign(token.substr(dot2 + 1));
  return "";
}

std::string check_claims(const Claims& c, std::string_view issuer, std::string_view audience, int64_t now) {
  if (!issuer.empty() && c.iss != issuer) return "issuer mismatch: got " + go_quote(c.iss) + ", want " + go_quote(issuer);
  if (!audience.empty()) {
    bool found = false;
    for (const std::string& a : c.aud) found = found || a == audience;
    if (!found) {
      std::string got = "[";
      for (size_t i = 0; i < c.aud.size(); i++) got += (i ? " " : "") + c.aud[i];
      return "audience mismatch: got " + got + "], want " + go_quote(audience);
    }
  }
  if (c.exp > 0 && c.exp < now - kClockSkewS)
    return "token expired at " + std::to_string(c.exp) + " (now " + std::to_string(now) + ")";
  if (c.nbf > 0 && c.nbf > now + kClockSkewS)
    return "token not yet valid (nbf " + std::to_string(c.nbf) + ", now " + std::to_string(now) + ")";
  return "";
}

bool supported_alg(std::string_view alg) { return alg == "HS256" || alg == "RS256"; }

std::string parse_jwks(std::string_view json, Jwks* out) {
  *out = Jwks{};
  std::string error;
  JsonPtr doc = parse_object(json, &error);
  if (!doc) return "parse JWKS: " + error;
  const json_t* keys = json_object_get(doc.get(), "keys");
  if (!keys || json_is_null(keys)) return "";  // no keys: selecting one says so
  if (!json_is_array(keys)) return "parse JWKS: keys must be an array";
  size_t i;
  const json_t* k;
  json_array_foreach(keys, i, k) {
    if (!json_is_object(k)) return "parse JWKS: each key must be an object";
    Jwk key;
    if (!string_member(k, "kty", &key.kty, &error) || !string_member(k, "kid", &key.kid, &error) ||
        !string_member(k, "alg", &key.alg, &error) || !string_member(k, "k", &key.k, &error) ||
        !string_member(k, "n", &key.n, &error) || !string_member(k, "e", &key.e, &error))
      return "parse JWKS: " + error;
    out->keys.push_back(std::move(key));
  }
  return "";
}

std::string select_key(const Jwks& set, std::string_view kid, const Jwk** out) {
  if (kid.empty()) {
    if (set.keys.size() == 1) {
      *out = &set.keys[0];
      return "";
    }
    return "JWT missing required 'kid' header; JWKS has " + std::to_string(set.keys.size()) + " keys";
  }
  for (const Jwk& k : set.keys)
    if (k.kid == kid) {
      *out = &k;
      return "";
    }
  return "JWKS key " + go_quote(kid) + " not found";
}

bool verify_hs256(std::string_view signing_input, std::string_view signature, std::string_view secret) {
  if (signature.size() != crypto_auth_hmacsha256_BYTES) return false;
  crypto_auth_hmacsha256_state st;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_init(&st, bytes(secret), secret.size());
  crypto_auth_hmacsha256_update(&st, bytes(signing_input), signing_input.size());
  crypto_auth_hmacsha256_final(&st, mac);
  bool ok = sodium_memcmp(mac, signature.data(), sizeof mac) == 0;
  sodium_memzero(&st, sizeof st);
  return ok;
}

std::string verify_rs256(std::string_view signing_input, std::string_view signature, std::string_view n,
                         std::string_view e) {
  // Leading zero bytes do not count towards the modulus size.
  while (!n.empty() && n.front() == '\0') n.remove_prefix(1);
  size_t bits = n.empty() ? 0 : n.size() * 8 - size_t(__builtin_clz(uint8_t(n.front())) - 24);
  if (bits < 1024 || bits > 8192) return "RSA modulus of " + std::to_string(bits) + " bits not accepted (1024 to 8192)";
  if (e.empty() || e.size() > 8) return "RSA exponent out of range";
  auto key = rsa_public_key(n, e);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  std::string result;
  if (!key || !md) {
    result = "RSA key not usable";
  } else if (EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    result = "RSA key not usable";
  } else if (EVP_DigestVerify(md.get(), bytes(signature), signature.size(), bytes(signing_input),
                              signing_input.size()) != 1) {
    result = "invalid RSA signature";
  }
  ERR_clear_error();  // OpenSSL's per-thread error queue: nothing of ours may linger there
  return result;
}

SignatureCheck check_signature(const Token& t, const Jwk& key) {
  SignatureCheck out;
  const std::string& alg = t.header.alg;
  auto hard = [&](std::string why) {
    out.hard_error = true;
    out.reason = std::move(why);
    return out;
  };
  auto invalid = [&](std::string why) {
    out.reason = std::move(why);
    return out;
  };
  if (!supported_alg(alg)) return hard("unsupported JWT algorithm: " + alg);
  const char* kty = alg == "HS256" ? "oct" : "RSA";
  if (!key.alg.empty() && key.alg != alg)
    return hard("algorithm mismatch: JWT header says " + alg + ", JWKS key says " + key.alg);
  if (!key.kty.empty() && key.kty != kty)
    return hard("key type mismatch: " + alg + " requires " + kty + " key, got " + key.kty);
  std::string sig;
  if (alg == "HS256") {
    std::string secret;
    if (!base64url_decode(key.k, &secret)) return hard("decode HMAC key: illegal base64url data");
    if (!base64url_decode(t.signature_b64, &sig)) return invalid("decode signature: illegal base64url data");
    bool ok = verify_hs256(t.signing_input, sig, secret);
    sodium_memzero(secret.data(), secret.size());
    if (!ok) return invalid("invalid HMAC signature");
  } else {
    std::string n, e;
    if (!base64url_decode(key.n, &n)) return invalid("decode RSA n: illegal base64url data");
    if (!base64url_decode(key.e, &e)) return invalid("decode RSA e: illegal base64url data");
    if (!base64url_decode(t.signature_b64, &sig)) return invalid("decode signature: illegal base64url data");
    if (std::string why = verify_rs256(t.signing_input, sig, n, e); !why.empty()) return invalid(why);
  }
  out.valid = true;
  return out;
}

}  // namespace rdv::jwt
