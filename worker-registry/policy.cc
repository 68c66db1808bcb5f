// Network and expression policies (wire-protocol §6.6), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> policy_messages() { return {}; }

}  // namespace rdv::registry
