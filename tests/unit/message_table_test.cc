// The registry's message table (worker-registry/message_table.h): the rules every descriptor
// must follow, the look-ups by type and opcode, that local messages do not exist for daemons,
// and the exact challenge strings of wire-protocol §4.2 that each signed message's builder
// produces.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "metrics.h"
#include "wire.h"
#include "worker-registry/dispatch.h"
#include "worker-registry/message_table.h"

namespace {

using rdv::registry::Access;
using rdv::registry::all_messages;
using rdv::registry::Auth;
using rdv::registry::Entry;
using rdv::registry::EntryKind;
using rdv::registry::find_message;
using rdv::registry::find_opcode;
using rdv::registry::MessageDesc;

rdv::Message parse(const std::string& json) {
  rdv::Message m;
  std::string err;
  EXPECT_TRUE(m.parse(json, &err)) << json << ": " << err;
  return m;
}

const MessageDesc& desc(std::string_view type) {
  const MessageDesc* d = find_message(type);
  EXPECT_NE(d, nullptr) << type;
  static const MessageDesc none{};
  return d ? *d : none;
}

TEST(MessageTable, SelfCheckPasses) { EXPECT_EQ(rdv::registry::check_message_table(), ""); }

TEST(MessageTable, IsNotEmptyAndHoldsTheCoreMessages) {
  EXPECT_GE(all_messages().size(), 10u);
  for (const char* t : {"register", "deregister", "heartbeat", "lookup", "resolve", "set_hostname",
                        "resolve_hostname", "set_visibility", "set_tags", "list_nodes", "status", "bus_subscribe"})
    EXPECT_NE(find_message(t), nullptr) << t;
}

TEST(MessageTable, EveryWriteIsRefusedOnAStandby) {
  int writes = 0;
  for (const MessageDesc* d : all_messages())
    if (d->access == Access::Write) {
      writes++;
      EXPECT_FALSE(d->standby_ok) << d->type;
    }
  EXPECT_GE(writes, 5);  // register, deregister, set_hostname, set_visibility, set_tags
}

TEST(MessageTable, EveryWriteHasAChangeType) {
  for (const MessageDesc* d : all_messages())
    if (d->access == Access::Write && d->auth != Auth::Local) {
      EXPECT_NE(d->change, rdv::ChangeType::Init) << d->type;
    }
}

TEST(MessageTable, EverySignedMessageHasSignerAndChallenge) {
  int sig = 0;
  for (const MessageDesc* d : all_messages())
    if (d->auth == Auth::Sig || d->auth == Auth::SigOrAdmin) {
      sig++;
      EXPECT_NE(d->signer, nullptr) << d->type;
      EXPECT_NE(d->challenge, nullptr) << d->type;
    }
  EXPECT_GE(sig, 6);  // deregister, heartbeat, resolve, set_hostname, set_visibility, set_tags
}

TEST(MessageTable, EveryDescriptorHasAHandler) {
  for (const MessageDesc* d : all_messages()) EXPECT_NE(d->handler, nullptr) << d->type;
}

TEST(MessageTable, FindMessageFindsEveryTypeAndTypesAreUnique) {
  std::set<std::string_view> seen;
  for (const MessageDesc* d : all_messages()) {
    EXPECT_TRUE(seen.insert(d->type).second) << d->type << " declared twice";
    EXPECT_EQ(find_message(d->type), d) << d->type;
  }
}

TEST(MessageTable, UnknownTypesAreNotFound) {
  for (const char* t : {"", "unknown", "Register", "register ", "heartbeat\n", "no_such_message", "registe"})
    EXPECT_EQ(find_message(t), nullptr) << '"' << t << '"';
}

TEST(MessageTable, EveryOpcodeIsFoundAndHasABinaryHandler) {
  int with_opcode = 0;
  for (const MessageDesc* d : all_messages()) {
    if (!d->opcode) {
      EXPECT_EQ(d->binary, nullptr) << d->type;
      EXPECT_EQ(d->binary_signature, nullptr) << d->type;
      continue;
    }
    with_opcode++;
    EXPECT_EQ(find_opcode(d->opcode), d) << d->type;
    EXPECT_NE(d->binary, nullptr) << d->type;
    if (d->challenge) {
      EXPECT_NE(d->binary_signature, nullptr) << d->type;
    }
  }
  EXPECT_EQ(with_opcode, 3);  // heartbeat, lookup, resolve (§7)
  EXPECT_EQ(find_opcode(rdv::wire::kHeartbeat), &desc("heartbeat"));
  EXPECT_EQ(find_opcode(rdv::wire::kLookup), &desc("lookup"));
  EXPECT_EQ(find_opcode(rdv::wire::kResolve), &desc("resolve"));
}

TEST(MessageTable, UnusedOpcodesAreNotFound) {
  EXPECT_EQ(find_opcode(0), nullptr);  // 0x00 is passthrough JSON, not a message
  EXPECT_EQ(find_opcode(rdv::wire::kError), nullptr);
  for (int op = 4; op < 256; op++) EXPECT_EQ(find_opcode(uint8_t(op)), nullptr) << op;
}

TEST(MessageTable, EveryDaemonMessageHasAMetricsLabel) {
  for (const MessageDesc* d : all_messages()) {
    if (d->auth == Auth::Local) continue;
    size_t i = rdv::metrics::type_index(d->type);
    ASSERT_NE(i, rdv::metrics::kUnknownType) << d->type;
    EXPECT_EQ(std::string_view(rdv::metrics::kMessageTypes[i]), d->type);
  }
}

TEST(MessageTable, LocalReadsAreServedOnAStandby) {
  for (const MessageDesc* d : all_messages())
    if (d->auth == Auth::Local && d->access == Access::Read) {
      EXPECT_TRUE(d->standby_ok) << d->type;
    }
}

// ---- local messages are invisible to daemons ----

void classify_as(Entry& e, EntryKind kind, const std::string& json, bool standby = false) {
  e.kind = kind;
  std::string err;
  e.msg_ok = e.msg.parse(json, &err);
  ASSERT_TRUE(e.msg_ok) << err;
  rdv::registry::classify(e, standby);
}

TEST(MessageTable, LocalMessagesDoNotExistForDaemons) {
  for (const MessageDesc* d : all_messages()) {
    if (d->auth != Auth::Local) continue;
    std::string json = "{\"type\":\"" + std::string(d->type) + "\"}";
    for (EntryKind kind : {EntryKind::Json, EntryKind::Passthrough}) {
      Entry e;
      classify_as(e, kind, json);
      EXPECT_EQ(e.desc, nullptr) << d->type;
      EXPECT_FALSE(e.is_write) << d->type;
    }
    Entry local;
    classify_as(local, EntryKind::Control, json);
    EXPECT_EQ(local.desc, d) << d->type;
  }
  // The one the issue names.
  Entry e;
  classify_as(e, EntryKind::Json, R"({"type":"status"})");
  EXPECT_EQ(e.desc, nullptr);
  Entry c;
  classify_as(c, EntryKind::Control, R"({"type":"status"})");
  EXPECT_EQ(c.desc, find_message("status"));
}

TEST(MessageTable, DaemonMessagesExistForTheLocalOperator) {
  for (const MessageDesc* d : all_messages()) {
    if (d->auth == Auth::Local) continue;
    Entry e;
    classify_as(e, EntryKind::Control, "{\"type\":\"" + std::string(d->type) + "\"}");
    EXPECT_EQ(e.desc, d) << d->type;
    EXPECT_EQ(e.is_write, d->access == Access::Write) << d->type;
  }
}

TEST(MessageTable, ClassifyLabelsNativeRequestsByOpcode) {
  Entry e;
  e.kind = EntryKind::Native;
  e.opcode = rdv::wire::kLookup;
  rdv::registry::classify(e, false);
  EXPECT_EQ(e.desc, find_message("lookup"));
  EXPECT_EQ(e.type_index, rdv::metrics::type_index("lookup"));
  Entry u;
  u.kind = EntryKind::Native;
  u.opcode = 0x42;
  rdv::registry::classify(u, false);
  EXPECT_EQ(u.desc, nullptr);
  EXPECT_EQ(u.type_index, rdv::metrics::kUnknownType);
}

// ---- challenge strings (wire-protocol §4.2) and signers ----

TEST(MessageTable, HeartbeatChallengeAndSigner) {
  const MessageDesc& d = desc("heartbeat");
  rdv::Message m = parse(R"({"type":"heartbeat","node_id":7,"signature":"x"})");
  EXPECT_EQ(d.challenge(m), "heartbeat:7");
  rdv::registry::Signer s = d.signer(m);
  EXPECT_EQ(s.node_id, 7u);
  EXPECT_TRUE(s.public_key_b64.empty());
}

TEST(MessageTable, ResolveChallengeIsRequesterThenTarget) {
  const MessageDesc& d = desc("resolve");
  rdv::Message m = parse(R"({"type":"resolve","requester_id":3,"node_id":9})");
  EXPECT_EQ(d.challenge(m), "resolve:3:9");
  EXPECT_EQ(d.signer(m).node_id, 3u);  // the requester signs, not the target
}

TEST(MessageTable, RegisterChallengeAndSignerKey) {
  const MessageDesc& d = desc("register");
  rdv::Message m = parse(R"({"type":"register","listen_addr":"203.0.113.5:4000","public_key":"AAAAKEY="})");
  EXPECT_EQ(d.challenge(m), "register:203.0.113.5:4000:AAAAKEY=");
  rdv::registry::Signer s = d.signer(m);
  EXPECT_EQ(s.public_key_b64, "AAAAKEY=");
  EXPECT_EQ(s.node_id, 0u);
  // No listen address: the field is empty, the colons stay.
  rdv::Message bare = parse(R"({"type":"register","public_key":"K="})");
  EXPECT_EQ(d.challenge(bare), "register::K=");
}

TEST(MessageTable, NodeChallenges) {
  struct Case {
    const char* type;
    const char* want;
  } cases[] = {
      {"deregister", "deregister:42"},
      {"set_hostname", "set_hostname:42"},
      {"set_visibility", "set_visibility:42"},
      {"set_tags", "set_tags:42"},
  };
  for (const Case& c : cases) {
    const MessageDesc& d = desc(c.type);
    rdv::Message m = parse(std::string("{\"type\":\"") + c.type + "\",\"node_id\":42,\"hostname\":\"h\",\"public\":true}");
    ASSERT_NE(d.challenge, nullptr) << c.type;
    EXPECT_EQ(d.challenge(m), c.want);
    EXPECT_EQ(d.signer(m).node_id, 42u) << c.type;
  }
}

TEST(MessageTable, LargeNodeIdsAreUnpaddedDecimal) {
  rdv::Message m = parse(R"({"type":"heartbeat","node_id":4294967295})");
  EXPECT_EQ(desc("heartbeat").challenge(m), "heartbeat:4294967295");
}

// The binary readers find the same signer and challenge in the payload as the JSON builders.
TEST(MessageTable, BinaryHeartbeatSignatureReader) {
  const MessageDesc& d = desc("heartbeat");
  std::string payload;
  rdv::wire::put_be32(payload, 7);
  payload.append(64, '\x5a');
  uint32_t signer = 0;
  std::string challenge;
  const uint8_t* sig = nullptr;
  ASSERT_TRUE(d.binary_signature(payload, &signer, &challenge, &sig));
  EXPECT_EQ(signer, 7u);
  EXPECT_EQ(challenge, "heartbeat:7");
  EXPECT_EQ(sig, reinterpret_cast<const uint8_t*>(payload.data()) + 4);
  EXPECT_FALSE(d.binary_signature(payload.substr(0, 67), &signer, &challenge, &sig));
}

TEST(MessageTable, BinaryResolveSignatureReader) {
  const MessageDesc& d = desc("resolve");
  std::string payload;
  rdv::wire::put_be32(payload, 9);  // target
  rdv::wire::put_be32(payload, 3);  // requester
  payload.append(64, '\x5a');
  uint32_t signer = 0;
  std::string challenge;
  const uint8_t* sig = nullptr;
  ASSERT_TRUE(d.binary_signature(payload, &signer, &challenge, &sig));
  EXPECT_EQ(signer, 3u);
  EXPECT_EQ(challenge, "resolve:3:9");
  EXPECT_EQ(sig, reinterpret_cast<const uint8_t*>(payload.data()) + 8);
  EXPECT_FALSE(d.binary_signature(payload.substr(0, 71), &signer, &challenge, &sig));
}

}  // namespace
