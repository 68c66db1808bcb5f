// CRC32C (shared/crc32c.h): the standard check value, known vectors, incremental use, and the
// hardware and software implementations agreeing on random data of every alignment.
#include "crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace {

TEST(Crc32c, StandardCheckValue) {
  EXPECT_EQ(rdv::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(rdv::crc32c_software("123456789"), 0xE3069283u);
  if (rdv::crc32c_hardware_available()) {
    EXPECT_EQ(rdv::crc32c_hardware("123456789"), 0xE3069283u);
  }
}

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) appendix B.4.
  EXPECT_EQ(rdv::crc32c(""), 0u);
  EXPECT_EQ(rdv::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(rdv::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; i++) ascending += char(i), descending += char(31 - i);
  EXPECT_EQ(rdv::crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(rdv::crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(rdv::crc32c_software(ascending), 0x46DD794Eu);
}

TEST(Crc32c, IncrementalEqualsWhole) {
  std::string s = "The quick brown fox jumps over the lazy dog, twice over for good measure.";
  for (size_t cut = 0; cut <= s.size(); cut++) {
    std::string_view v(s);
    EXPECT_EQ(rdv::crc32c(v.substr(cut), rdv::crc32c(v.substr(0, cut))), rdv::crc32c(s)) << cut;
    EXPECT_EQ(rdv::crc32c_software(v.substr(cut), rdv::crc32c_software(v.substr(0, cut))), rdv::crc32c(s)) << cut;
  }
}

TEST(Crc32c, HardwareMatchesSoftwareOnRandomData) {
  if (!rdv::crc32c_hardware_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  std::mt19937_64 rng(12345);
  std::string buf(4096 + 16, '\0');
  for (auto& c : buf) c = char(rng());
  for (int round = 0; round < 2000; round++) {
    size_t offset = rng() % 16, len = rng() % 4096;
    std::string_view v(buf.data() + offset, len);
    uint32_t seed = round % 3 == 0 ? 0 : uint32_t(rng());
    ASSERT_EQ(rdv::crc32c_hardware(v, seed), rdv::crc32c_software(v, seed)) << offset << " " << len;
  }
}

}  // namespace
