// NodeReporter against a real in-process API server: registration, status
// heartbeats, Ready following the runtime, Lease renewal, restart adoption.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/rest_client.h"
#include "node.h"
#include "test/fakes/local_api.h"

namespace minik8s::agent {
namespace {

using api::Json;
using namespace std::chrono_literals;

// Only version() matters to the reporter; everything else says "unsupported".
class VersionOnlyRuntime : public cri::Runtime {
 public:
  std::atomic<bool> up{true};
  Result<cri::VersionInfo> version() override {
    if (!up) return Status(Code::kUnavailable, "connection refused");
    return cri::VersionInfo{"containerd", "1.6.20~ds1", "v1"};
  }
  Result<std::string> run_pod_sandbox(const cri::SandboxConfig&) override { return no(); }
  Status stop_pod_sandbox(const std::string&) override { return no(); }
  Status remove_pod_sandbox(const std::string&) override { return no(); }
  Result<cri::SandboxStatus> pod_sandbox_status(const std::string&) override { return no(); }
  Result<std::vector<cri::Sandbox>> list_pod_sandboxes(const cri::Labels&) override { return no(); }
  Result<std::string> create_container(const std::string&, const cri::ContainerConfig&,
                                       const cri::SandboxConfig&) override {
    return no();
  }
  Status start_container(const std::string&) override { return no(); }
  Status stop_container(const std::string&, int64_t) override { return no(); }
  Status remove_container(const std::string&) override { return no(); }
  Result<std::vector<cri::Container>> list_containers(const cri::ContainerFilter&) override {
    return no();
  }
  Result<cri::ContainerStatus> container_status(const std::string&) override { return no(); }
  Status update_container_resources(const std::string&, const cri::Resources&) override {
    return no();
  }
  Result<cri::ExecSyncResult> exec_sync(const std::string&, const std::vector<std::string>&,
                                        int64_t) override {
    return no();
  }
  Result<std::string> exec(const cri::ExecRequest&) override { return no(); }
  Result<std::vector<cri::ContainerStats>> list_container_stats() override { return no(); }
  Result<std::vector<cri::Image>> list_images() override { return no(); }
  Result<std::optional<cri::Image>> image_status(const std::string&) override { return no(); }
  Result<std::string> pull_image(const std::string&, const cri::SandboxConfig*) override {
    return no();
  }
  Status remove_image(const std::string&) override { return no(); }

 private:
  static Status no() { return Status(Code::kInternal, "not supported by this fake"); }
};

class ReporterTest : public testing::ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    cfg_.node_name = "node-it";
    cfg_.node_ip = "127.0.0.1";
    cfg_.roles = {"worker"};
    cfg_.labels = {{"zone", "z1"}};
    cfg_.taints = {{"dedicated", "x", "NoSchedule"}};
    cfg_.lease_renew_interval = 100ms;
    cfg_.status_update_interval = 300ms;
    host_.cpu_millis = 3000;
    host_.memory_bytes = 4LL << 30;
    host_.ephemeral_storage_bytes = 10LL << 30;
    host_.kernel_version = "6.1.0";
    host_.os_image = "Debian GNU/Linux 12 (bookworm)";
  }
  void TearDown() override {
    ApiServerFixture::TearDown();
  }
  Json node() {
    auto n = client_->get(*api::find_kind("v1", "Node"), "", "node-it");
    EXPECT_TRUE(n.is_ok()) << n.status().to_string();
    return n ? *n : Json();
  }
  std::string ready_status() {
    Json n = node();
    for (const auto& c : n["status"]["conditions"]) {
      if (c["type"] == "Ready") return c["status"].get<std::string>();
    }
    return "";
  }
  Result<Json> lease() {
    return client_->get(*api::find_kind("coordination.k8s.io/v1", "Lease"), "kube-node-lease",
                        "node-it");
  }
  template <typename F>
  bool poll(F f, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return f();
  }

  VersionOnlyRuntime runtime_;
  NodeConfig cfg_;
  HostInfo host_;
};

TEST_F(ReporterTest, RegistersNodeWithFieldsAndReady) {
  NodeReporter r(*client_, runtime_, cfg_, host_, 12345);
  ASSERT_TRUE(r.register_node().is_ok());
  Json n = node();
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/hostname"], "node-it");
  EXPECT_EQ(n["metadata"]["labels"]["node-role.kubernetes.io/worker"], "");
  EXPECT_EQ(n["metadata"]["labels"]["zone"], "z1");
  EXPECT_EQ(n["spec"]["taints"][0]["key"], "dedicated");
  EXPECT_EQ(n["status"]["capacity"]["cpu"], "3");
  EXPECT_EQ(n["status"]["allocatable"]["memory"], "4194304Ki");
  EXPECT_EQ(n["status"]["nodeInfo"]["containerRuntimeVersion"], "containerd://1.6.20");
  EXPECT_EQ(n["status"]["nodeInfo"]["kubeletVersion"], "v1.32.0-minik8s");
  EXPECT_EQ(n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 12345);
  EXPECT_EQ(ready_status(), "True");
  // The server's /version reports the same version the node does.
  auto v = req("GET", "/version");
  EXPECT_EQ(v.j()["gitVersion"], kKubeletVersion);
}

