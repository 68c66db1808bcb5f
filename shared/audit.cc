#include "audit.h"

#include <sodium.h>

#include <cctype>

#include "json.h"
#include "util.h"

namespace rdv {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(uint8_t(c)));
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

constexpr const char* kRedacted = "<redacted>";

// Walks a JSON value, replacing the values of secret keys. Returns whether anything changed.
bool redact_json(json_t* j) {
  bool changed = false;
  if (json_is_object(j)) {
    const char* key;
    json_t* value;
    json_object_foreach(j, key, value) {
      if (audit_key_is_secret(key)) {
        json_object_set_new(j, key, json_string(kRedacted));
        changed = true;
      } else {
        changed |= redact_json(value);
      }
    }
  } else if (json_is_array(j)) {
    size_t i;
    json_t* value;
    json_array_foreach(j, i, value) changed |= redact_json(value);
  }
  return changed;
}

// "k=v" pairs separated by ',' or whitespace: secret keys' values redacted.
std::string redact_pairs(std::string_view s, bool* changed) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) {
      out.append(s.substr(i));
      break;
    }
    // The key: the run of key characters just before '='.
    size_t k = eq;
    while (k > i && (std::isalnum(uint8_t(s[k - 1])) || s[k - 1] == '_' || s[k - 1] == '-')) k--;
    std::string_view key = s.substr(k, eq - k);
    size_t end = eq + 1;
    while (end < s.size() && s[end] != ',' && s[end] != ' ' && s[end] != '&' && s[end] != ';') end++;
    out.append(s.substr(i, eq + 1 - i));
    if (!key.empty() && audit_key_is_secret(key) && end > eq + 1) {
      out += kRedacted;
      *changed = true;
    } else {
      out.append(s.substr(eq + 1, end - eq - 1));
    }
    i = end;
  }
  return out;
}

}  // namespace

bool audit_key_is_secret(std::string_view key) {
  static const char* const kExact[] = {"token",   "admin_token", "password", "passwd",        "secret",
                                       "api_key", "apikey",      "private_key", "signature", "challenge",
                                       "auth",    "authorization", "bearer", "credential",    "credentials"};
  std::string k = lower(key);
  for (const char* e : kExact)
    if (k == e) return true;
  return ends_with(k, "_token") || ends_with(k, "_secret") || ends_with(k, "_password") || ends_with(k, "_key");
}

std::string redact_embedded(std::string_view value) {
  size_t start = value.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && (value[start] == '{' || value[start] == '[')) {
    json_error_t err;
    JsonPtr j(json_loadb(value.data(), value.size(), JSON_DECODE_ANY, &err));
    if (j) {
      if (!redact_json(j.get())) return std::string(value);
      return json_dump_compact(j.get());
    }
  }
  if (value.find('=') == std::string_view::npos) return std::string(value);
  bool changed = false;
  std::string out = redact_pairs(value, &changed);
  return changed ? out : std::string(value);
}

std::string audit_details(const AuditAttrs& attrs) {
  std::string out;
  for (auto& [key, value] : attrs) {
    if (key == "node_id" || key == "network_id") continue;
    if (!out.empty()) out += ", ";
    out += key;
    out += '=';
    out += audit_key_is_secret(key) ? std::string(kRedacted) : redact_embedded(value);
  }
  return out;
}

std::string audit_hash(const AuditEntry& e) {
  std::string ts = rfc3339_utc(e.timestamp);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  auto feed = [&](std::string_view s) {
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  feed(e.prev_hash);
  feed(ts);
  feed(e.action);
  unsigned char ids[6] = {uint8_t(e.network_id >> 8), uint8_t(e.network_id), uint8_t(e.node_id >> 24),
                          uint8_t(e.node_id >> 16),   uint8_t(e.node_id >> 8), uint8_t(e.node_id)};
  crypto_hash_sha256_update(&st, ids, sizeof ids);
  feed(e.details);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  static const char* const kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

long audit_chain_break(const std::vector<AuditEntry>& entries) {
  for (size_t i = 0; i < entries.size(); i++) {
    if (i > 0 && entries[i].prev_hash != entries[i - 1].hash) return long(i);
    if (entries[i].hash != audit_hash(entries[i])) return long(i);
  }
  return -1;
}

}  // namespace rdv
