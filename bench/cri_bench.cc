// cri_bench: the raw-CRI baseline for pod start-up latency.
//
//   cri_bench SOCKET IMAGE [N=30]
//   cri_bench --data-dir DIR IMAGE [N=30]
//
// The second form starts its own ManagedContainerd under DIR (a fresh,
// private containerd), imports pause + busybox built offline (mk_images),
// runs the benchmark and stops containerd again (DIR is left for inspection
// or `rm -rf`; pass a temp dir).
// For each of N sequential pods: RunPodSandbox + CreateContainer +
// StartContainer through GrpcRuntime (the kubelet's own CRI client), timed
// from the first call to StartContainer's return; the pod is then stopped and
// removed (not timed). The image (and the runtime's sandbox image) must already
// be present. Prints one JSON line:
//   {"bench":"cri_pod_start","n":N,"image":...,"p50_ms":...,"p99_ms":...,
//    "mean_ms":...,"min_ms":...,"max_ms":...,"sandbox_p50_ms":...,
//    "create_p50_ms":...,"start_p50_ms":...}
// Exit status 1 (with the runtime's message on stderr) when a call fails.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/cri/containerd.h"
#include "minik8s/cri/grpc_runtime.h"
#include "minik8s/images/images.h"

namespace {

using Clock = std::chrono::steady_clock;
using minik8s::cri::ContainerConfig;
using minik8s::cri::SandboxConfig;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<minik8s::cri::ManagedContainerd> managed;
  if (argc >= 2 && std::string(argv[1]) == "--data-dir") {
    if (argc < 4) {
      std::fprintf(stderr, "usage: %s --data-dir DIR IMAGE [N=30]\n", argv[0]);
      return 2;
    }
    minik8s::cri::ContainerdOptions co;
    co.data_dir = argv[2];
    co.sandbox_image = minik8s::images::image_ref("pause");
    co.pod_cidr = "10.252.0.0/24";
    managed = std::make_unique<minik8s::cri::ManagedContainerd>(co);
    if (auto st = managed->start(); !st) {
      std::fprintf(stderr, "starting containerd: %s\n", st.to_string().c_str());
      return 1;
    }
    for (const char* name : {"pause", "busybox"}) {
      auto b = minik8s::images::build_image(name, std::string(argv[2]) + "/images");
      if (!b) {
        std::fprintf(stderr, "building %s: %s\n", name, b.status().message().c_str());
        return 1;
      }
      if (auto st = minik8s::images::import_archive(b->archive, managed->socket_path()); !st) {
        std::fprintf(stderr, "importing %s: %s\n", name, st.message().c_str());
        return 1;
      }
    }
    static std::string sock;
    sock = managed->socket_path();
    argv[2] = sock.data();
    ++argv;
    --argc;
  }
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s SOCKET IMAGE [N=30]\n       %s --data-dir DIR IMAGE [N=30]\n",
                 argv[0], argv[0]);
    return 2;
  }
  const std::string socket = argv[1];
  const std::string image = argv[2];
  const int n = argc == 4 ? std::atoi(argv[3]) : 30;
  if (n <= 0) {
    std::fprintf(stderr, "N must be positive\n");
    return 2;
  }
  minik8s::cri::GrpcRuntimeOptions o;
  o.endpoint = socket.rfind("unix:", 0) == 0 ? socket : "unix://" + socket;
  o.call_timeout = std::chrono::seconds(60);
  auto rt = minik8s::cri::make_grpc_runtime(o);
  if (!rt) {
    std::fprintf(stderr, "%s\n", rt.status().to_string().c_str());
    return 2;
  }
  auto& runtime = **rt;
  if (auto img = runtime.image_status(image); !img || !img->has_value()) {
    std::fprintf(stderr, "image %s is not present in %s%s\n", image.c_str(), socket.c_str(),
                 img ? "" : (": " + img.status().message()).c_str());
    return 1;
  }
  std::string logs = "/tmp/minik8s-cri-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(logs);

  std::vector<double> total, sandbox, create, start;
  int rc = 0;
  for (int i = 0; i < n && rc == 0; ++i) {
    SandboxConfig sc;
    sc.name = "cri-bench-" + std::to_string(i);
    sc.uid = "cri-bench-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    sc.namespace_ = "default";
    sc.hostname = sc.name;
    sc.log_directory = logs + "/" + sc.uid;
    sc.labels = {{"minik8s.io/bench", "cri"}};
    ContainerConfig cc;
    cc.name = "main";
    cc.image = image;
    cc.command = {"sleep", "3600"};
    cc.log_path = "main/0.log";

    const auto t0 = Clock::now();
    auto sb = runtime.run_pod_sandbox(sc);
    if (!sb) {
      std::fprintf(stderr, "RunPodSandbox: %s\n", sb.status().to_string().c_str());
      rc = 1;
      break;
    }
    const auto t1 = Clock::now();
    auto cid = runtime.create_container(*sb, cc, sc);
    const auto t2 = Clock::now();
    minik8s::Status st = cid ? runtime.start_container(*cid) : cid.status();
    const auto t3 = Clock::now();
    if (!st) {
      std::fprintf(stderr, "CreateContainer/StartContainer: %s\n", st.to_string().c_str());
      rc = 1;
    } else {
      total.push_back(ms(t3 - t0));
      sandbox.push_back(ms(t1 - t0));
      create.push_back(ms(t2 - t1));
      start.push_back(ms(t3 - t2));
    }
    if (cid) (void)runtime.remove_container(*cid);  // removes a running container too (force)
    (void)runtime.stop_pod_sandbox(*sb);
    (void)runtime.remove_pod_sandbox(*sb);
  }
  std::error_code ec;
  std::filesystem::remove_all(logs, ec);
  if (managed) {
    // Our containerd and the CNI bridge it made go; DIR stays.
    const std::string bridge = managed->cni_bridge();
    managed->stop();
    if (bridge.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos &&
        std::filesystem::exists("/sys/class/net/" + bridge)) {
      (void)std::system(("ip link del " + bridge).c_str());
    }
  }
  if (rc != 0) return rc;

  double sum = 0;
  for (double v : total) sum += v;
  std::printf(
      "{\"bench\":\"cri_pod_start\",\"n\":%d,\"image\":\"%s\",\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
      "\"mean_ms\":%.1f,"
      "\"min_ms\":%.1f,\"max_ms\":%.1f,\"sandbox_p50_ms\":%.1f,\"create_p50_ms\":%.1f,\"start_p50_"
      "ms\":%.1f}\n",
      n, image.c_str(), percentile(total, 50), percentile(total, 99),
      sum / static_cast<double>(total.size()), *std::min_element(total.begin(), total.end()),
      *std::max_element(total.begin(), total.end()), percentile(sandbox, 50),
      percentile(create, 50), percentile(start, 50));
  return 0;
}
