// Migration from the Go server: `rendezvous import-go-snapshot FILE [WALFILE]`, and the
// first-start import behind `-store` (supervisor/main.cc).
//
// The Go files are decoded by shared/go_snapshot.h (checksum on the raw bytes, WAL replay);
// this file writes the result into an EMPTY data dir through the real store layer: rdv::Env
// with create = true, one write transaction, every replicated row written through
// rdv::Mutation so the change log holds the import as ordinary records (a standby that
// connects later replicates it like any other change) with the registry's own encodings and
// key layouts (shared/store.h, shared/model.h). Liveness goes outside the change log, as the
// registry writes it. The epoch file gets max(term, 1).
//
// Refusals (exit 78, nothing written): a data dir that already holds a store (the
// rendezvous.store marker or a data.mdb), a snapshot that does not read, does not parse, has a
// version this build does not know, or fails its checksum, and a WAL named explicitly that
// does not exist. A store failure while writing (disk full, I/O error) removes the files the
// import created, so the data dir is empty again (exit 1).
//
// Run by the supervisor process before any worker exists: nothing else opens the store then.
#pragma once

#include <string>
#include <vector>

#include "config.h"

namespace rdv::supervisor {

// The subcommand's name and its --help text (printed after the flags' usage).
inline constexpr const char* kImportCommand = "import-go-snapshot";
const char* import_usage();

// Whether `dir` already holds a store: our marker (kStoreMarker) or a data.mdb.
bool data_dir_has_store(const std::string& dir);

struct ImportRequest {
  std::string snapshot;    // registry.json
  std::string wal;         // "" = snapshot + ".wal" when that exists
  bool wal_explicit = false;  // a WAL named by the operator must exist
};

// Imports into cfg.data_dir (which must exist and be private: the caller checked it). On
// success returns kExitOk and the human-readable report in *report (one fact a line). On a
// refusal returns kExitConfig, on a store failure kExitFailure, with *error one line.
// Warnings (entries dropped, WAL replay stopped early, keys not carried over) are lines of
// the report starting with "warning:".
int import_go_snapshot(const Config& cfg, const ImportRequest& req, std::string* report, std::string* error);

// -store at a normal start: when cfg.store names an existing file, this node is the leader
// (role.h) and the data dir holds no store yet, imports it (the report goes to the log, its
// warnings as warnings). Otherwise logs that -store is ignored (a store exists and is the source
// of truth; a standby's or fenced node's store comes from its leader). Returns kExitOk to go on
// starting, or the import's exit code with *error (ending in "refusing to start …").
int import_at_first_start(const Config& cfg, std::string* error);

// `rendezvous import-go-snapshot FILE [WALFILE] [flags]`: `args` are the words after the
// subcommand. Parses the positionals, then the usual flags (-data-dir, -map-size-mb, -config,
// …; -h prints the usage), prepares the data dir as a normal start does, runs the import and
// prints the report. Returns the process exit code.
int import_command(const std::vector<std::string>& args);

}  // namespace rdv::supervisor
