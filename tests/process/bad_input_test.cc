// Malformed frames and bodies (wire-protocol §2.3, §2.4, §2.6, §3.1, §7, §10.1): each case on
// its own connection of its own server, with the documented reaction; afterwards another,
// pre-opened connection still gets answers and the registry worker has not crashed.
#include <functional>

#include "harness.h"

namespace rt {
namespace {

enum class Expect {
  Closed,            // connection closed, no reply at all
  JsonError,         // {"type":"error","error":<text>} (no other keys), connection kept
  JsonErrorPrefix,   // same, error text starts with <text>
  JsonType,          // a reply of type <text>, connection kept
  JsonAnyReply,      // spec leaves the reaction open: some JSON reply with a type, conn kept
  JsonReplyOrClosed, // spec leaves it open: either closed without reply, or a JSON reply + kept
  BinError,          // 0xFF with exactly <text>, connection kept
  BinErrorPrefix,    // 0xFF whose text starts with <text>, connection kept
  BinErrorThenClose, // exactly one 0xFF with <text>, then EOF
  BinJsonError,      // 0x00 frame carrying {"type":"error","error":<text>}, connection kept
};

struct BadCase {
  const char* name;
  std::function<std::string(const Key& node1)> bytes;
  Expect expect;
  std::string text;
  bool half_close = false;  // shut down our write side after sending (EOF mid-frame)
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

std::string preamble(uint8_t v = 1) { return std::string("PILT") + char(v); }
std::string bframe(uint8_t type, const std::string& payload) {
  return be32(uint32_t(payload.size() + 1)) + char(type) + payload;
}
std::function<std::string(const Key&)> fixed(std::string s) {
  return [s](const Key&) { return s; };
}

std::string register_body(const Key& k, const std::string& signature) {
  return std::string(R"({"type":"register","public_key":")") + k.pub_b64() + R"(","listen_addr":")" +
         kPublicAddr + R"(","signature":")" + signature + "\"}";
}

const std::vector<BadCase>& cases() {
  static const std::vector<BadCase> all = {
      // ---- JSON framing: fatal, close without reply (§2.6) ----
      {"JsonLength1GiB", fixed(be32(0x40000000)), Expect::Closed, ""},
      {"JsonLengthMaxU32", fixed(be32(0xFFFFFFFF)), Expect::Closed, ""},
      {"JsonLength64MiBPlus1", fixed(be32((64u << 20) + 1)), Expect::Closed, ""},
      {"JsonLength64MiBPlus1WithBytes", fixed(be32((64u << 20) + 1) + std::string(1000, '{')), Expect::Closed, ""},
      {"JsonLengthZero", fixed(be32(0)), Expect::Closed, ""},
      {"JsonTruncatedBodyThenEof", fixed(be32(100) + R"({"type":"lo)"), Expect::Closed, "", true},
      {"JsonTruncatedPrefixThenEof", fixed(std::string("\0\0", 2)), Expect::Closed, "", true},
      {"JsonLargeClaimPartialThenEof", fixed(be32(1 << 20) + std::string(1000, ' ')), Expect::Closed, "", true},
      {"JsonNotJson", fixed(json_frame("hello world")), Expect::Closed, ""},
      {"JsonTopLevelArray", fixed(json_frame(R"([{"type":"lookup","node_id":1}])")), Expect::Closed, ""},
      {"JsonTopLevelString", fixed(json_frame(R"("lookup")")), Expect::Closed, ""},
      {"JsonTopLevelNumber", fixed(json_frame("42")), Expect::Closed, ""},
      {"JsonTopLevelTrue", fixed(json_frame("true")), Expect::Closed, ""},
      {"JsonTrailingGarbage", fixed(json_frame(R"({"type":"lookup","node_id":1} x)")), Expect::Closed, ""},
      {"JsonTwoObjectsInOneFrame", fixed(json_frame(R"({"type":"lookup"}{"type":"lookup"})")), Expect::Closed, ""},
      {"JsonUnterminatedObject", fixed(json_frame(R"({"type":"lookup","node_id":1)")), Expect::Closed, ""},
      {"JsonDeepNesting", fixed(json_frame(R"({"a":)" + std::string(100000, '[') + std::string(100000, ']') + "}")),
       Expect::Closed, ""},
      // ---- JSON bodies that decode: error reply, connection kept (§2.3, §2.8, §3.1) ----
      {"JsonNull", fixed(json_frame("null")), Expect::JsonError, "request failed"},
      {"JsonEmptyObject", fixed(json_frame("{}")), Expect::JsonError, "request failed"},
      {"JsonTypeNumber", fixed(json_frame(R"({"type":123})")), Expect::JsonError, "request failed"},
      {"JsonTypeNull", fixed(json_frame(R"({"type":null,"node_id":1})")), Expect::JsonError, "request failed"},
      {"JsonUnknownType", fixed(json_frame(R"({"type":"bogus"})")), Expect::JsonError, "request failed"},
      {"JsonUnknownTypeLongName", fixed(json_frame(R"({"type":")" + std::string(5000, 'z') + "\"}")),
       Expect::JsonError, "request failed"},
      {"JsonNodeIdString", fixed(json_frame(R"({"type":"lookup","node_id":"1"})")), Expect::JsonError,
       "node 0: node not found"},
      {"JsonNodeIdNegative", fixed(json_frame(R"({"type":"lookup","node_id":-1})")), Expect::JsonError,
       "node 0: node not found"},
      {"JsonNodeIdTooLarge", fixed(json_frame(R"({"type":"lookup","node_id":1e20})")), Expect::JsonError,
       "node 0: node not found"},
      {"JsonNodeIdFractionTruncated", fixed(json_frame(R"({"type":"lookup","node_id":1.9})")), Expect::JsonType,
       "lookup_ok"},
      {"JsonNodeIdMissing", fixed(json_frame(R"({"type":"lookup"})")), Expect::JsonError, "node 0: node not found"},
      {"JsonHeartbeatNodeIdObject", fixed(json_frame(R"({"type":"heartbeat","node_id":{"x":1},"signature":"AAAA"})")),
       Expect::JsonError, "node 0: node not found"},
      {"JsonPublicKeyNumber", fixed(json_frame(R"({"type":"register","public_key":12345})")), Expect::JsonError,
       "registration requires public_key"},
      {"JsonPublicKeyNotBase64", fixed(json_frame(R"({"type":"register","public_key":"%%%not-base64%%%"})")),
       Expect::JsonErrorPrefix, "invalid public key"},
      {"JsonSignatureNotBase64",
       [](const Key&) { return json_frame(register_body(Key::generate(), "not-base64!!")); }, Expect::JsonError,
       "registration: invalid signature encoding"},
      {"JsonSignatureWrong",
       [](const Key&) {
         Key k = Key::generate();
         return json_frame(register_body(k, k.sign_b64("register:1.2.3.4:5:" + k.pub_b64())));
       },
       Expect::JsonError, "registration: signature verification failed"},
      {"JsonSignatureWrongLength",
       [](const Key&) {
         Key k = Key::generate();
         std::string sig = k.sign_b64(std::string("register:") + kPublicAddr + ":" + k.pub_b64());
         return json_frame(register_body(k, sig.substr(0, 40)));
       },
       Expect::JsonErrorPrefix, "registration: "},
      {"JsonResolveHostnameNumber", fixed(json_frame(R"({"type":"resolve_hostname","hostname":123})")),
       Expect::JsonError, "hostname required"},
      {"JsonLargeButLegalBody",
       fixed(json_frame(R"({"type":"lookup","node_id":1,"pad":")" + std::string(1 << 20, 'p') + "\"}")),
       Expect::JsonType, "lookup_ok"},
      // Spec leaves these reactions open (Go would accept and process them); the server must
      // answer or close, and survive.
      {"JsonTagsNotArray",
       [](const Key& k) {
         return json_frame(std::string(R"({"type":"set_tags","node_id":1,"tags":"web","signature":")") +
                      k.sign_b64("set_tags:1") + "\"}");
       },
       Expect::JsonAnyReply, ""},
      {"JsonInvalidUtf8", fixed(json_frame("{\"type\":\"lookup\",\"node_id\":1,\"x\":\"\xff\xfe\xc3\"}")),
       Expect::JsonReplyOrClosed, ""},
      {"JsonNulInString", fixed(json_frame(R"({"type":"lookup\u0000","node_id":1})")), Expect::JsonReplyOrClosed, ""},
      // ---- binary mode (§2.4, §2.6, §7) ----
      {"BinaryZeroLengthFrame", fixed(preamble() + be32(0)), Expect::Closed, ""},
      {"BinaryOversizeFrame", fixed(preamble() + be32((64u << 20) + 2) + char(0x02)), Expect::Closed, ""},
      {"BinaryTruncatedFrameThenEof", fixed(preamble() + be32(100) + char(0x02) + "abc"), Expect::Closed, "", true},
      {"BinaryMagicOnlyThenEof", fixed("PILT"), Expect::Closed, "", true},
      {"BinaryUnknownCode", fixed(preamble() + bframe(0x42, "x")), Expect::BinError, "unknown message type 0x42"},
      {"BinaryResponseCodeAsRequest", fixed(preamble() + bframe(0x81, std::string(9, '\0'))), Expect::BinError,
       "unknown message type 0x81"},
      {"BinaryBadVersion2", fixed(preamble(2)), Expect::BinErrorThenClose, "unsupported wire version 2"},
      {"BinaryBadVersion0", fixed(preamble(0)), Expect::BinErrorThenClose, "unsupported wire version 0"},
      {"BinaryPassthroughNotJson", fixed(preamble() + bframe(0x00, "{not json")), Expect::BinErrorPrefix,
       "json decode: "},
      {"BinaryPassthroughArray", fixed(preamble() + bframe(0x00, "[1,2]")), Expect::BinErrorPrefix, "json decode: "},
      {"BinaryPassthroughEmpty", fixed(preamble() + bframe(0x00, "")), Expect::BinErrorPrefix, "json decode: "},
      {"BinaryPassthroughSubscribeReplication",
       fixed(preamble() + bframe(0x00, R"({"type":"subscribe_replication","token":"t"})")), Expect::BinError,
       "replication not supported over binary protocol"},
      {"BinaryPassthroughUnknownType", fixed(preamble() + bframe(0x00, R"({"type":"bogus"})")),
       Expect::BinJsonError, "request failed"},
      {"BinaryHeartbeatShort", fixed(preamble() + bframe(0x01, std::string(2, '\0'))), Expect::BinError,
       "heartbeat request too short: 2 bytes"},
      {"BinaryLookupShort", fixed(preamble() + bframe(0x02, std::string(1, '\0'))), Expect::BinError,
       "lookup request too short: 1 bytes"},
      {"BinaryResolveShort", fixed(preamble() + bframe(0x03, std::string(1, '\0'))), Expect::BinError,
       "resolve request too short: 1 bytes"},
      {"BinaryEmptyPayloadLookup", fixed(preamble() + bframe(0x02, "")), Expect::BinError,
       "lookup request too short: 0 bytes"},
  };
  return all;
}

class BadInput : public ServerTest, public ::testing::WithParamInterface<BadCase> {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    Conn c = server.connect();
    rdv::JsonPtr r = do_register(c, node1_);
    ASSERT_EQ(num(r.get(), "node_id"), 1) << dump(r.get());
  }
  Key node1_ = Key::generate();
};

void expect_json_kept(Conn& c) {
  rdv::JsonPtr r = do_lookup(c, 1);
  ASSERT_NE(r, nullptr) << "connection was not kept open after the reply";
  EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
}

void expect_binary_kept(Conn& c) {
  ASSERT_TRUE(c.send_frame(0x02, be32(1)));
  uint8_t t = 0;
  std::string p;
  ASSERT_EQ(c.recv_frame(&t, &p), Io::Ok) << "connection was not kept open after the reply";
  EXPECT_EQ(t, 0x82) << binary_error_text(p);
}

TEST_P(BadInput, ServerSurvives) {
  const BadCase& bc = GetParam();
  // A connection opened before the bad input, proven to work.
  Conn witness = server.connect();
  ASSERT_TRUE(witness.ok());
  expect_json_kept(witness);
  pid_t registry = server.worker("rendezvous-registry");
  ASSERT_GT(registry, 0);

  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send_all(bc.bytes(node1_)));
  if (bc.half_close) c.shutdown_write();

