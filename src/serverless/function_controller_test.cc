// FunctionController (with the PoolController where a pool is wanted)
// against a real in-process ApiServer, a real InstanceTable and Autoscaler
// (not ticking: desired = minScale, and ≥ 1 while requests wait), fake
// runtime servers per pod and a pod loop playing scheduler + kubelet
// (controller_test_support.h). The test thread plays the gateway through
// InstanceTable::acquire/release.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "controller_test_support.h"
#include "minik8s/client/code.h"
#include "minik8s/serverless/autoscaler.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/serverless/instance_table.h"
#include "minik8s/util/base64.h"

namespace minik8s::serverless {
namespace {

using api::Json;
using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::PodLoop;
using testing_support::ServerlessFixture;

constexpr const char* kNs = "default";
constexpr const char* kGatewayUrl = "http://10.0.0.1:31080";
const std::string kCode1 = "def handler(event, context):\n    return {'v': 1}\n";
const std::string kCode2 = "def handler(event, context):\n    return {'v': 2}\n";

class FunctionControllerTest : public ServerlessFixture {
 protected:
  void TearDown() override {
    stop_controllers();
    loop_.reset();
    ServerlessFixture::TearDown();
  }

  void start(int pool_size, bool run_pods = true) {
    if (!loop_) {
      loop_ = std::make_unique<PodLoop>(*client_);
      loop_->run(run_pods);
    }
    table_ = std::make_unique<InstanceTable>([this](const std::string& key) {
      if (FunctionController* fc = fc_ptr_.load()) fc->enqueue(key);
    });
    autoscaler_ =
        std::make_unique<Autoscaler>(*table_, KpaConfig{}, [this](const std::string& key) {
          if (FunctionController* fc = fc_ptr_.load()) fc->enqueue(key);
        });
    factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
    FunctionControllerOptions o;
    o.gateway_url = kGatewayUrl;
    o.init_timeout = 2s;
    o.endpoint = loop_->endpoint();
    fc_ = std::make_unique<FunctionController>(*factory_, *table_, *autoscaler_, o);
    fc_ptr_ = fc_.get();
    if (pool_size > 0) {
      PoolOptions po;
      po.pool_size = pool_size;
      pool_ = std::make_unique<PoolController>(*factory_, po);
      ASSERT_TRUE(pool_->start().is_ok());
    }
    Status st = fc_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  void stop_controllers() {
    if (table_) table_->shutdown();
    fc_ptr_ = nullptr;
    if (fc_) fc_->stop();
    if (pool_) pool_->stop();
    if (factory_) factory_->stop();
    fc_.reset();
    pool_.reset();
    factory_.reset();
    autoscaler_.reset();
    table_.reset();
  }

  std::string key(const std::string& name) { return function_key(kNs, name); }
  std::string fn_label(const std::string& name) { return std::string(kLabelFunction) + "=" + name; }
  std::string pool_label() { return std::string(kLabelPool) + "=true"; }
  std::vector<std::string> names(const std::vector<Json>& pods) {
    std::vector<std::string> out;
    for (const Json& p : pods) out.push_back(p["metadata"]["name"]);
    std::sort(out.begin(), out.end());
    return out;
  }
  // Pod names in the table for a function (draining ones included).
  std::vector<std::string> table_pods(const std::string& name) {
    std::vector<std::string> out;
    for (const auto& i : table_->instances(key(name))) out.push_back(i.pod);
    std::sort(out.begin(), out.end());
    return out;
  }
  bool registered(const std::string& name) {
    auto f = table_->functions();
    return std::find(f.begin(), f.end(), key(name)) != f.end();
  }
  Json status(const std::string& name) {
    Json f = get_function(kNs, name);
    return f.is_object() && f.contains("status") ? f["status"] : Json::object();
  }
  int ready_in_status(const std::string& name) { return status(name).value("readyInstances", -1); }
  // Waits for n ready instances (status and table agree).
  ::testing::AssertionResult ready_instances(const std::string& name, int n,
                                             std::chrono::milliseconds limit = 10s) {
    if (eventually([&] { return ready_in_status(name) == n && table_->load(key(name)).ready == n; },
                   limit)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "readyInstances " << ready_in_status(name) << ", table ready "
           << table_->load(key(name)).ready << ", want " << n;
  }
  Result<Lease> acquire(const std::string& name, std::chrono::milliseconds limit = 5s) {
    return table_->acquire(key(name), SteadyClock::now() + limit);
  }

  std::unique_ptr<PodLoop> loop_;
  std::unique_ptr<InstanceTable> table_;
  std::unique_ptr<Autoscaler> autoscaler_;
  std::unique_ptr<client::SharedInformerFactory> factory_;
  std::unique_ptr<FunctionController> fc_;
  std::atomic<FunctionController*> fc_ptr_{nullptr};
  std::unique_ptr<PoolController> pool_;
};

TEST_F(FunctionControllerTest, ColdStartClaimsAPoolPodFastThenRelabelsItAndThePoolRefills) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(start(/*pool_size=*/3));
  // Three functions, each cold-started once through the pool.
  for (const char* n : {"hello", "hello1", "hello2"})
    ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, n, kCode1)));
  Json fn = get_function(kNs, "hello");
  auto pool_running = [&] {
    int running = 0;
    for (const Json& p : live_pods(kNs, pool_label()))
      running += p["status"].value("phase", "") == "Running";
    return running;
  };
  ASSERT_TRUE(eventually([&] {
    return pool_running() == 3 && registered("hello") && registered("hello1") &&
           registered("hello2") && status("hello").value("revision", "") == "1";
  }));
  std::vector<std::string> pool_before = names(live_pods(kNs, pool_label()));
  EXPECT_TRUE(live_pods(kNs, fn_label("hello")).empty());  // scaled to zero: nothing runs
  EXPECT_EQ(condition(get_function(kNs, "hello"), "Ready", "reason"), "ScaledToZero");

