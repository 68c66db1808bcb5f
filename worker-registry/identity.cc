// Keys and identity: rotate_key, set_key_expiry, get_key_info, submit_badge, enroll_recovery,
// recover_identity, set_external_id, get_identity (wire-protocol §6.1.3–§6.1.8), and their
// descriptors.
//
// Three of them replace a node's key: rotate_key (signed by the current key) and
// recover_identity (authorised by a cold-key statement instead). Both move the key index
// (the old key's entry goes, the new key maps to the node), count as activity (last_seen = now,
// written with the request like register does) and clear the heartbeat verify cache of §4.5:
// a heartbeat inside the 120 s window is accepted unsigned, and that window must not outlive
// the key that opened it.
//
// Badges, enrollments and recovery statements are verified offline against the keyrings the
// registry loaded at start-up (shared/keyring.h). Those checks run inline on the writer thread
// (one Ed25519 verification each, for rare messages); the node signatures go through the
// pool's checks ahead like every other signed message.
#include "identity.h"

#include <cinttypes>
#include <cstdio>

#include "keyring.h"
#include "message_table.h"
#include "util.h"

namespace rdv::registry {

// ---- Go's RFC 3339 parser and formatter (pure) ----

namespace {

constexpr std::string_view kRfc3339Layout = "2006-01-02T15:04:05Z07:00";

// Go's time-package quote(): bytes outside printable ASCII as \xNN, '"' and '\' escaped.
std::string go_time_quote(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x80) {
      q += "\\x";
      q += hex[c >> 4];
      q += hex[c & 15];
    } else {
      if (c == '"' || c == '\\') q += '\\';
      q += char(c);
    }
  }
  return q + "\"";
}

bool is_digit(std::string_view s, size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }

