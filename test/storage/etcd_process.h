// EtcdProcess: a private etcd for tests and benchmarks — the `etcd` binary on
// loopback, kernel-chosen free ports, its data and log under a caller-given
// directory. The destructor kills it by PID (SIGKILL) and reaps it; the child
// also gets PR_SET_PDEATHSIG so that a crashed test leaves no etcd behind.
//
// Test-only (linked into etcd_storage_test). One thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace minik8s::testing {

class EtcdProcess {
 public:
  // Whether an `etcd` binary is on PATH.
  static bool available();
  // Server TLS: etcd serves https with cert/key and, when client_ca is set,
  // demands client certificates signed by it (--client-cert-auth).
  struct Tls {
    std::string cert_file, key_file, client_ca_file;
  };
  // Starts etcd with data in <dir>/etcd and log <dir>/etcd.log and waits until
  // its client port accepts connections. nullptr and *error on failure.
  static std::unique_ptr<EtcdProcess> start(const std::string& dir, std::string* error,
                                            const Tls* tls = nullptr);
  ~EtcdProcess();

  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  std::string client_url() const;  // http(s)://127.0.0.1:PORT
  pid_t pid() const { return pid_; }
  // SIGKILL now (an outage); restart() brings it back on the same ports and data.
  void kill();
  bool restart(std::string* error);

 private:
  explicit EtcdProcess(std::string dir) : dir_(std::move(dir)) {}
  bool launch(std::string* error);

  std::string dir_;
  std::optional<Tls> tls_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace minik8s::testing
