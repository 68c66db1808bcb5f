// Operator settings the admin worker changes for operators: the banner, the rate-limit whitelist,
// circuit breakers and the log level. Local-only messages on registry.sock (Auth::Local).
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> operator_messages() { return {}; }

}  // namespace rdv::registry
