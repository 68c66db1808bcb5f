// The epoch file (shared/epoch.h): round trip, a missing file, refusal of a symbolic link, of
// corrupt content and of epoch 0, and a stale temp file from a crash not blocking a write.
#include "epoch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

class EpochFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-epoch-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_ + "/epoch"; }
  void write_raw(const std::string& text) {
    std::ofstream f(path(), std::ios::binary | std::ios::trunc);
    f << text;
  }
  // Reads with the expectation that it fails; returns the message.
  std::string read_error() {
    uint64_t epoch = 99;
    bool exists = true;
    std::string err;
    EXPECT_FALSE(rdv::read_epoch_file(dir_, &epoch, &exists, &err));
    EXPECT_EQ(epoch, 99u);
    EXPECT_FALSE(exists);
    EXPECT_FALSE(err.empty());
    return err;
  }
  std::string dir_;
};

TEST_F(EpochFile, RoundTrip) {
  std::string err;
  for (uint64_t e : {uint64_t(1), uint64_t(2), uint64_t(1234567), UINT64_MAX}) {
    ASSERT_TRUE(rdv::write_epoch_file(dir_, e, &err)) << err;
    uint64_t back = 0;
    bool exists = false;
    ASSERT_TRUE(rdv::read_epoch_file(dir_, &back, &exists, &err)) << err;
    EXPECT_TRUE(exists);
    EXPECT_EQ(back, e);
  }
  std::ifstream f(path());
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "rendezvous epoch 18446744073709551615\n");
  struct stat st;
  ASSERT_EQ(stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0137, 0u);  // 0640 at most (the umask may only remove bits)
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/epoch.tmp"));
}

TEST_F(EpochFile, MissingFileIsNotAnError) {
  uint64_t epoch = 42;
  bool exists = true;
  std::string err;
  ASSERT_TRUE(rdv::read_epoch_file(dir_, &epoch, &exists, &err)) << err;
  EXPECT_FALSE(exists);
  EXPECT_EQ(epoch, 42u);
}

TEST_F(EpochFile, MissingDirectoryNamesTheCall) {
  std::string err;
  EXPECT_FALSE(rdv::write_epoch_file(dir_ + "/nope", 3, &err));
  EXPECT_NE(err.find("open() failed on " + dir_ + "/nope/epoch.tmp"), std::string::npos) << err;
}

TEST_F(EpochFile, SymlinkRefused) {
  std::string err;
  ASSERT_TRUE(rdv::write_epoch_file(dir_, 5, &err)) << err;
  ASSERT_EQ(rename(path().c_str(), (dir_ + "/real").c_str()), 0);
  ASSERT_EQ(symlink((dir_ + "/real").c_str(), path().c_str()), 0);
  err = read_error();
  EXPECT_NE(err.find("symbolic link"), std::string::npos) << err;
  EXPECT_NE(err.find(path()), std::string::npos) << err;
}

TEST_F(EpochFile, NonRegularFileRefused) {
  ASSERT_EQ(mkdir(path().c_str(), 0750), 0);
  std::string err = read_error();
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
}

TEST_F(EpochFile, CorruptContentRefused) {
  const char* bad[] = {
      "",                                   // empty
      "rendezvous epoch 5",                 // no newline
      "rendezvous epoch \n",                // no number
      "rendezvous epoch 05\n",              // leading zero
      "rendezvous epoch +5\n",              // sign
      "rendezvous epoch  5\n",              // two spaces
      "rendezvous epoch 5 \n",              // trailing space
      "rendezvous epoch 5\n\n",             // second line
      "rendezvous epoch 5\nrendezvous epoch 6\n",
      "rendezvous epoch 18446744073709551616\n",  // 2^64
      "rendezvous epoch 99999999999999999999999\n",
      "Rendezvous epoch 5\n",
      "epoch 5\n",
      "5\n",
      "rendezvous epoch 0x10\n",
  };
  for (const char* text : bad) {
    write_raw(text);
    std::string err = read_error();
    EXPECT_NE(err.find("is corrupt"), std::string::npos) << text << ": " << err;
    EXPECT_NE(err.find(path()), std::string::npos) << err;
  }
  write_raw(std::string("rendezvous epoch 5\n\0", 20));
  EXPECT_NE(read_error().find("is corrupt"), std::string::npos);
  write_raw(std::string(4096, '7'));
  EXPECT_NE(read_error().find("longer than"), std::string::npos);
}

TEST_F(EpochFile, EpochZeroRefused) {
  std::string err;
  EXPECT_FALSE(rdv::write_epoch_file(dir_, 0, &err));
  EXPECT_NE(err.find("epoch 0"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(path()));
  write_raw("rendezvous epoch 0\n");
  err = read_error();
  EXPECT_NE(err.find("epoch is 0"), std::string::npos) << err;
}

TEST_F(EpochFile, StaleTempFileFromACrashIsReplaced) {
  std::string err;
  ASSERT_TRUE(rdv::write_epoch_file(dir_, 7, &err)) << err;
  { std::ofstream(dir_ + "/epoch.tmp") << "half"; }
  ASSERT_TRUE(rdv::write_epoch_file(dir_, 8, &err)) << err;
  uint64_t back = 0;
  bool exists = false;
  ASSERT_TRUE(rdv::read_epoch_file(dir_, &back, &exists, &err)) << err;
  EXPECT_EQ(back, 8u);
  // A symlink planted as the temp file is removed, never written through.
  ASSERT_EQ(symlink((dir_ + "/target").c_str(), (dir_ + "/epoch.tmp").c_str()), 0);
  ASSERT_TRUE(rdv::write_epoch_file(dir_, 9, &err)) << err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/target"));
}

TEST_F(EpochFile, LoadOrCreateMigratesTheLegacyEpochOnce) {
  uint64_t epoch = 0;
  bool created = false;
  std::string err;
  ASSERT_TRUE(rdv::load_or_create_epoch_file(dir_, 4, &epoch, &created, &err)) << err;
  EXPECT_TRUE(created);
  EXPECT_EQ(epoch, 4u);
  // From now on the file rules; a (stale) legacy value is ignored.
  ASSERT_TRUE(rdv::load_or_create_epoch_file(dir_, 2, &epoch, &created, &err)) << err;
  EXPECT_FALSE(created);
  EXPECT_EQ(epoch, 4u);
  std::filesystem::remove(path());
  ASSERT_TRUE(rdv::load_or_create_epoch_file(dir_, 0, &epoch, &created, &err)) << err;
  EXPECT_TRUE(created);
  EXPECT_EQ(epoch, 1u);  // a new data dir starts at 1
  write_raw("garbage\n");
  EXPECT_FALSE(rdv::load_or_create_epoch_file(dir_, 9, &epoch, &created, &err));
  EXPECT_NE(err.find("is corrupt"), std::string::npos) << err;
}

TEST(EpochText, ParseAndFormat) {
  uint64_t e = 0;
  std::string err;
  EXPECT_EQ(rdv::format_epoch_text(12), "rendezvous epoch 12\n");
  EXPECT_TRUE(rdv::parse_epoch_text("rendezvous epoch 12\n", &e, &err)) << err;
  EXPECT_EQ(e, 12u);
  EXPECT_TRUE(rdv::parse_epoch_text(rdv::format_epoch_text(UINT64_MAX), &e, &err)) << err;
  EXPECT_EQ(e, UINT64_MAX);
}

}  // namespace
