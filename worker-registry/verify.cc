// Ed25519 checks on the verify pool's threads (verify.h).
#include "verify.h"

#include "entry.h"

namespace rdv::registry {

void verify_entry(Entry& e) {
  for (VerifyJob& j : e.jobs) j.ok = ed25519_verify(j.key, j.message, j.sig.data());
}

}  // namespace rdv::registry
