#include "minik8s/client/leader_election.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "minik8s/api/resource.h"

namespace minik8s::client {
namespace {

using api::Json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

const api::ResourceType& lease_type() { return *api::find_kind("coordination.k8s.io/v1", "Lease"); }

std::string str_field(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t int_field(const Json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

int64_t whole_seconds_up(milliseconds d) { return (d.count() + 999) / 1000; }

}  // namespace

Status validate_leader_election_options(const LeaderElectionOptions& o) {
  if (o.retry_period <= milliseconds(0))
    return Status(Code::kInvalid, "retry period must be positive");
  if (o.renew_deadline <= milliseconds(0))
    return Status(Code::kInvalid, "renew deadline must be positive");
  if (o.lease_duration <= o.renew_deadline) {
    return Status(Code::kInvalid, "lease duration must be greater than the renew deadline");
  }
  // client-go: renewDeadline must be greater than JitterFactor(1.2) * retryPeriod.
  if (o.renew_deadline.count() * 10 <= o.retry_period.count() * 12) {
    return Status(Code::kInvalid, "renew deadline must be greater than 1.2 × the retry period");
  }
  if (o.lease_duration.count() % 1000 != 0) {
    return Status(Code::kInvalid, "lease duration must be whole seconds (leaseDurationSeconds)");
  }
  if (o.poll_interval <= milliseconds(0))
    return Status(Code::kInvalid, "poll interval must be positive");
  if (std::string m = api::check_dns1123_subdomain(o.lease_name); !m.empty()) {
    return Status(Code::kInvalid, "lease name \"" + o.lease_name + "\": " + m);
  }
  if (std::string m = api::check_dns1123_label(o.lease_namespace); !m.empty()) {
    return Status(Code::kInvalid, "lease namespace \"" + o.lease_namespace + "\": " + m);
  }
  return Status::ok();
}

std::string default_leader_identity() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == 0)
    std::snprintf(host, sizeof(host), "minik8s");
  std::random_device rd;
  uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(r));
  return std::string(host) + "_" + suffix;
}

LeaderElector::LeaderElector(Client& client, const Clock& clock, LeaderElectionOptions opts,
                             LeaderCallbacks callbacks)
    : client_(client), clock_(clock), opts_(std::move(opts)), callbacks_(std::move(callbacks)) {
  if (opts_.identity.empty()) opts_.identity = default_leader_identity();
}

LeaderElector::~LeaderElector() { abandon(); }

Status LeaderElector::start() {
  if (Status st = validate_leader_election_options(opts_); !st) return st;
  std::lock_guard lock(mu_);
  if (started_ || stop_) return Status(Code::kInvalid, "leader elector already started");
  started_ = true;
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaderElector::abandon() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    abandon_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::is_leader() const {
  std::lock_guard lock(mu_);
  return leading_;
}

std::string LeaderElector::leader() const {
  std::lock_guard lock(mu_);
  return observed_holder_;
}

int64_t LeaderElector::times_started_leading() const {
  std::lock_guard lock(mu_);
  return started_leading_;
}

std::string LeaderElector::render_metrics() const {
  std::lock_guard lock(mu_);
  std::string name = opts_.lease_name;
  std::string out;
  out +=
      "# HELP leader_election_master_status 1 while this server holds the leader Lease, else 0.\n";
  out += "# TYPE leader_election_master_status gauge\n";
  out += "leader_election_master_status{name=\"" + name + "\"} " + (leading_ ? "1" : "0") + "\n";
  out +=
      "# HELP minik8s_leader_election_started_leading_total Times this server became the leader.\n";
  out += "# TYPE minik8s_leader_election_started_leading_total counter\n";
  out += "minik8s_leader_election_started_leading_total{name=\"" + name + "\"} " +
         std::to_string(started_leading_) + "\n";
  return out;
}

bool LeaderElector::stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

bool LeaderElector::wait_until(SteadyTime until) {
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto now = clock_.monotonic();
    if (now >= until) return true;
    auto left = duration_cast<milliseconds>(until - now) + milliseconds(1);
    cv_.wait_for(lock, std::min(left, opts_.poll_interval));
  }
  return false;
}

