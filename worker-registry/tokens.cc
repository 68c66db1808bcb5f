// validate_token: JWTs against the identity provider (wire-protocol §6.1.8), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> tokens_messages() { return {}; }

}  // namespace rdv::registry
