#include "etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace minik8s::testing {

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::string tail_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace

bool EtcdProcess::available() { return std::system("command -v etcd >/dev/null 2>&1") == 0; }

std::unique_ptr<EtcdProcess> EtcdProcess::start(const std::string& dir, std::string* error,
                                                const Tls* tls) {
  std::unique_ptr<EtcdProcess> p(new EtcdProcess(dir));
  if (tls) p->tls_ = *tls;
  // A port taken between free_port() and etcd's bind: try fresh ports.
  for (int attempt = 0; attempt < 3; ++attempt) {
    p->client_port_ = free_port();
    p->peer_port_ = free_port();
    std::error_code ec;
    std::filesystem::remove_all(dir + "/etcd", ec);
    if (p->launch(error)) return p;
  }
  return nullptr;
}

bool EtcdProcess::restart(std::string* error) {
  kill();
  return launch(error);
}

bool EtcdProcess::launch(std::string* error) {
  std::string client = client_url();
  std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::string log = dir_ + "/etcd.log";
  std::vector<std::string> args = {"etcd",         "--name",
                                   "test",         "--data-dir",
                                   dir_ + "/etcd", "--listen-client-urls",
                                   client,         "--advertise-client-urls",
                                   client,         "--listen-peer-urls",
                                   peer,           "--initial-advertise-peer-urls",
                                   peer,           "--initial-cluster",
                                   "test=" + peer, "--logger",
                                   "zap"};
  if (tls_) {
    args.insert(args.end(), {"--cert-file", tls_->cert_file, "--key-file", tls_->key_file});
    if (!tls_->client_ca_file.empty()) {
      args.insert(args.end(), {"--client-cert-auth", "--trusted-ca-file", tls_->client_ca_file});
    }
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = "fork failed";
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execvp("etcd", argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "etcd exited at start; its log:\n" + tail_of(log);
      return false;
    }
    if (accepts(client_port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  *error = "etcd did not listen within 20 s; its log:\n" + tail_of(log);
  kill();
  return false;
}

void EtcdProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

EtcdProcess::~EtcdProcess() { kill(); }

std::string EtcdProcess::client_url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(client_port_);
}

}  // namespace minik8s::testing
