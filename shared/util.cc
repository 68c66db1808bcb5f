#include "util.h"

#include <fcntl.h>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "log.h"

namespace rdv {

int64_t unix_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t mono_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string rfc3339_utc(int64_t unix_seconds) {
  time_t t = time_t(unix_seconds);
  tm tmv;
  gmtime_r(&t, &tmv);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return buf;
}

namespace {
bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}
}  // namespace

bool parse_rfc3339(std::string_view s, int64_t* out) {
  int Y, M, D, h, m, sec;
  if (!digits(s, 0, 4, &Y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, &M) ||
      s[7] != '-' || !digits(s, 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, &h) || s[13] != ':' || !digits(s, 14, 2, &m) || s[16] != ':' ||
      !digits(s, 17, 2, &sec))
    return false;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return false;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    pos++;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') pos++;
    if (pos == start) return false;
  }
  if (pos >= s.size()) return false;
  int64_t offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    pos++;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, &om) || oh > 23 || om > 59)
      return false;
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  *out = days_from_civil(Y, unsigned(M), unsigned(D)) * 86400 + h * 3600 + m * 60 + sec - offset;
  return true;
}

bool parse_duration(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  if (s == "0") {
    *out = 0;
    return true;
  }
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) i++;
    if (i == 0) return false;
    std::string num(s.substr(0, i));
    char* end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return false;
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) j++;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return false;
    total += v * mult;
  }
  if (total > 9.2e18) return false;
  *out = int64_t(std::llround(neg ? -total : total));
  return true;
}

std::string format_duration(int64_t ns) {
  char buf[64];
  if (ns % 3600000000000LL == 0 && ns != 0) snprintf(buf, sizeof buf, "%lldh", (long long)(ns / 3600000000000LL));
  else if (ns % 60000000000LL == 0 && ns != 0) snprintf(buf, sizeof buf, "%lldm", (long long)(ns / 60000000000LL));
  else if (ns % 1000000000LL == 0) snprintf(buf, sizeof buf, "%llds", (long long)(ns / 1000000000LL));
  else if (ns % 1000000LL == 0) snprintf(buf, sizeof buf, "%lldms", (long long)(ns / 1000000LL));
  else snprintf(buf, sizeof buf, "%lldns", (long long)ns);
  return buf;
}

bool set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

bool set_cloexec(int fd, bool on) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0) return false;
  return fcntl(fd, F_SETFD, on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC)) == 0;
}

void assert_fail(const char* expr, const char* file, int line) {
  log_error("assertion failed", {{"expr", expr}, {"file", file}, {"line", std::to_string(line)}});
  std::abort();
}

std::string call_failed(const char* call, const std::string& path, int err) {
  return std::string(call) + "() failed on " + path + ": " + std::strerror(err);
}

bool fsync_directory(const std::string& dir, std::string* error) {
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) {
    *error = call_failed("open", dir, errno);
    return false;
  }
  if (::fsync(dfd.get()) != 0) {
    *error = call_failed("fsync", dir, errno);
    return false;
  }
  return true;
}

std::string go_quote(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string q = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': q += "\\\""; break;
      case '\\': q += "\\\\"; break;
      case '\a': q += "\\a"; break;
      case '\b': q += "\\b"; break;
      case '\f': q += "\\f"; break;
      case '\n': q += "\\n"; break;
      case '\r': q += "\\r"; break;
      case '\t': q += "\\t"; break;
      case '\v': q += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          q += "\\x";
          q += hex[c >> 4];
          q += hex[c & 15];
        } else {
          q += char(c);  // printable ASCII, and UTF-8 kept as it is (request text is valid UTF-8)
        }
    }
  }
  return q + "\"";
}

}  // namespace rdv
