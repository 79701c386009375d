// Trigger schedules: 5-field cron (UTC), @descriptors, @every <Go duration>.
// See include/minik8s/workflow/cron.h and docs/workflows.md "Schedules".
#include "minik8s/workflow/cron.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <sstream>

namespace minik8s::workflow {
namespace {

using std::chrono::days;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;

struct FieldSpec {
  const char* name;
  int min, max;
  const char* const* names;  // nullptr or (max - min + 1) lowercase names, index 0 = min
};

const char* const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const char* const kDowNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// Day-of-week accepts 0-7 (7 = Sunday); names cover 0-6.
const FieldSpec kFields[5] = {
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day-of-month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},
    {"day-of-week", 0, 7, kDowNames},
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status field_error(const FieldSpec& f, const std::string& token, const std::string& why) {
  return invalid(std::string(f.name) + " field \"" + token + "\": " + why);
}

// One value of a field: a decimal number in range, or a name (month, weekday).
Result<int> parse_value(const FieldSpec& f, const std::string& token, const std::string& text) {
  if (text.empty()) return field_error(f, token, "empty value");
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    if (text.size() > 2) return field_error(f, token, "\"" + text + "\" out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
    int v = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return field_error(f, token, "\"" + text + "\" is not a number");
      v = v * 10 + (c - '0');
    }
    if (v < f.min || v > f.max) {
      return field_error(f, token, "\"" + text + "\" out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
    }
    return v;
  }
  if (f.names != nullptr) {
    const std::string l = lower(text);
    const int count = f.names == kDowNames ? 7 : f.max - f.min + 1;
    for (int i = 0; i < count; ++i) {
      if (l == f.names[i]) return f.min + i;
    }
    return field_error(f, token, "unknown name \"" + text + "\"");
  }
  return field_error(f, token, "\"" + text + "\" is not a number");
}

// One comma-separated element: `*`, `a`, `a-b`, each optionally `/step`.
Status parse_part(const FieldSpec& f, const std::string& token, std::vector<bool>& bits) {
  std::string range = token;
  int step = 1;
  bool has_step = false;
  if (auto slash = token.find('/'); slash != std::string::npos) {
    range = token.substr(0, slash);
    const std::string s = token.substr(slash + 1);
    if (s.empty() || s.size() > 2) return field_error(f, token, "step \"" + s + "\" must be a number 1-" + std::to_string(f.max));
    step = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return field_error(f, token, "step \"" + s + "\" is not a number");
      step = step * 10 + (c - '0');
    }
    if (step < 1 || step > f.max) return field_error(f, token, "step \"" + s + "\" must be a number 1-" + std::to_string(f.max));
    has_step = true;
  }
  int lo = f.min, hi = f.max;
  if (range == "*") {
    // full range
  } else if (auto dash = range.find('-'); dash != std::string::npos) {
    auto a = parse_value(f, token, range.substr(0, dash));
    if (!a) return a.status();
    auto b = parse_value(f, token, range.substr(dash + 1));
    if (!b) return b.status();
    lo = *a;
    hi = *b;
    if (lo > hi) return field_error(f, token, "range start " + std::to_string(lo) + " is after its end " + std::to_string(hi));
  } else {
    auto a = parse_value(f, token, range);
    if (!a) return a.status();
    lo = *a;
    // `a/n` is `a-max/n` (as Go's robfig/cron); a lone `a` is just a.
    hi = has_step ? f.max : *a;
  }
  for (int v = lo; v <= hi; v += step) bits[static_cast<size_t>(v)] = true;
  return Status::ok();
}

Status parse_field(const FieldSpec& f, const std::string& field, std::vector<bool>& bits) {
  bits.assign(static_cast<size_t>(f.max) + 1, false);
  size_t start = 0;
  while (true) {
    const size_t comma = field.find(',', start);
    const std::string part = field.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty()) return field_error(f, field, "empty list element");
    if (Status s = parse_part(f, part, bits); !s) return s;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::ok();
}

int days_in_month(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

}  // namespace

Result<Schedule> Schedule::parse(const std::string& text) {
  // Trim surrounding whitespace; fields are separated by runs of blanks.
  std::istringstream in(text);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.empty()) return invalid("schedule is empty");

