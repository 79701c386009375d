// Internals of the kubelet HTTP server (include/minik8s/kubelet/server.h),
// split out so the server can be tested without a real Kubelet:
//   - ContainerLocator: what the server needs from the kubelet (Kubelet
//     satisfies it through an adapter in server.cc; tests fake it).
//   - CRI log decoding (read_logs / follow) used by /containerLogs.
//   - KubeletHttpServer: the Beast server itself (over TLS when given a
//     ConnectionLayer; each request checked by a KubeletAuth when given one).
// Thread safety: KubeletHttpServer runs on a ConnectionServer (an acceptor
// thread and one thread per connection, within ConnLimits); the locator and runtime are called from those threads and must
// be thread-safe. Ownership: locator and runtime are borrowed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/kubelet.h"
#include "minik8s/kubelet/server_auth.h"
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

class ContainerLocator {
 public:
  virtual ~ContainerLocator() = default;
  virtual Result<ContainerRef> find_container(const std::string& ns, const std::string& pod,
                                              const std::string& container, bool previous) = 0;
  virtual std::vector<PodUsage> pod_usage() = 0;
  virtual std::string node_name() = 0;
  virtual size_t running_pods() = 0;
};

// ---- CRI log files: "2016-10-06T00:17:09.669794202Z stdout F text" (P = partial, joined with the next).
struct LogOptions {
  std::optional<int64_t> tail_lines;     // last N lines
  std::optional<int64_t> since_seconds;  // only lines newer than now - N s
  std::optional<int64_t> limit_bytes;    // stop after N bytes of output
  bool timestamps = false;               // prefix each line with its RFC3339Nano time
  bool follow = false;
};

struct LogLine {
  std::string timestamp;  // as written by the runtime
  int64_t time_ns = 0;    // 0 when unparsable
  std::string stream;     // stdout | stderr
  std::string text;       // with the trailing '\n' for full lines
};

// Parses one CRI log record (without the newline). nullopt for a malformed record.
struct LogRecord {
  std::string timestamp;
  int64_t time_ns = 0;
  std::string stream;
  bool partial = false;
  std::string text;
};
std::optional<LogRecord> parse_log_record(std::string_view line);
// RFC3339 (with optional fraction, Z or ±hh:mm) → ns since epoch; nullopt if not a time.
std::optional<int64_t> parse_rfc3339_ns(std::string_view s);

// Incremental decoder: feed raw file bytes, get complete logical lines.
class LogDecoder {
 public:
  void feed(std::string_view bytes, std::vector<LogLine>& out);

 private:
  std::string pending_;  // an incomplete record (no '\n' yet)
  std::optional<LogLine> partial_;  // P records waiting for their F
};

// now - since_seconds * 1e9, saturating (an absurd since_seconds means "all").
int64_t since_cutoff_ns(int64_t now_ns, int64_t since_seconds);

// Formats lines per options (since/timestamps), applies tail and limit.
// Returns the text to send; *limit_left is decremented (when limit_bytes set).
std::string render_lines(const std::vector<LogLine>& lines, const LogOptions& opts, int64_t now_ns,
                         int64_t* limit_left);

// Where to start decoding an open CRI log file of `size` bytes so that exactly
// its last n logical lines come out (0 = the start). Reads backwards in fixed
// blocks; memory is bounded by the block size, not the file.
uint64_t tail_start_offset(int fd, uint64_t size, int64_t n);

// Reads the log file and renders it (no follow), in fixed-size blocks; tail
// reads backwards from the end. kNotFound when missing. (The result itself is
// the whole rendered text: tests and small logs; the server streams.)
Result<std::string> read_logs(const std::string& path, const LogOptions& opts, int64_t now_ns);

// Streams a log file in fixed-size blocks: the existing content (tail/since/limit applied), then
// with follow polls for growth — reopening when the file is replaced or
// truncated — until emit returns false, keep_going returns false, limit_bytes is reached,
// or (when running is given) the container stopped running and the file was read to its end.
// keep_going is called once per poll round and paces the loop (the server waits up
// to 100 ms there for the client to go away); running is called about once a second.
// kNotFound (before anything is emitted) when the file is missing.
Status stream_logs(const std::string& path, const LogOptions& opts, const std::function<bool(std::string_view)>& emit,
                   const std::function<bool()>& keep_going, const std::function<bool()>& running = nullptr);

// ---- the server
struct KubeletHttpSecurity {
  std::shared_ptr<ConnectionLayer> layer;  // TLS (auth::make_tls_server_layer); null: plain HTTP
  KubeletAuth* auth = nullptr;             // borrowed; null: every request is served
};

class KubeletHttpServer {
 public:
  using Security = KubeletHttpSecurity;
  // spawn: how connection threads start (empty: std::thread; tests inject failures).
  KubeletHttpServer(ContainerLocator& locator, cri::Runtime& runtime, std::string listen,
                    const ConnLimits& limits = {}, ConnectionServer::Spawner spawn = nullptr,
                    Security security = {});
  ~KubeletHttpServer();
  KubeletHttpServer(const KubeletHttpServer&) = delete;
  KubeletHttpServer& operator=(const KubeletHttpServer&) = delete;
  Status start();
  int port() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::kubelet
