#include "minik8s/util/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace minik8s {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// In the child: report errno through the CLOEXEC pipe and exit.
[[noreturn]] void child_fail(int report_fd) {
  int e = errno;
  (void)!::write(report_fd, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

std::string describe_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    if (a.empty() || a.find_first_of(" \t'\"") != std::string::npos) {
      out += "'" + a + "'";
    } else {
      out += a;
    }
  }
  return out;
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty()) return invalid("run_process: empty argv");
  // Everything the child needs is prepared before fork (no allocation after).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  if (!options.replace_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string kv = *e;
      if (!options.env.count(kv.substr(0, kv.find('=')))) env_store.push_back(std::move(kv));
    }
  }
  for (const auto& [k, v] : options.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int report[2] = {-1, -1};  // CLOEXEC: carries errno when chdir/exec fails
  int out_file = -1;
  auto cleanup = [&] {
    for (int* p : {in, out, err, report}) close_fd(p[0]), close_fd(p[1]);
    close_fd(out_file);
  };
  const bool feed = !options.stdin_data.empty();
  if ((feed && ::pipe2(in, O_CLOEXEC) != 0) || ::pipe2(out, O_CLOEXEC) != 0 ||
      ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    Status s(Code::kUnavailable, std::string("pipe: ") + std::strerror(errno));
    cleanup();
    return s;
  }
  // The parent's end never blocks: a child that writes while we feed it
  // must not find us stuck in write().
  if (feed) ::fcntl(in[1], F_SETFL, ::fcntl(in[1], F_GETFL) | O_NONBLOCK);
  int devnull = -1;
  if (!feed) {
    devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    in[0] = devnull;
  }
  if (!options.stdout_file.empty()) {
    out_file = ::open(options.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_file < 0) {
      Status s(Code::kUnavailable, "open " + options.stdout_file + ": " + std::strerror(errno));
      cleanup();
      return s;
    }
  }
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();

  pid_t pid = ::fork();
  if (pid < 0) {
    Status s(Code::kUnavailable, std::string("fork: ") + std::strerror(errno));
    cleanup();
    return s;
  }
  if (pid == 0) {
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (in[0] >= 0) ::dup2(in[0], 0);
    ::dup2(out_file >= 0 ? out_file : out[1], 1);
    ::dup2(err[1], 2);
    if (cwd && ::chdir(cwd) != 0) child_fail(report[1]);
    ::execvpe(args[0], args.data(), envp.data());
    child_fail(report[1]);
  }
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(report[1]);
  close_fd(out_file);
  // The parent writes stdin itself; a child that exits early must not kill
  // it with SIGPIPE: MSG_NOSIGNAL does not apply to pipes, so EPIPE is only
  // seen when SIGPIPE is ignored or blocked — block it on this thread.
  sigset_t pipe_set, old_set;
  ::sigemptyset(&pipe_set);
  ::sigaddset(&pipe_set, SIGPIPE);
  if (feed) ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);

  ProcessResult result;
  size_t written = 0;
  const bool timed = options.timeout.count() > 0;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  char buf[65536];
  while (out[0] >= 0 || err[0] >= 0) {
    int wait_ms = -1;
    if (timed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left.count());
    }
    pollfd fds[3];
    int n = 0, idx_out = -1, idx_err = -1, idx_in = -1;
    if (out[0] >= 0) idx_out = n, fds[n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) idx_err = n, fds[n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) idx_in = n, fds[n++] = {in[1], POLLOUT, 0};
    int r = ::poll(fds, n, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (r == 0) continue;  // the deadline is checked at the top
    auto drain = [&](int idx, int& fd, std::string& into) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t k = ::read(fd, buf, sizeof buf);
      if (k > 0)
        into.append(buf, static_cast<size_t>(k));
      else if (k == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(fd);
    };
    drain(idx_out, out[0], result.out);
    drain(idx_err, err[0], result.err);
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = ::write(in[1], options.stdin_data.data() + written,
                          options.stdin_data.size() - written);
      if (k > 0) written += static_cast<size_t>(k);
      if ((k < 0 && errno != EINTR && errno != EAGAIN) || written >= options.stdin_data.size())
        close_fd(in[1]);
    }
  }
  close_fd(in[1]);
  if (feed) {
    // Discard a SIGPIPE our writes raised before unblocking.
    timespec zero{0, 0};
    while (::sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
    ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
  close_fd(out[0]);
  close_fd(err[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int exec_errno = 0;
  ssize_t got = -1;
  if (!timed_out) {
    while ((got = ::read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
  }
  close_fd(report[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status(Code::kTimeout, describe_command(argv) + " did not finish within " +
                                      std::to_string(options.timeout.count()) + "ms");
  }
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    return Status(Code::kUnavailable, "cannot run " + argv[0] + ": " + std::strerror(exec_errno));
  }
  if (WIFEXITED(st)) {
    result.exit_code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    result.exit_code = 128 + WTERMSIG(st);
  }
  return result;
}

}  // namespace minik8s
