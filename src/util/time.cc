#include "minik8s/util/time.h"

#include <cstdio>
#include <ctime>

namespace minik8s {
namespace {

class RealClock final : public Clock {
 public:
  SysTime now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point monotonic() const override { return std::chrono::steady_clock::now(); }
};

std::string format_base(SysTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string format_rfc3339(SysTime t) { return format_base(t) + "Z"; }

std::string format_rfc3339_micro(SysTime t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() %
            1000000;
  if (us < 0) us += 1000000;
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
  return format_base(t) + frac + "Z";
}

bool parse_rfc3339(const std::string& s, SysTime* out) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t i = static_cast<size_t>(consumed);
  long long micros = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return false;
    for (int d = digits; d < 6; ++d) micros *= 10;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int hh = 0, mm = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset = (hh * 3600L + mm * 60L) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  std::time_t tt = timegm(&tm);
  *out = std::chrono::system_clock::from_time_t(tt - offset) + std::chrono::microseconds(micros);
  return true;
}

std::string human_duration(std::chrono::seconds d) {
  long long s = d.count();
  if (s < 0) s = 0;
  auto str = [](long long v, const char* u) { return std::to_string(v) + u; };
  if (s < 120) return str(s, "s");
  long long m = s / 60;
  if (m < 10) return s % 60 == 0 ? str(m, "m") : str(m, "m") + str(s % 60, "s");
  if (m < 180) return str(m, "m");
  long long h = m / 60;
  if (h < 8) return m % 60 == 0 ? str(h, "h") : str(h, "h") + str(m % 60, "m");
  if (h < 48) return str(h, "h");
  long long days = h / 24;
  if (days < 8) return h % 24 == 0 ? str(days, "d") : str(days, "d") + str(h % 24, "h");
  if (days < 730) return str(days, "d");
  return str(days / 365, "y");
}

Clock& real_clock() {
  static RealClock clock;
  return clock;
}

}  // namespace minik8s
