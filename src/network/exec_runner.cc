// ExecRunner: fork/exec without a shell (minik8s/util/process.h), optionally
// inside a network namespace (nsenter for programs, a setns()'d child for
// sysctls).
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "minik8s/network/network.h"
#include "minik8s/util/process.h"

namespace minik8s::network {
namespace {

std::string netns_path(const std::string& netns) {
  if (netns.empty() || netns[0] == '/') return netns;
  return "/run/netns/" + netns;
}

class ExecRunner : public CommandRunner {
 public:
  explicit ExecRunner(std::string netns) : netns_(netns_path(netns)) {}

  Result<CommandResult> run(const std::vector<std::string>& argv_in, const std::string& stdin_data) override {
    if (argv_in.empty()) return invalid("empty command");
    std::vector<std::string> argv;
    if (!netns_.empty()) argv = {"nsenter", "--net=" + netns_};
    argv.insert(argv.end(), argv_in.begin(), argv_in.end());
    ProcessOptions options;
    options.stdin_data = stdin_data;
    auto r = run_process(argv, options);
    if (!r) return r.status();
    return CommandResult{r->exit_code, std::move(r->out), std::move(r->err)};
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
