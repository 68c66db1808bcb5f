// The pure parts of the enterprise messages (worker-registry/enterprise.h): blueprint parsing
// and validation (wire-protocol §6.8, the common library's ValidateBlueprint order), the
// minimal expression-policy check, number canonicalisation, the audit-export endpoint rules,
// and the -allow-private-endpoints validation in Config.
#include "worker-registry/enterprise.h"

#include <gtest/gtest.h>

#include <string>

#include "config.h"
#include "json.h"

namespace {

using rdv::registry::Blueprint;
using rdv::registry::parse_blueprint;

// Parses `text` the way the request parser hands nested values over: every number a double.
rdv::JsonPtr doc(const std::string& text) {
  json_error_t err;
  rdv::JsonPtr j(json_loads(text.c_str(), JSON_DECODE_INT_AS_REAL, &err));
  EXPECT_TRUE(j) << text << ": " << err.text;
  return j;
}

std::string parse(const std::string& text, Blueprint* b = nullptr, const rdv::CidrList& allowed = {}) {
  Blueprint local;
  rdv::JsonPtr j = doc(text);
  return parse_blueprint(j.get(), allowed, b ? b : &local);
}

TEST(Blueprint, MinimalNameOnly) {
  Blueprint b;
  EXPECT_EQ(parse(R"({"name":"corp-net"})", &b), "");
  EXPECT_EQ(b.name, "corp-net");
  EXPECT_EQ(b.join_rule, "");
  EXPECT_FALSE(b.enterprise);
  EXPECT_FALSE(b.has_policy);
  EXPECT_FALSE(b.has_idp);
  EXPECT_FALSE(b.has_audit_export);
  EXPECT_TRUE(b.roles.empty());
  EXPECT_EQ(b.expr_policy, "");
}

TEST(Blueprint, EverySection) {
  Blueprint b;
  EXPECT_EQ(parse(R"({"name":"ops","join_rule":"token","join_token":"jt","enterprise":true,
      "network_admin_token":"nat","policy":{"max_members":50,"allowed_ports":[80,443,80],"description":"d"},
      "expr_policy":{"version":1,"rules":[{"match":"x","limit":3}]},
      "roles":[{"external_id":"Alice@Corp","role":"admin"}],
      "identity_provider":{"type":"oidc","url":"https://idp.example.com/jwks","issuer":"https://idp.example.com","client_id":"c1"},
      "webhooks":{"audit_url":"https://hooks.example.com/a","identity_url":"https://id.example.com/v"},
      "audit_export":{"format":"splunk_hec","endpoint":"https://splunk.example.com:8088/hec","token":"t","index":"i","source":"s"}})",
                  &b),
            "");
  EXPECT_EQ(b.join_rule, "token");
  EXPECT_EQ(b.join_token, "jt");
  EXPECT_TRUE(b.enterprise);
  EXPECT_EQ(b.network_admin_token, "nat");
  EXPECT_TRUE(b.has_max_members);
  EXPECT_EQ(b.max_members, 50u);
  EXPECT_EQ(b.allowed_ports, (std::vector<uint16_t>{80, 443}));  // de-duplicated
  EXPECT_EQ(b.description, "d");
  // Whole numbers are integers again, so daemons read {"version":1}.
  EXPECT_EQ(b.expr_policy, R"({"rules":[{"limit":3,"match":"x"}],"version":1})");  // as Go marshals a decoded map
  ASSERT_EQ(b.roles.size(), 1u);
  EXPECT_EQ(b.roles[0].first, "Alice@Corp");
  EXPECT_EQ(b.roles[0].second, "admin");
  EXPECT_TRUE(b.has_idp);
  EXPECT_EQ(b.idp.idp_type, "oidc");
  EXPECT_EQ(b.idp.client_id, "c1");
  EXPECT_EQ(b.audit_url, "https://hooks.example.com/a");
  EXPECT_EQ(b.identity_url, "https://id.example.com/v");
  EXPECT_TRUE(b.has_audit_export);
  EXPECT_EQ(b.audit_export.token, "t");
}

