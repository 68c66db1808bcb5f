// NAT punch and beacons (wire-protocol §6.7), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> routing_messages() { return {}; }

}  // namespace rdv::registry
