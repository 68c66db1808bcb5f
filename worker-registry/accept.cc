// The pending-registration accept queue (-accept-mode manual): listing, approving and
// rejecting held registrations, sent by the admin worker on registry.sock.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> accept_messages() { return {}; }

}  // namespace rdv::registry
