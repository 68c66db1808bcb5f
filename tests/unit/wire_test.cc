// Framing (wire-protocol §2.2–§2.6, §7) through rdv::wire::decode_next, the frame writers, and
// the error-text sanitiser (§2.8). Pure functions over byte buffers: no sockets.
#include "wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using rdv::wire::DecodeStatus;
using rdv::wire::Decoded;
using rdv::wire::Mode;

constexpr uint32_t kMax = rdv::wire::kMaxMessageSize;

std::string be32(uint32_t v) {
  std::string s;
  rdv::wire::put_be32(s, v);
  return s;
}

std::string json_frame(const std::string& body) { return be32(uint32_t(body.size())) + body; }

std::string bin_frame(uint8_t type, const std::string& payload) {
  return be32(uint32_t(payload.size() + 1)) + char(type) + payload;
}

const std::string kPreamble = std::string("PILT") + char(1);

// decode_next's result with the payload copied out, so it stays valid after the buffer
// (often a temporary) is gone.
struct Result {
  DecodeStatus status;
  size_t consumed;
  uint8_t type;
  size_t payload_len;
  std::string payload;
  uint8_t version;
  const char* reason;
};

Result decode(Mode& mode, const std::string& buf, uint32_t max = kMax) {
  Decoded d = rdv::wire::decode_next(mode, reinterpret_cast<const uint8_t*>(buf.data()), buf.size(), max);
  Result r{d.status, d.consumed, d.type, d.payload_len, {}, d.version, d.reason};
  if (d.status == DecodeStatus::Frame) {
    // The payload must point into the caller's buffer.
    const char* base = buf.data();
    EXPECT_GE(reinterpret_cast<const char*>(d.payload), base);
    EXPECT_LE(reinterpret_cast<const char*>(d.payload) + d.payload_len, base + buf.size());
    r.payload.assign(reinterpret_cast<const char*>(d.payload), d.payload_len);
  }
  return r;
}

std::string payload_of(const Result& d) { return d.payload; }

TEST(WireConstants, MaxMessageSizeIs64MiB) {
  EXPECT_EQ(rdv::wire::kMaxMessageSize, 67108864u);
  // §2.2: the magic read as a length prefix is far above the maximum, so detection is exact.
  const uint8_t magic[4] = {'P', 'I', 'L', 'T'};
  // (The spec's prose says 1 347 004 500; the bytes give 0x50494C54 = 1 346 980 948.)
  EXPECT_EQ(rdv::wire::load_be32(magic), 0x50494C54u);
  EXPECT_GT(rdv::wire::load_be32(magic), rdv::wire::kMaxMessageSize);
}

TEST(WireDecode, JsonFrameComplete) {
  const std::string body = R"({"type":"lookup","node_id":1})";
  Mode mode = Mode::Undetected;
  Result d = decode(mode, json_frame(body));
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(mode, Mode::Json);
  EXPECT_EQ(d.consumed, 4 + body.size());
  EXPECT_EQ(d.type, 0);
  EXPECT_EQ(payload_of(d), body);
}

TEST(WireDecode, JsonFramePartialPrefixesNeedMore) {
  const std::string frame = json_frame(R"({"type":"heartbeat","node_id":7})");
  for (size_t k = 0; k < frame.size(); k++) {
    Mode mode = Mode::Undetected;
    Result d = decode(mode, frame.substr(0, k));
    EXPECT_EQ(d.status, DecodeStatus::NeedMore) << "prefix of " << k << " bytes";
    EXPECT_EQ(d.consumed, 0u) << "prefix of " << k << " bytes";
  }
}

// A reader that accumulates bytes as they arrive, split at every possible position.
TEST(WireDecode, JsonFrameSplitAtEveryByte) {
  const std::string body = R"({"type":"register","public_key":"x"})";
  const std::string frame = json_frame(body);
  for (size_t split = 1; split < frame.size(); split++) {
    Mode mode = Mode::Undetected;
    std::string buf = frame.substr(0, split);
    Result d = decode(mode, buf);
    ASSERT_EQ(d.status, DecodeStatus::NeedMore) << "split " << split;
    buf += frame.substr(split);
    d = decode(mode, buf);
    ASSERT_EQ(d.status, DecodeStatus::Frame) << "split " << split;
    EXPECT_EQ(payload_of(d), body) << "split " << split;
    EXPECT_EQ(d.consumed, frame.size());
    EXPECT_EQ(mode, Mode::Json);
  }
}

TEST(WireDecode, JsonFrameByteByByte) {
  const std::string body = R"({"type":"lookup","node_id":42})";
  const std::string frame = json_frame(body);
  Mode mode = Mode::Undetected;
  std::string buf;
  for (size_t i = 0; i < frame.size(); i++) {
    buf += frame[i];
    Result d = decode(mode, buf);
    if (i + 1 < frame.size()) {
      ASSERT_EQ(d.status, DecodeStatus::NeedMore) << "after byte " << i;
    } else {
      ASSERT_EQ(d.status, DecodeStatus::Frame);
      EXPECT_EQ(payload_of(d), body);
    }
  }
}

