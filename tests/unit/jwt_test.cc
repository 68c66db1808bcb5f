// JWT decoding, claim checks, HS256 and RS256 signatures and JWKS documents (shared/jwt.h).
// Tokens are made here: HS256 with libsodium's HMAC-SHA-256, RS256 with an RSA key OpenSSL
// generates for the test.
#include "jwt.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include <memory>
#include <string>

namespace {

using namespace rdv::jwt;

constexpr int64_t kNow = 1700000000;

std::string hs256_sign(const std::string& input, const std::string& secret) {
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(mac.data()));
  return mac;
}

std::string make_token(const std::string& header_json, const std::string& claims_json, const std::string& secret) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(claims_json);
  return input + "." + base64url_encode(hs256_sign(input, secret));
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// One RSA key for the whole test binary: generating one takes a while.
struct Rsa {
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::string n, e;  // big-endian

  explicit Rsa(unsigned bits) : key(EVP_RSA_gen(bits)) {
    n = bn_param(OSSL_PKEY_PARAM_RSA_N);
    e = bn_param(OSSL_PKEY_PARAM_RSA_E);
  }
  std::string bn_param(const char* name) const {
    BIGNUM* bn = nullptr;
    if (!key || EVP_PKEY_get_bn_param(key.get(), name, &bn) != 1) return "";
    std::string out(size_t(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }
  std::string sign(const std::string& input) const {
    std::unique_ptr<EVP_MD_CTX, MdFree> md(EVP_MD_CTX_new());
    size_t len = 0;
    if (EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) return "";
    auto* in = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(md.get(), nullptr, &len, in, input.size()) != 1) return "";
    std::string sig(len, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) != 1) return "";
    sig.resize(len);
    return sig;
  }
  std::string token(const std::string& header_json, const std::string& claims_json) const {
    std::string input = base64url_encode(header_json) + "." + base64url_encode(claims_json);
    return input + "." + base64url_encode(sign(input));
  }
  Jwk jwk(const std::string& kid) const { return Jwk{"RSA", kid, "RS256", "", base64url_encode(n), base64url_encode(e)}; }
};

