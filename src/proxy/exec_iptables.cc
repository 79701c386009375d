// The real Iptables: spawns iptables-restore / iptables-save / iptables /
// conntrack, feeding stdin and collecting stdout/stderr with poll() so that
// large rulesets in either direction cannot deadlock on a full pipe.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <cerrno>
#include <cstring>

#include "minik8s/proxy/proxy.h"

extern char** environ;

namespace minik8s::proxy {
namespace {

struct Output {
  int exit_code = -1;
  std::string out, err;
};

Result<Output> run_command(const std::vector<std::string>& args, const std::string& input) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return internal_error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return internal_error(std::string("pipe: ") + std::strerror(errno));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) ::close(fd);
    return internal_error(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    for (int fd : {in_pipe[1], out_pipe[0], err_pipe[0]}) ::close(fd);
    return internal_error(args[0] + ": " + std::strerror(rc));
  }
  Output o;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  // A child that exits before reading all of stdin must not SIGPIPE us:
  // block it in this thread, and consume one we caused.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  bool got_epipe = false;
  char buf[65536];
  while (in_fd >= 0 || out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3];
    int nfds = 0;
    if (in_fd >= 0) fds[nfds++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[nfds++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[nfds++] = {err_fd, POLLIN, 0};
    if (::poll(fds, static_cast<nfds_t>(nfds), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < nfds; ++i) {
      if (!fds[i].revents) continue;
      int fd = fds[i].fd;
      if (fd == in_fd) {
        ssize_t n = ::write(fd, input.data() + written, input.size() - written);
        if (n > 0) written += static_cast<size_t>(n);
        if (n < 0 && errno == EPIPE) got_epipe = true;
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
      } else {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
          (fd == out_fd ? o.out : o.err).append(buf, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          ::close(fd);
          (fd == out_fd ? out_fd : err_fd) = -1;
        }
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd})
    if (fd >= 0) ::close(fd);
  if (got_epipe) {
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  o.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return o;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

class ExecIptables : public Iptables {
 public:
  explicit ExecIptables(const ProxyOptions& o) : o_(o) {}

  Status restore(const std::string& input) override {
    std::vector<std::string> args{o_.iptables_restore, "--noflush", "--wait=5"};
    auto r = run_command(args, input);
    if (!r) return r.status();
    if (r->exit_code != 0) return internal_error(joined(args) + " exited " + std::to_string(r->exit_code) + ": " + trim(r->err));
    return Status::ok();
  }

  Result<std::string> save(const std::string& table) override {
    std::vector<std::string> args{o_.iptables_save, "-t", table};
    auto r = run_command(args, "");
    if (!r) return r.status();
    if (r->exit_code != 0) return internal_error(joined(args) + " exited " + std::to_string(r->exit_code) + ": " + trim(r->err));
    return std::move(r->out);
  }

  Status iptables(const std::vector<std::string>& args) override {
    std::vector<std::string> full{o_.iptables, "-w", "5"};
    full.insert(full.end(), args.begin(), args.end());
    auto r = run_command(full, "");
    if (!r) return r.status();
    if (r->exit_code != 0) return internal_error(joined(full) + " exited " + std::to_string(r->exit_code) + ": " + trim(r->err));
    return Status::ok();
  }

  Status conntrack(const std::vector<std::string>& args) override {
    std::vector<std::string> full{o_.conntrack};
    full.insert(full.end(), args.begin(), args.end());
    auto r = run_command(full, "");
    if (!r) return r.status();
    // conntrack -D exits 1 when nothing matched ("0 flow entries have been deleted").
    if (r->exit_code == 0 || r->err.find("0 flow entries") != std::string::npos) return Status::ok();
    return internal_error(joined(full) + " exited " + std::to_string(r->exit_code) + ": " + trim(r->err));
  }

 private:
  ProxyOptions o_;
};

}  // namespace

std::unique_ptr<Iptables> make_exec_iptables(const ProxyOptions& options) {
  return std::make_unique<ExecIptables>(options);
}

}  // namespace minik8s::proxy
