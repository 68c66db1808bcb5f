// The request parser's verdicts on malformed bodies (tests/bench/parser.h kStrictnessCases,
// the table rendezvous-bench --parser also runs through simdjson), pinned so that a change of
// what the registry accepts is a deliberate one. The parser's contract (message.h) is jansson's
// verdict with JSON_DECODE_ANY | JSON_ALLOW_NUL, restricted to objects and null; each case is
// checked against jansson too, so the table cannot drift from that contract unnoticed.
#include <gtest/gtest.h>
#include <jansson.h>

#include <string>

#include "shared/json.h"
#include "shared/message.h"
#include "tests/bench/parser.h"

namespace {

using rdv::bench::kStrictnessCases;

std::string body_of(const rdv::bench::StrictnessCase& c) {
  std::string_view name = c.name;
  if (name == "nesting 512 deep") return rdv::bench::deep_body(512);
  if (name == "nesting 513 deep") return rdv::bench::deep_body(513);
  return std::string(c.body);
}

TEST(ParserStrictness, VerdictsArePinned) {
  for (const auto& c : kStrictnessCases) {
    rdv::Message m;
    std::string err;
    bool ok = m.parse(body_of(c), &err);
    EXPECT_EQ(ok, c.ours_accepts) << c.name << (ok ? "" : ": " + err);
    if (!ok) {
      EXPECT_FALSE(err.empty()) << c.name;
    }
  }
}

// Where the parser knowingly departs from jansson: a key holding an escaped NUL (jansson
// refuses it; Go's decoder, whose semantics message.h follows, accepts it, and such a key
// simply never matches a field), nesting between 513 and jansson's 2048 levels (the parser's
// own bound, Message::kMaxDepth), and a raw NUL byte after a number (jansson skips it and
// loads {"node_id":2}; the parser refuses it, as RFC 8259 does; found by the fuzzer).
bool known_difference(std::string_view name) {
  return name == "escaped NUL in a key" || name == "nesting 513 deep" || name == "raw NUL byte after a number";
}

TEST(ParserStrictness, VerdictsAreJanssons) {
  for (const auto& c : kStrictnessCases) {
    if (known_difference(c.name)) continue;
    std::string body = body_of(c);
    json_error_t jerr;
    rdv::JsonPtr j(json_loadb(body.data(), body.size(), JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr));
    bool jansson = j && (json_is_object(j.get()) || json_is_null(j.get()));
    EXPECT_EQ(c.ours_accepts, jansson) << c.name << (j ? "" : std::string(": jansson: ") + jerr.text);
  }
}

TEST(ParserStrictness, KnownDifferencesFromJansson) {
  rdv::Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"type":"lookup","a\u0000b":1})", &err)) << err;
  EXPECT_TRUE(m.has(std::string_view("a\0b", 3)));
  json_error_t jerr;
  EXPECT_EQ(json_loads(R"({"a\u0000b":1})", JSON_ALLOW_NUL, &jerr), nullptr);
  const char nul_after_number[] = "{\"node_id\":2\0}";
  EXPECT_FALSE(m.parse(std::string_view(nul_after_number, sizeof nul_after_number - 1), &err));
  rdv::JsonPtr loose(json_loadb(nul_after_number, sizeof nul_after_number - 1, JSON_ALLOW_NUL, &jerr));
  EXPECT_NE(loose, nullptr) << "jansson skips the NUL";
  EXPECT_FALSE(m.parse(rdv::bench::deep_body(rdv::Message::kMaxDepth + 1), &err));
  EXPECT_NE(err.find("maximum parsing depth"), std::string::npos) << err;
}

TEST(ParserStrictness, DuplicateKeysTheLastWins) {
  rdv::Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"type":"lookup","type":"resolve"})", &err)) << err;
  EXPECT_EQ(m.type(), "resolve");
}

}  // namespace
