#include "accept_queue.h"

#include "json.h"

namespace rdv::accept {

std::string encode_pending(const PendingRecord& p) {
  JsonPtr j(json_pack("{s:I,s:s#,s:s#,s:s#,s:I}", "id", json_int_t(p.id), "public_key", p.public_key.data(),
                      int(p.public_key.size()), "listen_addr", p.listen_addr.data(), int(p.listen_addr.size()),
                      "observed_addr", p.observed_addr.data(), int(p.observed_addr.size()), "requested_at",
                      json_int_t(p.requested_at)));
  return json_dump_compact(j.get());
}

bool decode_pending(std::string_view text, PendingRecord* out) {
  JsonPtr j(json_loadb(text.data(), text.size(), 0, nullptr));
  if (!json_is_object(j.get())) return false;
  out->id = json_u32(j.get(), "id");
  out->public_key = std::string(json_str(j.get(), "public_key"));
  out->listen_addr = std::string(json_str(j.get(), "listen_addr"));
  out->observed_addr = std::string(json_str(j.get(), "observed_addr"));
  out->requested_at = json_integer_value(json_object_get(j.get(), "requested_at"));
  return out->id != 0;
}

int list_pending(const Txn& txn, std::vector<PendingRecord>* out) {
  out->clear();
  Cursor c(txn, Db::Accept);
  for (bool ok = c.seek("p"); ok && !c.key().empty() && c.key()[0] == 'p' && out->size() < kMaxPending; ok = c.next()) {
    PendingRecord p;
    if (decode_pending(c.value(), &p)) out->push_back(std::move(p));
  }
  return c.error();
}

}  // namespace rdv::accept
