// Expression-policy documents (worker-registry/expr_policy.h): the Go server's structural
// check as set_expr_policy (rules required) and create_network (rules optional) apply it, and
// how the expr_policy member of a request is read.
#include "worker-registry/expr_policy.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using rdv::registry::expr_policy_error;
using rdv::registry::expr_policy_field;
using rdv::registry::ExprPolicyField;
using rdv::registry::ExprPolicyRules;
using rdv::registry::kMaxExprPolicyBytes;

constexpr auto kSet = ExprPolicyRules::Required;
constexpr auto kCreate = ExprPolicyRules::Optional;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(ExprPolicy, ValidDocumentsPass) {
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":[{"match":"true","action":"allow"}]})", kSet), "");
  EXPECT_EQ(expr_policy_error(R"(  {"rules":["x"], "version": 1}  )", kSet), "");
  // The rules are the daemons' business: any non-empty value passes here.
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":{"a":1}})", kSet), "");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":"r"})", kSet), "");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":[1],"extra":{"deep":[1.5,null,"\u0000"]}})", kSet), "");
}

TEST(ExprPolicy, InvalidJsonIsRefusedWithTheDetail) {
  for (const char* doc : {"{not json", "", "{\"version\":1,}", "{\"version\":1} trailing", "[1,2", "nul"}) {
    std::string e = expr_policy_error(doc, kSet);
    EXPECT_TRUE(starts_with(e, "expr_policy: invalid JSON: ")) << doc << " → " << e;
    EXPECT_GT(e.size(), std::string("expr_policy: invalid JSON: ").size()) << doc;
    EXPECT_EQ(expr_policy_error(doc, kCreate), e) << doc;
  }
}

TEST(ExprPolicy, NonObjectDocumentsAreInvalidJsonButNullIsVersionZero) {
  for (const char* doc : {"[]", "[1]", "\"text\"", "5", "true"}) {
    std::string e = expr_policy_error(doc, kSet);
    EXPECT_TRUE(starts_with(e, "expr_policy: invalid JSON: ")) << doc << " → " << e;
  }
  // Go decodes null into the struct without error: version stays 0.
  EXPECT_EQ(expr_policy_error("null", kSet), "expr_policy: unsupported version 0 (want 1)");
  EXPECT_EQ(expr_policy_error("null", kCreate), "expr_policy: unsupported version 0 (want 1)");
}

TEST(ExprPolicy, VersionMustBeTheInteger1) {
  EXPECT_EQ(expr_policy_error(R"({"version":99,"rules":[1]})", kSet), "expr_policy: unsupported version 99 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({"version":0,"rules":[1]})", kSet), "expr_policy: unsupported version 0 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({"version":-3,"rules":[1]})", kSet), "expr_policy: unsupported version -3 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({"rules":[1]})", kSet), "expr_policy: unsupported version 0 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({"version":null,"rules":[1]})", kSet), "expr_policy: unsupported version 0 (want 1)");
  EXPECT_EQ(expr_policy_error("{}", kCreate), "expr_policy: unsupported version 0 (want 1)");
  // Go's int refuses anything but an integer literal: a type error, reported as invalid JSON.
  for (const char* doc : {R"({"version":1.0,"rules":[1]})", R"({"version":1.5,"rules":[1]})",
                          R"({"version":1e0,"rules":[1]})", R"({"version":"1","rules":[1]})",
                          R"({"version":true,"rules":[1]})", R"({"version":[1],"rules":[1]})"}) {
    std::string e = expr_policy_error(doc, kSet);
    EXPECT_TRUE(starts_with(e, "expr_policy: invalid JSON: version must be an integer")) << doc << " → " << e;
  }
}

TEST(ExprPolicy, VersionIsCheckedBeforeRules) {
  EXPECT_EQ(expr_policy_error(R"({"version":2})", kSet), "expr_policy: unsupported version 2 (want 1)");
}

