// The labels and annotations the kubelet puts on what it creates in the
// runtime. They are how a restarted kubelet finds (adopts) its sandboxes and
// containers and how several nodes share one runtime: every sandbox and
// container carries kNodeLabel = node name and the pod's uid.
#pragma once

namespace minik8s::kubelet {

inline constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
inline constexpr const char* kPodNamespaceLabel = "io.kubernetes.pod.namespace";
inline constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
inline constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";
inline constexpr const char* kNodeLabel = "minik8s.io/node";
// "init" for init containers, "regular" otherwise.
inline constexpr const char* kContainerTypeLabel = "minik8s.io/container-type";

inline constexpr const char* kRestartCountAnnotation = "io.kubernetes.container.restartCount";
// Hash of the container's spec: a changed spec restarts the container.
inline constexpr const char* kHashAnnotation = "io.kubernetes.container.hash";

}  // namespace minik8s::kubelet
