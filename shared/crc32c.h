// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every
// change-log record (store.h), chosen because x86-64 computes it in hardware (SSE4.2) and it
// detects the burst errors a torn write or a flipped bit in transit produce.
//
// Conventions are the usual ones (iSCSI, ext4, LevelDB): initial value ~0, final xor ~0, so
// crc32c("123456789") == 0xE3069283. Thread rules: every function is pure and may be called
// from any thread; the hardware check runs once, on first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rdv {

// CRC32C of `data`, continuing from `crc` (the result of a previous call over the bytes that
// precede `data`; 0 to start). crc32c(b, crc32c(a)) == crc32c(a ‖ b).
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

// The two implementations behind crc32c(), exposed so tests can compare them. The hardware
// one must only be called when crc32c_hardware_available() is true.
uint32_t crc32c_software(std::string_view data, uint32_t crc = 0);
uint32_t crc32c_hardware(std::string_view data, uint32_t crc = 0);
bool crc32c_hardware_available();

}  // namespace rdv
