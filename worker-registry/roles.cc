// RBAC management and member tags (wire-protocol §6.4.7, §6.4.8), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> roles_messages() { return {}; }

}  // namespace rdv::registry
