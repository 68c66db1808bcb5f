// The message table: every message the registry serves is declared once, next to its handler
// in its area's file (nodes.cc, directory.cc, control.cc, …), by one MessageDesc. Everything
// else — dispatch, the standby gate, what is verified ahead on the pool, whether it runs on
// the loop's snapshot or in the writer's transaction, the metrics label, the change-record
// type, the binary opcode — is read from the descriptor. Adding a message is one entry in one
// area file (plus its tests); tests/unit/message_table_test.cc checks the table's rules.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "outbound_call.h"
#include "request.h"

namespace rdv::registry {

// Where a message runs.
enum class Access : uint8_t {
  Read,   // event-loop thread, on the last committed snapshot; may only ask for Effects
  Write,  // writer thread, in its own nested transaction of the batch; acknowledged after commit
};

// Authorisation class (wire-protocol §4.3). Local: only the local operator (registry.sock);
// such messages do not exist for daemons (they get the unknown-type error).
enum class Auth : uint8_t { Open, Sig, SigOrAdmin, Admin, Local };

// Who signs: a node id taken from the message, or (register) the key the message carries.
struct Signer {
  uint32_t node_id = 0;
  std::string_view public_key_b64;
};

using JsonHandler = Outcome (*)(Request&);
// Appends one binary reply frame (wire-protocol §7) to `out`.
using BinaryHandler = void (*)(Request&, std::string& out);
using SignerFn = Signer (*)(const Message&);
using ChallengeFn = std::string (*)(const Message&);
// Binary requests: the signer, challenge and raw signature found in the payload, if any.
using BinarySignatureFn = bool (*)(std::string_view payload, uint32_t* signer, std::string* challenge,
                                   const uint8_t** sig);
// An outbound HTTP step (fetcher.h) the handler needs: called on the loop when the request's
// turn comes, with a read Request on the last committed snapshot (which includes the
// connection's own earlier writes); returns the call to make, or nothing. The request waits
// for the call in its own connection's queue; its handler then finds the result in
// Request::fetched. It must be cheap and change nothing (no effects are applied).
using FetchFn = std::optional<OutboundCall> (*)(Request&);

struct MessageDesc {
  std::string_view type;           // the JSON "type"; also the metrics label (metrics.h table)
  Access access;
  Auth auth;
  bool standby_ok;                 // served on a hot standby (wire §2.9 step 3)
  JsonHandler handler;
  SignerFn signer = nullptr;       // signed messages: whose signature…
  ChallengeFn challenge = nullptr; // …over which bytes (wire §4.2); verified ahead on the pool
  ChangeType change = ChangeType::Init;  // the change-record type of a write
  bool verify_window = false;      // heartbeat: skipped ahead when verified within 120 s (§4.5)
  // A write that a standby still serves, as a read: the handler then sees write_txn == null and
  // answers without writing (poll_handshakes, poll_invites: on the allowlist of §2.9, though on
  // a leader they drain or prune their inbox).
  bool standby_read = false;
  bool raw_errors = false;         // error texts bypass the sanitiser (subscribe_replication)
  uint8_t opcode = 0;              // native binary opcode (0: JSON only)
  BinaryHandler binary = nullptr;
  BinarySignatureFn binary_signature = nullptr;
  FetchFn fetch = nullptr;         // JSON requests only (register's identity webhook, validate_token's JWKS)
};

// Each area's descriptors (defined in its file).
std::span<const MessageDesc> node_messages();       // nodes.cc
std::span<const MessageDesc> directory_messages();  // directory.cc
std::span<const MessageDesc> control_messages();    // control.cc
std::span<const MessageDesc> identity_messages();   // identity.cc
std::span<const MessageDesc> tokens_messages();     // tokens.cc
std::span<const MessageDesc> networks_messages();   // networks.cc
std::span<const MessageDesc> invites_messages();    // invites.cc
std::span<const MessageDesc> roles_messages();      // roles.cc
std::span<const MessageDesc> trust_messages();      // trust.cc
std::span<const MessageDesc> policy_messages();     // policy.cc
std::span<const MessageDesc> routing_messages();    // routing.cc
std::span<const MessageDesc> enterprise_messages(); // enterprise.cc
std::span<const MessageDesc> events_messages();     // events.cc: subscribe_events
// Local-only (Auth::Local) messages the admin worker sends on registry.sock for operators.
std::span<const MessageDesc> operator_messages();          // operator.cc: banner, whitelist, breakers, log level
std::span<const MessageDesc> operator_member_messages();   // operator_members.cc: kick, role change
std::span<const MessageDesc> accept_messages();            // accept.cc: the pending-registration queue

// The whole table, in area order.
std::span<const MessageDesc* const> all_messages();
const MessageDesc* find_message(std::string_view type);
const MessageDesc* find_opcode(uint8_t opcode);

// The table's rules, for the unit test and a start-up self-check: "" or the first violation.
std::string check_message_table();

}  // namespace rdv::registry