LeaderElector::Record LeaderElector::parse_record(const Json& lease) {
  Record r;
  const Json* spec = nullptr;
  if (lease.is_object()) {
    if (auto it = lease.find("spec"); it != lease.end() && it->is_object()) spec = &*it;
  }
  if (!spec) return r;
  r.holder = str_field(*spec, "holderIdentity");
  r.lease_duration_seconds = int_field(*spec, "leaseDurationSeconds");
  r.acquire_time = str_field(*spec, "acquireTime");
  r.renew_time = str_field(*spec, "renewTime");
  r.transitions = int_field(*spec, "leaseTransitions");
  return r;
}

Json LeaderElector::spec_of(const Record& r) const {
  Json spec = Json::object();
  spec["holderIdentity"] = r.holder;
  spec["leaseDurationSeconds"] = r.lease_duration_seconds;
  spec["acquireTime"] = r.acquire_time;
  spec["renewTime"] = r.renew_time;
  spec["leaseTransitions"] = r.transitions;
  return spec;
}

void LeaderElector::observe(const Record& r, const Json& lease) {
  bool changed = !observed_ || !(*observed_ == r);
  if (changed) {
    observed_ = r;
    observed_time_ = clock_.monotonic();
  }
  observed_lease_ = lease;
  bool new_holder = false;
  {
    std::lock_guard lock(mu_);
    if (observed_holder_ != r.holder) {
      observed_holder_ = r.holder;
      new_holder = true;
    }
  }
  if (new_holder && callbacks_.on_new_leader) callbacks_.on_new_leader(r.holder);
}

std::chrono::milliseconds LeaderElector::observe_period() const {
  return std::max(opts_.retry_period / 4, milliseconds(1));
}

SteadyTime LeaderElector::observed_expiry() const {
  int64_t secs = observed_ && observed_->lease_duration_seconds > 0
                     ? observed_->lease_duration_seconds
                     : whole_seconds_up(opts_.lease_duration);
  return observed_time_ + std::chrono::seconds(secs);
}

bool LeaderElector::try_acquire_or_renew(bool* other_holder) {
  *other_holder = false;
  const std::string now = format_rfc3339_micro(clock_.now());
  Record mine;
  mine.holder = opts_.identity;
  mine.lease_duration_seconds = whole_seconds_up(opts_.lease_duration);
  mine.acquire_time = now;
  mine.renew_time = now;

  auto got = client_.get(lease_type(), opts_.lease_namespace, opts_.lease_name);
  if (!got) {
    if (got.status().code() != Code::kNotFound) {
      spdlog::debug("leader election: reading lease {}/{}: {}", opts_.lease_namespace,
                    opts_.lease_name, got.status().message());
      return false;
    }
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", opts_.lease_name}, {"namespace", opts_.lease_namespace}}},
                  {"spec", spec_of(mine)}};
    auto created = client_.create(lease_type(), lease, opts_.lease_namespace);
    if (!created) {
      spdlog::debug("leader election: creating lease: {}", created.status().message());
      return false;
    }
    observe(mine, *created);
    return true;
  }

  Record old = parse_record(*got);
  observe(old, *got);
  const bool was_mine = old.holder == opts_.identity;
  if (!old.holder.empty() && !was_mine) {
    if (clock_.monotonic() < observed_expiry()) {
      *other_holder = true;
      return false;
    }
  }
  if (was_mine) {
    mine.acquire_time = old.acquire_time;
    mine.transitions = old.transitions;
  } else {
    mine.transitions = old.transitions + 1;
  }
  Json lease = *got;
  lease["spec"] = spec_of(mine);
  auto updated = client_.update(lease_type(), lease);
  if (!updated) {
    spdlog::debug("leader election: updating lease: {}", updated.status().message());
    return false;
  }
  observe(mine, *updated);
  return true;
}