// Go's getnum: one or two digits (exactly two when `fixed`). False on a bad number.
bool getnum(std::string_view& s, bool fixed, int* out) {
  if (!is_digit(s, 0)) return false;
  if (!is_digit(s, 1)) {
    if (fixed) return false;
    *out = s[0] - '0';
    s.remove_prefix(1);
    return true;
  }
  *out = (s[0] - '0') * 10 + (s[1] - '0');
  s.remove_prefix(2);
  return true;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in(int month, int64_t year) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && leap(year) ? 29 : d[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's algorithms).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = int64_t(yoe) + era * 400 + (*m <= 2);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

std::string parse_go_rfc3339(std::string_view text, GoTime* out) {
  const std::string value_q = go_time_quote(text);
  auto cannot = [&](std::string_view rest, std::string_view elem) {
    return "parsing time " + value_q + " as " + go_time_quote(kRfc3339Layout) + ": cannot parse " +
           go_time_quote(rest) + " as " + go_time_quote(elem);
  };
  auto range = [&](std::string_view what) { return "parsing time " + value_q + ": " + std::string(what) + " out of range"; };
  auto literal = [&](std::string_view& v, char c) { return !v.empty() && v[0] == c ? (v.remove_prefix(1), true) : false; };

  std::string_view v = text;
  // 2006: four characters, the first a digit, all of them digits (Go's atoi).
  if (v.size() < 4 || !is_digit(v, 0) || !is_digit(v, 1) || !is_digit(v, 2) || !is_digit(v, 3)) return cannot(v, "2006");
  int64_t year = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
  v.remove_prefix(4);
  if (!literal(v, '-')) return cannot(v, "-");
  std::string_view hold = v;
  int month = 0;
  if (!getnum(v, true, &month)) return cannot(hold, "01");
  if (month < 1 || month > 12) return range("month");
  if (!literal(v, '-')) return cannot(v, "-");
  hold = v;
  int day = 0;
  if (!getnum(v, true, &day)) return cannot(hold, "02");
  if (!literal(v, 'T')) return cannot(v, "T");
  hold = v;
  int hour = 0;
  if (!getnum(v, false, &hour)) return cannot(hold, "15");
  if (hour >= 24) return range("hour");
  if (!literal(v, ':')) return cannot(v, ":");
  hold = v;
  int minute = 0;
  if (!getnum(v, true, &minute)) return cannot(hold, "04");
  if (minute >= 60) return range("minute");
  if (!literal(v, ':')) return cannot(v, ":");
  hold = v;
  int second = 0;
  if (!getnum(v, true, &second)) return cannot(hold, "05");
  if (second >= 60) return range("second");
  // A fraction the layout does not name is accepted after '.' or ',' (Go's special case),
  // read to nanoseconds from its first nine digits.
  int32_t nanos = 0;
  if (v.size() >= 2 && (v[0] == '.' || v[0] == ',') && is_digit(v, 1)) {
    size_t n = 2;
    while (is_digit(v, n)) n++;
    int64_t ns = 0;
    size_t digits = std::min<size_t>(n, 10) - 1;
    for (size_t i = 1; i <= digits; i++) ns = ns * 10 + (v[i] - '0');
    for (size_t i = digits; i < 9; i++) ns *= 10;
    nanos = int32_t(ns);
    v.remove_prefix(n);
  }
  hold = v;
  int32_t offset = 0;
  if (!v.empty() && v[0] == 'Z') {
    v.remove_prefix(1);
  } else {
    if (v.size() < 6 || v[3] != ':') return cannot(hold, "Z07:00");
    std::string_view hh = v.substr(1, 2), mm = v.substr(4, 2);
    char sign = v[0];
    v.remove_prefix(6);
    int oh = 0, om = 0;
    bool ok = getnum(hh, true, &oh);
    if (ok) ok = getnum(mm, true, &om);
    // Go's bounds are > rather than >=: offsets of 24 h or 60 min are written by some. Its
    // range errors win over a bad sign or minute, and the minute's over the hour's.
    if (om > 60) return range("time zone offset minute");
    if (oh > 24) return range("time zone offset hour");
    if (!ok || (sign != '+' && sign != '-')) return cannot(hold, "Z07:00");
    offset = (oh * 3600 + om * 60) * (sign == '-' ? -1 : 1);
  }
  if (!v.empty()) return "parsing time " + value_q + ": extra text: " + go_time_quote(v);
  if (day < 1 || day > days_in(month, year)) return range("day");
  out->unix = days_from_civil(year, unsigned(month), unsigned(day)) * 86400 + hour * 3600 + minute * 60 + second - offset;
  out->nanos = nanos;
  out->offset = offset;
  return "";
}

std::string format_go_rfc3339(int64_t unix, int32_t offset) {
  int64_t local = unix + offset;
  int64_t days = floor_div(local, 86400);
  int64_t secs = local - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  char buf[48];
  int n = snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, m, d, int(secs / 3600),
                   int(secs / 60 % 60), int(secs % 60));
  std::string s(buf, size_t(n));
  if (offset == 0) return s + "Z";
  int32_t a = offset < 0 ? -offset : offset;
  snprintf(buf, sizeof buf, "%c%02d:%02d", offset < 0 ? '-' : '+', int(a / 3600), int(a / 60 % 60));
  return s + buf;
}

// ---- handlers ----

namespace {

constexpr int64_t kMaxExpiryAheadS = 10LL * 365 * 24 * 3600;    // §6.1.4: at most 10×365 days
constexpr int64_t kMaxRecoveryWindowNs = 30LL * 60 * 1000000000;  // §6.1.7: exp ≤ now + 30 min
// Size limits (nothing else bounds what these messages could make us store or echo). The
// statements are short ':'-separated strings; the limits sit far above real ones. A nonce is
// an LMDB key, and LMDB keys are at most 511 bytes.
constexpr size_t kMaxStatementBytes = 1024;  // badge, enrollment, recovery
constexpr size_t kMaxStatementSigBytes = 256;  // badge_sig, enrollment_sig, recovery_sig (88 when valid)
constexpr size_t kMaxNonceBytes = 128;
constexpr size_t kMaxExternalIdBytes = 256;
constexpr size_t kMaxExpiresAtBytes = 64;
// Expired recovery nonces pruned per successful recovery: bounded work per request; recoveries
// are rare, and an expired nonce left behind costs a few bytes until a later one passes by.
constexpr size_t kNoncePruneBatch = 16;

int64_t now_s(const Request& r) { return r.now_ns / 1000000000; }

std::string raw_key(const PublicKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

std::string too_long(std::string_view field, size_t max) {
  return std::string(field) + " too long (max " + std::to_string(max) + " bytes)";
}

// Go's base64.URLEncoding.DecodeString error offset (the Go server tried standard base64 and
// then URL-safe, and reported the URL-safe decoder's error), walked group by group like
// base64_error_detail does for the standard alphabet.
std::string url_base64_error_detail(std::string_view src) {
  auto in_alphabet = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  };
  auto newline = [](char c) { return c == '\r' || c == '\n'; };
  auto at = [](size_t off) { return "illegal base64 data at input byte " + std::to_string(off); };
  size_t si = 0;
  while (si < src.size()) {
    for (int j = 0; j < 4; j++) {
      if (si == src.size()) {
        if (j == 0) return at(0);
        return at(si - size_t(j));
      }
      char c = src[si++];
      if (in_alphabet(c)) continue;
      if (newline(c)) {
        j--;
        continue;
      }
      if (c != '=' || j < 2) return at(si - 1);
      if (j == 2) {
        while (si < src.size() && newline(src[si])) si++;
        if (si == src.size()) return at(src.size());
        if (src[si] != '=') return at(si - 1);
        si++;
      }
      while (si < src.size() && newline(src[si])) si++;
      if (si < src.size()) return at(si);
      return at(0);
    }
  }
  return at(0);
}

// "invalid new_public_key: …" detail, in the words register uses for its key.
std::string key_error_detail(std::string_view b64) {
  std::string raw;
  if (!base64_decode(b64, &raw)) return base64_error_detail(b64);
  return "ed25519 public key must be 32 bytes, got " + std::to_string(raw.size());
}

// The node signature of rotate_key, submit_badge and enroll_recovery, which (§3.2) also take
// URL-safe base64. Checked after the node is found. "" or the error text.
std::string check_node_signature(Request& r, const Node& node, const std::string& challenge, std::string_view sig_b64) {
  std::string raw;
  if (!base64_decode(sig_b64, &raw) && !base64_decode_any(sig_b64, &raw))
    return "invalid signature encoding: " + url_base64_error_detail(sig_b64);
  // A key-less legacy record has nothing to verify against: no signature can be valid.
  if (!node.has_key || raw.size() != 64 ||
      !r.verify(node.public_key, challenge, reinterpret_cast<const uint8_t*>(raw.data())))
    return "signature verification failed";
  return "";
}

// submit_badge and enroll_recovery: the signature is required, then the node, then the check.
std::string node_signature(Request& r, uint32_t id, const std::string& challenge, Node* node) {
  std::string_view sig = r.msg.str("signature");
  if (sig.empty()) return "missing signature";
  if (!r.view.get_node(id, node)) return node_not_found(id);
  return check_node_signature(r, *node, challenge, sig);
}

// A key that already maps to another node (live or gone: the index keeps gone nodes' keys so
// they get their id back) cannot become this node's key: the index would be taken from under
// that node, and a later register with the key would land on the wrong id.
std::string key_taken(Request& r, const PublicKey& key, uint32_t id) {
  uint32_t holder = r.view.node_for_key(key);
  if (holder && holder != id) return "new_public_key is already registered to node " + std::to_string(holder);
  return "";
}

// The key change shared by rotate_key and recover_identity: index, key metadata, liveness and
// the verify cache. The caller writes the node record.
void replace_key(Request& r, Write& w, Node& node, const PublicKey& new_key) {
  if (node.has_key && node.public_key != new_key && r.view.node_for_key(node.public_key) == node.id)
    w.del(Db::KeyIndex, raw_key(node.public_key));
  w.put(Db::KeyIndex, raw_key(new_key), key_u32(node.id));
  node.public_key = new_key;
  node.has_key = true;
  node.rotated_at = now_s(r);
  node.rotate_count++;
  // Activity, written with the request (as register does); then the cache cleared and the
  // last-seen time set again in memory, in that order.
  w.set_liveness(node.id, r.now_ns);
  r.effect(Effect::Forget, node.id);
  r.effect(Effect::SetLastSeen, node.id, r.now_ns);
}

json_t* key_reply(const char* type, const Node& node, std::string_view pub_b64) {
  std::string addr = format_address(0, node.id);
  return json_pack("{s:s, s:I, s:s, s:s%}", "type", type, "node_id", json_int_t(node.id), "address", addr.c_str(),
                   "public_key", pub_b64.data(), pub_b64.size());
}

// ---- rotate_key (§6.1.3) ----

std::string rotate_challenge(const Message& m) {
  return "rotate:" + std::to_string(m.u32("node_id")) + ":" + std::string(m.str("new_public_key"));
}

Outcome handle_rotate_key(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  std::string_view sig = r.msg.str("signature");
  std::string_view new_b64 = r.msg.str("new_public_key");
  if (sig.empty()) return Outcome::fail("rotate_key requires a valid signature");
  if (new_b64.empty()) return Outcome::fail("rotate_key requires new_public_key");
  PublicKey new_key;
  if (!decode_public_key(new_b64, &new_key)) return Outcome::fail("invalid new_public_key: " + key_error_detail(new_b64));
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  if (std::string err = check_node_signature(r, node, rotate_challenge(r.msg), sig); !err.empty())
    return Outcome::fail(err);
  // The Go server's "rotate_key: key rotated concurrently, retry" cannot happen here: writes
  // run one at a time on the writer, so the key checked above is the key replaced below.
  if (std::string err = key_taken(r, new_key, id); !err.empty()) return Outcome::fail(err);

  Write w(r);
  replace_key(r, w, node, new_key);  // the badge is kept (§6.1.3)
  w.put_node(node);
  w.audit("key.rotated", 0, id, {{"rotate_count", std::to_string(node.rotate_count)}});
  return Outcome::ok(key_reply("rotate_key_ok", node, new_b64));
}

// ---- set_key_expiry (§6.1.4) ----

Signer node_signer(const Message& m) { return {m.u32("node_id"), {}}; }
std::string expiry_challenge(const Message& m) { return challenge_node("set_key_expiry", m.u32("node_id")); }

bool in_enterprise_network(Request& r, const Node& node) {
  for (uint16_t net_id : node.networks) {
    Network net;
    if (r.view.get_network(net_id, &net) && net.enterprise) return true;
  }
  return false;
}

Outcome handle_set_key_expiry(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  std::string_view text = r.msg.str("expires_at");
  bool clear = text.empty() || text == "never";
  GoTime t;
  if (!clear) {
    if (text.size() > kMaxExpiresAtBytes) return Outcome::fail("invalid expires_at: " + too_long("value", kMaxExpiresAtBytes));
    if (std::string err = parse_go_rfc3339(text, &t); !err.empty()) return Outcome::fail("invalid expires_at: " + err);
    // Compared to the nanosecond, as Go's Before/After do; kept in seconds (§5.2).
    int64_t now_sec = now_s(r), now_frac = r.now_ns % 1000000000;
    if (t.unix < now_sec || (t.unix == now_sec && t.nanos < now_frac))
      return Outcome::fail("expires_at must be in the future");
    int64_t limit = now_sec + kMaxExpiryAheadS;
    if (t.unix > limit || (t.unix == limit && t.nanos > now_frac))
      return Outcome::fail("invalid expires_at: cannot exceed 10 years");
  }
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  if (std::string err = r.authorise(node); !err.empty()) return Outcome::fail(err);
  if (!in_enterprise_network(r, node))
    return Outcome::fail("enterprise feature: key expiry requires enterprise network membership");

  Write w(r);
  int64_t old = node.expires_at;
  node.expires_at = clear ? 0 : t.unix;
  w.put_node(node);
  AuditAttrs attrs;
  if (!clear) attrs.push_back({"expires_at", rfc3339_utc(t.unix)});
  if (old) attrs.push_back({"old_expires_at", rfc3339_utc(old)});
  w.audit(clear ? "key.expiry_cleared" : "key.expiry_set", 0, id, attrs);
  if (clear) return Outcome::ok(json_pack("{s:s, s:I}", "type", "set_key_expiry_ok", "node_id", json_int_t(id)));
  // Echoed in the offset it was given in (Go formats the parsed time in its own zone).
  std::string echo = format_go_rfc3339(t.unix, t.offset);
  return Outcome::ok(json_pack("{s:s, s:I, s:s}", "type", "set_key_expiry_ok", "node_id", json_int_t(id), "expires_at",
                               echo.c_str()));
}

// ---- get_key_info (§6.1.5) ----

Outcome handle_get_key_info(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  // created_at 0 is a legacy record without key metadata: Go's zero time, and no age.
  std::string created = node.created_at ? rfc3339_utc(node.created_at) : "0001-01-01T00:00:00Z";
  json_t* out = json_pack("{s:s, s:I, s:s, s:I}", "type", "get_key_info_ok", "node_id", json_int_t(id), "created_at",
                          created.c_str(), "rotate_count", json_int_t(node.rotate_count));
  if (node.rotated_at) json_object_set_new(out, "rotated_at", json_string(rfc3339_utc(node.rotated_at).c_str()));
  if (node.expires_at) json_object_set_new(out, "expires_at", json_string(rfc3339_utc(node.expires_at).c_str()));
  int64_t key_start = node.rotated_at ? node.rotated_at : node.created_at;
  if (key_start) json_object_set_new(out, "key_age_days", json_integer(json_int_t(whole_days(key_start, now_s(r)))));
  return Outcome::ok(out);
}

// ---- submit_badge, enroll_recovery (§6.1.6) ----

std::string badge_challenge(const Message& m) {
  return "submit_badge:" + std::to_string(m.u32("node_id")) + ":" + std::string(m.str("badge"));
}

Outcome handle_submit_badge(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  std::string_view badge = r.msg.str("badge"), badge_sig = r.msg.str("badge_sig");
  if (badge.size() > kMaxStatementBytes) return Outcome::fail(too_long("badge", kMaxStatementBytes));
  if (badge_sig.size() > kMaxStatementSigBytes) return Outcome::fail(too_long("badge_sig", kMaxStatementSigBytes));
  if (badge.empty() || badge_sig.empty()) return Outcome::fail("submit_badge requires badge and badge_sig");
  Node node;
  if (std::string err = node_signature(r, id, badge_challenge(r.msg), &node); !err.empty()) return Outcome::fail(err);
  Badge b;
  if (std::string err = verify_badge(identity_keyrings().issuers, badge, badge_sig, id, now_s(r), &b); !err.empty())
    return Outcome::fail("badge verification failed: " + err);

  Write w(r);
  node.badge = std::string(badge);
  node.badge_sig = std::string(badge_sig);
  node.verification_provider = b.provider;
  node.verified_at = now_s(r);
  w.put_node(node);
  w.audit("identity.badge_submitted", 0, id, {{"provider", b.provider}});
  return Outcome::ok(json_pack("{s:s, s:I, s:s}", "type", "submit_badge_ok", "node_id", json_int_t(id), "provider",
                               b.provider.c_str()));
}

// The node signs the commitment the enrollment carries, so a stolen enrollment cannot be
// presented with another commitment (§4.2).
std::string enroll_challenge(const Message& m) {
  Enrollment e;
  parse_enrollment(m.str("enrollment"), &e);  // unparsable: the handler refuses it before any signature check
  return "enroll_recovery:" + std::to_string(m.u32("node_id")) + ":" + e.commitment;
}

Outcome handle_enroll_recovery(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  std::string_view enrollment = r.msg.str("enrollment"), enrollment_sig = r.msg.str("enrollment_sig");
  if (enrollment.size() > kMaxStatementBytes) return Outcome::fail(too_long("enrollment", kMaxStatementBytes));
  if (enrollment_sig.size() > kMaxStatementSigBytes)
    return Outcome::fail(too_long("enrollment_sig", kMaxStatementSigBytes));
  if (enrollment.empty() || enrollment_sig.empty())
    return Outcome::fail("enroll_recovery requires enrollment and enrollment_sig");
  Enrollment e;
  if (std::string err = verify_enrollment(identity_keyrings().issuers, enrollment, enrollment_sig, &e); !err.empty())
    return Outcome::fail("enrollment verification failed: " + err);
  if (e.node_id != id)
    return Outcome::fail("enrollment node_id mismatch: statement=" + std::to_string(e.node_id) +
                         " request=" + std::to_string(id));
  Node node;
  if (std::string err = node_signature(r, id, enroll_challenge(r.msg), &node); !err.empty()) return Outcome::fail(err);

  Write w(r);
  node.recovery_commitment = e.commitment;
  node.recovery_provider = e.provider;
  w.put_node(node);
  w.audit("identity.recovery_enrolled", 0, id, {{"provider", e.provider}});
  return Outcome::ok(json_pack("{s:s, s:I}", "type", "enroll_recovery_ok", "node_id", json_int_t(id)));
}

// ---- recover_identity (§6.1.7) ----

bool nonce_expired(std::string_view stored_exp, int64_t now_ns) {
  // Go's now.After(exp): an authorisation is spent until its own expiry, then forgotten.
  int64_t exp = int64_t(read_u64(stored_exp));
  return exp < now_ns / 1000000000 || (exp == now_ns / 1000000000 && now_ns % 1000000000 > 0);
}

// Deletes expired used nonces: at most kNoncePruneBatch entries looked at, starting at `from`
// (the nonce just used: nonces are random, so successive recoveries visit the whole database)
// and wrapping round once.
void prune_nonces(Request& r, Write& w, const std::string& from) {
  std::vector<std::string> expired;
  {
    Cursor c(*r.write_txn, Db::Nonces);
    bool ok = c.seek(from), wrapped = false;
    for (size_t seen = 0; seen < kNoncePruneBatch; seen++) {
      if (!ok) {
        if (wrapped) break;
        wrapped = true;
        ok = c.seek();
        if (!ok) break;
      }
      if (wrapped && c.key() >= from) break;
      if (nonce_expired(c.value(), r.now_ns)) expired.emplace_back(c.key());
      ok = c.next();
    }
    r.view.note(c.error());
  }
  for (const std::string& k : expired) w.del(Db::Nonces, k);
}

Outcome handle_recover_identity(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  std::string_view statement = r.msg.str("recovery"), rec_sig = r.msg.str("recovery_sig");
  std::string_view new_b64 = r.msg.str("new_public_key");
  if (statement.size() > kMaxStatementBytes) return Outcome::fail(too_long("recovery", kMaxStatementBytes));
  if (rec_sig.size() > kMaxStatementSigBytes) return Outcome::fail(too_long("recovery_sig", kMaxStatementSigBytes));
  if (statement.empty() || rec_sig.empty() || new_b64.empty())
    return Outcome::fail("recover_identity requires recovery, recovery_sig, new_public_key");
  PublicKey new_key;
  if (!decode_public_key(new_b64, &new_key)) return Outcome::fail("invalid new_public_key: " + key_error_detail(new_b64));
  // Only the cold recovery keyring: a compromised online badge key cannot forge a recovery.
  Recovery rec;
  if (std::string err = verify_recovery(identity_keyrings().recovery, statement, rec_sig, now_s(r), &rec); !err.empty())
    return Outcome::fail("recovery verification failed: " + err);
  if (rec.nonce.size() > kMaxNonceBytes) return Outcome::fail(too_long("recovery nonce", kMaxNonceBytes));
  if (rec.node_id != id) return Outcome::fail("recovery node_id mismatch");
  if (rec.new_pubkey != new_b64) return Outcome::fail("recovery is not bound to this new key");
  // A short window bounds what a captured authorisation is worth (and how long its nonce must
  // be remembered).
  // Go's time.Unix(exp, 0).After(now + 30m), to the nanosecond.
  if (rec.exp > (r.now_ns + kMaxRecoveryWindowNs) / 1000000000)
    return Outcome::fail("recovery authorization expiry too far in the future (max 30m0s)");
  Node node;
  if (!r.view.get_node(id, &node) || node.recovery_commitment.empty())
    return Outcome::fail("node " + std::to_string(id) + " is not enrolled for recovery");
  if (rec.commitment != node.recovery_commitment)
    return Outcome::fail("recovery identity does not match the enrolled identity");
  if (std::string err = key_taken(r, new_key, id); !err.empty()) return Outcome::fail(err);
  std::string_view used;
  if (r.view.txn().get(Db::Nonces, rec.nonce, &used) == 0 && !nonce_expired(used, r.now_ns))
    return Outcome::fail("recovery authorization already used");
  // Every check above fails with nothing written: a refused recovery neither spends the nonce
  // nor touches the node.

  Write w(r);
  prune_nonces(r, w, rec.nonce);
  w.put(Db::Nonces, rec.nonce, key_u64(uint64_t(rec.exp)));
  replace_key(r, w, node, new_key);
  // The badge may attest another identity than the one that authorised the recovery: the new
  // key holder verifies again. The enrollment stays, so the address can be recovered again.
  node.badge.clear();
  node.badge_sig.clear();
  node.verification_provider.clear();
  node.verified_at = 0;
  w.put_node(node);
  w.audit("node.recovered", 0, id, {{"provider", node.recovery_provider}});
  return Outcome::ok(key_reply("recover_identity_ok", node, new_b64));
}

// ---- set_external_id, get_identity (§6.1.8) ----

Outcome handle_set_external_id(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  uint32_t id = r.msg.u32("node_id");
  std::string_view external_id = r.msg.str("external_id");
  if (external_id.size() > kMaxExternalIdBytes) return Outcome::fail(too_long("external_id", kMaxExternalIdBytes));
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail("node not found");

  Write w(r);
  std::string old = node.external_id;
  node.external_id = std::string(external_id);
  w.put_node(node);
  w.audit("identity.external_id_set", 0, id, {{"old_external_id", old}, {"new_external_id", node.external_id}});
  // From the stored string, never the request's view: an absent external_id is a null view,
  // and json_pack refuses a null "s%" pointer (the reply was then an empty object).
  return Outcome::ok(json_pack("{s:s, s:I, s:s%}", "type", "set_external_id_ok", "node_id", json_int_t(id),
                               "external_id", node.external_id.data(), node.external_id.size()));
}

Outcome handle_get_identity(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail("node not found");
  return Outcome::ok(json_pack("{s:s, s:I, s:s%, s:s%}", "type", "get_identity_ok", "node_id", json_int_t(id),
                               "external_id", node.external_id.data(), node.external_id.size(), "owner",
                               node.owner.data(), node.owner.size()));
}

const MessageDesc kMessages[] = {
    {.type = "rotate_key", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_rotate_key, .signer = node_signer, .challenge = rotate_challenge,
     .change = ChangeType::Identity},
    {.type = "set_key_expiry", .access = Access::Write, .auth = Auth::SigOrAdmin, .standby_ok = false,
     .handler = handle_set_key_expiry, .signer = node_signer, .challenge = expiry_challenge,
     .change = ChangeType::Identity},
    {.type = "get_key_info", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_get_key_info},
    {.type = "submit_badge", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_submit_badge, .signer = node_signer, .challenge = badge_challenge,
     .change = ChangeType::Identity},
    {.type = "enroll_recovery", .access = Access::Write, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_enroll_recovery, .signer = node_signer, .challenge = enroll_challenge,
     .change = ChangeType::Identity},
    // No node signature: a cold-key statement authorises it (verified in the handler).
    {.type = "recover_identity", .access = Access::Write, .auth = Auth::Open, .standby_ok = false,
     .handler = handle_recover_identity, .change = ChangeType::Identity},
    {.type = "set_external_id", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_set_external_id, .change = ChangeType::Identity},
    {.type = "get_identity", .access = Access::Read, .auth = Auth::Admin, .standby_ok = true,
     .handler = handle_get_identity},
};

}  // namespace

std::span<const MessageDesc> identity_messages() { return kMessages; }

}  // namespace rdv::registry
