// The pending-registration accept queue (-accept-mode manual): its layout in the `accept`
// database (store format 4), shared by the registry, which writes it (worker-registry/accept.cc),
// and the admin worker, which lists it (GET /api/admin/pending).
//
//   "n"            → u32 BE next pending id (ids start at 1, never reused)
//   "c"            → u32 BE number of pending records
//   "p" ‖ u32 id   → JSON {"id","public_key","listen_addr","observed_addr","requested_at"}
//   "k" ‖ raw key  → u32 BE pending id (a key waits once, however often it retries)
//   "a" ‖ raw key  → "" (approved: the key's next register goes through, and consumes it)
//
// It replicates with everything else (a standby promoted later keeps the queue).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store.h"

namespace rdv::accept {

inline constexpr size_t kMaxPending = 10000;  // a flood of new keys cannot grow the store without bound
inline constexpr std::string_view kNextIdKey = "n";
inline constexpr std::string_view kCountKey = "c";

inline std::string pending_key(uint32_t id) { return "p" + key_u32(id); }
inline std::string key_index(std::string_view raw_key) { return "k" + std::string(raw_key); }
inline std::string approved_key(std::string_view raw_key) { return "a" + std::string(raw_key); }

struct PendingRecord {
  uint32_t id = 0;
  std::string public_key;  // base64, as the daemon sent it
  std::string listen_addr, observed_addr;
  int64_t requested_at = 0;  // unix seconds of the first attempt
};

std::string encode_pending(const PendingRecord& p);
bool decode_pending(std::string_view text, PendingRecord* out);

// Every pending record in id order (at most kMaxPending). Returns 0 or an LMDB error.
int list_pending(const Txn& txn, std::vector<PendingRecord>* out);

}  // namespace rdv::accept