TEST(ExprPolicy, RulesAreRequiredOnlyWhenSetting) {
  const std::string none = "expr_policy: at least one rule is required";
  for (const char* doc : {R"({"version":1})", R"({"version":1,"rules":null})", R"({"version":1,"RULES":null})"}) {
    EXPECT_EQ(expr_policy_error(doc, kSet), none) << doc;
    EXPECT_EQ(expr_policy_error(doc, kCreate), "") << doc;
  }
  // Go checks only that the raw value is neither absent nor null.
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":[]})", kSet), "");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":false})", kSet), "");
}

TEST(ExprPolicy, KeysMatchIgnoringCaseAndTheLastOneWins) {
  EXPECT_EQ(expr_policy_error(R"({"Version":1,"RULES":[1]})", kSet), "");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"Version":2,"rules":[1]})", kSet),
            "expr_policy: unsupported version 2 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({"version":2,"VERSION":1,"rules":[1]})", kSet), "");
  // A duplicate key: the last value, as in Go.
  EXPECT_EQ(expr_policy_error(R"({"version":2,"version":1,"rules":[1]})", kSet), "");
}

TEST(ExprPolicy, SizeLimit) {
  std::string pad(kMaxExprPolicyBytes, ' ');
  std::string doc = R"({"version":1,"rules":[1]})";
  std::string at_limit = doc + pad.substr(doc.size());
  ASSERT_EQ(at_limit.size(), kMaxExprPolicyBytes);
  EXPECT_EQ(expr_policy_error(at_limit, kSet), "");
  EXPECT_EQ(expr_policy_error(at_limit + " ", kSet), "expr_policy too long (max 65536 bytes)");
  EXPECT_EQ(expr_policy_error(at_limit + " ", kCreate), "expr_policy too long (max 65536 bytes)");
}

rdv::Message parse(const std::string& json) {
  rdv::Message m;
  std::string err;
  EXPECT_TRUE(m.parse(json, &err)) << json << ": " << err;
  return m;
}

TEST(ExprPolicy, FieldStringIsDecoded) {
  rdv::Message m = parse(R"({"expr_policy":"{\"version\":1,\"rules\":[\"a\\\"b\"]}"})");
  ExprPolicyField f = expr_policy_field(m);
  EXPECT_EQ(f.kind, ExprPolicyField::String);
  EXPECT_EQ(f.text, R"({"version":1,"rules":["a\"b"]})");
  EXPECT_EQ(expr_policy_error(f.text, kSet), "");
  f = expr_policy_field(parse(R"({"expr_policy":""})"));
  EXPECT_EQ(f.kind, ExprPolicyField::String);
  EXPECT_EQ(f.text, "");
}

TEST(ExprPolicy, FieldObjectKeepsItsTextAsSent) {
  rdv::Message m = parse(R"({"type":"x","expr_policy": {"version": 1, "rules": [{"n": 10}]} ,"z":1})");
  ExprPolicyField f = expr_policy_field(m);
  EXPECT_EQ(f.kind, ExprPolicyField::Object);
  // Integers keep their spelling (a decoded double would come back as 1.0 and break Go's int).
  EXPECT_EQ(f.text, R"({"version": 1, "rules": [{"n": 10}]})");
  EXPECT_EQ(expr_policy_error(f.text, kSet), "");
}

TEST(ExprPolicy, FieldOtherKindsAndAbsence) {
  EXPECT_EQ(expr_policy_field(parse(R"({"type":"x"})")).kind, ExprPolicyField::Absent);
  for (const char* v : {"null", "5", "[1]", "true", "false"}) {
    ExprPolicyField f = expr_policy_field(parse(std::string(R"({"expr_policy":)") + v + "}"));
    EXPECT_EQ(f.kind, ExprPolicyField::Other) << v;
    EXPECT_EQ(f.text, "") << v;
  }
  // Another member's name.
  ExprPolicyField f = expr_policy_field(parse(R"({"policy":{"version":1}})"), "policy");
  EXPECT_EQ(f.kind, ExprPolicyField::Object);
}

}  // namespace