const Rsa& rsa2048() {
  static Rsa k(2048);
  return k;
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(JwtTest, Base64UrlRoundTripsAndRefusesPaddingAndStandardAlphabet) {
  for (std::string s : {std::string(""), std::string("f"), std::string("fo"), std::string("foo"), std::string("\xfb\xff\xfe", 3)}) {
    std::string back;
    ASSERT_TRUE(base64url_decode(base64url_encode(s), &back)) << s;
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff\xfe"), "-__-");
  std::string out;
  EXPECT_FALSE(base64url_decode("Zg==", &out));   // padding
  EXPECT_FALSE(base64url_decode("+//+", &out));   // standard alphabet
  EXPECT_FALSE(base64url_decode("Z", &out));      // impossible length
  EXPECT_FALSE(base64url_decode("Zm9v!", &out));  // junk
}

TEST_F(JwtTest, DecodeReadsHeaderAndClaims) {
  std::string tok = make_token(R"({"alg":"HS256","typ":"JWT","kid":"k1"})",
                               R"({"iss":"https://idp","sub":"user-1","aud":"app","exp":1700003600,"nbf":1699990000,"iat":1699999000})",
                               "s");
  Token t;
  ASSERT_EQ(decode(tok, &t), "");
  EXPECT_EQ(t.header.alg, "HS256");
  EXPECT_EQ(t.header.typ, "JWT");
  EXPECT_EQ(t.header.kid, "k1");
  EXPECT_EQ(t.claims.iss, "https://idp");
  EXPECT_EQ(t.claims.sub, "user-1");
  ASSERT_EQ(t.claims.aud.size(), 1u);
  EXPECT_EQ(t.claims.aud[0], "app");
  EXPECT_EQ(t.claims.exp, 1700003600);
  EXPECT_EQ(t.claims.nbf, 1699990000);
  EXPECT_EQ(t.claims.iat, 1699999000);
  EXPECT_EQ(t.signing_input, tok.substr(0, tok.rfind('.')));
  EXPECT_EQ(t.signature_b64, tok.substr(tok.rfind('.') + 1));
}

TEST_F(JwtTest, DecodeAcceptsAnAudienceArray) {
  Token t;
  ASSERT_EQ(decode(make_token(R"({"alg":"HS256"})", R"({"aud":["a","b"]})", "s"), &t), "");
  EXPECT_EQ(t.claims.aud, (std::vector<std::string>{"a", "b"}));
}

TEST_F(JwtTest, DecodeRefusesMalformedTokens) {
  Token t;
  EXPECT_EQ(decode("not.a.jwt!", &t).substr(0, 18), "decode JWT header:");
  EXPECT_EQ(decode("abc", &t), "expected 3 parts, got 1");
  EXPECT_EQ(decode("a.b", &t), "expected 3 parts, got 2");
  EXPECT_EQ(decode("a.b.c.d", &t), "expected 3 parts, got 4");
  std::string h = base64url_encode(R"({"alg":"HS256"})");
  EXPECT_EQ(decode(base64url_encode("[1]") + ".e30.x", &t), "parse JWT header: not a JSON object");
  EXPECT_EQ(decode(base64url_encode(R"({"alg":5})") + ".e30.x", &t), "parse JWT header: alg must be a string");
  EXPECT_EQ(decode(h + ".%%%.x", &t), "decode JWT claims: illegal base64url data");
  EXPECT_EQ(decode(h + "." + base64url_encode("{") + ".x", &t).substr(0, 18), "parse JWT claims: ");
  EXPECT_EQ(decode(h + "." + base64url_encode(R"({"exp":"soon"})") + ".x", &t), "parse JWT claims: exp must be a number");
  EXPECT_EQ(decode(h + "." + base64url_encode(R"({"aud":[1]})") + ".x", &t),
            "parse JWT claims: aud must be string or []string");
  EXPECT_EQ(decode(h + "." + base64url_encode(R"({"sub":{}})") + ".x", &t), "parse JWT claims: sub must be a string");
}

TEST_F(JwtTest, ClaimsIssuerAudienceAndTimesWithSkew) {
  Claims c;
  c.iss = "https://idp";
  c.aud = {"other", "app"};
  c.exp = kNow + 10;
  EXPECT_EQ(check_claims(c, "https://idp", "app", kNow), "");
  EXPECT_EQ(check_claims(c, "", "", kNow), "");  // nothing configured: nothing required
  EXPECT_EQ(check_claims(c, "https://else", "app", kNow), "issuer mismatch: got \"https://idp\", want \"https://else\"");
  EXPECT_EQ(check_claims(c, "https://idp", "web", kNow), "audience mismatch: got [other app], want \"web\"");

  c.exp = kNow - kClockSkewS;  // expired just now: inside the skew
  EXPECT_EQ(check_claims(c, "", "", kNow), "");
  c.exp = kNow - kClockSkewS - 1;
  EXPECT_EQ(check_claims(c, "", "", kNow), "token expired at 1699999939 (now 1700000000)");

  c.exp = 0;  // no exp: not checked
  c.nbf = kNow + kClockSkewS;
  EXPECT_EQ(check_claims(c, "", "", kNow), "");
  c.nbf = kNow + kClockSkewS + 1;
  EXPECT_EQ(check_claims(c, "", "", kNow), "token not yet valid (nbf 1700000061, now 1700000000)");

  // Order: the issuer is reported before an expiry.
  c.exp = 1;
  EXPECT_EQ(check_claims(c, "x", "", kNow).substr(0, 15), "issuer mismatch");
}

TEST_F(JwtTest, Hs256ValidWrongSecretAndTampered) {
  std::string tok = make_token(R"({"alg":"HS256","kid":"k1"})", R"({"sub":"u"})", "supersecret");
  Token t;
  ASSERT_EQ(decode(tok, &t), "");
  Jwk key{"oct", "k1", "HS256", base64url_encode("supersecret"), "", ""};
  EXPECT_TRUE(check_signature(t, key).valid);

  Jwk wrong = key;
  wrong.k = base64url_encode("othersecret");
  SignatureCheck c = check_signature(t, wrong);
  EXPECT_FALSE(c.valid);
  EXPECT_FALSE(c.hard_error);
  EXPECT_EQ(c.reason, "invalid HMAC signature");

  Token tampered = t;
  tampered.signing_input[tampered.signing_input.size() - 1] ^= 1;
  EXPECT_FALSE(check_signature(tampered, key).valid);

  Token bad_sig = t;
  bad_sig.signature_b64 = "!!";
  EXPECT_EQ(check_signature(bad_sig, key).reason, "decode signature: illegal base64url data");
  EXPECT_FALSE(check_signature(bad_sig, key).hard_error);
}

TEST_F(JwtTest, KeyThatDoesNotFitTheAlgorithmIsAHardError) {
  Token t;
  ASSERT_EQ(decode(make_token(R"({"alg":"HS256"})", "{}", "s"), &t), "");
  SignatureCheck c = check_signature(t, Jwk{"RSA", "", "", "", "AQAB", "AQAB"});
  EXPECT_TRUE(c.hard_error);
  EXPECT_EQ(c.reason, "key type mismatch: HS256 requires oct key, got RSA");
  c = check_signature(t, Jwk{"oct", "", "RS256", base64url_encode("s"), "", ""});
  EXPECT_TRUE(c.hard_error);
  EXPECT_EQ(c.reason, "algorithm mismatch: JWT header says HS256, JWKS key says RS256");
  c = check_signature(t, Jwk{"oct", "", "", "==", "", ""});
  EXPECT_TRUE(c.hard_error);
  EXPECT_EQ(c.reason, "decode HMAC key: illegal base64url data");

  Token none;
  ASSERT_EQ(decode(make_token(R"({"alg":"none"})", "{}", "s"), &none), "");
  c = check_signature(none, Jwk{"oct", "", "", base64url_encode("s"), "", ""});
  EXPECT_TRUE(c.hard_error);
  EXPECT_EQ(c.reason, "unsupported JWT algorithm: none");
  EXPECT_FALSE(supported_alg("none"));
  EXPECT_FALSE(supported_alg("HS512"));
  EXPECT_TRUE(supported_alg("RS256"));
}

TEST_F(JwtTest, Rs256ValidWithTheKeysModulusAndExponent) {
  const Rsa& k = rsa2048();
  ASSERT_TRUE(k.key);
  std::string tok = k.token(R"({"alg":"RS256","kid":"r1"})", R"({"sub":"user-2","iss":"https://idp"})");
  Token t;
  ASSERT_EQ(decode(tok, &t), "");
  SignatureCheck c = check_signature(t, k.jwk("r1"));
  EXPECT_TRUE(c.valid) << c.reason;
}

TEST_F(JwtTest, Rs256RefusesOtherKeysTamperingAndTinyModuli) {
  const Rsa& k = rsa2048();
  ASSERT_TRUE(k.key);
  std::string tok = k.token(R"({"alg":"RS256"})", R"({"sub":"user-2"})");
  Token t;
  ASSERT_EQ(decode(tok, &t), "");

  Token tampered = t;
  tampered.signing_input.back() ^= 1;
  SignatureCheck c = check_signature(tampered, k.jwk(""));
  EXPECT_FALSE(c.valid);
  EXPECT_FALSE(c.hard_error);
  EXPECT_EQ(c.reason, "invalid RSA signature");

  // Another modulus of the same size.
  Rsa other(2048);
  ASSERT_TRUE(other.key);
  EXPECT_EQ(check_signature(t, other.jwk("")).reason, "invalid RSA signature");

  // A 512-bit modulus is refused before any arithmetic.
  std::string small(64, '\xff');
  EXPECT_EQ(verify_rs256(t.signing_input, "x", small, k.e), "RSA modulus of 512 bits not accepted (1024 to 8192)");
  EXPECT_EQ(verify_rs256(t.signing_input, "x", "", k.e), "RSA modulus of 0 bits not accepted (1024 to 8192)");
  // A signature of the wrong length.
  std::string sig;
  ASSERT_TRUE(base64url_decode(t.signature_b64, &sig));
  EXPECT_EQ(verify_rs256(t.signing_input, sig.substr(1), k.n, k.e), "invalid RSA signature");
  EXPECT_EQ(verify_rs256(t.signing_input, sig, k.n, k.e), "");
  // Leading zero bytes of the modulus do not change the key.
  EXPECT_EQ(verify_rs256(t.signing_input, sig, std::string(1, '\0') + k.n, k.e), "");

  Jwk bad_n = k.jwk("");
  bad_n.n = "***";
  EXPECT_EQ(check_signature(t, bad_n).reason, "decode RSA n: illegal base64url data");
}

TEST_F(JwtTest, JwksParsesKeysAndSelectsByKid) {
  Jwks set;
  ASSERT_EQ(parse_jwks(R"({"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0","use":"sig"},
                                   {"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"}]})",
                       &set),
            "");
  ASSERT_EQ(set.keys.size(), 2u);
  EXPECT_EQ(set.keys[0].kty, "oct");
  EXPECT_EQ(set.keys[0].k, "c2VjcmV0");
  EXPECT_EQ(set.keys[1].n, "AQAB");

  const Jwk* k = nullptr;
  EXPECT_EQ(select_key(set, "r1", &k), "");
  EXPECT_EQ(k, &set.keys[1]);
  EXPECT_EQ(select_key(set, "", &k), "JWT missing required 'kid' header; JWKS has 2 keys");
  EXPECT_EQ(select_key(set, "zz", &k), "JWKS key \"zz\" not found");

  Jwks one;
  ASSERT_EQ(parse_jwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})", &one), "");
  EXPECT_EQ(select_key(one, "", &k), "");  // one key: kid may be left out
  EXPECT_EQ(k, &one.keys[0]);

  Jwks empty;
  ASSERT_EQ(parse_jwks(R"({"keys":[]})", &empty), "");
  EXPECT_EQ(select_key(empty, "", &k), "JWT missing required 'kid' header; JWKS has 0 keys");
}

