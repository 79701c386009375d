// CRI log decoding for the kubelet's /containerLogs (see server_internal.h).
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "server_internal.h"

namespace minik8s::kubelet {

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

std::optional<int64_t> parse_rfc3339_ns(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':') {
    return std::nullopt;
  }
  std::string_view y = s.substr(0, 4), mo = s.substr(5, 2), d = s.substr(8, 2), h = s.substr(11, 2),
                   mi = s.substr(14, 2), se = s.substr(17, 2);
  for (auto p : {y, mo, d, h, mi, se}) {
    if (!all_digits(p)) return std::nullopt;
  }
  size_t i = 19;
  int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (s[i] - '0');
        ++digits;
      }
      ++i;
    }
    if (digits == 0) return std::nullopt;
    while (digits < 9) {
      frac *= 10;
      ++digits;
    }
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 <= s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
             all_digits(s.substr(i + 1, 2)) && all_digits(s.substr(i + 4, 2))) {
    offset_s = (to_int(s.substr(i + 1, 2)) * 3600 + to_int(s.substr(i + 4, 2)) * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = to_int(y) - 1900;
  tm.tm_mon = to_int(mo) - 1;
  tm.tm_mday = to_int(d);
  tm.tm_hour = to_int(h);
  tm.tm_min = to_int(mi);
  tm.tm_sec = to_int(se);
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return secs * 1000000000LL + frac;
}

std::optional<LogRecord> parse_log_record(std::string_view line) {
  size_t a = line.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = line.find(' ', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  LogRecord r;
  r.timestamp = std::string(line.substr(0, a));
  r.stream = std::string(line.substr(a + 1, b - a - 1));
  if (r.stream != "stdout" && r.stream != "stderr") return std::nullopt;
  auto t = parse_rfc3339_ns(r.timestamp);
  if (!t) return std::nullopt;
  r.time_ns = *t;
  // Tag: "F" or "P" (possibly more tags separated by ':' in future formats; the first decides).
  size_t c = line.find(' ', b + 1);
  std::string_view tag = line.substr(b + 1, c == std::string_view::npos ? std::string_view::npos : c - b - 1);
  if (tag.empty()) return std::nullopt;
  r.partial = tag[0] == 'P';
  if (tag[0] != 'P' && tag[0] != 'F') return std::nullopt;
  r.text = c == std::string_view::npos ? std::string() : std::string(line.substr(c + 1));
  return r;
}

void LogDecoder::feed(std::string_view bytes, std::vector<LogLine>& out) {
  pending_.append(bytes);
  size_t start = 0;
  for (;;) {
    size_t nl = pending_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view rec(pending_.data() + start, nl - start);
    start = nl + 1;
    auto r = parse_log_record(rec);
    if (!r) continue;  // a malformed record is skipped, never fatal
    if (!partial_) {
      partial_ = LogLine{r->timestamp, r->time_ns, r->stream, {}};
    }
    partial_->text += r->text;
    if (!r->partial) {
      partial_->text.push_back('\n');
      out.push_back(std::move(*partial_));
      partial_.reset();
    }
  }
  pending_.erase(0, start);
}

std::string render_lines(const std::vector<LogLine>& lines, const LogOptions& opts, int64_t now_ns,
                         int64_t* limit_left) {
  size_t first = 0;
  std::vector<const LogLine*> keep;
  keep.reserve(lines.size());
  for (const auto& l : lines) {
    if (opts.since_seconds && l.time_ns != 0 && l.time_ns < now_ns - *opts.since_seconds * 1000000000LL) continue;
    keep.push_back(&l);
  }
  if (opts.tail_lines && *opts.tail_lines >= 0 && static_cast<size_t>(*opts.tail_lines) < keep.size()) {
    first = keep.size() - static_cast<size_t>(*opts.tail_lines);
  }
  std::string out;
  for (size_t i = first; i < keep.size(); ++i) {
    std::string line = opts.timestamps ? keep[i]->timestamp + " " + keep[i]->text : keep[i]->text;
    if (limit_left && opts.limit_bytes) {
      if (*limit_left <= 0) break;
      if (static_cast<int64_t>(line.size()) > *limit_left) line.resize(static_cast<size_t>(*limit_left));
      *limit_left -= static_cast<int64_t>(line.size());
    }
    out += line;
  }
  return out;
}

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> slurp(const std::string& path, ino_t* inode) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("log file " + path + " not found");
  struct stat st {};
  if (inode && ::stat(path.c_str(), &st) == 0) *inode = st.st_ino;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<std::string> read_logs(const std::string& path, const LogOptions& opts, int64_t now) {
  auto data = slurp(path, nullptr);
  if (!data) return data.status();
  LogDecoder dec;
  std::vector<LogLine> lines;
  dec.feed(*data, lines);
  int64_t left = opts.limit_bytes.value_or(0);
  return render_lines(lines, opts, now, &left);
}

Status stream_logs(const std::string& path, const LogOptions& opts, const std::function<bool(std::string_view)>& emit,
                   const std::function<bool()>& keep_going) {
  ino_t inode = 0;
  auto data = slurp(path, &inode);
  if (!data) return data.status();
  int64_t left = opts.limit_bytes.value_or(0);
  LogDecoder dec;
  {
    std::vector<LogLine> lines;
    dec.feed(*data, lines);
    std::string out = render_lines(lines, opts, now_ns(), &left);
    if (!out.empty() && !emit(out)) return Status::ok();
  }
  if (!opts.follow) return Status::ok();
  uint64_t offset = data->size();
  LogOptions later = opts;
  later.tail_lines.reset();
  while (keep_going()) {
    if (opts.limit_bytes && left <= 0) break;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // rotated away: wait for the new file
    if (st.st_ino != inode || static_cast<uint64_t>(st.st_size) < offset) {
      // Replaced or truncated: start over on the new content.
      inode = st.st_ino;
      offset = 0;
      dec = LogDecoder();
    }
    if (static_cast<uint64_t>(st.st_size) <= offset) continue;
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;
    in.seekg(static_cast<std::streamoff>(offset));
    std::string chunk(static_cast<size_t>(st.st_size) - offset, '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<size_t>(in.gcount()));
    offset += chunk.size();
    std::vector<LogLine> lines;
    dec.feed(chunk, lines);
    std::string out = render_lines(lines, later, now_ns(), &left);
    if (!out.empty() && !emit(out)) break;
  }
  return Status::ok();
}

}  // namespace minik8s::kubelet
