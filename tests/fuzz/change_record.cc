// Fuzz target: the change-log record decoder (shared/store.h decode_change).
//
// Input: byte 0 bit 0 set → the rest is taken as a record body and its CRC32C is appended, so
// the fuzzer gets past the checksum to the op parser; clear → the rest is decoded as it is.
// A decoded record re-encodes (encode_change) to bytes that decode to the same record and
// are no longer than the input (the encoder writes minimal varints; a decoder accepting
// overlong ones reads the same values), and its seq, epoch and type are the header's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shared/crc32c.h"
#include "shared/store.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool same(const rdv::ChangeRecord& a, const rdv::ChangeRecord& b) {
  if (a.seq != b.seq || a.epoch != b.epoch || a.type != b.type || a.ops.size() != b.ops.size()) return false;
  for (size_t i = 0; i < a.ops.size(); i++) {
    const rdv::ChangeOp &x = a.ops[i], &y = b.ops[i];
    if (x.is_put != y.is_put || x.db != y.db || x.key != y.key || x.value != y.value) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string in(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    uint32_t crc = rdv::crc32c(in);
    for (int shift = 24; shift >= 0; shift -= 8) in += char(crc >> shift);
  }
  rdv::ChangeRecord r;
  std::string why;
  if (!rdv::decode_change(in, &r, &why)) {
    check(!why.empty());
    return 0;
  }
  check(uint8_t(r.type) != 0);
  for (const rdv::ChangeOp& op : r.ops) check(rdv::db_is_replicated(op.db) && (op.is_put || op.value.empty()));
  std::string again = rdv::encode_change(r);
  check(again.size() <= in.size());
  check(again.compare(0, 18, in, 0, 18) == 0);  // version, seq, epoch, type: fixed-width
  rdv::ChangeRecord r2;
  check(rdv::decode_change(again, &r2, &why));
  check(same(r, r2));
  check(rdv::encode_change(r2) == again);
  return 0;
}
