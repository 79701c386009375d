// Source packing and result unpacking: see pack.h.
#include "pack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace minik8s::cli {

namespace fs = std::filesystem;

namespace {

constexpr size_t kBlock = 512;

std::string mib_text(uint64_t n) {
  return n >= (1u << 20) && n % (1u << 20) == 0 ? " (" + std::to_string(n >> 20) + " MiB)" : "";
}

// An octal field of width w: w-1 digits and a NUL.
void put_octal(char* field, size_t w, uint64_t v) {
  std::string digits(w - 1, '0');
  for (size_t i = w - 1; i-- > 0 && v != 0; v >>= 3) digits[i] = static_cast<char>('0' + (v & 7));
  std::memcpy(field, digits.data(), w - 1);
  field[w - 1] = '\0';
}

void put_text(char* field, size_t w, const std::string& s) {
  std::memcpy(field, s.data(), std::min(w, s.size()));
}

std::string header_block(const std::string& name, char type, uint64_t size, unsigned mode) {
  std::string h(kBlock, '\0');
  char* p = h.data();
  put_text(p, 100, name);
  put_octal(p + 100, 8, mode);
  put_octal(p + 108, 8, 0);  // uid
  put_octal(p + 116, 8, 0);  // gid
  put_octal(p + 124, 12, size);
  put_octal(p + 136, 12, 0);  // mtime
  p[156] = type;
  std::memcpy(p + 257,
              "ustar\0"
              "00",
              8);
  // The checksum: the header's bytes with the checksum field as spaces.
  std::memset(p + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  put_octal(p + 148, 7, sum);  // six digits, NUL, and the space left there
  return h;
}

void pad_block(std::string& out) {
  if (out.size() % kBlock != 0) out.append(kBlock - out.size() % kBlock, '\0');
}

// A PAX extended header record "<len> path=<name>\n" (len counts itself).
std::string pax_path_record(const std::string& name) {
  std::string body = " path=" + name + "\n";
  size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len) ++len;
  return std::to_string(len) + body;
}

bool dot_name(const fs::path& p) {
  std::string n = p.filename().string();
  return n.empty() || n[0] == '.';
}

uint64_t parse_octal(const char* field, size_t w, bool* ok) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < w && (field[i] == ' ' || field[i] == '\0')) ++i;
  bool any = false;
  for (; i < w && field[i] >= '0' && field[i] <= '7'; ++i) {
    v = (v << 3) | static_cast<uint64_t>(field[i] - '0');
    any = true;
  }
  for (; i < w; ++i) {
    if (field[i] != ' ' && field[i] != '\0') *ok = false;
  }
  if (!any && w > 0 && field[0] != '\0' && field[0] != ' ') *ok = false;
  return v;
}

std::string cstr(const char* field, size_t w) { return std::string(field, strnlen(field, w)); }

// "a/./b/" → {"a", "b"}; false for an absolute name or a ".." component.
bool safe_components(const std::string& name, std::vector<std::string>* out) {
  if (name.empty() || name[0] == '/') return false;
  std::stringstream ss(name);
  for (std::string c; std::getline(ss, c, '/');) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return false;
    out->push_back(c);
  }
  return !out->empty();
}

// The directory dir/comps[0..n) made (or found) as real directories.
Status make_dirs(const std::string& dir, const std::vector<std::string>& comps, size_t n,
                 const std::string& entry) {
  std::string path = dir;
  for (size_t i = 0; i < n; ++i) {
    path += "/" + comps[i];
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return invalid("archive entry \"" + entry + "\": " + path +
                       " exists and is not a directory (refusing to write through it)");
      continue;
    }
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return invalid(path + ": " + std::strerror(errno));
  }
  return Status::ok();
}

Status write_file(const std::string& path, const char* data, size_t n, unsigned mode,
                  const std::string& entry) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  (mode & 0111) != 0 ? 0755 : 0644);
  if (fd < 0) {
    return invalid("archive entry \"" + entry + "\": " + path + ": " +
                   (errno == ELOOP ? std::string("is a symlink (refusing to write through it)")
                                   : std::string(std::strerror(errno))));
  }
  size_t off = 0;
  while (off < n) {
    ssize_t w = ::write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string e = std::strerror(errno);
      ::close(fd);
      return invalid(path + ": " + e);
    }
    off += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) return invalid(path + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace

Result<std::vector<std::string>> list_tree_files(const std::string& dir,
                                                 const std::function<bool(const fs::path&)>& skip) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return invalid(dir + ": no such directory");
  std::vector<std::string> names;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (dot_name(it->path()) || (skip && skip(it->path()))) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) names.push_back(fs::relative(it->path(), dir).generic_string());
  }
  if (ec) return invalid(dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::string gzip_bytes(const std::string& data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper with zlib's default header (no name,
  // mtime 0), so the output depends on the input bytes only.
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Result<std::string> gunzip_bytes(const std::string& gz, uint64_t max_out) {
  if (gz.size() < 2 || static_cast<unsigned char>(gz[0]) != 0x1f ||
      static_cast<unsigned char>(gz[1]) != 0x8b)
    return invalid("not gzip data");
  std::string out;
  size_t pos = 0;
  char buf[1 << 16];
  while (pos < gz.size()) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return invalid("gunzip: zlib failed to start");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data() + pos));
    zs.avail_in = static_cast<uInt>(gz.size() - pos);
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof buf;
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        std::string msg = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "truncated data" : "corrupt data");
        inflateEnd(&zs);
        return invalid("gunzip: " + msg);
      }
      out.append(buf, sizeof buf - zs.avail_out);
      if (out.size() > max_out) {
        inflateEnd(&zs);
        return invalid("the archive unpacks to more than " + std::to_string(max_out) + " bytes" +
                       mib_text(max_out));
      }
    }
    pos += zs.total_in;
    inflateEnd(&zs);
    // Trailing zeros (padding) after the last member end the stream.
    if (pos < gz.size() && gz.find_first_not_of('\0', pos) == std::string::npos) break;
  }
  return out;
}

