// The guard on every URL this server calls out to (audit webhook, identity webhook, the
// identity provider's JWKS, audit export): no loopback, link-local, private, unspecified,
// multicast or shared (CGNAT) address, unless an operator allowed the range with
// -allow-private-endpoints. Checked twice: when the URL is configured (its syntax, and the host
// when it is an address literal or "localhost"), and again on every connection against the
// address DNS actually returned (outbound_address_error), so a name that resolves — or later
// re-resolves — to an inner address is refused too.
#pragma once

#include <string>
#include <string_view>

#include "cidr.h"

namespace rdv {

struct OutboundUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets
  int port = 0;
  std::string path;    // from the first '/', "" when none
};

// Parses an absolute http(s) URL with a host. "" on success, otherwise why not (e.g.
// "scheme must be http or https", "host required").
std::string parse_outbound_url(std::string_view url, OutboundUrl* out);

// Why `ip` may not be called ("loopback address 127.0.0.1 not allowed"), or "" when it may.
std::string outbound_address_error(const IpAddr& ip, const CidrList& allowed);

// Configuration-time check of a URL: parse_outbound_url, then for an address-literal host (or
// "localhost") outbound_address_error. "" when acceptable.
std::string outbound_url_error(std::string_view url, const CidrList& allowed);

}  // namespace rdv
