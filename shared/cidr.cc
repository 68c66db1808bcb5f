#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace rdv {

namespace {
void reduce_mapped(IpAddr* ip) {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ip->family == AF_INET6 && std::memcmp(ip->bytes, kMapped, 12) == 0) {
    uint8_t v4[4];
    std::memcpy(v4, ip->bytes + 12, 4);
    std::memset(ip->bytes, 0, 16);
    std::memcpy(ip->bytes, v4, 4);
    ip->family = AF_INET;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

bool parse_ip(std::string_view text, IpAddr* out) {
  std::string s(text);
  *out = IpAddr{};
  if (inet_pton(AF_INET, s.c_str(), out->bytes) == 1) {
    out->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out->bytes) == 1) {
    out->family = AF_INET6;
    reduce_mapped(out);
    return true;
  }
  return false;
}

bool ip_from_sockaddr(const struct sockaddr* sa, IpAddr* out) {
  *out = IpAddr{};
  if (sa->sa_family == AF_INET) {
    out->family = AF_INET;
    std::memcpy(out->bytes, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    out->family = AF_INET6;
    std::memcpy(out->bytes, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    reduce_mapped(out);
    return true;
  }
  return false;
}

std::string ip_text(const IpAddr& ip) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (ip.family) inet_ntop(ip.family, ip.bytes, buf, sizeof buf);
  return buf;
}

bool parse_cidr(std::string_view text, Cidr* out) {
  text = trim(text);
  size_t slash = text.find('/');
  if (!parse_ip(text.substr(0, slash), &out->base)) return false;
  // A prefix written on a mapped address counts in IPv6 bits; reduce it along with the address.
  int max = out->base.family == AF_INET ? 32 : 128;
  bool mapped_v4 = out->base.family == AF_INET && text.substr(0, slash).find(':') != std::string_view::npos;
  if (slash == std::string_view::npos) {
    out->prefix = max;
  } else {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return false;
    int n = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    if (mapped_v4) n -= 96;
    if (n < 0 || n > max) return false;
    out->prefix = n;
  }
  for (int bit = out->prefix; bit < int(out->base.size()) * 8; bit++) out->base.bytes[bit / 8] &= uint8_t(~(0x80 >> (bit % 8)));
  return true;
}

bool cidr_contains(const Cidr& c, const IpAddr& ip) {
  if (c.base.family != ip.family) return false;
  int full = c.prefix / 8, rest = c.prefix % 8;
  if (std::memcmp(c.base.bytes, ip.bytes, size_t(full)) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xFF << (8 - rest));
  return (ip.bytes[full] & mask) == c.base.bytes[full];
}

bool parse_cidr_list(std::string_view text, CidrList* out, std::string* error) {
  out->clear();
  text = trim(text);
  if (text.empty()) return true;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    Cidr c;
    if (!parse_cidr(item, &c)) {
      *error = "\"" + std::string(item) + "\" is not an IP address or CIDR range";
      return false;
    }
    out->push_back(c);
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

bool cidr_list_contains(const CidrList& list, const IpAddr& ip) {
  for (const Cidr& c : list)
    if (cidr_contains(c, ip)) return true;
  return false;
}

}  // namespace rdv
