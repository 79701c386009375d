// ReplicaSetController against a real in-process ApiServer. There is no
// kubelet: the test binds pods and marks them Ready through pods/status
// like one would. Also the pure ranking/status helpers (replicaset_pods.h).
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/controllers/controllers.h"
#include "replicaset_pods.h"
#include "test/fakes/controller_fixture.h"
#include "test/fakes/fake_clock.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";

// Delays every watch line of pod watches: the controller's pod cache lags
// the API server by `delay`, which is what expectations exist for.
class SlowPodWatchRest : public client::RestClient {
 public:
  SlowPodWatchRest(client::RestClient& inner, std::chrono::milliseconds delay) : inner_(inner), delay_(delay) {}
  Result<client::HttpResponse> request(const std::string& method, const std::string& path, const std::string& body,
                                       const std::string& content_type, const std::string& accept) override {
    return inner_.request(method, path, body, content_type, accept);
  }
  Result<std::unique_ptr<client::LineStream>> watch(const std::string& path, const std::string& accept) override {
    auto s = inner_.watch(path, accept);
    if (!s || path.find("/pods") == std::string::npos) return s;
    return std::unique_ptr<client::LineStream>(new Slow(std::move(s.value()), delay_));
  }

 private:
  class Slow : public client::LineStream {
   public:
    Slow(std::unique_ptr<client::LineStream> in, std::chrono::milliseconds d) : in_(std::move(in)), d_(d) {}
    std::optional<std::string> next(std::chrono::milliseconds timeout) override {
      auto line = in_->next(timeout);
      if (line && !closed_) {
        // Sleep in small steps so that close() stays prompt.
        auto end = std::chrono::steady_clock::now() + d_;
        while (!closed_ && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
      }
      return line;
    }
    bool ended() const override { return in_->ended(); }
    Status status() const override { return in_->status(); }
    void close() override {
      closed_ = true;
      in_->close();
    }

   private:
    std::unique_ptr<client::LineStream> in_;
    std::chrono::milliseconds d_;
    std::atomic<bool> closed_{false};
  };
  client::RestClient& inner_;
  std::chrono::milliseconds delay_;
};

class ReplicaSetControllerTest : public ApiFixture {
 protected:
  void TearDown() override {
    ctrl_.reset();
    gc_.reset();
    slow_client_.reset();
    slow_rest_.reset();
    ApiFixture::TearDown();
  }

