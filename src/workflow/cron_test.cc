// Schedule::parse / next and parse_go_duration (docs/workflows.md "Schedules").
#include "minik8s/workflow/cron.h"

#include <gtest/gtest.h>

#include <ctime>

namespace minik8s::workflow {
namespace {

using std::chrono::system_clock;

// "YYYY-MM-DDTHH:MM:SSZ" <-> time_point (UTC).
system_clock::time_point T(const char* text) {
  std::tm tm{};
  EXPECT_NE(strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << text;
  return system_clock::from_time_t(timegm(&tm));
}

std::string S(system_clock::time_point t) {
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Schedule P(const std::string& text) {
  auto s = Schedule::parse(text);
  EXPECT_TRUE(s.is_ok()) << text << ": " << s.status().message();
  return s.is_ok() ? *s : *Schedule::parse("* * * * *");
}

std::string next(const std::string& text, const char* after) { return S(P(text).next(T(after))); }

// The error message of a schedule that must not parse.
std::string error(const std::string& text) {
  auto s = Schedule::parse(text);
  EXPECT_FALSE(s.is_ok()) << text << " parsed";
  if (s.is_ok()) return "";
  EXPECT_EQ(s.status().code(), Code::kInvalid);
  return s.status().message();
}

TEST(CronTest, EveryMinuteIsStrictlyAfter) {
  EXPECT_EQ(next("* * * * *", "2026-12-07T10:00:00Z"), "2026-12-07T10:01:00Z");
  EXPECT_EQ(next("* * * * *", "2026-12-07T10:00:59Z"), "2026-12-07T10:01:00Z");
  // Sub-second: still the next whole minute.
  EXPECT_EQ(S(P("* * * * *").next(T("2026-12-07T10:00:00Z") + std::chrono::milliseconds(500))),
            "2026-12-07T10:01:00Z");
}

TEST(CronTest, FieldsAndRanges) {
  EXPECT_EQ(next("30 4 * * *", "2026-12-07T10:00:00Z"), "2026-12-08T04:30:00Z");
  EXPECT_EQ(next("30 4 * * *", "2026-12-07T04:29:00Z"), "2026-12-07T04:30:00Z");
  EXPECT_EQ(next("0 9-17 * * *", "2026-12-07T17:00:00Z"), "2026-12-08T09:00:00Z");
  EXPECT_EQ(next("0 9-17 * * *", "2026-12-07T12:30:00Z"), "2026-12-07T13:00:00Z");
  EXPECT_EQ(next("15 10 7 12 *", "2026-12-07T10:15:00Z"), "2027-12-07T10:15:00Z");
}

TEST(CronTest, Steps) {
  EXPECT_EQ(next("*/5 * * * *", "2026-12-07T10:03:00Z"), "2026-12-07T10:05:00Z");
  EXPECT_EQ(next("*/5 * * * *", "2026-12-07T10:55:00Z"), "2026-12-07T11:00:00Z");
  EXPECT_EQ(next("10-20/5 * * * *", "2026-12-07T10:16:00Z"), "2026-12-07T10:20:00Z");
  EXPECT_EQ(next("10-20/5 * * * *", "2026-12-07T10:20:00Z"), "2026-12-07T11:10:00Z");
  // `a/n` = a-max/n.
  EXPECT_EQ(next("50/3 * * * *", "2026-12-07T10:56:00Z"), "2026-12-07T10:59:00Z");
  EXPECT_EQ(next("50/3 * * * *", "2026-12-07T10:59:00Z"), "2026-12-07T11:50:00Z");
  EXPECT_EQ(next("0 */6 * * *", "2026-12-07T06:00:00Z"), "2026-12-07T12:00:00Z");
}

TEST(CronTest, Lists) {
  EXPECT_EQ(next("0,30 * * * *", "2026-12-07T10:00:00Z"), "2026-12-07T10:30:00Z");
  EXPECT_EQ(next("5,1-2,40-50/10 * * * *", "2026-12-07T10:02:00Z"), "2026-12-07T10:05:00Z");
  EXPECT_EQ(next("5,1-2,40-50/10 * * * *", "2026-12-07T10:40:00Z"), "2026-12-07T10:50:00Z");
  EXPECT_EQ(next("5,1-2,40-50/10 * * * *", "2026-12-07T10:50:00Z"), "2026-12-07T11:01:00Z");
}

TEST(CronTest, Names) {
  // 2026-12-07 is a Monday.
  EXPECT_EQ(next("0 0 * * mon", "2026-12-07T00:00:00Z"), "2026-12-14T00:00:00Z");
  EXPECT_EQ(next("0 0 * * FRI", "2026-12-07T00:00:00Z"), "2026-12-11T00:00:00Z");
  EXPECT_EQ(next("0 0 * * mon-wed", "2026-12-08T12:00:00Z"), "2026-12-09T00:00:00Z");
  EXPECT_EQ(next("0 0 1 jan,Jul *", "2026-12-07T00:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next("0 0 1 feb-mar *", "2027-02-01T00:00:00Z"), "2027-03-01T00:00:00Z");
}

TEST(CronTest, DayOfWeekSevenIsSunday) {
  // 2026-12-13 is a Sunday.
  EXPECT_EQ(next("0 0 * * 7", "2026-12-07T00:00:00Z"), "2026-12-13T00:00:00Z");
  EXPECT_EQ(next("0 0 * * 0", "2026-12-07T00:00:00Z"), "2026-12-13T00:00:00Z");
  EXPECT_EQ(next("0 0 * * 6-7", "2026-12-07T00:00:00Z"), "2026-12-12T00:00:00Z");
  EXPECT_EQ(next("0 0 * * 6-7", "2026-12-12T00:00:00Z"), "2026-12-13T00:00:00Z");
}

TEST(CronTest, DayOfMonthOrDayOfWeek) {
  // Both restricted: either matches (the 15th, or any Friday).
  EXPECT_EQ(next("0 0 15 * fri", "2026-12-07T00:00:00Z"), "2026-12-11T00:00:00Z");
  EXPECT_EQ(next("0 0 15 * fri", "2026-12-13T00:00:00Z"), "2026-12-15T00:00:00Z");
  EXPECT_EQ(next("0 0 15 * fri", "2026-12-15T00:00:00Z"), "2026-12-18T00:00:00Z");
  // Only one restricted: that one alone decides.
  EXPECT_EQ(next("0 0 15 * *", "2026-12-07T00:00:00Z"), "2026-12-15T00:00:00Z");
  EXPECT_EQ(next("0 0 * * fri", "2026-12-07T00:00:00Z"), "2026-12-11T00:00:00Z");
  // A field starting with `*` counts as unrestricted (Vixie cron): AND.
  // Odd days that are Fridays: 2026-12-11 is Friday the 11th.
  EXPECT_EQ(next("0 0 */2 * fri", "2026-12-07T00:00:00Z"), "2026-12-11T00:00:00Z");
  EXPECT_EQ(next("0 0 */2 * fri", "2026-12-11T00:00:00Z"), "2026-12-25T00:00:00Z");
}

TEST(CronTest, MonthAndYearEnds) {
  EXPECT_EQ(next("0 0 * * *", "2026-12-31T23:59:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next("59 23 31 * *", "2026-12-31T23:59:00Z"), "2027-01-31T23:59:00Z");
  // 31st: skips months without one.
  EXPECT_EQ(next("0 12 31 * *", "2027-01-31T12:00:00Z"), "2027-03-31T12:00:00Z");
  EXPECT_EQ(next("0 12 31 * *", "2027-04-01T00:00:00Z"), "2027-05-31T12:00:00Z");
  EXPECT_EQ(next("0 0 1 * *", "2026-11-30T23:59:59Z"), "2026-12-01T00:00:00Z");
}

TEST(CronTest, LeapDay) {
  EXPECT_EQ(next("0 0 29 2 *", "2026-12-07T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(next("0 0 29 2 *", "2028-02-29T00:00:00Z"), "2032-02-29T00:00:00Z");
  // 2100 is not a leap year: 2096 → 2104.
  EXPECT_EQ(next("0 0 29 feb *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00Z");
  EXPECT_EQ(next("0 0 * 2 *", "2028-02-28T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(next("0 0 * 2 *", "2027-02-28T00:00:00Z"), "2028-02-01T00:00:00Z");
}

TEST(CronTest, Descriptors) {
  EXPECT_EQ(next("@hourly", "2026-12-07T10:00:00Z"), "2026-12-07T11:00:00Z");
  EXPECT_EQ(next("@daily", "2026-12-07T10:00:00Z"), "2026-12-08T00:00:00Z");
  EXPECT_EQ(next("@midnight", "2026-12-07T10:00:00Z"), "2026-12-08T00:00:00Z");
  EXPECT_EQ(next("@weekly", "2026-12-07T10:00:00Z"), "2026-12-13T00:00:00Z");
  EXPECT_EQ(next("@monthly", "2026-12-07T10:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next("@yearly", "2026-12-07T10:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next("@annually", "2027-01-01T00:00:00Z"), "2028-01-01T00:00:00Z");
  EXPECT_EQ(next("  @HOURLY ", "2026-12-07T10:30:00Z"), "2026-12-07T11:00:00Z");
  EXPECT_FALSE(P("@hourly").is_every());
}

TEST(CronTest, Every) {
  Schedule s = P("@every 10s");
  EXPECT_TRUE(s.is_every());
  EXPECT_EQ(s.every(), std::chrono::seconds(10));
  EXPECT_EQ(S(s.next(T("2026-12-07T10:00:00Z"))), "2026-12-07T10:00:10Z");
  EXPECT_EQ(P("@every 1m30s").every(), std::chrono::seconds(90));
  EXPECT_EQ(P("@every 2h").every(), std::chrono::hours(2));
  // Rounded down to whole seconds.
  EXPECT_EQ(P("@every 1.9s").every(), std::chrono::seconds(1));
  EXPECT_EQ(P("@every 10s").text(), "@every 10s");
}

TEST(CronTest, BadSchedules) {
  EXPECT_EQ(error("61 * * * *"), "minute field \"61\": \"61\" out of range 0-59");
  EXPECT_EQ(error("* 24 * * *"), "hour field \"24\": \"24\" out of range 0-23");
  EXPECT_EQ(error("* * 0 * *"), "day-of-month field \"0\": \"0\" out of range 1-31");
  EXPECT_EQ(error("* * * 13 *"), "month field \"13\": \"13\" out of range 1-12");
  EXPECT_EQ(error("* * * * 8"), "day-of-week field \"8\": \"8\" out of range 0-7");
  EXPECT_EQ(error("1,x * * * *"), "minute field \"x\": \"x\" is not a number");
  EXPECT_EQ(error("* * * foo *"), "month field \"foo\": unknown name \"foo\"");
  EXPECT_EQ(error("*/0 * * * *"), "minute field \"*/0\": step \"0\" must be a number 1-59");
  EXPECT_EQ(error("*/ * * * *"), "minute field \"*/\": step \"\" must be a number 1-59");
  EXPECT_EQ(error("30-10 * * * *"), "minute field \"30-10\": range start 30 is after its end 10");
  EXPECT_EQ(error("1,,2 * * * *"), "minute field \"1,,2\": empty list element");
  EXPECT_EQ(error("-5 * * * *"), "minute field \"-5\": empty value");
  EXPECT_EQ(error("* * * *"), "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  EXPECT_EQ(error("* * * * * *"), "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  EXPECT_EQ(error(""), "schedule is empty");
  EXPECT_EQ(error("   "), "schedule is empty");
  EXPECT_NE(error("@often").find("unknown descriptor \"@often\""), std::string::npos);
  EXPECT_EQ(error("@hourly 5"), "\"@hourly\" takes no fields");
  EXPECT_EQ(error("@every"), "@every needs exactly one duration, e.g. \"@every 10s\"");
  EXPECT_EQ(error("@every 500ms"), "@every \"500ms\": the interval must be at least 1s");
  EXPECT_EQ(error("@every 0"), "@every \"0\": the interval must be at least 1s");
  EXPECT_EQ(error("@every -5s"), "@every \"-5s\": the interval must be at least 1s");
  EXPECT_NE(error("@every 10").find("missing unit"), std::string::npos);
  EXPECT_NE(error("@every 10x").find("unknown unit \"x\""), std::string::npos);
  // Never fires: refused.
  EXPECT_NE(error("0 0 31 4 *").find("day-of-month field \"31\": never matches"), std::string::npos);
  EXPECT_NE(error("0 0 30 2 *").find("never matches"), std::string::npos);
  // ... but with a weekday it fires on that weekday.
  EXPECT_TRUE(Schedule::parse("0 0 30 2 mon").is_ok());
}

TEST(GoDurationTest, Parses) {
  using std::chrono::milliseconds;
  auto ms = [](const char* t) {
    auto r = parse_go_duration(t);
    EXPECT_TRUE(r.is_ok()) << t << ": " << r.status().message();
    return r.is_ok() ? r->count() : -999999;
  };
  EXPECT_EQ(ms("10s"), 10000);
  EXPECT_EQ(ms("1m30s"), 90000);
  EXPECT_EQ(ms("2h"), 7200000);
  EXPECT_EQ(ms("500ms"), 500);
  EXPECT_EQ(ms("1.5h"), 5400000);
  EXPECT_EQ(ms(".5s"), 500);
  EXPECT_EQ(ms("1.s"), 1000);
  EXPECT_EQ(ms("0"), 0);
  EXPECT_EQ(ms("+3s"), 3000);
  EXPECT_EQ(ms("-3s"), -3000);
  EXPECT_EQ(ms("1h2m3s4ms"), 3723004);
  EXPECT_EQ(ms("1500us"), 1);
  EXPECT_EQ(ms("2000000ns"), 2);
}

TEST(GoDurationTest, Rejects) {
  auto err = [](const char* t) {
    auto r = parse_go_duration(t);
    EXPECT_FALSE(r.is_ok()) << t;
    return r.is_ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(err(""), "invalid duration \"\": empty");
  EXPECT_EQ(err("-"), "invalid duration \"-\": empty");
  EXPECT_NE(err("10").find("missing unit"), std::string::npos);
  EXPECT_NE(err("10d").find("unknown unit \"d\""), std::string::npos);
  EXPECT_NE(err("s").find("expected a number"), std::string::npos);
  EXPECT_NE(err("1s2").find("missing unit"), std::string::npos);
  EXPECT_NE(err(".s").find("expected a number"), std::string::npos);
  EXPECT_NE(err("9999999999h").find("out of range"), std::string::npos);
  EXPECT_NE(err("1 s").find("unknown unit \" s\""), std::string::npos);
}

}  // namespace
}  // namespace minik8s::workflow
