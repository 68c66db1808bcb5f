#include "go_snapshot.h"

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "crypto.h"
#include "util.h"

namespace rdv::gosnap {

namespace {

constexpr std::string_view kChecksumPrefix = ",\"checksum\":\"";
constexpr size_t kHexLen = 64;
constexpr size_t kSuffixLen = kChecksumPrefix.size() + kHexLen + 2;  // + `"}`

std::string raw_key(const PublicKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// A JSON number that is a whole value in [0, max]. Go writes integers; a float with a whole
// value (1e3) is accepted as jansson parses it as real.
bool as_uint(const json_t* v, uint64_t max, uint64_t* out) {
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i < 0 || uint64_t(i) > max) return false;
    *out = uint64_t(i);
    return true;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!(d >= 0) || d > double(max) || d != double(uint64_t(d))) return false;
    *out = uint64_t(d);
    return true;
  }
  return false;
}

// A field that must be an unsigned number when present (absent or null reads as `fallback`).
bool uint_field(const json_t* obj, const char* key, uint64_t max, uint64_t* out, uint64_t fallback = 0) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    *out = fallback;
    return true;
  }
  return as_uint(v, max, out);
}

std::string str_of(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  return json_is_string(v) ? std::string(json_string_value(v), json_string_length(v)) : std::string();
}

bool bool_of(const json_t* obj, const char* key) { return json_is_true(json_object_get(obj, key)); }

std::vector<std::string> strings_of(const json_t* obj, const char* key) {
  std::vector<std::string> out;
  const json_t* a = json_object_get(obj, key);
  size_t i;
  const json_t* v;
  if (json_is_array(a))
    json_array_foreach(a, i, v) if (json_is_string(v)) out.emplace_back(json_string_value(v), json_string_length(v));
  return out;
}

// Go map keys that are node or network ids: canonical positive decimals (§3.6: others dropped).
bool id_key(const char* key, uint64_t max, uint64_t* out) {
  if (!*key || *key == '0' || std::strlen(key) > 10) return false;
  uint64_t v = 0;
  for (const char* p = key; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + uint64_t(*p - '0');
  }
  if (v == 0 || v > max) return false;
  *out = v;
  return true;
}

// A time field: RFC 3339 text (Go's time.Time and the snapshot's string fields) or, leniently,
// unix seconds as a number. 0 when absent, empty or unreadable; times before 1970 (Go's zero
// time) read as 0 too.
int64_t time_ns_of(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  int64_t ns = 0;
  if (json_is_string(v)) {
    if (!parse_go_time_ns(std::string_view(json_string_value(v), json_string_length(v)), &ns)) return 0;
  } else if (json_is_integer(v)) {
    json_int_t s = json_integer_value(v);
    if (s <= 0 || s > 9200000000LL) return 0;
    ns = int64_t(s) * 1000000000;
  }
  return std::max<int64_t>(ns, 0);
}
int64_t time_s_of(const json_t* obj, const char* key) { return time_ns_of(obj, key) / 1000000000; }

