// Networks and membership: create, join, leave, delete, rename, enterprise flag, listing (wire-protocol §6.4.1–§6.4.5), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> networks_messages() { return {}; }

}  // namespace rdv::registry
