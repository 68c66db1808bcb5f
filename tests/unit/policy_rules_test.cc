// The documents a network carries (worker-registry/policy_rules.h): Go's duration parser, the
// managed ruleset's validation and stored form (wire-protocol §6.4.1, client-expectations D8,
// D10), the expression policy's checks (§6.4.1, §6.6), and Go's JSON text forms.
#include "worker-registry/policy_rules.h"
#include "shared/util.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace rdv::registry;

int64_t dur(std::string_view s) {
  int64_t ns = -12345;
  EXPECT_EQ(go_parse_duration(s, &ns), "") << s;
  return ns;
}

TEST(GoDuration, ParsesWhatGoParses) {
  EXPECT_EQ(dur("1h"), 3600LL * 1000000000);
  EXPECT_EQ(dur("1h30m"), 5400LL * 1000000000);
  EXPECT_EQ(dur("1.5h"), 5400LL * 1000000000);
  EXPECT_EQ(dur("90s"), 90LL * 1000000000);
  EXPECT_EQ(dur("250ms"), 250LL * 1000000);
  EXPECT_EQ(dur("10us"), 10000);
  EXPECT_EQ(dur("10\xC2\xB5s"), 10000);
  EXPECT_EQ(dur("7ns"), 7);
  EXPECT_EQ(dur("0"), 0);
  EXPECT_EQ(dur("-0"), 0);
  EXPECT_EQ(dur("+5m"), 300LL * 1000000000);
  EXPECT_EQ(dur("-1m"), -60LL * 1000000000);
  EXPECT_EQ(dur(".5s"), 500000000);
  EXPECT_EQ(dur("1.s"), 1000000000);
}

TEST(GoDuration, ErrorTextsAreGos) {
  int64_t ns;
  EXPECT_EQ(go_parse_duration("", &ns), "time: invalid duration \"\"");
  EXPECT_EQ(go_parse_duration("not-a-duration", &ns), "time: invalid duration \"not-a-duration\"");
  EXPECT_EQ(go_parse_duration("1", &ns), "time: missing unit in duration \"1\"");
  EXPECT_EQ(go_parse_duration("1d", &ns), "time: unknown unit \"d\" in duration \"1d\"");
  EXPECT_EQ(go_parse_duration(".s", &ns), "time: invalid duration \".s\"");
  EXPECT_EQ(go_parse_duration("-", &ns), "time: invalid duration \"-\"");
  EXPECT_EQ(go_parse_duration("9999999999999h", &ns), "time: invalid duration \"9999999999999h\"");
  EXPECT_EQ(go_parse_duration("1\xff", &ns), "time: unknown unit \"\\xff\" in duration \"1\\xff\"");
}

std::string rules(std::string_view text) {
  std::string canonical;
  std::string err = rules_from_text(text, &canonical);
  return err.empty() ? canonical : "ERR " + err;
}

TEST(ManagedRules, StoredFormHasIntegerLiteralsInStructOrder) {
  EXPECT_EQ(rules(R"({"fill_how":"random","links":3,"cycle":"1h","prune":1,"prune_by":"score","fill":2})"),
            R"({"links":3,"cycle":"1h","prune":1,"prune_by":"score","fill":2,"fill_how":"random"})");
  // grace only when set; cycle kept as written (the Go server echoes the string).
  EXPECT_EQ(rules(R"({"links":5,"cycle":"90m","prune_by":"age","fill_how":"random","grace":"5m"})"),
            R"({"links":5,"cycle":"90m","prune":0,"prune_by":"age","fill":0,"fill_how":"random","grace":"5m"})");
  // Go matches field names case-insensitively and ignores unknown ones; null leaves a field unset.
  EXPECT_EQ(rules(R"({"Links":2,"CYCLE":"1h","prune_by":"activity","fill_how":"random","extra":[1],"fill":null})"),
            R"({"links":2,"cycle":"1h","prune":0,"prune_by":"activity","fill":0,"fill_how":"random"})");
}

