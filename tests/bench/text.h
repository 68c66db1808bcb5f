// How the bench prints numbers: thousands grouped with spaces ("31 204"), ratios as "0.95×".
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace rdv::bench {

inline std::string thousands(double v) {
  if (!std::isfinite(v)) return "-";
  long long n = llround(v);
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); i++) {
    if (i && (s.size() - i) % 3 == 0) out += ' ';
    out += s[i];
  }
  return (n < 0 ? "-" : "") + out;
}

inline std::string ratio_text(double r) {
  if (!std::isfinite(r)) return "-";
  char buf[32];
  snprintf(buf, sizeof buf, r >= 10 ? "%.1f×" : "%.2f×", r);
  return buf;
}

}  // namespace rdv::bench
