// The protocol's pure rules in shared/model.h: address text form (§3.3), hostname and tag
// rules (§6.3.5, §6.3.7), listen-address sanitising (§6.1.1 step 1, §10.2 item 41), and the
// node record encoding in LMDB.
#include "model.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

TEST(Address, FormatSpecExamples) {
  EXPECT_EQ(rdv::format_address(0, 5), "0:0000.0000.0005");
  EXPECT_EQ(rdv::format_address(3, 0x0001ABCD), "3:0003.0001.ABCD");
  EXPECT_EQ(rdv::format_address(0, 1), "0:0000.0000.0001");
  EXPECT_EQ(rdv::format_address(65535, 0xFFFFFFFF), "65535:FFFF.FFFF.FFFF");
  EXPECT_EQ(rdv::format_address(10, 0x00100000), "10:000A.0010.0000");
}

TEST(Address, ParseValid) {
  uint16_t net = 99;
  uint32_t node = 99;
  ASSERT_TRUE(rdv::parse_address("1:0001.0000.0005", &net, &node));
  EXPECT_EQ(net, 1);
  EXPECT_EQ(node, 5u);
  ASSERT_TRUE(rdv::parse_address("3:0003.0001.abcd", &net, &node));  // either case
  EXPECT_EQ(net, 3);
  EXPECT_EQ(node, 0x0001ABCDu);
  ASSERT_TRUE(rdv::parse_address("65535:FFFF.FFFF.FFFF", &net, &node));
  EXPECT_EQ(net, 65535);
  EXPECT_EQ(node, 0xFFFFFFFFu);
}

TEST(Address, ParseRoundTrip) {
  for (uint16_t net : {uint16_t(0), uint16_t(1), uint16_t(255), uint16_t(4096), uint16_t(65535)}) {
    for (uint32_t n : {1u, 0xFFFFu, 0x10000u, 0xDEADBEEFu}) {
      uint16_t pn;
      uint32_t pnode;
      ASSERT_TRUE(rdv::parse_address(rdv::format_address(net, n), &pn, &pnode));
      EXPECT_EQ(pn, net);
      EXPECT_EQ(pnode, n);
    }
  }
}

TEST(Address, ParseIsStrict) {
  uint16_t net;
  uint32_t node;
  for (const char* bad : {
           "0:0001.0000.0005",    // decimal 0 != hex 1 (example seen in prose)
           "1:0000.0000.0005",    // decimal 1 != hex 0
           "0:0000.0000.005",     // 3 hex digits
           "0:0000.0000.00005",   // 5 hex digits
           "0:0000.0000",         // two groups
           "0:0000.0000.0005.0",  // four groups
           "0:0000:0000.0005",
           "0.0000.0000.0005",
           ":0000.0000.0005",
           "x:0000.0000.0005",
           "0:0000.0000.000G",
           "70000:1170.0000.0001",
           "",
       }) {
    EXPECT_FALSE(rdv::parse_address(bad, &net, &node)) << bad;
  }
}

TEST(Hostname, Valid) {
  for (const char* ok : {"my-host", "a", "0", "web-01", "a1b2", "x-y-z"})
    EXPECT_EQ(rdv::hostname_error(ok), "") << ok;
  EXPECT_EQ(rdv::hostname_error(std::string(63, 'a')), "");
}

TEST(Hostname, TooLong) {
  EXPECT_EQ(rdv::hostname_error(std::string(64, 'a')), "hostname too long (max 63 chars)");
}

TEST(Hostname, CharacterRules) {
  const std::string rule =
      "hostname must be lowercase alphanumeric with hyphens, start/end with alphanumeric";
  for (const char* bad : {"UPPER", "UPPERCASE-NOT-ALLOWED", "BAD!NAME", "-abc", "abc-", "-", "a_b",
                          "a.b", "a b", "héllo"})
    EXPECT_EQ(rdv::hostname_error(bad), rule) << bad;
}

TEST(Hostname, Reserved) {
  EXPECT_EQ(rdv::hostname_error("localhost"), "hostname \"localhost\" is reserved");
  EXPECT_EQ(rdv::hostname_error("backbone"), "hostname \"backbone\" is reserved");
  EXPECT_EQ(rdv::hostname_error("broadcast"), "hostname \"broadcast\" is reserved");
  EXPECT_EQ(rdv::hostname_error("localhost2"), "");
}

TEST(Tags, SpecExampleNormalisesToThree) {
  std::vector<std::string> out;
  EXPECT_EQ(rdv::normalize_tags({"web", "api", "#prod", "prod"}, &out), "");
  EXPECT_EQ(out, (std::vector<std::string>{"web", "api", "prod"}));
}

TEST(Tags, FirstOccurrenceOrderKept) {
  std::vector<std::string> out;
  EXPECT_EQ(rdv::normalize_tags({"#b", "a", "b", "#a", "c"}, &out), "");
  EXPECT_EQ(out, (std::vector<std::string>{"b", "a", "c"}));
}

TEST(Tags, EmptyListIsValid) {
  std::vector<std::string> out{"stale"};
  EXPECT_EQ(rdv::normalize_tags({}, &out), "");
  EXPECT_TRUE(out.empty());
}

