// GPU discovery on a fake host tree with a fake nvidia-smi, the allocation
// table, and the exact CRI devices / mounts / env a GPU container gets.
#include "minik8s/kubelet/gpu.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace minik8s::kubelet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class FakeRunner : public CommandRunner {
 public:
  Result<std::string> run(const std::vector<std::string>& argv) override {
    calls.push_back(argv);
    if (!output) return internal_error("nvidia-smi could not be run");
    return *output;
  }
  std::optional<std::string> output;
  std::vector<std::vector<std::string>> calls;
};

class GpuProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("mk-gpu-test-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void file(const std::string& rel, const std::string& text = "x") {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void link(const std::string& rel, const std::string& target) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    fs::create_symlink(target, p);
  }
  // Two GPUs, the control nodes but nvidia-modeset, a driver in the
  // multiarch dir, a duplicate in lib64, one more in /usr/local/nvidia.
  void driver_tree() {
    file("dev/nvidia0");
    file("dev/nvidia1");
    file("dev/nvidiactl");
    file("dev/nvidia-uvm");
    file("dev/nvidia-uvm-tools");
    fs::create_directories(root_ / "dev/nvidia-caps");
    file("usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05");
    link("usr/lib/x86_64-linux-gnu/libcuda.so.1", "libcuda.so.535.104.05");
    link("usr/lib/x86_64-linux-gnu/libcuda.so", "libcuda.so.1");
    file("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05");
    link("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", "libnvidia-ml.so.535.104.05");
    link("usr/lib/x86_64-linux-gnu/libnvidia-dangling.so", "libnvidia-gone.so.1");
    file("usr/lib/x86_64-linux-gnu/libc.so.6");
    file("usr/lib/x86_64-linux-gnu/libcudart.so.12");
    file("usr/lib64/libnvidia-ml.so.1");
    file("usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.1");
    file("usr/bin/nvidia-smi");
  }
  fs::path root_;
  FakeRunner runner_;
};

TEST(NvidiaSmi, ParsesListOutput) {
  auto d = parse_nvidia_smi_list(
      "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5f1c2a3b-0000-1111-2222-333344445555)\n"
      "  MIG 1g.10gb     Device  0: (UUID: MIG-aaaa)\n"
      "GPU 1: Tesla T4 (UUID: GPU-b2)\n"
      "GPU 7: NVIDIA A100-SXM4-40GB\r\n"
      "No devices were found\n");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0],
            (GpuDevice{0, 0, "NVIDIA H100 80GB HBM3", "GPU-5f1c2a3b-0000-1111-2222-333344445555"}));
  EXPECT_EQ(d[1], (GpuDevice{1, 1, "Tesla T4", "GPU-b2"}));
  EXPECT_EQ(d[2], (GpuDevice{7, 7, "NVIDIA A100-SXM4-40GB", ""}));
  EXPECT_TRUE(parse_nvidia_smi_list("No devices were found\n").empty());
  EXPECT_TRUE(parse_nvidia_smi_list("").empty());
}

TEST_F(GpuProbeTest, NoDriverNoGpus) {
  GpuProbe probe(root_.string(), runner_);
  EXPECT_TRUE(probe.devices().empty());
  GpuHostFiles f = probe.host_files();
  EXPECT_TRUE(f.control_devices.empty());
  EXPECT_TRUE(f.libraries.empty());
  EXPECT_EQ(f.nvidia_smi, "");
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0], (std::vector<std::string>{"nvidia-smi", "-L"}));
}

