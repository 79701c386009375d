#include "nginx.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace minik8s::ingress {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return internal_error("cannot write " + path);
  return Status::ok();
}

// The pids whose parent is ppid.
std::vector<int> children_of(int ppid) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string stat = read_file("/proc/" + name + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    // ") S PPID ..."
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    int parent = 0;
    rest >> state >> parent;
    if (parent == ppid && state != "Z") out.push_back(std::atoi(name.c_str()));
  }
  return out;
}

bool alive(int pid);

}  // namespace

bool process_running(int pid) { return alive(pid); }

namespace {

// Alive and not a zombie.
bool alive(int pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

std::string trim_slash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

bool is_our_nginx(int pid, const std::string& prefix) {
  if (pid <= 0) return false;
  std::string cmd = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmd.find("nginx") == std::string::npos) return false;
  // The master rewrites its argv into one string ("nginx: master process
  // nginx -p /x -c ..."): split on NUL and space alike.
  std::vector<std::string> words;
  std::string cur;
  for (char c : cmd) {
    if (c == '\0' || c == ' ') {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) words.push_back(cur);
  std::string want = trim_slash(prefix);
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i] == "-p" && trim_slash(words[i + 1]) == want) return true;
  }
  return false;
}

Nginx::Nginx(std::string binary, std::string prefix_dir)
    : binary_(std::move(binary)), prefix_(trim_slash(std::move(prefix_dir))) {}

Result<std::string> Nginx::find_binary() const {
  auto executable = [](const std::string& p) {
    return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p);
  };
  if (binary_.find('/') != std::string::npos) {
    if (executable(binary_)) return binary_;
    return Status(Code::kUnavailable, "nginx binary " + binary_ +
                                          " is not executable (install the nginx-light package)");
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  dirs += ":/usr/sbin:/sbin:/usr/local/sbin";
  std::stringstream ss(dirs);
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) continue;
    std::string p = d + "/" + binary_;
    if (executable(p)) return p;
  }
  return Status(Code::kUnavailable, "nginx binary \"" + binary_ +
                                        "\" not found in PATH (install the nginx-light package)");
}

int Nginx::pid_file_pid() const {
  std::string text = read_file(prefix_ + "/nginx.pid");
  try {
    return text.empty() ? 0 : std::stoi(text);
  } catch (...) {
    return 0;
  }
}

int Nginx::running_pid() const {
  int pid = pid_file_pid();
  return alive(pid) && is_our_nginx(pid, prefix_) ? pid : 0;
}

void Nginx::kill_orphaned_workers() const {
  // A master killed with SIGKILL leaves its workers serving (and holding the
  // port). They share its process group (the master was a session leader,
  // and a pid stays unused while it names a live group): kill the nginx
  // processes of that group.
  int old = pid_file_pid();
  if (old <= 0 || alive(old)) return;
  std::error_code ec;
  std::vector<int> killed;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    int pid = std::atoi(name.c_str());
    if (::getpgid(pid) != old || !alive(pid)) continue;
    std::string cmd = read_file("/proc/" + name + "/cmdline");
    if (cmd.rfind("nginx: ", 0) != 0) continue;
    if (::kill(pid, SIGKILL) == 0) killed.push_back(pid);
  }
  // Their sockets close when they die (a zombie holds none).
  auto deadline = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < deadline &&
         std::any_of(killed.begin(), killed.end(), [](int p) { return alive(p); })) {
    std::this_thread::sleep_for(2ms);
  }
}

Status Nginx::prepare_dirs() const {
  std::error_code ec;
  for (const char* sub : {"", "/logs", "/temp"}) {
    fs::create_directories(prefix_ + sub, ec);
    if (ec) return internal_error("cannot create " + prefix_ + sub + ": " + ec.message());
  }
  return Status::ok();
}