  // The request is held in the table until a claimed pod is initialised.
  std::vector<double> waits;
  std::string claimed;
  for (const char* n : {"hello", "hello1", "hello2"}) {
    auto t0 = SteadyClock::now();
    auto lease = acquire(n);
    double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
    waits.push_back(ms);
    EXPECT_TRUE(lease->cold);
    EXPECT_EQ(lease->instance.revision, "1");
    // A pool pod (one of the first three, or one the pool refilled since).
    EXPECT_EQ(lease->instance.pod.rfind("pool-", 0), 0u) << lease->instance.pod;
    if (claimed.empty()) {
      claimed = lease->instance.pod;
      EXPECT_TRUE(std::find(pool_before.begin(), pool_before.end(), claimed) != pool_before.end()) << claimed;
    }
    table_->release(*lease, false);
  }
  std::sort(waits.begin(), waits.end());
  std::printf("cold start through a pool pod (held request → lease): %.1f / %.1f / %.1f ms\n",
              waits[0], waits[1], waits[2]);
  // The target (docs/serverless.md): served < 50 ms after arrival with a
  // Ready pool pod. Typically ~1 ms here; the median keeps one slow
  // scheduling hiccup on a loaded machine from failing the run.
  EXPECT_LT(waits[1], 50.0);

  // The claimed pod: relabelled, owned, and its runtime got the code. It
  // stays after its request (demand_hold), though the autoscaler says 0.
  std::vector<Json> inst;
  ASSERT_TRUE(eventually([&] {
    inst = live_pods(kNs, fn_label("hello"));
    return inst.size() == 1 && inst[0]["metadata"]["name"] == claimed &&
           inst[0]["metadata"].contains("annotations") &&
           inst[0]["metadata"]["annotations"].value(kAnnotationInitialized, "") == "1";
  }));
  const Json& m = inst[0]["metadata"];
  EXPECT_FALSE(m["labels"].contains(kLabelPool));
  EXPECT_EQ(m["labels"][kLabelRevision], "1");
  ASSERT_TRUE(m.contains("ownerReferences"));
  EXPECT_EQ(m["ownerReferences"][0]["uid"], fn["metadata"]["uid"]);
  EXPECT_EQ(m["ownerReferences"][0]["kind"], "Function");
  EXPECT_EQ(m["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(inst[0]["spec"]["nodeName"], "n1");
  FakeRuntime* rt = loop_->runtime(m["name"]);
  ASSERT_NE(rt, nullptr);
  Json init;
  for (const auto& [target, body] : rt->requests()) {
    if (target == "/init") init = Json::parse(body);
  }
  ASSERT_TRUE(init.is_object());
  EXPECT_EQ(init["function"], "hello");
  EXPECT_EQ(init["namespace"], kNs);
  EXPECT_EQ(init["revision"], "1");
  EXPECT_EQ(init["handler"], "main.handler");
  EXPECT_EQ(init["filename"], "main.py");
  EXPECT_EQ(init["timeoutSeconds"], 60);
  EXPECT_EQ(base64_decode(init["code"].get<std::string>()).value_or(""), kCode1);

  // The pool refilled to 3 pods that are still pool pods.
  ASSERT_TRUE(eventually([&] { return live_pods(kNs, pool_label()).size() == 3; }));
  for (const Json& p : live_pods(kNs, pool_label())) EXPECT_NE(p["metadata"]["name"], m["name"]);

  Json st = status("hello");
  EXPECT_EQ(st["url"], std::string(kGatewayUrl) + "/functions/default/hello");
  EXPECT_EQ(st.value("codeHash", "").rfind("sha256:", 0), 0u);
  EXPECT_EQ(st.value("codeHash", "").size(), 7u + 64u);
  EXPECT_EQ(st["observedGeneration"], 1);
  EXPECT_TRUE(ready_instances("hello", 1));
  EXPECT_EQ(condition(get_function(kNs, "hello"), "CodeValid"), "True");
  EXPECT_EQ(condition(get_function(kNs, "hello"), "Ready"), "True");
}

// docs/workflows.md "Runtime images": a python3-ml function runs the ML
// image; the pool's python3 pods are never claimed for it.
TEST_F(FunctionControllerTest, AnMlFunctionStartsItsOwnPodsFromTheMlImageAndLeavesThePoolAlone) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(start(/*pool_size=*/2));
  // A function makes the namespace's pool; the ML one is created once the
  // pool pods are serving, so that claiming one was possible.
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "plain", kCode1)));
  ASSERT_TRUE(eventually([&] {
    auto pool = live_pods(kNs, pool_label());
    return pool.size() == 2 && std::all_of(pool.begin(), pool.end(), [](const Json& p) {
             return p.contains("status") && p["status"].value("phase", "") == "Running";
           });
  }));
  const auto pool_before = names(live_pods(kNs, pool_label()));
  Json f = function(kNs, "ml", kCode1, /*min_scale=*/1);
  f["spec"]["runtime"] = "python3-ml";
  ASSERT_NO_FATAL_FAILURE(create_function(f));
  ASSERT_TRUE(ready_instances("ml", 1));
  auto inst = live_pods(kNs, fn_label("ml"));
  ASSERT_EQ(inst.size(), 1u);
  EXPECT_EQ(inst[0]["spec"]["containers"][0]["image"], kMlRuntimeImage);
  EXPECT_EQ(std::find(pool_before.begin(), pool_before.end(),
                      inst[0]["metadata"]["name"].get<std::string>()),
            pool_before.end());
  // The pool pods are the same ones, still pool pods.
  EXPECT_EQ(names(live_pods(kNs, pool_label())), pool_before);

  // A python3 function next to it still claims from the pool.
  update_function(kNs, "plain", [](Json& f) { f["spec"]["scale"]["minScale"] = 1; });
  ASSERT_TRUE(ready_instances("plain", 1));
  auto plain = live_pods(kNs, fn_label("plain"));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0]["spec"]["containers"][0]["image"], kRuntimeImage);
  EXPECT_NE(std::find(pool_before.begin(), pool_before.end(),
                      plain[0]["metadata"]["name"].get<std::string>()),
            pool_before.end());
}

