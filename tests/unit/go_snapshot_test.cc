// The Go server's snapshot and WAL decoding (shared/go_snapshot.h): the checksum on the raw
// bytes, the refusals, and the WAL replay rules of ops-spec §3.5.3/§3.5.4.
#include "go_snapshot.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "crypto.h"

namespace rdv::gosnap {
namespace {

std::string hex_sha256(std::string_view s) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  std::string out;
  static const char* const kDigits = "0123456789abcdef";
  for (unsigned char b : d) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

// What the Go writer does: hash the compact encoding, splice the checksum before the final '}'.
std::string with_checksum(const std::string& body) {
  return body.substr(0, body.size() - 1) + ",\"checksum\":\"" + hex_sha256(body) + "\"}";
}

std::string key_b64(uint8_t fill) {
  uint8_t k[32];
  for (int i = 0; i < 32; i++) k[i] = uint8_t(fill + i);
  return base64_encode(k, sizeof k);
}
std::string raw_of(const std::string& b64) {
  std::string raw;
  EXPECT_TRUE(base64_decode(b64, &raw));
  return raw;
}

std::string sample_body() {
  return R"({"version":1,"next_node":3,"next_net":2,"nodes":{"1":{"id":1,"owner":"ops@example.com","public_key":")" +
         key_b64(1) +
         R"(","real_addr":"198.51.100.1:4000","networks":[0,1],"last_seen":"2026-06-01T12:00:00Z","hostname":"alpha"},)"
         R"("2":{"id":2,"public_key":")" +
         key_b64(2) +
         R"(","networks":[0]}},"networks":{"0":{"id":0,"name":"backbone","join_rule":"open","members":[1,2],)"
         R"("created":"2026-01-01T00:00:00Z"},"1":{"id":1,"name":"dev","join_rule":"token","token":"s3cret",)"
         R"("members":[1],"member_roles":{"1":"owner"},"created":"2026-01-02T00:00:00Z"}},"trust_pairs":["2:1"],)"
         R"("invite_inbox":{"2":[{"network_id":1,"inviter_id":1,"timestamp":"2026-06-01T10:00:00.25Z"}]},)"
         R"("handshake_inbox":{"1":[{"from_node_id":2,"justification":"hello","timestamp":"2026-06-01T10:00:00Z"}],"x":[]},)"
         R"("term":7})";
}

TEST(GoSnapshotChecksum, VerifiesTheRawBytes) {
  std::string file = with_checksum(sample_body());
  Checksum c = raw_checksum(file);
  EXPECT_TRUE(c.present);
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.expected, hex_sha256(sample_body()));
  // A trailing newline (an editor's) does not change what was hashed.
  EXPECT_TRUE(raw_checksum(file + "\n").ok);

  GoState st;
  std::string err;
  ASSERT_TRUE(parse_snapshot(file, &st, &err)) << err;
  EXPECT_EQ(st.version, 1);
  EXPECT_EQ(st.term, 7u);
  EXPECT_EQ(st.next_node, 3u);
  ASSERT_EQ(st.nodes.size(), 2u);
  EXPECT_EQ(st.nodes[1].owner, "ops@example.com");
  EXPECT_EQ(st.nodes[1].networks, (std::vector<uint16_t>{0, 1}));
  EXPECT_EQ(st.nodes[2].networks, (std::vector<uint16_t>{0}));
  EXPECT_EQ(st.last_seen_ns[1], 1780315200LL * 1000000000);
  EXPECT_EQ(st.networks.count(0), 0u) << "the backbone is ours, not imported";
  ASSERT_EQ(st.networks.count(1), 1u);
  EXPECT_EQ(st.networks[1].net.token, "s3cret");
  EXPECT_EQ(st.networks[1].roles[1], "owner");
  EXPECT_EQ(st.trust.count({1, 2}), 1u) << "pairs are normalised low:high";
  EXPECT_EQ(st.key_index[raw_of(key_b64(2))], 2u);
  ASSERT_EQ(st.invites[2].size(), 1u);
  EXPECT_EQ(st.invites[2][0].inviter, 1u);
  ASSERT_EQ(st.handshakes[1].size(), 1u);
  EXPECT_EQ(st.handshakes[1][0].justification, "hello");
  ASSERT_EQ(st.warnings.size(), 1u) << "the inbox key \"x\" is dropped";
  EXPECT_NE(st.warnings[0].find("\"x\""), std::string::npos);
}

