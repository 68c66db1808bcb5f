#include "tests/bench/references.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>
#include <thread>
#include <vector>

#include "shared/util.h"

namespace rdv::bench {

SyncFigure measure_fdatasync(const std::string& dir, double seconds) {
  SyncFigure f;
  std::string path = dir + "/fdatasync-probe";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) {
    f.error = sys_error("open(" + path + ")");
    return f;
  }
  constexpr size_t kBlock = 4096, kBlocks = 256;
  std::string block(kBlock, '\0');
  randombytes_buf(block.data(), block.size());
  for (size_t i = 0; i < kBlocks; i++) {
    if (::pwrite(fd.get(), block.data(), kBlock, off_t(i * kBlock)) != ssize_t(kBlock)) {
      f.error = sys_error("pwrite()");
      break;
    }
  }
  if (f.error.empty() && ::fsync(fd.get()) != 0) f.error = sys_error("fsync()");
  if (f.error.empty()) {
    int64_t t0 = mono_now_ns(), limit = t0 + int64_t(seconds * 1e9), now = t0;
    uint64_t n = 0;
    // Bounded: stops after `seconds` or 1 000 000 syncs, whichever comes first.
    while (now < limit && n < 1000000) {
      block[0] = char(n);
      if (::pwrite(fd.get(), block.data(), kBlock, off_t((n % kBlocks) * kBlock)) !=
          ssize_t(kBlock)) {
        f.error = sys_error("pwrite()");
        break;
      }
      if (::fdatasync(fd.get()) != 0) {
        f.error = sys_error("fdatasync()");
        break;
      }
      n++;
      now = mono_now_ns();
    }
    double s = double(now - t0) / 1e9;
    if (n > 0 && s > 0) {
      f.syncs_per_s = double(n) / s;
      f.mean_ms = s * 1e3 / double(n);
    }
  }
  fd.reset();
  ::unlink(path.c_str());
  return f;
}

double measure_ed25519_verify(double seconds) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_keypair(pk, sk);
  static constexpr std::string_view kMsg = "heartbeat:1234567";
  const auto* m = reinterpret_cast<const unsigned char*>(kMsg.data());
  crypto_sign_detached(sig, nullptr, m, kMsg.size(), sk);
  int64_t t0 = mono_now_ns(), limit = t0 + int64_t(seconds * 1e9), now = t0;
  uint64_t n = 0, bad = 0;
  while (now < limit && n < 100000000) {
    for (int i = 0; i < 64; i++)
      if (crypto_sign_verify_detached(sig, m, kMsg.size(), pk) != 0) bad++;
    n += 64;
    now = mono_now_ns();
  }
  if (bad) return 0;  // cannot happen with a valid signature; never report a bogus figure
  return double(n) / (double(now - t0) / 1e9);
}

double measure_ed25519_verify_threads(double seconds, unsigned threads) {
  if (threads <= 1) return measure_ed25519_verify(seconds);
  std::vector<double> rates(threads, 0);
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; i++)
    pool.emplace_back([&rates, i, seconds] { rates[i] = measure_ed25519_verify(seconds); });
  for (auto& t : pool) t.join();
  double sum = 0;
  for (double r : rates) {
    if (r <= 0) return 0;  // one thread saw a failed verify: no figure rather than a bogus one
    sum += r;
  }
  return sum;
}

std::string filesystem_type(const std::string& path) {
  struct statfs s;
  if (::statfs(path.c_str(), &s) != 0) return "unknown (" + sys_error("statfs()") + ")";
  struct Known {
    unsigned long magic;
    const char* name;
  };
  static constexpr Known kKnown[] = {
      {0xEF53, "ext2/3/4"},       {0x58465342, "xfs"},  {0x9123683E, "btrfs"},
      {0x01021994, "tmpfs"},      {0x794C7630, "overlayfs"}, {0x2FC12FC1, "zfs"},
      {0xF2F52010, "f2fs"},       {0x6969, "nfs"},      {0x01021997, "9p (v9fs)"},
      {0x65735546, "fuse"},       {0x858458F6, "ramfs"}, {0x5346544E, "ntfs"},
      {0x4D44, "vfat"},           {0xCA451A4E, "bcachefs"}, {0x73717368, "squashfs"},
  };
  unsigned long t = static_cast<unsigned long>(s.f_type);
  for (const auto& k : kKnown)
    if (k.magic == t) return k.name;
  char buf[32];
  snprintf(buf, sizeof buf, "0x%lx", t);
  return buf;
}

std::string machine_facts() {
  std::string out;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  out += "nproc: " + std::to_string(ncpu) + "\n";
  utsname u;
  if (uname(&u) == 0)
    out += std::string("kernel: ") + u.sysname + " " + u.release + " " + u.machine + "\n";
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) out += "cpu:" + line.substr(colon + 1) + "\n";
      break;
    }
  }
  return out;
}

}  // namespace rdv::bench