TEST_F(FunctionControllerTest, WithoutAPoolAnInstancePodIsCreatedAndInitialisedOnceRunning) {
  ASSERT_NO_FATAL_FAILURE(start(/*pool_size=*/0, /*run_pods=*/false));
  Json f = function(kNs, "mk", kCode1, /*min_scale=*/1);
  f["spec"]["resources"] = {{"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}};
  ASSERT_NO_FATAL_FAILURE(create_function(f));
  std::vector<Json> inst;
  ASSERT_TRUE(eventually([&] {
    inst = live_pods(kNs, fn_label("mk"));
    return inst.size() == 1;
  }));
  const Json& p = inst[0];
  EXPECT_EQ(p["metadata"]["labels"][kLabelRevision], "1");
  EXPECT_FALSE(p["metadata"]["labels"].contains(kLabelPool));
  EXPECT_EQ(p["metadata"]["ownerReferences"][0]["name"], "mk");
  EXPECT_FALSE(p["spec"].contains("nodeName"));  // the scheduler places it
  const Json& c = p["spec"]["containers"][0];
  EXPECT_EQ(c["image"], kRuntimeImage);
  EXPECT_EQ(c["ports"][0]["containerPort"], kRuntimePort);
  EXPECT_EQ(c["ports"][0]["name"], "http");
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "500m");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/healthz");
  ASSERT_TRUE(eventually([&] {
    Json s = status("mk");
    return s.value("desiredInstances", -1) == 1 && s.value("readyInstances", -1) == 0;
  }));
  EXPECT_TRUE(table_pods("mk").empty());

  loop_->run(true);
  ASSERT_TRUE(ready_instances("mk", 1));
  std::string pod = p["metadata"]["name"];
  EXPECT_EQ(table_pods("mk"), std::vector<std::string>{pod});
  ASSERT_TRUE(eventually([&] {
    auto g = client_->get(pods(), kNs, pod);
    return g && (*g)["metadata"].contains("annotations") &&
           (*g)["metadata"]["annotations"].value(kAnnotationInitialized, "") == "1";
  }));
  EXPECT_EQ(loop_->runtime(pod)->count("/init"), 1);
  auto lease = acquire("mk", 1s);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_EQ(lease->instance.pod, pod);
  EXPECT_FALSE(lease->cold);
  table_->release(*lease, false);
  EXPECT_EQ(live_pods(kNs, fn_label("mk")).size(), 1u);
}

TEST_F(FunctionControllerTest,
       ANewInstanceIsInitialisedAsSoonAsItsServerAnswersWithoutWaitingForReady) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  loop_->ready(false);
  loop_->serve(false);
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "early", kCode1, 1)));
  std::string pod;
  ASSERT_TRUE(eventually([&] {
    auto live = live_pods(kNs, fn_label("early"));
    if (live.size() != 1 || live[0]["status"].value("phase", "") != "Running") return false;
    pod = live[0]["metadata"]["name"];
    return true;
  }));
  EXPECT_TRUE(table_pods("early").empty());
  loop_->serve(true);  // the server listens; the pod is still not Ready
  ASSERT_TRUE(eventually([&] { return table_pods("early") == std::vector<std::string>{pod}; }, 2s));
  ASSERT_TRUE(ready_instances("early", 1));
  EXPECT_EQ(loop_->runtime(pod)->count("/init"), 1);
  EXPECT_EQ(live_pods(kNs, fn_label("early")).size(), 1u);
}

