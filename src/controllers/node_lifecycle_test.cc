// NodeLifecycleController against a real in-process ApiServer: the test
// plays the agent (Node status heartbeats, the Lease) and the kubelet (pod
// status). The controller runs on a FakeClock: the monitor period, the
// grace period and every tolerationSeconds pass only when the test advances
// it, so no outcome depends on how fast this machine is. Where a test must
// know that the controller has looked at the current state before it
// asserts (or before it moves the clock on), it waits for a barrier the
// controller itself produces: see pass_barrier(), lease_seen() and
// drain_evictions().
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "node_lifecycle_taints.h"
#include "test/fakes/controller_fixture.h"
#include "test/fakes/fake_clock.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";
// On the fake clock (the server's default): nothing here waits for it.
constexpr auto kGrace = 20s;
// Half past a whole second: a taint's timeAdded (whole seconds) then differs
// from the moment the controller saw it, and the tests see which one it uses.
SysTime start_time() {
  SysTime t{};
  parse_rfc3339("2026-03-01T10:00:00Z", &t);
  return t + 500ms;
}

// Passes every request through, and tells how far the controller's Lease
// informer has got: a watch line counts as applied to its cache once the
// informer asks for the next one (it handles one event at a time), and a
// (re)watch from resourceVersion N means its cache holds everything up to N.
class LeaseWatchTap : public client::RestClient {
 public:
  explicit LeaseWatchTap(client::RestClient& inner) : inner_(inner) {}
  Result<client::HttpResponse> request(const std::string& method, const std::string& path, const std::string& body,
                                       const std::string& content_type, const std::string& accept) override {
    return inner_.request(method, path, body, content_type, accept);
  }
  Result<std::unique_ptr<client::LineStream>> watch(const std::string& path, const std::string& accept) override {
    auto s = inner_.watch(path, accept);
    if (!s || path.find("/leases") == std::string::npos) return s;
    if (auto at = path.find("resourceVersion="); at != std::string::npos) {
      raise(std::strtoll(path.c_str() + at + 16, nullptr, 10));
    }
    return std::unique_ptr<client::LineStream>(new Tapped(std::move(s.value()), *this));
  }
  int64_t applied() const { return applied_.load(); }

 private:
  class Tapped : public client::LineStream {
   public:
    Tapped(std::unique_ptr<client::LineStream> in, LeaseWatchTap& tap) : in_(std::move(in)), tap_(tap) {}
    std::optional<std::string> next(std::chrono::milliseconds timeout) override {
      tap_.raise(handed_out_);  // the informer is back for more: the last line is in its cache
      auto line = in_->next(timeout);
      if (line) {
        Json ev = Json::parse(*line, nullptr, false);
        if (ev.is_object()) {
          std::string rv = api::sfield(api::field(api::field(ev, "object"), "metadata"), "resourceVersion");
          if (!rv.empty()) handed_out_ = std::strtoll(rv.c_str(), nullptr, 10);
        }
      }
      return line;
    }
    bool ended() const override { return in_->ended(); }
    Status status() const override { return in_->status(); }
    void close() override { in_->close(); }

   private:
    std::unique_ptr<client::LineStream> in_;
    LeaseWatchTap& tap_;
    int64_t handed_out_ = 0;  // only the informer's thread calls next()
  };
  void raise(int64_t rv) {
    int64_t cur = applied_.load();
    while (rv > cur && !applied_.compare_exchange_weak(cur, rv)) {
    }
  }
  client::RestClient& inner_;
  std::atomic<int64_t> applied_{0};
};

class NodeLifecycleTest : public ApiFixture {
 protected:
  // No DefaultTolerationSeconds admission here: each test states its pods' tolerations.
  void SetUp() override {
    apiserver::ApiServerOptions opts;
    opts.default_not_ready_toleration_seconds = -1;
    opts.default_unreachable_toleration_seconds = -1;
    ASSERT_NO_FATAL_FAILURE(local_.start(opts, "nodelife"));
    client_ = &local_.client();
    tap_ = std::make_unique<LeaseWatchTap>(client_->rest());
    tapped_ = std::make_unique<client::Client>(*tap_);
  }
  void TearDown() override {
    ctrl_.reset();
    tapped_.reset();
    tap_.reset();
    ApiFixture::TearDown();
  }