  void start(client::Client* c = nullptr) {
    ctrl_ = std::make_unique<ReplicaSetController>(c ? *c : *client_, ReplicaSetOptions{}, *clock_);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void start_gc() {
    gc_ = std::make_unique<GarbageCollector>(*client_, GarbageCollectorOptions{{"v1/Pod", "apps/v1/ReplicaSet"}});
    Status st = gc_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& sets() { return kind("apps/v1", "ReplicaSet"); }

  static Json rs_object(const std::string& name, int replicas, int min_ready = 0) {
    Json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata", {{"name", name}, {"namespace", kNs}}},
               {"spec",
                {{"replicas", replicas},
                 {"selector", {{"matchLabels", {{"app", name}}}}},
                 {"template",
                  {{"metadata", {{"labels", {{"app", name}, {"tier", "web"}}}}},
                   {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}}}}}};
    if (min_ready > 0) rs["spec"]["minReadySeconds"] = min_ready;
    return rs;
  }
  Json create_rs(const std::string& name, int replicas, int min_ready = 0) {
    auto r = client_->create(sets(), rs_object(name, replicas, min_ready));
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  Json get_rs(const std::string& name) {
    auto r = client_->get(sets(), kNs, name);
    return r ? *r : Json();
  }
  // Live pods (not terminating) with label app=<app>.
  std::vector<Json> list_pods(const std::string& app) {
    client::ListOptions o;
    o.label_selector = "app=" + app;
    auto r = client_->list(pods(), kNs, o);
    std::vector<Json> out;
    if (!r) return out;
    for (const auto& p : (*r)["items"]) {
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p);
    }
    return out;
  }
  std::set<std::string> pod_names(const std::string& app) {
    std::set<std::string> out;
    for (const auto& p : list_pods(app)) out.insert(p["metadata"]["name"].get<std::string>());
    return out;
  }
  bool wait_count(const std::string& app, size_t n, std::chrono::milliseconds limit = 5s) {
    return eventually([&] { return list_pods(app).size() == n; }, limit);
  }
  // What a kubelet does: bind (spec.nodeName) and report Running/Ready.
  void bind_and_ready(const std::string& name, const std::string& node, bool ready) {
    auto b = client_->patch(pods(), kNs, name, client::PatchType::kMerge, {{"spec", {{"nodeName", node}}}});
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    set_ready(name, ready);
  }
  void set_ready(const std::string& name, bool ready) {
    Json patch = {{"status",
                   {{"phase", "Running"},
                    {"conditions",
                     {{{"type", "Ready"},
                       {"status", ready ? "True" : "False"},
                       {"lastTransitionTime", format_rfc3339(clock_->now())}}}}}}};
    auto r = client_->patch(pods(), kNs, name, client::PatchType::kMerge, patch, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void scale(const std::string& name, int replicas) {
    auto r = client_->patch(sets(), kNs, name, client::PatchType::kMerge, {{"spec", {{"replicas", replicas}}}}, "scale");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  int64_t status_int(const std::string& name, const char* f) {
    Json rs = get_rs(name);
    if (!rs.is_object() || !rs.contains("status") || !rs["status"].contains(f)) return -1;
    return rs["status"][f].get<int64_t>();
  }
  // Returns once the controller has finished a sync of `name` begun after
  // this call: a pod-template annotation bumps metadata.generation (and
  // changes nothing about the pods), and status.observedGeneration reaches
  // it only from such a sync. Syncs of one ReplicaSet never overlap, so
  // every create/delete an earlier sync made is in the API by then.
  void sync_barrier(const std::string& name) {
    Json patch = {{"spec", {{"template", {{"metadata", {{"annotations", {{"barrier", std::to_string(++barriers_)}}}}}}}}}};
    auto r = client_->patch(sets(), kNs, name, client::PatchType::kMerge, patch);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    int64_t gen = (*r)["metadata"]["generation"].get<int64_t>();
    ASSERT_TRUE(eventually([&] { return status_int(name, "observedGeneration") >= gen; }, 30s))
        << "no sync of " << name << " observed generation " << gen;
  }
  std::vector<std::string> event_reasons(const std::string& rs_name) {
    auto r = client_->list(kind("v1", "Event"), kNs);
    std::vector<std::string> out;
    if (!r) return out;
    for (const auto& e : (*r)["items"]) {
      if (e["involvedObject"]["name"] == rs_name) out.push_back(e["reason"].get<std::string>());
    }
    return out;
  }

  // A clock that moves only when the test says so, for the controller and
  // set_ready() alike (call before start()).
  testing::FakeClock& use_fake_clock(SysTime start) {
    fake_clock_ = std::make_unique<testing::FakeClock>(start);
    clock_ = fake_clock_.get();
    return *fake_clock_;
  }

  std::unique_ptr<testing::FakeClock> fake_clock_;
  Clock* clock_ = &real_clock();  // what the controller and set_ready() read
  int barriers_ = 0;
  std::unique_ptr<ReplicaSetController> ctrl_;
  std::unique_ptr<GarbageCollector> gc_;
  std::unique_ptr<client::RestClient> slow_rest_;
  std::unique_ptr<client::Client> slow_client_;
};

TEST_F(ReplicaSetControllerTest, CreatesPodsWithOwnerReferenceAndStatus) {
  start();
  Json rs = create_rs("web", 3);
  ASSERT_TRUE(wait_count("web", 3));
  for (const auto& p : list_pods("web")) {
    const Json& m = p["metadata"];
    EXPECT_EQ(m["generateName"], "web-");
    EXPECT_EQ(m["name"].get<std::string>().rfind("web-", 0), 0u);
    EXPECT_EQ(m["labels"]["tier"], "web");
    ASSERT_EQ(m["ownerReferences"].size(), 1u);
    const Json& ref = m["ownerReferences"][0];
    EXPECT_EQ(ref["apiVersion"], "apps/v1");
    EXPECT_EQ(ref["kind"], "ReplicaSet");
    EXPECT_EQ(ref["name"], "web");
    EXPECT_EQ(ref["uid"], rs["metadata"]["uid"]);
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(ref["blockOwnerDeletion"], true);
    EXPECT_EQ(p["spec"]["containers"][0]["image"], "busybox:1.36");
  }
  EXPECT_TRUE(eventually([&] { return status_int("web", "replicas") == 3 && status_int("web", "fullyLabeledReplicas") == 3; }));
  EXPECT_EQ(status_int("web", "readyReplicas"), 0);
  EXPECT_EQ(status_int("web", "observedGeneration"), get_rs("web")["metadata"]["generation"].get<int64_t>());
  EXPECT_TRUE(eventually([&] {
    auto r = event_reasons("web");
    return std::count(r.begin(), r.end(), "SuccessfulCreate") == 3;
  }));
  // Stays at 3: a later sync, with every pod in its cache, creates nothing more.
  ASSERT_NO_FATAL_FAILURE(sync_barrier("web"));
  EXPECT_EQ(list_pods("web").size(), 3u);
  auto r = event_reasons("web");
  EXPECT_EQ(std::count(r.begin(), r.end(), "SuccessfulCreate"), 3);
}

TEST_F(ReplicaSetControllerTest, ScaleSubresourceUpAndDownRemovesLeastUsefulPods) {
  start();
  create_rs("web", 2);
  ASSERT_TRUE(wait_count("web", 2));
  auto first = pod_names("web");
  for (const auto& n : first) bind_and_ready(n, "node-a", true);
  scale("web", 5);
  ASSERT_TRUE(wait_count("web", 5));
  auto all = pod_names("web");
  std::vector<std::string> fresh;
  for (const auto& n : all) {
    if (!first.count(n)) fresh.push_back(n);
  }
  ASSERT_EQ(fresh.size(), 3u);
  // fresh[0]: bound, not ready; fresh[1]: bound and ready; fresh[2]: unassigned.
  bind_and_ready(fresh[0], "node-b", false);
  bind_and_ready(fresh[1], "node-b", true);
  ASSERT_TRUE(eventually([&] { return status_int("web", "readyReplicas") == 3; }));
  scale("web", 3);
  // Unassigned goes first, then the not-ready one.
  ASSERT_TRUE(wait_count("web", 3));
  auto left = pod_names("web");
  EXPECT_FALSE(left.count(fresh[2]));
  EXPECT_FALSE(left.count(fresh[0]));
  EXPECT_TRUE(left.count(fresh[1]));
  for (const auto& n : first) EXPECT_TRUE(left.count(n)) << n;
  scale("web", 1);
  ASSERT_TRUE(wait_count("web", 1));
  // All ready and running: node-a holds two of the three, so both pods
  // doubled up there go before the lone one on node-b (ranks are computed
  // once per sync, as in Kubernetes).
  auto last = pod_names("web");
  EXPECT_EQ(*last.begin(), fresh[1]);
  EXPECT_TRUE(eventually([&] { return status_int("web", "replicas") == 1 && status_int("web", "readyReplicas") == 1; }));
  auto r = event_reasons("web");
  EXPECT_EQ(std::count(r.begin(), r.end(), "SuccessfulDelete"), 4);
}

TEST_F(ReplicaSetControllerTest, DeletedPodIsReplacedQuickly) {
  start();
  create_rs("web", 3);
  ASSERT_TRUE(wait_count("web", 3));
  for (const auto& n : pod_names("web")) bind_and_ready(n, "node-a", true);
  std::string victim = *pod_names("web").begin();
  ASSERT_TRUE(client_->remove(pods(), kNs, victim).is_ok());  // graceful: terminating, still exists
  // Replaced on the pod's update event (the deletion is observed when the pod
  // starts terminating), not by the 30 s ReplicaSet resync: the bound stays
  // below it, so that only a missed event can fail it. How quickly is a
  // benchmark's question.
  ASSERT_TRUE(eventually(
      [&] {
        auto names = pod_names("web");
        return names.size() == 3 && !names.count(victim);
      },
      20s));
  // Unbound pods are deleted outright: replaced too.
  Json now = {{"gracePeriodSeconds", 0}};
  std::string v2 = *pod_names("web").begin();
  ASSERT_TRUE(client_->remove(pods(), kNs, v2, &now).is_ok());
  ASSERT_TRUE(eventually([&] {
    auto names = pod_names("web");
    return names.size() == 3 && !names.count(v2);
  }));
}

TEST_F(ReplicaSetControllerTest, SlowPodWatchDoesNotOverCreate) {
  slow_rest_ = std::make_unique<SlowPodWatchRest>(local_.client().rest(), 800ms);
  slow_client_ = std::make_unique<client::Client>(*slow_rest_);
  start(slow_client_.get());
  create_rs("web", 3);
  // Poke the ReplicaSet repeatedly while the pod events are still in flight:
  // every update is a sync; without expectations each would see 0 pods in
  // its cache and create 3 more.
  size_t most = 0;
  auto end = std::chrono::steady_clock::now() + 3s;
  int i = 0;
  while (std::chrono::steady_clock::now() < end) {
    auto r = client_->patch(sets(), kNs, "web", client::PatchType::kMerge,
                            {{"metadata", {{"annotations", {{"poke", std::to_string(i++)}}}}}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    most = std::max(most, list_pods("web").size());
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(most, 3u);
  EXPECT_EQ(list_pods("web").size(), 3u);
  EXPECT_TRUE(eventually([&] { return status_int("web", "replicas") == 3; }, 10s));
}

TEST_F(ReplicaSetControllerTest, AdoptsMatchingOrphan) {
  Json orphan = {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"metadata", {{"name", "stray"}, {"namespace", kNs}, {"labels", {{"app", "web"}}}}},
                 {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}};
  ASSERT_TRUE(client_->create(pods(), orphan).is_ok());
  start();
  Json rs = create_rs("web", 2);
  ASSERT_TRUE(eventually([&] {
    auto p = client_->get(pods(), kNs, "stray");
    return p && p->contains("metadata") && (*p)["metadata"].contains("ownerReferences") &&
           (*p)["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"];
  }));
  ASSERT_TRUE(wait_count("web", 2));
  ASSERT_NO_FATAL_FAILURE(sync_barrier("web"));
  EXPECT_EQ(list_pods("web").size(), 2u);  // the orphan counts: one created, not two
  EXPECT_TRUE(pod_names("web").count("stray"));
}

TEST_F(ReplicaSetControllerTest, ReleasesRelabelledPodAndReplacesIt) {
  start();
  create_rs("web", 2);
  ASSERT_TRUE(wait_count("web", 2));
  std::string moved = *pod_names("web").begin();
  auto r = client_->patch(pods(), kNs, moved, client::PatchType::kMerge,
                          {{"metadata", {{"labels", {{"app", "debug"}}}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(eventually([&] {
    auto p = client_->get(pods(), kNs, moved);
    return p && !(*p)["metadata"].contains("ownerReferences");
  }));
  ASSERT_TRUE(wait_count("web", 2));
  EXPECT_FALSE(pod_names("web").count(moved));
  EXPECT_EQ(list_pods("debug").size(), 1u);  // released, not deleted
}

TEST_F(ReplicaSetControllerTest, AvailableReplicasHonourMinReadySeconds) {
  // The controller and the "kubelet" (set_ready) share a clock that moves
  // only when the test says so; it starts on a whole second, which is what
  // lastTransitionTime keeps.
  SysTime t0{};
  ASSERT_TRUE(parse_rfc3339("2026-03-01T10:00:00Z", &t0));
  testing::FakeClock& clock = use_fake_clock(t0);
  start();
  create_rs("web", 2, /*min_ready=*/2);
  ASSERT_TRUE(wait_count("web", 2, 30s));
  for (const auto& n : pod_names("web")) bind_and_ready(n, "node-a", true);
  ASSERT_TRUE(eventually([&] { return status_int("web", "readyReplicas") == 2; }, 30s));
  EXPECT_EQ(status_int("web", "availableReplicas"), 0);
  // Ready for 1 s of the 2: a sync now still counts none available.
  clock.advance(1s);
  ASSERT_NO_FATAL_FAILURE(sync_barrier("web"));
  EXPECT_EQ(status_int("web", "readyReplicas"), 2);
  EXPECT_EQ(status_int("web", "availableReplicas"), 0);
  // Ready for 2 s: found by the controller's own requeue, with no pod or
  // ReplicaSet event to trigger it. The requeue runs on the injected clock
  // and asks for the remaining second plus 1 ms (is_pod_available), so the
  // clock moves past that.
  clock.advance(1s + 10ms);
  EXPECT_TRUE(eventually([&] { return status_int("web", "availableReplicas") == 2; }, 30s));
}

TEST_F(ReplicaSetControllerTest, DeletingTheReplicaSetDeletesItsPods) {
  start();
  start_gc();
  create_rs("web", 3);
  ASSERT_TRUE(wait_count("web", 3));
  ASSERT_TRUE(client_->remove(sets(), kNs, "web").is_ok());
  ASSERT_TRUE(wait_count("web", 0));
  EXPECT_FALSE(get_rs("web").is_object());
}

TEST(ReplicaSetPods, DeletionOrderFollowsKubernetesRanks) {
  auto pod = [](const std::string& name, const std::string& node, const std::string& phase, bool ready,
                const std::string& ready_since, int restarts, const std::string& created) {
    Json p = {{"metadata", {{"name", name}, {"creationTimestamp", created}}},
              {"spec", {{"nodeName", node}}},
              {"status",
               {{"phase", phase},
                {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}, {"lastTransitionTime", ready_since}}}},
                {"containerStatuses", {{{"name", "c"}, {"restartCount", restarts}}}}}}};
    return p;
  };
  const std::string t1 = "2026-01-01T00:00:00Z", t2 = "2026-01-01T00:01:00Z", t3 = "2026-01-01T00:02:00Z";
  std::vector<Json> ps = {
      pod("old-ready", "n1", "Running", true, t1, 0, t1),      // most useful
      pod("new-ready", "n2", "Running", true, t2, 0, t2),      // ready for less time
      pod("restarty", "n3", "Running", true, t1, 5, t1),       // more restarts
      pod("unready", "n4", "Running", false, t1, 0, t1),       // not ready
      pod("pending", "n5", "Pending", false, "", 0, t3),       // pending
      pod("unassigned", "", "Pending", false, "", 0, t1),      // no node
  };
  std::vector<const Json*> ptrs;
  for (const auto& p : ps) ptrs.push_back(&p);
  auto order = rs::pods_to_delete(ptrs, ps.size());
  std::vector<std::string> names;
  for (const Json* p : order) names.push_back((*p)["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"unassigned", "pending", "unready", "new-ready", "restarty", "old-ready"}));
  // Doubled-up node before a lone one, other things equal.
  Json a = pod("a", "n1", "Running", true, t1, 0, t1), b = pod("b", "n1", "Running", true, t1, 0, t1),
       c = pod("c", "n2", "Running", true, t1, 0, t2);
  auto one = rs::pods_to_delete({&c, &a, &b}, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NE((*one[0])["metadata"]["name"], "c");
}

TEST(ReplicaSetPods, ExpectationsBlockUntilObservedOrExpired) {
  testing::FakeClock clock(SysTime{} + std::chrono::hours(24 * 365 * 56));
  rs::Expectations e(200ms, clock);
  EXPECT_TRUE(e.satisfied("ns/a"));
  e.expect_creations("ns/a", 2);
  EXPECT_FALSE(e.satisfied("ns/a"));
  e.creation_observed("ns/a");
  EXPECT_FALSE(e.satisfied("ns/a"));
  e.creation_observed("ns/a");
  EXPECT_TRUE(e.satisfied("ns/a"));
  e.expect_deletions("ns/a", {"ns/p1", "ns/p2"});
  EXPECT_FALSE(e.satisfied("ns/a"));
  e.deletion_observed("ns/a", "ns/p1");
  e.deletion_observed("ns/a", "ns/p1");  // twice (terminating, then gone) counts once
  EXPECT_FALSE(e.satisfied("ns/a"));
  clock.advance(200ms);
  EXPECT_FALSE(e.satisfied("ns/a"));  // the TTL itself is not yet too old
  clock.advance(1ns);
  EXPECT_TRUE(e.satisfied("ns/a"));  // expired
  e.expect_creations("ns/a", 1);     // a new record starts a new TTL
  EXPECT_FALSE(e.satisfied("ns/a"));
}

TEST(ReplicaSetPods, StatusKeepsFailureConditionWhileErrorLasts) {
  Json set = {{"metadata", {{"generation", 4}}},
              {"spec", {{"template", {{"metadata", {{"labels", {{"app", "x"}, {"v", "1"}}}}}}}}}};
  Json full = {{"metadata", {{"labels", {{"app", "x"}, {"v", "1"}}}}}};
  Json partial = {{"metadata", {{"labels", {{"app", "x"}}}}}};
  auto now = real_clock().now();
  Json st = rs::compute_status(set, {&full, &partial}, "quota exceeded", true, now);
  EXPECT_EQ(st["replicas"], 2);
  EXPECT_EQ(st["fullyLabeledReplicas"], 1);
  EXPECT_EQ(st["observedGeneration"], 4);
  ASSERT_EQ(st["conditions"].size(), 1u);
  EXPECT_EQ(st["conditions"][0]["reason"], "FailedCreate");
  set["status"] = st;
  Json again = rs::compute_status(set, {&full, &partial}, "other", true, now + 5s);
  EXPECT_EQ(again["conditions"], st["conditions"]);  // unchanged while failing
  EXPECT_FALSE(rs::status_differs(st, again));
  Json ok = rs::compute_status(set, {&full, &partial}, "", true, now);
  EXPECT_FALSE(ok.contains("conditions"));
  EXPECT_TRUE(rs::status_differs(st, ok));
}

}  // namespace
}  // namespace minik8s::controllers