TEST(GoSnapshotChecksum, TamperedFileIsRefusedWithBothHashes) {
  std::string file = with_checksum(sample_body());
  size_t at = file.find("s3cret");
  file[at] = 'S';
  GoState st;
  std::string err;
  EXPECT_FALSE(parse_snapshot(file, &st, &err));
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  EXPECT_NE(err.find("expected " + hex_sha256(sample_body())), std::string::npos) << err;
  EXPECT_NE(err.find("computed "), std::string::npos) << err;
}

// Go writes <, > and & literally (HTML escaping off); its own loader re-encodes with escaping
// on and so refuses such files. Hashing the raw bytes accepts them, and a file written by an
// encoder that did escape them verifies on its own bytes too.
TEST(GoSnapshotChecksum, HtmlCharactersDoNotBreakTheChecksum) {
  std::string literal = R"({"version":1,"next_node":2,"next_net":1,"nodes":{"1":{"id":1,"public_key":")" + key_b64(5) +
                        R"(","networks":[0],"hostname":"a<b>&c","tags":["x&y"]}},"networks":{}})";
  GoState st;
  std::string err;
  ASSERT_TRUE(parse_snapshot(with_checksum(literal), &st, &err)) << err;
  EXPECT_EQ(st.nodes[1].hostname, "a<b>&c");
  EXPECT_EQ(st.nodes[1].tags, (std::vector<std::string>{"x&y"}));

  std::string escaped = R"({"version":1,"next_node":2,"next_net":1,"nodes":{"1":{"id":1,"public_key":")" + key_b64(5) +
                        R"(","networks":[0],"hostname":"a\u003cb\u003e\u0026c"}},"networks":{}})";
  GoState st2;
  ASSERT_TRUE(parse_snapshot(with_checksum(escaped), &st2, &err)) << err;
  EXPECT_EQ(st2.nodes[1].hostname, "a<b>&c");
}

TEST(GoSnapshotRefusals, BadJsonUnknownVersionMissingOrMisplacedChecksum) {
  GoState st;
  std::string err;
  EXPECT_FALSE(parse_snapshot("{\"version\":1,\"nodes\":", &st, &err));
  EXPECT_NE(err.find("not valid JSON"), std::string::npos) << err;

  EXPECT_FALSE(parse_snapshot(with_checksum(R"({"version":2,"nodes":{},"networks":{}})"), &st, &err));
  EXPECT_NE(err.find("version 2"), std::string::npos) << err;

  EXPECT_FALSE(parse_snapshot(R"({"version":1,"nodes":{},"networks":{}})", &st, &err));
  EXPECT_NE(err.find("no checksum"), std::string::npos) << err;

  std::string body = R"({"version":1,"nodes":{},"networks":{}})";
  std::string misplaced = R"({"checksum":")" + hex_sha256(body) + R"(","version":1,"nodes":{},"networks":{}})";
  EXPECT_FALSE(parse_snapshot(misplaced, &st, &err));
  EXPECT_NE(err.find("not the file's last key"), std::string::npos) << err;

  EXPECT_FALSE(parse_snapshot(with_checksum(R"({"version":1,"next_node":-1,"nodes":{},"networks":{}})"), &st, &err));
  EXPECT_NE(err.find("next_node"), std::string::npos) << err;
}

