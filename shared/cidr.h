// IP addresses and CIDR ranges: the rate-limit whitelist, -allow-private-endpoints and the
// outbound-URL guard (outbound.h) all match addresses against ranges with these.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdv {

// An IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:a.b.c.d) is reduced to IPv4.
struct IpAddr {
  int family = 0;  // AF_INET or AF_INET6; 0 = none
  uint8_t bytes[16] = {};
  size_t size() const { return family == AF_INET ? 4 : 16; }
};
bool parse_ip(std::string_view text, IpAddr* out);
bool ip_from_sockaddr(const struct sockaddr* sa, IpAddr* out);
std::string ip_text(const IpAddr& ip);

struct Cidr {
  IpAddr base;  // masked to the prefix
  int prefix = 0;
};
// "a.b.c.d/n", "v6/n", or a bare address (promoted to /32 or /128). False for anything else.
bool parse_cidr(std::string_view text, Cidr* out);
bool cidr_contains(const Cidr& c, const IpAddr& ip);

using CidrList = std::vector<Cidr>;
// "a/n,b/m" (spaces allowed around commas; "" is the empty list). On error returns false with
// *error naming the bad entry.
bool parse_cidr_list(std::string_view text, CidrList* out, std::string* error);
bool cidr_list_contains(const CidrList& list, const IpAddr& ip);

}  // namespace rdv
