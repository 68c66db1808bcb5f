// The replication stream's pure parts (shared/replication.h) and the standby's applying
// (worker-replicator/apply.h) on a real LMDB environment in a temp dir.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "crc32c.h"
#include "replication.h"
#include "store.h"
#include "worker-replicator/apply.h"

using namespace rdv;
using namespace rdv::repl;

TEST(ReplicationFrames, RoundTripAndChecksum) {
  std::string out;
  append_frame(out, Kind::Ack, encode_ack(42));
  append_frame(out, Kind::Heartbeat, encode_heartbeat({7, 3, 123456789}));
  Frame f;
  size_t used = 0;
  std::string why;
  ASSERT_EQ(decode_frame(out, &f, &used, &why), DecodeStatus::Frame);
  EXPECT_EQ(f.kind, Kind::Ack);
  uint64_t seq = 0;
  ASSERT_TRUE(decode_ack(f.payload, &seq));
  EXPECT_EQ(seq, 42u);
  ASSERT_EQ(decode_frame(std::string_view(out).substr(used), &f, &used, &why), DecodeStatus::Frame);
  Heartbeat hb;
  ASSERT_TRUE(decode_heartbeat(f.payload, &hb));
  EXPECT_EQ(hb.last_seq, 7u);
  EXPECT_EQ(hb.epoch, 3u);
  EXPECT_EQ(hb.unix_ns, 123456789);
  // Partial input waits for more; a flipped bit is refused.
  EXPECT_EQ(decode_frame(std::string_view(out).substr(0, 6), &f, &used, &why), DecodeStatus::NeedMore);
  std::string bad = out;
  bad[6] ^= 1;
  EXPECT_EQ(decode_frame(bad, &f, &used, &why), DecodeStatus::Bad);
  EXPECT_EQ(why, "frame checksum mismatch");
}

TEST(ReplicationFrames, RefusesLengthsOutOfBoundsAndUnknownKinds) {
  Frame f;
  size_t used = 0;
  std::string why;
  std::string tiny = std::string("\0\0\0\4", 4) + "abcd";
  EXPECT_EQ(decode_frame(tiny, &f, &used, &why), DecodeStatus::Bad);
  std::string huge = std::string("\x7f\xff\xff\xff", 4);
  EXPECT_EQ(decode_frame(huge, &f, &used, &why), DecodeStatus::Bad);
  std::string out;
  append_frame(out, Kind(0x7e), "x");
  EXPECT_EQ(decode_frame(out, &f, &used, &why), DecodeStatus::Bad);
  EXPECT_NE(why.find("unknown frame kind"), std::string::npos);
}

TEST(ReplicationFrames, RecordsAndLivenessPayloads) {
  RecordsBuilder b;
  b.add("first");
  b.add("");
  b.add("third record");
  std::string p = b.take();
  EXPECT_EQ(b.count(), 0u);
  std::vector<std::string_view> recs;
  ASSERT_TRUE(decode_records(p, &recs));
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[2], "third record");
  EXPECT_FALSE(decode_records(p.substr(0, p.size() - 1), &recs));  // truncated
  EXPECT_FALSE(decode_records(p + "x", &recs));                    // trailing bytes
  std::vector<LivenessRow> rows{{1, 10}, {99, -5}};
  std::vector<LivenessRow> back;
  ASSERT_TRUE(decode_liveness(encode_liveness(rows), &back));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].id, 99u);
  EXPECT_EQ(back[1].last_seen_ns, -5);
  EXPECT_FALSE(decode_liveness(encode_liveness(rows) + "z", &back));
}

TEST(ReplicationHandshake, DecidesHowTheStreamStarts) {
  HandshakeInputs in;
  in.leader_epoch = 3;
  in.leader_last_seq = 100;
  in.leader_first_seq = 10;
  EXPECT_EQ(decide_start(in).start, Start::Copy) << "an empty standby";
  in.standby_last_seq = 50;
  in.standby_last_crc = 7;
  in.leader_has_standby_seq = true;
  in.leader_crc_at_standby_seq = 7;
  EXPECT_EQ(decide_start(in).start, Start::Records);
  in.leader_crc_at_standby_seq = 8;
  EXPECT_EQ(decide_start(in).start, Start::Copy) << "diverged";
  in.leader_crc_at_standby_seq = 7;
  in.standby_last_seq = 5;
  in.leader_has_standby_seq = false;
  EXPECT_EQ(decide_start(in).start, Start::Copy) << "trimmed";
  in.standby_last_seq = 101;
  EXPECT_EQ(decide_start(in).start, Start::Copy) << "ahead of the leader";
  in.standby_epoch = 4;
  HandshakeDecision d = decide_start(in);
  EXPECT_EQ(d.start, Start::Refuse);
  EXPECT_NE(d.reason.find("stale"), std::string::npos);
}

TEST(ReplicationLag, MeasuresAgainstTheWindow) {
  LagWindow w;
  w.add(1, 1000, 100);
  w.add(2, 2000, 50);
  w.add(3, 3000, 25);
  LagWindow::Lag lag = w.lag(1, 3, 5000);
  EXPECT_EQ(lag.records, 2u);
  EXPECT_EQ(lag.bytes, 75u);
  EXPECT_DOUBLE_EQ(lag.seconds, 3000e-9);
  EXPECT_TRUE(lag.exact);
  EXPECT_EQ(w.lag(3, 3, 9000).records, 0u);
  lag = w.lag(1, 5, 9000);  // commits the window has not seen yet
  EXPECT_EQ(lag.records, 4u);
  EXPECT_FALSE(lag.exact);
  // Trimmed from the front: the oldest point's own bytes still count.
  LagWindow small;
  for (uint64_t s = 1; s <= 10; s++) small.add(s, int64_t(s), 10, 4);
  lag = small.lag(8, 10, 20);
  EXPECT_EQ(lag.bytes, 20u);
  EXPECT_TRUE(lag.exact);
}

