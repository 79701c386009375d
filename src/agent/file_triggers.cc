#include "file_triggers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/serverless/triggers.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/utf8.h"

namespace minik8s::agent {

using api::field;
using api::Json;
using api::sfield;
using client::ObjectPtr;

namespace {

constexpr const char* kComponent = "file-triggers";
constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_MOVE_SELF | IN_ONLYDIR;
constexpr auto kRewatchDelay = std::chrono::seconds(1);
const char* const kFileEvents[] = {"created", "modified", "deleted"};

// "http://[::1]:80/x" → {"::1"}; "https://h:6443" → {"h"}; the host part of a URL.
struct HostSpan {
  size_t begin = 0, end = 0;  // of the host in the URL, without brackets
};
bool host_span(const std::string& url, HostSpan& out) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return false;
  size_t b = sep + 3;
  size_t e = url.find_first_of("/?#", b);
  if (e == std::string::npos) e = url.size();
  if (b < e && url[b] == '[') {
    auto close = url.find(']', b);
    if (close == std::string::npos || close > e) return false;
    out = {b + 1, close};
    return true;
  }
  auto colon = url.rfind(':', e);
  if (colon != std::string::npos && colon > b) e = colon;
  out = {b, e};
  return e > b;
}

bool loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

std::string gateway_url_for_node(const std::string& url, const std::string& api_server) {
  HostSpan g, a;
  if (!host_span(url, g) || !host_span(api_server, a)) return url;
  std::string ghost = url.substr(g.begin, g.end - g.begin), ahost = api_server.substr(a.begin, a.end - a.begin);
  if (!loopback(ghost) || loopback(ahost)) return url;
  bool v6 = ahost.find(':') != std::string::npos;
  bool bracketed = g.begin > 0 && url[g.begin - 1] == '[';
  std::string out = url.substr(0, bracketed ? g.begin - 1 : g.begin);
  out += v6 ? "[" + ahost + "]" : ahost;
  out += url.substr(bracketed ? g.end + 1 : g.end);
  return out;
}

struct FileTriggerWatcher::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, FileTriggerOptions o)
      : client::Controller(f, {kComponent, 1, std::chrono::milliseconds(5), std::chrono::seconds(30)},
                           o.clock ? *o.clock : real_clock()),
        opts(std::move(o)),
        pool(opts.fire_threads, opts.max_queued),
        events(f.client(), {kComponent, opts.node_name}) {}
  ~Impl() override {
    stop();
    if (ifd >= 0) ::close(ifd);
    if (efd >= 0) ::close(efd);
  }

  const FileTriggerOptions opts;
  serverless::FiringPool pool;
  client::EventRecorder events;
  const api::ResourceType* trigger_type = nullptr;
  client::Informer* triggers = nullptr;
  int ifd = -1;  // inotify
  int efd = -1;  // wakes the reader to stop
  std::thread reader;

  struct Spec {
    std::string uid;
    std::set<std::string> events;
    std::string pattern;
    bool include_content = false;
  };
  struct Dir {
    int wd = -1;
    std::set<std::string> known;      // names in the directory, as last seen
    std::map<std::string, Spec> subs;  // trigger key → filter
  };

  mutable std::mutex mu;
  // Guarded by mu:
  std::map<std::string, Dir> dirs;            // path → its watch
  std::map<int, std::string> wd_path;         // wd → path
  std::map<std::string, std::string> key_dir;  // trigger key → path
  std::map<std::string, std::string> warned;   // trigger key → the last problem logged

  Status setup() override {
    trigger_type = api::find_kind(serverless::kApiVersion, "Trigger");
    if (!trigger_type) return internal_error("the kind table lacks Trigger");
    ifd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) return Status(Code::kUnavailable, std::string("inotify_init1: ") + std::strerror(errno));
    efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) return Status(Code::kUnavailable, std::string("eventfd: ") + std::strerror(errno));
    triggers = &factory().informer(*trigger_type);
    auto on = [this](const ObjectPtr& o) { enqueue(client::object_key(*o)); };
    watch(*triggers, {on, [on](const ObjectPtr&, const ObjectPtr& o) { on(o); }, on});
    events.start();
    reader = std::thread([this] { read_loop(); });
    return Status::ok();
  }

  void on_stopped() override {
    if (reader.joinable()) {
      uint64_t one = 1;
      ssize_t n = ::write(efd, &one, sizeof one);
      (void)n;
      reader.join();
    }
    pool.stop();
    events.stop();
    std::lock_guard l(mu);
    for (auto& [path, d] : dirs) ::inotify_rm_watch(ifd, d.wd);
    dirs.clear();
    wd_path.clear();
    key_dir.clear();
  }

  void warn(const std::string& key, const std::string& msg) {
    {
      std::lock_guard l(mu);
      auto& w = warned[key];
      if (w == msg) return;
      w = msg;
    }
    spdlog::warn("fileChange trigger {}: {}", key, msg);
  }

  // Under mu: the trigger leaves its directory; the last one out removes the watch.
  void leave_locked(const std::string& key) {
    auto k = key_dir.find(key);
    if (k == key_dir.end()) return;
    auto d = dirs.find(k->second);
    key_dir.erase(k);
    if (d == dirs.end()) return;
    d->second.subs.erase(key);
    if (d->second.subs.empty()) {
      ::inotify_rm_watch(ifd, d->second.wd);
      wd_path.erase(d->second.wd);
      spdlog::info("fileChange: no longer watching {}", d->first);
      dirs.erase(d);
    }
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    ObjectPtr obj = triggers->indexer().get(key);
    const Json* fc = nullptr;
    if (obj) {
      const Json& spec = field(*obj, "spec");
      const Json& f = field(spec, "fileChange");
      if (f.is_object() && !api::bfield(spec, "suspend") && sfield(f, "node") == opts.node_name) fc = &f;
    }
    if (!fc) {
      std::lock_guard l(mu);
      leave_locked(key);
      warned.erase(key);
      return client::ReconcileResult::done();
    }
    const std::string raw = sfield(*fc, "path");
    if (Status st = serverless::validate_watch_path(raw); !st) {
      warn(key, st.message());
      std::lock_guard l(mu);
      leave_locked(key);
      return client::ReconcileResult::done();
    }
    const std::string& path = raw;  // the grammar allows no "//", "." or trailing "/"
    Spec spec;
    spec.uid = api::meta_string(*obj, "uid");
    for (const Json& e : api::afield(*fc, "events")) {
      if (e.is_string()) spec.events.insert(e.get<std::string>());
    }
    if (spec.events.empty()) spec.events = {std::begin(kFileEvents), std::end(kFileEvents)};
    spec.pattern = sfield(*fc, "pattern");
    if (spec.pattern.empty()) spec.pattern = "*";
    spec.include_content = api::bfield(*fc, "includeContent");

    {
      std::lock_guard l(mu);
      auto k = key_dir.find(key);
      if (k != key_dir.end() && k->second != path) leave_locked(key);
      auto d = dirs.find(path);
      if (d != dirs.end()) {
        d->second.subs[key] = std::move(spec);
        key_dir[key] = path;
        return client::ReconcileResult::done();
      }
    }
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      warn(key, "creating " + path + ": " + ec.message());
      return client::ReconcileResult::error(Status(Code::kUnavailable, "creating " + path + ": " + ec.message()));
    }
    std::lock_guard l(mu);
    auto d = dirs.find(path);
    if (d == dirs.end()) {
      int wd = ::inotify_add_watch(ifd, path.c_str(), kDirMask);
      if (wd < 0) {
        std::string msg = "watching " + path + ": " + std::strerror(errno);
        warned[key] = msg;
        spdlog::warn("fileChange trigger {}: {}", key, msg);
        return client::ReconcileResult::error(Status(Code::kUnavailable, msg));
      }
      Dir nd;
      nd.wd = wd;
      // What is there now: a later write of these names is "modified".
      if (DIR* dp = ::opendir(path.c_str())) {
        while (dirent* de = ::readdir(dp)) {
          std::string n = de->d_name;
          if (n != "." && n != ".." && de->d_type != DT_DIR) nd.known.insert(n);
        }
        ::closedir(dp);
      }
      d = dirs.emplace(path, std::move(nd)).first;
      wd_path[wd] = path;
      spdlog::info("fileChange: watching {} (trigger {})", path, key);
    }
    d->second.subs[key] = std::move(spec);
    key_dir[key] = path;
    warned.erase(key);
    return client::ReconcileResult::done();
  }

  // ---- the reader thread

  void read_loop() {
    alignas(inotify_event) char buf[64 * 1024];
    for (;;) {
      pollfd fds[2] = {{ifd, POLLIN, 0}, {efd, POLLIN, 0}};
      int r = ::poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        spdlog::error("fileChange: poll: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents) return;
      if (!(fds[0].revents & POLLIN)) continue;
      for (;;) {
        ssize_t n = ::read(ifd, buf, sizeof buf);
        if (n < 0) {
          if (errno == EINTR) continue;
          break;  // EAGAIN: drained
        }
        if (n == 0) break;
        for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
          std::string name = ev->len ? std::string(ev->name, ::strnlen(ev->name, ev->len)) : "";
          handle(ev->wd, ev->mask, name);
          off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
      }
    }
  }

  struct Hit {
    std::string key;
    std::string uid;
    bool include_content = false;
  };

  void handle(int wd, uint32_t mask, const std::string& name) {
    if (mask & IN_Q_OVERFLOW) {
      spdlog::warn("fileChange: inotify queue overflow: events were lost");
      return;
    }
    std::string dir, kind;
    std::vector<Hit> hits;
    std::vector<std::string> rewatch;
    {
      std::lock_guard l(mu);
      auto p = wd_path.find(wd);
      if (p == wd_path.end()) return;  // a watch already removed
      dir = p->second;
      Dir& d = dirs[dir];
      if (mask & (IN_IGNORED | IN_MOVE_SELF | IN_DELETE_SELF | IN_UNMOUNT)) {
        // The directory went: watch its path again later (re-created).
        if (!(mask & IN_IGNORED)) ::inotify_rm_watch(ifd, wd);
        for (const auto& [k, s] : d.subs) {
          rewatch.push_back(k);
          key_dir.erase(k);
        }
        wd_path.erase(p);
        dirs.erase(dir);
      } else if (!(mask & IN_ISDIR) && !name.empty()) {
        if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
          kind = d.known.insert(name).second ? "created" : "modified";
        } else if (mask & (IN_DELETE | IN_MOVED_FROM)) {
          d.known.erase(name);
          kind = "deleted";
        }
        if (!kind.empty()) {
          for (const auto& [k, s] : d.subs) {
            if (s.events.count(kind) && serverless::file_pattern_match(s.pattern, name))
              hits.push_back({k, s.uid, s.include_content});
          }
        }
      }
    }
    for (const auto& k : rewatch) {
      spdlog::warn("fileChange: {} is gone; watching it again in {} s", dir, kRewatchDelay.count());
      enqueue_after(k, kRewatchDelay);
    }
    if (hits.empty()) return;
    const std::string path = dir + "/" + name;
    Json event = {{"type", "fileChange"},
                  {"event", kind},
                  {"path", path},
                  {"name", name},
                  {"node", opts.node_name},
                  {"time", format_rfc3339_micro(clock().now())}};
    if (kind != "deleted") {
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) return;  // a symlink, a FIFO, a socket: not a file
        event["size"] = static_cast<int64_t>(st.st_size);
      }
    }
    for (const Hit& h : hits) {
      ObjectPtr t = triggers->indexer().get(h.key);
      if (!t || api::meta_string(*t, "uid") != h.uid) continue;
      bool content = h.include_content && kind != "deleted";
      bool ok = pool.submit([this, t, event, content, path] {
        Json e = event;
        if (content) add_content(e, path);
        serverless::fire_trigger(api_client(), *t, e, fire_options());
      });
      if (!ok) spdlog::warn("fileChange trigger {}: firing queue full, {} {} dropped", h.key, kind, path);
    }
  }

  // event.content (+ encoding) for a regular file ≤ 1 MiB; else contentSkipped.
  static void add_content(Json& event, const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      event["contentSkipped"] = std::string("open: ") + std::strerror(errno);
      return;
    }
    struct stat st {};
    std::string data;
    std::string skipped;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      skipped = "not a regular file";
    } else if (static_cast<size_t>(st.st_size) > serverless::kMaxTriggerFileContent) {
      skipped = "larger than 1 MiB";
    } else {
      data.resize(serverless::kMaxTriggerFileContent + 1);
      size_t got = 0;
      while (got < data.size()) {
        ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      data.resize(got);
      if (got > serverless::kMaxTriggerFileContent) skipped = "larger than 1 MiB";
    }
    ::close(fd);
    if (!skipped.empty()) {
      event["contentSkipped"] = skipped;
      return;
    }
    if (valid_utf8(data)) {
      event["content"] = std::move(data);
      event["encoding"] = "utf-8";
    } else {
      event["content"] = base64_encode(data);
      event["encoding"] = "base64";
    }
  }

  serverless::FireOptions fire_options() {
    serverless::FireOptions fo;
    fo.events = &events;
    fo.component = kComponent;
    fo.clock = &clock();
    fo.cancel = pool.cancelled();
    if (!opts.api_server.empty()) {
      std::string api = opts.api_server;
      fo.rewrite_url = [api](const std::string& url) { return gateway_url_for_node(url, api); };
    }
    return fo;
  }

  std::vector<std::string> watched() const {
    std::lock_guard l(mu);
    std::vector<std::string> out;
    for (const auto& [p, d] : dirs) out.push_back(p);
    return out;
  }
  bool watching(const std::string& key) const {
    std::lock_guard l(mu);
    return key_dir.count(key) > 0;
  }
};

FileTriggerWatcher::FileTriggerWatcher(client::Client& client, FileTriggerOptions opts) {
  auto impl = std::make_unique<Impl>(own_factory(client), std::move(opts));
  impl_ = impl.get();
  set_impl(std::move(impl));
}

std::vector<std::string> FileTriggerWatcher::watched_directories() const { return impl_->watched(); }

bool FileTriggerWatcher::watching(const std::string& trigger_key) const { return impl_->watching(trigger_key); }

}  // namespace minik8s::agent
