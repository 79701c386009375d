// CRI log decoding for the kubelet's /containerLogs (see server_internal.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include <chrono>
#include <cstdio>
#include <ctime>

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

int64_t since_cutoff_ns(int64_t now_ns, int64_t since_seconds) {
  // Saturating now - since * 1e9: an absurd since means "everything".
  if (since_seconds <= 0) return now_ns;
  int64_t span = 0, cutoff = 0;
  if (__builtin_mul_overflow(since_seconds, int64_t{1000000000}, &span) ||
      __builtin_sub_overflow(now_ns, span, &cutoff)) {
    return std::numeric_limits<int64_t>::min();
  }
  return cutoff;
}

std::string render_lines(const std::vector<LogLine>& lines, const LogOptions& opts, int64_t now_ns,
                         int64_t* limit_left) {
  size_t first = 0;
  std::vector<const LogLine*> keep;
  keep.reserve(lines.size());
  const int64_t cutoff = opts.since_seconds ? since_cutoff_ns(now_ns, *opts.since_seconds) : 0;
  for (const auto& l : lines) {
    if (opts.since_seconds && l.time_ns != 0 && l.time_ns < cutoff) continue;
    keep.push_back(&l);
  }
  if (opts.tail_lines && *opts.tail_lines >= 0 && static_cast<uint64_t>(*opts.tail_lines) < keep.size()) {
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

constexpr size_t kBlock = 64 * 1024;
// Enough of a record's start to read its timestamp, stream and tag.
constexpr size_t kHeaderCap = 256;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An open log file; closes on destruction.
struct LogFile {
  int fd = -1;
  ino_t inode = 0;
  LogFile() = default;
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
  ~LogFile() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  Status open(const std::string& path) {
    close();
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return not_found("log file " + path + " not found");
    struct stat st {};
    if (::fstat(fd, &st) == 0) inode = st.st_ino;
    return Status::ok();
  }
  // pread that retries EINTR; -1 on error.
  ssize_t read_at(char* buf, size_t n, uint64_t off) const {
    for (;;) {
      ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      return r;
    }
  }
};

bool is_full_record(std::string_view header) {
  auto r = parse_log_record(header);
  return r && !r->partial;
}

}  // namespace

uint64_t tail_start_offset(int fd, uint64_t size, int64_t n) {
  // Walk records backwards from the end, counting complete ('F') records; the
  // answer is just past the newline of the (n+1)-th last one, so decoding from
  // there yields exactly the last n logical lines (P records joined).
  // Bytes after the last newline are an incomplete record: not counted.
  if (n < 0) return 0;
  std::string block(kBlock, '\0');
  std::string head;           // the first bytes (at most kHeaderCap) of the record being assembled
  bool have_end = false;      // whether that record's terminating newline was seen
  uint64_t rec_end = 0;       // absolute offset of that newline
  int64_t full_seen = 0;
  uint64_t pos = size;
  // Counts the assembled record; true when it is the (n+1)-th last full one.
  auto counts = [&] { return is_full_record(head) && ++full_seen > n; };
  while (pos > 0) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kBlock, pos));
    uint64_t base = pos - len;
    size_t got = 0;
    while (got < len) {
      ssize_t r = ::pread(fd, block.data() + got, len - got, static_cast<off_t>(base + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return 0;  // unreadable or shrunk underneath: decode the whole file
      got += static_cast<size_t>(r);
    }
    size_t hi = len;  // block[0, hi) is still unprocessed
    for (;;) {
      size_t nl = hi == 0 ? std::string::npos : block.rfind('\n', hi - 1);
      if (nl == std::string::npos) {
        // The whole rest belongs to the record being assembled: prepend it.
        head.insert(0, block.data(), hi);
        if (head.size() > kHeaderCap) head.resize(kHeaderCap);
        break;
      }
      if (have_end) {
        head.insert(0, block.data() + nl + 1, hi - nl - 1);
        if (head.size() > kHeaderCap) head.resize(kHeaderCap);
        if (counts()) return rec_end + 1;
      }
      head.clear();
      have_end = true;
      rec_end = base + nl;
      hi = nl;
    }
    pos = base;
  }
  if (have_end && counts()) return rec_end + 1;  // the file's first record
  return 0;  // fewer than n+1 complete lines: everything
}

