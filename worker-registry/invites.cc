// Invites to invite-only enterprise networks (wire-protocol §6.4.6), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> invites_messages() { return {}; }

}  // namespace rdv::registry
