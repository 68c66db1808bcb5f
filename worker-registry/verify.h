// Ed25519 checks off the event loop.
//
// Signature checks dominate the cost of register, heartbeat and resolve. The loop collects the
// checks a request will need (dispatch.h collect_checks) and submits the request here; the
// pool's threads verify on all cores and hand the request back through an eventfd the loop
// watches. A request waiting here holds up nobody: its connection's later requests wait (they
// keep their order), other connections do not. The handler then finds the results in
// entry.jobs (SignatureChecker). A check nobody foresaw is verified inline, so the results
// ahead are an optimisation, never a source of truth.
#pragma once

#include <string>

#include "crypto.h"
#include "work_pool.h"

namespace rdv::registry {

struct Entry;

struct VerifyJob {
  PublicKey key;
  std::string message;
  Signature sig;
  bool ok = false;
};

// Sets every job's ok flag of `e` (e.jobs) to the Ed25519 verdict. On a pool thread.
void verify_entry(Entry& e);

// An entry goes to the pool with all its jobs; a thread takes up to 32 entries at once (a
// verify is about 0.1 ms here), so one wake-up of the loop brings many back.
class VerifyPool : public WorkPool<Entry> {
 public:
  explicit VerifyPool(unsigned threads) : WorkPool(threads, 32, &verify_entry) {}
};

}  // namespace rdv::registry
