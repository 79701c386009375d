#include "minik8s/util/base64.h"

#include <cstdint>

namespace minik8s {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for a character of the standard alphabet (and, with url_safe, of the
// URL-safe one); -1 for anything else.
int sextet(char c, bool url_safe) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || (url_safe && c == '-')) return 62;
  if (c == '/' || (url_safe && c == '_')) return 63;
  return -1;
}

// Collects sextets and emits each completed byte; leftover bits (under 8)
// are dropped, as Go's non-strict decoders do.
class ByteSink {
 public:
  explicit ByteSink(size_t encoded_size) { out_.reserve(encoded_size / 4 * 3 + 3); }
  void add(int v) {
    buf_ = (buf_ << 6) | static_cast<uint32_t>(v);
    bits_ += 6;
    if (bits_ >= 8) {
      bits_ -= 8;
      out_.push_back(static_cast<char>((buf_ >> bits_) & 0xFF));
    }
  }
  int pending_bits() const { return bits_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  uint32_t buf_ = 0;
  int bits_ = 0;
};

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
  ByteSink sink(in.size());
  for (char c : in.substr(0, in.size() - pad)) {
    int v = sextet(c, false);
    if (v < 0) return std::nullopt;  // also a '=' before the last two characters
    sink.add(v);
  }
  return sink.take();
}

Result<std::string> base64_decode_lenient(std::string_view in) {
  ByteSink sink(in.size());
  size_t pad = 0;
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (c == '=') {
      pad++;
      continue;
    }
    if (pad > 0) return invalid("illegal base64 data: data after padding");
    int v = sextet(c, true);
    if (v < 0) return invalid("illegal base64 data: unexpected character");
    sink.add(v);
  }
  if (sink.pending_bits() >= 6 || pad > 2) return invalid("illegal base64 data: bad length");
  return sink.take();
}

}  // namespace minik8s