  Schedule s;
  s.text_ = text;
  std::string expanded;
  if (fields[0][0] == '@') {
    const std::string d = lower(fields[0]);
    if (d == "@every") {
      if (fields.size() != 2) return invalid("@every needs exactly one duration, e.g. \"@every 10s\"");
      auto dur = parse_go_duration(fields[1]);
      if (!dur) return invalid("@every: " + dur.status().message());
      if (*dur < std::chrono::seconds(1)) return invalid("@every \"" + fields[1] + "\": the interval must be at least 1s");
      // Whole seconds, rounded down (as robfig/cron's Every).
      s.every_ = std::chrono::duration_cast<seconds>(*dur);
      return s;
    }
    if (fields.size() != 1) return invalid("\"" + fields[0] + "\" takes no fields");
    if (d == "@yearly" || d == "@annually") {
      expanded = "0 0 1 1 *";
    } else if (d == "@monthly") {
      expanded = "0 0 1 * *";
    } else if (d == "@weekly") {
      expanded = "0 0 * * 0";
    } else if (d == "@daily" || d == "@midnight") {
      expanded = "0 0 * * *";
    } else if (d == "@hourly") {
      expanded = "0 * * * *";
    } else {
      return invalid("unknown descriptor \"" + fields[0] +
                     "\" (one of @yearly @annually @monthly @weekly @daily @midnight @hourly @every)");
    }
    std::istringstream ex(expanded);
    fields.clear();
    for (std::string f; ex >> f;) fields.push_back(f);
  }
  if (fields.size() != 5) {
    return invalid("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                   std::to_string(fields.size()));
  }
  std::vector<bool>* bits[5] = {&s.minute_, &s.hour_, &s.dom_, &s.month_, &s.dow_};
  for (int i = 0; i < 5; ++i) {
    if (Status st = parse_field(kFields[i], fields[i], *bits[i]); !st) return st;
  }
  // 7 is Sunday.
  if (s.dow_[7]) s.dow_[0] = true;
  s.dow_.resize(7);
  // As Vixie cron: a field starting with `*` (`*`, `*/2`) is unrestricted for
  // the day-of-month / day-of-week OR rule.
  s.dom_star_ = fields[2][0] == '*';
  s.dow_star_ = fields[4][0] == '*';
  // A day-of-month that no selected month has (e.g. "0 0 31 4 *", "30 2")
  // would never fire: refuse it rather than accept a dead trigger.
  if (!s.dom_star_ && s.dow_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!s.month_[static_cast<size_t>(m)]) continue;
      const int max_day = m == 2 ? 29 : days_in_month(2001, m);
      for (int d = 1; d <= max_day; ++d) {
        if (s.dom_[static_cast<size_t>(d)]) {
          possible = true;
          break;
        }
      }
    }
    if (!possible) {
      return invalid("day-of-month field \"" + fields[2] + "\": never matches a day of month field \"" + fields[3] + "\"");
    }
  }
  return s;
}

system_clock::time_point Schedule::next(system_clock::time_point after) const {
  if (is_every()) return std::chrono::floor<seconds>(after) + every_;

  // Start at the next whole minute strictly after `after`.
  const auto start = std::chrono::floor<minutes>(after) + minutes(1);
  auto day = std::chrono::floor<days>(start);
  auto minute_of_day = static_cast<int>((start - day) / minutes(1));
  // Any satisfiable schedule fires within 8 years (Feb 29 across 2100); 9 is a bound.
  for (int i = 0; i < 366 * 9; ++i, day += days(1), minute_of_day = 0) {
    const std::chrono::year_month_day ymd{day};
    const auto m = static_cast<unsigned>(ymd.month());
    const auto d = static_cast<unsigned>(ymd.day());
    const auto w = std::chrono::weekday{day}.c_encoding();
    if (!month_[m]) continue;
    const bool dom_ok = dom_[d], dow_ok = dow_[w];
    const bool day_ok = (dom_star_ || dow_star_) ? (dom_ok && dow_ok) : (dom_ok || dow_ok);
    if (!day_ok) continue;
    for (int h = minute_of_day / 60; h < 24; ++h) {
      if (!hour_[static_cast<size_t>(h)]) continue;
      const int first_min = h == minute_of_day / 60 ? minute_of_day % 60 : 0;
      for (int mi = first_min; mi < 60; ++mi) {
        if (minute_[static_cast<size_t>(mi)]) return day + std::chrono::hours(h) + minutes(mi);
      }
    }
  }
  return system_clock::time_point::max();  // unreachable for a parsed schedule
}

Result<std::chrono::milliseconds> parse_go_duration(const std::string& text) {
  auto bad = [&](const std::string& why) { return invalid("invalid duration \"" + text + "\": " + why); };
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    negative = text[i] == '-';
    ++i;
  }
  if (text.substr(i) == "0") return std::chrono::milliseconds(0);
  if (i == text.size()) return bad("empty");
  long double total_ns = 0;
  while (i < text.size()) {
    // [0-9]*(\.[0-9]*)?
    const size_t num_start = i;
    long double value = 0;
    bool digits = false;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value = value * 10 + (text[i] - '0');
      digits = true;
      ++i;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        value += (text[i] - '0') * scale;
        scale /= 10;
        digits = true;
        ++i;
      }
    }
    if (!digits) return bad("expected a number at \"" + text.substr(num_start) + "\"");
    const size_t unit_start = i;
    while (i < text.size() && text[i] != '.' && !std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    long double ns_per;
    if (unit.empty()) {
      return bad("missing unit after \"" + text.substr(num_start, i - num_start) + "\" (one of ns us ms s m h)");
    } else if (unit == "ns") {
      ns_per = 1;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      ns_per = 1e3L;
    } else if (unit == "ms") {
      ns_per = 1e6L;
    } else if (unit == "s") {
      ns_per = 1e9L;
    } else if (unit == "m") {
      ns_per = 60e9L;
    } else if (unit == "h") {
      ns_per = 3600e9L;
    } else {
      return bad("unknown unit \"" + unit + "\" (one of ns us ms s m h)");
    }
    total_ns += value * ns_per;
    // Go's limit: an int64 of nanoseconds (about 2562047h).
    if (total_ns > 9.223372036854775807e18L) return bad("out of range");
  }
  auto ms = static_cast<int64_t>(std::floor(total_ns / 1e6L));
  return std::chrono::milliseconds(negative ? -ms : ms);
}

}  // namespace minik8s::workflow