TEST_F(FunctionControllerTest, CodeChangeIsANewRevisionScaleChangeIsNotAndOldInstancesDrain) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "rev", kCode1, 1)));
  ASSERT_TRUE(ready_instances("rev", 1));
  std::string old_pod = live_pods(kNs, fn_label("rev"))[0]["metadata"]["name"];
  Json s1 = status("rev");
  EXPECT_EQ(s1["revision"], "1");

  // Scale settings alone: same revision, same pod.
  ASSERT_NO_FATAL_FAILURE(
      update_function(kNs, "rev", [](Json& f) { f["spec"]["scale"]["maxScale"] = 5; }));
  ASSERT_TRUE(eventually([&] { return status("rev").value("observedGeneration", 0) == 2; }));
  EXPECT_EQ(status("rev")["revision"], "1");
  EXPECT_EQ(status("rev")["revisionHash"], s1["revisionHash"]);
  EXPECT_EQ(names(live_pods(kNs, fn_label("rev"))), std::vector<std::string>{old_pod});

  // A request in flight on the old revision while the code changes.
  auto held = acquire("rev", 1s);
  ASSERT_TRUE(held.is_ok()) << held.status().to_string();
  ASSERT_EQ(held->instance.pod, old_pod);
  ASSERT_NO_FATAL_FAILURE(
      update_function(kNs, "rev", [](Json& f) { f["spec"]["code"]["inline"] = kCode2; }));
  ASSERT_TRUE(eventually([&] { return status("rev").value("revision", "") == "2"; }));
  EXPECT_NE(status("rev")["revisionHash"], s1["revisionHash"]);
  EXPECT_NE(status("rev")["codeHash"], s1["codeHash"]);
  std::string new_pod;
  ASSERT_TRUE(eventually([&] {
    for (const Json& p : live_pods(kNs, fn_label("rev") + "," + kLabelRevision + "=2")) {
      if (p["metadata"].contains("annotations") &&
          p["metadata"]["annotations"].value(kAnnotationInitialized, "") == "2") {
        new_pod = p["metadata"]["name"];
      }
    }
    return !new_pod.empty() && table_->load(key("rev")).ready == 1;
  }));
  // New requests go to revision 2; the old pod waits for its request.
  auto fresh = acquire("rev", 1s);
  ASSERT_TRUE(fresh.is_ok());
  EXPECT_EQ(fresh->instance.pod, new_pod);
  EXPECT_EQ(fresh->instance.revision, "2");
  table_->release(*fresh, false);
  {
    auto g = client_->get(pods(), kNs, old_pod);
    ASSERT_TRUE(g.is_ok());
    EXPECT_FALSE((*g)["metadata"].contains("deletionTimestamp"));
  }
  FakeRuntime* rt = loop_->runtime(new_pod);
  ASSERT_NE(rt, nullptr);
  Json init = Json::parse(rt->requests().back().second, nullptr, false);
  EXPECT_EQ(base64_decode(init.value("code", "")).value_or(""), kCode2);

  table_->release(*held, false);
  ASSERT_TRUE(eventually(
      [&] { return names(live_pods(kNs, fn_label("rev"))) == std::vector<std::string>{new_pod}; }));
  ASSERT_TRUE(eventually([&] { return table_pods("rev") == std::vector<std::string>{new_pod}; }));
}

