#include "epoch.h"

#include "files.h"
#include "util.h"

namespace rdv {

namespace {
constexpr std::string_view kPrefix = "rendezvous epoch ";
// The longest valid file: prefix, 20 digits, newline. A longer file is corrupt, and is never
// read past this bound.
constexpr size_t kMaxFileBytes = 17 + 20 + 1;

}  // namespace

std::string format_epoch_text(uint64_t epoch) { return std::string(kPrefix) + std::to_string(epoch) + "\n"; }

bool parse_epoch_text(std::string_view text, uint64_t* epoch, std::string* error) {
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    *error = "does not start with \"rendezvous epoch \"";
    return false;
  }
  text.remove_prefix(kPrefix.size());
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') digits++;
  if (digits == 0) {
    *error = "no epoch number after \"rendezvous epoch \"";
    return false;
  }
  if (text[0] == '0') {
    *error = digits == 1 ? "epoch is 0 (epochs start at 1)" : "epoch number has a leading zero";
    return false;
  }
  if (digits > 20) {
    *error = "epoch number is out of range";
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < digits; i++) {
    uint64_t d = uint64_t(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) {
      *error = "epoch number is out of range";
      return false;
    }
    v = v * 10 + d;
  }
  text.remove_prefix(digits);
  if (text.empty()) {
    *error = "line does not end with a newline (truncated write?)";
    return false;
  }
  if (text != "\n") {
    *error = "unexpected bytes after the epoch number";
    return false;
  }
  *epoch = v;
  return true;
}

bool read_epoch_file(const std::string& dir, uint64_t* epoch, bool* exists, std::string* error) {
  const std::string path = dir + "/" + kEpochFileName;
  const std::string corrupt = "epoch file " + path + " is corrupt: ";
  std::string text, why;
  bool found = false;
  *exists = false;
  if (!read_small_file(path, kMaxFileBytes, &text, &found, &why)) {
    *error = why.find("too large") != std::string::npos
                 ? corrupt + "longer than one \"rendezvous epoch N\" line; refusing to guess the epoch"
                 : "epoch file " + why;
    return false;
  }
  if (!found) return true;
  if (text.empty()) {
    *error = corrupt + "it is empty; refusing to guess the epoch";
    return false;
  }
  if (!parse_epoch_text(text, epoch, &why)) {
    *error = corrupt + why + "; refusing to guess the epoch";
    return false;
  }
  *exists = true;
  return true;
}

bool write_epoch_file(const std::string& dir, uint64_t epoch, std::string* error) {
  if (epoch == 0) {
    *error = "epoch file " + dir + "/" + kEpochFileName + ": refusing to write epoch 0 (epochs start at 1)";
    return false;
  }
  return write_file_atomic(dir + "/" + kEpochFileName, format_epoch_text(epoch), 0640, true, error);
}

bool load_or_create_epoch_file(const std::string& dir, uint64_t legacy_epoch, uint64_t* epoch, bool* created,
                               std::string* error) {
  *created = false;
  bool exists = false;
  if (!read_epoch_file(dir, epoch, &exists, error)) return false;
  if (exists) return true;
  uint64_t initial = legacy_epoch == 0 ? 1 : legacy_epoch;
  if (!write_epoch_file(dir, initial, error)) return false;
  *epoch = initial;
  *created = true;
  return true;
}

}  // namespace rdv