// Compact text of any JSON value ("" for absent or null); key order as in the file.
std::string compact(const json_t* v) {
  if (!v || json_is_null(v)) return "";
  std::unique_ptr<char, FreeDeleter> text(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
  return text ? std::string(text.get()) : std::string();
}

void add_network_to_node(Node& n, uint16_t net) {
  if (std::find(n.networks.begin(), n.networks.end(), net) == n.networks.end()) n.networks.push_back(net);
}
void drop_network_from_node(Node& n, uint16_t net) { std::erase(n.networks, net); }

bool parse_node(const char* map_key, const json_t* o, GoState* st) {
  uint64_t id = 0, from_key = 0;
  bool key_ok = id_key(map_key, 0xFFFFFFFFull, &from_key);
  if (!json_is_object(o) || !uint_field(o, "id", 0xFFFFFFFFull, &id) || (id == 0 && !key_ok)) {
    st->warnings.push_back(std::string("node ") + map_key + ": not a node object with an id; dropped");
    return false;
  }
  if (id == 0) id = from_key;
  Node n;
  n.id = uint32_t(id);
  std::string pub = str_of(o, "public_key");
  if (!decode_public_key(pub, &n.public_key)) {
    // §3.6: the Go loader skips nodes whose key does not decode.
    st->warnings.push_back("node " + std::to_string(id) + ": public key does not decode; dropped");
    return false;
  }
  n.owner = str_of(o, "owner");
  n.real_addr = str_of(o, "real_addr");
  n.is_public = bool_of(o, "public");
  n.hostname = str_of(o, "hostname");
  n.tags = strings_of(o, "tags");
  n.task_exec = bool_of(o, "task_exec");
  n.lan_addrs = strings_of(o, "lan_addrs");
  n.created_at = time_s_of(o, "key_created");
  n.rotated_at = time_s_of(o, "key_rotated");
  uint64_t rot = 0;
  if (uint_field(o, "key_rot_count", 0xFFFFFFFFull, &rot)) n.rotate_count = uint32_t(rot);
  n.expires_at = time_s_of(o, "key_expires");
  n.external_id = str_of(o, "external_id");
  n.version = str_of(o, "version");
  n.relay_only = bool_of(o, "relay_only");
  n.badge = str_of(o, "badge");
  n.badge_sig = str_of(o, "badge_sig");
  n.verification_provider = str_of(o, "verification_provider");
  n.verified_at = time_s_of(o, "verified_at");
  n.recovery_commitment = str_of(o, "recovery_commitment");
  n.recovery_provider = str_of(o, "recovery_provider");
  std::string nonce = str_of(o, "recovery_consumed_nonce");
  if (!nonce.empty()) st->recovery_nonces[nonce] = time_s_of(o, "recovery_consumed_exp");
  // The backbone first, then the node's other networks in its own order (checked against the
  // networks' member lists by the importer).
  n.networks = {0};
  const json_t* nets = json_object_get(o, "networks");
  size_t i;
  const json_t* v;
  if (json_is_array(nets))
    json_array_foreach(nets, i, v) {
      uint64_t net;
      if (as_uint(v, 0xFFFF, &net) && net != 0) add_network_to_node(n, uint16_t(net));
    }
  if (int64_t seen = time_ns_of(o, "last_seen")) st->last_seen_ns[n.id] = seen;
  if (st->nodes.count(n.id)) st->warnings.push_back("node " + std::to_string(id) + ": listed twice; the later entry kept");
  st->key_index[raw_key(n.public_key)] = n.id;
  st->nodes[n.id] = std::move(n);
  return true;
}

void parse_network(const char* map_key, const json_t* o, GoState* st) {
  uint64_t id = 0, from_key = 0;
  bool key_ok = std::strcmp(map_key, "0") == 0 || id_key(map_key, 0xFFFF, &from_key);
  if (!json_is_object(o) || !uint_field(o, "id", 0xFFFF, &id, key_ok ? from_key : 0x10000) || !key_ok) {
    st->warnings.push_back(std::string("network ") + map_key + ": not a network object with an id; dropped");
    return;
  }
  if (id == 0) {
    // The backbone: ours is written by the importer (members are every live node, not stored).
    st->backbone_created = time_s_of(o, "created");
    return;
  }
  GoNetwork g;
  Network& n = g.net;
  n.id = uint16_t(id);
  n.name = str_of(o, "name");
  n.join_rule = str_of(o, "join_rule");
  if (n.join_rule.empty()) n.join_rule = "open";
  n.token = str_of(o, "token");
  n.admin_token = str_of(o, "admin_token");
  n.enterprise = bool_of(o, "enterprise");
  n.created = time_s_of(o, "created");
  const json_t* pol = json_object_get(o, "policy");
  if (json_is_object(pol)) {
    uint64_t max = 0;
    if (uint_field(pol, "max_members", 0xFFFFFFFFull, &max)) n.max_members = uint32_t(max);
    const json_t* ports = json_object_get(pol, "allowed_ports");
    size_t i;
    const json_t* v;
    if (json_is_array(ports)) {
      n.has_allowed_ports = true;
      json_array_foreach(ports, i, v) {
        uint64_t p;
        if (as_uint(v, 0xFFFF, &p)) n.allowed_ports.push_back(uint16_t(p));
      }
    }
    n.description = str_of(pol, "description");
  }
  const json_t* rules = json_object_get(o, "rules");
  if (json_is_object(rules)) n.rules = compact(rules);
  n.expr_policy = compact(json_object_get(o, "expr_policy"));

  const json_t* members = json_object_get(o, "members");
  size_t i;
  const json_t* v;
  if (json_is_array(members))
    json_array_foreach(members, i, v) {
      uint64_t m;
      if (!as_uint(v, 0xFFFFFFFFull, &m) || m == 0) continue;
      if (std::find(g.members.begin(), g.members.end(), uint32_t(m)) == g.members.end()) g.members.push_back(uint32_t(m));
    }
  const json_t* roles = json_object_get(o, "member_roles");
  const char* k;
  json_t* rv;
  if (json_is_object(roles)) {
    json_object_foreach(const_cast<json_t*>(roles), k, rv) {
      uint64_t m;
      if (id_key(k, 0xFFFFFFFFull, &m) && json_is_string(rv)) g.roles[uint32_t(m)] = json_string_value(rv);
    }
  } else {
    // §3.6: legacy networks without roles get them backfilled: first member owner, others member.
    for (size_t j = 0; j < g.members.size(); j++) g.roles[g.members[j]] = j == 0 ? "owner" : "member";
  }
  const json_t* tags = json_object_get(o, "member_tags");
  if (json_is_object(tags))
    json_object_foreach(const_cast<json_t*>(tags), k, rv) {
      uint64_t m;
      if (!id_key(k, 0xFFFFFFFFull, &m)) continue;
      std::vector<std::string> list;
      size_t j;
      const json_t* t;
      if (json_is_array(rv))
        json_array_foreach(rv, j, t) if (json_is_string(t)) list.emplace_back(json_string_value(t), json_string_length(t));
      if (!list.empty()) g.member_tags[uint32_t(m)] = std::move(list);
    }
  st->networks[n.id] = std::move(g);
}

// Inbox maps: node id string → array of objects; bad keys are dropped (§3.6).
template <typename F>
void for_each_inbox(const json_t* root, const char* key, GoState* st, F&& each) {
  const json_t* m = json_object_get(root, key);
  if (!json_is_object(m)) return;
  const char* k;
  json_t* arr;
  json_object_foreach(const_cast<json_t*>(m), k, arr) {
    uint64_t id;
    if (!id_key(k, 0xFFFFFFFFull, &id)) {
      st->warnings.push_back(std::string(key) + ": key \"" + k + "\" is not a node id; dropped");
      continue;
    }
    size_t i;
    const json_t* v;
    if (json_is_array(arr))
      json_array_foreach(arr, i, v) if (json_is_object(v)) each(uint32_t(id), v);
  }
}

bool parse_root(const json_t* root, GoState* st, std::string* error) {
  uint64_t u = 0;
  if (!uint_field(root, "next_node", 0xFFFFFFFFull, &u, 1)) return (*error = "next_node is not a node id"), false;
  st->next_node = u;
  if (!uint_field(root, "next_net", 0xFFFF, &u, 1)) return (*error = "next_net is not a network id"), false;
  st->next_net = u;
  if (!uint_field(root, "term", UINT64_MAX, &u, 0)) return (*error = "term is not an unsigned number"), false;
  st->term = u;
  st->start_time = time_s_of(root, "start_time");

  const json_t* nodes = json_object_get(root, "nodes");
  const json_t* networks = json_object_get(root, "networks");
  if (nodes && !json_is_object(nodes) && !json_is_null(nodes)) return (*error = "nodes is not an object"), false;
  if (networks && !json_is_object(networks) && !json_is_null(networks))
    return (*error = "networks is not an object"), false;
  const char* k;
  json_t* v;
  if (json_is_object(nodes)) json_object_foreach(const_cast<json_t*>(nodes), k, v) parse_node(k, v, st);
  if (json_is_object(networks)) json_object_foreach(const_cast<json_t*>(networks), k, v) parse_network(k, v, st);

  const json_t* pairs = json_object_get(root, "trust_pairs");
  size_t i;
  const json_t* p;
  if (json_is_array(pairs))
    json_array_foreach(pairs, i, p) {
      std::string s = json_is_string(p) ? json_string_value(p) : "";
      size_t colon = s.find(':');
      uint64_t a, b;
      if (colon == std::string::npos || !id_key(s.substr(0, colon).c_str(), 0xFFFFFFFFull, &a) ||
          !id_key(s.substr(colon + 1).c_str(), 0xFFFFFFFFull, &b) || a == b) {
        st->warnings.push_back("trust pair \"" + s + "\" does not read as <id>:<id>; dropped");
        continue;
      }
      st->trust.insert({uint32_t(std::min(a, b)), uint32_t(std::max(a, b))});
    }

  const json_t* idx = json_object_get(root, "pub_key_idx");
  if (json_is_object(idx))
    json_object_foreach(const_cast<json_t*>(idx), k, v) {
      PublicKey key;
      uint64_t id;
      if (!decode_public_key(k, &key) || !as_uint(v, 0xFFFFFFFFull, &id) || id == 0) {
        st->warnings.push_back("pub_key_idx entry does not decode; dropped");
        continue;
      }
      st->key_index.emplace(raw_key(key), uint32_t(id));  // a live node's own key wins (§3.6)
    }

  for_each_inbox(root, "invite_inbox", st, [&](uint32_t target, const json_t* o) {
    uint64_t net = 0, inviter = 0;
    if (!uint_field(o, "network_id", 0xFFFF, &net) || !uint_field(o, "inviter_id", 0xFFFFFFFFull, &inviter) || !net) {
      st->warnings.push_back("invite for node " + std::to_string(target) + " does not decode; dropped");
      return;
    }
    st->invites[target].push_back({uint16_t(net), uint32_t(inviter), time_s_of(o, "timestamp")});
  });
  for_each_inbox(root, "handshake_inbox", st, [&](uint32_t target, const json_t* o) {
    uint64_t from = 0;
    if (!uint_field(o, "from_node_id", 0xFFFFFFFFull, &from) || !from) {
      st->warnings.push_back("handshake request for node " + std::to_string(target) + " does not decode; dropped");
      return;
    }
    st->handshakes[target].push_back({uint32_t(from), str_of(o, "justification"), time_ns_of(o, "timestamp")});
  });
  for_each_inbox(root, "handshake_responses", st, [&](uint32_t target, const json_t* o) {
    uint64_t from = 0;
    if (!uint_field(o, "from_node_id", 0xFFFFFFFFull, &from) || !from) {
      st->warnings.push_back("handshake response for node " + std::to_string(target) + " does not decode; dropped");
      return;
    }
    st->responses[target].push_back({uint32_t(from), bool_of(o, "accept"), time_ns_of(o, "timestamp")});
  });

  const json_t* audit = json_object_get(root, "audit_log");
  if (json_is_array(audit))
    json_array_foreach(audit, i, p) {
      if (!json_is_object(p)) continue;
      AuditEntry e;
      e.timestamp = time_s_of(p, "timestamp");
      e.action = str_of(p, "action");
      uint64_t net = 0, node = 0;
      uint_field(p, "network_id", 0xFFFF, &net);
      uint_field(p, "node_id", 0xFFFFFFFFull, &node);
      e.network_id = uint16_t(net);
      e.node_id = uint32_t(node);
      e.details = str_of(p, "details");
      if (e.action.empty()) continue;
      st->audit.push_back(std::move(e));
    }

  // Enterprise configuration. URLs are checked as the Go loader checks them (§3.6): a
  // configuration whose endpoint is not http(s) is skipped with a warning.
  auto http_url = [](const std::string& u) {
    return (u.rfind("http://", 0) == 0 && u.size() > 7) || (u.rfind("https://", 0) == 0 && u.size() > 8);
  };
  if (const json_t* o = json_object_get(root, "idp_config"); json_is_object(o)) {
    GoIdp idp{str_of(o, "type"), str_of(o, "url"), str_of(o, "issuer"), str_of(o, "client_id"), str_of(o, "tenant_id"),
              str_of(o, "domain")};
    if (http_url(idp.url)) st->idp = std::move(idp);
    else st->warnings.push_back("idp_config: url is not an http(s) URL; not imported");
  }
  if (const json_t* o = json_object_get(root, "audit_export_config"); json_is_object(o)) {
    GoAuditExport ex{str_of(o, "format"), str_of(o, "endpoint"), str_of(o, "token"), str_of(o, "index"),
                     str_of(o, "source")};
    if (!ex.format.empty() && http_url(ex.endpoint)) st->audit_export = std::move(ex);
    else st->warnings.push_back("audit_export_config: no format or no http(s) endpoint; not imported");
  }
  if (const json_t* o = json_object_get(root, "rbac_pre_assign"); json_is_object(o))
    json_object_foreach(const_cast<json_t*>(o), k, v) {
      uint64_t net;
      if (!id_key(k, 0xFFFF, &net) || !json_is_array(v)) {
        st->warnings.push_back(std::string("rbac_pre_assign: key \"") + k + "\" is not a network id; dropped");
        continue;
      }
      json_array_foreach(v, i, p) {
        std::string ext = str_of(p, "external_id"), role = str_of(p, "role");
        if (ext.empty() || (role != "owner" && role != "admin" && role != "member")) {
          st->warnings.push_back("rbac_pre_assign of network " + std::to_string(net) +
                                 ": an entry without external_id or with role \"" + role + "\"; dropped");
          continue;
        }
        st->preassign[{uint16_t(net), ext}] = role;
      }
    }

  // What this build reads, what it knowingly leaves behind (dashboard-only counters), and the
  // rest, which the report names so an operator knows it was not carried over.
  static const char* const kRead[] = {"version",      "next_node",     "next_net",        "nodes",
                                      "networks",     "trust_pairs",   "pub_key_idx",     "handshake_inbox",
                                      "handshake_responses", "invite_inbox", "audit_log", "term",
                                      "checksum",     "start_time",    "idp_config",      "audit_export_config", "rbac_pre_assign",    "total_nodes",     "online_nodes",
                                      "trust_links",  "unique_tags",   "task_executors"};
  json_object_foreach(const_cast<json_t*>(root), k, v) {
    bool known = false;
    for (const char* r : kRead) known = known || std::strcmp(r, k) == 0;
    if (!known) st->not_imported.emplace_back(k);
  }
  return true;
}

}  // namespace