TEST_F(FunctionControllerTest,
       CodeTheRuntimeRefusesIsCodeValidFalseAndNotRetriedUntilTheSpecChanges) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "bad", "SYNTAX error here\n", 1)));
  ASSERT_TRUE(
      eventually([&] { return condition(get_function(kNs, "bad"), "CodeValid") == "False"; }));
  Json f = get_function(kNs, "bad");
  EXPECT_EQ(condition(f, "CodeValid", "reason"), "InitFailed");
  EXPECT_EQ(condition(f, "CodeValid", "message"), "main.py:1: invalid syntax");
  EXPECT_EQ(condition(f, "Ready"), "False");
  ASSERT_TRUE(eventually([&] { return live_pods(kNs, fn_label("bad")).empty(); }));
  int inits = loop_->total_inits();
  EXPECT_EQ(inits, 1);
  // Not retried: for a while no new pod and no new /init (a bounded look).
  auto end = SteadyClock::now() + 500ms;
  while (SteadyClock::now() < end) {
    ASSERT_TRUE(live_pods(kNs, fn_label("bad")).empty());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(loop_->total_inits(), inits);

  ASSERT_NO_FATAL_FAILURE(
      update_function(kNs, "bad", [](Json& fn) { fn["spec"]["code"]["inline"] = kCode1; }));
  ASSERT_TRUE(ready_instances("bad", 1));
  EXPECT_EQ(condition(get_function(kNs, "bad"), "CodeValid"), "True");
  EXPECT_EQ(status("bad")["revision"], "2");
}

TEST_F(FunctionControllerTest, DeletingTheFunctionRemovesItsInstancesAndUnregistersIt) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "gone", kCode1, 2)));
  ASSERT_TRUE(ready_instances("gone", 2));
  ASSERT_TRUE(client_->remove(functions(), kNs, "gone").is_ok());
  ASSERT_TRUE(
      eventually([&] { return !registered("gone") && all_pods(kNs, fn_label("gone")).empty(); }));
  auto r = acquire("gone", 100ms);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(FunctionControllerTest, ScaleDownDrainsAndKeepsTheInstanceWithARequestInFlight) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "down", kCode1, 2)));
  ASSERT_TRUE(ready_instances("down", 2));
  auto held = acquire("down", 1s);
  ASSERT_TRUE(held.is_ok());
  std::string busy = held->instance.pod;
  ASSERT_NO_FATAL_FAILURE(
      update_function(kNs, "down", [](Json& f) { f["spec"]["scale"]["minScale"] = 0; }));
  ASSERT_TRUE(eventually([&] { return status("down").value("observedGeneration", 0) == 2; }));
  // Autoscaler rounds (in fake time: its first decision with 2 ready is a
  // 60 s panic) with one request in flight: 1 instance.
  auto t0 = SteadyClock::now();
  auto drive = [&](int from_s, int to_s) {
    for (int i = from_s; i <= to_s; ++i) {
      autoscaler_->sample(t0 + i * 1s);
      autoscaler_->tick(t0 + i * 1s);
    }
  };
  drive(0, 70);
  ASSERT_EQ(autoscaler_->desired(key("down")), 1);
  // The idle one goes; the busy one stays while its request runs.
  ASSERT_TRUE(eventually(
      [&] { return names(live_pods(kNs, fn_label("down"))) == std::vector<std::string>{busy}; }));
  // The status is written after the delete, in the same reconcile.
  EXPECT_TRUE(eventually([&] { return status("down").value("desiredInstances", -1) == 1; }))
      << status("down").dump();
  EXPECT_EQ(table_pods("down"), std::vector<std::string>{busy});
  // Idle past scaleToZeroAfterSeconds: to zero once the request is done.
  table_->release(*held, false);
  drive(71, 200);
  ASSERT_EQ(autoscaler_->desired(key("down")), 0);
  ASSERT_TRUE(eventually([&] { return live_pods(kNs, fn_label("down")).empty(); }));
  ASSERT_TRUE(eventually(
      [&] { return condition(get_function(kNs, "down"), "Ready", "reason") == "ScaledToZero"; }));
  EXPECT_EQ(status("down").value("desiredInstances", -1), 0);
}