TEST(ManagedRules, ValidationInGoOrder) {
  const std::string ok_tail = R"(,"prune_by":"score","fill_how":"random"})";
  EXPECT_EQ(rules(R"({"links":0,"cycle":"1h")" + ok_tail), "ERR rules: links must be >= 1 (got 0)");
  EXPECT_EQ(rules(R"({"links":-5,"cycle":"1h")" + ok_tail), "ERR rules: links must be >= 1 (got -5)");
  EXPECT_EQ(rules(R"({"links":5)" + ok_tail), "ERR rules: cycle is required");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"soon")" + ok_tail),
            "ERR rules: invalid cycle duration \"soon\": time: invalid duration \"soon\"");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"30s")" + ok_tail), "ERR rules: cycle must be >= 1m (got 30s)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune":-1)" + ok_tail), "ERR rules: prune must be >= 0 (got -1)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","fill":-1)" + ok_tail), "ERR rules: fill must be >= 0 (got -1)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune":6)" + ok_tail), "ERR rules: prune (6) cannot exceed links (5)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","fill":10)" + ok_tail), "ERR rules: fill (10) cannot exceed links (5)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","fill_how":"random"})"), "ERR rules: prune_by is required");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune_by":"lottery","fill_how":"random"})"),
            "ERR rules: unknown prune_by strategy \"lottery\" (want score|age|activity)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune_by":"age"})"), "ERR rules: fill_how is required");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune_by":"age","fill_how":"roundrobin"})"),
            "ERR rules: unknown fill_how strategy \"roundrobin\" (want random)");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune_by":"age","fill_how":"random","grace":"x"})"),
            "ERR rules: invalid grace duration \"x\": time: invalid duration \"x\"");
  EXPECT_EQ(rules(R"({"links":5,"cycle":"1h","prune_by":"age","fill_how":"random","grace":"-1m"})"),
            "ERR rules: grace must be >= 0");
}

TEST(ManagedRules, DecoderTypeErrorsAreGos) {
  EXPECT_EQ(rules(R"({"links":"3"})"),
            "ERR rules: invalid JSON: json: cannot unmarshal string into Go struct field NetworkRules.links of type int");
  EXPECT_EQ(rules(R"({"links":3.5})"),
            "ERR rules: invalid JSON: json: cannot unmarshal number 3.5 into Go struct field NetworkRules.links of type int");
  EXPECT_EQ(rules(R"({"links":3.0})"),
            "ERR rules: invalid JSON: json: cannot unmarshal number 3.0 into Go struct field NetworkRules.links of type int");
  EXPECT_EQ(rules(R"({"cycle":60})"),
            "ERR rules: invalid JSON: json: cannot unmarshal number into Go struct field NetworkRules.cycle of type string");
  // The first type error wins.
  EXPECT_EQ(rules(R"({"prune":true,"links":[]})"),
            "ERR rules: invalid JSON: json: cannot unmarshal bool into Go struct field NetworkRules.prune of type int");
  EXPECT_EQ(rules("[1]"), "ERR rules: invalid JSON: json: cannot unmarshal array into Go value of type wire.NetworkRules");
  EXPECT_EQ(rules("null"), "ERR rules: links must be >= 1 (got 0)");
  EXPECT_EQ(rules("{not json").rfind("ERR rules: invalid JSON: ", 0), 0u);
  EXPECT_EQ(rules(std::string(kMaxRulesBytes + 1, ' ')), "ERR rules too long (max 4096 bytes)");
}

rdv::Message parse(std::string_view body) {
  rdv::Message m;
  std::string err;
  EXPECT_TRUE(m.parse(body, &err)) << err;
  return m;
}