// Legacy (version 0) files have no checksum; their networks get roles backfilled (§3.6), nodes
// with an undecodable key are dropped, and keys this build does not carry over are named.
TEST(GoSnapshotLegacy, RolesBackfilledBadEntriesDroppedUnknownKeysNamed) {
  std::string file = R"({"next_node":4,"nodes":{"1":{"id":1,"public_key":")" + key_b64(1) +
                     R"(","networks":[0,3]},"2":{"id":2,"public_key":"not base64!"}},)"
                     R"("networks":{"3":{"id":3,"name":"old","join_rule":"open","members":[1,2]}},"idp_config":{"type":"oidc","url":"ftp://x"},)"
                     R"("rbac_pre_assign":{"3":[{"external_id":"Ann@Example.com","role":"admin"},{"external_id":"b","role":"root"}]},)"
                     R"("probe_states":{}})";
  GoState st;
  std::string err;
  ASSERT_TRUE(parse_snapshot(file, &st, &err)) << err;
  EXPECT_EQ(st.version, 0);
  EXPECT_EQ(st.nodes.size(), 1u);
  EXPECT_EQ(st.networks[3].roles[1], "owner");
  EXPECT_EQ(st.networks[3].roles[2], "member");
  ASSERT_EQ(st.warnings.size(), 3u);
  EXPECT_NE(st.warnings[0].find("node 2"), std::string::npos);
  EXPECT_NE(st.warnings[1].find("idp_config: url is not an http(s) URL"), std::string::npos) << st.warnings[1];
  EXPECT_NE(st.warnings[2].find("role \"root\""), std::string::npos) << st.warnings[2];
  EXPECT_FALSE(st.idp);
  EXPECT_EQ(st.preassign.size(), 1u);
  EXPECT_EQ((st.preassign[{3, "Ann@Example.com"}]), "admin");
  EXPECT_EQ(st.not_imported, (std::vector<std::string>{"probe_states"}));
}

std::string record(const std::string& json) {
  uint32_t n = uint32_t(json.size());
  std::string out{char(n & 0xff), char(n >> 8 & 0xff), char(n >> 16 & 0xff), char(n >> 24 & 0xff)};
  return out + json;
}
std::string reg(uint32_t id, uint8_t fill) {
  return record(R"({"seq_no":0,"type":1,"node_id":)" + std::to_string(id) + R"(,"data":{"node_id":)" +
                std::to_string(id) + R"(,"public_key":")" + key_b64(fill) +
                R"(","hostname":"h)" + std::to_string(id) + R"(","created_at":"2026-06-01T00:00:00Z"}})");
}
std::string join(uint32_t node, uint16_t net, int type = 10) {
  return record(R"({"seq_no":0,"type":)" + std::to_string(type) + R"(,"node_id":)" + std::to_string(node) +
                R"(,"data":{"node_id":)" + std::to_string(node) + R"(,"network_id":)" + std::to_string(net) + "}}");
}
std::string create_net(uint16_t net, uint32_t creator) {
  return record(R"({"seq_no":0,"type":9,"data":{"network_id":)" + std::to_string(net) + R"(,"name":"n)" +
                std::to_string(net) + R"(","join_rule":"open","creator_node_id":)" + std::to_string(creator) +
                R"(,"created_at":"2026-06-01T00:00:00Z"}})");
}

TEST(GoWal, TornTailEndsTheLogWithoutError) {
  GoState st;
  std::string wal = reg(1, 1) + reg(2, 2);
  std::string third = reg(3, 3);
  wal += third.substr(0, third.size() - 5);  // the last write was cut short
  WalReport r = replay_wal(wal, &st, 1000);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.applied, 2u);
  EXPECT_EQ(r.torn_bytes, third.size() - 5);
  EXPECT_EQ(st.nodes.size(), 2u);
  EXPECT_EQ(st.next_node, 3u);

  // A torn length prefix (fewer than 4 bytes) is the end too.
  GoState st2;
  WalReport r2 = replay_wal(reg(1, 1) + std::string("\x10\x00", 2), &st2, 1000);
  EXPECT_FALSE(r2.stopped);
  EXPECT_EQ(r2.applied, 1u);
  EXPECT_EQ(r2.torn_bytes, 2u);
}

