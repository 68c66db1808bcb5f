// Pinned Ed25519 keyrings and the signed identity statements they verify (wire-protocol
// §6.1.6, §6.1.7): verified-address badges and recovery enrollments, signed by the online
// badge issuer, and recovery authorisations, signed only by the cold recovery authority.
//
// The registry never contacts an issuer: every statement is checked offline against the
// keyring named by an operator flag (-badge-issuer-keys FILE, -recovery-keys FILE). A keyring
// file is JSON,
//
//   {"keys":[{"kid":"bdg-v1","public_key":"<std base64 of the 32-byte Ed25519 key>"}, …]}
//
// A statement's kid selects the key, so an issuer can rotate by shipping the new key beside the
// old one. The two keyrings are separate on purpose: a compromised online badge key must not be
// able to sign a recovery (which force-rotates an address to a new key).
//
// Statement formats (the exact bytes signed; fields are ':'-separated, so no field contains ':'):
//
//   pilotbadge:v1:<node_id>:<provider>:<verified_at>:<exp>:<kid>:<subject>
//   pilotenroll:v1:<node_id>:<provider>:<commitment>:<issued_at>:<kid>
//   pilotrecover:v1:<node_id>:<new_pubkey>:<commitment>:<exp>:<nonce>:<kid>
//
// Numbers are the unique base-10 spelling (no sign, no leading zeros except "0"), because the
// signed bytes are the wire string: two spellings of one value would be two signable strings.
// Times are unix seconds; a badge exp of 0 means no expiry, a recovery exp must be > 0.
//
// Every function here is pure (no I/O) except Keyring::load and the process-wide installation,
// so the rules are unit-tested without a server (tests/unit/keyring_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.h"

namespace rdv {

class Keyring {
 public:
  // Largest keyring file accepted: a keyring holds a handful of keys; a file far larger is a
  // mistake (the wrong path), not a keyring.
  static constexpr size_t kMaxFileBytes = 1 << 20;
  static constexpr size_t kMaxKidBytes = 128;

  // Parses keyring JSON text. Rules: an object with a "keys" array (may be empty); each entry an
  // object with a non-empty string "kid" (at most kMaxKidBytes, no ':', unique) and a
  // "public_key" that is standard padded base64 of 32 bytes and not all zero (an all-zero
  // Ed25519 key is a low-order point, and the usual "forgot to set it" placeholder). Other
  // members are ignored. Returns false with the reason in *why (naming the entry by index).
  static bool parse(std::string_view json_text, Keyring* out, std::string* why);

  // Reads and parses the file at `path` ("" = no keyring configured: an empty keyring, true).
  // The file is opened with O_NOFOLLOW (a symlink is refused: the path the operator named is
  // the file trusted), must be a regular file of at most kMaxFileBytes. On failure returns
  // false with *error naming the file and the reason.
  static bool load(const std::string& path, Keyring* out, std::string* error);

  // The key pinned for `kid`, or null.
  const PublicKey* find(std::string_view kid) const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string kid;
    PublicKey key;
  };
  std::vector<Entry> entries_;
};

// ---- statements ----

struct Badge {
  uint32_t node_id = 0;
  std::string provider;     // "github", "google", "workos", …
  int64_t verified_at = 0;  // unix seconds (as the issuer wrote it)
  int64_t exp = 0;          // unix seconds; 0 = no expiry
  std::string kid;
  std::string subject;      // optional public label; may be empty
};

struct Enrollment {
  uint32_t node_id = 0;
  std::string provider;
  std::string commitment;   // opaque identity commitment (never the raw identity)
  int64_t issued_at = 0;
  std::string kid;
};

struct Recovery {
  uint32_t node_id = 0;
  std::string new_pubkey;   // base64 of the key the address rotates to, as signed
  std::string commitment;
  int64_t exp = 0;          // unix seconds, > 0
  std::string nonce;        // single-use (the registry records used ones)
  std::string kid;
};

// Parsers: structure only, no signature. Each returns "" or the reason ("want 8 fields, got 3",
// "node_id is not canonical decimal: \"01\"", …). A statement of another type is refused by its
// prefix (domain separation: a badge can never pass as a recovery).
std::string parse_badge(std::string_view s, Badge* out);
std::string parse_enrollment(std::string_view s, Enrollment* out);
std::string parse_recovery(std::string_view s, Recovery* out);

// The canonical string of a badge (the bytes an issuer signs). Empty when a field cannot be
// encoded (empty provider or kid, a ':' in provider, kid or subject).
std::string canonical_badge(const Badge& b);

// Full checks. Each returns "" when the statement is valid, otherwise the reason, which the
// handler puts after "badge verification failed: " (etc.):
//   badge:      parses; is in canonical form; `sig_b64` (std base64, 64 bytes) verifies under the
//               key `keyring` pins for its kid; not expired at `now` (exp 0 never expires); bound
//               to `node_id`.
//   enrollment: parses; signature verifies (online issuer keyring). Binding to the request's
//               node is the caller's check (it has its own error text, §6.1.6).
//   recovery:   parses; signature verifies against `keyring` (the cold recovery keyring); not
//               expired at `now`. Binding, window, enrollment and nonce are the caller's.
// An empty keyring verifies nothing ("unknown kid").
std::string verify_badge(const Keyring& keyring, std::string_view badge, std::string_view sig_b64, uint32_t node_id,
                         int64_t now, Badge* out);
std::string verify_enrollment(const Keyring& keyring, std::string_view enrollment, std::string_view sig_b64,
                              Enrollment* out);
std::string verify_recovery(const Keyring& keyring, std::string_view recovery, std::string_view sig_b64, int64_t now,
                            Recovery* out);

// ---- the registry worker's keyrings ----

struct IdentityKeyrings {
  Keyring issuers;   // -badge-issuer-keys: badges and enrollments
  Keyring recovery;  // -recovery-keys: recovery authorisations only
};

// Loads both files (either path may be ""). False with *error naming the file and the reason.
bool load_identity_keyrings(const std::string& issuer_path, const std::string& recovery_path, IdentityKeyrings* out,
                            std::string* error);

// The keyrings of this process. install_identity_keyrings() is called once by the registry
// worker at start-up, before the threads that read them (writer, verify pool, event loop)
// exist; from then on the object is only read, so readers need no lock. Until installed (unit
// tests that never install) both keyrings are empty. Keyrings are not reloaded on SIGHUP: a new
// trust anchor takes a restart, like the data dir.
void install_identity_keyrings(IdentityKeyrings keyrings);
const IdentityKeyrings& identity_keyrings();

}  // namespace rdv