  void start() {
    NodeLifecycleOptions o;
    o.grace_period = kGrace;
    // On the fake clock too: a pass follows every advance() of 1 ms or more
    // (and every node's Ready change); while the clock stands still, only
    // the latter.
    o.monitor_period = 1ms;
    ctrl_ = std::make_unique<NodeLifecycleController>(*tapped_, o, clock_);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& nodes() { return kind("v1", "Node"); }
  const api::ResourceType& leases() { return kind("coordination.k8s.io/v1", "Lease"); }
  const api::ResourceType& events() { return kind("v1", "Event"); }

  // A probe value (heartbeat, renewTime) never used before: the controller
  // only asks whether a probe changed, and the fake clock may stand still.
  std::string probe_time() { return format_rfc3339_micro(clock_.now() + std::chrono::microseconds(++probes_)); }

  // What the agent posts: the four conditions, Ready as given, a fresh heartbeat.
  void post_status(const std::string& node, const std::string& ready = "True") {
    for (int i = 0; i < 5; ++i) {
      auto cur = client_->get(nodes(), "", node);
      ASSERT_TRUE(cur.is_ok()) << cur.status().to_string();
      Json n = *cur;
      std::string now = probe_time();
      auto cond = [&](const char* type, const std::string& st) {
        return Json{{"type", type}, {"status", st}, {"reason", "Test"}, {"lastHeartbeatTime", now},
                    {"lastTransitionTime", now}};
      };
      n["status"]["conditions"] = Json::array({cond("MemoryPressure", "False"), cond("DiskPressure", "False"),
                                               cond("PIDPressure", "False"), cond("Ready", ready)});
      auto r = client_->update_status(nodes(), n);
      if (r.is_ok()) return;
      ASSERT_EQ(r.status().code(), Code::kConflict) << r.status().to_string();
    }
    FAIL() << "node status kept conflicting";
  }
  void add_node(const std::string& node) {
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", node}}}, {"spec", Json::object()}};
    auto r = client_->create(nodes(), n);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_NO_FATAL_FAILURE(post_status(node));
    ASSERT_NO_FATAL_FAILURE(renew(node));
  }
  // Creates or renews node's Lease; *rv gets the written resourceVersion.
  void renew(const std::string& node, int64_t* rv = nullptr) {
    std::string now = probe_time();
    auto cur = client_->get(leases(), "kube-node-lease", node);
    Result<Json> r = Status(Code::kInternal, "not written");
    if (!cur.is_ok()) {
      Json l = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node}, {"namespace", "kube-node-lease"}}},
                {"spec", {{"holderIdentity", node}, {"leaseDurationSeconds", 40}, {"renewTime", now}}}};
      r = client_->create(leases(), l);
    } else {
      Json l = *cur;
      l["spec"]["renewTime"] = now;
      r = client_->update(leases(), l);
    }
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    if (rv) *rv = std::stoll(api::sfield(api::field(*r, "metadata"), "resourceVersion"));
  }
  void add_pod(const std::string& name, const std::string& node, Json tolerations = Json::array()) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec",
               {{"nodeName", node},
                {"tolerations", tolerations},
                {"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}}}};
    auto r = client_->create(pods(), p);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    std::string now = format_rfc3339(clock_.now());
    Json patch = {{"status",
                   {{"phase", "Running"},
                    {"podIP", "10.244.1.7"},
                    {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", now}}})}}}};
    auto s = client_->patch(pods(), kNs, name, client::PatchType::kMerge, patch, "status");
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  }
  // A label change: the controller looks at the pod again (when its node has
  // NoExecute taints).
  void touch(const std::string& pod) {
    Json patch = {{"metadata", {{"labels", {{"touched", std::to_string(++touches_)}}}}}};
    auto r = client_->patch(pods(), kNs, pod, client::PatchType::kMerge, patch);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  static Json unreachable_toleration(std::optional<int> seconds) {
    Json t = {{"key", kTaintUnreachable}, {"operator", "Exists"}, {"effect", "NoExecute"}};
    if (seconds) t["tolerationSeconds"] = *seconds;
    return t;
  }

  // ---- barriers (each bounded by a generous deadline that only a broken
  // controller misses)

  // Returns once a monitor pass has started after this call: a new node
  // reporting Ready=False gets its not-ready taints from the first pass that
  // sees it, and a pass reads the clock, the nodes and the Leases after it
  // began. Returns the node's name (it may be used for drain_evictions).
  std::string pass_barrier() {
    std::string name = "pacer-" + std::to_string(++pacers_);
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}, {"spec", Json::object()}};
    auto r = client_->create(nodes(), n);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    post_status(name, "False");
    EXPECT_TRUE(eventually(
        [&] {
          return taints(get_node(name)) == std::vector<std::string>{"node.kubernetes.io/not-ready:NoExecute",
                                                                      "node.kubernetes.io/not-ready:NoSchedule"};
        },
        30s))
        << "no monitor pass tainted " << name;
    return name;
  }
  // Waits until the controller's Lease cache holds resourceVersion rv.
  void lease_seen(int64_t rv) {
    ASSERT_TRUE(eventually([&] { return tap_->applied() >= rv; }, 30s)) << "lease rv " << rv << " never reached the controller";
  }
  // Returns once the eviction worker has handled everything queued before
  // this call: a pod that tolerates nothing, put on node (which must carry a
  // NoExecute taint), is evicted at once, by the one worker, after the keys
  // queued ahead of it.
  void drain_evictions(const std::string& node) {
    std::string name = "probe-" + std::to_string(++probes_pods_);
    add_pod(name, node);
    ASSERT_TRUE(eventually([&] { return terminating(name); }, 30s)) << name << " on " << node << " was not evicted";
  }

  Json get_node(const std::string& name) {
    auto r = client_->get(nodes(), "", name);
    return r.is_ok() ? *r : Json();
  }
  Json get_pod(const std::string& name) {
    auto r = client_->get(pods(), kNs, name);
    return r.is_ok() ? *r : Json();
  }
  static std::string condition(const Json& obj, const std::string& type, const char* what = "status") {
    const Json& conds = api::field(api::field(obj, "status"), "conditions");
    if (!conds.is_array()) return "";
    for (const auto& c : conds) {
      if (api::sfield(c, "type") == type) return api::sfield(c, what);
    }
    return "";
  }
  static std::vector<std::string> taints(const Json& node) {
    std::vector<std::string> out;
    const Json& ts = api::field(api::field(node, "spec"), "taints");
    if (!ts.is_array()) return out;
    for (const auto& t : ts) out.push_back(api::sfield(t, "key") + ":" + api::sfield(t, "effect"));
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> unreachable() {
    return {"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"};
  }
  bool terminating(const std::string& pod) {
    Json p = get_pod(pod);
    return p.is_null() || api::field(p, "metadata").contains("deletionTimestamp");
  }
  bool has_event(const std::string& reason, const std::string& object) {
    auto r = client_->list(events(), "");
    if (!r.is_ok()) return false;
    for (const auto& e : (*r)["items"]) {
      if (api::sfield(e, "reason") == reason && api::sfield(api::field(e, "involvedObject"), "name") == object) {
        return true;
      }
    }
    return false;
  }

  // n1 silent for longer than the grace period: the first pass sees it at the
  // start time, then the clock moves past the grace period. Waits for its
  // unreachable taints.
  void make_silent_and_tainted(const std::string& node) {
    pass_barrier();
    clock_.advance(kGrace + 1ms);
    ASSERT_TRUE(eventually([&] { return taints(get_node(node)) == unreachable(); }, 30s));
  }

  testing::FakeClock clock_{start_time()};
  std::unique_ptr<LeaseWatchTap> tap_;
  std::unique_ptr<client::Client> tapped_;  // the controller's client, through tap_
  std::unique_ptr<NodeLifecycleController> ctrl_;
  int probes_ = 0, touches_ = 0, pacers_ = 0, probes_pods_ = 0;
};

TEST_F(NodeLifecycleTest, SilentNodeGoesUnknownTaintedAndItsPodsNotReady) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_node("n2"));
  ASSERT_NO_FATAL_FAILURE(add_pod("p1", "n1", Json::array({unreachable_toleration(std::nullopt)})));
  ASSERT_NO_FATAL_FAILURE(add_pod("p2", "n2", Json::array({unreachable_toleration(std::nullopt)})));
  start();
  pass_barrier();  // both nodes seen at the start time
  // A full grace period later n2 renews its Lease (only), and a pass sees it.
  clock_.advance(kGrace);
  int64_t rv = 0;
  ASSERT_NO_FATAL_FAILURE(renew("n2", &rv));
  ASSERT_NO_FATAL_FAILURE(lease_seen(rv));
  pass_barrier();
  // Exactly the grace period without a probe is not yet too long.
  EXPECT_EQ(condition(get_node("n1"), "Ready"), "True");
  EXPECT_TRUE(taints(get_node("n1")).empty());

  clock_.advance(1ms);
  ASSERT_TRUE(eventually([&] { return condition(get_node("n1"), "Ready") == "Unknown"; }, 30s));
  Json n1 = get_node("n1");
  for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    EXPECT_EQ(condition(n1, type), "Unknown") << type;
    EXPECT_EQ(condition(n1, type, "reason"), "NodeStatusUnknown") << type;
    EXPECT_EQ(condition(n1, type, "message"), "Kubelet stopped posting node status.") << type;
    EXPECT_EQ(condition(n1, type, "lastTransitionTime"), format_rfc3339(clock_.now())) << type;
  }
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")) == unreachable(); }, 30s));
  for (const auto& t : get_node("n1")["spec"]["taints"]) {
    EXPECT_EQ(api::sfield(t, "timeAdded"), format_rfc3339(clock_.now()));
  }
  ASSERT_TRUE(eventually([&] { return condition(get_pod("p1"), "Ready") == "False"; }, 30s));
  EXPECT_TRUE(eventually([&] { return has_event("NodeNotReady", "n1"); }, 30s));
  // The pass that judged n1 judged n2 too; one more pass, and n2 (its last
  // status heartbeat as old as n1's, but its Lease renewed) is still fine,
  // and so is its pod.
  pass_barrier();
  Json n2n = get_node("n2");
  EXPECT_EQ(condition(n2n, "Ready"), "True");
  EXPECT_TRUE(taints(n2n).empty());
  EXPECT_EQ(condition(get_pod("p2"), "Ready"), "True");
  // Tolerated without a bound: never evicted.
  EXPECT_FALSE(terminating("p1"));
}

TEST_F(NodeLifecycleTest, NodeBackReadyLosesTaints) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  start();
  ASSERT_NO_FATAL_FAILURE(make_silent_and_tainted("n1"));
  ASSERT_NO_FATAL_FAILURE(post_status("n1"));  // the agent is back
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).empty(); }, 30s));
  EXPECT_EQ(condition(get_node("n1"), "Ready"), "True");
}