TEST_F(GpuProbeTest, DeviceNodesWhenNvidiaSmiFails) {
  driver_tree();
  file("dev/nvidia10");
  GpuProbe probe(root_.string() + "/", runner_);
  auto d = probe.devices();
  ASSERT_EQ(d.size(), 3u);  // nvidiactl, nvidia-uvm*, nvidia-caps are not GPUs
  EXPECT_EQ(d[0], (GpuDevice{0, 0, "", ""}));
  EXPECT_EQ(d[1], (GpuDevice{1, 1, "", ""}));
  EXPECT_EQ(d[2], (GpuDevice{10, 10, "", ""}));
  // nvidia-smi answering "no devices" also falls back to /dev.
  runner_.output = "No devices were found\n";
  EXPECT_EQ(probe.devices().size(), 3u);
}

TEST_F(GpuProbeTest, NvidiaSmiWinsAndMinorsComeFromTheDriver) {
  driver_tree();
  runner_.output = "GPU 0: NVIDIA H100 (UUID: GPU-aaa)\nGPU 1: NVIDIA H100 (UUID: GPU-bbb)\n";
  // The driver numbers the device nodes the other way round.
  file("proc/driver/nvidia/gpus/0000:3b:00.0/information",
       "Model: \t\t NVIDIA H100\nIRQ:   \t\t 100\nGPU UUID: \t GPU-aaa\nDevice Minor: \t 1\n");
  file("proc/driver/nvidia/gpus/0000:86:00.0/information",
       "GPU UUID: \t GPU-bbb\nDevice Minor: \t 0\n");
  GpuProbe probe(root_.string(), runner_);
  auto d = probe.devices();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0], (GpuDevice{0, 1, "NVIDIA H100", "GPU-aaa"}));
  EXPECT_EQ(d[1], (GpuDevice{1, 0, "NVIDIA H100", "GPU-bbb"}));
}

TEST_F(GpuProbeTest, HostFilesAndTheExactContainerConfig) {
  driver_tree();
  GpuProbe probe(root_.string(), runner_);
  GpuHostFiles f = probe.host_files();
  EXPECT_EQ(f.control_devices, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia-uvm",
                                                         "/dev/nvidia-uvm-tools"}));
  EXPECT_EQ(f.libraries, (std::vector<std::string>{
                             "/usr/lib/x86_64-linux-gnu/libcuda.so",
                             "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                             "/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05",
                             "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
                             "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05",
                             "/usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.1",
                         }));
  EXPECT_EQ(f.nvidia_smi, "/usr/bin/nvidia-smi");

  GpuContainerConfig cc = gpu_container_config({GpuDevice{1, 1, "", ""}}, f);
  ASSERT_EQ(cc.devices.size(), 4u);
  auto dev = [](const cri::Device& d) {
    return d.container_path + "|" + d.host_path + "|" + d.permissions;
  };
  EXPECT_EQ(dev(cc.devices[0]), "/dev/nvidia1|/dev/nvidia1|rwm");
  EXPECT_EQ(dev(cc.devices[1]), "/dev/nvidiactl|/dev/nvidiactl|rwm");
  EXPECT_EQ(dev(cc.devices[2]), "/dev/nvidia-uvm|/dev/nvidia-uvm|rwm");
  EXPECT_EQ(dev(cc.devices[3]), "/dev/nvidia-uvm-tools|/dev/nvidia-uvm-tools|rwm");
  std::vector<std::string> mounts;
  for (const auto& m : cc.mounts) {
    mounts.push_back(m.container_path + "<-" + m.host_path + (m.readonly ? " ro" : " rw"));
  }
  EXPECT_EQ(mounts,
            (std::vector<std::string>{
                "/usr/lib/x86_64-linux-gnu/libcuda.so<-/usr/lib/x86_64-linux-gnu/libcuda.so ro",
                "/usr/lib/x86_64-linux-gnu/libcuda.so.1<-/usr/lib/x86_64-linux-gnu/libcuda.so.1 ro",
                "/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05<-"
                "/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05 ro",
                "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1<-/usr/lib/x86_64-linux-gnu/"
                "libnvidia-ml.so.1 ro",
                "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05<-"
                "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05 ro",
                "/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1<-"
                "/usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.1 ro",
                "/usr/bin/nvidia-smi<-/usr/bin/nvidia-smi ro",
            }));
  ASSERT_EQ(cc.envs.size(), 1u);
  EXPECT_EQ(cc.envs[0].key, "NVIDIA_VISIBLE_DEVICES");
  EXPECT_EQ(cc.envs[0].value, "1");

  // Two GPUs whose minors differ from their indices; no GPUs → nothing at all.
  cc = gpu_container_config({GpuDevice{0, 3, "", ""}, GpuDevice{2, 5, "", ""}}, f);
  EXPECT_EQ(dev(cc.devices[0]), "/dev/nvidia3|/dev/nvidia3|rwm");
  EXPECT_EQ(dev(cc.devices[1]), "/dev/nvidia5|/dev/nvidia5|rwm");
  EXPECT_EQ(cc.envs[0].value, "0,2");
  cc = gpu_container_config({}, f);
  EXPECT_TRUE(cc.devices.empty() && cc.mounts.empty() && cc.envs.empty());
}

