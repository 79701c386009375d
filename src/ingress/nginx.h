// Internal to mk_ingress: one nginx master under a prefix directory.
//
// Layout: <prefix>/nginx.conf (the live configuration), nginx.conf.new (the
// candidate being tested), nginx.pid, logs/error.log, logs/launch.out (what
// the last nginx command printed), temp/*. nginx runs daemonized (`daemon
// on`): it is not our child, survives the agent, and is found again through
// the pid file; a pid counts only when /proc/PID/cmdline names nginx with
// `-p <prefix>` (a recycled pid is never signalled).
// Errors: kUnavailable when the binary is missing or nginx does not come up;
// kInvalid (with nginx's own message) when `nginx -t` rejects a candidate —
// the live configuration is then left as it was.
// Thread-compatible: one owner thread (the ingress sync thread, or cleanup()).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::ingress {

class Nginx {
 public:
  Nginx(std::string binary, std::string prefix_dir);

  // The binary resolved through PATH, or kUnavailable naming it.
  Result<std::string> find_binary() const;
  // The running master's pid (pid file + cmdline check), 0 when none.
  int running_pid() const;
  // Tests `config` and, when nginx accepts it, makes it the live
  // configuration: reloads (SIGHUP) a running master or starts one.
  Status apply(const std::string& config);
  // Starts nginx on the live configuration when no master runs (a crashed or
  // killed one; workers it left behind are killed first). ok when it runs afterwards; kNotFound
  // when there is no live configuration yet.
  Status ensure_running();
  // SIGTERM to the master, then SIGKILL to its process group after grace.
  // ok when none runs afterwards.
  Status stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

  const std::string& prefix() const { return prefix_; }
  std::string conf_path() const { return prefix_ + "/nginx.conf"; }

 private:
  Status prepare_dirs() const;
  // Runs binary with args (stdout+stderr to logs/launch.out); exit code or error.
  Result<int> run(const std::vector<std::string>& args, std::string& output) const;
  Status start();
  int pid_file_pid() const;
  void kill_orphaned_workers() const;

  std::string binary_;
  std::string prefix_;
};

// Alive and not a zombie (a daemonized nginx's parent is init, which may
// reap late).
bool process_running(int pid);
// Whether /proc/PID/cmdline names nginx running with `-p prefix`.
bool is_our_nginx(int pid, const std::string& prefix);

}  // namespace minik8s::ingress