bool parse_go_time_ns(std::string_view text, int64_t* ns) {
  int64_t s;
  if (!parse_rfc3339(text, &s)) return false;
  int64_t frac = 0;
  if (text.size() > 19 && text[19] == '.') {
    int digits = 0;
    for (size_t i = 20; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++)
      if (digits < 9) {
        frac = frac * 10 + (text[i] - '0');
        digits++;
      }
    for (; digits < 9; digits++) frac *= 10;
  }
  if (s < -9200000000LL || s > 9200000000LL) return false;
  *ns = s * 1000000000 + frac;
  return true;
}

Checksum raw_checksum(std::string_view raw) {
  Checksum c;
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
    raw.remove_suffix(1);
  if (raw.size() < kSuffixLen + 1 || raw.back() != '}' || raw[raw.size() - 2] != '"') return c;
  size_t at = raw.size() - kSuffixLen;
  if (raw.substr(at, kChecksumPrefix.size()) != kChecksumPrefix) return c;
  std::string_view hex = raw.substr(at + kChecksumPrefix.size(), kHexLen);
  if (!std::all_of(hex.begin(), hex.end(), is_hex)) return c;
  c.present = true;
  for (char h : hex) c.expected += lower(h);

  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(raw.data()), at);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>("}"), 1);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  static const char* const kDigits = "0123456789abcdef";
  for (unsigned char b : digest) {
    c.computed += kDigits[b >> 4];
    c.computed += kDigits[b & 15];
  }
  c.ok = sodium_memcmp(c.computed.data(), c.expected.data(), kHexLen) == 0;
  return c;
}

