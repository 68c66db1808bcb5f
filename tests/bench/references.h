// Reference figures measured on this machine in the same run, so the registry's numbers can be
// read as ratios rather than absolutes: the single-fdatasync rate of the data dir's filesystem
// (what an fsync-per-write server would reach), the single-core Ed25519 verify rate (what a
// verify-per-heartbeat server would reach), and the machine facts printed at the top.
#pragma once

#include <string>

namespace rdv::bench {

struct SyncFigure {
  double syncs_per_s = 0;
  double mean_ms = 0;
  std::string error;  // non-empty when the probe failed
};

// In `dir` (a file "fdatasync-probe" created and removed there): a 1 MiB file is written and
// synced once, then for ~`seconds`: pwrite 4 KiB over one of its 256 blocks in turn + fdatasync.
// That is the cost of one durable LMDB commit's data sync, without LMDB.
SyncFigure measure_fdatasync(const std::string& dir, double seconds);

// crypto_sign_verify_detached on one core for ~`seconds`, over "heartbeat:1234567" with a valid
// signature (the heartbeat challenge). Returns verifies per second.
double measure_ed25519_verify(double seconds);

// The same on `threads` threads at once (each its own key pair); the sum of their rates. With
// threads = the number of cores, that is the most a server verifying one signature per request
// could reach on this machine.
double measure_ed25519_verify_threads(double seconds, unsigned threads);

// "ext4", "xfs", "tmpfs", … from statfs(2) f_type, or "0x…" when unknown.
std::string filesystem_type(const std::string& path);

// nproc, kernel, CPU model lines for the header.
std::string machine_facts();

}  // namespace rdv::bench
