// ExecRunner: fork/exec without a shell, optionally inside a network
// namespace (nsenter for programs, a setns()'d child for sysctls).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "minik8s/network/network.h"

namespace minik8s::network {
namespace {

std::string netns_path(const std::string& netns) {
  if (netns.empty() || netns[0] == '/') return netns;
  return "/run/netns/" + netns;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

class ExecRunner : public CommandRunner {
 public:
  explicit ExecRunner(std::string netns) : netns_(netns_path(netns)) {}

  Result<CommandResult> run(const std::vector<std::string>& argv_in, const std::string& stdin_data) override {
    if (argv_in.empty()) return invalid("empty command");
    std::vector<std::string> argv;
    if (!netns_.empty()) argv = {"nsenter", "--net=" + netns_};
    argv.insert(argv.end(), argv_in.begin(), argv_in.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      for (int* p : {in, out, err}) close_fd(p[0]), close_fd(p[1]);
      return Status(Code::kUnavailable, std::string("pipe: ") + std::strerror(errno));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      for (int* p : {in, out, err}) close_fd(p[0]), close_fd(p[1]);
      return Status(Code::kUnavailable, std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::execvp(cargv[0], cargv.data());
      const char msg[] = "exec failed\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    close_fd(in[0]);
    close_fd(out[1]);
    close_fd(err[1]);
    CommandResult r;
    size_t written = 0;
    if (stdin_data.empty()) close_fd(in[1]);
    while (out[0] >= 0 || err[0] >= 0) {
      pollfd fds[3];
      int n = 0;
      int idx_out = -1, idx_err = -1, idx_in = -1;
      if (out[0] >= 0) idx_out = n, fds[n++] = {out[0], POLLIN, 0};
      if (err[0] >= 0) idx_err = n, fds[n++] = {err[0], POLLIN, 0};
      if (in[1] >= 0) idx_in = n, fds[n++] = {in[1], POLLOUT, 0};
      if (::poll(fds, n, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      char buf[4096];
      auto drain = [&](int idx, int& fd, std::string& into) {
        if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
        ssize_t k = ::read(fd, buf, sizeof buf);
        if (k > 0)
          into.append(buf, static_cast<size_t>(k));
        else if (k == 0 || errno != EINTR)
          close_fd(fd);
      };
      drain(idx_out, out[0], r.out);
      drain(idx_err, err[0], r.err);
      if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t k = ::write(in[1], stdin_data.data() + written, stdin_data.size() - written);
        if (k > 0) written += static_cast<size_t>(k);
        if (k < 0 && errno != EINTR) close_fd(in[1]);
        if (written >= stdin_data.size()) close_fd(in[1]);
      }
    }
    close_fd(in[1]);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r.exit_code == 127 && r.err.find("exec failed") != std::string::npos)
      return Status(Code::kUnavailable, "cannot run " + argv[0] + ": not found or not executable");
    return r;
  }

  bool sysctl_exists(const std::string& key) override {
    const std::string path = "/proc/sys/" + key;
    return in_netns([&] { return ::access(path.c_str(), F_OK) == 0 ? 0 : 1; }) == 0;
  }

  Status write_sysctl(const std::string& key, const std::string& value) override {
    const std::string path = "/proc/sys/" + key;
    int rc = in_netns([&] {
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return 1;
      ssize_t k = ::write(fd, value.data(), value.size());
      ::close(fd);
      return k == static_cast<ssize_t>(value.size()) ? 0 : 2;
    });
    if (rc != 0)
      return internal_error("cannot write " + value + " to " + path + (netns_.empty() ? "" : " in " + netns_) +
                            (rc == 1 ? ": open failed" : rc == 2 ? ": write failed" : ": setns failed"));
    return Status::ok();
  }

 private:
  // Runs fn in the target netns: directly when none is set, else in a forked
  // child that setns()'d first (only syscalls after fork: safe with threads).
  template <typename Fn>
  int in_netns(Fn fn) {
    if (netns_.empty()) return fn();
    int nsfd = ::open(netns_.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return 3;
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(nsfd);
      return 3;
    }
    if (pid == 0) {
      if (::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(3);
      ::_exit(fn());
    }
    ::close(nsfd);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
  }

  const std::string netns_;
};

}  // namespace

std::unique_ptr<CommandRunner> make_exec_runner(const std::string& netns) {
  return std::make_unique<ExecRunner>(netns);
}

}  // namespace minik8s::network
