// Structured logging to stderr, one line per record.
//
// Text format:  time=2026-11-30T01:02:03.456Z level=info proc=registry msg="listening" addr=:9000
// JSON format:  {"time":"…","level":"info","proc":"registry","msg":"listening","addr":":9000"}
// When stderr is the systemd journal (JOURNAL_STREAM matches stderr), every line is prefixed
// with the syslog priority "<N>" so journald records the right level.
//
// Never log secrets: tokens, signatures and keys stay out of fields.
// Thread rules: log_* may be called from any thread; a line is written with one write(2).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace rdv {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class LogFormat { Text, Json };

using LogField = std::pair<std::string_view, std::string_view>;

// Sets the process name shown in every line (e.g. "supervisor", "registry").
void log_init(std::string_view process_name);
void log_set_level(LogLevel level);
void log_set_format(LogFormat format);
LogLevel log_level();

// Parses "debug", "info", "warn"/"warning", "error". Returns false on anything else.
bool parse_log_level(std::string_view text, LogLevel* level);
const char* log_level_name(LogLevel level);

void log_write(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
inline bool log_enabled(LogLevel level) { return level >= log_level(); }

inline void log_debug(std::string_view m, std::initializer_list<LogField> f = {}) {
  if (log_enabled(LogLevel::Debug)) log_write(LogLevel::Debug, m, f);
}
inline void log_info(std::string_view m, std::initializer_list<LogField> f = {}) { log_write(LogLevel::Info, m, f); }
inline void log_warn(std::string_view m, std::initializer_list<LogField> f = {}) { log_write(LogLevel::Warn, m, f); }
inline void log_error(std::string_view m, std::initializer_list<LogField> f = {}) { log_write(LogLevel::Error, m, f); }

}  // namespace rdv
