// PROXY protocol headers, v1 (text) and v2 (binary); see proxy_protocol.h.
#include "proxy_protocol.h"

#include <cstring>
#include <string_view>

namespace rdv::proxy {

namespace {

constexpr char kV1Sig[] = "PROXY ";
constexpr size_t kV1SigLen = 6;
constexpr uint8_t kV2Sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

Result invalid(std::string why) {
  Result r;
  r.status = Status::Invalid;
  r.error = std::move(why);
  return r;
}

// A port in decimal, 0..65535, without sign or leading zeros (nginx and HAProxy write %u).
bool parse_port(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + uint32_t(ch - '0');
  }
  if (v > 65535) return false;
  *out = uint16_t(v);
  return true;
}

// Splits off the next space-separated field (single spaces, as the specification writes them).
bool next_field(std::string_view* rest, std::string_view* field) {
  size_t sp = rest->find(' ');
  *field = rest->substr(0, sp);
  if (field->empty()) return false;
  *rest = sp == std::string_view::npos ? std::string_view() : rest->substr(sp + 1);
  return true;
}

Result parse_v1(const uint8_t* data, size_t len) {
  // The line ends at the first CRLF, which must come within kMaxV1Bytes.
  std::string_view all(reinterpret_cast<const char*>(data), len < kMaxV1Bytes ? len : kMaxV1Bytes);
  size_t crlf = all.find("\r\n");
  if (crlf == std::string_view::npos) {
    if (len >= kMaxV1Bytes) return invalid("PROXY v1 header longer than 107 bytes");
    if (all.find('\n') != std::string_view::npos) return invalid("PROXY v1 header has a bare LF");
    return Result{};  // NeedMore
  }
  // A bare LF before the CRLF is refused here too, not only while the CRLF is still to come:
  // otherwise the verdict on the same bytes would depend on how they were split into reads.
  if (all.substr(0, crlf).find('\n') != std::string_view::npos) return invalid("PROXY v1 header has a bare LF");
  Result r;
  r.status = Status::Header;
  r.consumed = crlf + 2;
  r.header.version = 1;
  std::string_view rest = all.substr(kV1SigLen, crlf - kV1SigLen), proto;
  if (!next_field(&rest, &proto)) return invalid("PROXY v1 header without a protocol");
  if (proto == "UNKNOWN") return r;  // the rest of the line is ignored (the specification)
  int family = proto == "TCP4" ? AF_INET : proto == "TCP6" ? AF_INET6 : 0;
  if (!family) return invalid("PROXY v1 protocol \"" + std::string(proto) + "\" is not TCP4, TCP6 or UNKNOWN");
  std::string_view src, dst, sport, dport;
  if (!next_field(&rest, &src) || !next_field(&rest, &dst) || !next_field(&rest, &sport) ||
      !next_field(&rest, &dport) || !rest.empty())
    return invalid("PROXY v1 header is not \"PROXY " + std::string(proto) + " src dst sport dport\"");
  Header& h = r.header;
  // Each address must be of the family the protocol names (an IPv4-mapped IPv6 is IPv6 text).
  bool v6text = family == AF_INET6;
  if ((src.find(':') != std::string_view::npos) != v6text || (dst.find(':') != std::string_view::npos) != v6text ||
      !parse_ip(src, &h.src) || !parse_ip(dst, &h.dst))
    return invalid("PROXY v1 addresses are not " + std::string(v6text ? "IPv6" : "IPv4") + " addresses");
  if (!parse_port(sport, &h.src_port) || !parse_port(dport, &h.dst_port))
    return invalid("PROXY v1 ports are not numbers from 0 to 65535");
  h.has_address = true;
  return r;
}

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

Result parse_v2(const uint8_t* data, size_t len) {
  if (len < 16) return Result{};
  uint8_t ver_cmd = data[12], fam = data[13];
  size_t body = be16(data + 14);
  if ((ver_cmd >> 4) != 2) return invalid("PROXY v2 header with version " + std::to_string(ver_cmd >> 4));
  uint8_t cmd = ver_cmd & 0x0F;
  if (cmd > 1) return invalid("PROXY v2 command " + std::to_string(cmd) + " is not LOCAL or PROXY");
  if (16 + body > kMaxV2Bytes)
    return invalid("PROXY v2 header of " + std::to_string(16 + body) + " bytes is above the limit of " +
                   std::to_string(kMaxV2Bytes));
  if (len < 16 + body) return Result{};
  Result r;
  r.status = Status::Header;
  r.consumed = 16 + body;
  r.header.version = 2;
  uint8_t family = fam >> 4, transport = fam & 0x0F;
  if (family > 3 || transport > 2) {
    static const char hex[] = "0123456789abcdef";
    return invalid(std::string("PROXY v2 address family byte 0x") + hex[fam >> 4] + hex[fam & 0x0F] + " is unknown");
  }
  // LOCAL: the front end's own connection. UNSPEC and UNIX: no address we could use. In all
  // three the connection's own addresses stay (the specification: the receiver must accept
  // them and ignore the block).
  if (cmd == 0 || family == 0 || family == 3) return r;
  if (transport != 1) return invalid("PROXY v2 header for a datagram or unspecified transport on a TCP listener");
  const uint8_t* a = data + 16;
  Header& h = r.header;
  size_t n = family == 1 ? 4 : 16;
  if (body < 2 * n + 4) return invalid("PROXY v2 address block of " + std::to_string(body) + " bytes is too short");
  h.src.family = h.dst.family = family == 1 ? AF_INET : AF_INET6;
  std::memcpy(h.src.bytes, a, n);
  std::memcpy(h.dst.bytes, a + n, n);
  h.src_port = be16(a + 2 * n);
  h.dst_port = be16(a + 2 * n + 2);
  // The TLVs after the addresses (authority, unique id, SSL details) are not used, but their
  // structure must hold: each is [type][u16 length][value] and they fill the block exactly.
  for (size_t off = 2 * n + 4; off < body;) {
    if (body - off < 3 || body - off - 3 < be16(a + off + 1)) return invalid("PROXY v2 TLV overruns the header");
    off += 3 + be16(a + off + 1);
  }
  // An IPv4-mapped IPv6 address is an IPv4 client (as everywhere else in the registry).
  for (IpAddr* ip : {&h.src, &h.dst}) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (ip->family == AF_INET6 && std::memcmp(ip->bytes, mapped, 12) == 0) {
      std::memmove(ip->bytes, ip->bytes + 12, 4);
      std::memset(ip->bytes + 4, 0, 12);
      ip->family = AF_INET;
    }
  }
  h.has_address = true;
  return r;
}

}  // namespace

