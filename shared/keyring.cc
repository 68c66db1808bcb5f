#include "keyring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "files.h"
#include "json.h"
#include "util.h"

namespace rdv {

// ---- keyrings ----

namespace {

bool all_zero(const PublicKey& k) {
  return std::all_of(k.begin(), k.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

bool Keyring::parse(std::string_view text, Keyring* out, std::string* why) {
  json_error_t jerr;
  JsonPtr root(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &jerr));
  if (!root) {
    *why = "not valid JSON (line " + std::to_string(jerr.line) + ": " + jerr.text + ")";
    return false;
  }
  if (!json_is_object(root.get())) {
    *why = "the top level must be an object {\"keys\":[…]}";
    return false;
  }
  const json_t* keys = json_object_get(root.get(), "keys");
  if (!json_is_array(keys)) {
    *why = "\"keys\" must be an array of {\"kid\",\"public_key\"} objects";
    return false;
  }
  Keyring ring;
  size_t i;
  const json_t* entry;
  json_array_foreach(keys, i, entry) {
    std::string at = "keys[" + std::to_string(i) + "]";
    if (!json_is_object(entry)) {
      *why = at + " is not an object";
      return false;
    }
    const json_t* kid = json_object_get(entry, "kid");
    const json_t* pub = json_object_get(entry, "public_key");
    if (!json_is_string(kid) || json_string_length(kid) == 0) {
      *why = at + ": \"kid\" must be a non-empty string";
      return false;
    }
    std::string kid_s(json_string_value(kid), json_string_length(kid));
    if (kid_s.size() > kMaxKidBytes) {
      *why = at + ": \"kid\" too long (max " + std::to_string(kMaxKidBytes) + " bytes)";
      return false;
    }
    // Statements are ':'-separated: a kid with a ':' could never be named by one.
    if (kid_s.find(':') != std::string::npos) {
      *why = at + ": \"kid\" must not contain ':'";
      return false;
    }
    if (ring.find(kid_s)) {
      *why = at + ": kid \"" + kid_s + "\" appears twice";
      return false;
    }
    if (!json_is_string(pub)) {
      *why = at + " (kid \"" + kid_s + "\"): \"public_key\" must be a base64 string";
      return false;
    }
    PublicKey key;
    if (!decode_public_key(std::string_view(json_string_value(pub), json_string_length(pub)), &key)) {
      *why = at + " (kid \"" + kid_s + "\"): \"public_key\" is not standard base64 of a 32-byte Ed25519 key";
      return false;
    }
    if (all_zero(key)) {
      *why = at + " (kid \"" + kid_s + "\"): \"public_key\" is all zeros (a placeholder, not a key)";
      return false;
    }
    ring.entries_.push_back({std::move(kid_s), key});
  }
  *out = std::move(ring);
  return true;
}

bool Keyring::load(const std::string& path, Keyring* out, std::string* error) {
  *out = Keyring{};
  if (path.empty()) return true;
  std::string text;
  bool exists = false;
  if (!read_small_file(path, kMaxFileBytes, &text, &exists, error)) return false;
  if (!exists) {
    *error = path + ": does not exist";
    return false;
  }
  std::string why;
  if (!parse(text, out, &why)) {
    *error = path + ": " + why;
    return false;
  }
  return true;
}

const PublicKey* Keyring::find(std::string_view kid) const {
  for (const Entry& e : entries_)
    if (e.kid == kid) return &e.key;
  return nullptr;
}

// ---- statements ----

namespace {

// Go's %q, enough for error texts: printable ASCII as is, the rest escaped, so a reply never
// carries bytes that are not valid UTF-8 whatever the statement held.
std::string quote(std::string_view s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += char(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", c);
      q += b;
    } else {
      q += char(c);
    }
  }
  return q + "\"";
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

bool canonical_decimal(std::string_view s) {
  if (s.empty()) return false;
  if (s == "0") return true;
  if (s[0] == '0') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A canonical non-negative decimal no larger than `max`. "" or the reason.
std::string parse_number(std::string_view field, std::string_view s, uint64_t max, uint64_t* out) {
  if (!canonical_decimal(s)) return std::string(field) + " is not canonical decimal: " + quote(s);
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d = uint64_t(c - '0');
    if (v > (max - d) / 10) return std::string(field) + " out of range: " + quote(s);
    v = v * 10 + d;
  }
  *out = v;
  return "";
}

std::string parse_u32(std::string_view field, std::string_view s, uint32_t* out) {
  uint64_t v = 0;
  std::string err = parse_number(field, s, 0xFFFFFFFFull, &v);
  if (err.empty()) *out = uint32_t(v);
  return err;
}

std::string parse_i64(std::string_view field, std::string_view s, int64_t* out) {
  uint64_t v = 0;
  std::string err = parse_number(field, s, uint64_t(INT64_MAX), &v);
  if (err.empty()) *out = int64_t(v);
  return err;
}

// The common head: `n` fields, the prefix, the version. "" or the reason.
std::string check_head(const std::vector<std::string_view>& parts, size_t n, std::string_view prefix,
                       std::string_view what) {
  if (parts.size() != n)
    return std::string(what) + " wants " + std::to_string(n) + " fields, got " + std::to_string(parts.size());
  if (parts[0] != prefix)
    return std::string(what == "enrollment" ? "not an " : "not a ") + std::string(what) + " (prefix " + quote(parts[0]) + ")";
  if (parts[1] != "v1") return "unsupported version " + quote(parts[1]);
  return "";
}

// Signature of `signed_bytes` by the key `keyring` pins for `kid`. "" or the reason.
std::string check_signature(const Keyring& keyring, std::string_view signed_bytes, std::string_view sig_b64,
                            std::string_view kid) {
  const PublicKey* key = keyring.find(kid);
  if (!key) return "unknown kid " + quote(kid);
  std::string sig;
  if (!base64_decode(sig_b64, &sig)) return "signature is not valid base64";
  if (sig.size() != 64) return "wrong signature length " + std::to_string(sig.size()) + " (want 64)";
  if (!ed25519_verify(*key, signed_bytes, reinterpret_cast<const uint8_t*>(sig.data())))
    return "signature verification failed";
  return "";
}

}  // namespace

std::string parse_badge(std::string_view s, Badge* out) {
  auto p = split(s, ':');
  if (std::string err = check_head(p, 8, "pilotbadge", "badge"); !err.empty()) return err;
  Badge b;
  if (std::string err = parse_u32("node_id", p[2], &b.node_id); !err.empty()) return err;
  if (std::string err = parse_i64("verified_at", p[4], &b.verified_at); !err.empty()) return err;
  if (std::string err = parse_i64("exp", p[5], &b.exp); !err.empty()) return err;
  if (p[3].empty()) return "provider is required";
  if (p[6].empty()) return "kid is required";
  b.provider = p[3];
  b.kid = p[6];
  b.subject = p[7];
  *out = std::move(b);
  return "";
}

std::string parse_enrollment(std::string_view s, Enrollment* out) {
  auto p = split(s, ':');
  if (std::string err = check_head(p, 7, "pilotenroll", "enrollment"); !err.empty()) return err;
  Enrollment e;
  if (std::string err = parse_u32("node_id", p[2], &e.node_id); !err.empty()) return err;
  if (std::string err = parse_i64("issued_at", p[5], &e.issued_at); !err.empty()) return err;
  if (p[3].empty() || p[4].empty() || p[6].empty()) return "enrollment has an empty required field";
  e.provider = p[3];
  e.commitment = p[4];
  e.kid = p[6];
  *out = std::move(e);
  return "";
}

std::string parse_recovery(std::string_view s, Recovery* out) {
  auto p = split(s, ':');
  if (std::string err = check_head(p, 8, "pilotrecover", "recovery"); !err.empty()) return err;
  Recovery r;
  if (std::string err = parse_u32("node_id", p[2], &r.node_id); !err.empty()) return err;
  if (std::string err = parse_i64("exp", p[5], &r.exp); !err.empty()) return err;
  // A recovery that never expires would be a permanent takeover token: not even representable.
  if (r.exp <= 0) return "recovery exp must be set (non-zero)";
  if (p[3].empty() || p[4].empty() || p[6].empty() || p[7].empty()) return "recovery has an empty required field";
  r.new_pubkey = p[3];
  r.commitment = p[4];
  r.nonce = p[6];
  r.kid = p[7];
  *out = std::move(r);
  return "";
}

std::string canonical_badge(const Badge& b) {
  auto bad = [](const std::string& v) { return v.find(':') != std::string::npos; };
  if (b.provider.empty() || b.kid.empty() || bad(b.provider) || bad(b.kid) || bad(b.subject)) return "";
  return "pilotbadge:v1:" + std::to_string(b.node_id) + ":" + b.provider + ":" + std::to_string(b.verified_at) + ":" +
         std::to_string(b.exp) + ":" + b.kid + ":" + b.subject;
}

std::string verify_badge(const Keyring& keyring, std::string_view badge, std::string_view sig_b64, uint32_t node_id,
                         int64_t now, Badge* out) {
  Badge b;
  if (std::string err = parse_badge(badge, &b); !err.empty()) return err;
  // The issuer signs the canonical form only; anything else is malformed, so the bytes
  // verified and the fields trusted can never disagree.
  if (canonical_badge(b) != badge) return "non-canonical encoding";
  if (std::string err = check_signature(keyring, badge, sig_b64, b.kid); !err.empty()) return err;
  if (b.exp != 0 && now > b.exp)
    return "badge expired: exp=" + std::to_string(b.exp) + " now=" + std::to_string(now);
  // A badge is public; only its binding to the node that proved its key makes it mean anything.
  if (b.node_id != node_id)
    return "badge node_id does not match: badge=" + std::to_string(b.node_id) + " node=" + std::to_string(node_id);
  *out = std::move(b);
  return "";
}

std::string verify_enrollment(const Keyring& keyring, std::string_view enrollment, std::string_view sig_b64,
                              Enrollment* out) {
  Enrollment e;
  if (std::string err = parse_enrollment(enrollment, &e); !err.empty()) return err;
  if (std::string err = check_signature(keyring, enrollment, sig_b64, e.kid); !err.empty()) return err;
  *out = std::move(e);
  return "";
}

std::string verify_recovery(const Keyring& keyring, std::string_view recovery, std::string_view sig_b64, int64_t now,
                            Recovery* out) {
  Recovery r;
  if (std::string err = parse_recovery(recovery, &r); !err.empty()) return err;
  if (std::string err = check_signature(keyring, recovery, sig_b64, r.kid); !err.empty()) return err;
  if (now > r.exp) return "recovery expired: exp=" + std::to_string(r.exp) + " now=" + std::to_string(now);
  *out = std::move(r);
  return "";
}

// ---- the process's keyrings ----

namespace {
IdentityKeyrings& installed() {
  static IdentityKeyrings k;
  return k;
}
}  // namespace

bool load_identity_keyrings(const std::string& issuer_path, const std::string& recovery_path, IdentityKeyrings* out,
                            std::string* error) {
  IdentityKeyrings k;
  std::string why;
  if (!Keyring::load(issuer_path, &k.issuers, &why)) {
    *error = "-badge-issuer-keys " + why;
    return false;
  }
  if (!Keyring::load(recovery_path, &k.recovery, &why)) {
    *error = "-recovery-keys " + why;
    return false;
  }
  *out = std::move(k);
  return true;
}

void install_identity_keyrings(IdentityKeyrings keyrings) { installed() = std::move(keyrings); }

const IdentityKeyrings& identity_keyrings() { return installed(); }

}  // namespace rdv
