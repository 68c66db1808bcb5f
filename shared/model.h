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

// A network (wire-protocol §5.3). Members live in the members database, one record each
// (Member); member_count is kept here so capacity checks and listings need no scan.
// Reaped nodes stay members (§5.5 invariant 2) and are counted.
struct Network {
  uint16_t id = 0;
  std::string name;
  std::string join_rule = "open";  // open, token, invite; anything else is stored and refuses joins
  std::string token;               // join secret of a token network
  std::string admin_token;         // per-network admin token ("" = none)
  bool enterprise = false;
  int64_t created = 0;             // unix seconds
  uint32_t member_count = 0;
  // policy (§6.6)
  uint32_t max_members = 0;        // 0 = unlimited
  bool has_allowed_ports = false;  // set_network_policy replies null until ports were set
  std::vector<uint16_t> allowed_ports;
  std::string description;
  std::string rules;               // managed ruleset, canonical JSON object text ("" = unmanaged)
  std::string expr_policy;         // raw JSON document ("" = none)
  int64_t last_sync = 0;           // directory_sync, unix seconds (0 = never)
  bool provisioned = false;        // created or updated by provision_network
};
std::string encode_network(const Network& n);
// Also reads the JSON record older stores wrote for the backbone.
bool decode_network(std::string_view bytes, Network* n);

// A node's membership of a non-backbone network.
struct Member {
  std::string role;                // "owner", "admin", "member", or "" (no role: non-enterprise)
  std::vector<std::string> tags;   // admin-assigned member tags (§6.4.8)
  int64_t joined_at = 0;           // unix seconds
};
std::string encode_member(const Member& m);
bool decode_member(std::string_view bytes, Member* m);

struct Invite {
  uint32_t inviter = 0;
  int64_t timestamp = 0;  // unix seconds
};
std::string encode_invite(const Invite& i);
bool decode_invite(std::string_view bytes, Invite* i);

// A handshake request waiting in its target's inbox.
struct Handshake {
  int64_t timestamp_ns = 0;  // arrival; polls list oldest first
  std::string justification;
};
std::string encode_handshake(const Handshake& h);
bool decode_handshake(std::string_view bytes, Handshake* h);

// A response waiting in the original requester's inbox (one per responder: the latest).
struct HandshakeResponse {
  bool accept = false;
  int64_t timestamp_ns = 0;
};
std::string encode_handshake_response(const HandshakeResponse& r);
bool decode_handshake_response(std::string_view bytes, HandshakeResponse* r);

struct Beacon {
  std::string addr;
  int64_t last_seen_ns = 0;  // the last beacon_register (listed while within 60 s)
};
std::string encode_beacon(const Beacon& b);
bool decode_beacon(std::string_view bytes, Beacon* b);

// One audit-log entry (ops-spec §7.1), stored with its hash-chain link.
struct AuditEntry {
  int64_t timestamp = 0;  // unix seconds
  std::string action;
  uint16_t network_id = 0;
  uint32_t node_id = 0;
  std::string details;    // "k=v, k=v", already redacted
  std::string prev_hash;  // hex; "" for the first entry
  std::string hash;       // hex SHA-256 (ops-spec §7.1)
};
std::string encode_audit(const AuditEntry& e);
bool decode_audit(std::string_view bytes, AuditEntry* e);

// Network names: ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$, not "backbone". "" or the error text
// of §6.4.1, in its check order.
std::string network_name_error(std::string_view name);

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
