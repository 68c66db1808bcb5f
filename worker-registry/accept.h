// The pending-registration accept queue's gate, called by register (nodes.cc) for a key the
// registry has never seen. Layout and record: shared/accept_queue.h.
#pragma once

#include <optional>
#include <string_view>

#include "crypto.h"
#include "request.h"

namespace rdv::registry {

// The text a held registration gets. It contains "pending" (what daemons and operators look
// for) and "require", which the §2.8 sanitiser lets through.
std::string pending_error(uint32_t pending_id);

// nullopt: the registration goes on (auto mode, or the key was approved — the approval is
// consumed in `w`). Otherwise the answer: the key is held (recorded or already waiting; the
// record's writes are kept although the answer is an error) or the queue is full.
std::optional<Outcome> accept_gate(Request& r, Write& w, const PublicKey& key, std::string_view pub_b64,
                                   std::string_view listen_addr, std::string_view observed_addr);

}  // namespace rdv::registry
