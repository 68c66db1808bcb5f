// The pending-registration accept queue (-accept-mode manual): the gate register calls for new
// keys, and the operator's Local messages on registry.sock — approving and rejecting held
// registrations — sent by the admin worker. Listing is a plain read of the accept database
// by the admin worker (shared/accept_queue.h), so it needs no message.
//
// Decisions are write requests: refused on a standby, audited with the operator's reason
// (registration.approved / registration.rejected) in the request's transaction. A new key's
// first held attempt is audited registration.pending, so webhooks hear about it; its retries
// write nothing unless its addresses changed (a daemon retrying every few seconds must not
// grow the change log).
#include "accept.h"

#include "accept_queue.h"
#include "json.h"
#include "message_table.h"

namespace rdv::registry {

namespace {

std::string raw(const PublicKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

uint32_t read_u32_key(View& view, std::string_view key) {
  std::string_view v;
  int rc = view.txn().get(Db::Accept, key, &v);
  view.note(rc);
  return rc ? 0 : read_u32(v);
}

bool load_pending(View& view, uint32_t id, accept::PendingRecord* out) {
  std::string_view v;
  int rc = view.txn().get(Db::Accept, accept::pending_key(id), &v);
  view.note(rc);
  return rc == 0 && accept::decode_pending(v, out);
}

// Removes a record and its key index; the count goes down by one.
void drop_pending(View& view, Write& w, const accept::PendingRecord& p) {
  w.del(Db::Accept, accept::pending_key(p.id));
  PublicKey key;
  if (decode_public_key(p.public_key, &key)) w.del(Db::Accept, accept::key_index(raw(key)));
  uint32_t count = read_u32_key(view, accept::kCountKey);
  w.put(Db::Accept, accept::kCountKey, key_u32(count ? count - 1 : 0));
}

bool parse_id(const Message& msg, uint32_t* id) {
  JsonPtr v = msg.json("id");  // numbers come as doubles (Message::json)
  if (!json_is_number(v.get())) return false;
  double n = json_number_value(v.get());
  if (!(n >= 1 && n <= double(UINT32_MAX)) || n != double(uint32_t(n))) return false;
  *id = uint32_t(n);
  return true;
}

Outcome decide(Request& r, bool approve) {
  uint32_t id = 0;
  if (!parse_id(r.msg, &id)) return Outcome::fail("pending id required (a positive integer)");
  std::string reason(r.msg.str("reason"));
  if (reason.size() > 1024) return Outcome::fail("reason too long (max 1024 bytes)");
  accept::PendingRecord p;
  if (!load_pending(r.view, id, &p)) return Outcome::fail("pending registration " + std::to_string(id) + " not found");
  Write w(r);
  drop_pending(r.view, w, p);
  PublicKey key;
  if (approve && decode_public_key(p.public_key, &key)) w.put(Db::Accept, accept::approved_key(raw(key)), "");
  w.audit(approve ? "registration.approved" : "registration.rejected", 0, 0,
          {{"pending_id", std::to_string(id)}, {"public_key", p.public_key}, {"observed_addr", p.observed_addr},
           {"reason", reason}});
  return Outcome::ok(json_pack("{s:s,s:b,s:I,s:s,s:s}", "type", approve ? "pending_approve_ok" : "pending_reject_ok", "ok",
                               1, "id", json_int_t(id), "public_key", p.public_key.c_str(), "decision",
                               approve ? "approved" : "rejected"));
}

Outcome handle_approve(Request& r) { return decide(r, true); }
Outcome handle_reject(Request& r) { return decide(r, false); }

const MessageDesc kMessages[] = {
    {.type = "pending_approve", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_approve, .change = ChangeType::Register},
    {.type = "pending_reject", .access = Access::Write, .auth = Auth::Local, .standby_ok = false,
     .handler = handle_reject, .change = ChangeType::Register},
};

}  // namespace

std::string pending_error(uint32_t pending_id) {
  return "registration pending: operator approval required (pending id " + std::to_string(pending_id) + ")";
}

std::optional<Outcome> accept_gate(Request& r, Write& w, const PublicKey& key, std::string_view pub_b64,
                                   std::string_view listen_addr, std::string_view observed_addr) {
  if (r.cfg.accept_mode != "manual") return std::nullopt;
  View& view = r.view;
  const std::string k = raw(key);
  std::string_view v;
  int rc = view.txn().get(Db::Accept, accept::approved_key(k), &v);
  view.note(rc);
  if (rc == 0) {
    w.del(Db::Accept, accept::approved_key(k));  // used once: a later fresh key waits again
    return std::nullopt;
  }
  if (view.error()) return std::nullopt;  // the store error fails the request anyway
  uint32_t waiting = read_u32_key(view, accept::key_index(k));
  accept::PendingRecord p;
  if (waiting && load_pending(view, waiting, &p)) {
    if (p.listen_addr != listen_addr || p.observed_addr != observed_addr) {
      p.listen_addr = std::string(listen_addr);
      p.observed_addr = std::string(observed_addr);
      w.put(Db::Accept, accept::pending_key(p.id), accept::encode_pending(p));
    }
    return Outcome::fail_keeping_writes(pending_error(p.id));
  }
  uint32_t count = read_u32_key(view, accept::kCountKey);
  if (count >= accept::kMaxPending)
    return Outcome::fail("too many pending registrations (max " + std::to_string(accept::kMaxPending) +
                         "); try again later");
  uint32_t id = read_u32_key(view, accept::kNextIdKey);
  if (!id) id = 1;
  p = accept::PendingRecord{id, std::string(pub_b64), std::string(listen_addr), std::string(observed_addr),
                            r.now_ns / 1000000000};
  w.put(Db::Accept, accept::kNextIdKey, key_u32(id + 1));
  w.put(Db::Accept, accept::kCountKey, key_u32(count + 1));
  w.put(Db::Accept, accept::pending_key(id), accept::encode_pending(p));
  w.put(Db::Accept, accept::key_index(k), key_u32(id));
  w.audit("registration.pending", 0, 0, {{"pending_id", std::to_string(id)}, {"public_key", p.public_key},
                                         {"observed_addr", p.observed_addr}});
  return Outcome::fail_keeping_writes(pending_error(id));
}

std::span<const MessageDesc> accept_messages() { return kMessages; }

}  // namespace rdv::registry