TEST_F(JwtTest, JwksRefusesMalformedDocuments) {
  Jwks set;
  EXPECT_EQ(parse_jwks("[]", &set), "parse JWKS: not a JSON object");
  EXPECT_EQ(parse_jwks("{", &set).substr(0, 12), "parse JWKS: ");
  EXPECT_EQ(parse_jwks(R"({"keys":{}})", &set), "parse JWKS: keys must be an array");
  EXPECT_EQ(parse_jwks(R"({"keys":[1]})", &set), "parse JWKS: each key must be an object");
  EXPECT_EQ(parse_jwks(R"({"keys":[{"kid":7}]})", &set), "parse JWKS: kid must be a string");
  EXPECT_EQ(parse_jwks(R"({"other":1})", &set), "");  // no keys at all
  EXPECT_TRUE(set.keys.empty());
}

TEST_F(JwtTest, EndToEndHs256AgainstAJwks) {
  Jwks set;
  ASSERT_EQ(parse_jwks("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"" + base64url_encode("first") +
                           "\"},{\"kty\":\"oct\",\"kid\":\"b\",\"k\":\"" + base64url_encode("second") + "\"}]}",
                       &set),
            "");
  Token t;
  ASSERT_EQ(decode(make_token(R"({"alg":"HS256","kid":"b"})", R"({"sub":"u"})", "second"), &t), "");
  const Jwk* k = nullptr;
  ASSERT_EQ(select_key(set, t.header.kid, &k), "");
  EXPECT_TRUE(check_signature(t, *k).valid);
  ASSERT_EQ(select_key(set, "a", &k), "");
  EXPECT_FALSE(check_signature(t, *k).valid);  // signed with b's secret
}

}  // namespace