namespace {

// Reads fd from *offset to its end in kBlock pieces, decoding and rendering
// each piece; emit gets the rendered text. False when emit asked to stop.
bool pump(const LogFile& f, uint64_t* offset, LogDecoder& dec, const LogOptions& opts, int64_t now, int64_t* left,
          const std::function<bool(std::string_view)>& emit) {
  std::string buf(kBlock, '\0');
  for (;;) {
    if (opts.limit_bytes && *left <= 0) return true;
    ssize_t r = f.read_at(buf.data(), buf.size(), *offset);
    if (r <= 0) return true;
    *offset += static_cast<uint64_t>(r);
    std::vector<LogLine> lines;
    dec.feed(std::string_view(buf.data(), static_cast<size_t>(r)), lines);
    if (lines.empty()) continue;
    std::string out = render_lines(lines, opts, now, left);
    if (!out.empty() && !emit(out)) return false;
  }
}

Status stream_logs_at(const std::string& path, const LogOptions& opts, int64_t now,
                      const std::function<bool(std::string_view)>& emit, const std::function<bool()>& keep_going,
                      const std::function<bool()>& running) {
  LogFile f;
  if (Status st = f.open(path); !st) return st;
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return Status(Code::kInternal, "log file " + path + ": cannot stat");
  uint64_t offset = 0;
  if (opts.tail_lines && *opts.tail_lines >= 0) {
    offset = tail_start_offset(f.fd, static_cast<uint64_t>(st.st_size), *opts.tail_lines);
  }
  // The tail is applied by where reading starts; the rest streams block by block.
  LogOptions rest = opts;
  rest.tail_lines.reset();
  int64_t left = opts.limit_bytes.value_or(0);
  LogDecoder dec;
  if (!pump(f, &offset, dec, rest, now, &left, emit)) return Status::ok();
  if (!opts.follow) return Status::ok();

  using Clock = std::chrono::steady_clock;
  Clock::time_point next_check{};  // the first round checks at once
  bool exited = false;
  while (keep_going()) {
    if (opts.limit_bytes && left <= 0) break;
    if (running && Clock::now() >= next_check) {
      // Checked before reading, so everything written before the exit is still sent.
      exited = !running();
      next_check = Clock::now() + std::chrono::seconds(1);
    }
    struct stat cur {};
    if (::stat(path.c_str(), &cur) == 0) {
      if (cur.st_ino != f.inode || static_cast<uint64_t>(cur.st_size) < offset) {
        // Replaced or truncated: start over on the new content.
        if (f.open(path).is_ok()) {
          offset = 0;
          dec = LogDecoder();
        }
      }
      if (!pump(f, &offset, dec, rest, now_ns(), &left, emit)) break;
    }  // else rotated away: wait for the new file
    if (exited) break;
  }
  return Status::ok();
}

}  // namespace

Result<std::string> read_logs(const std::string& path, const LogOptions& opts, int64_t now) {
  LogOptions o = opts;
  o.follow = false;
  std::string out;
  Status st = stream_logs_at(
      path, o, now,
      [&](std::string_view s) {
        out.append(s);
        return true;
      },
      [] { return false; }, nullptr);
  if (!st) return st;
  return out;
}

Status stream_logs(const std::string& path, const LogOptions& opts, const std::function<bool(std::string_view)>& emit,
                   const std::function<bool()>& keep_going, const std::function<bool()>& running) {
  return stream_logs_at(path, opts, now_ns(), emit, keep_going, running);
}

}  // namespace minik8s::kubelet