bool parse_snapshot(std::string_view raw, GoState* out, std::string* error) {
  json_error_t jerr;
  JsonPtr root(json_loadb(raw.data(), raw.size(), 0, &jerr));
  if (!root) {
    *error = "snapshot is not valid JSON: " + std::string(jerr.text) + " (line " + std::to_string(jerr.line) +
             ", column " + std::to_string(jerr.column) + ")";
    return false;
  }
  if (!json_is_object(root.get())) {
    *error = "snapshot is not a JSON object";
    return false;
  }
  uint64_t version = 0;
  if (!uint_field(root.get(), "version", 1000000, &version) || version > uint64_t(kNewestVersion)) {
    *error = "snapshot version " + compact(json_object_get(root.get(), "version")) +
             " is not one this build reads (0 and 1); refusing to guess at its format";
    return false;
  }
  Checksum cs = raw_checksum(raw);
  const json_t* key = json_object_get(root.get(), "checksum");
  if (key) {
    std::string v = json_is_string(key) ? json_string_value(key) : "";
    for (char& ch : v) ch = lower(ch);
    if (!cs.present || v != cs.expected) {
      *error = "snapshot has a \"checksum\" key that is not the file's last key; its bytes cannot be verified";
      return false;
    }
  }
  if (version >= 1 && !cs.present) {
    *error = "snapshot version " + std::to_string(version) + " has no checksum; refusing an unverifiable file";
    return false;
  }
  if (cs.present && !cs.ok) {
    *error = "snapshot checksum mismatch: expected " + cs.expected + ", computed " + cs.computed;
    return false;
  }
  GoState st;
  st.version = int(version);
  if (!parse_root(root.get(), &st, error)) {
    *error = "snapshot: " + *error;
    return false;
  }
  *out = std::move(st);
  return true;
}

