#include "outbound.h"

#include <cctype>

namespace rdv {

namespace {
struct Range {
  const char* cidr;
  const char* what;
};
// Ranges no outbound call may reach by default.
const Range kInner[] = {
    {"0.0.0.0/8", "unspecified"},     {"127.0.0.0/8", "loopback"},      {"10.0.0.0/8", "private"},
    {"172.16.0.0/12", "private"},     {"192.168.0.0/16", "private"},    {"169.254.0.0/16", "link-local"},
    {"100.64.0.0/10", "shared (CGNAT)"}, {"224.0.0.0/4", "multicast"},  {"240.0.0.0/4", "reserved"},
    {"::/128", "unspecified"},        {"::1/128", "loopback"},          {"fc00::/7", "private"},
    {"fe80::/10", "link-local"},      {"ff00::/8", "multicast"},
};
}  // namespace

std::string parse_outbound_url(std::string_view url, OutboundUrl* out) {
  *out = OutboundUrl{};
  size_t colon = url.find("://");
  if (colon == std::string_view::npos) return "URL must be absolute (http:// or https://)";
  std::string scheme(url.substr(0, colon));
  for (char& c : scheme) c = char(std::tolower(uint8_t(c)));
  if (scheme != "http" && scheme != "https") return "scheme must be http or https";
  out->scheme = scheme;
  std::string_view rest = url.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  out->path = end == std::string_view::npos ? "" : std::string(rest.substr(end));
  if (authority.find('@') != std::string_view::npos) return "credentials in the URL are not allowed";
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 address";
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "bad port";
      port = after.substr(1);
    }
  } else if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return "host required";
  for (char c : host)
    if (!(std::isalnum(uint8_t(c)) || c == '.' || c == '-' || c == ':' || c == '_')) return "invalid host";
  out->host = std::string(host);
  out->port = scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    if (port.size() > 5) return "bad port";
    int p = 0;
    for (char c : port) {
      if (!std::isdigit(uint8_t(c))) return "bad port";
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return "bad port";
    out->port = p;
  }
  return "";
}

std::string outbound_address_error(const IpAddr& ip, const CidrList& allowed) {
  if (cidr_list_contains(allowed, ip)) return "";
  for (const Range& r : kInner) {
    Cidr c;
    if (parse_cidr(r.cidr, &c) && cidr_contains(c, ip))
      return std::string(r.what) + " address " + ip_text(ip) + " not allowed";
  }
  return "";
}

std::string outbound_url_error(std::string_view url, const CidrList& allowed) {
  OutboundUrl u;
  if (std::string e = parse_outbound_url(url, &u); !e.empty()) return e;
  std::string host = u.host;
  for (char& c : host) c = char(std::tolower(uint8_t(c)));
  IpAddr ip;
  if (host == "localhost" || (host.size() > 10 && host.ends_with(".localhost"))) parse_ip("127.0.0.1", &ip);
  else if (!parse_ip(host, &ip)) return "";  // a DNS name: checked on every connection
  return outbound_address_error(ip, allowed);
}

}  // namespace rdv