TEST_F(ReporterTest, HeartbeatsRenewLeaseAndFollowRuntime) {
  NodeReporter r(*client_, runtime_, cfg_, host_, 10250);
  ASSERT_TRUE(r.register_node().is_ok());
  std::string uid = node()["metadata"]["uid"];
  r.start();
  ASSERT_TRUE(poll([&] { return lease().is_ok(); }));
  auto l1 = lease();
  ASSERT_TRUE(l1.is_ok());
  EXPECT_EQ((*l1)["spec"]["holderIdentity"], "node-it");
  EXPECT_EQ((*l1)["spec"]["leaseDurationSeconds"], 40);
  EXPECT_EQ((*l1)["metadata"]["ownerReferences"][0]["uid"], uid);
  EXPECT_EQ((*l1)["metadata"]["ownerReferences"][0]["kind"], "Node");
  std::string t1 = (*l1)["spec"]["renewTime"];
  SysTime parsed;
  EXPECT_TRUE(parse_rfc3339(t1, &parsed)) << t1;
  EXPECT_EQ(t1.size(), std::string("2026-11-25T22:00:00.000000Z").size()) << t1;
  // Renewed again.
  EXPECT_TRUE(poll([&] {
    auto l = lease();
    return l && (*l)["spec"]["renewTime"] != t1;
  }));
  // Heartbeat moves lastHeartbeatTime (seconds precision: wait past a second boundary).
  auto heartbeat = [&] {
    const Json n = node();
    for (const auto& c : n["status"]["conditions"]) {
      if (c["type"] == "Ready") return c["lastHeartbeatTime"].get<std::string>();
    }
    return std::string();
  };
  std::string hb = heartbeat();
  EXPECT_TRUE(poll([&] { return heartbeat() != hb; }, 4s));
  // Runtime down → Ready False promptly (probe every ≤1 s), back up → True.
  runtime_.up = false;
  EXPECT_TRUE(poll([&] { return ready_status() == "False"; }, 4s));
  const Json down = node();
  for (const auto& c : down["status"]["conditions"]) {
    if (c["type"] == "Ready") {
      EXPECT_EQ(c["reason"], "KubeletNotReady");
      EXPECT_NE(c["message"].get<std::string>().find("connection refused"), std::string::npos);
    }
  }
  runtime_.up = true;
  EXPECT_TRUE(poll([&] { return ready_status() == "True"; }, 4s));
  r.stop();
  // Stopped: the lease is no longer renewed.
  auto l2 = lease();
  ASSERT_TRUE(l2.is_ok());
  std::this_thread::sleep_for(300ms);  // three renew intervals: a renewal would show
  auto l3 = lease();
  ASSERT_TRUE(l3.is_ok());
  EXPECT_EQ((*l2)["spec"]["renewTime"], (*l3)["spec"]["renewTime"]);
}

TEST_F(ReporterTest, RestartKeepsOthersLabelsAndUpdatesOurs) {
  {
    NodeReporter r(*client_, runtime_, cfg_, host_, 10250);
    ASSERT_TRUE(r.register_node().is_ok());
  }
  std::string uid = node()["metadata"]["uid"];
  // Someone else labels the node and sets podCIDR.
  auto p = client_->patch(
      *api::find_kind("v1", "Node"), "", "node-it", client::PatchType::kMerge,
      Json::parse(R"({"metadata":{"labels":{"team":"blue"}},"spec":{"podCIDR":"10.244.1.0/24"}})"));
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  cfg_.labels = {{"zone", "z2"}};
  cfg_.taints.clear();
  runtime_.up = false;
  NodeReporter r2(*client_, runtime_, cfg_, host_, 10251);
  ASSERT_TRUE(r2.register_node().is_ok());
  Json n = node();
  EXPECT_EQ(n["metadata"]["uid"], uid);  // same object, updated
  EXPECT_EQ(n["metadata"]["labels"]["team"], "blue");
  EXPECT_EQ(n["metadata"]["labels"]["zone"], "z2");
  EXPECT_EQ(n["spec"]["podCIDR"], "10.244.1.0/24");
  EXPECT_FALSE(n["spec"].contains("taints"));
  EXPECT_EQ(n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10251);
  EXPECT_EQ(ready_status(), "False");
}

TEST_F(ReporterTest, RestartKeepsTheNodeControllersTaintsAndPostsReady) {
  {
    NodeReporter r(*client_, runtime_, cfg_, host_, 10250);
    ASSERT_TRUE(r.register_node().is_ok());
  }
  // While the agent was away the node lifecycle controller tainted the node
  // and set Ready Unknown.
  Json n = node();
  n["spec"]["taints"].push_back({{"key", "node.kubernetes.io/unreachable"}, {"effect", "NoExecute"},
                                 {"timeAdded", "2026-01-01T00:00:00Z"}});
  ASSERT_TRUE(client_->update(*api::find_kind("v1", "Node"), n).is_ok());
  n = node();
  for (auto& c : n["status"]["conditions"]) c["status"] = "Unknown";
  ASSERT_TRUE(client_->update_status(*api::find_kind("v1", "Node"), n).is_ok());
  ASSERT_EQ(ready_status(), "Unknown");
  NodeReporter r2(*client_, runtime_, cfg_, host_, 10250);
  ASSERT_TRUE(r2.register_node().is_ok());
  EXPECT_EQ(ready_status(), "True");
  n = node();
  ASSERT_EQ(n["spec"]["taints"].size(), 2u) << n["spec"].dump();
  EXPECT_EQ(n["spec"]["taints"][0]["key"], "dedicated");
  EXPECT_EQ(n["spec"]["taints"][1]["key"], "node.kubernetes.io/unreachable");
  EXPECT_EQ(n["spec"]["taints"][1]["timeAdded"], "2026-01-01T00:00:00Z");
}

TEST_F(ReporterTest, DeletedNodeIsRegisteredAgain) {
  NodeReporter r(*client_, runtime_, cfg_, host_, 10250);
  ASSERT_TRUE(r.register_node().is_ok());
  ASSERT_TRUE(client_->remove(*api::find_kind("v1", "Node"), "", "node-it").is_ok());
  ASSERT_TRUE(r.update_status().is_ok());
  EXPECT_EQ(ready_status(), "True");
}

}  // namespace
}  // namespace minik8s::agent
