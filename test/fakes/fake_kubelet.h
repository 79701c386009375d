// FakeKubelet: a kubelet's HTTP API stand-in on 127.0.0.1:<ephemeral port>,
// for the API server's pods/log and pods/exec proxy and for the metrics
// server's scrapes. Register it on a Node (status.addresses InternalIP
// 127.0.0.1, daemonEndpoints.kubeletEndpoint.Port = port()).
//
//   /stats/summary             the canned answer set by set_summary()
//                              (200 "{}" until then)
//   /containerLogs/NS/POD/C    "log of POD/C\n" twice; with follow=true one
//                              line, then "second\n" once release() is called
//   /exec/NS/POD/C             WebSocket (v5/v4 channel protocol): prints
//                              "ran: <command>", echoes stdin upper-cased
//                              until "BYE" or close, ends with the exit code
//                              of a trailing "exit N" argument (or 0);
//                              hold_exec() keeps upgrades waiting until
//                              release_exec()
//   container "missing"        the kubelet's 404 Status for a container that
//                              has not started
//   anything else              404
//
// Threads: one accept thread plus one per connection, all joined by the
// destructor (which releases held logs and execs first). Every method is
// safe from any thread. Out of line in fake_kubelet.cc (mk_test_fakes).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace minik8s::testing {

class FakeKubelet {
 public:
  FakeKubelet();
  ~FakeKubelet();
  FakeKubelet(const FakeKubelet&) = delete;
  FakeKubelet& operator=(const FakeKubelet&) = delete;

  uint16_t port() const { return port_; }
  // Every request target seen so far (path and query), in arrival order.
  std::vector<std::string> targets();
  int requests() { return static_cast<int>(targets().size()); }
  // What /stats/summary answers from now on.
  void set_summary(int code, std::string body);
  void release();
  void hold_exec();
  void release_exec();

 private:
  struct Net;  // the Asio side (acceptor, per-connection handlers), kept out of this header
  void run();

  std::unique_ptr<Net> net_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::thread> conns_;  // only touched by the accept thread, and by the destructor after it ends

  std::mutex mu_;  // guards the members below
  std::condition_variable cv_;
  bool released_ = false;
  bool exec_held_ = false;
  std::vector<std::string> targets_;
  int summary_code_ = 200;
  std::string summary_body_ = "{}";
};

}  // namespace minik8s::testing
