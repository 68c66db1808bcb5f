// Log lines: text and JSON formats, the process name on every line, escaping, levels, and the
// "<N>" syslog priority prefix when stderr is the journal (JOURNAL_STREAM matches stderr).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "json.h"
#include "log.h"

namespace {

// Runs `fn` with stderr redirected to a temp file and returns what was written.
template <typename Fn>
std::string capture_stderr(Fn fn) {
  char path[] = "/tmp/rdv-log-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  FILE* f = fopen(path, "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  close(fd);
  unlink(path);
  return out;
}

// The logger is process-wide: each test starts from, and leaves, the defaults (other suites,
// such as the fuzz fixture's, quiet it).
class Log : public ::testing::Test {
 protected:
  void SetUp() override { reset(); }
  void TearDown() override { reset(); }
  static void reset() {
    unsetenv("JOURNAL_STREAM");
    rdv::log_init("unit");
    rdv::log_set_format(rdv::LogFormat::Text);
    rdv::log_set_level(rdv::LogLevel::Info);
  }
};

TEST_F(Log, TextLineNamesTheProcessAndQuotesWhereNeeded) {
  std::string out = capture_stderr([] {
    rdv::log_init("registry");
    rdv::log_set_format(rdv::LogFormat::Text);
    rdv::log_info("listening", {{"addr", ":9000"}, {"note", "two words"}, {"q", "a\"b"}});
  });
  EXPECT_EQ(out.rfind("time=", 0), 0u) << out;
  EXPECT_NE(out.find(" level=info proc=registry msg=listening addr=:9000 note=\"two words\" q=\"a\\\"b\"\n"),
            std::string::npos)
      << out;
}

TEST_F(Log, JsonLineIsOneValidObject) {
  std::string out = capture_stderr([] {
    rdv::log_init("admin");
    rdv::log_set_format(rdv::LogFormat::Json);
    rdv::log_warn("odd \"input\"\n", {{"peer", "1.2.3.4"}});
  });
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  json_error_t err;
  rdv::JsonPtr j(json_loads(out.c_str(), 0, &err));
  ASSERT_TRUE(j) << err.text << ": " << out;
  EXPECT_EQ(rdv::json_str(j.get(), "level"), "warn");
  EXPECT_EQ(rdv::json_str(j.get(), "proc"), "admin");
  EXPECT_EQ(rdv::json_str(j.get(), "msg"), "odd \"input\"\n");
  EXPECT_EQ(rdv::json_str(j.get(), "peer"), "1.2.3.4");
}

TEST_F(Log, LevelFiltersLowerRecords) {
  std::string out = capture_stderr([] {
    rdv::log_init("x");
    rdv::log_set_level(rdv::LogLevel::Warn);
    rdv::log_info("hidden");
    rdv::log_debug("hidden too");
    rdv::log_error("shown");
  });
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
}

TEST_F(Log, JournalGetsSyslogPriorityPrefixes) {
  std::string out = capture_stderr([] {
    struct stat st;
    fstat(STDERR_FILENO, &st);
    std::string js = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    setenv("JOURNAL_STREAM", js.c_str(), 1);
    rdv::log_init("supervisor");  // detects the journal
    rdv::log_error("bad");
    rdv::log_info("fine");
  });
  EXPECT_EQ(out.rfind("<3>time=", 0), 0u) << out;
  EXPECT_NE(out.find("\n<6>time="), std::string::npos) << out;
}

TEST_F(Log, NoPrefixWhenJournalStreamIsAnotherFile) {
  std::string out = capture_stderr([] {
    setenv("JOURNAL_STREAM", "1:2", 1);
    rdv::log_init("supervisor");
    rdv::log_info("plain");
  });
  EXPECT_EQ(out.rfind("time=", 0), 0u) << out;
}

}  // namespace
