// Small files in shared directories (the data dir, the run dir): read with a size bound and
// without following links, replaced atomically. The epoch, breakers.json, the rate-limit
// whitelist, workers.json and the webhook secret file all go through here, so the rules are
// written once:
//   - open with O_NOFOLLOW: a symlink planted in the directory is refused, never followed;
//   - only regular files are read, and at most max_bytes of them (more is an error);
//   - a replacement is written to "<path>.tmp" (O_EXCL|O_NOFOLLOW), fsynced, renamed over the
//     path and, when durable, the directory is fsynced: a crash leaves the old or the new file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rdv {

// Reads `path` into *content. A missing file is not an error: true with *exists = false.
// False with a message naming the file and why (a link, not a regular file, larger than
// max_bytes, a failing call).
// `links` Follow is for files an operator names on the command line (an import's source),
// never for files in the data or run dir.
enum class Links { Refuse, Follow };
bool read_small_file(const std::string& path, size_t max_bytes, std::string* content, bool* exists,
                     std::string* error, Links links = Links::Refuse);

// Atomically replaces `path` with `content` (mode applies to a new file). `durable` also
// fsyncs the file and its directory, so the replacement survives a power cut.
bool write_file_atomic(const std::string& path, std::string_view content, unsigned mode, bool durable,
                       std::string* error);

}  // namespace rdv