TEST_F(NodeLifecycleTest, KubeletReportingNotReadyGetsNotReadyTaints) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  start();
  // The clock stands still: the node's probes stay fresh throughout.
  ASSERT_NO_FATAL_FAILURE(post_status("n1", "False"));
  ASSERT_TRUE(eventually(
      [&] {
        return taints(get_node("n1")) == std::vector<std::string>{"node.kubernetes.io/not-ready:NoExecute",
                                                                    "node.kubernetes.io/not-ready:NoSchedule"};
      },
      30s));
  EXPECT_EQ(condition(get_node("n1"), "Ready"), "False");  // not overwritten: the probes are fresh
  ASSERT_NO_FATAL_FAILURE(post_status("n1", "True"));
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).empty(); }, 30s));
}

TEST_F(NodeLifecycleTest, EvictsAfterTolerationSecondsAndAtOnceWithoutToleration) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("bare", "n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("one-second", "n1", Json::array({unreachable_toleration(1)})));
  ASSERT_NO_FATAL_FAILURE(add_pod("forever", "n1", Json::array({unreachable_toleration(std::nullopt)})));
  // Tolerates only the not-ready taint: the unreachable one evicts it at once.
  ASSERT_NO_FATAL_FAILURE(add_pod("wrong-key", "n1",
                                  Json::array({{{"key", kTaintNotReady},
                                                {"operator", "Exists"},
                                                {"effect", "NoExecute"},
                                                {"tolerationSeconds", 3600}}})));
  start();
  ASSERT_NO_FATAL_FAILURE(make_silent_and_tainted("n1"));
  // At once: the clock does not move until they are gone.
  ASSERT_TRUE(eventually([&] { return terminating("bare") && terminating("wrong-key"); }, 30s));
  ASSERT_NO_FATAL_FAILURE(drain_evictions("n1"));
  EXPECT_FALSE(terminating("one-second"));
  EXPECT_FALSE(terminating("forever"));
  // 1 ms before its toleration ends (counted from when the controller saw the
  // taint, not from the whole second in its timeAdded, half a second
  // earlier): still there.
  clock_.advance(1s - 1ms);
  ASSERT_NO_FATAL_FAILURE(touch("one-second"));
  ASSERT_NO_FATAL_FAILURE(drain_evictions("n1"));
  EXPECT_FALSE(terminating("one-second"));
  clock_.advance(1ms);
  ASSERT_TRUE(eventually([&] { return terminating("one-second"); }, 30s));
  EXPECT_TRUE(has_event("TaintManagerEviction", "one-second"));
  // A graceful delete: the pod stays (Terminating) for the kubelet to confirm.
  EXPECT_FALSE(get_pod("one-second").is_null());
  // Tolerated without a bound: not even a day later.
  clock_.advance(24h);
  ASSERT_NO_FATAL_FAILURE(touch("forever"));
  ASSERT_NO_FATAL_FAILURE(drain_evictions("n1"));
  EXPECT_FALSE(terminating("forever"));
}