json pod_with(json containers, json init = json::array()) {
  return {{"spec", {{"containers", std::move(containers)}, {"initContainers", std::move(init)}}}};
}
json gpu_container(const std::string& name, json n) {
  json c = {{"name", name}, {"image", "x"}};
  if (!n.is_null()) c["resources"] = {{"limits", {{"nvidia.com/gpu", n}}}};
  return c;
}

TEST(GpuCounts, PodCountAndSlices) {
  json pod = pod_with({gpu_container("a", "2"), gpu_container("b", nullptr), gpu_container("c", 1)},
                      {gpu_container("i", "1"), gpu_container("j", "3")});
  EXPECT_EQ(container_gpu_count(pod["spec"]["containers"][0]), 2);
  EXPECT_EQ(container_gpu_count(pod["spec"]["containers"][1]), 0);
  EXPECT_EQ(pod_gpu_count(pod), 3);  // max(sum 3, largest init 3)
  std::vector<int> held = {1, 4, 6};
  EXPECT_EQ(gpu_slice(pod, "a", held), (std::vector<int>{1, 4}));
  EXPECT_TRUE(gpu_slice(pod, "b", held).empty());
  EXPECT_EQ(gpu_slice(pod, "c", held), (std::vector<int>{6}));
  EXPECT_EQ(gpu_slice(pod, "i", held), (std::vector<int>{1}));
  EXPECT_EQ(gpu_slice(pod, "j", held), (std::vector<int>{1, 4, 6}));
  EXPECT_TRUE(gpu_slice(pod, "a", {1}).empty());  // too few: nothing, never a shared one
  EXPECT_EQ(pod_gpu_count(pod_with({gpu_container("a", "1")}, {gpu_container("i", "4")})), 4);
  // Requests alone count too; fractions and garbage count as none.
  json r = {{"name", "r"}, {"resources", {{"requests", {{"nvidia.com/gpu", "2"}}}}}};
  EXPECT_EQ(container_gpu_count(r), 2);
  EXPECT_EQ(container_gpu_count(gpu_container("f", "500m")), 0);
  EXPECT_EQ(container_gpu_count(gpu_container("g", "lots")), 0);
  EXPECT_EQ(container_gpu_count(gpu_container("h", true)), 0);
  EXPECT_EQ(pod_gpu_count(json()), 0);
}

TEST(GpuIndices, FormatAndParse) {
  EXPECT_EQ(format_gpu_indices({0, 2, 10}), "0,2,10");
  EXPECT_EQ(*parse_gpu_indices("0,2,10"), (std::vector<int>{0, 2, 10}));
  EXPECT_TRUE(parse_gpu_indices("")->empty());
  for (const char* bad : {"0,,1", "a", "-1", "1 ,2", "0,", "99999999"}) {
    EXPECT_FALSE(parse_gpu_indices(bad).is_ok()) << bad;
  }
}

