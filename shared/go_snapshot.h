// The Go server's persistence, read for migration (ops-spec §3.3–§3.5): its `registry.json`
// snapshot and its `.wal`, decoded into an in-memory model of the registry that
// supervisor/import.cc then writes into our LMDB store.
//
// Pure: no file, clock or store access here (the caller passes the bytes and "now"), so every
// rule is unit-tested on byte strings (tests/unit/go_snapshot_test.cc).
//
// Checksum (§3.4): verified on the RAW bytes, as the spec recommends — SHA-256 over the file
// with the trailing `,"checksum":"<64 hex>"` removed and the final `}` restored, which is
// exactly what the Go writer hashed. Go's own loader re-encodes the parsed object instead and
// so calls good files corrupt when a string holds `<`, `>` or `&` or a newer binary added a
// field; that quirk is deliberately not reproduced.
//
// WAL (§3.5): 4-byte little-endian length records of JSON DeltaEntry objects, replayed in file
// order on top of the snapshot with the idempotent apply rules of §3.5.4:
//   - EOF or a short length prefix ends the log (no error);
//   - a length above 1 MiB stops the replay with an error (`WAL entry N too large`);
//   - a short data read (torn tail) ends the log (no error; the torn bytes are counted);
//   - a record whose JSON does not parse is skipped with a warning;
//   - an entry whose application fails (e.g. a register without a decodable key) stops the
//     replay; the entries before it stay applied.
// This is what the Go server itself would have loaded had it restarted on these files.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json.h"
#include "model.h"

namespace rdv::gosnap {

// Snapshot versions this build reads: 0 (legacy G1, no version key, no checksum) and 1.
inline constexpr int kNewestVersion = 1;
inline constexpr uint32_t kMaxWalEntryBytes = 1u << 20;  // §3.5.3

// WAL entry types (§3.5.1). Only these are written to a WAL; any other type is skipped.
enum WalType : uint8_t {
  kWalRegister = 1,
  kWalDeregister = 2,
  kWalNetworkCreate = 9,
  kWalNetworkJoin = 10,
  kWalNetworkLeave = 11,
  kWalKeyRotation = 12,
  kWalNetworkDelete = 14,
};

struct GoNetwork {
  Network net;                   // member_count is set by the importer from `members`
  std::vector<uint32_t> members;  // in the snapshot's order, no duplicates
  std::map<uint32_t, std::string> roles;
  std::map<uint32_t, std::vector<std::string>> member_tags;
};

struct GoInvite {
  uint16_t network = 0;
  uint32_t inviter = 0;
  int64_t timestamp = 0;  // unix seconds
};

struct GoHandshake {
  uint32_t from = 0;
  std::string justification;
  int64_t timestamp_ns = 0;
};

struct GoHandshakeResponse {
  uint32_t from = 0;  // the responder
  bool accept = false;
  int64_t timestamp_ns = 0;
};

// Enterprise configuration (ops-spec §3.3 idp_config, audit_export_config; Go's
// wire.BlueprintIdentityProvider and wire.BlueprintAuditExport).
struct GoIdp {
  std::string type, url, issuer, client_id, tenant_id, domain;
};
struct GoAuditExport {
  std::string format, endpoint, token, index, source;  // token is a secret
};

// The registry as the Go server held it. Maps are ordered so the import is deterministic.
struct GoState {
  int version = 0;
  uint64_t next_node = 1;  // as stored (0 and values below the ids in use are fixed by the importer)
  uint64_t next_net = 1;
  uint64_t term = 0;
  int64_t start_time = 0;  // unix seconds, 0 = absent
  std::map<uint32_t, Node> nodes;            // networks always start with 0
  std::map<uint32_t, int64_t> last_seen_ns;  // nodes with a last_seen
  std::map<uint16_t, GoNetwork> networks;    // never holds 0 (the backbone is ours)
  int64_t backbone_created = 0;              // network 0's `created`, when the snapshot has one
  std::set<std::pair<uint32_t, uint32_t>> trust;       // (lo, hi), lo < hi
  std::map<std::string, uint32_t> key_index;           // raw 32-byte key → node id
  std::map<uint32_t, std::vector<GoInvite>> invites;   // target → inbox
  std::map<uint32_t, std::vector<GoHandshake>> handshakes;          // target → requests
  std::map<uint32_t, std::vector<GoHandshakeResponse>> responses;   // requester → answers
  std::map<std::string, int64_t> recovery_nonces;                   // consumed nonce → expiry (unix s)
  std::optional<GoIdp> idp;                  // only with an http(s) url (§3.6: invalid ones skipped)
  std::optional<GoAuditExport> audit_export;  // only with a format and an http(s) endpoint
  std::map<std::pair<uint16_t, std::string>, std::string> preassign;  // (network, external id) → role
  std::vector<AuditEntry> audit;             // oldest first; prev_hash/hash are recomputed on import
  std::vector<std::string> warnings;         // what was dropped while decoding, one line each
  std::vector<std::string> not_imported;     // top-level keys present that this build does not carry over
};

// ---- checksum ----

struct Checksum {
  bool present = false;   // the file ends with ,"checksum":"<64 hex>"}
  bool ok = false;
  std::string expected;   // the file's value (lower-cased)
  std::string computed;   // SHA-256 of the bytes the writer hashed
};
// Locates the trailing checksum in `raw` (trailing whitespace after the final `}` is allowed)
// and, when present, hashes what the writer hashed. Never fails: a file without the suffix
// has present = false.
Checksum raw_checksum(std::string_view raw);

// ---- snapshot ----

// Parses and verifies a snapshot. False with *error (one line, naming the defect) when:
// the JSON does not parse or is not an object; `version` is not a number this build knows;
// a version-1 file has no trailing checksum; the checksum does not match ("checksum mismatch:
// expected <hex>, computed <hex>"); a `checksum` key is present but is not the file's last
// key; a required field (next_node, nodes, networks in version 1) has the wrong type.
// Entries that the Go loader itself drops (a node with an undecodable key, an inbox key that
// is not a positive integer) are dropped here too, each with a line in out->warnings.
bool parse_snapshot(std::string_view raw, GoState* out, std::string* error);

// ---- WAL ----

struct WalReport {
  uint64_t records = 0;         // complete records read
  uint64_t applied = 0;         // changed the state
  uint64_t noop = 0;            // applied idempotently with nothing to do (already there, unknown target)
  uint64_t skipped_corrupt = 0; // JSON that does not parse
  uint64_t skipped_type = 0;    // a type that is never replayed (forward compatible)
  uint64_t torn_bytes = 0;      // bytes of an incomplete last record (ignored)
  bool stopped = false;         // replay ended early on an error
  std::string stop_reason;      // "WAL entry N too large (L bytes)", "WAL entry N: <apply error>"
  uint64_t unread_bytes = 0;    // bytes after the stop point (not replayed)
  std::vector<std::string> warnings;
};

// Applies one entry (§3.5.4) to `state`. `now_s` stands in for a register without
// created_at. Returns "" or the error that stops the replay; *changed tells whether the
// state changed (false: an idempotent no-op or a skipped type).
std::string apply_wal_entry(GoState* state, uint8_t type, uint32_t entry_node_id, const json_t* data, int64_t now_s,
                            bool* changed);

// Replays a whole WAL file's bytes onto `state` (rules in the header comment).
WalReport replay_wal(std::string_view bytes, GoState* state, int64_t now_s);

// Parses Go's time.Time text (RFC 3339 with an optional fraction) to unix nanoseconds.
bool parse_go_time_ns(std::string_view text, int64_t* ns);

}  // namespace rdv::gosnap