namespace {

struct TempEnv {
  std::string dir;
  Env env;
  TempEnv() {
    char tmpl[] = "/tmp/rdv-repl-XXXXXX";
    dir = mkdtemp(tmpl);
    std::string err;
    EXPECT_TRUE(env.open(EnvOptions{dir, 64ull << 20, 64, true}, &err)) << err;
  }
  ~TempEnv() { (void)!system(("rm -rf " + dir).c_str()); }
};

std::string record(uint64_t seq, uint64_t epoch, const std::string& key, const std::string& value) {
  ChangeRecord r;
  r.seq = seq;
  r.epoch = epoch;
  r.type = ChangeType::Settings;
  r.ops.push_back({true, Db::Settings, key, value});
  return encode_change(r);
}

std::string setting(Env& env, const std::string& key) {
  Txn txn;
  EXPECT_EQ(env.begin_read(&txn), 0);
  std::string_view v;
  return txn.get(Db::Settings, key, &v) == 0 ? std::string(v) : std::string("<none>");
}

}  // namespace

TEST(ReplicationApply, AppliesConsecutiveRecordsAndKeepsTheLog) {
  TempEnv t;
  replicator::LogPosition pos;
  std::string r1 = record(1, 1, "a", "1"), r2 = record(2, 1, "b", "2");
  replicator::ApplyResult res = replicator::apply_records(t.env, pos, {r1, r2}, 1);
  ASSERT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.applied, 2u);
  EXPECT_EQ(res.position.last_seq, 2u);
  EXPECT_EQ(res.position.last_crc, record_crc(r2));
  EXPECT_EQ(setting(t.env, "b"), "2");
  Txn txn;
  ASSERT_EQ(t.env.begin_read(&txn), 0);
  replicator::LogPosition stored;
  ASSERT_EQ(replicator::read_position(txn, &stored), 0);
  EXPECT_EQ(stored.last_seq, 2u);
  EXPECT_EQ(stored.last_crc, record_crc(r2));
  EXPECT_EQ(meta_u64(txn, "last_seq"), 2u);
}

TEST(ReplicationApply, RefusesABadBatchWithoutApplyingAnyOfIt) {
  TempEnv t;
  replicator::LogPosition pos;
  std::string good = record(1, 1, "a", "1"), damaged = record(2, 1, "b", "2");
  damaged[damaged.size() / 2] ^= 0x20;
  replicator::ApplyResult res = replicator::apply_records(t.env, pos, {good, damaged}, 1);
  EXPECT_NE(res.error.find("checksum"), std::string::npos) << res.error;
  EXPECT_EQ(res.applied, 0u);
  EXPECT_EQ(setting(t.env, "a"), "<none>") << "nothing of a refused batch is applied";
  // Out of sequence, an epoch above the leader's, an epoch going backwards.
  EXPECT_NE(replicator::apply_records(t.env, pos, {record(2, 1, "a", "1")}, 1).error, "");
  EXPECT_NE(replicator::apply_records(t.env, pos, {record(1, 5, "a", "1")}, 4).error, "");
  replicator::LogPosition at_epoch_3;
  at_epoch_3.last_epoch = 3;
  EXPECT_NE(replicator::apply_records(t.env, at_epoch_3, {record(1, 2, "a", "1")}, 3).error, "");
}

TEST(ReplicationApply, InstallsAFullCopyInOneTransaction) {
  TempEnv leader, standby;
  replicator::LogPosition pos;
  ASSERT_TRUE(replicator::apply_records(leader.env, pos, {record(1, 2, "k", "leader")}, 2).error.empty());
  ASSERT_TRUE(replicator::apply_records(standby.env, pos, {record(1, 1, "k", "stale"), record(2, 1, "s", "x")}, 1).error.empty());
  {
    Txn txn;
    ASSERT_EQ(standby.env.begin_write(&txn), 0);
    ASSERT_EQ(set_consumer_ack(txn, "standby:other", 2), 0);
    ASSERT_EQ(txn.commit(), 0);
  }
  std::string copy_dir = standby.dir + "/incoming";
  ASSERT_EQ(mkdir(copy_dir.c_str(), 0700), 0);
  ASSERT_EQ(mdb_env_copy2(leader.env.get(), copy_dir.c_str(), MDB_CP_COMPACT), 0);
  std::string err;
  replicator::LogPosition after;
  ASSERT_TRUE(replicator::install_copy(standby.env, copy_dir, &after, &err)) << err;
  EXPECT_EQ(after.last_seq, 1u);
  EXPECT_EQ(setting(standby.env, "k"), "leader");
  EXPECT_EQ(setting(standby.env, "s"), "<none>") << "the standby's diverged writes are gone";
  Txn txn;
  ASSERT_EQ(standby.env.begin_read(&txn), 0);
  std::vector<ConsumerAck> consumers;
  ASSERT_EQ(list_consumers(txn, &consumers), 0);
  EXPECT_TRUE(consumers.empty()) << "the copy's and our old consumers are cleared";
}