TEST_F(NodeLifecycleTest, TaintGoneBeforeTheTolerationEndsCancelsTheEviction) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("two-seconds", "n1", Json::array({unreachable_toleration(2)})));
  start();
  ASSERT_NO_FATAL_FAILURE(make_silent_and_tainted("n1"));
  ASSERT_NO_FATAL_FAILURE(post_status("n1"));  // back within the 2 s (the clock stands still)
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).empty(); }, 30s));
  // Before the clock moves on, the controller must have seen the taint go
  // and finished any eviction check begun before: a new not-ready node is
  // tainted from a node cache that holds n1's change, and a pod on it is
  // evicted by the worker after whatever it was doing.
  ASSERT_NO_FATAL_FAILURE(drain_evictions(pass_barrier()));
  EXPECT_FALSE(terminating("two-seconds"));
  // Silent again, well past the old deadline: the new taint's toleration
  // starts now, not when the first taint was added.
  clock_.advance(kGrace + 1ms);
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")) == unreachable(); }, 30s));
  ASSERT_NO_FATAL_FAILURE(touch("two-seconds"));
  ASSERT_NO_FATAL_FAILURE(drain_evictions("n1"));
  EXPECT_FALSE(terminating("two-seconds"));
  // ... and ends 2 s after it.
  clock_.advance(2s);
  ASSERT_NO_FATAL_FAILURE(touch("two-seconds"));
  EXPECT_TRUE(eventually([&] { return terminating("two-seconds"); }, 30s));
}