TEST(WireDecode, TwoJsonFramesInOneBuffer) {
  const std::string a = R"({"type":"a"})", b = R"({"type":"bb"})";
  std::string buf = json_frame(a) + json_frame(b);
  Mode mode = Mode::Undetected;
  Result d = decode(mode, buf);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(payload_of(d), a);
  buf.erase(0, d.consumed);
  d = decode(mode, buf);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(payload_of(d), b);
  EXPECT_EQ(d.consumed, buf.size());
}

// §2.3: length 0 is allowed by the framer; the caller closes because "" is not JSON.
TEST(WireDecode, JsonLengthZeroIsAnEmptyFrame) {
  Mode mode = Mode::Undetected;
  Result d = decode(mode, be32(0));
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.payload_len, 0u);
  EXPECT_EQ(d.consumed, 4u);
  EXPECT_EQ(mode, Mode::Json);
}

TEST(WireDecode, JsonLengthAbove64MiBCloses) {
  Mode mode = Mode::Undetected;
  Result d = decode(mode, be32(kMax + 1));
  EXPECT_EQ(d.status, DecodeStatus::Close);
  EXPECT_NE(d.reason, nullptr);
}

TEST(WireDecode, JsonLengthExactly64MiBWaitsForBody) {
  Mode mode = Mode::Undetected;
  Result d = decode(mode, be32(kMax) + "{");
  EXPECT_EQ(d.status, DecodeStatus::NeedMore);
}

TEST(WireDecode, JsonLengthAboveConfiguredMaxCloses) {
  Mode mode = Mode::Undetected;
  EXPECT_EQ(decode(mode, be32(1025), 1024).status, DecodeStatus::Close);
  mode = Mode::Undetected;
  EXPECT_EQ(decode(mode, be32(1024), 1024).status, DecodeStatus::NeedMore);
}

TEST(WireDecode, ConfiguredMaxNeverExceedsProtocolMax) {
  Mode mode = Mode::Undetected;
  EXPECT_EQ(decode(mode, be32(kMax + 1), 0xFFFFFFFFu).status, DecodeStatus::Close);
}

TEST(WireDecode, OneGiBPrefixCloses) {
  Mode mode = Mode::Undetected;
  EXPECT_EQ(decode(mode, be32(0x40000000)).status, DecodeStatus::Close);
  mode = Mode::Undetected;
  EXPECT_EQ(decode(mode, be32(0xFFFFFFFF)).status, DecodeStatus::Close);
}

TEST(WireDecode, FewerThanFourBytesNeedMore) {
  for (size_t n = 0; n < 4; n++) {
    Mode mode = Mode::Undetected;
    EXPECT_EQ(decode(mode, std::string("PILT").substr(0, n)).status, DecodeStatus::NeedMore);
    EXPECT_EQ(mode, Mode::Undetected);
  }
}

TEST(WireDecode, MagicWithoutVersionNeedsMore) {
  Mode mode = Mode::Undetected;
  EXPECT_EQ(decode(mode, "PILT").status, DecodeStatus::NeedMore);
}

TEST(WireDecode, PreambleThenBinaryFrames) {
  std::string buf = kPreamble + bin_frame(0x02, be32(5)) + bin_frame(0x01, std::string(68, 'x'));
  Mode mode = Mode::Undetected;
  Result d = decode(mode, buf);
  ASSERT_EQ(d.status, DecodeStatus::Preamble);
  EXPECT_EQ(d.consumed, 5u);
  EXPECT_EQ(mode, Mode::Binary);
  buf.erase(0, d.consumed);

  d = decode(mode, buf);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.type, 0x02);
  EXPECT_EQ(payload_of(d), be32(5));
  EXPECT_EQ(d.consumed, 9u);
  buf.erase(0, d.consumed);

  d = decode(mode, buf);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.type, 0x01);
  EXPECT_EQ(d.payload_len, 68u);
  EXPECT_EQ(d.consumed, buf.size());
}

TEST(WireDecode, PreambleAloneIsConsumed) {
  Mode mode = Mode::Undetected;
  Result d = decode(mode, kPreamble);
  EXPECT_EQ(d.status, DecodeStatus::Preamble);
  EXPECT_EQ(d.consumed, 5u);
  EXPECT_EQ(mode, Mode::Binary);
}

TEST(WireDecode, BadVersion99) {
  Mode mode = Mode::Undetected;
  Result d = decode(mode, std::string("PILT") + char(0x63));
  ASSERT_EQ(d.status, DecodeStatus::BadVersion);
  EXPECT_EQ(d.version, 99);
  EXPECT_NE(mode, Mode::Binary);
}

