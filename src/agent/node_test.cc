#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "node.h"

namespace minik8s::agent {
namespace {

using api::Json;

NodeConfig config() {
  NodeConfig c;
  c.node_name = "n1";
  c.node_ip = "10.0.0.7";
  c.roles = {"control-plane", "worker"};
  c.labels = {{"zone", "a"}};
  c.taints = {{"dedicated", "infra", "NoSchedule"}, {"maint", "", "NoExecute"}};
  c.max_pods = 42;
  return c;
}

HostInfo host() {
  HostInfo h;
  h.hostname = "box";
  h.cpu_millis = 2000;
  h.memory_bytes = 8LL * 1024 * 1024 * 1024;
  h.ephemeral_storage_bytes = 100LL * 1024 * 1024 * 1024;
  h.kernel_version = "6.1.0-test";
  h.os_image = "Debian GNU/Linux 12 (bookworm)";
  h.machine_id = "abc";
  h.boot_id = "boot-1";
  return h;
}

SysTime at(int64_t secs) { return SysTime(std::chrono::seconds(secs)); }

const Json* find_condition(const Json& status, const std::string& type) {
  for (const auto& c : status["conditions"]) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

TEST(BuildNode, MetadataSpecAndStatus) {
  RuntimeState rs{true, "", "containerd://1.6.20"};
  Json n = build_node(config(), host(), rs, 10250, at(1'800'000'000));
  EXPECT_EQ(n["apiVersion"], "v1");
  EXPECT_EQ(n["kind"], "Node");
  EXPECT_EQ(n["metadata"]["name"], "n1");
  const Json& l = n["metadata"]["labels"];
  EXPECT_EQ(l["kubernetes.io/hostname"], "n1");
  EXPECT_EQ(l["kubernetes.io/os"], "linux");
  EXPECT_EQ(l["kubernetes.io/arch"], "amd64");
  EXPECT_EQ(l["node-role.kubernetes.io/control-plane"], "");
  EXPECT_EQ(l["node-role.kubernetes.io/worker"], "");
  EXPECT_EQ(l["zone"], "a");
  ASSERT_EQ(n["spec"]["taints"].size(), 2u);
  EXPECT_EQ(n["spec"]["taints"][0],
            Json({{"key", "dedicated"}, {"value", "infra"}, {"effect", "NoSchedule"}}));
  EXPECT_FALSE(n["spec"]["taints"][1].contains("value"));

  const Json& s = n["status"];
  EXPECT_EQ(s["capacity"]["cpu"], "2");
  EXPECT_EQ(s["capacity"]["memory"], "8388608Ki");
  EXPECT_EQ(s["capacity"]["pods"], "42");
  EXPECT_EQ(s["capacity"]["ephemeral-storage"], "104857600Ki");
  EXPECT_FALSE(s["capacity"].contains("nvidia.com/gpu"));
  EXPECT_EQ(s["allocatable"], s["capacity"]);
  EXPECT_EQ(s["addresses"], Json::parse(R"([{"type":"InternalIP","address":"10.0.0.7"},
                                            {"type":"Hostname","address":"n1"}])"));
  EXPECT_EQ(s["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  const Json& ni = s["nodeInfo"];
  EXPECT_EQ(ni["kubeletVersion"], "v1.32.0-minik8s");
  EXPECT_EQ(ni["containerRuntimeVersion"], "containerd://1.6.20");
  EXPECT_EQ(ni["kernelVersion"], "6.1.0-test");
  EXPECT_EQ(ni["osImage"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ni["operatingSystem"], "linux");
  EXPECT_EQ(ni["architecture"], "amd64");
  EXPECT_EQ(ni["machineID"], "abc");
  EXPECT_EQ(ni["bootID"], "boot-1");
  ASSERT_EQ(s["conditions"].size(), 4u);
  const Json* ready = find_condition(s, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["status"], "True");
  EXPECT_EQ((*ready)["reason"], "KubeletReady");
  EXPECT_EQ((*ready)["message"], "kubelet is posting ready status");
  EXPECT_EQ((*ready)["lastHeartbeatTime"], format_rfc3339(at(1'800'000'000)));
  for (const char* t : {"MemoryPressure", "DiskPressure", "PIDPressure"}) {
    const Json* c = find_condition(s, t);
    ASSERT_NE(c, nullptr) << t;
    EXPECT_EQ((*c)["status"], "False") << t;
  }
}

TEST(BuildNode, NoTaintsNoTaintField) {
  NodeConfig c = config();
  c.taints.clear();
  Json n = build_node(c, host(), RuntimeState{true, "", "containerd://1.6.20"}, 1, at(0));
  EXPECT_FALSE(n["spec"].contains("taints"));
}

TEST(BuildNode, GpuAndMillicores) {
  HostInfo h = host();
  h.gpus = 2;
  h.cpu_millis = 1500;
  Json s = build_node_status(config(), h, RuntimeState{true, "", "x"}, 1, at(0), Json());
  EXPECT_EQ(s["capacity"]["nvidia.com/gpu"], "2");
  EXPECT_EQ(s["capacity"]["cpu"], "1500m");
}

TEST(BuildNode, NotReadyWhenRuntimeDownAndTransitionTimes) {
  RuntimeState up{true, "", "containerd://1.6.20"};
  RuntimeState down{false, "container runtime is down: connection refused", ""};
  Json s1 = build_node_status(config(), host(), up, 1, at(100), Json());
  // Same state later: heartbeat moves, transition stays.
  Json s2 = build_node_status(config(), host(), up, 1, at(200), s1);
  EXPECT_EQ((*find_condition(s2, "Ready"))["lastTransitionTime"], format_rfc3339(at(100)));
  EXPECT_EQ((*find_condition(s2, "Ready"))["lastHeartbeatTime"], format_rfc3339(at(200)));
  // Runtime goes away: Ready False, new transition, runtime version kept.
  Json s3 = build_node_status(config(), host(), down, 1, at(300), s2);
  const Json& r3 = *find_condition(s3, "Ready");
  EXPECT_EQ(r3["status"], "False");
  EXPECT_EQ(r3["reason"], "KubeletNotReady");
  EXPECT_EQ(r3["message"], "container runtime is down: connection refused");
  EXPECT_EQ(r3["lastTransitionTime"], format_rfc3339(at(300)));
  EXPECT_EQ(s3["nodeInfo"]["containerRuntimeVersion"], "containerd://1.6.20");
  EXPECT_EQ((*find_condition(s3, "MemoryPressure"))["lastTransitionTime"], format_rfc3339(at(100)));
}

TEST(BuildLease, Fields) {
  Json l = build_lease("n1", "uid-1", SysTime(std::chrono::microseconds(1'800'000'000'123456LL)));
  EXPECT_EQ(l["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(l["kind"], "Lease");
  EXPECT_EQ(l["metadata"]["name"], "n1");
  EXPECT_EQ(l["metadata"]["namespace"], "kube-node-lease");
  EXPECT_EQ(l["metadata"]["ownerReferences"][0],
            Json({{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "n1"}, {"uid", "uid-1"}}));
  EXPECT_EQ(l["spec"]["holderIdentity"], "n1");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 40);
  EXPECT_EQ(l["spec"]["renewTime"], "2027-01-15T08:00:00.123456Z");
  EXPECT_FALSE(build_lease("n1", "", at(0))["metadata"].contains("ownerReferences"));
}

// nvidia-smi as a fake: its output, or a failure when unset.
class FakeSmi : public kubelet::CommandRunner {
 public:
  Result<std::string> run(const std::vector<std::string>& argv) override {
    ++calls;
    if (argv != std::vector<std::string>{"nvidia-smi", "-L"}) return internal_error("unexpected command");
    if (output.empty()) return internal_error("nvidia-smi could not be run");
    return output;
  }
  std::string output;
  int calls = 0;
};

TEST(NodeGpus, AutoZeroAndN) {
  auto root = std::filesystem::temp_directory_path() /
              ("mk-agent-gpu-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(root / "dev");
  for (const char* f : {"nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"}) std::ofstream(root / "dev" / f) << "";
  FakeSmi smi;
  kubelet::GpuProbe probe(root.string(), smi);
  NodeConfig c = config();
  // auto, nvidia-smi absent: the device nodes (nvidia0, nvidia1 — not nvidiactl / nvidia-uvm).
  auto g = node_gpus(c, probe);
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  EXPECT_EQ(g->size(), 2u);
  // auto with nvidia-smi: its list.
  smi.output = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n";
  g = node_gpus(c, probe);
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].name, "NVIDIA H100 80GB HBM3");
  // 0: nothing, nvidia-smi not even run.
  int calls = smi.calls;
  c.gpus = 0;
  EXPECT_TRUE(node_gpus(c, probe)->empty());
  EXPECT_EQ(smi.calls, calls);
  // N: the first N; more than found is an error naming the field.
  smi.output.clear();
  c.gpus = 1;
  g = node_gpus(c, probe);
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].minor, 0);
  c.gpus = 3;
  g = node_gpus(c, probe);
  ASSERT_FALSE(g.is_ok());
  EXPECT_NE(g.status().message().find("\"gpus\": 3 asked for, 2 NVIDIA GPU(s) found"), std::string::npos)
      << g.status().message();
  std::filesystem::remove_all(root);
  // No GPU anywhere: auto gives none, so the Node advertises none.
  kubelet::GpuProbe empty(root.string(), smi);
  c.gpus = NodeConfig::kGpusAuto;
  EXPECT_TRUE(node_gpus(c, empty)->empty());
}

TEST(ProbeHost, ReadsThisMachine) {
  HostInfo h = probe_host("/tmp/does/not/exist/yet");
  EXPECT_EQ(h.gpus, 0);  // GPUs come from node_gpus
  EXPECT_GE(h.cpu_millis, 1000);
  EXPECT_GT(h.memory_bytes, 64LL * 1024 * 1024);
  EXPECT_GT(h.ephemeral_storage_bytes, 0);
  EXPECT_FALSE(h.kernel_version.empty());
  EXPECT_FALSE(h.os_image.empty());
  EXPECT_FALSE(h.boot_id.empty());
}

}  // namespace
}  // namespace minik8s::agent
