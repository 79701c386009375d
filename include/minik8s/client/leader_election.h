// LeaderElector: one leader among several candidates through a
// coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics
// (tools/leaderelection/leaderelection.go; docs/ha.md).
//
// The Lease (kube-system/minik8s-leader by default) carries holderIdentity,
// leaseDurationSeconds, acquireTime, renewTime and leaseTransitions. A
// candidate takes it when it is absent, released (holderIdentity ""), or
// expired: the record has not changed for leaseDurationSeconds as measured by
// this candidate's own monotonic clock since it last saw the record change —
// never by comparing the timestamps in the record with the local clock, so
// clock skew between machines does not matter. Every write is an update with
// the resourceVersion last read (optimistic concurrency: of two candidates
// racing, one gets 409 Conflict and stays a follower).
//
// The leader renews every retry_period. A candidate retries every retry
// period with client-go's jitter (×1.0–2.2) while the lease is absent or the
// server fails; while another holder's lease is live it re-reads the record
// every retry_period / 4 (reads only) and tries the moment the lease expires,
// so a crashed leader is replaced lease_duration + retry_period / 4 after
// its last renewal at most. A renewal that has not succeeded for
// renew_deadline (measured from the start of the last successful attempt,
// which precedes the server's write and so every other candidate's
// observation of it) ends leadership: on_stopped_leading runs and must have
// stopped the leader's work when it returns. Another candidate can take the
// lease no earlier than lease_duration after it saw the last renewal, so the
// work stops at least lease_duration − renew_deadline − (one request) before
// anyone else may start it. Seeing another holder in the record ends
// leadership at once.
//
// After leadership ends the elector becomes a candidate again (unlike
// client-go's Run, which returns): a server that lost the lease for a network
// blip leads again later with freshly started work.
//
// stop() ends the election: if leading, on_stopped_leading runs first, then
// (release_on_cancel) the lease is released — holderIdentity "",
// leaseDurationSeconds 1 — so a successor takes it on its next retry instead
// of waiting out the lease. abandon() (tests, crash drills) stops without
// either: the lease stays held until it expires.
//
// Time: all intervals are read from the injected Clock's monotonic(); record
// timestamps from now(). The elector's thread re-reads the clock every
// poll_interval of real time while it waits, so a FakeClock advanced by a
// test drives it.
//
// Requests: each attempt is one GET and at most one create/update through the
// Client; the RestClient's per-request timeout should be well below
// renew_deadline (server.cc gives the elector its own client whose timeout is
// the retry period).
//
// Threads: start() spawns one thread that runs the election and the
// callbacks (on_started_leading must return promptly: start threads, do not
// wait for work; on_stopped_leading must return only once the work stopped).
// is_leader()/leader()/render_metrics() may be called from any thread.
// stop()/abandon() from any thread but a callback. The Client and Clock are
// borrowed and must outlive the elector.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::client {

struct LeaderElectionOptions {
  std::string lease_namespace = "kube-system";
  std::string lease_name = "minik8s-leader";
  // "" → default_leader_identity() (hostname_<random>).
  std::string identity;
  // Kubernetes' defaults (kube-controller-manager --leader-elect-*).
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
  bool release_on_cancel = true;
  // Real time between clock readings while waiting (see "Time" above).
  std::chrono::milliseconds poll_interval{std::chrono::milliseconds(50)};
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // The holder the elector last saw changed ("" when released); also for
  // this candidate's own identity.
  std::function<void(const std::string& holder)> on_new_leader;
};

// ok, or kInvalid naming the bad option: lease_duration > renew_deadline >
// retry_period * 1.2 (client-go's JitterFactor), all positive, names valid.
Status validate_leader_election_options(const LeaderElectionOptions& opts);

// "<hostname>_<16 hex digits>".
std::string default_leader_identity();

class LeaderElector {
 public:
  LeaderElector(Client& client, const Clock& clock, LeaderElectionOptions opts,
                LeaderCallbacks callbacks);
  ~LeaderElector();  // abandon() unless stopped
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Validates the options and starts the election thread.
  Status start();
  // Stops leading (on_stopped_leading) and releases the lease; idempotent.
  void stop();
  // Stops without on_stopped_leading or release, as a crash would (tests).
  void abandon();

  bool is_leader() const;
  // The holder in the record last seen ("" when none or released).
  std::string leader() const;
  const std::string& identity() const { return opts_.identity; }
  // Times this elector became leader / stopped leading.
  int64_t times_started_leading() const;
  // Prometheus text: leader_election_master_status{name="<lease>"} 0|1 and
  // minik8s_leader_election_transitions_total{name="<lease>"}.
  std::string render_metrics() const;

 private:
  struct Record {
    std::string holder;
    int64_t lease_duration_seconds = 0;
    std::string acquire_time;
    std::string renew_time;
    int64_t transitions = 0;
    bool operator==(const Record&) const = default;
  };

  void run();
  // One attempt, as client-go's tryAcquireOrRenew: true when this candidate
  // holds the lease after it. *other_holder is set when a valid record names
  // someone else.
  bool try_acquire_or_renew(bool* other_holder);
  // While another candidate holds a live lease, a follower re-reads it this
  // often (retry_period / 4).
  std::chrono::milliseconds observe_period() const;
  // When the lease last observed expires by this candidate's clock.
  std::chrono::steady_clock::time_point observed_expiry() const;
  void release();
  // Waits until the clock's monotonic time reaches `until` or stop is asked;
  // false when stopped.
  bool wait_until(std::chrono::steady_clock::time_point until);
  bool stopping() const;
  void observe(const Record& r, const api::Json& lease);
  static Record parse_record(const api::Json& lease);
  api::Json spec_of(const Record& r) const;

  Client& client_;
  const Clock& clock_;
  LeaderElectionOptions opts_;
  LeaderCallbacks callbacks_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  bool stop_ = false;
  bool abandon_ = false;
  bool started_ = false;
  bool leading_ = false;
  std::string observed_holder_;
  int64_t started_leading_ = 0;

  // Election-thread state.
  std::optional<Record> observed_;
  api::Json observed_lease_;  // the last Lease read or written (its resourceVersion)
  std::chrono::steady_clock::time_point observed_time_{};
};

}  // namespace minik8s::client