void LeaderElector::release() {
  if (!observed_ || observed_->holder != opts_.identity || !observed_lease_.is_object()) return;
  Record r;
  r.lease_duration_seconds = 1;
  r.acquire_time = r.renew_time = format_rfc3339_micro(clock_.now());
  r.transitions = observed_->transitions;
  Json lease = observed_lease_;
  lease["spec"] = spec_of(r);
  auto updated = client_.update(lease_type(), lease);
  if (!updated) {
    spdlog::warn("leader election: releasing lease {}/{}: {}", opts_.lease_namespace,
                 opts_.lease_name, updated.status().message());
    return;
  }
  observe(r, *updated);
  spdlog::info("leader election: {} released lease {}/{}", opts_.identity, opts_.lease_namespace,
               opts_.lease_name);
}

void LeaderElector::run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.0, 1.2);  // client-go's JitterFactor
  while (!stopping()) {
    // Candidate: try every retry period (jittered) until the lease is ours.
    bool other = false;
    SteadyTime last_ok = clock_.monotonic();  // start of the last successful attempt
    while (!stopping()) {
      last_ok = clock_.monotonic();
      if (try_acquire_or_renew(&other)) break;
      SteadyTime next = clock_.monotonic() +
                        duration_cast<milliseconds>(opts_.retry_period * (1.0 + jitter(rng)));
      if (other) {
        // Another holder's lease is live. Re-read it every observe period
        // (a read, no write) so that its last renewal is seen within that
        // period rather than up to 2.2 retry periods late, and try the
        // moment it expires by this candidate's clock rather than at the
        // next jittered retry: kill -9 of the leader → a new leader within
        // the lease duration plus one observe period (client-go's polling
        // alone gives up to lease + 4.4 retry periods; docs/ha.md).
        next = std::min(clock_.monotonic() + observe_period(), observed_expiry());
      }
      if (!wait_until(next)) break;
    }
    if (stopping()) break;
    {
      std::lock_guard lock(mu_);
      leading_ = true;
      ++started_leading_;
    }
    spdlog::info("leader election: {} became the leader (lease {}/{}, transitions {})",
                 opts_.identity, opts_.lease_namespace, opts_.lease_name,
                 observed_ ? observed_->transitions : 0);
    if (callbacks_.on_started_leading) callbacks_.on_started_leading();

    // Leader: renew every retry period; give up after renew_deadline without success.
    std::string why = "stopped";
    // Each attempt a retry period after the previous one started (the time a
    // request takes does not stretch the interval); the renew deadline is
    // checked on its own, not only when an attempt comes round.
    SteadyTime attempt_start = last_ok;
    while (true) {
      const SteadyTime deadline = last_ok + opts_.renew_deadline;
      if (!wait_until(std::min(attempt_start + opts_.retry_period, deadline))) break;
      if (clock_.monotonic() >= deadline) {
        why = "failed to renew the lease within the renew deadline";
        break;
      }
      attempt_start = clock_.monotonic();
      if (try_acquire_or_renew(&other)) {
        last_ok = attempt_start;
        continue;
      }
      if (other) {
        why = "the lease is held by " +
              (observed_ ? observed_->holder : std::string("another candidate"));
        break;
      }
    }
    bool abandoned = false;
    {
      std::lock_guard lock(mu_);
      abandoned = abandon_;
    }
    if (abandoned) {
      std::lock_guard lock(mu_);
      leading_ = false;
      break;
    }
    spdlog::warn("leader election: {} stopped leading: {}", opts_.identity, why);
    if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    {
      std::lock_guard lock(mu_);
      leading_ = false;
    }
  }
  bool abandoned = false;
  {
    std::lock_guard lock(mu_);
    abandoned = abandon_;
  }
  // Also after a stop that came between a successful acquire and leading.
  if (!abandoned && opts_.release_on_cancel) release();
}

}  // namespace minik8s::client
