// Keyrings and the signed identity statements (shared/keyring.h; wire-protocol §6.1.6, §6.1.7):
// keyring file validation, the three statement parsers (canonical numbers, domain separation)
// and the full verifications (signature by the pinned kid, expiry, node binding).
#include "keyring.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace {

using namespace rdv;

struct Keypair {
  PublicKey pk{};
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Keypair() { crypto_sign_keypair(pk.data(), sk); }
  std::string sign_b64(const std::string& msg) const {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return base64_encode(sig, sizeof sig);
  }
  std::string pub_b64() const { return base64_encode(pk.data(), pk.size()); }
};

std::string ring_json(std::initializer_list<std::pair<std::string, const Keypair*>> keys) {
  std::string s = "{\"keys\":[";
  bool first = true;
  for (auto& [kid, kp] : keys) {
    if (!first) s += ",";
    first = false;
    s += "{\"kid\":\"" + kid + "\",\"public_key\":\"" + kp->pub_b64() + "\"}";
  }
  return s + "]}";
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    std::string why;
    ASSERT_TRUE(Keyring::parse(ring_json({{"bdg-v1", &issuer}, {"bdg-v2", &issuer2}}), &issuers, &why)) << why;
    ASSERT_TRUE(Keyring::parse(ring_json({{"rec-v1", &cold}}), &recovery, &why)) << why;
  }
  Keypair issuer, issuer2, cold, stranger;
  Keyring issuers, recovery;
  const int64_t now = 1800000000;
};

// ---- keyring files ----

TEST_F(KeyringTest, ParseFindsKeysByKid) {
  EXPECT_EQ(issuers.size(), 2u);
  ASSERT_NE(issuers.find("bdg-v1"), nullptr);
  EXPECT_EQ(*issuers.find("bdg-v1"), issuer.pk);
  EXPECT_EQ(*issuers.find("bdg-v2"), issuer2.pk);
  EXPECT_EQ(issuers.find("bdg-v3"), nullptr);
  EXPECT_EQ(issuers.find(""), nullptr);
}

TEST_F(KeyringTest, EmptyKeysArrayIsAnEmptyKeyring) {
  Keyring k;
  std::string why;
  ASSERT_TRUE(Keyring::parse(R"({"keys":[]})", &k, &why)) << why;
  EXPECT_TRUE(k.empty());
}

TEST_F(KeyringTest, ParseRefusesBadFiles) {
  std::string zero = base64_encode(PublicKey{}.data(), 32);
  std::string good = issuer.pub_b64();
  struct Case {
    std::string text, reason_part;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "top level must be an object"},
      {"{}", "\"keys\" must be an array"},
      {R"({"keys":{}})", "\"keys\" must be an array"},
      {R"({"keys":[1]})", "keys[0] is not an object"},
      {R"({"keys":[{"public_key":")" + good + R"("}]})", "keys[0]: \"kid\" must be a non-empty string"},
      {R"({"keys":[{"kid":"","public_key":")" + good + R"("}]})", "\"kid\" must be a non-empty string"},
      {R"({"keys":[{"kid":"a:b","public_key":")" + good + R"("}]})", "must not contain ':'"},
      {R"({"keys":[{"kid":")" + std::string(129, 'k') + R"(","public_key":")" + good + R"("}]})", "too long"},
      {R"({"keys":[{"kid":"a"}]})", "keys[0] (kid \"a\"): \"public_key\" must be a base64 string"},
      {R"({"keys":[{"kid":"a","public_key":"!!"}]})", "not standard base64 of a 32-byte Ed25519 key"},
      {R"({"keys":[{"kid":"a","public_key":"AAAA"}]})", "not standard base64 of a 32-byte Ed25519 key"},
      {R"({"keys":[{"kid":"a","public_key":")" + zero + R"("}]})", "all zeros"},
      {R"({"keys":[{"kid":"a","public_key":")" + good + R"("},{"kid":"a","public_key":")" + good + R"("}]})",
       "keys[1]: kid \"a\" appears twice"},
      {R"({"keys":[],"keys":[]})", "not valid JSON"},  // duplicate member: ambiguous, refused
  };
  for (const Case& c : cases) {
    Keyring k;
    std::string why;
    EXPECT_FALSE(Keyring::parse(c.text, &k, &why)) << c.text;
    EXPECT_NE(why.find(c.reason_part), std::string::npos) << c.text << " -> " << why;
  }
}