TEST(GoWal, OversizeEntryStopsTheReplay) {
  GoState st;
  uint32_t n = kMaxWalEntryBytes + 1;
  std::string big{char(n & 0xff), char(n >> 8 & 0xff), char(n >> 16 & 0xff), char(n >> 24 & 0xff)};
  big += std::string(n, ' ');
  WalReport r = replay_wal(reg(1, 1) + big + reg(2, 2), &st, 1000);
  EXPECT_TRUE(r.stopped);
  EXPECT_NE(r.stop_reason.find("WAL entry 2 too large"), std::string::npos) << r.stop_reason;
  EXPECT_EQ(st.nodes.size(), 1u) << "nothing after the oversize entry is applied";
  EXPECT_GT(r.unread_bytes, size_t(n));
}

TEST(GoWal, CorruptEntryIsSkippedAndReplayGoesOn) {
  GoState st;
  WalReport r = replay_wal(reg(1, 1) + record("{not json") + reg(2, 2), &st, 1000);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.skipped_corrupt, 1u);
  EXPECT_EQ(r.applied, 2u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("skipping corrupt entry 2"), std::string::npos);
  EXPECT_EQ(st.nodes.size(), 2u);
}

TEST(GoWal, ApplyErrorStopsWithWhatWasApplied) {
  GoState st;
  std::string keyless = record(R"({"seq_no":0,"type":1,"node_id":5,"data":{"node_id":5}})");
  WalReport r = replay_wal(reg(1, 1) + keyless + reg(2, 2), &st, 1000);
  EXPECT_TRUE(r.stopped);
  EXPECT_NE(r.stop_reason.find("WAL entry 2: register of node 5 without public_key"), std::string::npos)
      << r.stop_reason;
  EXPECT_EQ(st.nodes.size(), 1u);
  EXPECT_EQ(st.nodes.count(1), 1u);
}

TEST(GoWal, ReplayIsIdempotent) {
  std::string wal = reg(1, 1) + reg(2, 2) + create_net(4, 1) + join(2, 4) + join(2, 4) +
                    record(R"({"seq_no":0,"type":3,"node_id":1})") /* heartbeat: never replayed */;
  GoState st;
  WalReport first = replay_wal(wal, &st, 1000);
  EXPECT_EQ(first.applied, 4u);
  EXPECT_EQ(first.noop, 1u) << "the second join of the same node";
  EXPECT_EQ(first.skipped_type, 1u);
  GoState again = st;
  WalReport second = replay_wal(wal, &again, 2000);
  EXPECT_EQ(second.applied, 0u);
  EXPECT_EQ(second.noop, 5u);
  EXPECT_EQ(again.nodes.size(), st.nodes.size());
  EXPECT_EQ(again.networks[4].members, st.networks[4].members);
  EXPECT_EQ(again.nodes[2].networks, st.nodes[2].networks);
  EXPECT_EQ(again.next_node, st.next_node);
  EXPECT_EQ(again.next_net, st.next_net);
}