TEST(WireDecode, BadVersionZeroAndTwo) {
  for (uint8_t v : {uint8_t(0), uint8_t(2), uint8_t(0xFF)}) {
    Mode mode = Mode::Undetected;
    Result d = decode(mode, std::string("PILT") + char(v));
    ASSERT_EQ(d.status, DecodeStatus::BadVersion) << int(v);
    EXPECT_EQ(d.version, v);
  }
}

TEST(WireDecode, BinaryLengthZeroCloses) {
  Mode mode = Mode::Binary;
  Result d = decode(mode, be32(0));
  EXPECT_EQ(d.status, DecodeStatus::Close);
  EXPECT_NE(d.reason, nullptr);
}

TEST(WireDecode, BinaryLengthOneIsEmptyPayloadFrame) {
  Mode mode = Mode::Binary;
  Result d = decode(mode, be32(1) + char(0x01));
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.type, 0x01);
  EXPECT_EQ(d.payload_len, 0u);
  EXPECT_EQ(d.consumed, 5u);
}

TEST(WireDecode, BinaryLengthOneWithoutTypeByteNeedsMore) {
  Mode mode = Mode::Binary;
  EXPECT_EQ(decode(mode, be32(1)).status, DecodeStatus::NeedMore);
}

TEST(WireDecode, UnknownBinaryTypePassesThrough) {
  Mode mode = Mode::Binary;
  Result d = decode(mode, bin_frame(0x77, "abc"));
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.type, 0x77);
  EXPECT_EQ(payload_of(d), "abc");
}

TEST(WireDecode, BinaryOversizeCloses) {
  Mode mode = Mode::Binary;
  EXPECT_EQ(decode(mode, be32(kMax + 1)).status, DecodeStatus::Close);
  mode = Mode::Binary;
  EXPECT_EQ(decode(mode, be32(0x40000000)).status, DecodeStatus::Close);
  mode = Mode::Binary;
  EXPECT_EQ(decode(mode, be32(2000) + char(0), 1024).status, DecodeStatus::Close);
}

TEST(WireDecode, BinaryFrameSplitAtEveryByte) {
  const std::string payload = be32(9) + be32(3) + std::string(64, 's');
  const std::string frame = bin_frame(0x03, payload);
  for (size_t split = 1; split < frame.size(); split++) {
    Mode mode = Mode::Binary;
    std::string buf = frame.substr(0, split);
    ASSERT_EQ(decode(mode, buf).status, DecodeStatus::NeedMore) << "split " << split;
    buf += frame.substr(split);
    Result d = decode(mode, buf);
    ASSERT_EQ(d.status, DecodeStatus::Frame) << "split " << split;
    EXPECT_EQ(d.type, 0x03);
    EXPECT_EQ(payload_of(d), payload);
  }
}

// Once a connection is in JSON mode, "PILT" is just a length prefix, and far too large.
TEST(WireDecode, MagicReadAsLengthInJsonModeCloses) {
  Mode mode = Mode::Undetected;
  std::string buf = json_frame("{}") + "PILT" + char(1);
  Result d = decode(mode, buf);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  buf.erase(0, d.consumed);
  d = decode(mode, buf);
  EXPECT_EQ(d.status, DecodeStatus::Close);
  EXPECT_EQ(mode, Mode::Json);
}

// Inside binary mode a second preamble is a frame header of length 0x50494C54 > max.
TEST(WireDecode, MagicReadAsLengthInBinaryModeCloses) {
  Mode mode = Mode::Binary;
  EXPECT_EQ(decode(mode, kPreamble).status, DecodeStatus::Close);
}

TEST(WireWriters, JsonFrame) {
  std::string out;
  rdv::wire::append_json_frame(out, R"({"type":"x"})");
  EXPECT_EQ(out, be32(12) + R"({"type":"x"})");
  rdv::wire::append_json_frame(out, "");
  EXPECT_EQ(out.size(), 4u + 12 + 4);
}

TEST(WireWriters, BinaryFrame) {
  std::string out;
  rdv::wire::append_binary_frame(out, 0x81, std::string(9, '\0'));
  ASSERT_EQ(out.size(), 4u + 1 + 9);
  EXPECT_EQ(out.substr(0, 4), be32(10));
  EXPECT_EQ(uint8_t(out[4]), 0x81);
  out.clear();
  rdv::wire::append_binary_frame(out, 0x00, "");
  EXPECT_EQ(out, be32(1) + std::string(1, '\0'));
}

