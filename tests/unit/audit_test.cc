// The audit log's pure rules (shared/audit.h): secret keys and redaction (ops-spec §7.4, the
// checklist of §12 item 73), the details text (§7.1, item 69) and the hash chain (§7.1).
#include "audit.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>
#include <vector>

#include "json.h"
#include "util.h"

namespace {

using rdv::audit_details;
using rdv::audit_key_is_secret;
using rdv::redact_embedded;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(AuditSecretKeys, ExactNamesAnyCase) {
  for (const char* k : {"token", "admin_token", "password", "passwd", "secret", "api_key", "apikey", "private_key",
                        "signature", "challenge", "auth", "authorization", "bearer", "credential", "credentials",
                        "TOKEN", "Authorization", "Bearer", "Api_Key"})
    EXPECT_TRUE(audit_key_is_secret(k)) << k;
}

TEST(AuditSecretKeys, Suffixes) {
  for (const char* k : {"network_admin_token", "db_password", "shared_secret", "signing_key", "HMAC_SECRET"})
    EXPECT_TRUE(audit_key_is_secret(k)) << k;
}

TEST(AuditSecretKeys, OrdinaryKeysAreNot) {
  for (const char* k : {"hostname", "reason", "member_count", "url", "keys", "tokens", "author", "key_count",
                        "endpoint", "", "secretive", "token_count"})
    EXPECT_FALSE(audit_key_is_secret(k)) << k;
}

// §12 item 73: the secret values are absent, a marker is present, the rest is kept.
TEST(AuditDetails, SecretValuesRedactedOthersKept) {
  std::string d = audit_details({{"token", "tok-1"},
                                 {"admin_token", "adm-2"},
                                 {"password", "pw-3"},
                                 {"api_key", "ak-4"},
                                 {"private_key", "pk-5"},
                                 {"signature", "sig-6"},
                                 {"network_admin_token", "nat-7"},
                                 {"db_password", "dbp-8"},
                                 {"shared_secret", "ss-9"},
                                 {"signing_key", "sk-10"},
                                 {"Bearer", "br-11"},
                                 {"hostname", "alpha"},
                                 {"reason", "test"},
                                 {"member_count", "42"}});
  for (const char* secret : {"tok-1", "adm-2", "pw-3", "ak-4", "pk-5", "sig-6", "nat-7", "dbp-8", "ss-9", "sk-10",
                             "br-11"})
    EXPECT_FALSE(contains(d, secret)) << secret << " in " << d;
  EXPECT_TRUE(contains(d, "redacted")) << d;
  EXPECT_TRUE(contains(d, "hostname=alpha")) << d;
  EXPECT_TRUE(contains(d, "reason=test")) << d;
  EXPECT_TRUE(contains(d, "member_count=42")) << d;
}

// §7.1 / item 69: attribute order, ", " separator, ids never in the details.
TEST(AuditDetails, FormatAndIdsLeftOut) {
  EXPECT_EQ(audit_details({{"reason", "test"}, {"node_id", "5"}, {"count", "5"}, {"network_id", "2"}}),
            "reason=test, count=5");
  EXPECT_EQ(audit_details({}), "");
  EXPECT_EQ(audit_details({{"token", "x"}}), "token=<redacted>");
}

TEST(AuditRedact, CleanStringsUnchangedByteForByte) {
  for (const char* s : {"host=ex.com,port=8443", "plain text", "", "a=b, c=d", "{\"a\": 1,   \"b\":[1,2]}",
                        "  [1, 2, 3]", "key=value&other=1", "https://example.com/hook?x=1", "{not json"})
    EXPECT_EQ(redact_embedded(s), s) << s;
}

TEST(AuditRedact, KeyValueLists) {
  std::string r = redact_embedded("api_key=abc123, region=eu");
  EXPECT_FALSE(contains(r, "abc123")) << r;
  EXPECT_TRUE(contains(r, "region=eu")) << r;
  EXPECT_EQ(redact_embedded("user=bob password=hunter2 retries=3"), "user=bob password=<redacted> retries=3");
  EXPECT_EQ(redact_embedded("db_secret=\"two words\";x=1"), "db_secret=<redacted>;x=1");
}

TEST(AuditRedact, UrlQueryInsideAValue) {
  std::string r = redact_embedded("url=https://hooks.example.com/in?token=s3cr3t&team=ops");
  EXPECT_FALSE(contains(r, "s3cr3t")) << r;
  EXPECT_TRUE(contains(r, "team=ops")) << r;
  EXPECT_TRUE(contains(r, "https://hooks.example.com/in?token=")) << r;
}

TEST(AuditRedact, AuthSchemeCredentialGoesWithIt) {
  std::string r = redact_embedded("authorization=Bearer eyJabc.def, path=/x");
  EXPECT_FALSE(contains(r, "eyJabc")) << r;
  EXPECT_TRUE(contains(r, "path=/x")) << r;
  r = redact_embedded("header was: Bearer eyJhbGciOi.xyz then more");
  EXPECT_FALSE(contains(r, "eyJhbGciOi")) << r;
  EXPECT_TRUE(contains(r, "then more")) << r;
}

TEST(AuditRedact, WholeJsonNestedAtAnyDepth) {
  std::string r = redact_embedded(R"({"outer":{"inner":{"token":"deep-1"},"list":[{"api_key":"deep-2"}]},"ok":"kept"})");
  EXPECT_FALSE(contains(r, "deep-1")) << r;
  EXPECT_FALSE(contains(r, "deep-2")) << r;
  EXPECT_TRUE(contains(r, "kept")) << r;
  rdv::JsonPtr j(json_loads(r.c_str(), 0, nullptr));
  ASSERT_TRUE(j) << "still JSON: " << r;
}

TEST(AuditRedact, JsonEmbeddedInText) {
  std::string r = redact_embedded(R"(retrying with {"client_secret": "cs-1", "n": 2} after 1s)");
  EXPECT_FALSE(contains(r, "cs-1")) << r;
  EXPECT_TRUE(contains(r, "\"n\": 2")) << r;
  EXPECT_TRUE(contains(r, "after 1s")) << r;
  // Unterminated: everything after the secret key's colon goes.
  r = redact_embedded(R"(broken {"password": "abc)");
  EXPECT_FALSE(contains(r, "abc")) << r;
  // A secret key's object value goes whole.
  r = redact_embedded(R"(cfg {"credentials": {"user":"u","pw":"p-9"}, "x": 1})");
  EXPECT_FALSE(contains(r, "p-9")) << r;
  EXPECT_TRUE(contains(r, "\"x\": 1")) << r;
}

TEST(AuditRedact, StringValuesInsideJsonAreScannedToo) {
  std::string r = redact_embedded(R"({"url":"https://h/?token=t-1&a=b"})");
  EXPECT_FALSE(contains(r, "t-1")) << r;
  EXPECT_TRUE(contains(r, "a=b")) << r;
}

// RedactMap (§7.4), used on the webhook dead-letter queue.
TEST(AuditRedactJson, RedactMapRules) {
  rdv::JsonPtr m(json_loads(R"({"token":"a","api_key":"b","db_secret":"c","name":"kept","n":5,"nested":{"password":"d"}})",
                            0, nullptr));
  ASSERT_TRUE(m);
  EXPECT_TRUE(rdv::audit_redact_json(m.get()));
  EXPECT_EQ(rdv::json_str(m.get(), "token"), "<redacted>");
  EXPECT_EQ(rdv::json_str(m.get(), "api_key"), "<redacted>");
  EXPECT_EQ(rdv::json_str(m.get(), "db_secret"), "<redacted>");
  EXPECT_EQ(rdv::json_str(m.get(), "name"), "kept");
  EXPECT_EQ(json_integer_value(json_object_get(m.get(), "n")), 5);
  EXPECT_EQ(rdv::json_str(json_object_get(m.get(), "nested"), "password"), "<redacted>");

  rdv::JsonPtr empty(json_object());
  EXPECT_FALSE(rdv::audit_redact_json(empty.get()));
  EXPECT_EQ(json_object_size(empty.get()), 0u);
  rdv::JsonPtr null(json_null());
  EXPECT_FALSE(rdv::audit_redact_json(null.get()));
  EXPECT_TRUE(json_is_null(null.get()));
  EXPECT_FALSE(rdv::audit_redact_json(nullptr));
}

// ---- the hash chain (§7.1) ----

std::string sha256_hex(const std::string& bytes) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static const char* const hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : d) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

rdv::AuditEntry entry(int64_t ts, const char* action, uint16_t net, uint32_t node, const char* details,
                      const std::string& prev) {
  rdv::AuditEntry e;
  e.timestamp = ts;
  e.action = action;
  e.network_id = net;
  e.node_id = node;
  e.details = details;
  e.prev_hash = prev;
  e.hash = rdv::audit_hash(e);
  return e;
}

TEST(AuditHash, MatchesTheSpecifiedConcatenation) {
  rdv::AuditEntry e = entry(1700000000, "network.joined", 0x0102, 0x0A0B0C0D, "role=member", "ab12");
  std::string bytes = "ab12" + rdv::rfc3339_utc(1700000000) + "network.joined";
  bytes += std::string("\x01\x02\x0A\x0B\x0C\x0D", 6);
  bytes += "role=member";
  EXPECT_EQ(e.hash, sha256_hex(bytes));
  EXPECT_EQ(e.hash.size(), 64u);
  EXPECT_EQ(rdv::rfc3339_utc(1700000000), "2023-11-14T22:13:20Z");
}

TEST(AuditHash, EveryFieldIsBound) {
  rdv::AuditEntry base = entry(100, "a.b", 1, 2, "k=v", "");
  EXPECT_NE(entry(101, "a.b", 1, 2, "k=v", "").hash, base.hash);
  EXPECT_NE(entry(100, "a.c", 1, 2, "k=v", "").hash, base.hash);
  EXPECT_NE(entry(100, "a.b", 2, 2, "k=v", "").hash, base.hash);
  EXPECT_NE(entry(100, "a.b", 1, 3, "k=v", "").hash, base.hash);
  EXPECT_NE(entry(100, "a.b", 1, 2, "k=w", "").hash, base.hash);
  EXPECT_NE(entry(100, "a.b", 1, 2, "k=v", "00").hash, base.hash);
}

TEST(AuditChain, IntactChainAndEachKindOfBreak) {
  std::vector<rdv::AuditEntry> log;
  log.push_back(entry(1, "x.one", 0, 1, "", ""));
  log.push_back(entry(2, "x.two", 3, 0, "a=b", log.back().hash));
  log.push_back(entry(3, "x.three", 0, 0, "", log.back().hash));
  EXPECT_EQ(rdv::audit_chain_break(log), -1);
  EXPECT_EQ(rdv::audit_chain_break({}), -1);

  auto tampered = log;
  tampered[1].details = "a=c";  // content changed, hash not recomputed
  EXPECT_EQ(rdv::audit_chain_break(tampered), 1);

  tampered = log;
  tampered[2].prev_hash = std::string(64, '0');  // link cut
  tampered[2].hash = rdv::audit_hash(tampered[2]);
  EXPECT_EQ(rdv::audit_chain_break(tampered), 2);

  // A trimmed log starts anywhere: the first entry's prev_hash is not checked.
  std::vector<rdv::AuditEntry> trimmed(log.begin() + 1, log.end());
  EXPECT_EQ(rdv::audit_chain_break(trimmed), -1);
}

}  // namespace
