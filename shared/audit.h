// The audit log's pure rules (ops-spec §7): building an entry's details from attributes,
// redacting secrets (§7.4, the newest contract), and the hash chain (§7.1) — computed on the
// live log, which the original left unchained. The registry appends entries in the same LMDB
// transaction as the change they describe (worker-registry/request.h Write::audit).
//
// Everything here is a pure function of its arguments; any thread may call it.
#pragma once

#include <jansson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model.h"

namespace rdv {

using AuditAttrs = std::vector<std::pair<std::string, std::string>>;

// The text that stands in for a secret value.
inline constexpr const char* kAuditRedacted = "<redacted>";

// Whether `key` names a secret (case-insensitive): token, admin_token, password, passwd,
// secret, api_key, apikey, private_key, signature, challenge, auth, authorization, bearer,
// credential, credentials, or any key ending in _token, _secret, _password or _key.
bool audit_key_is_secret(std::string_view key);

// A value with embedded secrets redacted. Three forms are recognised:
//   * JSON text, whole ({"token":"…"} at any depth) or embedded in other text
//     (`retry {"api_key":"…"}`): the secret key's value becomes "<redacted>";
//   * k=v lists ("api_key=…, x=1", URL queries "?token=…&x=1"): the value becomes <redacted>;
//     a value that is an HTTP auth scheme ("Bearer abc", "Basic abc") loses its credential too;
//   * free text carrying "Bearer <credential>": the credential goes.
// A string without secrets comes back byte for byte (so a clean "host=ex.com,port=8443" is
// unchanged).
std::string redact_embedded(std::string_view value);

// Redacts a JSON value in place, the RedactMap of §7.4: every object member whose key is
// secret gets the string "<redacted>", at any depth (inside arrays too); other string values
// pass through redact_embedded. null stays null, {} stays {}. Returns whether anything changed.
bool audit_redact_json(json_t* value);

// "k=v, k=v" in attribute order; secret keys' values become "<redacted>", other values pass
// through redact_embedded. node_id / network_id attributes never appear in the details.
std::string audit_details(const AuditAttrs& attrs);

// hex(SHA-256(prev_hash ‖ timestamp (RFC 3339) ‖ action ‖ u16 BE network_id ‖ u32 BE node_id ‖
// details)), the link of ops-spec §7.1.
std::string audit_hash(const AuditEntry& e);

// Index of the first entry whose link is broken (its prev_hash is not the previous entry's
// hash, or its hash is not audit_hash of itself), or -1. `entries` are oldest first. The first
// entry's prev_hash is whatever the log started from (the oldest kept entries may have been
// trimmed), so only its own hash is checked.
long audit_chain_break(const std::vector<AuditEntry>& entries);

}  // namespace rdv
