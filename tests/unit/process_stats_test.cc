// /proc and LMDB figures of the admin worker's runtime routes (worker-admin/process_stats.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "worker-admin/process_stats.h"

namespace {

using namespace rdv::admin;

TEST(ProcessStats, ReadsThisProcess) {
  std::thread busy([] {});  // at least one thread besides main existed; threads counts the live ones
  busy.join();
  ProcFigures f = read_proc(getpid());
  EXPECT_TRUE(f.alive);
  EXPECT_GT(f.rss_bytes, 1u << 20);
  EXPECT_GE(f.threads, 1);
  EXPECT_GE(f.open_fds, 3);
  EXPECT_GT(f.start_unix, 1700000000);
  EXPECT_LE(f.start_unix, time(nullptr) + 1);
}

TEST(ProcessStats, AGoneProcessIsNotAlive) {
  ProcFigures f = read_proc(0);
  EXPECT_FALSE(f.alive);
  EXPECT_EQ(f.rss_bytes, 0u);
}

TEST(ProcessStats, MissingWorkersFileSaysWhy) {
  std::vector<WorkerFigures> w;
  std::string error;
  EXPECT_FALSE(read_workers("/nonexistent-run-dir", &w, &error));
  EXPECT_NE(error.find("workers.json does not exist"), std::string::npos) << error;
}

}  // namespace