class KeyringFileTest : public KeyringTest {
 protected:
  void SetUp() override {
    KeyringTest::SetUp();
    char tmpl[] = "/tmp/keyring-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir;
};

TEST_F(KeyringFileTest, LoadReadsAFile) {
  Keyring k;
  std::string err;
  ASSERT_TRUE(Keyring::load(write("ring.json", ring_json({{"x", &issuer}})), &k, &err)) << err;
  ASSERT_NE(k.find("x"), nullptr);
  EXPECT_EQ(*k.find("x"), issuer.pk);
}

TEST_F(KeyringFileTest, NoPathIsAnEmptyKeyring) {
  Keyring k;
  std::string err;
  ASSERT_TRUE(Keyring::parse(ring_json({{"x", &issuer}}), &k, &err));
  ASSERT_TRUE(Keyring::load("", &k, &err)) << err;
  EXPECT_TRUE(k.empty());
}

TEST_F(KeyringFileTest, LoadErrorsNameTheFileAndTheReason) {
  Keyring k;
  std::string err;
  std::string missing = dir + "/missing.json";
  EXPECT_FALSE(Keyring::load(missing, &k, &err));
  EXPECT_EQ(err, missing + ": does not exist");

  std::string bad = write("bad.json", R"({"keys":[{"kid":"a","public_key":"AAAA"}]})");
  EXPECT_FALSE(Keyring::load(bad, &k, &err));
  EXPECT_EQ(err.rfind(bad + ": keys[0] (kid \"a\")", 0), 0u) << err;

  std::string link = dir + "/link.json";
  ASSERT_EQ(symlink(write("target.json", ring_json({{"a", &issuer}})).c_str(), link.c_str()), 0);
  EXPECT_FALSE(Keyring::load(link, &k, &err));
  EXPECT_NE(err.find("symbolic link"), std::string::npos) << err;

  EXPECT_FALSE(Keyring::load(dir, &k, &err));
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;

  std::string fifo = dir + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(Keyring::load(fifo, &k, &err));  // refused, never waits for a writer
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;

  std::string big = write("big.json", std::string(Keyring::kMaxFileBytes + 1, ' '));
  EXPECT_FALSE(Keyring::load(big, &k, &err));
  EXPECT_NE(err.find("too large"), std::string::npos) << err;
}

TEST_F(KeyringFileTest, IdentityKeyringsNameTheFlag) {
  IdentityKeyrings k;
  std::string err;
  std::string good = write("good.json", ring_json({{"a", &issuer}}));
  std::string bad = write("bad.json", "{}");
  EXPECT_FALSE(load_identity_keyrings(bad, good, &k, &err));
  EXPECT_EQ(err.rfind("-badge-issuer-keys " + bad + ": ", 0), 0u) << err;
  EXPECT_FALSE(load_identity_keyrings(good, bad, &k, &err));
  EXPECT_EQ(err.rfind("-recovery-keys " + bad + ": ", 0), 0u) << err;
  ASSERT_TRUE(load_identity_keyrings(good, "", &k, &err)) << err;
  EXPECT_EQ(k.issuers.size(), 1u);
  EXPECT_TRUE(k.recovery.empty());
}

// ---- parsers ----

TEST_F(KeyringTest, ParseBadgeFields) {
  Badge b;
  ASSERT_EQ(parse_badge("pilotbadge:v1:7:github:1700000000:1900000000:bdg-v1:alice", &b), "");
  EXPECT_EQ(b.node_id, 7u);
  EXPECT_EQ(b.provider, "github");
  EXPECT_EQ(b.verified_at, 1700000000);
  EXPECT_EQ(b.exp, 1900000000);
  EXPECT_EQ(b.kid, "bdg-v1");
  EXPECT_EQ(b.subject, "alice");
  ASSERT_EQ(parse_badge("pilotbadge:v1:4294967295:g:0:0:k:", &b), "");  // max id, empty subject
  EXPECT_EQ(b.node_id, 4294967295u);
  EXPECT_EQ(b.subject, "");
}

TEST_F(KeyringTest, ParseBadgeRefusals) {
  Badge b;
  EXPECT_EQ(parse_badge("pilotbadge:v1:7:github:0:0:bdg-v1", &b), "badge wants 8 fields, got 7");
  EXPECT_EQ(parse_badge("pilotbadge:v1:7:github:0:0:bdg-v1:s:x", &b), "badge wants 8 fields, got 9");
  EXPECT_EQ(parse_badge("", &b), "badge wants 8 fields, got 1");
  EXPECT_EQ(parse_badge("pilotrecover:v1:7:github:0:0:bdg-v1:s", &b), "not a badge (prefix \"pilotrecover\")");
  EXPECT_EQ(parse_badge("pilotbadge:v2:7:github:0:0:bdg-v1:s", &b), "unsupported version \"v2\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:07:github:0:0:k:s", &b), "node_id is not canonical decimal: \"07\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:+7:github:0:0:k:s", &b), "node_id is not canonical decimal: \"+7\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1::github:0:0:k:s", &b), "node_id is not canonical decimal: \"\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:4294967296:github:0:0:k:s", &b), "node_id out of range: \"4294967296\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:1:github:-1:0:k:s", &b), "verified_at is not canonical decimal: \"-1\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:1:github:0:9223372036854775808:k:s", &b),
            "exp out of range: \"9223372036854775808\"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:1::0:0:k:s", &b), "provider is required");
  EXPECT_EQ(parse_badge("pilotbadge:v1:1:github:0:0::s", &b), "kid is required");
  EXPECT_EQ(parse_badge("pilotbadge:v1:1:github:0:0 :k:s", &b), "exp is not canonical decimal: \"0 \"");
  EXPECT_EQ(parse_badge("pilotbadge:v1:1:\x01:0:0\xff:k:s", &b), "exp is not canonical decimal: \"0\\xff\"");
}

