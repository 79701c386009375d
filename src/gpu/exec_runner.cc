// The submitter's fork/exec Runner (minik8s/gpu/submitter.h): no shell,
// stdout and stderr collected, stdin /dev/null.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "minik8s/gpu/submitter.h"

extern char** environ;

namespace minik8s::gpu {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

class ExecRunner : public Runner {
 public:
  explicit ExecRunner(std::string bin_dir) : bin_dir_(std::move(bin_dir)) {}

  Result<CommandResult> run(const std::vector<std::string>& argv_in,
                            const std::map<std::string, std::string>& env) override {
    if (argv_in.empty()) return invalid("empty command");
    std::vector<std::string> argv = argv_in;
    std::string program = argv[0];
    if (program.find('/') == std::string::npos && !bin_dir_.empty()) {
      std::string candidate = bin_dir_ + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) program = candidate;
    }
    std::vector<std::string> envs;
    for (char** e = environ; e && *e; ++e) {
      std::string kv = *e;
      std::string k = kv.substr(0, kv.find('='));
      if (!env.count(k)) envs.push_back(kv);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      for (int* p : {out, err}) close_fd(p[0]), close_fd(p[1]);
      return Status(Code::kUnavailable, std::string("pipe: ") + std::strerror(errno));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      for (int* p : {out, err}) close_fd(p[0]), close_fd(p[1]);
      return Status(Code::kUnavailable, std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      // The submitter blocks SIGTERM/SIGINT and ignores SIGPIPE (main);
      // both survive exec, and munged must stop on SIGTERM.
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::execvpe(program.c_str(), cargv.data(), cenv.data());
      const char msg[] = "minik8s-submitter: exec failed\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    close_fd(out[1]);
    close_fd(err[1]);
    CommandResult r;
    while (out[0] >= 0 || err[0] >= 0) {
      pollfd fds[2];
      int n = 0, idx_out = -1, idx_err = -1;
      if (out[0] >= 0) idx_out = n, fds[n++] = {out[0], POLLIN, 0};
      if (err[0] >= 0) idx_err = n, fds[n++] = {err[0], POLLIN, 0};
      if (::poll(fds, n, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      char buf[8192];
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
    }
    close_fd(out[0]);
    close_fd(err[0]);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r.exit_code == 127 && r.err.find("minik8s-submitter: exec failed") != std::string::npos)
      return Status(Code::kUnavailable, "cannot run " + argv[0] + ": not found or not executable");
    return r;
  }

 private:
  const std::string bin_dir_;
};

}  // namespace

std::unique_ptr<Runner> make_exec_runner(std::string bin_dir) {
  return std::make_unique<ExecRunner>(std::move(bin_dir));
}

}  // namespace minik8s::gpu
