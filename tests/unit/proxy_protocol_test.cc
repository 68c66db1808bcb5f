// The PROXY protocol parser (shared/proxy_protocol.h): v1 and v2 headers as nginx and HAProxy
// write them, every prefix of them, and the malformed headers a client could send.
#include "proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

using namespace rdv;
using namespace rdv::proxy;

namespace {

Result parse_str(const std::string& s) { return parse(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

IpAddr ip(const char* text) {
  IpAddr a;
  EXPECT_TRUE(parse_ip(text, &a)) << text;
  return a;
}

// Every strict prefix of a header asks for more; the whole of it parses.
void expect_prefixes_need_more(const std::string& header) {
  for (size_t n = 0; n < header.size(); n++)
    EXPECT_EQ(parse_str(header.substr(0, n)).status, Status::NeedMore) << "prefix of " << n << " bytes";
}

}  // namespace

TEST(ProxyProtocol, V1Tcp4AsNginxWritesIt) {
  std::string h = "PROXY TCP4 203.0.113.7 10.0.0.1 51234 9000\r\n";
  Result r = parse_str(h + "\x00\x00\x00\x10{\"type\":\"lookup\"}");
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_EQ(r.consumed, h.size());
  EXPECT_EQ(r.header.version, 1);
  EXPECT_TRUE(r.header.has_address);
  EXPECT_EQ(ip_text(r.header.src), "203.0.113.7");
  EXPECT_EQ(ip_text(r.header.dst), "10.0.0.1");
  EXPECT_EQ(r.header.src_port, 51234);
  EXPECT_EQ(r.header.dst_port, 9000);
  expect_prefixes_need_more(h);
}

TEST(ProxyProtocol, V1Tcp6AndUnknown) {
  Result r = parse_str("PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n");
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_EQ(ip_text(r.header.src), "2001:db8::7");
  EXPECT_EQ(r.header.dst_port, 443);

  // UNKNOWN: the rest of the line is ignored and the connection keeps its own address.
  r = parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest");
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_FALSE(r.header.has_address);
  EXPECT_EQ(r.consumed, std::string("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").size());
  EXPECT_EQ(parse_str("PROXY UNKNOWN\r\n").status, Status::Header);
}

TEST(ProxyProtocol, V1Malformed) {
  for (const char* bad : {
           "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",      // protocol
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",        // a field missing
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",    // one too many
           "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",     // double space
           "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",          // family mismatch
           "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",          // family mismatch
           "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",    // not an address
           "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",  // port range
           "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",     // leading zero
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",     // sign
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",        // bare LF
           "PROXY \r\n",                              // nothing
       }) {
    Result r = parse_str(bad);
    EXPECT_EQ(r.status, Status::Invalid) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
  }
  // No CRLF within 107 bytes: refused rather than waited for.
  Result r = parse_str("PROXY TCP4 " + std::string(200, '1'));
  EXPECT_EQ(r.status, Status::Invalid);
  EXPECT_NE(r.error.find("107"), std::string::npos) << r.error;
}

TEST(ProxyProtocol, V2Tcp4AndTcp6WithTlvs) {
  std::string h = encode_v2(ip("198.51.100.9"), 40000, ip("10.0.0.2"), 9000);
  ASSERT_EQ(h.size(), 28u);
  Result r = parse_str(h + "PILT\x01");
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_EQ(r.consumed, 28u);
  EXPECT_EQ(r.header.version, 2);
  EXPECT_EQ(ip_text(r.header.src), "198.51.100.9");
  EXPECT_EQ(r.header.src_port, 40000);
  EXPECT_EQ(r.header.dst_port, 9000);
  expect_prefixes_need_more(h);

  // HAProxy's send-proxy-v2-ssl adds TLVs: type, u16 length, value.
  std::string tlvs = std::string("\x02\x00\x0b" "example.org", 14) + std::string("\x05\x00\x02id", 5);
  h = encode_v2(ip("2001:db8::9"), 1, ip("2001:db8::1"), 2, tlvs);
  r = parse_str(h);
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_EQ(r.consumed, h.size());
  EXPECT_EQ(ip_text(r.header.src), "2001:db8::9");

  // An IPv4-mapped IPv6 source is an IPv4 client.
  r = parse_str(encode_v2(ip("::ffff:192.0.2.1"), 5, ip("::ffff:192.0.2.2"), 6));
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_EQ(r.header.src.family, AF_INET);
  EXPECT_EQ(ip_text(r.header.src), "192.0.2.1");
}

TEST(ProxyProtocol, V2LocalKeepsTheConnectionsAddress) {
  Result r = parse_str(encode_v2_local());
  ASSERT_EQ(r.status, Status::Header) << r.error;
  EXPECT_EQ(r.consumed, 16u);
  EXPECT_FALSE(r.header.has_address);
}

TEST(ProxyProtocol, V2Malformed) {
  std::string good = encode_v2(ip("192.0.2.1"), 1, ip("192.0.2.2"), 2);
  auto with = [&](size_t at, char v) {
    std::string s = good;
    s[at] = v;
    return s;
  };
  EXPECT_EQ(parse_str(with(12, 0x11)).status, Status::Invalid);  // version 1 in a v2 header
  EXPECT_EQ(parse_str(with(12, 0x22)).status, Status::Invalid);  // command 2
  EXPECT_EQ(parse_str(with(13, 0x12)).status, Status::Invalid);  // UDP on a TCP listener
  EXPECT_EQ(parse_str(with(13, 0x41)).status, Status::Invalid);  // family 4
  std::string short_block = with(15, 8);                          // 8 bytes cannot hold two IPv4 + ports
  EXPECT_EQ(parse_str(short_block.substr(0, 24)).status, Status::Invalid);
  std::string tlv_overrun = encode_v2(ip("192.0.2.1"), 1, ip("192.0.2.2"), 2, std::string("\x01\x00\x09xy", 5));
  EXPECT_EQ(parse_str(tlv_overrun).status, Status::Invalid);
  // Declared longer than the bound: refused at once, before the bytes arrive.
  std::string huge = with(14, char(0xFF));
  Result r = parse_str(huge.substr(0, 16));
  EXPECT_EQ(r.status, Status::Invalid);
  EXPECT_NE(r.error.find("limit"), std::string::npos) << r.error;
}

TEST(ProxyProtocol, OtherBytesAreNotAHeader) {
  EXPECT_EQ(parse_str("PILT\x01").status, Status::NotProxy);
  EXPECT_EQ(parse_str(std::string("\x00\x00\x00\x05{}", 6)).status, Status::NotProxy);
  EXPECT_EQ(parse_str("\x16\x03\x01").status, Status::NotProxy);  // a TLS ClientHello
  EXPECT_EQ(parse_str("PROXX").status, Status::NotProxy);
  EXPECT_EQ(parse_str("").status, Status::NeedMore);
  EXPECT_EQ(parse_str("PRO").status, Status::NeedMore);
  EXPECT_EQ(parse_str(std::string("\r\n\r\n\0", 5)).status, Status::NeedMore);
}

TEST(ProxyProtocol, V1EncoderRoundTrips) {
  std::string h = encode_v1(ip("192.0.2.44"), 1234, ip("192.0.2.1"), 9000);
  EXPECT_EQ(h, "PROXY TCP4 192.0.2.44 192.0.2.1 1234 9000\r\n");
  Result r = parse_str(h);
  ASSERT_EQ(r.status, Status::Header);
  EXPECT_EQ(r.header.src_port, 1234);
}
