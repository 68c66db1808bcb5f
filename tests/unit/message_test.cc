// rdv::Message: the request parser of the registry's hot path. Besides the typed readers,
// it must accept exactly the bodies jansson accepts (JSON_DECODE_ANY | JSON_ALLOW_NUL), so the
// framing reactions of wire-protocol §2.6 do not change with the parser.
#include <gtest/gtest.h>
#include <jansson.h>

#include <random>

#include "message.h"

namespace {

using rdv::Message;

bool jansson_accepts_object(std::string_view body) {
  json_error_t err;
  json_t* j = json_loadb(body.data(), body.size(), JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
  bool ok = j && (json_is_object(j) || json_is_null(j));
  json_decref(j);
  return ok;
}

bool parses(std::string_view body) {
  Message m;
  std::string err;
  return m.parse(body, &err);
}

TEST(Message, TypedReadersFollowGoSemantics) {
  Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"type":"lookup","node_id":42,"neg":-1,"big":4294967296,"frac":7.9,
      "s":"x","b":true,"f":false,"n":null,"net":65536,"str_id":"5"})", &err)) << err;
  EXPECT_EQ(m.type(), "lookup");
  EXPECT_EQ(m.u32("node_id"), 42u);
  EXPECT_EQ(m.u32("neg"), 0u);
  EXPECT_EQ(m.u32("big"), 0u);
  EXPECT_EQ(m.u32("frac"), 7u);
  EXPECT_EQ(m.u32("str_id"), 0u);  // numbers only
  EXPECT_EQ(m.u32("missing"), 0u);
  EXPECT_EQ(m.u16("net"), 0u);
  EXPECT_EQ(m.u16("node_id"), 42u);
  EXPECT_EQ(m.str("node_id"), "");  // non-strings read as ""
  EXPECT_TRUE(m.boolean("b"));
  EXPECT_FALSE(m.boolean("f"));
  EXPECT_FALSE(m.boolean("s"));
  EXPECT_TRUE(m.is_null("n"));
  EXPECT_TRUE(m.has("n"));
  EXPECT_FALSE(m.has("nope"));
}

TEST(Message, EscapesAndUnicode) {
  Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"a":"q\"b\\s\/\b\f\n\r\t","u":"\u00e9\u20ac\ud83d\ude00","nul":"a\u0000b","raw":"é€😀",
                          "k\u0065y":"v"})", &err)) << err;
  EXPECT_EQ(m.str("a"), "q\"b\\s/\b\f\n\r\t");
  EXPECT_EQ(m.str("u"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(m.str("nul"), std::string_view("a\0b", 3));
  EXPECT_EQ(m.str("raw"), "é€😀");
  EXPECT_EQ(m.str("key"), "v");  // escaped key
}

TEST(Message, DuplicateKeysLastWins) {
  Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"node_id":1,"node_id":2})", &err));
  EXPECT_EQ(m.u32("node_id"), 2u);
}

TEST(Message, NullBodyIsAnEmptyRequest) {
  Message m;
  std::string err;
  ASSERT_TRUE(m.parse(" null ", &err));
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.type(), "");
}

TEST(Message, NestedValuesOnDemand) {
  Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"tags":["web",1,"a\"pi",null,{"x":[]}],"obj":{"k":[1,2,{"z":"w"}]},"t2":null,"t3":"x"})", &err)) << err;
  EXPECT_EQ(m.string_list("tags"), (std::vector<std::string>{"web", "a\"pi"}));
  EXPECT_TRUE(m.string_list("t2").empty());
  EXPECT_TRUE(m.string_list("t3").empty());
  EXPECT_TRUE(m.string_list("missing").empty());
  rdv::JsonPtr obj = m.json("obj");
  ASSERT_TRUE(obj);
  EXPECT_TRUE(json_is_object(obj.get()));
}

TEST(Message, RejectsWhatIsNotOneJsonObject) {
  for (const char* bad : {"", " ", "[]", "[1]", "\"s\"", "12", "true", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
                          "{\"a\":1}{}", "{\"a\":1} x", "{'a':1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}",
                          "{\"a\":.5}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"\\x\"}",
                          "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\x01\"}",
                          "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":[1,2}",
                          "{\"a\":{\"b\":1]}", "{\"a\":\"unterminated}", "{\"a\":NaN}", "{\"a\":Infinity}"}) {
    std::string body(bad);
    EXPECT_FALSE(parses(body)) << body;
    EXPECT_EQ(parses(body), jansson_accepts_object(body)) << body;
  }
}

TEST(Message, DepthLimit) {
  std::string deep = "{\"a\":" + std::string(600, '[') + std::string(600, ']') + "}";
  EXPECT_FALSE(parses(deep));
  std::string ok = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_TRUE(parses(ok));
}

// Differential check: random mutations of valid requests are accepted by Message exactly when
// jansson accepts them as an object (or null).
TEST(Message, AgreesWithJanssonOnMutatedBodies) {
  const std::vector<std::string> seeds = {
      R"({"type":"register","public_key":"AAAA","listen_addr":"1.2.3.4:5","lan_addrs":["a","b"],"relay_only":true})",
      R"({"type":"lookup","node_id":12345,"x":[1,2.5,-3e2,{"y":null}],"s":"\u00e9\n"})",
      R"({"type":"set_tags","node_id":1,"tags":null,"z":false})",
  };
  const char alphabet[] = "{}[]\":,\\ ue0-1.9aE+tfnl\x01\xc3\xa9\xff";
  std::mt19937 rng(12345);
  int agreed = 0;
  for (int round = 0; round < 20000; round++) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + int(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); e++) {
      size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(at, 1); break;
        case 1: s.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        default: s[at] = alphabet[rng() % (sizeof alphabet - 1)]; break;
      }
    }
    ASSERT_EQ(parses(s), jansson_accepts_object(s)) << s;
    agreed++;
  }
  EXPECT_EQ(agreed, 20000);
}

}  // namespace