Result parse(const uint8_t* data, size_t len) {
  size_t v1 = len < kV1SigLen ? len : kV1SigLen, v2 = len < sizeof kV2Sig ? len : sizeof kV2Sig;
  bool may_v1 = std::memcmp(data, kV1Sig, v1) == 0, may_v2 = std::memcmp(data, kV2Sig, v2) == 0;
  if (len == 0) return Result{};
  if (may_v1) return len < kV1SigLen ? Result{} : parse_v1(data, len);
  if (may_v2) return len < sizeof kV2Sig ? Result{} : parse_v2(data, len);
  Result r;
  r.status = Status::NotProxy;
  return r;
}

std::string encode_v1(const IpAddr& src, uint16_t src_port, const IpAddr& dst, uint16_t dst_port) {
  return std::string("PROXY ") + (src.family == AF_INET ? "TCP4 " : "TCP6 ") + ip_text(src) + " " + ip_text(dst) +
         " " + std::to_string(src_port) + " " + std::to_string(dst_port) + "\r\n";
}

std::string encode_v2(const IpAddr& src, uint16_t src_port, const IpAddr& dst, uint16_t dst_port,
                      const std::string& tlvs) {
  std::string out(reinterpret_cast<const char*>(kV2Sig), sizeof kV2Sig);
  bool v4 = src.family == AF_INET;
  size_t n = v4 ? 4 : 16;
  size_t body = 2 * n + 4 + tlvs.size();
  out += char(0x21);
  out += char(v4 ? 0x11 : 0x21);
  out += char(body >> 8);
  out += char(body & 0xFF);
  out.append(reinterpret_cast<const char*>(src.bytes), n);
  out.append(reinterpret_cast<const char*>(dst.bytes), n);
  for (uint16_t p : {src_port, dst_port}) {
    out += char(p >> 8);
    out += char(p & 0xFF);
  }
  out += tlvs;
  return out;
}

std::string encode_v2_local() {
  std::string out(reinterpret_cast<const char*>(kV2Sig), sizeof kV2Sig);
  out += char(0x20);
  out += char(0x00);
  out += char(0);
  out += char(0);
  return out;
}

}  // namespace rdv::proxy
