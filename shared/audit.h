// The audit log's pure rules (ops-spec §7): building an entry's details from attributes,
// redacting secrets (§7.4, the newest contract), and the hash chain (§7.1) — computed on the
// live log, which the original left unchained. The registry appends entries in the same LMDB
// transaction as the change they describe (worker-registry/request.h Write::audit).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model.h"

namespace rdv {

using AuditAttrs = std::vector<std::pair<std::string, std::string>>;

// Whether `key` names a secret (case-insensitive): token, admin_token, password, passwd,
// secret, api_key, apikey, private_key, signature, challenge, auth, authorization, bearer,
// credential, credentials, or any key ending in _token, _secret, _password or _key.
bool audit_key_is_secret(std::string_view key);

// A value with embedded secrets redacted: JSON text ({"token":"…"} at any depth) and k=v lists
// ("api_key=…, x=1"). A string without secrets comes back byte for byte.
std::string redact_embedded(std::string_view value);

// "k=v, k=v" in attribute order; secret keys' values become "<redacted>", other values pass
// through redact_embedded. node_id / network_id attributes never appear in the details.
std::string audit_details(const AuditAttrs& attrs);

// hex(SHA-256(prev_hash ‖ timestamp (RFC 3339) ‖ action ‖ u16 BE network_id ‖ u32 BE node_id ‖
// details)), the link of ops-spec §7.1.
std::string audit_hash(const AuditEntry& e);

// Index of the first entry whose link is broken (its prev_hash is not the previous entry's
// hash, or its hash is not audit_hash of itself), or -1. The first entry's prev_hash is
// whatever the log started from (the oldest kept entries may have been trimmed).
long audit_chain_break(const std::vector<AuditEntry>& entries);

}  // namespace rdv
