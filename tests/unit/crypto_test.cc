// libsodium wrappers (shared/crypto.h): the §4.2 challenge strings, base64 as Go writes it
// (§3.2), Ed25519 verification and constant-time token comparison.
#include "crypto.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>

namespace {

class CryptoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(rdv::crypto_init()); }
};

struct Keypair {
  rdv::PublicKey pk{};
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Keypair() { crypto_sign_keypair(pk.data(), sk); }
  std::string sign(const std::string& msg) const {
    std::string sig(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return sig;
  }
  std::string pub_b64() const { return rdv::base64_encode(pk.data(), pk.size()); }
};

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST_F(CryptoTest, ChallengeRegisterWithListenAddr) {
  EXPECT_EQ(rdv::challenge_register("203.0.113.5:4000", "AAAA"), "register:203.0.113.5:4000:AAAA");
}

TEST_F(CryptoTest, ChallengeRegisterWithEmptyListenAddr) {
  EXPECT_EQ(rdv::challenge_register("", "KEY="), "register::KEY=");
}

TEST_F(CryptoTest, ChallengeNode) {
  EXPECT_EQ(rdv::challenge_node("heartbeat", 7), "heartbeat:7");
  EXPECT_EQ(rdv::challenge_node("deregister", 4294967295u), "deregister:4294967295");
  EXPECT_EQ(rdv::challenge_node("set_hostname", 0), "set_hostname:0");
}

TEST_F(CryptoTest, ChallengePair) {
  EXPECT_EQ(rdv::challenge_pair("resolve", 3, 9), "resolve:3:9");
  EXPECT_EQ(rdv::challenge_pair("handshake", 10, 200), "handshake:10:200");
}

TEST_F(CryptoTest, Base64KnownVectors) {
  EXPECT_EQ(rdv::base64_encode(bytes("hello"), 5), "aGVsbG8=");
  EXPECT_EQ(rdv::base64_encode(bytes(""), 0), "");
  EXPECT_EQ(rdv::base64_encode(bytes("\xfb\xff"), 2), "+/8=");
  std::string out;
  ASSERT_TRUE(rdv::base64_decode("aGVsbG8=", &out));
  EXPECT_EQ(out, "hello");
}

TEST_F(CryptoTest, Base64RoundTripEveryLength) {
  for (size_t n = 0; n <= 70; n++) {
    std::string raw(n, '\0');
    randombytes_buf(raw.data(), n);
    std::string text = rdv::base64_encode(bytes(raw), n);
    EXPECT_EQ(text.size(), (n + 2) / 3 * 4) << n;
    std::string back;
    ASSERT_TRUE(rdv::base64_decode(text, &back)) << n;
    EXPECT_EQ(back, raw) << n;
  }
}

TEST_F(CryptoTest, Base64DecodeIgnoresNewlinesLikeGo) {
  std::string out;
  ASSERT_TRUE(rdv::base64_decode("aGVs\nbG8=\r\n", &out));
  EXPECT_EQ(out, "hello");
}

TEST_F(CryptoTest, Base64RejectsBadInput) {
  std::string out;
  EXPECT_FALSE(rdv::base64_decode("!!!", &out));
  EXPECT_FALSE(rdv::base64_decode("not-base64!!", &out));
  EXPECT_FALSE(rdv::base64_decode("aGVsbG8", &out));    // StdEncoding requires padding
  EXPECT_FALSE(rdv::base64_decode("aGVsbG8==", &out));  // too much padding
  EXPECT_FALSE(rdv::base64_decode("aGV sbG8=", &out));  // spaces are not ignored
  EXPECT_FALSE(rdv::base64_decode("-_8=", &out));       // URL-safe alphabet is not std
}

TEST_F(CryptoTest, Base64DecodeAnyAcceptsUrlSafeAndUnpadded) {
  std::string out;
  ASSERT_TRUE(rdv::base64_decode_any("-_8=", &out));
  EXPECT_EQ(out, "\xfb\xff");
  ASSERT_TRUE(rdv::base64_decode_any("-_8", &out));
  EXPECT_EQ(out, "\xfb\xff");
  ASSERT_TRUE(rdv::base64_decode_any("aGVsbG8", &out));
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(rdv::base64_decode_any("+/8=", &out));
  EXPECT_EQ(out, "\xfb\xff");
  EXPECT_FALSE(rdv::base64_decode_any("!!!", &out));
}

TEST_F(CryptoTest, DecodePublicKeyLengths) {
  Keypair kp;
  rdv::PublicKey key{};
  ASSERT_TRUE(rdv::decode_public_key(kp.pub_b64(), &key));
  EXPECT_EQ(key, kp.pk);
  std::string raw31(31, 'k'), raw33(33, 'k');
  EXPECT_FALSE(rdv::decode_public_key(rdv::base64_encode(bytes(raw31), 31), &key));
  EXPECT_FALSE(rdv::decode_public_key(rdv::base64_encode(bytes(raw33), 33), &key));
  EXPECT_FALSE(rdv::decode_public_key("", &key));
  EXPECT_FALSE(rdv::decode_public_key("!!!", &key));
}

TEST_F(CryptoTest, DecodeSignatureLengths) {
  Keypair kp;
  std::string sig = kp.sign("x");
  rdv::Signature out{};
  ASSERT_TRUE(rdv::decode_signature(rdv::base64_encode(bytes(sig), sig.size()), &out));
  EXPECT_EQ(std::string(out.begin(), out.end()), sig);
  EXPECT_FALSE(rdv::decode_signature(rdv::base64_encode(bytes(sig), 63), &out));
  std::string longer = sig + "z";
  EXPECT_FALSE(rdv::decode_signature(rdv::base64_encode(bytes(longer), 65), &out));
  EXPECT_FALSE(rdv::decode_signature("not-base64!!", &out));
}

TEST_F(CryptoTest, Ed25519VerifyGood) {
  Keypair kp;
  std::string msg = rdv::challenge_node("heartbeat", 7);
  std::string sig = kp.sign(msg);
  EXPECT_TRUE(rdv::ed25519_verify(kp.pk, msg, bytes(sig)));
}

TEST_F(CryptoTest, Ed25519VerifyTamperedMessage) {
  Keypair kp;
  std::string sig = kp.sign("heartbeat:7");
  EXPECT_FALSE(rdv::ed25519_verify(kp.pk, "heartbeat:8", bytes(sig)));
  EXPECT_FALSE(rdv::ed25519_verify(kp.pk, "heartbeat:7 ", bytes(sig)));
}

TEST_F(CryptoTest, Ed25519VerifyTamperedSignature) {
  Keypair kp;
  std::string sig = kp.sign("heartbeat:7");
  for (size_t i : {size_t(0), size_t(31), size_t(63)}) {
    std::string bad = sig;
    bad[i] = char(bad[i] ^ 0x01);
    EXPECT_FALSE(rdv::ed25519_verify(kp.pk, "heartbeat:7", bytes(bad))) << "byte " << i;
  }
}

TEST_F(CryptoTest, Ed25519VerifyWrongKey) {
  Keypair a, b;
  std::string sig = a.sign("resolve:3:9");
  EXPECT_FALSE(rdv::ed25519_verify(b.pk, "resolve:3:9", bytes(sig)));
}

TEST_F(CryptoTest, TokenEqual) {
  EXPECT_TRUE(rdv::token_equal("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(rdv::token_equal("wrong", "s3cret-token"));
  EXPECT_FALSE(rdv::token_equal("", "s3cret-token"));
  EXPECT_FALSE(rdv::token_equal("s3cret", "s3cret-token"));           // prefix
  EXPECT_FALSE(rdv::token_equal("s3cret-token-extra", "s3cret-token"));  // longer
  EXPECT_FALSE(rdv::token_equal("cret-token", "s3cret-token"));       // suffix
  EXPECT_FALSE(rdv::token_equal("S3CRET-TOKEN", "s3cret-token"));     // case differs
  EXPECT_FALSE(rdv::token_equal("s3cret-token", ""));                 // nothing configured
  EXPECT_FALSE(rdv::token_equal("", ""));
}

}  // namespace
