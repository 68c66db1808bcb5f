// NAT punch and beacons (wire-protocol §6.7), and their descriptors.
//
// Beacons live in the beacons database (u32 beacon id → encode_beacon: addr + last_seen_ns).
// The Go server reaped stale beacons on a timer; here beacon_register does it: every call
// looks at a bounded slice of the table (kReapScan entries, continuing where the last call
// stopped) and deletes the beacons not seen for over 60 s. Beacons re-register every few
// seconds while they run, so the table is swept as long as any beacon is alive, and a table
// nobody registers in any more is not read by anyone but beacon_list, which skips stale rows.
// No timer, no extra write path: the deletions ride in the registering request's record.
#include "routing.h"

#include <vector>

#include "message_table.h"
#include "util.h"

namespace rdv::registry {

bool beacon_live(int64_t last_seen_ns, int64_t now_ns) { return now_ns - last_seen_ns <= kBeaconTtlNs; }

bool beacon_in_cooldown(int64_t last_seen_ns, int64_t now_ns, int64_t cooldown_ns) {
  int64_t since = now_ns - last_seen_ns;
  return cooldown_ns > 0 && since >= 0 && since < cooldown_ns;
}

std::string host_port_error(std::string_view hp) {
  auto err = [&](const char* why) { return "address " + std::string(hp) + ": " + why; };
  const char* missing_port = "missing port in address";
  const char* too_many_colons = "too many colons in address";
  size_t i = hp.rfind(':');
  if (i == std::string_view::npos) return err(missing_port);
  size_t j = 0, k = 0;
  if (!hp.empty() && hp[0] == '[') {
    size_t end = hp.find(']');
    if (end == std::string_view::npos) return err("missing ']' in address");
    if (end + 1 == hp.size()) return err(missing_port);
    if (end + 1 != i) return err(hp[end + 1] == ':' ? too_many_colons : missing_port);
    j = 1;
    k = end + 1;
  } else if (hp.substr(0, i).find(':') != std::string_view::npos) {
    return err(too_many_colons);
  }
  if (hp.substr(j).find('[') != std::string_view::npos) return err("unexpected '[' in address");
  if (hp.substr(k).find(']') != std::string_view::npos) return err("unexpected ']' in address");
  return "";
}

namespace {

// The longest beacon address stored (as a register listen_addr).
constexpr size_t kMaxBeaconAddrBytes = 256;
// Beacons looked at for staleness per beacon_register.
constexpr size_t kReapScan = 64;
// Meta key: the last beacon id the previous bounded sweep looked at (absent: start at the
// beginning). Replicated like any meta key, so a promoted standby sweeps on from there.
constexpr std::string_view kReapCursorKey = "beacon_reap_cursor";

// Deletes up to kReapScan beacons' worth of stale entries, skipping `fresh` (the one being
// registered), and advances the sweep's cursor. Audited once per call that removed any.
void reap_stale_beacons(Request& r, Write& w, uint32_t fresh) {
  const Txn& txn = r.view.txn();
  std::string_view v;
  uint32_t start = txn.get(Db::Meta, kReapCursorKey, &v) == 0 ? read_u32(v) : 0;
  bool had_cursor = start != 0;
  std::vector<uint32_t> stale;
  size_t visited = 0;
  uint32_t last = 0;
  {
    Cursor c(txn, Db::Beacons);
    // From just after the cursor to the end, then from the beginning up to the cursor.
    bool ok = c.seek(start == 0xFFFFFFFFu ? key_u32(start) : key_u32(start + 1));
    bool wrapped = false;
    for (;;) {
      if (!ok) {
        if (wrapped || start == 0) break;
        wrapped = true;
        ok = c.seek();
        continue;
      }
      uint32_t id = read_u32(c.key());
      if (wrapped && id > start) break;
      if (visited == kReapScan) break;
      visited++;
      last = id;
      Beacon b;
      if (id != fresh && decode_beacon(c.value(), &b) && !beacon_live(b.last_seen_ns, r.now_ns)) stale.push_back(id);
      ok = c.next();
    }
    r.view.note(c.error());
  }
  for (uint32_t id : stale) w.del(Db::Beacons, key_u32(id));
  // Stopped at the bound: the next call goes on after `last`. Otherwise the whole table fitted
  // in this call, and the next one starts from the beginning.
  if (visited == kReapScan) w.put(Db::Meta, kReapCursorKey, key_u32(last));
  else if (had_cursor) w.del(Db::Meta, kReapCursorKey);
  if (!stale.empty()) {
    std::string ids;
    for (uint32_t id : stale) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    w.audit("beacon.reaped", 0, 0, {{"count", std::to_string(stale.size())}, {"beacon_ids", ids}});
  }
}

}  // namespace

// ADMIN. Upserts the beacon with last_seen = now, unless the same id registered within the
// cooldown: then "beacon <id> already registered within the cooldown (<d>)" (the Go text is
// not published; "already" lets it through the sanitiser).
Outcome handle_beacon_register(Request& r) {
  const std::string& admin_err = r.admin();
  if (!admin_err.empty()) return Outcome::fail(admin_err);
  uint32_t id = r.msg.u32("beacon_id");
  if (id == 0) return Outcome::fail("beacon_id required");
  std::string addr(r.msg.str("addr"));
  if (addr.empty()) return Outcome::fail("addr required");
  if (addr.size() > kMaxBeaconAddrBytes)
    return Outcome::fail("beacon addr too long (max " + std::to_string(kMaxBeaconAddrBytes) + " bytes)");
  if (std::string e = host_port_error(addr); !e.empty()) return Outcome::fail("beacon addr invalid: " + e);

  Beacon old;
  std::string_view v;
  int rc = r.view.txn().get(Db::Beacons, key_u32(id), &v);
  r.view.note(rc);
  bool known = rc == 0 && decode_beacon(v, &old);
  if (known && beacon_in_cooldown(old.last_seen_ns, r.now_ns, r.cfg.beacon_register_cooldown_ns))
    return Outcome::fail("beacon " + std::to_string(id) + " already registered within the cooldown (" +
                         format_duration(r.cfg.beacon_register_cooldown_ns) + ")");

  Write w(r);
  w.put(Db::Beacons, key_u32(id), encode_beacon({addr, r.now_ns}));
  // Refreshes are the beacon's keep-alive: only a new beacon or a moved one is audited.
  if (!known || old.addr != addr || !beacon_live(old.last_seen_ns, r.now_ns))
    w.audit("beacon.registered", 0, 0, {{"beacon_id", std::to_string(id)}, {"addr", addr}});
  reap_stale_beacons(r, w, id);
  return Outcome::ok(json_pack("{s:s,s:I}", "type", "beacon_register_ok", "beacon_id", json_int_t(id)));
}

// OPEN; the beacons seen within 60 s, in id order (`[]` when none).
Outcome handle_beacon_list(Request& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().str("type", "beacon_list_ok").begin_array("beacons");
  {
    Cursor c(r.view.txn(), Db::Beacons);
    for (bool ok = c.seek(); ok; ok = c.next()) {
      Beacon b;
      if (!decode_beacon(c.value(), &b) || !beacon_live(b.last_seen_ns, r.now_ns)) continue;
      w.begin_object().num("id", read_u32(c.key())).str("addr", b.addr).end_object();
    }
    r.view.note(c.error());
  }
  w.end_array().end_object();
  return Outcome::ok_raw(std::move(body));
}

// SIG by the requester, who must be one of the two nodes. Both raw endpoints are returned,
// even for private and relay-only nodes (the Go quirk, §11: the hole punching itself happens
// on the beacon). Under strict directory auth the two must hold a trust pair:
// "punch denied: nodes <a> and <b> require a trust pair" (the Go text is not published;
// "require" lets it through the sanitiser).
Outcome handle_punch(Request& r) {
  uint32_t requester = r.msg.u32("requester_id"), a = r.msg.u32("node_a"), b = r.msg.u32("node_b");
  if (requester != a && requester != b) return Outcome::fail("punch denied: requester must be participant");
  Node req;
  if (!r.view.get_node(requester, &req)) return Outcome::fail("node " + std::to_string(requester) + " not found");
  std::string err = r.authorise(req);
  if (!err.empty()) return Outcome::fail(err);
  Node na, nb;
  if (!r.view.get_node(a, &na)) return Outcome::fail("node " + std::to_string(a) + " not found");
  if (!r.view.get_node(b, &nb)) return Outcome::fail("node " + std::to_string(b) + " not found");
  if (r.cfg.strict_directory_auth && !r.view.trust_pair(a, b))
    return Outcome::fail("punch denied: nodes " + std::to_string(a) + " and " + std::to_string(b) +
                         " require a trust pair");
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .str("type", "punch_ok")
      .num("node_a", a)
      .str("node_a_addr", na.real_addr)
      .num("node_b", b)
      .str("node_b_addr", nb.real_addr)
      .end_object();
  return Outcome::ok_raw(std::move(body));
}

namespace {

Signer requester_signer(const Message& m) { return {m.u32("requester_id"), {}}; }
std::string punch_challenge(const Message& m) { return challenge_pair("punch", m.u32("node_a"), m.u32("node_b")); }

const MessageDesc kMessages[] = {
    {.type = "punch", .access = Access::Read, .auth = Auth::Sig, .standby_ok = false, .handler = handle_punch,
     .signer = requester_signer, .challenge = punch_challenge},
    {.type = "beacon_register", .access = Access::Write, .auth = Auth::Admin, .standby_ok = false,
     .handler = handle_beacon_register, .change = ChangeType::Beacon},
    {.type = "beacon_list", .access = Access::Read, .auth = Auth::Open, .standby_ok = true,
     .handler = handle_beacon_list},
};

}  // namespace

std::span<const MessageDesc> routing_messages() { return kMessages; }

}  // namespace rdv::registry