TEST(Tags, ElevenTagsTooMany) {
  std::vector<std::string> in, out;
  for (int i = 0; i < 11; i++) in.push_back("t" + std::to_string(i));
  EXPECT_EQ(rdv::normalize_tags(in, &out), "too many tags (max 10)");
}

TEST(Tags, TenAfterDeduplicationIsFine) {
  std::vector<std::string> in, out;
  for (int i = 0; i < 10; i++) in.push_back("t" + std::to_string(i));
  in.push_back("#t3");
  EXPECT_EQ(rdv::normalize_tags(in, &out), "");
  EXPECT_EQ(out.size(), 10u);
}

TEST(Tags, ThirtyThreeCharsTooLong) {
  std::vector<std::string> out;
  std::string t33(33, 'a');
  EXPECT_EQ(rdv::normalize_tags({t33}, &out), "tag \"" + t33 + "\" too long (max 32 chars)");
  EXPECT_EQ(rdv::normalize_tags({std::string(32, 'a')}, &out), "");
}

TEST(Tags, UppercaseRejected) {
  std::vector<std::string> out;
  EXPECT_EQ(rdv::normalize_tags({"Web"}, &out), "tag \"Web\" must be lowercase alphanumeric with hyphens");
  EXPECT_EQ(rdv::normalize_tags({"-web"}, &out), "tag \"-web\" must be lowercase alphanumeric with hyphens");
}

TEST(Tags, EmptyTagRejected) {
  std::vector<std::string> out;
  EXPECT_EQ(rdv::normalize_tags({""}, &out), "empty tag not allowed");
  EXPECT_EQ(rdv::normalize_tags({"web", "#"}, &out), "empty tag not allowed");
}

TEST(Tags, OnlyOneHashStripped) {
  std::vector<std::string> out;
  EXPECT_EQ(rdv::normalize_tags({"##x"}, &out), "tag \"#x\" must be lowercase alphanumeric with hyphens");
}

// §10.2 item 41 and §6.1.1 step 1.
TEST(ListenAddr, PublicClaimKeptVerbatim) {
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, "8.8.8.8:9000"), "8.8.8.8:9000");
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, "node.example.com:4000"),
            "node.example.com:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, "172.32.0.1:4000"), "172.32.0.1:4000");
}

TEST(ListenAddr, EmptyUsesTcpSource) {
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, ""), "10.0.0.1:55555");
}

TEST(ListenAddr, PrivateHostReplacedBySourceIpKeepingPort) {
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "10.0.0.1:4000"), "203.0.113.5:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "192.168.1.7:4000"), "203.0.113.5:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "172.16.5.5:4000"), "203.0.113.5:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "127.0.0.1:4000"), "203.0.113.5:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "169.254.9.9:4000"), "203.0.113.5:4000");
}

TEST(ListenAddr, WildcardAndEmptyHostReplaced) {
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "0.0.0.0:4000"), "203.0.113.5:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, ":4000"), "203.0.113.5:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("203.0.113.5", 1234, "[::]:4000"), "203.0.113.5:4000");
}

TEST(ListenAddr, UnparsableKeptVerbatim) {
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, "not-an-address"), "not-an-address");
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, "1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 55555, "fd00::1:4000"), "fd00::1:4000");
}