TEST_F(KeyringTest, ParseEnrollmentAndRecovery) {
  Enrollment e;
  ASSERT_EQ(parse_enrollment("pilotenroll:v1:9:google:Y29tbWl0:1700000000:bdg-v1", &e), "");
  EXPECT_EQ(e.node_id, 9u);
  EXPECT_EQ(e.provider, "google");
  EXPECT_EQ(e.commitment, "Y29tbWl0");
  EXPECT_EQ(e.issued_at, 1700000000);
  EXPECT_EQ(e.kid, "bdg-v1");
  EXPECT_EQ(parse_enrollment("pilotenroll:v1:1::c:0:k", &e), "enrollment has an empty required field");
  EXPECT_EQ(parse_enrollment("pilotenroll:v1:1:g:c:0:k:x", &e), "enrollment wants 7 fields, got 8");
  EXPECT_EQ(parse_enrollment("pilotbadge:v1:1:g:c:0:k", &e), "not an enrollment (prefix \"pilotbadge\")");
  EXPECT_EQ(parse_enrollment("pilotenroll:v1:1:g:c:01:k", &e), "issued_at is not canonical decimal: \"01\"");

  Recovery r;
  ASSERT_EQ(parse_recovery("pilotrecover:v1:12345:bmV3cHVi:Y29tbWl0:9999999999:nonce123:rec-v1", &r), "");
  EXPECT_EQ(r.node_id, 12345u);
  EXPECT_EQ(r.new_pubkey, "bmV3cHVi");
  EXPECT_EQ(r.commitment, "Y29tbWl0");
  EXPECT_EQ(r.exp, 9999999999);
  EXPECT_EQ(r.nonce, "nonce123");
  EXPECT_EQ(r.kid, "rec-v1");
  EXPECT_EQ(parse_recovery("pilotrecover:v1:1:np:C:0:n:rec", &r), "recovery exp must be set (non-zero)");
  EXPECT_EQ(parse_recovery("pilotrecover:v1:1:np:C:01:n:rec", &r), "exp is not canonical decimal: \"01\"");
  EXPECT_EQ(parse_recovery("pilotrecover:v1:01:np:C:1:n:rec", &r), "node_id is not canonical decimal: \"01\"");
  EXPECT_EQ(parse_recovery("pilotrecover:v1:1:np:C:1::rec", &r), "recovery has an empty required field");
  EXPECT_EQ(parse_recovery("pilotrecover:v1:1:np:C:1:n:", &r), "recovery has an empty required field");
  EXPECT_EQ(parse_recovery("pilotrecover:v1:1:np:C:notanint:n:rec", &r),
            "exp is not canonical decimal: \"notanint\"");
}

TEST_F(KeyringTest, CanonicalBadgeRoundTrip) {
  Badge b{7, "github", 1700000000, 0, "bdg-v1", "alice"};
  std::string s = canonical_badge(b);
  EXPECT_EQ(s, "pilotbadge:v1:7:github:1700000000:0:bdg-v1:alice");
  Badge back;
  ASSERT_EQ(parse_badge(s, &back), "");
  EXPECT_EQ(canonical_badge(back), s);
  EXPECT_EQ(canonical_badge(Badge{7, "", 0, 0, "k", ""}), "");
  EXPECT_EQ(canonical_badge(Badge{7, "g", 0, 0, "k", "a:b"}), "");
}

// ---- verification ----

TEST_F(KeyringTest, VerifyBadgeAcceptsAValidBadge) {
  std::string s = "pilotbadge:v1:7:github:1700000000:" + std::to_string(now + 3600) + ":bdg-v2:";
  Badge b;
  ASSERT_EQ(verify_badge(issuers, s, issuer2.sign_b64(s), 7, now, &b), "");
  EXPECT_EQ(b.provider, "github");
  // exp 0 never expires.
  s = "pilotbadge:v1:7:github:1700000000:0:bdg-v1:alice";
  EXPECT_EQ(verify_badge(issuers, s, issuer.sign_b64(s), 7, now, &b), "");
}

