// The backup names and the retention sweep's selection (worker-admin/backups.h, ops-spec §3.9).
#include <gtest/gtest.h>

#include "worker-admin/backups.h"

namespace {

using namespace rdv::admin;

constexpr int64_t kSec = 1000000000;
constexpr int64_t kHour = 3600 * kSec;

TEST(BackupNames, OwnPattern) {
  EXPECT_TRUE(is_own_backup_name("rendezvous-20260601T120000Z.mdb"));
  EXPECT_EQ(backup_name_for(1780315200), "rendezvous-20260601T120000Z.mdb");
  EXPECT_TRUE(is_own_backup_name(backup_name_for(0)));
  EXPECT_FALSE(is_own_backup_name("rendezvous-20260601T120000Z.mdb.tmp"));
  EXPECT_FALSE(is_own_backup_name("rendezvous-20260601-120000Z.mdb"));
  EXPECT_FALSE(is_own_backup_name("rendezvous-2026060xT120000Z.mdb"));
  EXPECT_FALSE(is_own_backup_name("data.mdb"));
}

TEST(BackupNames, GoPatternOfSection39) {
  EXPECT_TRUE(is_go_backup_name("registry-20260608-120000.json"));
  EXPECT_TRUE(is_go_backup_name("registry-20260601T120000Z.json"));
  EXPECT_TRUE(is_go_backup_name("registry-pre-deploy-20260601T120000Z.json"));
  EXPECT_FALSE(is_go_backup_name("registry-PRISTINE-20260601T120000Z.json"));
  EXPECT_FALSE(is_go_backup_name("RECOVERY-README.md"));
  EXPECT_FALSE(is_go_backup_name("registry.json.bak.20260601"));
  EXPECT_FALSE(is_go_backup_name("registry-20260601T120000Z.json.tmp"));
  EXPECT_FALSE(is_go_backup_name("xregistry-20260601T120000Z.json"));
}

std::vector<BackupFile> files_aged(int64_t now, std::initializer_list<std::pair<const char*, int64_t>> list) {
  std::vector<BackupFile> out;
  for (auto& [name, age] : list) out.push_back({name, 100, now - age});
  return out;
}

TEST(BackupSweep, BothZeroIsNoOp) {
  const int64_t now = 1000 * kHour;
  auto files = files_aged(now, {{"rendezvous-20260601T120000Z.mdb", 999 * kHour}});
  EXPECT_TRUE(select_for_sweep(files, now, 0, 0).empty());
}

TEST(BackupSweep, CountKeepsNewestByMtime) {
  const int64_t now = 1000 * kHour;
  // Names deliberately disagree with the mtimes: the order is by mtime.
  auto files = files_aged(now, {{"rendezvous-20260101T000000Z.mdb", 1 * kHour},
                                {"rendezvous-20260102T000000Z.mdb", 3 * kHour},
                                {"rendezvous-20260103T000000Z.mdb", 2 * kHour},
                                {"registry-20260608-120000.json", 4 * kHour}});
  EXPECT_EQ(select_for_sweep(files, now, 0, 2), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(select_for_sweep(files, now, 0, 4), std::vector<size_t>{});
  EXPECT_EQ(select_for_sweep(files, now, 0, 1), (std::vector<size_t>{1, 2, 3}));
}

TEST(BackupSweep, AgeIsStrictlyOlderThan) {
  const int64_t now = 1000 * kHour;
  auto files = files_aged(now, {{"rendezvous-20260101T000000Z.mdb", 10 * kHour},
                                {"rendezvous-20260102T000000Z.mdb", 10 * kHour + 1},
                                {"rendezvous-20260103T000000Z.mdb", 1 * kHour}});
  EXPECT_EQ(select_for_sweep(files, now, 10 * kHour, 0), std::vector<size_t>{1});
}

TEST(BackupSweep, EitherRuleDeletes) {
  const int64_t now = 1000 * kHour;
  auto files = files_aged(now, {{"rendezvous-20260101T000000Z.mdb", 1 * kHour},
                                {"rendezvous-20260102T000000Z.mdb", 2 * kHour},
                                {"rendezvous-20260103T000000Z.mdb", 50 * kHour}});
  // max_count 3 keeps all three by count; the old one goes by age.
  EXPECT_EQ(select_for_sweep(files, now, 24 * kHour, 3), std::vector<size_t>{2});
  // max_count 1 removes the second by count, the third by both.
  EXPECT_EQ(select_for_sweep(files, now, 24 * kHour, 1), (std::vector<size_t>{1, 2}));
}

TEST(BackupSweep, ForeignNamesAreNeverCandidatesNorCounted) {
  const int64_t now = 1000 * kHour;
  auto files = files_aged(now, {{"registry-PRISTINE-20260101T000000Z.json", 900 * kHour},
                                {"RECOVERY-README.md", 900 * kHour},
                                {"registry.json.bak.1", 900 * kHour},
                                {"rendezvous-20260101T000000Z.mdb.tmp", 900 * kHour},
                                {"rendezvous-20260101T000000Z.mdb", 2 * kHour},
                                {"registry-pre-deploy-20260601T120000Z.json", 1 * kHour}});
  // Only the two matching names count towards max_count, so max_count 2 deletes nothing.
  EXPECT_TRUE(select_for_sweep(files, now, 24 * kHour, 2).empty());
  EXPECT_EQ(select_for_sweep(files, now, 24 * kHour, 1), std::vector<size_t>{4});
}

TEST(BackupSweep, EqualMtimesOrderByName) {
  const int64_t now = 1000 * kHour;
  auto files = files_aged(now, {{"rendezvous-20260102T000000Z.mdb", kHour}, {"rendezvous-20260101T000000Z.mdb", kHour}});
  EXPECT_EQ(select_for_sweep(files, now, 0, 1), std::vector<size_t>{1});
}

}  // namespace
