// The replication epoch, kept in its own small file `<data-dir>/epoch` rather than in LMDB.
//
// Why a file: a standby that falls too far behind receives a full copy of the leader's
// environment (mdb_env_copyfd2) which replaces data.mdb wholesale; an epoch stored inside
// data.mdb would silently take the leader's value with it, and a node that had already seen a
// higher epoch could forget it. The file sits next to data.mdb, so the copy never touches it.
//
// Content: exactly one line, "rendezvous epoch N\n", where N is a decimal number from 1 to
// 2^64-1 without sign, leading zeros or spaces. Anything else (no newline, a second line, a
// number out of range, 0, another word) is a corrupt file and is refused, never repaired:
// fencing depends on the epoch, so guessing it is worse than stopping.
//
// Durability: write_epoch_file() writes `epoch.tmp`, fsyncs it, renames it over `epoch` and
// fsyncs the directory, so after a crash the file holds either the old or the new epoch.
//
// Process rules: only the process that owns the store's writes (the registry worker; on a
// standby the replicator) writes the file; any process may read it. Not thread-safe against
// concurrent writers of the same directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rdv {

inline constexpr const char* kEpochFileName = "epoch";

// Parses the file's content. Returns false with a reason ("…") on anything but one valid line.
bool parse_epoch_text(std::string_view text, uint64_t* epoch, std::string* error);
// The file content for `epoch` (precondition: epoch >= 1).
std::string format_epoch_text(uint64_t epoch);

// Reads `<dir>/epoch`. Returns true with *exists = false (and *epoch untouched) when the file
// does not exist; true with *exists = true and *epoch set when it holds a valid epoch; false
// with a message naming the file and the failing call or the defect otherwise (a symbolic
// link, not a regular file, unreadable, corrupt content).
bool read_epoch_file(const std::string& dir, uint64_t* epoch, bool* exists, std::string* error);

// Durably replaces `<dir>/epoch` with `epoch` (see the header comment). Refuses epoch 0.
// Returns false with a message naming the failing call ("fsync() failed on …: …"); the old
// file is then still in place (a stale `epoch.tmp` may remain and is removed by the next
// write).
bool write_epoch_file(const std::string& dir, uint64_t epoch, std::string* error);

// Start-up of the writer: the epoch from `<dir>/epoch`, or, when that file does not exist yet
// (a new data dir, or a store from before the epoch file), `legacy_epoch` (meta "epoch" of a
// format-1 store; pass 0 when there is none, which means 1) written to the file first, so
// the epoch never goes back to a value another process may have seen. *created tells which.
// Returns false with the message of read_epoch_file/write_epoch_file.
bool load_or_create_epoch_file(const std::string& dir, uint64_t legacy_epoch, uint64_t* epoch, bool* created,
                               std::string* error);

}  // namespace rdv