TEST(WireWriters, BinaryErrorFormat) {
  std::string out;
  rdv::wire::append_binary_error(out, "node 9999: not found");
  const std::string text = "node 9999: not found";
  ASSERT_EQ(out.size(), 4 + 1 + 2 + text.size());
  EXPECT_EQ(rdv::wire::load_be32(reinterpret_cast<const uint8_t*>(out.data())), 1 + 2 + text.size());
  EXPECT_EQ(uint8_t(out[4]), 0xFF);
  EXPECT_EQ(rdv::wire::load_be16(reinterpret_cast<const uint8_t*>(out.data()) + 5), text.size());
  EXPECT_EQ(out.substr(7), text);
}

TEST(WireWriters, BinaryErrorTruncatedTo65000Bytes) {
  std::string out;
  rdv::wire::append_binary_error(out, std::string(70000, 'e'));
  ASSERT_EQ(out.size(), 4u + 1 + 2 + 65000);
  auto p = reinterpret_cast<const uint8_t*>(out.data());
  EXPECT_EQ(rdv::wire::load_be32(p), 65003u);
  EXPECT_EQ(rdv::wire::load_be16(p + 5), 65000u);
  // Exactly 65 000 is not truncated.
  out.clear();
  rdv::wire::append_binary_error(out, std::string(65000, 'e'));
  EXPECT_EQ(out.size(), 4u + 1 + 2 + 65000);
}

TEST(WireWriters, EmptyBinaryError) {
  std::string out;
  rdv::wire::append_binary_error(out, "");
  EXPECT_EQ(out, be32(3) + char(0xFF) + std::string(2, '\0'));
}

TEST(WireWriters, BigEndianHelpers) {
  std::string s;
  rdv::wire::put_be16(s, 0x0102);
  rdv::wire::put_be32(s, 0x03040506);
  rdv::wire::put_be64(s, 0x0708090A0B0C0D0Eull);
  EXPECT_EQ(s, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E", 14));
  auto p = reinterpret_cast<const uint8_t*>(s.data());
  EXPECT_EQ(rdv::wire::load_be16(p), 0x0102);
  EXPECT_EQ(rdv::wire::load_be32(p + 2), 0x03040506u);
  EXPECT_EQ(rdv::wire::load_be64(p + 6), 0x0708090A0B0C0D0Eull);
}

TEST(WireWriters, Str8AndStr16Truncate) {
  std::string s;
  rdv::wire::put_str8(s, std::string(300, 'a'));
  ASSERT_EQ(s.size(), 1u + 255);
  EXPECT_EQ(uint8_t(s[0]), 255);
  s.clear();
  rdv::wire::put_str8(s, "abc");
  EXPECT_EQ(s, std::string("\x03" "abc", 4));
  s.clear();
  rdv::wire::put_str16(s, std::string(70000, 'b'));
  ASSERT_EQ(s.size(), 2u + 65535);
  EXPECT_EQ(rdv::wire::load_be16(reinterpret_cast<const uint8_t*>(s.data())), 65535);
  s.clear();
  rdv::wire::put_str16(s, "");
  EXPECT_EQ(s, std::string(2, '\0'));
}

// §2.8: each of the twelve keywords lets the text through verbatim.
TEST(WireSanitize, EachKeywordPassesVerbatim) {
  const std::vector<std::string> passing = {
      "rate limited: too many requests from 1.2.3.4",
      "enterprise feature: requires enterprise network",
      "node 5: key expired at 2024-01-01T00:00:00Z",
      "hostname \"x\" already in use by node 3",
      "list_nodes denied: node 4 is not a member of network 2",
      "node 1: unsigned registration cannot modify a signature-verified key",
      "too many tags (max 10)",
      "hostname too long (max 63 chars)",
      "node 5: node not found",
      "invalid admin token",
      "registration requires public_key",
      "signature verification failed",
  };
  for (const auto& m : passing) EXPECT_EQ(rdv::wire::sanitize_error(m), m);
}

TEST(WireSanitize, KeywordAnywhereInText) {
  EXPECT_EQ(rdv::wire::sanitize_error("xxnot foundxx"), "xxnot foundxx");
  EXPECT_EQ(rdv::wire::sanitize_error("require"), "require");
}

TEST(WireSanitize, KeywordlessTextBecomesRequestFailed) {
  EXPECT_EQ(rdv::wire::sanitize_error("unknown message type: \"x\""), "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error("network creation is disabled"), "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error(
                "resolve denied: node 42 is private (establish mutual trust first)"),
            "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error("standby mode: write operations not accepted (use primary)"),
            "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error("registry full"), "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error(""), "request failed");
}

TEST(WireSanitize, MatchIsCaseSensitive) {
  EXPECT_EQ(rdv::wire::sanitize_error("NOT FOUND"), "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error("Invalid thing"), "request failed");
  EXPECT_EQ(rdv::wire::sanitize_error("Signature bad"), "request failed");
}

}  // namespace