TEST_F(NodeLifecycleTest, PodArrivingOnATaintedNodeIsEvicted) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  start();
  ASSERT_NO_FATAL_FAILURE(make_silent_and_tainted("n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("late", "n1"));
  EXPECT_TRUE(eventually([&] { return terminating("late"); }, 30s));
}

// ---- pure helpers

TEST(NodeLifecycleTaints, ReconcileKeepsOthersAndTimeAdded) {
  SysTime now{};
  parse_rfc3339("2026-01-01T00:00:10Z", &now);
  Json cur = Json::array({{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}},
                          {{"key", kTaintUnreachable}, {"effect", "NoExecute"}, {"timeAdded", "2026-01-01T00:00:00Z"}}});
  auto next = reconcile_taints(cur, desired_condition_taints("Unknown"), now);
  ASSERT_TRUE(next.has_value());
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ((*next)[0]["key"], "dedicated");
  EXPECT_EQ((*next)[1]["timeAdded"], "2026-01-01T00:00:00Z");
  EXPECT_EQ((*next)[2]["effect"], "NoSchedule");
  EXPECT_EQ((*next)[2]["timeAdded"], "2026-01-01T00:00:10Z");
  EXPECT_FALSE(reconcile_taints(*next, desired_condition_taints("Unknown"), now).has_value());
  auto ready = reconcile_taints(*next, desired_condition_taints("True"), now);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0]["key"], "dedicated");
  auto not_ready = reconcile_taints(*next, desired_condition_taints("False"), now);
  ASSERT_TRUE(not_ready.has_value());
  EXPECT_EQ(not_ready->size(), 3u);
  EXPECT_EQ((*not_ready)[1]["key"], kTaintNotReady);
}

