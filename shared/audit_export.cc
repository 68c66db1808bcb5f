#include "audit_export.h"

#include <sodium.h>

#include <vector>

#include "json.h"
#include "util.h"

namespace rdv {

namespace {

// The details as (key, value) pairs, in order (see audit_details_object).
std::vector<std::pair<std::string, std::string>> details_pairs(std::string_view details) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= details.size() && !details.empty()) {
    size_t end = details.find(", ", pos);
    std::string_view seg = details.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    size_t eq = seg.find('=');
    // A key is an identifier: a segment without one continues the previous value.
    bool is_pair = eq != std::string_view::npos && eq > 0 &&
                   seg.substr(0, eq).find_first_of(" ,{}\"") == std::string_view::npos;
    if (is_pair || out.empty()) {
      if (is_pair) out.emplace_back(std::string(seg.substr(0, eq)), std::string(seg.substr(eq + 1)));
      else out.emplace_back(std::string(seg), "");
    } else {
      out.back().second += ", ";
      out.back().second.append(seg);
    }
    if (end == std::string_view::npos) break;
    pos = end + 2;
  }
  return out;
}

}  // namespace

int cef_severity(std::string_view action) {
  if (action.find("kick") != std::string_view::npos || action.find("delete") != std::string_view::npos) return 6;
  if (action.find("promote") != std::string_view::npos || action.find("demote") != std::string_view::npos) return 4;
  return 3;
}

std::string cef_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '=': out += "\\="; break;
      case '|': out += "\\|"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

ExportBody format_export(const ExportFormat& f, const AuditEntry& e) {
  ExportBody out;
  if (f.format == "syslog_cef") {
    std::string action = cef_escape(e.action);
    std::string& b = out.body;
    b = "CEF:0|Pilot|Registry|1.0|" + action + "|" + action + "|" + std::to_string(cef_severity(e.action)) +
        "|dvc=pilot-registry dvchost=registry cs1=" + action + " cs1Label=action cn1=" + std::to_string(e.network_id) +
        " cn1Label=network_id cn2=" + std::to_string(e.node_id) + " cn2Label=node_id";
    if (!e.details.empty()) b += " msg=" + cef_escape(e.details);
    out.content_type = "text/plain";
    return out;
  }
  out.content_type = "application/json";
  JsonWriter w(out.body);
  if (f.format == "splunk_hec") {
    // The entry's time is whole seconds already (never unparsable here); 0 would be "now".
    int64_t t = e.timestamp > 0 ? e.timestamp : unix_now();
    w.begin_object().num("time", t).str("source", f.source.empty() ? "pilot-registry" : f.source);
    w.str("sourcetype", "pilot:audit");
    if (!f.index.empty()) w.str("index", f.index);
    w.key("event").begin_object().str("action", e.action);
    if (!e.details.empty()) w.str("details", e.details);
    w.num("network_id", e.network_id).num("node_id", e.node_id).end_object();
    w.end_object();
    return out;
  }
  w.begin_object().str("timestamp", rfc3339_utc(e.timestamp)).str("action", e.action);
  if (e.network_id) w.num("network_id", e.network_id);
  if (e.node_id) w.num("node_id", e.node_id);
  if (!e.details.empty()) w.str("details", e.details);
  if (!e.prev_hash.empty()) w.str("prev_hash", e.prev_hash);
  if (!e.hash.empty()) w.str("hash", e.hash);
  w.end_object();
  return out;
}

json_t* audit_details_object(std::string_view details) {
  json_t* obj = json_object();
  for (auto& [k, v] : details_pairs(details)) json_object_set_new(obj, k.c_str(), json_stringn(v.data(), v.size()));
  return obj;
}

std::string webhook_body(uint64_t event_id, const AuditEntry& e) {
  std::string body;
  JsonWriter(body).begin_object().num("event_id", int64_t(event_id)).str("action", e.action).str("timestamp",
                                                                                              rfc3339_utc(e.timestamp));
  auto pairs = details_pairs(e.details);
  if (!pairs.empty() || e.network_id || e.node_id) {
    // By hand: the keys come from the log, so they are escaped like values.
    body += ",\"details\":{";
    bool first = true;
    auto member = [&](std::string_view k) {
      if (!first) body += ',';
      first = false;
      json_append_string(body, k);
      body += ':';
    };
    if (e.network_id) member("network_id"), body += std::to_string(e.network_id);
    if (e.node_id) member("node_id"), body += std::to_string(e.node_id);
    for (auto& [k, v] : pairs)
      if (k != "network_id" && k != "node_id") {
        member(k);
        json_append_string(body, v);
      }
    body += '}';
  }
  body += '}';
  return body;
}

std::string hmac_sha256_hex(std::string_view secret, std::string_view body) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof st);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : mac) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace rdv