Result<int> Nginx::run(const std::vector<std::string>& args, std::string& output) const {
  auto bin = find_binary();
  if (!bin) return bin.status();
  std::string out_path = prefix_ + "/logs/launch.out";
  std::vector<std::string> argv_s = {*bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) return internal_error("cannot open " + out_path + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls here. nginx daemonizes and must not keep
    // any descriptor of ours (API connections, listeners): close them all.
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::setsid();
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(out_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) return internal_error(std::string("fork: ") + std::strerror(fork_errno));
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR)
      return internal_error(std::string("waitpid: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      output = read_file(out_path);
      return Status(Code::kTimeout, "nginx did not finish within 10 s: " + output);
    }
    std::this_thread::sleep_for(2ms);
  }
  output = read_file(out_path);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

Status Nginx::start() {
  kill_orphaned_workers();
  std::string out;
  auto rc = run({"-p", prefix_, "-c", conf_path(), "-e", prefix_ + "/logs/error.log"}, out);
  if (!rc) return rc.status();
  if (*rc != 0)
    return Status(Code::kUnavailable,
                  "nginx failed to start (exit " + std::to_string(*rc) + "): " + out);
  // The launcher exits once it has daemonized; the master writes the pid file
  // right after.
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (running_pid() > 0) return Status::ok();
    std::this_thread::sleep_for(5ms);
  }
  std::string log = read_file(prefix_ + "/logs/error.log");
  if (log.size() > 600) log = log.substr(log.size() - 600);
  return Status(Code::kUnavailable, "nginx did not come up under " + prefix_ + ": " + log);
}

Status Nginx::apply(const std::string& config) {
  if (Status st = prepare_dirs(); !st) return st;
  std::string candidate = prefix_ + "/nginx.conf.new";
  if (Status st = write_file(candidate, config); !st) return st;
  std::string out;
  auto rc =
      run({"-t", "-q", "-p", prefix_, "-c", candidate, "-e", prefix_ + "/logs/error.log"}, out);
  if (!rc) return rc.status();
  if (*rc != 0)
    return invalid(out.empty() ? "nginx -t failed with exit " + std::to_string(*rc) : out);
  std::error_code ec;
  fs::rename(candidate, conf_path(), ec);
  if (ec) return internal_error("cannot install " + conf_path() + ": " + ec.message());
  int pid = running_pid();
  if (pid > 0) {
    std::vector<int> old_workers = children_of(pid);
    if (::kill(pid, SIGHUP) != 0)
      return internal_error("cannot signal nginx " + std::to_string(pid) + ": " +
                            std::strerror(errno));
    // A reload is asynchronous: the old workers keep accepting until the
    // master has started new ones and told the old ones to quit. Wait (a
    // bounded while: a long request keeps its worker) until they stopped, so
    // that "applied" means the new routes are what new connections get.
    auto deadline = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < deadline) {
      bool any = false;
      for (int w : old_workers) {
        if (!alive(w)) continue;
        // Shutting-down workers drop their listening sockets first; their
        // title changes to "nginx: worker process is shutting down".
        std::string cmd = read_file("/proc/" + std::to_string(w) + "/cmdline");
        if (cmd.find("shutting down") == std::string::npos) any = true;
      }
      if (!any) break;
      std::this_thread::sleep_for(2ms);
    }
    return Status::ok();
  }
  return start();
}

Status Nginx::ensure_running() {
  if (running_pid() > 0) return Status::ok();
  if (!fs::exists(conf_path())) return not_found("no nginx configuration at " + conf_path());
  if (Status st = prepare_dirs(); !st) return st;
  return start();
}

Status Nginx::stop(std::chrono::milliseconds grace) {
  int pid = running_pid();
  if (pid <= 0) {
    kill_orphaned_workers();  // a SIGKILLed master's workers still hold the port
    return Status::ok();
  }
  ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive(pid)) return Status::ok();
    std::this_thread::sleep_for(5ms);
  }
  // The master is a session leader (setsid): its group is itself + workers.
  if (::getpgid(pid) == pid) {
    ::kill(-pid, SIGKILL);
  } else {
    ::kill(pid, SIGKILL);
  }
  deadline = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive(pid)) return Status::ok();
    std::this_thread::sleep_for(5ms);
  }
  return internal_error("nginx " + std::to_string(pid) + " did not exit");
}

}  // namespace minik8s::ingress
