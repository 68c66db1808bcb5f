#include "model.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "json.h"

namespace rdv {
namespace {

constexpr uint8_t kNodeFormat = 1;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out += char(uint8_t(v));
}
void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}
void put_i64(std::string& out, int64_t v) { put_varint(out, uint64_t(v)); }

struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) {
        ok = false;
        return 0;
      }
      uint8_t b = uint8_t(in[0]);
      in.remove_prefix(1);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  std::string bytes() {
    uint64_t n = varint();
    if (!ok || n > in.size()) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  std::vector<std::string> list() {
    uint64_t n = varint();
    std::vector<std::string> v;
    if (!ok || n > in.size()) {
      ok = false;
      return v;
    }
    v.reserve(n);
    for (uint64_t i = 0; i < n && ok; i++) v.push_back(bytes());
    return v;
  }
};

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ^[a-z0-9]([a-z0-9-]{0,max_inner}[a-z0-9])?$
bool matches_label(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  if (!is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  for (char c : s)
    if (!is_lower_alnum(c) && c != '-') return false;
  return true;
}

}  // namespace

std::string encode_node(const Node& n) {
  std::string out;
  out.reserve(160);
  out += char(kNodeFormat);
  put_varint(out, n.id);
  uint8_t flags = (n.is_public ? 1 : 0) | (n.task_exec ? 2 : 0) | (n.relay_only ? 4 : 0) |
                  (n.sig_verified ? 8 : 0) | (n.has_key ? 16 : 0);
  out += char(flags);
  out.append(reinterpret_cast<const char*>(n.public_key.data()), n.public_key.size());
  put_bytes(out, n.owner);
  put_bytes(out, n.real_addr);
  put_varint(out, n.lan_addrs.size());
  for (auto& a : n.lan_addrs) put_bytes(out, a);
  put_varint(out, n.networks.size());
  for (auto net : n.networks) put_varint(out, net);
  put_bytes(out, n.hostname);
  put_varint(out, n.tags.size());
  for (auto& t : n.tags) put_bytes(out, t);
  put_bytes(out, n.version);
  put_bytes(out, n.external_id);
  put_i64(out, n.created_at);
  put_i64(out, n.rotated_at);
  put_i64(out, n.expires_at);
  put_varint(out, n.rotate_count);
  put_bytes(out, n.badge);
  put_bytes(out, n.badge_sig);
  put_bytes(out, n.verification_provider);
  put_i64(out, n.verified_at);
  put_bytes(out, n.recovery_commitment);
  put_bytes(out, n.recovery_provider);
  return out;
}

bool decode_node(std::string_view bytes, Node* n) {
  if (bytes.empty() || uint8_t(bytes[0]) != kNodeFormat) return false;
  Reader r{bytes.substr(1)};
  n->id = uint32_t(r.varint());
  if (!r.ok || r.in.size() < 1 + 32) return false;
  uint8_t flags = uint8_t(r.in[0]);
  n->is_public = flags & 1;
  n->task_exec = flags & 2;
  n->relay_only = flags & 4;
  n->sig_verified = flags & 8;
  n->has_key = flags & 16;
  std::memcpy(n->public_key.data(), r.in.data() + 1, 32);
  r.in.remove_prefix(33);
  n->owner = r.bytes();
  n->real_addr = r.bytes();
  n->lan_addrs = r.list();
  uint64_t nets = r.varint();
  if (!r.ok || nets > r.in.size()) return false;
  n->networks.clear();
  for (uint64_t i = 0; i < nets && r.ok; i++) n->networks.push_back(uint16_t(r.varint()));
  n->hostname = r.bytes();
  n->tags = r.list();
  n->version = r.bytes();
  n->external_id = r.bytes();
  n->created_at = int64_t(r.varint());
  n->rotated_at = int64_t(r.varint());
  n->expires_at = int64_t(r.varint());
  n->rotate_count = uint32_t(r.varint());
  n->badge = r.bytes();
  n->badge_sig = r.bytes();
  n->verification_provider = r.bytes();
  n->verified_at = int64_t(r.varint());
  n->recovery_commitment = r.bytes();
  n->recovery_provider = r.bytes();
  return r.ok;
}