std::string apply_wal_entry(GoState* st, uint8_t type, uint32_t entry_node_id, const json_t* data, int64_t now_s,
                            bool* changed) {
  *changed = false;
  const json_t* d = json_is_object(data) ? data : nullptr;
  static json_t* const kEmpty = json_object();  // never freed: read-only stand-in for a missing payload
  if (!d) d = kEmpty;
  uint64_t node = 0, net = 0;
  if (!uint_field(d, "node_id", 0xFFFFFFFFull, &node)) return "node_id is not a node id";
  if (node == 0) node = entry_node_id;
  if (!uint_field(d, "network_id", 0xFFFF, &net)) return "network_id is not a network id";
  uint32_t id = uint32_t(node);
  uint16_t nid = uint16_t(net);

  switch (type) {
    case kWalRegister: {
      if (id == 0) return "register without node_id";
      std::string pub = str_of(d, "public_key");
      if (pub.empty()) return "register of node " + std::to_string(id) + " without public_key";
      Node n;
      if (!decode_public_key(pub, &n.public_key))
        return "register of node " + std::to_string(id) + ": public_key does not decode";
      if (st->nodes.count(id)) return "";
      int64_t created_ns = time_ns_of(d, "created_at");
      if (!created_ns) created_ns = now_s * 1000000000;
      n.id = id;
      n.owner = str_of(d, "owner");
      n.real_addr = str_of(d, "real_addr");
      n.hostname = str_of(d, "hostname");
      n.lan_addrs = strings_of(d, "lan_addrs");
      n.version = str_of(d, "version");
      n.networks = {0};
      n.created_at = created_ns / 1000000000;
      st->key_index[raw_key(n.public_key)] = id;
      st->last_seen_ns[id] = created_ns;
      st->nodes[id] = std::move(n);
      st->next_node = std::max<uint64_t>(st->next_node, uint64_t(id) + 1);
      *changed = true;
      return "";
    }
    case kWalDeregister: {
      auto it = st->nodes.find(id);
      if (it == st->nodes.end()) return "";
      auto k = st->key_index.find(raw_key(it->second.public_key));
      if (k != st->key_index.end() && k->second == id) st->key_index.erase(k);
      for (auto& [_, g] : st->networks) {
        std::erase(g.members, id);
        g.roles.erase(id);
        g.member_tags.erase(id);
      }
      st->last_seen_ns.erase(id);
      st->nodes.erase(it);
      *changed = true;
      return "";
    }
    case kWalNetworkCreate: {
      if (nid == 0 || st->networks.count(nid)) return "";
      GoNetwork g;
      g.net.id = nid;
      g.net.name = str_of(d, "name");
      g.net.join_rule = str_of(d, "join_rule");
      if (g.net.join_rule.empty()) g.net.join_rule = "open";
      g.net.token = str_of(d, "token");
      g.net.admin_token = str_of(d, "admin_token");
      g.net.enterprise = bool_of(d, "enterprise");
      g.net.created = time_s_of(d, "created_at");
      if (!g.net.created) g.net.created = now_s;
      uint64_t creator = 0;
      uint_field(d, "creator_node_id", 0xFFFFFFFFull, &creator);
      if (creator) {
        g.members.push_back(uint32_t(creator));
        g.roles[uint32_t(creator)] = "owner";
        auto it = st->nodes.find(uint32_t(creator));
        if (it != st->nodes.end()) add_network_to_node(it->second, nid);
      }
      st->networks[nid] = std::move(g);
      st->next_net = std::max<uint64_t>(st->next_net, uint64_t(nid) + 1);
      *changed = true;
      return "";
    }
    case kWalNetworkDelete: {
      auto it = st->networks.find(nid);
      if (it == st->networks.end()) return "";
      for (uint32_t m : it->second.members) {
        auto n = st->nodes.find(m);
        if (n != st->nodes.end()) drop_network_from_node(n->second, nid);
      }
      st->networks.erase(it);
      *changed = true;
      return "";
    }
    case kWalNetworkJoin:
    case kWalNetworkLeave: {
      auto g = st->networks.find(nid);
      auto n = st->nodes.find(id);
      if (g == st->networks.end() || n == st->nodes.end()) return "";
      std::vector<uint32_t>& members = g->second.members;
      bool member = std::find(members.begin(), members.end(), id) != members.end();
      bool listed = std::find(n->second.networks.begin(), n->second.networks.end(), nid) != n->second.networks.end();
      if (type == kWalNetworkJoin) {
        if (member && listed) return "";
        if (!member) {
          members.push_back(id);
          g->second.roles.emplace(id, "member");
        }
        add_network_to_node(n->second, nid);
      } else {
        if (!member && !listed) return "";
        std::erase(members, id);
        g->second.roles.erase(id);
        g->second.member_tags.erase(id);
        drop_network_from_node(n->second, nid);
      }
      *changed = true;
      return "";
    }
    case kWalKeyRotation: {
      if (id == 0) return "key_rotation without node_id";
      std::string pub = str_of(d, "new_public_key");
      PublicKey key;
      if (pub.empty()) return "key_rotation of node " + std::to_string(id) + " without new_public_key";
      if (!decode_public_key(pub, &key))
        return "key_rotation of node " + std::to_string(id) + ": new_public_key does not decode";
      auto it = st->nodes.find(id);
      if (it == st->nodes.end()) return "";
      Node& n = it->second;
      if (n.public_key == key) return "";  // already applied (the snapshot has the new key)
      auto old = st->key_index.find(raw_key(n.public_key));
      if (old != st->key_index.end() && old->second == id) st->key_index.erase(old);
      st->key_index[raw_key(key)] = id;
      n.public_key = key;
      n.rotated_at = time_s_of(d, "rotated_at");
      if (!n.rotated_at) n.rotated_at = now_s;
      n.rotate_count++;
      if (bool_of(d, "clear_badge")) {
        n.badge.clear();
        n.badge_sig.clear();
        n.verification_provider.clear();
        n.verified_at = 0;
      }
      *changed = true;
      return "";
    }
    default:
      return "";
  }
}

