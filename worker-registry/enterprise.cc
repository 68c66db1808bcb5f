// Enterprise administration: audit log, webhooks, identity provider, audit export, provisioning, directory sync (wire-protocol §6.8), and their descriptors.
#include "message_table.h"

namespace rdv::registry {

std::span<const MessageDesc> enterprise_messages() { return {}; }

}  // namespace rdv::registry
