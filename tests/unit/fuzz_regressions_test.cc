// Inputs the fuzz targets (tests/fuzz/) found wrong, replayed through the same pipeline
// (tests/fuzz/registry_fixture.h: the real message table and handlers on a throwaway store),
// each pinned to the reply the fix gives.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "shared/message.h"
#include "shared/proxy_protocol.h"
#include "tests/fuzz/registry_fixture.h"

namespace {

using rdv::registry::Entry;
using rdv::registry::EntryKind;

rdv::Message reply_of(const std::string& json) {
  auto e = std::make_unique<Entry>();
  e->kind = EntryKind::Json;
  std::string err;
  EXPECT_TRUE(e->msg.parse(json, &err)) << err;
  std::string reply = rdv::fuzz::FuzzRegistry::get().run(std::move(e));
  rdv::Message m;
  EXPECT_GE(reply.size(), 4u);
  EXPECT_TRUE(m.parse(std::string_view(reply).substr(4), &err)) << reply;
  return m;
}

// set_external_id without an external_id answered {} (json_pack refused the request's null
// string view), after writing the node.
TEST(FuzzRegressions, SetExternalIdWithoutTheFieldAnswersOk) {
  rdv::Message m = reply_of(std::string(R"({"type":"set_external_id","node_id":1,"admin_token":")") +
                            rdv::fuzz::kAdminToken + "\"}");
  EXPECT_EQ(m.type(), "set_external_id_ok");
  EXPECT_EQ(m.u32("node_id"), 1u);
  EXPECT_TRUE(m.has("external_id"));
  EXPECT_EQ(m.str("external_id"), "");
}

// A PROXY v1 line with a bare LF before its CRLF was refused when read up to the LF and
// accepted when read whole (UNKNOWN ignores the rest of the line): refused either way now.
TEST(FuzzRegressions, ProxyV1BareLfIsRefusedHoweverTheBytesArrive) {
  const std::string line = "PROXY UNKNOWN ffff:f...f ffff:f..\nf\r.\r53! 65535\r\n";
  auto at = [&](size_t n) { return rdv::proxy::parse(reinterpret_cast<const uint8_t*>(line.data()), n); };
  EXPECT_EQ(at(line.size()).status, rdv::proxy::Status::Invalid);
  EXPECT_EQ(at(line.size()).error, "PROXY v1 header has a bare LF");
  EXPECT_EQ(at(line.find('\n') + 1).status, rdv::proxy::Status::Invalid);
  const std::string tcp4 = "PROXY TCP4 203.0.113.7 10.0.0.5 40000 9000\n\r\n";
  EXPECT_EQ(rdv::proxy::parse(reinterpret_cast<const uint8_t*>(tcp4.data()), tcp4.size()).status,
            rdv::proxy::Status::Invalid);
}

// simdjson 3.0 refuses a valid number whose exponent has many digits; the parser must not
// (jansson and Go accept it). Found by request_dispatch after 8 minutes.
TEST(FuzzRegressions, ANumberWithALongExponentIsAccepted) {
  rdv::Message m;
  std::string err;
  ASSERT_TRUE(m.parse(R"({"d":1.5e0,"x":0.5E00000000000000000050})", &err)) << err;
  EXPECT_TRUE(m.has("x"));
  ASSERT_TRUE(m.parse(R"({"node_id":7E00000000000000000000,"tags":[1e-00000000000000000000001]})", &err)) << err;
  EXPECT_EQ(m.u32("node_id"), 7u);
  for (const char* bad : {R"({"x":0.5E})", R"({"x":0.5E+})", R"({"x":05E00000000000000000001})", R"({"x":1E0000000000000000000400})"})
    EXPECT_FALSE(m.parse(bad, &err)) << bad;
}

}  // namespace