TEST(NodeLifecycleTaints, TolerationMatching) {
  Json taint = {{"key", kTaintUnreachable}, {"effect", "NoExecute"}};
  EXPECT_TRUE(toleration_tolerates({{"operator", "Exists"}}, taint));
  EXPECT_TRUE(toleration_tolerates({{"key", kTaintUnreachable}, {"operator", "Exists"}}, taint));
  EXPECT_FALSE(toleration_tolerates({{"key", kTaintUnreachable}, {"operator", "Exists"}, {"effect", "NoSchedule"}}, taint));
  EXPECT_TRUE(toleration_tolerates({{"key", kTaintUnreachable}}, taint));  // Equal, empty value
  EXPECT_FALSE(toleration_tolerates({{"key", kTaintUnreachable}, {"value", "x"}}, taint));
  EXPECT_FALSE(toleration_tolerates({{"key", kTaintNotReady}, {"operator", "Exists"}}, taint));
}

TEST(NodeLifecycleTaints, EvictionDecision) {
  SysTime t0{};
  parse_rfc3339("2026-01-01T00:00:00Z", &t0);
  auto start = [&](const Json&) { return t0; };
  std::vector<Json> taints = {{{"key", kTaintUnreachable}, {"effect", "NoExecute"}}};
  auto pod = [](Json tolerations) { return Json{{"spec", {{"tolerations", tolerations}}}}; };
  EXPECT_EQ(decide_eviction(pod(Json::array()), {}, start).kind, EvictionDecision::Kind::kNone);
  EXPECT_EQ(decide_eviction(pod(Json::array()), taints, start).kind, EvictionDecision::Kind::kNow);
  EXPECT_EQ(decide_eviction(Json::object(), taints, start).kind, EvictionDecision::Kind::kNow);
  auto d = decide_eviction(pod({{{"operator", "Exists"}, {"tolerationSeconds", 30}},
                                {{"key", kTaintUnreachable}, {"operator", "Exists"}, {"tolerationSeconds", 5}}}),
                           taints, start);
  ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
  EXPECT_EQ(d.at, t0 + 30s);  // the first matching toleration is the one used (as Kubernetes)
  d = decide_eviction(pod({{{"key", kTaintUnreachable}, {"operator", "Exists"}, {"tolerationSeconds", -4}}}), taints,
                      start);
  ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
  EXPECT_EQ(d.at, t0);
  // "Practically forever" must not wrap into the past (evicting at once).
  for (Json forever : {Json(INT64_MAX), Json(1e300)}) {
    d = decide_eviction(pod({{{"operator", "Exists"}, {"tolerationSeconds", forever}}}), taints, start);
    ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
    EXPECT_GT(d.at, t0 + std::chrono::hours(24 * 365 * 50)) << forever.dump();
  }
  EXPECT_EQ(decide_eviction(pod({{{"operator", "Exists"}}}), taints, start).kind, EvictionDecision::Kind::kNone);
  // Two taints: one tolerated forever, one for 7 s → 7 s.
  taints.push_back({{"key", "x"}, {"effect", "NoExecute"}});
  d = decide_eviction(pod({{{"key", kTaintUnreachable}, {"operator", "Exists"}},
                           {{"key", "x"}, {"operator", "Exists"}, {"tolerationSeconds", 7}}}),
                      taints, start);
  ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
  EXPECT_EQ(d.at, t0 + 7s);
}

}  // namespace
}  // namespace minik8s::controllers