TEST(ListenAddr, Ipv6SourceIsBracketed) {
  EXPECT_EQ(rdv::sanitize_listen_addr("2001:db8::1", 5555, ""), "[2001:db8::1]:5555");
  EXPECT_EQ(rdv::sanitize_listen_addr("2001:db8::1", 5555, "[fd00::1]:4000"), "[2001:db8::1]:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("2001:db8::1", 5555, "0.0.0.0:4000"), "[2001:db8::1]:4000");
  EXPECT_EQ(rdv::sanitize_listen_addr("10.0.0.1", 5555, "[2001:db8::7]:4000"), "[2001:db8::7]:4000");
}

TEST(ListenAddr, NonPublicClassification) {
  for (const char* ip : {"0.0.0.0", "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                         "192.168.0.1", "169.254.1.1", "::", "::1", "fc00::1", "fd12::1", "fe80::1",
                         "::ffff:10.0.0.1"})
    EXPECT_TRUE(rdv::ip_is_non_public(ip)) << ip;
  for (const char* ip : {"8.8.8.8", "203.0.113.5", "172.32.0.1", "172.15.255.255", "2001:db8::1",
                         "example.com"})
    EXPECT_FALSE(rdv::ip_is_non_public(ip)) << ip;
}

TEST(GoHostPort, SplitAndJoin) {
  std::string h, p;
  ASSERT_TRUE(rdv::go_split_host_port("1.2.3.4:80", &h, &p));
  EXPECT_EQ(h, "1.2.3.4");
  EXPECT_EQ(p, "80");
  ASSERT_TRUE(rdv::go_split_host_port("[::1]:9000", &h, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, "9000");
  ASSERT_TRUE(rdv::go_split_host_port(":9000", &h, &p));
  EXPECT_EQ(h, "");
  EXPECT_FALSE(rdv::go_split_host_port("::1:9000", &h, &p));
  EXPECT_FALSE(rdv::go_split_host_port("nohost", &h, &p));
  EXPECT_EQ(rdv::go_join_host_port("::1", "80"), "[::1]:80");
  EXPECT_EQ(rdv::go_join_host_port("1.2.3.4", "80"), "1.2.3.4:80");
}

TEST(WholeDays, Floors) {
  EXPECT_EQ(rdv::whole_days(0, 86399), 0);
  EXPECT_EQ(rdv::whole_days(0, 86400), 1);
  EXPECT_EQ(rdv::whole_days(1000, 1000 + 3 * 86400 + 5), 3);
  EXPECT_EQ(rdv::whole_days(500, 100), 0);
}

rdv::Node full_node() {
  rdv::Node n;
  n.id = 0xDEADBEEF;
  for (size_t i = 0; i < n.public_key.size(); i++) n.public_key[i] = uint8_t(i * 7 + 1);
  n.has_key = true;
  n.is_public = true;
  n.task_exec = true;
  n.relay_only = true;
  n.sig_verified = true;
  n.owner = "alice@example.com";
  n.real_addr = "203.0.113.5:4000";
  n.lan_addrs = {"192.168.1.5:4000", "10.0.0.9:4000"};
  n.networks = {0, 3, 65535};
  n.hostname = "my-host";
  n.tags = {"web", "api", "prod"};
  n.version = "v1.2.3";
  n.external_id = "ext-42";
  n.created_at = 1700000000;
  n.rotated_at = 1700000500;
  n.expires_at = 1900000000;
  n.rotate_count = 3;
  n.badge = "pilotbadge:v1:...";
  n.badge_sig = "c2ln";
  n.verification_provider = "github";
  n.verified_at = 1700000600;
  n.recovery_commitment = "commit";
  n.recovery_provider = "google";
  return n;
}

void expect_same(const rdv::Node& a, const rdv::Node& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.public_key, b.public_key);
  EXPECT_EQ(a.has_key, b.has_key);
  EXPECT_EQ(a.is_public, b.is_public);
  EXPECT_EQ(a.task_exec, b.task_exec);
  EXPECT_EQ(a.relay_only, b.relay_only);
  EXPECT_EQ(a.sig_verified, b.sig_verified);
  EXPECT_EQ(a.owner, b.owner);
  EXPECT_EQ(a.real_addr, b.real_addr);
  EXPECT_EQ(a.lan_addrs, b.lan_addrs);
  EXPECT_EQ(a.networks, b.networks);
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.external_id, b.external_id);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.rotated_at, b.rotated_at);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.rotate_count, b.rotate_count);
  EXPECT_EQ(a.badge, b.badge);
  EXPECT_EQ(a.badge_sig, b.badge_sig);
  EXPECT_EQ(a.verification_provider, b.verification_provider);
  EXPECT_EQ(a.verified_at, b.verified_at);
  EXPECT_EQ(a.recovery_commitment, b.recovery_commitment);
  EXPECT_EQ(a.recovery_provider, b.recovery_provider);
}

TEST(NodeCodec, RoundTripEveryField) {
  rdv::Node in = full_node();
  rdv::Node out;
  ASSERT_TRUE(rdv::decode_node(rdv::encode_node(in), &out));
  expect_same(in, out);
}

TEST(NodeCodec, RoundTripDefaults) {
  rdv::Node in;
  in.id = 1;
  in.networks = {0};
  rdv::Node out = full_node();
  ASSERT_TRUE(rdv::decode_node(rdv::encode_node(in), &out));
  expect_same(in, out);
}

TEST(NodeCodec, RoundTripFlagsIndividually) {
  for (int bit = 0; bit < 5; bit++) {
    rdv::Node in;
    in.id = 9;
    in.has_key = bit == 0;
    in.is_public = bit == 1;
    in.task_exec = bit == 2;
    in.relay_only = bit == 3;
    in.sig_verified = bit == 4;
    rdv::Node out;
    ASSERT_TRUE(rdv::decode_node(rdv::encode_node(in), &out));
    expect_same(in, out);
  }
}

TEST(NodeCodec, TrailingBytesIgnored) {
  rdv::Node in = full_node(), out;
  ASSERT_TRUE(rdv::decode_node(rdv::encode_node(in) + "future-field", &out));
  expect_same(in, out);
}

TEST(NodeCodec, TruncatedBytesFail) {
  std::string bytes = rdv::encode_node(full_node());
  for (size_t n = 0; n < bytes.size(); n++) {
    rdv::Node out;
    EXPECT_FALSE(rdv::decode_node(std::string_view(bytes).substr(0, n), &out)) << n << " of " << bytes.size();
  }
}

TEST(NodeCodec, WrongVersionFails) {
  std::string bytes = rdv::encode_node(full_node());
  bytes[0] = char(0x7F);
  rdv::Node out;
  EXPECT_FALSE(rdv::decode_node(bytes, &out));
}

}  // namespace
