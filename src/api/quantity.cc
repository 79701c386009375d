// Kubernetes quantity grammar:
//   <sign>? <digits> ( '.' <digits>? )? <suffix>    (or '.' <digits>)
//   suffix: n u m "" k M G T P E | Ki Mi Gi Ti Pi Ei | (e|E) <sign>? <digits>
// The value is held as milli-units (int64), rounded away from zero, which is
// what resource accounting needs; anything that does not fit is kInvalid.
#include "minik8s/api/quantity.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace minik8s::api {
namespace {

constexpr size_t kMaxTextLength = 128;

Status malformed(const std::string& text) {
  return invalid("quantity \"" + text +
                 "\" must match the regular expression "
                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Multiplies a decimal digit string in place by a small factor.
void mul_small(std::string& digits, int factor) {
  int carry = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = (digits[i] - '0') * factor + carry;
    digits[i] = static_cast<char>('0' + d % 10);
    carry = d / 10;
  }
  while (carry > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + carry % 10));
    carry /= 10;
  }
}

}  // namespace

Result<Quantity> Quantity::parse(const std::string& text) {
  if (text.empty() || text.size() > kMaxTextLength) return malformed(text);
  size_t i = 0;
  bool negative = false;
  if (text[i] == '+' || text[i] == '-') {
    negative = text[i] == '-';
    ++i;
  }
  std::string digits;  // integer and fraction digits, concatenated
  size_t frac_digits = 0;
  size_t int_digits = 0;
  while (i < text.size() && is_digit(text[i])) digits += text[i++], ++int_digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && is_digit(text[i])) digits += text[i++], ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return malformed(text);

  const std::string suffix = text.substr(i);
  int exp10 = 0;
  int exp2 = 0;
  bool binary = false;
  static const struct {
    const char* s;
    int e10;
    int e2;
  } kSuffixes[] = {{"", 0, 0},   {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},
                   {"M", 6, 0},  {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
                   {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
                   {"Ei", 0, 60}};
  bool found = false;
  for (const auto& s : kSuffixes) {
    if (suffix == s.s) {
      exp10 = s.e10;
      exp2 = s.e2;
      binary = s.e2 != 0;
      found = true;
      break;
    }
  }
  if (!found) {
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return malformed(text);
    size_t j = 1;
    bool exp_negative = false;
    if (suffix[j] == '+' || suffix[j] == '-') exp_negative = suffix[j++] == '-';
    if (j >= suffix.size()) return malformed(text);
    long e = 0;
    for (; j < suffix.size(); ++j) {
      if (!is_digit(suffix[j])) return malformed(text);
      e = std::min<long>(e * 10 + (suffix[j] - '0'), 100000);
    }
    exp10 = static_cast<int>(exp_negative ? -e : e);
  }

  // value = digits * 10^(exp10 - frac_digits) * 2^exp2; we want ceil(value * 1000).
  size_t nz = digits.find_first_not_of('0');
  Quantity q;
  q.binary_ = binary;
  if (nz == std::string::npos) return q;  // zero
  digits.erase(0, nz);
  for (int k = 0; k < exp2 / 10; ++k) mul_small(digits, 1024);
  long scale = static_cast<long>(exp10) - static_cast<long>(frac_digits) + 3;
  bool round_up = false;
  if (scale < 0) {
    size_t drop = static_cast<size_t>(-scale);
    if (drop >= digits.size()) {
      digits = "0";
      round_up = true;
    } else {
      std::string rest = digits.substr(digits.size() - drop);
      digits.erase(digits.size() - drop);
      round_up = rest.find_first_not_of('0') != std::string::npos;
    }
    scale = 0;
  }
  if (static_cast<long>(digits.size()) + scale > 19) {
    return invalid("quantity \"" + text + "\" is too large");
  }
  __int128 v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  for (long k = 0; k < scale; ++k) v *= 10;
  if (round_up) v += 1;
  if (v > INT64_MAX) return invalid("quantity \"" + text + "\" is too large");
  q.milli_ = static_cast<int64_t>(negative ? -v : v);
  return q;
}

int64_t Quantity::value() const {
  int64_t whole = milli_ / 1000;
  if (milli_ % 1000 != 0) whole += milli_ > 0 ? 1 : -1;
  return whole;
}

Quantity Quantity::from_milli(int64_t milli) {
  Quantity q;
  q.milli_ = milli;
  return q;
}

std::string Quantity::to_string() const {
  if (milli_ == 0) return "0";
  const bool negative = milli_ < 0;
  // |INT64_MIN| does not fit; work in unsigned.
  uint64_t mag = negative ? 0 - static_cast<uint64_t>(milli_) : static_cast<uint64_t>(milli_);
  std::string sign = negative ? "-" : "";
  if (mag % 1000 != 0) return sign + std::to_string(mag) + "m";
  uint64_t v = mag / 1000;
  if (binary_) {
    static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int k = 0;
    while (k < 6 && v % 1024 == 0) v /= 1024, ++k;
    return sign + std::to_string(v) + kBin[k];
  }
  static const char* kDec[] = {"", "k", "M", "G", "T", "P", "E"};
  int k = 0;
  while (k < 6 && v % 1000 == 0) v /= 1000, ++k;
  return sign + std::to_string(v) + kDec[k];
}

bool is_extended_resource_name(const std::string& name) {
  if (name.find('/') == std::string::npos || name.find("kubernetes.io/") != std::string::npos) return false;
  return name.rfind("requests.", 0) != 0;
}

}  // namespace minik8s::api
