// LeaderElector against a real in-process API server (test/fakes/local_api.h),
// two or three candidates sharing one FakeClock: the test moves time.
#include "minik8s/client/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "minik8s/api/resource.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "test/fakes/eventually.h"
#include "test/fakes/fake_clock.h"
#include "test/fakes/local_api.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;
using api::Json;
using minik8s::testing::eventually;

// Forwards to a real client until cut(): then every request fails as an
// unreachable server would.
class CuttableRestClient final : public RestClient {
 public:
  explicit CuttableRestClient(RestClient& inner) : inner_(inner) {}
  void cut(bool on) { cut_ = on; }
  Result<HttpResponse> request(const std::string& method, const std::string& path,
                               const std::string& body, const std::string& content_type,
                               const std::string& accept) override {
    if (cut_) return Status(Code::kUnavailable, "dial tcp: connection refused");
    return inner_.request(method, path, body, content_type, accept);
  }
  Result<std::unique_ptr<LineStream>> watch(const std::string& path,
                                            const std::string& accept) override {
    if (cut_) return Status(Code::kUnavailable, "dial tcp: connection refused");
    return inner_.watch(path, accept);
  }

 private:
  RestClient& inner_;
  std::atomic<bool> cut_{false};
};

struct Candidate {
  std::unique_ptr<CuttableRestClient> rest;
  std::unique_ptr<Client> client;
  std::unique_ptr<LeaderElector> elector;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::atomic<bool> working{false};  // the "leader work" the callbacks start and stop
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(api_.start({}, "leader")); }
  void TearDown() override {
    for (auto& c : candidates_) c->elector->abandon();
    candidates_.clear();
    api_.stop();
  }

  LeaderElectionOptions options(const std::string& id) {
    LeaderElectionOptions o;
    o.identity = id;
    o.poll_interval = 1ms;
    return o;  // Kubernetes' defaults: 15 s / 10 s / 2 s
  }

  Candidate& add(const std::string& id, std::function<void(Candidate&)> on_start = nullptr) {
    auto c = std::make_unique<Candidate>();
    c->rest = std::make_unique<CuttableRestClient>(api_.client().rest());
    c->client = std::make_unique<Client>(*c->rest);
    Candidate* self = c.get();
    LeaderCallbacks cb;
    cb.on_started_leading = [this, self, on_start] {
      // Never two doing leader work at once.
      for (auto& other : candidates_) {
        if (other.get() != self) {
          EXPECT_FALSE(other->working.load()) << "two leaders at once";
        }
      }
      self->working = true;
      ++self->started;
      if (on_start) on_start(*self);
    };
    cb.on_stopped_leading = [self] {
      self->working = false;
      ++self->stopped;
    };
    c->elector = std::make_unique<LeaderElector>(*c->client, clock_, options(id), cb);
    candidates_.push_back(std::move(c));
    return *candidates_.back();
  }

  Json lease() {
    auto l = api_.client().get(*api::find_kind("coordination.k8s.io/v1", "Lease"), "kube-system",
                               "minik8s-leader");
    return l ? *l : Json();
  }
  std::string holder() {
    Json l = lease();
    return l.is_object() ? l["spec"].value("holderIdentity", std::string("?")) : "";
  }
  int64_t transitions() {
    Json l = lease();
    return l.is_object() ? l["spec"].value("leaseTransitions", int64_t(-1)) : -1;
  }

  // Candidates doing leader work (at most one, checked on every step).
  std::vector<Candidate*> leaders() {
    std::vector<Candidate*> out;
    for (auto& c : candidates_) {
      if (c->working) out.push_back(c.get());
    }
    EXPECT_LE(out.size(), 1u);
    return out;
  }

  // Moves fake time in small steps until pred holds; returns the fake time
  // that passed (or a huge value when it never held within `most`).
  std::chrono::milliseconds advance_until(const std::function<bool()>& pred,
                                          std::chrono::milliseconds most,
                                          std::chrono::milliseconds step = 50ms) {
    auto start = clock_.monotonic();
    bool ok = eventually(
        [&] {
          if (pred()) return true;
          if (clock_.monotonic() - start >= most) return false;
          clock_.advance(step);
          return false;
        },
        60s, 2ms);
    if (!ok) return std::chrono::hours(1);
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic() - start);
  }

  // Runs fake time for `d`, the leader keeping up with its renewals (each
  // step waits for the Lease to show a renewal no older than a retry period).
  void run_for(std::chrono::milliseconds d) {
    auto end = clock_.monotonic() + d;
    while (clock_.monotonic() < end) {
      clock_.advance(100ms);
      ASSERT_TRUE(eventually([&] {
        Json l = lease();
        SysTime renew;
        if (!l.is_object() || !parse_rfc3339(l["spec"].value("renewTime", std::string()), &renew))
          return false;
        return clock_.now() - renew <= 2500ms;
      }));
      leaders();
    }
  }

  minik8s::testing::LocalApi api_;
  minik8s::testing::FakeClock clock_{SysTime(std::chrono::seconds(1'800'000'000))};
  std::vector<std::unique_ptr<Candidate>> candidates_;
};

TEST(LeaderElectionOptionsTest, DefaultsAreKubernetesAndValidated) {
  LeaderElectionOptions o;
  EXPECT_EQ(o.lease_duration, 15s);
  EXPECT_EQ(o.renew_deadline, 10s);
  EXPECT_EQ(o.retry_period, 2s);
  EXPECT_EQ(o.lease_namespace, "kube-system");
  EXPECT_EQ(o.lease_name, "minik8s-leader");
  EXPECT_TRUE(validate_leader_election_options(o).is_ok());
  auto bad = o;
  bad.renew_deadline = 15s;
  EXPECT_EQ(validate_leader_election_options(bad).code(), Code::kInvalid);
  bad = o;
  bad.retry_period = 9s;  // 1.2 × 9 s > 10 s
  EXPECT_EQ(validate_leader_election_options(bad).code(), Code::kInvalid);
  bad = o;
  bad.lease_name = "Not_A_Name";
  EXPECT_NE(validate_leader_election_options(bad).message().find("lease name"), std::string::npos);
  std::string id = default_leader_identity();
  auto us = id.rfind('_');
  ASSERT_NE(us, std::string::npos);
  EXPECT_EQ(id.size() - us - 1, 16u);
  EXPECT_NE(default_leader_identity(), id);
}

TEST_F(LeaderElectionTest, ExactlyOneOfThreeLeadsAndKeepsTheLease) {
  for (const char* id : {"a", "b", "c"}) add(id);
  for (auto& c : candidates_) ASSERT_TRUE(c->elector->start().is_ok());
  ASSERT_TRUE(eventually([&] { return leaders().size() == 1; }));
  Candidate* leader = leaders()[0];
  EXPECT_EQ(holder(), leader->elector->identity());
  EXPECT_EQ(transitions(), 0);
  Json spec = lease()["spec"];
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["acquireTime"], spec["renewTime"]);
  // Well past several lease durations: the leader renews, nobody else takes over.
  ASSERT_NO_FATAL_FAILURE(run_for(40s));
  ASSERT_EQ(leaders().size(), 1u);
  EXPECT_EQ(leaders()[0], leader);
  EXPECT_EQ(holder(), leader->elector->identity());
  EXPECT_EQ(transitions(), 0);
  EXPECT_NE(lease()["spec"]["renewTime"], spec["renewTime"]);
  EXPECT_EQ(lease()["spec"]["acquireTime"], spec["acquireTime"]);
  for (auto& c : candidates_) {
    EXPECT_EQ(c->elector->leader(), leader->elector->identity());
    EXPECT_EQ(c->elector->is_leader(), c.get() == leader);
  }
  EXPECT_NE(leader->elector->render_metrics().find(
                "leader_election_master_status{name=\"minik8s-leader\"} 1"),
            std::string::npos);
}

TEST_F(LeaderElectionTest, KilledLeaderIsReplacedAfterTheLeaseDuration) {
  add("a");
  ASSERT_TRUE(candidates_[0]->elector->start().is_ok());
  ASSERT_TRUE(eventually([&] { return leaders().size() == 1; }));
  add("b");
  add("c");
  ASSERT_TRUE(candidates_[1]->elector->start().is_ok());
  ASSERT_TRUE(candidates_[2]->elector->start().is_ok());
  ASSERT_NO_FATAL_FAILURE(run_for(6s));  // the followers have seen the record
  Candidate& old = *candidates_[0];
  // A crash: no on_stopped_leading, no release.
  old.elector->abandon();
  old.working = false;
  EXPECT_EQ(holder(), "a");
  auto took = advance_until([&] { return leaders().size() == 1; }, 30s);
  // The last renewal came at most a retry period before the kill; nobody
  // may take the lease before a lease duration after seeing it. The
  // followers re-read the live lease every retry period / 4 (500 ms) and try
  // at its expiry: no retry jitter on top of the lease.
  EXPECT_GE(took, 13s);
  EXPECT_LE(took, 15s + 500ms + 200ms);
  ASSERT_EQ(leaders().size(), 1u);
  EXPECT_NE(leaders()[0], &old);
  EXPECT_EQ(holder(), leaders()[0]->elector->identity());
  EXPECT_EQ(transitions(), 1);
}

TEST_F(LeaderElectionTest, CleanReleaseHandsOverWithoutWaitingForTheLease) {
  add("a");
  ASSERT_TRUE(candidates_[0]->elector->start().is_ok());
  ASSERT_TRUE(eventually([&] { return leaders().size() == 1; }));
  std::string holder_while_stopping;
  Candidate& b = add("b");
  ASSERT_TRUE(b.elector->start().is_ok());
  ASSERT_NO_FATAL_FAILURE(run_for(3s));
  // The work stops before the lease is released.
  Candidate& a = *candidates_[0];
  a.elector->stop();
  EXPECT_EQ(a.stopped.load(), 1);
  EXPECT_FALSE(a.working.load());
  Json spec = lease()["spec"];
  EXPECT_EQ(spec["holderIdentity"], "");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  auto took = advance_until([&] { return b.working.load(); }, 30s);
  // The follower's next read of the lease (every retry period / 4) takes it:
  // not the 15 s lease, nor a jittered retry.
  EXPECT_LE(took, 500ms + 200ms);
  EXPECT_EQ(holder(), "b");
  EXPECT_EQ(transitions(), 1);
  // b hands back to a new candidate: transitions count every change of holder.
  Candidate& c = add("c");
  ASSERT_TRUE(c.elector->start().is_ok());
  ASSERT_NO_FATAL_FAILURE(run_for(3s));
  b.elector->stop();
  EXPECT_LE(advance_until([&] { return c.working.load(); }, 30s), 6200ms);
  EXPECT_EQ(transitions(), 2);
  EXPECT_EQ(a.started.load() + b.started.load() + c.started.load(), 3);
}

TEST_F(LeaderElectionTest, LeaderCutOffFromTheServerStopsWithinTheRenewDeadline) {
  Candidate& a = add("a");
  ASSERT_TRUE(a.elector->start().is_ok());
  ASSERT_TRUE(eventually([&] { return a.working.load(); }));
  Candidate& b = add("b");
  ASSERT_TRUE(b.elector->start().is_ok());
  ASSERT_NO_FATAL_FAILURE(run_for(5s));
  a.rest->cut(true);
  auto cut_at = clock_.now();
  advance_until([&] { return !a.working.load(); }, 30s);
  // a's last write (one in flight at the cut may have landed after it).
  SysTime last_renew;
  ASSERT_TRUE(parse_rfc3339(lease()["spec"]["renewTime"].get<std::string>(), &last_renew));
  // Stopped no later than the renew deadline after its last successful renewal
  // (plus the poll step), and before b could take over (checked in b's
  // on_started_leading: never two at once).
  EXPECT_EQ(a.stopped.load(), 1);
  EXPECT_LE(clock_.now() - last_renew, 10s + 500ms);
  EXPECT_GE(clock_.now() - last_renew, 10s);
  EXPECT_FALSE(b.working.load());
  EXPECT_GT(clock_.now(), cut_at);
  EXPECT_LE(advance_until([&] { return b.working.load(); }, 30s), 15s);
  EXPECT_EQ(holder(), "b");
  EXPECT_EQ(transitions(), 1);
  // a is a candidate again: back in touch, it takes over when b goes away.
  a.rest->cut(false);
  b.elector->stop();
  EXPECT_LE(advance_until([&] { return a.working.load(); }, 30s), 6200ms);
  EXPECT_EQ(a.started.load(), 2);
  EXPECT_EQ(holder(), "a");
  EXPECT_EQ(transitions(), 2);
}

TEST_F(LeaderElectionTest, SeeingAnotherHolderEndsLeadershipAtOnce) {
  Candidate& a = add("a");
  ASSERT_TRUE(a.elector->start().is_ok());
  ASSERT_TRUE(eventually([&] { return a.working.load(); }));
  // Someone overwrites the lease (an operator, a split brain).
  Json l = lease();
  l["spec"]["holderIdentity"] = "intruder";
  ASSERT_TRUE(api_.client().update(*api::find_kind("coordination.k8s.io/v1", "Lease"), l).is_ok());
  EXPECT_LE(advance_until([&] { return !a.working.load(); }, 10s), 2s * 2 + 200ms);
  EXPECT_EQ(a.elector->leader(), "intruder");
}

// The leader work of the failover measurement: a controller over ConfigMaps
// that notes when it first reconciles each key.
class NotingController final : public Controller {
 public:
  NotingController(SharedInformerFactory& f, std::function<void(const std::string&)> seen)
      : Controller(f, {"noting"}), seen_(std::move(seen)) {}

 private:
  Status setup() override {
    EventHandlers h;
    h.on_add = [this](const ObjectPtr& o) { enqueue(object_key(*o)); };
    watch(factory().informer(*api::find_kind("v1", "ConfigMap")), h);
    return Status::ok();
  }
  ReconcileResult reconcile(const std::string& key) override {
    seen_(key);
    return Status::ok();
  }
  std::function<void(const std::string&)> seen_;
};

// Kill (no release) → the new leader's first reconcile of an object created
// right after the kill, on the real clock. Short periods by default (lease
// 1 s); MINIK8S_HA_BENCH=1 runs Kubernetes' defaults three times and prints
// each (docs/benchmarks.md).
TEST(LeaderElectionFailover, KillToFirstReconcileOfTheNewLeader) {
  const bool full = std::getenv("MINIK8S_HA_BENCH") != nullptr;
  LeaderElectionOptions base;
  if (!full) {
    base.lease_duration = 1s;
    base.renew_deadline = 600ms;
    base.retry_period = 200ms;
  }
  base.poll_interval = 5ms;
  minik8s::testing::LocalApi api;
  ASSERT_NO_FATAL_FAILURE(api.start({}, "failover"));
  struct Server {
    std::unique_ptr<Client> client;
    std::unique_ptr<SharedInformerFactory> informers;
    std::unique_ptr<NotingController> controller;
    std::unique_ptr<LeaderElector> elector;
    bool dead = false;
  };
  std::mutex mu;
  std::map<std::string, std::chrono::steady_clock::time_point> first_seen;  // guarded by mu
  std::vector<std::unique_ptr<Server>> servers;
  auto add = [&](const std::string& id) {
    auto s = std::make_unique<Server>();
    s->client = std::make_unique<Client>(api.client().rest());
    Server* self = s.get();
    LeaderCallbacks cb;
    cb.on_started_leading = [&, self] {
      self->informers = std::make_unique<SharedInformerFactory>(*self->client);
      self->controller =
          std::make_unique<NotingController>(*self->informers, [&](const std::string& key) {
            std::lock_guard lock(mu);
            first_seen.emplace(key, std::chrono::steady_clock::now());
          });
      EXPECT_TRUE(self->controller->start().is_ok());
    };
    cb.on_stopped_leading = [self] {
      if (self->controller) self->controller->stop();
      if (self->informers) self->informers->stop();
    };
    auto o = base;
    o.identity = id;
    s->elector = std::make_unique<LeaderElector>(*s->client, real_clock(), o, cb);
    EXPECT_TRUE(s->elector->start().is_ok());
    servers.push_back(std::move(s));
  };
  const int rounds = full ? 3 : 1;
  for (int i = 0; i <= rounds; ++i) add("server-" + std::to_string(i));
  auto leader = [&]() -> Server* {
    for (auto& s : servers) {
      if (s->elector->is_leader()) return s.get();
    }
    return nullptr;
  };
  const api::ResourceType& cm = *api::find_kind("v1", "ConfigMap");
  for (int round = 0; round < rounds; ++round) {
    ASSERT_TRUE(eventually([&] { return leader() != nullptr; }, 30s, 5ms));
    Server* old = leader();
    // Every follower has seen the leader's record.
    ASSERT_TRUE(eventually(
        [&] {
          for (auto& s : servers) {
            if (!s->dead && s->elector->leader() != old->elector->identity()) return false;
          }
          return true;
        },
        30s, 5ms));
    auto killed = std::chrono::steady_clock::now();
    old->elector->abandon();
    old->dead = true;
    old->controller->stop();  // a dead process does no work
    old->informers->stop();
    std::string key = "default/after-kill-" + std::to_string(round);
    Json obj = {
        {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", key.substr(8)}}}};
    ASSERT_TRUE(api.client().create(cm, obj).is_ok());
    ASSERT_TRUE(eventually(
        [&] {
          std::lock_guard lock(mu);
          return first_seen.count(key) > 0;
        },
        base.lease_duration + 10s, 5ms));
    std::chrono::steady_clock::time_point seen;
    {
      std::lock_guard lock(mu);
      seen = first_seen[key];
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(seen - killed);
    std::printf(
        "failover (lease %llds, renew %lldms, retry %lldms): kill -> first reconcile %lld ms\n",
        static_cast<long long>(base.lease_duration.count() / 1000),
        static_cast<long long>(base.renew_deadline.count()),
        static_cast<long long>(base.retry_period.count()), static_cast<long long>(took.count()));
    // Nobody takes over before the lease could have expired: at most one
    // jittered retry period (2.2 × retry) passed between the last renewal
    // and the kill.
    EXPECT_GE(took, base.lease_duration - base.retry_period * 22 / 10);
    // A follower sees the last renewal at most a retry period / 4 late (it
    // re-reads a live lease that often) and tries at the expiry; the new
    // leader's informers list and reconcile within the second.
    EXPECT_LE(took, base.lease_duration + base.retry_period / 4 + 1s);
  }
  for (auto& s : servers) {
    s->elector->stop();
  }
  servers.clear();
  api.stop();
}

}  // namespace
}  // namespace minik8s::client
