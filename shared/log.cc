#include "log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "json.h"
#include "util.h"

namespace rdv {
namespace {

std::atomic<int> g_level{int(LogLevel::Info)};
std::atomic<int> g_format{int(LogFormat::Text)};
std::string g_proc = "rendezvous";
bool g_journal = false;

// True when stderr is connected to journald: $JOURNAL_STREAM is "<dev>:<ino>" of stderr.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

// Text values are quoted when they contain spaces, quotes, '=' or control characters.
void append_text_value(std::string& out, std::string_view s) {
  bool plain = !s.empty();
  for (unsigned char c : s)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
  if (plain) out += s;
  else json_append_string(out, s);
}

int syslog_priority(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return 7;
    case LogLevel::Info: return 6;
    case LogLevel::Warn: return 4;
    case LogLevel::Error: return 3;
  }
  return 6;
}

}  // namespace

void log_init(std::string_view name) {
  g_proc = std::string(name);
  g_journal = stderr_is_journal();
}
void log_set_level(LogLevel l) { g_level.store(int(l)); }
void log_set_format(LogFormat f) { g_format.store(int(f)); }
LogLevel log_level() { return LogLevel(g_level.load(std::memory_order_relaxed)); }

bool parse_log_level(std::string_view t, LogLevel* l) {
  if (t == "debug") *l = LogLevel::Debug;
  else if (t == "info") *l = LogLevel::Info;
  else if (t == "warn" || t == "warning") *l = LogLevel::Warn;
  else if (t == "error") *l = LogLevel::Error;
  else return false;
  return true;
}

const char* log_level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}

void log_write(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  int64_t ns = unix_now_ns();
  std::string ts = rfc3339_utc(ns / 1000000000);
  char ms[8];
  snprintf(ms, sizeof ms, ".%03d", int((ns / 1000000) % 1000));
  ts.insert(ts.size() - 1, ms);

  std::string line;
  line.reserve(160);
  if (g_journal) {
    line += '<';
    line += char('0' + syslog_priority(level));
    line += '>';
  }
  if (LogFormat(g_format.load(std::memory_order_relaxed)) == LogFormat::Json) {
    line += "{\"time\":\"" + ts + "\",\"level\":\"" + log_level_name(level) + "\",\"proc\":";
    json_append_string(line, g_proc);
    line += ",\"msg\":";
    json_append_string(line, msg);
    for (auto& [k, v] : fields) {
      line += ',';
      json_append_string(line, k);
      line += ':';
      json_append_string(line, v);
    }
    line += '}';
  } else {
    line += "time=" + ts + " level=" + log_level_name(level) + " proc=" + g_proc + " msg=";
    append_text_value(line, msg);
    for (auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      append_text_value(line, v);
    }
  }
  line += '\n';
  // One write keeps lines from different processes sharing stderr intact.
  ssize_t r = ::write(STDERR_FILENO, line.data(), line.size());
  (void)r;
}

}  // namespace rdv