std::string format_address(uint16_t net, uint32_t node) {
  // printf("%d:%04X.%04X.%04X") by hand: this is on every lookup reply.
  static const char hex[] = "0123456789ABCDEF";
  char buf[24];
  char* p = buf;
  char dec[6];
  int n = 0;
  unsigned v = net;
  do {
    dec[n++] = char('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = dec[--n];
  *p++ = ':';
  auto group = [&](unsigned g) {
    for (int shift = 12; shift >= 0; shift -= 4) *p++ = hex[(g >> shift) & 15];
  };
  group(net);
  *p++ = '.';
  group(node >> 16);
  *p++ = '.';
  group(node & 0xFFFF);
  return std::string(buf, size_t(p - buf));
}

bool parse_address(std::string_view s, uint16_t* network, uint32_t* node) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 5) return false;
  unsigned dec = 0;
  for (size_t i = 0; i < colon; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    dec = dec * 10 + unsigned(s[i] - '0');
  }
  std::string_view rest = s.substr(colon + 1);
  if (rest.size() != 14 || rest[4] != '.' || rest[9] != '.') return false;
  uint32_t groups[3];
  for (int g = 0; g < 3; g++) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      char c = rest[g * 5 + i];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      v = v * 16 + uint32_t(d);
    }
    groups[g] = v;
  }
  if (dec > 65535 || dec != groups[0]) return false;
  *network = uint16_t(dec);
  *node = groups[1] << 16 | groups[2];
  return true;
}

// ---- networks, memberships, inboxes, beacons, audit ----

namespace {
constexpr uint8_t kNetworkFormat = 1, kMemberFormat = 1, kSmallFormat = 1;

bool decode_legacy_network(std::string_view bytes, Network* n) {
  json_error_t err;
  JsonPtr j(json_loadb(bytes.data(), bytes.size(), 0, &err));
  if (!j || !json_is_object(j.get())) return false;
  *n = Network{};
  if (const char* name = json_string_value(json_object_get(j.get(), "name"))) n->name = name;
  if (const char* rule = json_string_value(json_object_get(j.get(), "join_rule"))) n->join_rule = rule;
  n->created = json_integer_value(json_object_get(j.get(), "created"));
  return true;
}
}  // namespace

std::string encode_network(const Network& n) {
  std::string out;
  out += char(kNetworkFormat);
  put_varint(out, n.id);
  put_bytes(out, n.name);
  put_bytes(out, n.join_rule);
  put_bytes(out, n.token);
  put_bytes(out, n.admin_token);
  out += char((n.enterprise ? 1 : 0) | (n.has_allowed_ports ? 2 : 0) | (n.provisioned ? 4 : 0));
  put_i64(out, n.created);
  put_varint(out, n.member_count);
  put_varint(out, n.max_members);
  put_varint(out, n.allowed_ports.size());
  for (uint16_t p : n.allowed_ports) put_varint(out, p);
  put_bytes(out, n.description);
  put_bytes(out, n.rules);
  put_bytes(out, n.expr_policy);
  put_i64(out, n.last_sync);
  return out;
}

bool decode_network(std::string_view bytes, Network* n) {
  if (!bytes.empty() && bytes[0] == '{') return decode_legacy_network(bytes, n);
  if (bytes.empty() || uint8_t(bytes[0]) != kNetworkFormat) return false;
  Reader r{bytes.substr(1)};
  *n = Network{};
  n->id = uint16_t(r.varint());
  n->name = r.bytes();
  n->join_rule = r.bytes();
  n->token = r.bytes();
  n->admin_token = r.bytes();
  if (r.in.empty()) return false;
  uint8_t flags = uint8_t(r.in[0]);
  r.in.remove_prefix(1);
  n->enterprise = flags & 1;
  n->has_allowed_ports = flags & 2;
  n->provisioned = flags & 4;
  n->created = int64_t(r.varint());
  n->member_count = uint32_t(r.varint());
  n->max_members = uint32_t(r.varint());
  uint64_t ports = r.varint();
  if (!r.ok || ports > r.in.size()) return false;
  for (uint64_t i = 0; i < ports; i++) n->allowed_ports.push_back(uint16_t(r.varint()));
  n->description = r.bytes();
  n->rules = r.bytes();
  n->expr_policy = r.bytes();
  n->last_sync = int64_t(r.varint());
  return r.ok;
}

