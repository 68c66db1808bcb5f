// Trust pairs and the handshake inboxes (wire-protocol §6.5), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> trust_messages() { return {}; }

}  // namespace rdv::registry
