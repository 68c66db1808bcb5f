// What the audit deliverer (worker-registry/delivery.h) sends: the bodies of the audit webhook
// (ops-spec §8.3) and of the audit export in its three formats (§7.3), and the webhook's HMAC.
//
// Pure functions of their arguments (any thread). Entries come from the audit database with
// their details already redacted (shared/audit.h), so nothing here can leak a secret that
// the log itself does not hold.
#pragma once

#include <jansson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "model.h"

namespace rdv {

// The audit export's settings (enterprise.h "audit_export"): format json | splunk_hec |
// syslog_cef, and the optional HEC index and source.
struct ExportFormat {
  std::string format, index, source;
};

// One export request body and its Content-Type.
struct ExportBody {
  std::string body;
  std::string content_type;
};

// §7.3:
//  json (and any unknown format): the entry object of §7.1,
//    {"timestamp","action","network_id"?,"node_id"?,"details"?,"prev_hash"?,"hash"?};
//  splunk_hec: {"time":<unix s>,"source":<source|"pilot-registry">,"sourcetype":"pilot:audit",
//    "index"?,"event":{"action","details"?,"network_id","node_id"}} (event keys in the order
//    Go's encoding/json writes a map: sorted);
//  syslog_cef: CEF:0|Pilot|Registry|1.0|<action>|<action>|<severity>|dvc=pilot-registry
//    dvchost=registry cs1=<action> cs1Label=action cn1=<net> cn1Label=network_id cn2=<node>
//    cn2Label=node_id[ msg=<details>], text/plain; action and details CEF-escaped.
ExportBody format_export(const ExportFormat& f, const AuditEntry& e);

// CEF severity of §7.3: 6 for actions containing "kick" or "delete", 4 for "promote" or
// "demote", else 3.
int cef_severity(std::string_view action);
// Backslash-escapes \, =, |, CR (as \r) and LF (as \n).
std::string cef_escape(std::string_view s);

// "k=v, k=v" details (audit_details) back as an object {"k":"v",…}. A segment without '='
// belongs to the previous value (a value that itself contained ", "). Values stay strings.
// Returns a new object (empty for empty details).
json_t* audit_details_object(std::string_view details);

// The webhook body of §8.3: {"event_id":<event_id>,"action","timestamp" (RFC 3339 UTC),
// "details"?:{…}}. The details are the entry's (redacted) details as an object, with the
// entry's non-zero network_id / node_id added as numbers, as the original's raw attribute map
// carried them; absent when there is nothing to say.
std::string webhook_body(uint64_t event_id, const AuditEntry& e);

// Lower-case hex HMAC-SHA256(secret, body): the X-Pilot-Signature-256 value (§8.3).
std::string hmac_sha256_hex(std::string_view secret, std::string_view body);

}  // namespace rdv