TEST(Blueprint, ValidationErrorsInOrder) {
  EXPECT_EQ(parse(R"({})"), "name is required");
  EXPECT_EQ(parse(R"({"name":""})"), "name is required");
  EXPECT_EQ(parse(R"({"name":5})"), "name must be a string");
  EXPECT_EQ(parse(R"({"name":"Bad_Name"})"),
            "network name must be lowercase alphanumeric with hyphens, start/end with alphanumeric");
  EXPECT_EQ(parse(R"({"name":"backbone"})"), "network name \"backbone\" is reserved");
  EXPECT_EQ(parse(R"({"name":")" + std::string(64, 'a') + R"("})"), "network name too long (max 63 chars)");
  EXPECT_EQ(parse(R"({"name":"n","join_rule":"closed"})"), "invalid join_rule \"closed\" (must be open, token, or invite)");
  EXPECT_EQ(parse(R"({"name":"n","join_rule":"token"})"), "join_token is required when join_rule is token");
  EXPECT_EQ(parse(R"({"name":"n","enterprise":"yes"})"), "enterprise must be a boolean");
  EXPECT_EQ(parse(R"({"name":"n","roles":{}})"), "roles must be an array");
  EXPECT_EQ(parse(R"({"name":"n","roles":[{"role":"admin"}]})"), "role entry: external_id is required");
  EXPECT_EQ(parse(R"({"name":"n","roles":[{"external_id":"a","role":"root"}]})"), "invalid role \"root\" for a");
  EXPECT_EQ(parse(R"({"name":"n","roles":[7]})"), "role entry 0 must be an object");
  EXPECT_EQ(parse(R"({"name":"n","identity_provider":{"type":"kerberos","url":"https://x.example"}})"),
            "invalid identity_provider type \"kerberos\"");
  EXPECT_EQ(parse(R"({"name":"n","identity_provider":{"type":"oidc"}})"), "identity_provider.url is required");
  EXPECT_EQ(parse(R"({"name":"n","identity_provider":"oidc"})"), "identity_provider must be an object");
  EXPECT_EQ(parse(R"({"name":"n","webhooks":{"audit_url":"ftp://x.example"}})"),
            "webhooks.audit_url: scheme must be http or https");
  EXPECT_EQ(parse(R"({"name":"n","audit_export":{"format":"xml","endpoint":"https://x.example"}})"),
            "invalid audit_export format \"xml\"");
  EXPECT_EQ(parse(R"({"name":"n","audit_export":{"format":"json"}})"), "audit_export.endpoint is required");
  EXPECT_EQ(parse(R"({"name":"n","expr_policy":{"version":2,"rules":[1]}})"),
            "expr_policy: unsupported version 2 (want 1)");
  EXPECT_EQ(parse(R"({"name":"n","expr_policy":{"version":1,"rules":null}})"), "expr_policy: at least one rule is required");
  EXPECT_EQ(parse(R"({"name":"n","expr_policy":{"version":1,"rules":[]}})"), "");  // as the Go server
  EXPECT_EQ(parse(R"({"name":"n","expr_policy":{"version":1}})"), "expr_policy: at least one rule is required");
  EXPECT_EQ(parse(R"({"name":"n","expr_policy":"{not json"})").rfind("expr_policy: invalid JSON: ", 0), 0u);
  EXPECT_EQ(parse(R"({"name":"n","policy":{"max_members":10001}})"), "invalid max_members (must be integer 0-10000)");
  EXPECT_EQ(parse(R"({"name":"n","policy":{"max_members":2.5}})"), "invalid max_members (must be integer 0-10000)");
  EXPECT_EQ(parse(R"({"name":"n","policy":{"allowed_ports":[0]}})"),
            "invalid port number in allowed_ports (must be integer 1-65535)");
  EXPECT_EQ(parse(R"({"name":"n","policy":{"description":")" + std::string(257, 'd') + R"("}})"),
            "policy description too long (max 256 chars)");
  // The common library's order: roles are checked before the identity provider.
  EXPECT_EQ(parse(R"({"name":"n","identity_provider":{"type":"x"},"roles":[{"role":"admin"}]})"),
            "role entry: external_id is required");
}

TEST(Blueprint, OutboundUrlsAreGuarded) {
  EXPECT_EQ(parse(R"({"name":"n","identity_provider":{"type":"oidc","url":"http://127.0.0.1/jwks"}})"),
            "identity_provider.url: loopback address 127.0.0.1 not allowed");
  EXPECT_EQ(parse(R"({"name":"n","webhooks":{"identity_url":"http://10.1.2.3/v"}})"),
            "webhooks.identity_url: private address 10.1.2.3 not allowed");
  EXPECT_EQ(parse(R"({"name":"n","audit_export":{"format":"syslog_cef","endpoint":"localhost:514"}})"),
            "audit_export.endpoint: loopback address 127.0.0.1 not allowed");
  rdv::CidrList loopback;
  std::string why;
  ASSERT_TRUE(rdv::parse_cidr_list("127.0.0.0/8", &loopback, &why));
  EXPECT_EQ(parse(R"({"name":"n","identity_provider":{"type":"oidc","url":"http://127.0.0.1/jwks"}})", nullptr, loopback),
            "");
}

TEST(Blueprint, Oversize) {
  std::string big(300, 'x');
  EXPECT_EQ(parse(R"({"name":"n","join_token":")" + big + R"("})"), "join_token too long (max 256 bytes)");
  EXPECT_EQ(parse(R"({"name":"n","roles":[{"external_id":")" + big + R"(","role":"admin"}]})"),
            "role entry external_id too long (max 256 bytes)");
  std::string roles = "[";
  for (int i = 0; i <= 10000; i++) roles += std::string(i ? "," : "") + R"({"external_id":"u","role":"member"})";
  EXPECT_EQ(parse(R"({"name":"n","roles":)" + roles + "]}"), "too many roles (max 10000)");
}

TEST(ExprPolicy, Integralize) {
  rdv::JsonPtr j = doc(R"({"a":1,"b":[2,2.5,{"c":-3}],"d":1e20})");
  rdv::registry::json_integralize(j.get());
  EXPECT_EQ(rdv::json_dump_compact(j.get()).substr(0, 30), R"({"a":1,"b":[2,2.5,{"c":-3}],"d)");
  EXPECT_TRUE(json_is_real(json_object_get(j.get(), "d")));  // beyond 2^53: left a real
}

TEST(AuditExportEndpoint, Formats) {
  using rdv::registry::export_endpoint_error;
  rdv::CidrList none;
  EXPECT_EQ(export_endpoint_error("json", "https://collector.example.com/in", none), "");
  EXPECT_EQ(export_endpoint_error("splunk_hec", "http://192.168.1.2:8088/", none), "private address 192.168.1.2 not allowed");
  EXPECT_EQ(export_endpoint_error("syslog_cef", "logs.example.com:514", none), "");
  EXPECT_EQ(export_endpoint_error("syslog_cef", "[2001:db8::1]:514", none), "");
  EXPECT_EQ(export_endpoint_error("syslog_cef", "[::1]:514", none), "loopback address ::1 not allowed");
  for (const char* bad : {"logs.example.com", "logs.example.com:", ":514", "logs.example.com:99999", "h:5x",
                          "https://logs.example.com:514", "bad host:514", "a/b:514"})
    EXPECT_EQ(export_endpoint_error("syslog_cef", bad, none),
              "invalid syslog_cef endpoint \"" + std::string(bad) + "\" (must be host:port)")
        << bad;
}

TEST(AllowPrivateEndpointsFlag, ValidatedNamingTheBadEntry) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(c.parse({"-data-dir", "/tmp/x", "-allow-private-endpoints", "127.0.0.0/8, nonsense"}, &err));
  EXPECT_NE(err.find("allow-private-endpoints"), std::string::npos) << err;
  EXPECT_NE(err.find("nonsense"), std::string::npos) << err;
  rdv::Config ok;
  EXPECT_TRUE(ok.parse({"-data-dir", "/tmp/x", "-allow-private-endpoints", "127.0.0.0/8,10.0.0.0/8"}, &err)) << err;
  EXPECT_EQ(rdv::registry::allowed_private_endpoints(ok).size(), 2u);
}

TEST(WebhookDlq, NoneIsNull) {
  size_t n = 7;
  EXPECT_EQ(rdv::registry::webhook_dlq_events(nullptr, &n), nullptr);
  EXPECT_EQ(n, 0u);
  rdv::JsonPtr empty = doc(R"({"events":[]})");
  EXPECT_EQ(rdv::registry::webhook_dlq_events(empty.get(), &n), nullptr);
  rdv::JsonPtr junk = doc(R"({"events":"x"})");
  EXPECT_EQ(rdv::registry::webhook_dlq_events(junk.get(), &n), nullptr);
}

TEST(WebhookDlq, EventsRedactedAndShapes) {
  rdv::JsonPtr dlq = doc(R"({"events":[
      {"event_id":3,"action":"network.joined","timestamp":"2026-01-02T03:04:05Z",
       "details":{"node_id":5,"token":"t-1","nested":{"api_key":"k-2"},"note":"url=https://h/?secret=s-3&x=1"},"extra":1},
      {"event_id":4,"action":"trust.created","timestamp":"2026-01-02T03:04:06Z","details":null},
      "not an event"]})");
  size_t n = 0;
  rdv::JsonPtr events(rdv::registry::webhook_dlq_events(dlq.get(), &n));
  ASSERT_TRUE(events);
  EXPECT_EQ(n, 2u);
  std::string text = rdv::json_dump_compact(events.get());
  for (const char* secret : {"t-1", "k-2", "s-3"}) EXPECT_EQ(text.find(secret), std::string::npos) << text;
  const json_t* first = json_array_get(events.get(), 0);
  EXPECT_EQ(json_integer_value(json_object_get(first, "event_id")), 3);
  EXPECT_EQ(rdv::json_str(first, "action"), "network.joined");
  EXPECT_EQ(rdv::json_str(first, "timestamp"), "2026-01-02T03:04:05Z");
  EXPECT_EQ(json_number_value(json_object_get(json_object_get(first, "details"), "node_id")), 5);
  EXPECT_FALSE(json_object_get(first, "extra"));
  EXPECT_FALSE(json_object_get(json_array_get(events.get(), 1), "details")) << "null details are left out";
  // The stored record is not changed by the read.
  EXPECT_NE(rdv::json_dump_compact(dlq.get()).find("t-1"), std::string::npos);
}

TEST(WebhookDlq, LastHundredShown) {
  std::string text = R"({"events":[)";
  for (int i = 1; i <= 130; i++)
    text += std::string(i > 1 ? "," : "") + R"({"event_id":)" + std::to_string(i) + R"(,"action":"a","timestamp":"t"})";
  rdv::JsonPtr dlq = doc(text + "]}");
  size_t n = 0;
  rdv::JsonPtr events(rdv::registry::webhook_dlq_events(dlq.get(), &n));
  ASSERT_EQ(n, 100u);
  EXPECT_EQ(json_integer_value(json_object_get(json_array_get(events.get(), 0), "event_id")), 31);
  EXPECT_EQ(json_integer_value(json_object_get(json_array_get(events.get(), 99), "event_id")), 130);
}

}  // namespace
