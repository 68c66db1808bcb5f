// The bodies the audit deliverer sends (shared/audit_export.h): the three export formats of
// ops-spec §7.3 byte for byte, the webhook body of §8.3 and its HMAC signature.
#include "audit_export.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "json.h"

namespace {

using rdv::AuditEntry;
using rdv::ExportFormat;

AuditEntry entry() {
  AuditEntry e;
  e.timestamp = 1700000000;  // 2023-11-14T22:13:20Z
  e.action = "member.kicked";
  e.network_id = 7;
  e.node_id = 42;
  e.details = "reason=spam, token=<redacted>";
  e.prev_hash = "aa";
  e.hash = "bb";
  return e;
}

TEST(AuditExport, JsonIsTheEntryObject) {
  auto b = rdv::format_export({"json", "", ""}, entry());
  EXPECT_EQ(b.content_type, "application/json");
  EXPECT_EQ(b.body,
            R"({"timestamp":"2023-11-14T22:13:20Z","action":"member.kicked","network_id":7,"node_id":42,)"
            R"("details":"reason=spam, token=<redacted>","prev_hash":"aa","hash":"bb"})");
  AuditEntry bare;
  bare.timestamp = 1700000000;
  bare.action = "network.created";
  EXPECT_EQ(rdv::format_export({"json", "", ""}, bare).body,
            R"({"timestamp":"2023-11-14T22:13:20Z","action":"network.created"})");
}

TEST(AuditExport, UnknownFormatFallsBackToJson) {
  EXPECT_EQ(rdv::format_export({"xml", "", ""}, entry()).body, rdv::format_export({"json", "", ""}, entry()).body);
}

TEST(AuditExport, SplunkHec) {
  auto b = rdv::format_export({"splunk_hec", "", ""}, entry());
  EXPECT_EQ(b.content_type, "application/json");
  EXPECT_EQ(b.body,
            R"({"time":1700000000,"source":"pilot-registry","sourcetype":"pilot:audit","event":{"action":"member.kicked",)"
            R"("details":"reason=spam, token=<redacted>","network_id":7,"node_id":42}})");
  AuditEntry bare;
  bare.timestamp = 1700000000;
  bare.action = "network.created";
  EXPECT_EQ(rdv::format_export({"splunk_hec", "main", "my-src"}, bare).body,
            R"({"time":1700000000,"source":"my-src","sourcetype":"pilot:audit","index":"main",)"
            R"("event":{"action":"network.created","network_id":0,"node_id":0}})");
}

TEST(AuditExport, SyslogCef) {
  auto b = rdv::format_export({"syslog_cef", "", ""}, entry());
  EXPECT_EQ(b.content_type, "text/plain");
  EXPECT_EQ(b.body,
            "CEF:0|Pilot|Registry|1.0|member.kicked|member.kicked|6|dvc=pilot-registry dvchost=registry "
            "cs1=member.kicked cs1Label=action cn1=7 cn1Label=network_id cn2=42 cn2Label=node_id "
            "msg=reason\\=spam, token\\=<redacted>");
  AuditEntry bare;
  bare.action = "network.created";
  EXPECT_EQ(rdv::format_export({"syslog_cef", "", ""}, bare).body,
            "CEF:0|Pilot|Registry|1.0|network.created|network.created|3|dvc=pilot-registry dvchost=registry "
            "cs1=network.created cs1Label=action cn1=0 cn1Label=network_id cn2=0 cn2Label=node_id");
}

TEST(AuditExport, CefSeverityAndEscaping) {
  EXPECT_EQ(rdv::cef_severity("network.deleted"), 6);
  EXPECT_EQ(rdv::cef_severity("member.kicked"), 6);
  EXPECT_EQ(rdv::cef_severity("member.promoted"), 4);
  EXPECT_EQ(rdv::cef_severity("member.demoted"), 4);
  EXPECT_EQ(rdv::cef_severity("node.registered"), 3);
  // A field cannot inject a header or an extension, nor a second line.
  EXPECT_EQ(rdv::cef_escape("a|b=c\\d\r\ne"), "a\\|b\\=c\\\\d\\r\\ne");
  AuditEntry e;
  e.action = "x|y";
  e.details = "k=v\nCEF:0|fake";
  std::string line = rdv::format_export({"syslog_cef", "", ""}, e).body;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("cs1=x\\|y "), std::string::npos);
  EXPECT_NE(line.find("msg=k\\=v\\nCEF:0\\|fake"), std::string::npos);
}

TEST(AuditExport, DetailsObject) {
  rdv::JsonPtr o(rdv::audit_details_object("url=http://x/?a=1, status=enabled, note=a, b"));
  EXPECT_EQ(rdv::json_dump_compact(o.get()), R"({"url":"http://x/?a=1","status":"enabled","note":"a, b"})");
  rdv::JsonPtr empty(rdv::audit_details_object(""));
  EXPECT_EQ(rdv::json_dump_compact(empty.get()), "{}");
}

TEST(AuditExport, WebhookBody) {
  EXPECT_EQ(rdv::webhook_body(17, entry()),
            R"({"event_id":17,"action":"member.kicked","timestamp":"2023-11-14T22:13:20Z",)"
            R"("details":{"network_id":7,"node_id":42,"reason":"spam","token":"<redacted>"}})");
  AuditEntry bare;
  bare.timestamp = 1700000000;
  bare.action = "network.created";
  EXPECT_EQ(rdv::webhook_body(1, bare), R"({"event_id":1,"action":"network.created","timestamp":"2023-11-14T22:13:20Z"})");
  // Keys from the log are escaped.
  bare.details = "we\"ird=1";
  rdv::JsonPtr parsed(json_loads(rdv::webhook_body(2, bare).c_str(), 0, nullptr));
  ASSERT_TRUE(parsed);
}

TEST(AuditExport, HmacSha256) {
  ASSERT_GE(sodium_init(), 0);
  // RFC 4231 test case 2.
  EXPECT_EQ(rdv::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