std::vector<GpuDevice> gpus(int n) {
  std::vector<GpuDevice> out;
  for (int i = 0; i < n; ++i) out.push_back({i, i, "", ""});
  return out;
}

TEST(GpuAllocatorTest, NeverGivesOneGpuToTwoPods) {
  GpuAllocator a(gpus(3));
  auto p1 = a.allocate("pod-1", 2);
  ASSERT_TRUE(p1.is_ok());
  EXPECT_EQ(*p1, (std::vector<int>{0, 1}));
  EXPECT_EQ(*a.allocate("pod-1", 2), (std::vector<int>{0, 1}));  // idempotent
  auto p2 = a.allocate("pod-2", 2);
  ASSERT_FALSE(p2.is_ok());
  EXPECT_EQ(p2.status().code(), Code::kUnavailable);
  EXPECT_EQ(p2.status().message(),
            "Node didn't have enough resource: nvidia.com/gpu, requested: 2, used: 2, capacity: 3");
  EXPECT_EQ(*a.allocate("pod-3", 1), (std::vector<int>{2}));
  EXPECT_TRUE(a.allocate("pod-4", 0)->empty());
  EXPECT_EQ(a.used(), 3u);
  a.release("pod-1");
  EXPECT_TRUE(a.held("pod-1").empty());
  EXPECT_EQ(*a.allocate("pod-2", 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(a.table(), (std::map<int, std::string>{{0, "pod-2"}, {1, "pod-2"}, {2, "pod-3"}}));
  EXPECT_FALSE(GpuAllocator().allocate("p", 1).is_ok());  // a node without GPUs
}

TEST(GpuAllocatorTest, RestoreKeepsWhatRunsAndDropsConflicts) {
  GpuAllocator a(gpus(4));
  a.restore("pod-a", {2, 3});
  a.restore("pod-b", {3, 9, 0});  // 3 is pod-a's, 9 does not exist
  EXPECT_EQ(a.held("pod-a"), (std::vector<int>{2, 3}));
  EXPECT_EQ(a.held("pod-b"), (std::vector<int>{0}));
  EXPECT_EQ(*a.allocate("pod-a", 2), (std::vector<int>{2, 3}));  // admission after a restart
  EXPECT_EQ(*a.allocate("pod-c", 1), (std::vector<int>{1}));
  EXPECT_FALSE(a.allocate("pod-d", 1).is_ok());
}

TEST(GpuAllocatorTest, ConcurrentPodsGetDisjointGpus) {
  GpuAllocator a(gpus(8));
  std::vector<std::thread> threads;
  std::vector<std::vector<int>> got(16);
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      auto r = a.allocate("pod-" + std::to_string(t), 1);
      if (r) got[static_cast<size_t>(t)] = *r;
    });
  }
  for (auto& th : threads) th.join();
  std::set<int> seen;
  size_t winners = 0;
  for (const auto& g : got) {
    for (int i : g) EXPECT_TRUE(seen.insert(i).second) << "GPU " << i << " given twice";
    winners += !g.empty();
  }
  EXPECT_EQ(winners, 8u);
  EXPECT_EQ(seen.size(), 8u);
}

TEST(CommandRunnerTest, RunsAndReportsFailures) {
  auto r = make_command_runner(std::chrono::seconds(5));
  auto ok = r->run({"sh", "-c", "echo GPU 0: fake"});
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(*ok, "GPU 0: fake\n");
  EXPECT_FALSE(r->run({"sh", "-c", "exit 6"}).is_ok());
  auto missing = r->run({"mk-no-such-program-for-gpu-test"});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("could not be run"), std::string::npos);
  auto slow = make_command_runner(std::chrono::milliseconds(100))->run({"sleep", "5"});
  ASSERT_FALSE(slow.is_ok());
  EXPECT_EQ(slow.status().code(), Code::kTimeout);
}

}  // namespace
}  // namespace minik8s::kubelet