TEST_F(KeyringTest, VerifyBadgeRefusals) {
  Badge b;
  std::string s = "pilotbadge:v1:7:github:1700000000:0:bdg-v1:";
  std::string sig = issuer.sign_b64(s);
  EXPECT_EQ(verify_badge(issuers, s, sig, 8, now, &b), "badge node_id does not match: badge=7 node=8");
  EXPECT_EQ(verify_badge(issuers, s, issuer2.sign_b64(s), 7, now, &b), "signature verification failed");
  EXPECT_EQ(verify_badge(issuers, s, stranger.sign_b64(s), 7, now, &b), "signature verification failed");
  EXPECT_EQ(verify_badge(issuers, s, "!!!", 7, now, &b), "signature is not valid base64");
  EXPECT_EQ(verify_badge(issuers, s, "AAAA", 7, now, &b), "wrong signature length 3 (want 64)");
  EXPECT_EQ(verify_badge(Keyring{}, s, sig, 7, now, &b), "unknown kid \"bdg-v1\"");
  EXPECT_EQ(verify_badge(recovery, s, sig, 7, now, &b), "unknown kid \"bdg-v1\"");
  // The bytes are what is signed: a signature over another statement does not carry over.
  std::string other = "pilotbadge:v1:7:google:1700000000:0:bdg-v1:";
  EXPECT_EQ(verify_badge(issuers, other, sig, 7, now, &b), "signature verification failed");
  std::string expired = "pilotbadge:v1:7:github:1700000000:" + std::to_string(now - 1) + ":bdg-v1:";
  EXPECT_EQ(verify_badge(issuers, expired, issuer.sign_b64(expired), 7, now, &b),
            "badge expired: exp=" + std::to_string(now - 1) + " now=" + std::to_string(now));
  std::string edge = "pilotbadge:v1:7:github:1700000000:" + std::to_string(now) + ":bdg-v1:";
  EXPECT_EQ(verify_badge(issuers, edge, issuer.sign_b64(edge), 7, now, &b), "");  // valid through exp
}

TEST_F(KeyringTest, VerifyEnrollment) {
  Enrollment e;
  std::string s = "pilotenroll:v1:9:github:c0mm1t:1700000000:bdg-v1";
  ASSERT_EQ(verify_enrollment(issuers, s, issuer.sign_b64(s), &e), "");
  EXPECT_EQ(e.commitment, "c0mm1t");
  EXPECT_EQ(verify_enrollment(issuers, s, cold.sign_b64(s), &e), "signature verification failed");
  // Enrollments are the online issuer's: the cold keyring does not know its kid.
  EXPECT_EQ(verify_enrollment(recovery, s, issuer.sign_b64(s), &e), "unknown kid \"bdg-v1\"");
}

TEST_F(KeyringTest, VerifyRecovery) {
  Recovery r;
  std::string s = "pilotrecover:v1:9:" + stranger.pub_b64() + ":c0mm1t:" + std::to_string(now + 600) + ":n1:rec-v1";
  ASSERT_EQ(verify_recovery(recovery, s, cold.sign_b64(s), now, &r), "");
  EXPECT_EQ(r.new_pubkey, stranger.pub_b64());
  EXPECT_EQ(r.nonce, "n1");
  EXPECT_EQ(verify_recovery(recovery, s, issuer.sign_b64(s), now, &r), "signature verification failed");
  EXPECT_EQ(verify_recovery(recovery, s, cold.sign_b64(s), now + 601, &r),
            "recovery expired: exp=" + std::to_string(now + 600) + " now=" + std::to_string(now + 601));
  // A compromised online issuer cannot sign a recovery: the issuer keyring is not consulted.
  std::string forged = "pilotrecover:v1:9:" + stranger.pub_b64() + ":c0mm1t:" + std::to_string(now + 600) + ":n1:bdg-v1";
  EXPECT_EQ(verify_recovery(recovery, forged, issuer.sign_b64(forged), now, &r), "unknown kid \"bdg-v1\"");
  // Domain separation: a badge signed by the cold key is still not a recovery.
  std::string badge = "pilotbadge:v1:9:github:0:0:rec-v1:";
  EXPECT_EQ(verify_recovery(recovery, badge, cold.sign_b64(badge), now, &r), "not a recovery (prefix \"pilotbadge\")");
}

TEST_F(KeyringTest, InstalledKeyringsAreWhatWasInstalled) {
  IdentityKeyrings k;
  k.issuers = issuers;
  install_identity_keyrings(std::move(k));
  EXPECT_EQ(identity_keyrings().issuers.size(), 2u);
  EXPECT_TRUE(identity_keyrings().recovery.empty());
  install_identity_keyrings(IdentityKeyrings{});
  EXPECT_TRUE(identity_keyrings().issuers.empty());
}

}  // namespace