TEST_F(FunctionControllerTest, AFailedInstanceIsDeletedAndReplaced) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "crash", kCode1, 1)));
  ASSERT_TRUE(ready_instances("crash", 1));
  auto lease = acquire("crash", 1s);
  ASSERT_TRUE(lease.is_ok());
  std::string dead = lease->instance.pod;
  table_->release(*lease, /*instance_failed=*/true);
  std::string replacement;
  ASSERT_TRUE(eventually([&] {
    auto live = live_pods(kNs, fn_label("crash"));
    if (live.size() != 1 || live[0]["metadata"]["name"] == dead) return false;
    replacement = live[0]["metadata"]["name"];
    return table_->load(key("crash")).ready == 1;
  }));
  auto again = acquire("crash", 1s);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->instance.pod, replacement);
  table_->release(*again, false);
}

TEST_F(FunctionControllerTest, ARestartedControllerAdoptsInitialisedInstances) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "keep", kCode1, 2)));
  ASSERT_TRUE(ready_instances("keep", 2));
  auto before = names(live_pods(kNs, fn_label("keep")));
  int inits = loop_->total_inits();
  EXPECT_EQ(inits, 2);

  stop_controllers();
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_TRUE(eventually(
      [&] { return table_pods("keep") == before && table_->load(key("keep")).ready == 2; }));
  EXPECT_EQ(names(live_pods(kNs, fn_label("keep"))), before);
  EXPECT_EQ(loop_->total_inits(), inits);  // nothing re-initialised
  EXPECT_EQ(status("keep")["revision"], "1");
  auto lease = acquire("keep", 1s);
  ASSERT_TRUE(lease.is_ok());
  EXPECT_FALSE(lease->cold);
  table_->release(*lease, false);
}

TEST_F(FunctionControllerTest, UploadedCodeIsFetchedFromTheCodeStoreAndInitialised) {
  const std::string zip_like = "def handler(event, context):\n    return 'stored'\n";
  auto hash = client::upload_code(client_->rest(), zip_like);
  ASSERT_TRUE(hash.is_ok()) << hash.status().to_string();
  ASSERT_NO_FATAL_FAILURE(start(0));
  Json f = function(kNs, "stored", "", 2);
  f["spec"]["code"] = {{"hash", *hash}, {"filename", "hello.py"}};
  f["spec"]["handler"] = "hello.handler";
  f["spec"]["env"] = Json::array({{{"name", "GREETING"}, {"value", "hi"}}});
  f["spec"]["timeoutSeconds"] = 7;
  ASSERT_NO_FATAL_FAILURE(create_function(f));
  ASSERT_TRUE(ready_instances("stored", 2));
  EXPECT_EQ(status("stored")["codeHash"], *hash);
  for (const Json& p : live_pods(kNs, fn_label("stored"))) {
    FakeRuntime* rt = loop_->runtime(p["metadata"]["name"]);
    ASSERT_NE(rt, nullptr);
    Json init = Json::parse(rt->requests().back().second, nullptr, false);
    EXPECT_EQ(base64_decode(init.value("code", "")).value_or(""), zip_like);
    EXPECT_EQ(init["filename"], "hello.py");
    EXPECT_EQ(init["handler"], "hello.handler");
    EXPECT_EQ(init["env"], (Json{{"GREETING", "hi"}}));
    EXPECT_EQ(init["timeoutSeconds"], 7);
  }
}

}  // namespace
}  // namespace minik8s::serverless