  switch (bc.expect) {
    case Expect::Closed: {
      std::string got;
      EXPECT_TRUE(c.expect_closed(5000, &got))
          << (got.empty() ? "connection not closed within 5 s" : "unexpected reply of " + std::to_string(got.size()) + " bytes");
      break;
    }
    case Expect::JsonError:
    case Expect::JsonErrorPrefix: {
      std::string raw;
      Io io = c.recv_json(&raw);
      ASSERT_EQ(io, Io::Ok) << io_name(io);
      rdv::JsonPtr r = parse_json(raw);
      ASSERT_TRUE(json_is_object(r.get())) << raw;
      EXPECT_EQ(str(r.get(), "type"), "error") << raw;
      if (bc.expect == Expect::JsonError) {
        EXPECT_EQ(str(r.get(), "error"), bc.text) << raw;
      } else {
        EXPECT_EQ(str(r.get(), "error").rfind(bc.text, 0), 0u) << raw;
      }
      EXPECT_EQ(json_object_size(r.get()), 2u) << "error replies carry only type and error: " << raw;
      expect_json_kept(c);
      break;
    }
    case Expect::JsonType:
    case Expect::JsonAnyReply: {
      std::string raw;
      Io io = c.recv_json(&raw);
      ASSERT_EQ(io, Io::Ok) << io_name(io);
      rdv::JsonPtr r = parse_json(raw);
      ASSERT_TRUE(json_is_object(r.get())) << raw;
      if (bc.expect == Expect::JsonType) {
        EXPECT_EQ(str(r.get(), "type"), bc.text) << raw;
      } else {
        EXPECT_FALSE(str(r.get(), "type").empty()) << raw;
      }
      expect_json_kept(c);
      break;
    }
    case Expect::JsonReplyOrClosed: {
      std::string raw;
      Io io = c.recv_json(&raw);
      ASSERT_TRUE(io == Io::Ok || io == Io::Eof) << io_name(io);
      if (io == Io::Ok) {
        rdv::JsonPtr r = parse_json(raw);
        ASSERT_TRUE(json_is_object(r.get())) << raw;
        EXPECT_FALSE(str(r.get(), "type").empty()) << raw;
        expect_json_kept(c);
      }
      break;
    }
    case Expect::BinError:
    case Expect::BinErrorPrefix:
    case Expect::BinErrorThenClose: {
      uint8_t t = 0;
      std::string p;
      Io io = c.recv_frame(&t, &p);
      ASSERT_EQ(io, Io::Ok) << io_name(io);
      EXPECT_EQ(t, 0xFF);
      std::string text = binary_error_text(p);
      if (bc.expect == Expect::BinErrorPrefix) {
        EXPECT_EQ(text.rfind(bc.text, 0), 0u) << text;
      } else {
        EXPECT_EQ(text, bc.text);
      }
      if (bc.expect == Expect::BinErrorThenClose) {
        std::string more;
        EXPECT_TRUE(c.expect_closed(5000, &more)) << "expected EOF after the error frame (" << more.size()
                                                  << " more bytes)";
      } else {
        expect_binary_kept(c);
      }
      break;
    }
    case Expect::BinJsonError: {
      uint8_t t = 0;
      std::string p;
      Io io = c.recv_frame(&t, &p);
      ASSERT_EQ(io, Io::Ok) << io_name(io);
      EXPECT_EQ(t, 0x00) << binary_error_text(p);
      rdv::JsonPtr r = parse_json(p);
      EXPECT_EQ(str(r.get(), "type"), "error") << p;
      EXPECT_EQ(str(r.get(), "error"), bc.text) << p;
      expect_binary_kept(c);
      break;
    }
  }

  // Other connections are unaffected and the worker did not crash.
  SCOPED_TRACE("after the bad input");
  expect_json_kept(witness);
  EXPECT_EQ(server.worker("rendezvous-registry"), registry) << "registry worker restarted (crashed?)";
  Conn fresh = server.connect();
  expect_json_kept(fresh);
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace rt