TEST(ManagedRules, FromMessageStringObjectOrNothing) {
  std::string canonical = "x";
  // D8: "" is no rules; so are absent, null and other types.
  for (const char* body : {R"({"rules":""})", R"({})", R"({"rules":null})", R"({"rules":5})", R"({"rules":[1]})"}) {
    EXPECT_EQ(rules_from_message(parse(body), &canonical), "") << body;
    EXPECT_EQ(canonical, "") << body;
  }
  EXPECT_EQ(rules_from_message(parse(R"({"rules":"{\"links\":2,\"cycle\":\"1h\",\"prune_by\":\"age\",\"fill_how\":\"random\"}"})"),
                               &canonical),
            "");
  EXPECT_EQ(canonical, R"({"links":2,"cycle":"1h","prune":0,"prune_by":"age","fill":0,"fill_how":"random"})");
  // An object is re-marshalled first, as in Go: 2.0 is the integer 2.
  EXPECT_EQ(rules_from_message(parse(R"({"rules":{"links":2.0,"cycle":"1h","prune_by":"age","fill_how":"random"}})"),
                               &canonical),
            "");
  EXPECT_EQ(canonical, R"({"links":2,"cycle":"1h","prune":0,"prune_by":"age","fill":0,"fill_how":"random"})");
  EXPECT_EQ(rules_from_message(parse(R"({"rules":{"links":2.5}})"), &canonical),
            "rules: invalid JSON: json: cannot unmarshal number 2.5 into Go struct field NetworkRules.links of type int");
  EXPECT_EQ(rules_from_message(parse(R"({"rules":"{bad"})"), &canonical).rfind("rules: invalid JSON: ", 0), 0u);
}

TEST(ExprPolicy, CreateNeedsVersionOneOnly) {
  EXPECT_EQ(expr_policy_error(R"({"version":1})", false), "");
  EXPECT_EQ(expr_policy_error(R"({"Version":1,"rules":[]})", false), "");
  EXPECT_EQ(expr_policy_error(R"({"version":99})", false), "expr_policy: unsupported version 99 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({})", false), "expr_policy: unsupported version 0 (want 1)");
  EXPECT_EQ(expr_policy_error("null", false), "expr_policy: unsupported version 0 (want 1)");
  EXPECT_EQ(expr_policy_error(R"({"version":"1"})", false),
            "expr_policy: invalid JSON: json: cannot unmarshal string into Go struct field .version of type int");
  EXPECT_EQ(expr_policy_error("[1]", false),
            "expr_policy: invalid JSON: json: cannot unmarshal array into Go value of type struct { Version int "
            "\"json:\\\"version\\\"\" }");
  EXPECT_EQ(expr_policy_error("{not json", false).rfind("expr_policy: invalid JSON: ", 0), 0u);
  EXPECT_EQ(expr_policy_error(std::string(kMaxExprPolicyBytes + 1, ' '), false),
            "expr_policy too long (max 65536 bytes)");
}

TEST(ExprPolicy, SetNeedsRules) {
  EXPECT_EQ(expr_policy_error(R"({"version":1})", true), "expr_policy: at least one rule is required");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":null})", true), "expr_policy: at least one rule is required");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":[{"name":"a"}]})", true), "");
  EXPECT_EQ(expr_policy_error(R"({"version":1,"rules":[]})", true), "");  // as in Go: only absent/null fail
  EXPECT_EQ(expr_policy_error(R"({"version":2,"rules":[1]})", true), "expr_policy: unsupported version 2 (want 1)");
}

TEST(ExprPolicy, TextFromMessage) {
  std::string text;
  EXPECT_TRUE(expr_policy_text(parse(R"({"expr_policy":"{\"version\":1}"})"), &text));
  EXPECT_EQ(text, R"({"version":1})");
  EXPECT_TRUE(expr_policy_text(parse(R"({"expr_policy":""})"), &text));
  EXPECT_EQ(text, "");
  // An object: Go's json.Marshal of the decoded map (sorted keys, integral numbers as integers).
  EXPECT_TRUE(expr_policy_text(parse(R"({"expr_policy":{"version":1,"rules":[{"b":0.5,"a":"<x>"}]}})"), &text));
  EXPECT_EQ(text, R"({"rules":[{"a":"\u003cx\u003e","b":0.5}],"version":1})");
  EXPECT_FALSE(expr_policy_text(parse(R"({"expr_policy":null})"), &text));
  EXPECT_FALSE(expr_policy_text(parse(R"({"expr_policy":[1]})"), &text));
  EXPECT_FALSE(expr_policy_text(parse(R"({})"), &text));
}

TEST(GoJson, FloatForms) {
  EXPECT_EQ(go_json_float(1), "1");
  EXPECT_EQ(go_json_float(0), "0");
  EXPECT_EQ(go_json_float(0.5), "0.5");
  EXPECT_EQ(go_json_float(-2.25), "-2.25");
  EXPECT_EQ(go_json_float(1e20), "100000000000000000000");
  EXPECT_EQ(go_json_float(1e21), "1e+21");
  EXPECT_EQ(go_json_float(1e-7), "1e-7");
  EXPECT_EQ(go_json_float(0.000001), "0.000001");
}

TEST(GoJson, CompactKeepsStringsAndEscapesHtml) {
  EXPECT_EQ(go_json_compact(" { \"a\" : [ 1 , 2 ] ,\n \"b\":\"x y\\\" <z>\" } "), R"({"a":[1,2],"b":"x y\" \u003cz\u003e"})");
}

TEST(GoJson, Quote) {
  EXPECT_EQ(rdv::go_quote("abc"), "\"abc\"");
  EXPECT_EQ(rdv::go_quote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\x01\"");
}

}  // namespace