Result<std::string> tar_gz_directory(const std::string& dir, uint64_t limit) {
  auto names = list_tree_files(dir);
  if (!names) return names.status();
  if (names->empty()) return invalid(dir + " has no files to pack (dot files are left out)");
  // The uncompressed tar may be larger than the limit (sources compress well);
  // 4× bounds what is read into memory.
  uint64_t raw_cap = limit * 4;
  std::string tar;
  for (const auto& name : *names) {
    fs::path p = fs::path(dir) / name;
    std::error_code size_ec;
    auto on_disk = fs::file_size(p, size_ec);
    // Refused from its size, before it is read into memory.
    if (!size_ec && tar.size() + on_disk > raw_cap)
      return invalid(dir + " holds over " + std::to_string(raw_cap) +
                     " bytes of files; the upload limit is " + std::to_string(limit) + " bytes" +
                     mib_text(limit));
    std::ifstream f(p, std::ios::binary);
    if (!f) return invalid(p.string() + ": cannot be read");
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (tar.size() + data.size() > raw_cap)  // it grew while read
      return invalid(dir + " holds over " + std::to_string(raw_cap) +
                     " bytes of files; the upload limit is " + std::to_string(limit) + " bytes" +
                     mib_text(limit));
    std::error_code ec;
    auto perms = fs::status(p, ec).permissions();
    unsigned mode = (perms & fs::perms::owner_exec) != fs::perms::none ? 0755 : 0644;
    if (name.size() > 100) {
      std::string rec = pax_path_record(name);
      tar += header_block("././@PaxHeader", 'x', rec.size(), 0644);
      tar += rec;
      pad_block(tar);
    }
    tar += header_block(name.size() > 100 ? name.substr(0, 100) : name, '0', data.size(), mode);
    tar += data;
    pad_block(tar);
  }
  tar.append(2 * kBlock, '\0');
  std::string gz = gzip_bytes(tar);
  if (gz.size() > limit)
    return invalid(dir + " packed is " + std::to_string(gz.size()) + " bytes; the limit is " +
                   std::to_string(limit) + " bytes" + mib_text(limit));
  return gz;
}

Result<UnpackResult> unpack_tar_gz(const std::string& bytes, const std::string& dir,
                                   uint64_t max_bytes) {
  std::string tar;
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b) {
    auto r = gunzip_bytes(bytes, max_bytes);
    if (!r) return r.status();
    tar = std::move(*r);
  } else {
    tar = bytes;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec)) return invalid(dir + ": cannot create the directory");
  UnpackResult res;
  std::string long_name;  // from a GNU 'L' entry or a PAX 'x' path, for the next entry
  size_t pos = 0;
  while (pos + kBlock <= tar.size()) {
    const char* h = tar.data() + pos;
    if (std::all_of(h, h + kBlock, [](char c) { return c == '\0'; })) break;  // the end
    bool ok = true;
    uint64_t size = parse_octal(h + 124, 12, &ok);
    uint64_t mode = parse_octal(h + 100, 8, &ok);
    uint64_t sum = parse_octal(h + 148, 8, &ok);
    unsigned actual = 0;
    for (size_t i = 0; i < kBlock; ++i)
      actual += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    if (!ok || sum != actual)
      return invalid("not a tar archive (bad header at byte " + std::to_string(pos) + ")");
    pos += kBlock;
    if (size > tar.size() - pos)
      return invalid("the tar archive is truncated (an entry runs past its end)");
    const char* data = tar.data() + pos;
    pos += (size + kBlock - 1) / kBlock * kBlock;
    char type = h[156];
    std::string name = cstr(h, 100);
    if (std::memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != '\0')
      name = cstr(h + 345, 155) + "/" + name;
    if (type == 'L') {
      long_name = cstr(data, size);
      continue;
    }
    if (type == 'x') {
      std::string recs(data, size);
      size_t p = 0;
      while (p < recs.size()) {
        size_t sp = recs.find(' ', p);
        if (sp == std::string::npos) break;
        size_t len = std::strtoull(recs.c_str() + p, nullptr, 10);
        if (len == 0 || p + len > recs.size() || sp + 1 >= p + len) break;
        std::string kv = recs.substr(sp + 1, p + len - sp - 2);
        if (kv.rfind("path=", 0) == 0) long_name = kv.substr(5);
        p += len;
      }
      continue;
    }
    if (type == 'g' || type == 'K') continue;
    if (!long_name.empty()) {
      name = long_name;
      long_name.clear();
    }
    std::vector<std::string> comps;
    if (!safe_components(name, &comps)) {
      if (name == "." || name == "./") continue;
      return invalid("archive entry \"" + name + "\" would be written outside " + dir +
                     " (absolute or with ..)");
    }
    std::string rel;
    for (const auto& c : comps) rel += (rel.empty() ? "" : "/") + c;
    if (type == '5') {
      if (Status s = make_dirs(dir, comps, comps.size(), name); !s) return s;
      continue;
    }
    if (type != '0' && type != '\0' && type != '7') {
      const char* what = type == '2' ? "symlink" : type == '1' ? "hard link" : "special file";
      res.skipped.push_back(rel + " (" + what + ")");
      continue;
    }
    if (Status s = make_dirs(dir, comps, comps.size() - 1, name); !s) return s;
    if (Status s = write_file(dir + "/" + rel, data, size, static_cast<unsigned>(mode), name); !s)
      return s;
    res.files.push_back(rel);
  }
  return res;
}

}  // namespace minik8s::cli