WalReport replay_wal(std::string_view bytes, GoState* st, int64_t now_s) {
  WalReport r;
  size_t pos = 0;
  uint64_t n = 0;
  while (bytes.size() - pos >= 4) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data() + pos);
    uint32_t len = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    n++;
    if (len > kMaxWalEntryBytes) {
      r.stopped = true;
      r.stop_reason = "WAL entry " + std::to_string(n) + " too large (" + std::to_string(len) + " bytes, max " +
                      std::to_string(kMaxWalEntryBytes) + ")";
      r.unread_bytes = bytes.size() - pos;
      return r;
    }
    if (bytes.size() - pos - 4 < len) {  // torn tail: the end of the log
      r.torn_bytes = bytes.size() - pos;
      return r;
    }
    std::string_view rec = bytes.substr(pos + 4, len);
    pos += 4 + size_t(len);
    r.records++;
    json_error_t jerr;
    JsonPtr e(json_loadb(rec.data(), rec.size(), 0, &jerr));
    uint64_t type = 0, node = 0;
    if (!e || !json_is_object(e.get()) || !uint_field(e.get(), "type", 255, &type) ||
        !uint_field(e.get(), "node_id", 0xFFFFFFFFull, &node)) {
      r.skipped_corrupt++;
      r.warnings.push_back("WAL: skipping corrupt entry " + std::to_string(n));
      continue;
    }
    switch (type) {
      case kWalRegister: case kWalDeregister: case kWalNetworkCreate: case kWalNetworkJoin:
      case kWalNetworkLeave: case kWalKeyRotation: case kWalNetworkDelete:
        break;
      default:
        r.skipped_type++;
        continue;
    }
    bool changed = false;
    std::string err = apply_wal_entry(st, uint8_t(type), uint32_t(node), json_object_get(e.get(), "data"), now_s, &changed);
    if (!err.empty()) {
      r.stopped = true;
      r.stop_reason = "WAL entry " + std::to_string(n) + ": " + err;
      r.unread_bytes = bytes.size() - pos;
      return r;
    }
    if (changed) r.applied++;
    else r.noop++;
  }
  // A 1-3 byte remainder: a torn length prefix, the end of the log too.
  r.torn_bytes += bytes.size() - pos;
  return r;
}

}  // namespace rdv::gosnap
