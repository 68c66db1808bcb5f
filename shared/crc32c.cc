#include "crc32c.h"

#include <array>
#include <cstring>

namespace rdv {

namespace {
constexpr uint32_t kPolyReflected = 0x82F63B78u;

// Slicing-by-8 tables: table[0] is the classic byte table; table[k][b] is the CRC of byte b
// followed by k zero bytes, so eight bytes fold in one step of eight lookups.
struct Tables {
  uint32_t t[8][256];
};

constexpr Tables make_tables() {
  Tables tables{};
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int i = 0; i < 8; i++) c = (c >> 1) ^ ((c & 1) ? kPolyReflected : 0);
    tables.t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; b++)
    for (int k = 1; k < 8; k++) tables.t[k][b] = (tables.t[k - 1][b] >> 8) ^ tables.t[0][tables.t[k - 1][b] & 0xff];
  return tables;
}

constexpr Tables kTables = make_tables();

uint64_t load_le64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}
}  // namespace

uint32_t crc32c_software(std::string_view data, uint32_t crc) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t c = ~crc;
  const auto& t = kTables.t;
  while (n >= 8) {
    uint64_t v = load_le64(p) ^ c;
    c = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^ t[4][(v >> 24) & 0xff] ^
        t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^ t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
  return ~c;
}

#if defined(__x86_64__)
// Compiled for SSE4.2 on its own so the rest of the binary still runs on any x86-64; only
// called once crc32c_hardware_available() said the CPU has the instruction.
__attribute__((target("sse4.2"))) uint32_t crc32c_hardware(std::string_view data, uint32_t crc) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint64_t c = uint32_t(~crc);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = uint32_t(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}

bool crc32c_hardware_available() {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
}
#else
uint32_t crc32c_hardware(std::string_view data, uint32_t crc) { return crc32c_software(data, crc); }
bool crc32c_hardware_available() { return false; }
#endif

uint32_t crc32c(std::string_view data, uint32_t crc) {
  return crc32c_hardware_available() ? crc32c_hardware(data, crc) : crc32c_software(data, crc);
}

}  // namespace rdv