std::string encode_member(const Member& m) {
  std::string out;
  out += char(kMemberFormat);
  put_bytes(out, m.role);
  put_varint(out, m.tags.size());
  for (auto& t : m.tags) put_bytes(out, t);
  put_i64(out, m.joined_at);
  return out;
}

bool decode_member(std::string_view bytes, Member* m) {
  *m = Member{};
  if (bytes.empty()) return true;  // a bare membership (older records): no role, no tags
  if (uint8_t(bytes[0]) != kMemberFormat) return false;
  Reader r{bytes.substr(1)};
  m->role = r.bytes();
  m->tags = r.list();
  m->joined_at = int64_t(r.varint());
  return r.ok;
}

std::string encode_invite(const Invite& i) {
  std::string out(1, char(kSmallFormat));
  put_varint(out, i.inviter);
  put_i64(out, i.timestamp);
  return out;
}
bool decode_invite(std::string_view bytes, Invite* i) {
  if (bytes.empty() || uint8_t(bytes[0]) != kSmallFormat) return false;
  Reader r{bytes.substr(1)};
  i->inviter = uint32_t(r.varint());
  i->timestamp = int64_t(r.varint());
  return r.ok;
}

std::string encode_handshake(const Handshake& h) {
  std::string out(1, char(kSmallFormat));
  put_i64(out, h.timestamp_ns);
  put_bytes(out, h.justification);
  return out;
}
bool decode_handshake(std::string_view bytes, Handshake* h) {
  if (bytes.empty() || uint8_t(bytes[0]) != kSmallFormat) return false;
  Reader r{bytes.substr(1)};
  h->timestamp_ns = int64_t(r.varint());
  h->justification = r.bytes();
  return r.ok;
}

std::string encode_handshake_response(const HandshakeResponse& h) {
  std::string out(1, char(kSmallFormat));
  out += char(h.accept ? 1 : 0);
  put_i64(out, h.timestamp_ns);
  return out;
}
bool decode_handshake_response(std::string_view bytes, HandshakeResponse* h) {
  if (bytes.size() < 2 || uint8_t(bytes[0]) != kSmallFormat) return false;
  h->accept = bytes[1] != 0;
  Reader r{bytes.substr(2)};
  h->timestamp_ns = int64_t(r.varint());
  return r.ok;
}

std::string encode_beacon(const Beacon& b) {
  std::string out(1, char(kSmallFormat));
  put_bytes(out, b.addr);
  put_i64(out, b.last_seen_ns);
  return out;
}
bool decode_beacon(std::string_view bytes, Beacon* b) {
  if (bytes.empty() || uint8_t(bytes[0]) != kSmallFormat) return false;
  Reader r{bytes.substr(1)};
  b->addr = r.bytes();
  b->last_seen_ns = int64_t(r.varint());
  return r.ok;
}

std::string encode_audit(const AuditEntry& e) {
  std::string out(1, char(kSmallFormat));
  put_i64(out, e.timestamp);
  put_bytes(out, e.action);
  put_varint(out, e.network_id);
  put_varint(out, e.node_id);
  put_bytes(out, e.details);
  put_bytes(out, e.prev_hash);
  put_bytes(out, e.hash);
  return out;
}
bool decode_audit(std::string_view bytes, AuditEntry* e) {
  if (bytes.empty() || uint8_t(bytes[0]) != kSmallFormat) return false;
  Reader r{bytes.substr(1)};
  e->timestamp = int64_t(r.varint());
  e->action = r.bytes();
  e->network_id = uint16_t(r.varint());
  e->node_id = uint32_t(r.varint());
  e->details = r.bytes();
  e->prev_hash = r.bytes();
  e->hash = r.bytes();
  return r.ok;
}

