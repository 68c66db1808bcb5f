// The directory's entities, their compact binary encoding in LMDB, and the pure rules of the
// protocol that do not need state: address text form (wire §3.3), hostname and tag rules
// (§6.3.5, §6.3.7), and listen-address sanitising (§6.1.1 step 1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.h"

namespace rdv {

struct Node {
  uint32_t id = 0;
  PublicKey public_key{};
  bool has_key = true;       // false only for legacy records imported without a key
  bool is_public = false;
  bool task_exec = false;
  bool relay_only = false;
  bool sig_verified = false;  // latched once the key registered with a valid signature
  std::string owner;
  std::string real_addr;
  std::vector<std::string> lan_addrs;
  std::vector<uint16_t> networks;  // always starts with 0 while registered
  std::string hostname;
  std::vector<std::string> tags;
  std::string version;
  std::string external_id;
  int64_t created_at = 0;   // unix seconds
  int64_t rotated_at = 0;   // unix seconds, 0 = never
  int64_t expires_at = 0;   // unix seconds, 0 = no expiry
  uint32_t rotate_count = 0;
  std::string badge, badge_sig, verification_provider;
  int64_t verified_at = 0;
  std::string recovery_commitment, recovery_provider;
};

// Encoding: version byte, then fields in a fixed order; decoders ignore trailing bytes so
// later versions can append fields.
std::string encode_node(const Node& n);
bool decode_node(std::string_view bytes, Node* n);

// "N:NNNN.HHHH.LLLL" (§3.3).
std::string format_address(uint16_t network, uint32_t node);
// Strict parser (decimal and hex network parts must agree). Returns false when invalid.
bool parse_address(std::string_view text, uint16_t* network, uint32_t* node);

// Hostname rules. Returns "" when valid, otherwise the rule's error text.
std::string hostname_error(std::string_view hostname);

// Tag normalisation and validation for set_tags: strips one leading '#', drops duplicates
// (first occurrence wins). Returns "" or the first rule's error text.
std::string normalize_tags(const std::vector<std::string>& in, std::vector<std::string>* out);

// Listen-address sanitising (§6.1.1 step 1). `source_ip` is the connection's peer IP in text
// form (IPv4-mapped IPv6 already reduced to IPv4), `source_port` its port.
std::string sanitize_listen_addr(std::string_view source_ip, uint16_t source_port,
                                 std::string_view listen_addr);

// Go's net.SplitHostPort: "[v6]:port" or "host:port" where host has no colon. Port is not
// checked for being numeric.
bool go_split_host_port(std::string_view addr, std::string* host, std::string* port);
// Go's net.JoinHostPort: brackets hosts that contain a colon.
std::string go_join_host_port(std::string_view host, std::string_view port);

// True for unspecified, loopback, link-local and private (RFC 1918, fc00::/7) IPs.
bool ip_is_non_public(std::string_view ip);

// Whole days between `since` and `now` (unix seconds), floor, never negative.
int64_t whole_days(int64_t since, int64_t now);

}  // namespace rdv
