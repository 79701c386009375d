// ManagedContainerd: config, spawn (posix_spawn, own session), readiness,
// supervision and stop of a private containerd.
#include "minik8s/cri/containerd.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "containerd_config.h"
#include "minik8s/cri/grpc_runtime.h"
#include "minik8s/util/file.h"

extern char** environ;

namespace minik8s::cri {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last n bytes of the log, for error messages.
std::string log_tail(const std::string& path, size_t n = 1500) {
  std::string s = read_file(path);
  if (s.size() > n) s = "..." + s.substr(s.size() - n);
  return s;
}

bool socket_accepts(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// The NUL-separated argv of a live process ("" when gone).
std::string cmdline_of(int pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

bool alive(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A zombie is dead for our purposes.
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto rp = stat.rfind(')');
  if (rp != std::string::npos && rp + 2 < stat.size() &&
      (stat[rp + 2] == 'Z' || stat[rp + 2] == 'X'))
    return false;
  return !stat.empty();
}

}  // namespace

struct ManagedContainerd::Impl {
  explicit Impl(ContainerdOptions o)
      : options(std::move(o)), paths(detail::containerd_paths(options)) {}

  const ContainerdOptions options;
  const detail::ContainerdPaths paths;

  std::mutex mu;  // guards the members below
  std::condition_variable cv;
  int pid = -1;            // the containerd process (-1: none)
  bool own_child = false;  // spawned by us (waitpid applies) vs adopted through the pid file
  bool stopping = false;
  bool started = false;
  int restarts = 0;
  std::thread supervisor;

  Status write_files() {
    std::error_code ec;
    for (const auto& d : {paths.dir, paths.root, paths.state, paths.runc_root, paths.cni_conf_dir,
                          paths.cni_ipam_dir}) {
      fs::create_directories(d, ec);
      if (ec) return internal_error("cannot create " + d + ": " + ec.message());
    }
    if (Status s =
            write_file_atomically(paths.config, detail::containerd_config_toml(options, paths));
        !s)
      return s;
    if (!options.pod_cidr.empty() && !detail::cni_conf_dir_has_config(paths.cni_conf_dir)) {
      const std::string conf =
          paths.cni_conf_dir + "/10-" + detail::cni_network_name(options) + ".conflist";
      if (Status s = write_file_atomically(conf, detail::cni_conflist_json(options, paths)); !s)
        return s;
    }
    return Status::ok();
  }

  // A containerd recorded in the pid file that is still ours: alive and
  // started with this config.
  int adoptable_pid() {
    std::string s = read_file(paths.pid_file);
    int p = 0;
    try {
      p = std::stoi(s);
    } catch (...) {
      return -1;
    }
    if (!alive(p)) return -1;
    std::string cmd = cmdline_of(p);
    if (cmd.find("containerd") == std::string::npos || cmd.find(paths.config) == std::string::npos)
      return -1;
    return p;
  }

  // Spawns containerd in its own session (a terminal's ^C or the agent's
  // exit does not reach it), output appended to containerd.log.
  Result<int> spawn() {
    std::vector<std::string> argv;
    if (!options.netns.empty()) {
      // Not `ip netns exec`: it remounts /sys and hides the cgroup mounts.
      argv = {"nsenter", "--net=/run/netns/" + options.netns};
    }
    argv.insert(argv.end(), {options.binary, "--config", paths.config});
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, paths.log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0640);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t child = -1;
    int rc = ::posix_spawnp(&child, cargv[0], &fa, &attr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return internal_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    return static_cast<int>(child);
  }

  // Polls until containerd's CRI answers Version, the process dies or the deadline passes.
  Status wait_ready(int p, bool child) {
    const auto deadline = Clock::now() + options.ready_timeout;
    GrpcRuntimeOptions go;
    go.endpoint = "unix://" + paths.socket;
    go.call_timeout = 1s;
    std::unique_ptr<Runtime> rt;
    std::string last;
    while (Clock::now() < deadline) {
      if (child) {
        int st = 0;
        if (::waitpid(p, &st, WNOHANG) == p) {
          std::string how = WIFEXITED(st) ? "exited with status " + std::to_string(WEXITSTATUS(st))
                                          : "was killed by signal " + std::to_string(WTERMSIG(st));
          return {Code::kUnavailable, "containerd " + how + " during start-up; " + paths.log +
                                          ":\n" + log_tail(paths.log)};
        }
      } else if (!alive(p)) {
        return {Code::kUnavailable, "containerd (pid " + std::to_string(p) + ") is gone"};
      }
      if (socket_accepts(paths.socket)) {
        if (!rt) {
          auto r = make_grpc_runtime(go);
          if (!r) return r.status();
          rt = std::move(*r);
        }
        auto v = rt->version();
        if (v) return Status::ok();
        last = v.status().message();
      }
      std::this_thread::sleep_for(20ms);
    }
    return {Code::kTimeout, "containerd did not answer on " + paths.socket + " within " +
                                std::to_string(options.ready_timeout.count()) + " ms" +
                                (last.empty() ? "" : " (last error: " + last + ")") + "; " +
                                paths.log + ":\n" + log_tail(paths.log)};
  }

  // Sends SIGTERM, waits, then SIGKILL. Caller holds no lock.
  static void terminate(int p, bool child, std::chrono::milliseconds grace) {
    if (p <= 0) return;
    ::kill(p, SIGTERM);
    const auto deadline = Clock::now() + grace;
    auto gone = [&] {
      if (child) {
        int st = 0;
        pid_t r = ::waitpid(p, &st, WNOHANG);
        return r == p || (r < 0 && errno == ECHILD);
      }
      return !alive(p);
    };
    while (!gone()) {
      if (Clock::now() >= deadline) {
        ::kill(p, SIGKILL);
        if (child) {
          int st = 0;
          ::waitpid(p, &st, 0);
        } else {
          for (auto d = Clock::now() + 5s; alive(p) && Clock::now() < d;)
            std::this_thread::sleep_for(10ms);
        }
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  Status launch() {  // caller holds no lock; sets pid/own_child on success
    auto p = spawn();
    if (!p) return p.status();
    (void)write_file_atomically(paths.pid_file, std::to_string(*p) + "\n");
    Status s = wait_ready(*p, true);
    if (!s) {
      terminate(*p, true, 2s);
      std::error_code ec;
      fs::remove(paths.pid_file, ec);
      return s;
    }
    std::lock_guard lk(mu);
    pid = *p;
    own_child = true;
    return Status::ok();
  }

  void supervise() {
    auto backoff = 500ms;
    std::unique_lock lk(mu);
    while (!stopping) {
      cv.wait_for(lk, options.supervise_interval, [&] { return stopping; });
      if (stopping) break;
      const int p = pid;
      const bool child = own_child;
      bool dead;
      if (p < 0) {
        dead = true;  // an earlier restart failed: try again
      } else if (child) {
        int st = 0;
        pid_t r = ::waitpid(p, &st, WNOHANG);
        dead = r == p || (r < 0 && errno == ECHILD);
      } else {
        dead = !alive(p);
      }
      if (!dead) {
        backoff = 500ms;
        continue;
      }
      if (p >= 0) spdlog::warn("containerd (pid {}) died; restarting it", p);
      pid = -1;
      lk.unlock();
      Status s = launch();
      lk.lock();
      if (s) {
        ++restarts;
        spdlog::info("containerd restarted (pid {})", pid);
      } else {
        spdlog::error("restarting containerd failed: {}", s.to_string());
        // Still dead: retried after the back-off. The old PID is not kept (the
        // kernel may hand it to an unrelated process that stop() would signal).
        pid = -1;
        cv.wait_for(lk, backoff, [&] { return stopping; });
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 30s);
      }
    }
  }
};

ManagedContainerd::ManagedContainerd(ContainerdOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ManagedContainerd::~ManagedContainerd() { stop(); }

Status ManagedContainerd::start() {
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->started) return Status::ok();
  }
  if (impl_->options.data_dir.empty()) return invalid("ManagedContainerd: data_dir is empty");
  if (impl_->paths.socket.size() >= sizeof(sockaddr_un{}.sun_path) - 7) {
    return invalid("data dir path too long for a unix socket: " + impl_->paths.socket);
  }
  if (Status s = impl_->write_files(); !s) return s;

  if (int p = impl_->adoptable_pid(); p > 0) {
    if (Status s = impl_->wait_ready(p, false); s) {
      std::lock_guard lk(impl_->mu);
      impl_->pid = p;
      impl_->own_child = false;
      spdlog::info("adopted running containerd (pid {}) on {}", p, impl_->paths.socket);
    } else {
      spdlog::warn("containerd pid {} from {} does not answer ({}); starting a new one", p,
                   impl_->paths.pid_file, s.message());
      Impl::terminate(p, false, 5s);
    }
  }
  bool have;
  {
    std::lock_guard lk(impl_->mu);
    have = impl_->pid > 0;
  }
  if (!have) {
    // A stale socket from a dead instance would make the readiness poll lie.
    std::error_code ec;
    fs::remove(impl_->paths.socket, ec);
    fs::remove(impl_->paths.ttrpc_socket, ec);
    if (Status s = impl_->launch(); !s) return s;
  }
  std::lock_guard lk(impl_->mu);
  impl_->started = true;
  impl_->stopping = false;
  impl_->supervisor = std::thread([this] { impl_->supervise(); });
  return Status::ok();
}

void ManagedContainerd::stop() {
  std::thread t;
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->started) return;
    impl_->stopping = true;
    impl_->started = false;
    t = std::move(impl_->supervisor);
  }
  impl_->cv.notify_all();
  if (t.joinable()) t.join();
  if (impl_->options.leave_running) return;  // the pid file stays: the next start() adopts it
  int p;
  bool child;
  {
    // Read after the join: a restart in flight may have replaced the process.
    std::lock_guard lk(impl_->mu);
    p = impl_->pid;
    child = impl_->own_child;
  }
  Impl::terminate(p, child, 10s);
  std::error_code ec;
  fs::remove(impl_->paths.pid_file, ec);
  std::lock_guard lk(impl_->mu);
  impl_->pid = -1;
}

std::string ManagedContainerd::socket_path() const { return impl_->paths.socket; }
std::string ManagedContainerd::config_path() const { return impl_->paths.config; }
std::string ManagedContainerd::cni_conf_dir() const { return impl_->paths.cni_conf_dir; }
std::string ManagedContainerd::cni_ipam_dir() const { return impl_->paths.cni_ipam_dir; }

std::string ManagedContainerd::cni_bridge() const {
  return detail::cni_bridge_name(impl_->options);
}

int ManagedContainerd::pid() const {
  std::lock_guard lk(impl_->mu);
  return impl_->pid;
}

int ManagedContainerd::restarts() const {
  std::lock_guard lk(impl_->mu);
  return impl_->restarts;
}

}  // namespace minik8s::cri