std::string network_name_error(std::string_view name) {
  if (name.empty()) return "network name required";
  if (name.size() > 63) return "network name too long (max 63 chars)";
  if (!matches_label(name, 63))
    return "network name must be lowercase alphanumeric with hyphens, start/end with alphanumeric";
  if (name == "backbone") return "network name \"backbone\" is reserved";
  return "";
}

std::string hostname_error(std::string_view h) {
  if (h.size() > 63) return "hostname too long (max 63 chars)";
  if (!matches_label(h, 63))
    return "hostname must be lowercase alphanumeric with hyphens, start/end with alphanumeric";
  if (h == "localhost" || h == "backbone" || h == "broadcast")
    return "hostname \"" + std::string(h) + "\" is reserved";
  return "";
}

std::string normalize_tags(const std::vector<std::string>& in, std::vector<std::string>* out) {
  out->clear();
  for (auto t : in) {
    if (!t.empty() && t[0] == '#') t.erase(0, 1);
    bool dup = false;
    for (auto& e : *out)
      if (e == t) dup = true;
    if (!dup) out->push_back(t);
  }
  if (out->size() > 10) return "too many tags (max 10)";
  for (auto& t : *out) {
    if (t.empty()) return "empty tag not allowed";
    if (t.size() > 32) return "tag \"" + t + "\" too long (max 32 chars)";
    if (!matches_label(t, 32)) return "tag \"" + t + "\" must be lowercase alphanumeric with hyphens";
  }
  return "";
}

bool go_split_host_port(std::string_view a, std::string* host, std::string* port) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view h;
  if (!a.empty() && a[0] == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos || close + 1 != colon) return false;
    h = a.substr(1, close - 1);
  } else {
    h = a.substr(0, colon);
    if (h.find(':') != std::string_view::npos) return false;  // too many colons
  }
  if (h.find('[') != std::string_view::npos || h.find(']') != std::string_view::npos) return false;
  std::string_view p = a.substr(colon + 1);
  if (p.find('[') != std::string_view::npos || p.find(']') != std::string_view::npos) return false;
  *host = std::string(h);
  *port = std::string(p);
  return true;
}

std::string go_join_host_port(std::string_view host, std::string_view port) {
  std::string s;
  if (host.find(':') != std::string_view::npos) {
    s = "[";
    s += host;
    s += "]";
  } else {
    s = std::string(host);
  }
  s += ':';
  s += port;
  return s;
}

bool ip_is_non_public(std::string_view ip_text) {
  std::string ip(ip_text);
  unsigned char b[16];
  if (inet_pton(AF_INET, ip.c_str(), b) == 1) {
    uint32_t v = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    return v == 0 || b[0] == 127 || b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) ||
           (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254);
  }
  if (inet_pton(AF_INET6, ip.c_str(), b) == 1) {
    static const unsigned char zero[16] = {};
    static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(b, zero, 16) == 0 || std::memcmp(b, loop, 16) == 0) return true;
    if ((b[0] & 0xFE) == 0xFC) return true;               // fc00::/7
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;  // fe80::/10
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, mapped, 12) == 0) {
      char v4[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, b + 12, v4, sizeof v4);
      return ip_is_non_public(v4);
    }
    return false;
  }
  return false;  // a DNS name: kept verbatim
}

std::string sanitize_listen_addr(std::string_view source_ip, uint16_t source_port,
                                 std::string_view listen_addr) {
  if (listen_addr.empty()) return go_join_host_port(source_ip, std::to_string(source_port));
  std::string host, port;
  if (!go_split_host_port(listen_addr, &host, &port)) return std::string(listen_addr);
  if (host.empty() || ip_is_non_public(host)) return go_join_host_port(source_ip, port);
  return std::string(listen_addr);
}

int64_t whole_days(int64_t since, int64_t now) {
  if (now <= since) return 0;
  return (now - since) / 86400;
}

}  // namespace rdv
