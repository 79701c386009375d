// sandbox_config: the pod → CRI PodSandboxConfig mapping.
#include "sandbox.h"

#include <gtest/gtest.h>

namespace minik8s::kubelet {
namespace {

json pod(bool host_network) {
  json p = {{"metadata", {{"name", "sub"}, {"namespace", "jobs"}}},
            {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "x"}}})}}}};
  if (host_network) p["spec"]["hostNetwork"] = true;
  return p;
}

TEST(SandboxConfig, PodNetworkGetsThePodNameAsHostname) {
  KubeletOptions opts;
  auto c = sandbox_config(pod(false), "u1", 0, opts, "/minik8s/n/podu1");
  EXPECT_FALSE(c.host_network);
  EXPECT_EQ(c.hostname, "sub");
}

// runc refuses a hostname without a private UTS namespace, and containerd
// gives a host-network sandbox none: such a pod keeps the node's hostname.
TEST(SandboxConfig, HostNetworkPodSetsNoHostname) {
  KubeletOptions opts;
  json p = pod(true);
  p["spec"]["hostname"] = "ignored";
  auto c = sandbox_config(p, "u1", 0, opts, "/minik8s/n/podu1");
  EXPECT_TRUE(c.host_network);
  EXPECT_EQ(c.hostname, "");
}

}  // namespace
}  // namespace minik8s::kubelet
