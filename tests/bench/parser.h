// rendezvous-bench --parser: the request parser (shared/message.h, which since issue 9 scans
// with simdjson On-Demand under its own contract: a padded copy, the member table, Go's typed
// readers) side by side with bare simdjson On-Demand on the request bodies of the wire
// protocol, and the two verdicts on malformed input. The figures that chose simdjson over
// the hand-written scanner it replaced are in tests/bench/README.md.
//
// Speed: each body is parsed and the fields its handler reads are read (type, ids, strings,
// arrays), as parses/s per body and overall, with the ratio ours / simdjson. simdjson is
// measured twice: reading only those fields (On-Demand's lazy way: the rest of the document
// is never validated, so this accepts bodies our parser refuses) and walking every member and
// value (the same work as ours: the whole body validated, every string unescaped).
//
// Strictness: kStrictnessCases below, each with our parser's verdict, pinned by
// tests/unit/parser_strictness_test.cc; the bench prints simdjson's verdict beside it.
#pragma once

#include <string>
#include <string_view>

namespace rdv::bench {

struct StrictnessCase {
  const char* name;
  std::string_view body;
  bool ours_accepts;  // Message::parse's verdict (jansson's with JSON_DECODE_ANY | JSON_ALLOW_NUL)
};

using namespace std::string_view_literals;

inline constexpr StrictnessCase kStrictnessCases[] = {
    {"valid request", R"({"type":"lookup","node_id":7})"sv, true},
    {"trailing comma in object", R"({"type":"lookup","node_id":7,})"sv, false},
    {"trailing comma in array", R"({"type":"set_tags","tags":["a",]})"sv, false},
    {"leading zero", R"({"type":"lookup","node_id":07})"sv, false},
    {"leading plus", R"({"type":"lookup","node_id":+7})"sv, false},
    {"bare decimal point", R"({"type":"lookup","node_id":7.})"sv, false},
    {"hex number", R"({"type":"lookup","node_id":0x7})"sv, false},
    {"NaN", R"({"type":"lookup","node_id":NaN})"sv, false},
    {"Infinity", R"({"type":"lookup","node_id":Infinity})"sv, false},
    {"number overflowing a double", R"({"type":"lookup","node_id":1e400})"sv, false},
    {"integer beyond 2^64", R"({"type":"lookup","node_id":123456789012345678901234567890})"sv, true},
    {"exponent of many digits", R"({"type":"lookup","x":0.5E00000000000000000050})"sv, true},
    {"number underflowing to 0", R"({"type":"lookup","x":1e-400})"sv, true},
    {"bad escape \\x", R"({"type":"lookup","s":"\x41"})"sv, false},
    {"short \\u escape", R"({"type":"lookup","s":"\u12"})"sv, false},
    {"lone high surrogate", R"({"type":"lookup","s":"\ud800"})"sv, false},
    {"lone low surrogate", R"({"type":"lookup","s":"\udc00"})"sv, false},
    {"high surrogate + non-surrogate", R"({"type":"lookup","s":"\ud800\u0041"})"sv, false},
    {"valid surrogate pair", R"({"type":"lookup","s":"\ud83d\ude00"})"sv, true},
    {"escaped NUL", R"({"type":"lookup","s":"a\u0000b"})"sv, true},
    {"escaped NUL in a key", R"({"type":"lookup","a\u0000b":1})"sv, true},
    {"invalid UTF-8 (lone 0xFF)", "{\"type\":\"lookup\",\"s\":\"\xff\"}"sv, false},
    {"invalid UTF-8 (truncated sequence)", "{\"type\":\"lookup\",\"s\":\"\xe2\x82\"}"sv, false},
    {"overlong UTF-8 (0xC0 0xAF)", "{\"type\":\"lookup\",\"s\":\"\xc0\xaf\"}"sv, false},
    {"UTF-8 encoded surrogate (0xED 0xA0 0x80)", "{\"type\":\"lookup\",\"s\":\"\xed\xa0\x80\"}"sv, false},
    {"invalid UTF-8 in a key", "{\"type\":\"lookup\",\"\xff\":1}"sv, false},
    {"raw control character in a string", "{\"type\":\"lookup\",\"s\":\"a\tb\"}"sv, false},
    {"raw newline in a string", "{\"type\":\"lookup\",\"s\":\"a\nb\"}"sv, false},
    {"raw NUL byte in a string", "{\"type\":\"lookup\",\"s\":\"a\0b\"}"sv, false},
    {"raw NUL byte after a number", "{\"type\":\"lookup\",\"node_id\":2\0}"sv, false},
    {"DEL (0x7F) in a string", "{\"type\":\"lookup\",\"s\":\"a\x7f" "b\"}"sv, true},
    {"duplicate keys (the last wins)", R"({"type":"lookup","type":"resolve"})"sv, true},
    {"nesting 512 deep", ""sv, true},   // built at run time (deep_body)
    {"nesting 513 deep", ""sv, false},  // built at run time (deep_body)
    {"trailing garbage", R"({"type":"lookup"} x)"sv, false},
    {"two objects", R"({"type":"lookup"}{"type":"lookup"})"sv, false},
    {"trailing whitespace", "{\"type\":\"lookup\"} \r\n\t"sv, true},
    {"leading byte-order mark", "\xef\xbb\xbf{\"type\":\"lookup\"}"sv, false},
    {"single-quoted string", R"({'type':'lookup'})"sv, false},
    {"unquoted key", R"({type:"lookup"})"sv, false},
    {"comment", R"({"type":"lookup" /* c */})"sv, false},
    {"truncated object", R"({"type":"lookup")"sv, false},
    {"empty body", ""sv, false},
    {"null body (an empty request)", "null"sv, true},
    {"array body", R"([{"type":"lookup"}])"sv, false},
    {"string body", R"("lookup")"sv, false},
    {"capitalised literal", R"({"type":"lookup","public":True})"sv, false},
    {"form feed as whitespace", "{\"type\":\"lookup\",\f\"node_id\":1}"sv, false},
};

// The body of the two nesting cases: `depth` nested arrays as the value of a member, so the
// innermost array is at depth `depth` (the top-level object is depth 0, as in message.cc).
inline std::string deep_body(int depth) {
  return R"({"type":"lookup","a":)" + std::string(size_t(depth), '[') + std::string(size_t(depth), ']') + "}";
}

int run_parser_bench(double seconds_per_body);

}  // namespace rdv::bench
