// Operator kicks and role changes (ops-spec §5.3 rows 29–30), sent by the admin worker on
// registry.sock. They bypass network RBAC and are audited with the operator's reason.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> operator_member_messages() { return {}; }

}  // namespace rdv::registry
