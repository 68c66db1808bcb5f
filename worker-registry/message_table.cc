#include "message_table.h"

#include <array>
#include <unordered_map>
#include <vector>

#include "metrics.h"

namespace rdv::registry {

namespace {

struct Table {
  std::vector<const MessageDesc*> all;
  std::unordered_map<std::string_view, const MessageDesc*> by_type;
  std::array<const MessageDesc*, 256> by_opcode{};

  Table() {
    for (auto area : {node_messages(), directory_messages(), control_messages(), identity_messages(),
                      tokens_messages(), networks_messages(), invites_messages(), roles_messages(),
                      trust_messages(), policy_messages(), routing_messages(), enterprise_messages(), events_messages(),
                      operator_messages(), operator_member_messages(), accept_messages()})
      for (const MessageDesc& d : area) {
        all.push_back(&d);
        by_type.emplace(d.type, &d);  // duplicates are reported by check_message_table()
        if (d.opcode && !by_opcode[d.opcode]) by_opcode[d.opcode] = &d;
      }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

std::span<const MessageDesc* const> all_messages() { return table().all; }

const MessageDesc* find_message(std::string_view type) {
  const auto& m = table().by_type;
  auto it = m.find(type);
  return it == m.end() ? nullptr : it->second;
}

const MessageDesc* find_opcode(uint8_t opcode) { return opcode ? table().by_opcode[opcode] : nullptr; }

std::string check_message_table() {
  std::unordered_map<std::string_view, int> seen;
  std::array<int, 256> opcodes{};
  for (const MessageDesc* d : all_messages()) {
    std::string name(d->type);
    if (d->type.empty()) return "a message has no type";
    if (++seen[d->type] > 1) return name + ": declared twice";
    if (!d->handler) return name + ": no handler";
    if (d->access == Access::Write && d->standby_ok) return name + ": a write must be refused on a standby";
    if (d->standby_read && (d->access != Access::Write || d->standby_ok))
      return name + ": standby_read is for writes a standby serves as reads";
    if (d->access == Access::Write && d->auth != Auth::Local && d->change == ChangeType::Init)
      return name + ": a write needs its change-record type";
    if ((d->auth == Auth::Sig || d->auth == Auth::SigOrAdmin) && (!d->signer || !d->challenge))
      return name + ": a signed message needs a signer and a challenge builder";
    if (d->challenge && !d->signer) return name + ": a challenge without a signer";
    if (d->verify_window && d->auth != Auth::Sig) return name + ": the verify window applies to signed messages";
    if (d->auth != Auth::Local && metrics::type_index(d->type) == metrics::kUnknownType)
      return name + ": no metrics label (add it to metrics::kMessageTypes)";
    if (d->auth == Auth::Local && d->standby_ok == false && d->access == Access::Read)
      return name + ": a local read should be served on a standby too";
    if (d->opcode) {
      if (++opcodes[d->opcode] > 1) return name + ": opcode used twice";
      if (!d->binary) return name + ": an opcode without a binary handler";
      if (d->challenge && !d->binary_signature) return name + ": a signed opcode needs its binary signature reader";
    } else if (d->binary || d->binary_signature) {
      return name + ": a binary handler without an opcode";
    }
  }
  return "";
}

}  // namespace rdv::registry
