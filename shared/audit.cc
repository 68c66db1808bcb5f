#include "audit.h"

#include <sodium.h>

#include <cctype>
#include <cstring>

#include "json.h"
#include "util.h"

namespace rdv {

namespace {

constexpr size_t npos = std::string_view::npos;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(uint8_t(c)));
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::tolower(uint8_t(a[i])) != std::tolower(uint8_t(b[i]))) return false;
  return true;
}

bool is_key_char(char c) { return std::isalnum(uint8_t(c)) || c == '_' || c == '-'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// ---- JSON embedded in text ----

// s[i] is '"': the index just past the closing quote, or npos when unterminated.
size_t skip_json_string(std::string_view s, size_t i) {
  for (size_t j = i + 1; j < s.size(); j++) {
    if (s[j] == '\\') j++;
    else if (s[j] == '"') return j + 1;
  }
  return npos;
}

// s[i] is '{' or '[': the index just past its matching bracket, or npos when unbalanced.
size_t skip_json_container(std::string_view s, size_t i) {
  int depth = 0;
  for (size_t j = i; j < s.size(); j++) {
    char c = s[j];
    if (c == '"') {
      j = skip_json_string(s, j);
      if (j == npos) return npos;
      j--;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return j + 1;
    }
  }
  return npos;
}

// `"key": value` anywhere in `s` (JSON that is part of a longer text, or JSON too broken to
// parse): the values of secret keys become "<redacted>". An unterminated value runs to the end
// of the text, which is all redacted: the secret may be anything after the colon.
std::string redact_quoted_pairs(std::string_view s, bool* changed) {
  std::string out;
  size_t i = 0, copied = 0;
  while ((i = s.find('"', i)) != npos) {
    size_t end = skip_json_string(s, i);
    if (end == npos) break;
    std::string_view key = s.substr(i + 1, end - i - 2);
    size_t j = end;
    while (j < s.size() && is_space(s[j])) j++;
    if (j >= s.size() || s[j] != ':' || !audit_key_is_secret(key)) {
      i = end;
      continue;
    }
    j++;
    while (j < s.size() && is_space(s[j])) j++;
    if (j >= s.size()) break;
    size_t vend;
    if (s[j] == '"') vend = skip_json_string(s, j);
    else if (s[j] == '{' || s[j] == '[') vend = skip_json_container(s, j);
    else {
      vend = j;
      while (vend < s.size() && !std::strchr(",}] \t\r\n", s[vend])) vend++;
    }
    if (vend == npos) vend = s.size();
    if (vend == j) {
      i = j;
      continue;
    }
    out.append(s.substr(copied, j - copied));
    out += '"';
    out += kAuditRedacted;
    out += '"';
    copied = i = vend;
    *changed = true;
  }
  out.append(s.substr(copied));
  return out;
}

// ---- k=v lists ----

bool is_value_end(char c) { return c == ',' || c == '&' || c == ';' || c == '"' || c == '\'' || is_space(c); }

// The end of the value that starts at `v`: a quoted value runs to its closing quote; an HTTP
// auth scheme ("Bearer abc") takes the credential after it along.
size_t value_end(std::string_view s, size_t v) {
  if (v < s.size() && (s[v] == '"' || s[v] == '\'')) {
    size_t close = s.find(s[v], v + 1);
    return close == npos ? s.size() : close + 1;
  }
  size_t end = v;
  while (end < s.size() && !is_value_end(s[end])) end++;
  std::string_view word = s.substr(v, end - v);
  if ((equals_nocase(word, "bearer") || equals_nocase(word, "basic")) && end < s.size() && s[end] == ' ') {
    end++;
    while (end < s.size() && !is_value_end(s[end])) end++;
  }
  return end;
}

// "k=v" pairs (separated by ',', '&', ';' or blanks): secret keys' values redacted. Other
// values are scanned on, so a URL's query inside one ("url=https://h/?token=…") is redacted too.
std::string redact_pairs(std::string_view s, bool* changed) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t eq = s.find('=', i);
    if (eq == npos) {
      out.append(s.substr(i));
      break;
    }
    // The key: the run of key characters just before '='.
    size_t k = eq;
    while (k > i && is_key_char(s[k - 1])) k--;
    std::string_view key = s.substr(k, eq - k);
    out.append(s.substr(i, eq + 1 - i));
    i = eq + 1;
    if (key.empty() || !audit_key_is_secret(key)) continue;
    size_t end = value_end(s, eq + 1);
    if (end > eq + 1) {
      out += kAuditRedacted;
      *changed = true;
    }
    i = end;
  }
  return out;
}

// "Bearer <credential>" in free text (a logged header, say): the credential goes.
std::string redact_bearer(std::string_view s, bool* changed) {
  std::string out;
  size_t copied = 0;
  for (size_t i = 0; i + 7 <= s.size(); i++) {
    if (!equals_nocase(s.substr(i, 7), "bearer ") || (i > 0 && is_key_char(s[i - 1]))) continue;
    size_t v = i + 7, end = v;
    while (end < s.size() && !is_value_end(s[end])) end++;
    if (end == v || s.substr(v, end - v) == kAuditRedacted) continue;
    out.append(s.substr(copied, v - copied));
    out += kAuditRedacted;
    copied = end;
    i = end - 1;
    *changed = true;
  }
  out.append(s.substr(copied));
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

bool audit_redact_json(json_t* j) {
  bool changed = false;
  if (json_is_object(j)) {
    const char* key;
    json_t* value;
    // Replacing the value of an existing key keeps its place in the table, so the walk goes on.
    json_object_foreach(j, key, value) {
      if (audit_key_is_secret(key)) {
        json_object_set_new(j, key, json_string(kAuditRedacted));
        changed = true;
      } else {
        changed |= audit_redact_json(value);
      }
    }
  } else if (json_is_array(j)) {
    size_t i;
    json_t* value;
    json_array_foreach(j, i, value) changed |= audit_redact_json(value);
  } else if (json_is_string(j)) {
    std::string_view s(json_string_value(j), json_string_length(j));
    std::string r = redact_embedded(s);
    if (r != s) {
      json_string_setn(j, r.data(), r.size());
      changed = true;
    }
  }
  return changed;
}

std::string redact_embedded(std::string_view value) {
  size_t start = value.find_first_not_of(" \t\r\n");
  if (start != npos && (value[start] == '{' || value[start] == '[')) {
    json_error_t err;
    JsonPtr j(json_loadb(value.data(), value.size(), JSON_DECODE_ANY, &err));
    if (j) {
      if (!audit_redact_json(j.get())) return std::string(value);
      return json_dump_compact(j.get());
    }
  }
  bool changed = false;
  std::string out(value);
  if (out.find('"') != npos) out = redact_quoted_pairs(out, &changed);
  if (out.find('=') != npos) out = redact_pairs(out, &changed);
  out = redact_bearer(out, &changed);
  return changed ? out : std::string(value);
}

std::string audit_details(const AuditAttrs& attrs) {
  std::string out;
  for (auto& [key, value] : attrs) {
    if (key == "node_id" || key == "network_id") continue;
    if (!out.empty()) out += ", ";
    out += key;
    out += '=';
    out += audit_key_is_secret(key) ? std::string(kAuditRedacted) : redact_embedded(value);
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