TEST(GoWal, ApplyRules) {
  GoState st;
  WalReport r = replay_wal(reg(1, 1) + reg(2, 2) + create_net(4, 1) + join(2, 4), &st, 1000);
  ASSERT_FALSE(r.stopped) << r.stop_reason;
  EXPECT_EQ(st.next_node, 3u);
  EXPECT_EQ(st.next_net, 5u);
  EXPECT_EQ(st.networks[4].members, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(st.networks[4].roles[1], "owner");
  EXPECT_EQ(st.networks[4].roles[2], "member");
  EXPECT_EQ(st.nodes[1].networks, (std::vector<uint16_t>{0, 4}));
  EXPECT_EQ(st.nodes[1].created_at, 1780272000);
  EXPECT_EQ(st.last_seen_ns[1], 1780272000LL * 1000000000);

  // leave removes both sides; joining a network that does not exist is a no-op.
  bool changed = false;
  JsonPtr leave(json_pack("{s:i,s:i}", "node_id", 2, "network_id", 4));
  EXPECT_EQ(apply_wal_entry(&st, kWalNetworkLeave, 0, leave.get(), 1000, &changed), "");
  EXPECT_TRUE(changed);
  EXPECT_EQ(st.networks[4].members, (std::vector<uint32_t>{1}));
  EXPECT_EQ(st.nodes[2].networks, (std::vector<uint16_t>{0}));
  JsonPtr nowhere(json_pack("{s:i,s:i}", "node_id", 2, "network_id", 99));
  EXPECT_EQ(apply_wal_entry(&st, kWalNetworkJoin, 0, nowhere.get(), 1000, &changed), "");
  EXPECT_FALSE(changed);

  // key_rotation swaps the index, counts, and clears the badge on request.
  st.nodes[1].badge = "b";
  std::string rot_json = R"({"node_id":1,"new_public_key":")" + key_b64(9) +
                         R"(","rotated_at":"2026-06-02T00:00:00Z","clear_badge":true})";
  JsonPtr rot(json_loads(rot_json.c_str(), 0, nullptr));
  EXPECT_EQ(apply_wal_entry(&st, kWalKeyRotation, 0, rot.get(), 1000, &changed), "");
  EXPECT_EQ(st.key_index.count(raw_of(key_b64(1))), 0u);
  EXPECT_EQ(st.key_index[raw_of(key_b64(9))], 1u);
  EXPECT_EQ(st.nodes[1].rotate_count, 1u);
  EXPECT_EQ(st.nodes[1].badge, "");
  EXPECT_EQ(apply_wal_entry(&st, kWalKeyRotation, 0, rot.get(), 1000, &changed), "");
  EXPECT_FALSE(changed) << "the same rotation again is already in effect";
  JsonPtr keyless(json_pack("{s:i}", "node_id", 1));
  EXPECT_NE(apply_wal_entry(&st, kWalKeyRotation, 0, keyless.get(), 1000, &changed), "");

  // network_delete drops it from its members' lists; deregister removes the node everywhere.
  JsonPtr del_net(json_pack("{s:i}", "network_id", 4));
  EXPECT_EQ(apply_wal_entry(&st, kWalNetworkDelete, 0, del_net.get(), 1000, &changed), "");
  EXPECT_EQ(st.networks.count(4), 0u);
  EXPECT_EQ(st.nodes[1].networks, (std::vector<uint16_t>{0}));
  JsonPtr dereg(json_pack("{s:i}", "node_id", 2));
  EXPECT_EQ(apply_wal_entry(&st, kWalDeregister, 0, dereg.get(), 1000, &changed), "");
  EXPECT_EQ(st.nodes.count(2), 0u);
  EXPECT_EQ(st.key_index.count(raw_of(key_b64(2))), 0u);
  EXPECT_EQ(apply_wal_entry(&st, kWalDeregister, 0, dereg.get(), 1000, &changed), "");
  EXPECT_FALSE(changed);
}

TEST(GoTime, FractionsAndOffsets) {
  int64_t ns = 0;
  ASSERT_TRUE(parse_go_time_ns("2026-06-01T10:00:00.25Z", &ns));
  EXPECT_EQ(ns, 1780308000LL * 1000000000 + 250000000);
  ASSERT_TRUE(parse_go_time_ns("2026-06-01T12:00:00.123456789+02:00", &ns));
  EXPECT_EQ(ns, 1780308000LL * 1000000000 + 123456789);
  EXPECT_FALSE(parse_go_time_ns("yesterday", &ns));
}

}  // namespace
}  // namespace rdv::gosnap
