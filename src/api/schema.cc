// The field schemas of the served kinds (see schema.h). Generous on purpose:
// every field a Kubernetes object of the kind may legally carry is listed,
// status included, so that valid kubectl output is never "unknown".
#include "schema.h"

#include <deque>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>

namespace minik8s::api::schema {

const Node* Node::prop(const std::string& key) const {
  for (const auto& [k, v] : props) {
    if (k == key) return v;
  }
  return nullptr;
}

namespace {

using Props = std::initializer_list<std::pair<std::string, const Node*>>;

class Builder {
 public:
  const Node* leaf(Type t) {
    Node& n = arena_.emplace_back();
    n.type = t;
    return &n;
  }
  const Node* obj(const std::string& name, Props props, const std::string& description = "") {
    Node& n = arena_.emplace_back();
    n.type = Type::kObject;
    n.name = name;
    n.description = description;
    n.props.assign(props.begin(), props.end());
    return &n;
  }
  const Node* arr(const Node* elem) {
    Node& n = arena_.emplace_back();
    n.type = Type::kArray;
    n.elem = elem;
    return &n;
  }
  const Node* map(const Node* elem) {
    Node& n = arena_.emplace_back();
    n.type = Type::kMap;
    n.elem = elem;
    return &n;
  }
  Node* root(const std::string& name, const std::string& group, const std::string& version,
             const std::string& kind, Props props, const std::string& description) {
    Node& n = arena_.emplace_back();
    n.type = Type::kObject;
    n.name = name;
    n.group = group;
    n.version = version;
    n.kind = kind;
    n.description = description;
    n.props.assign(props.begin(), props.end());
    return &n;
  }

 private:
  std::deque<Node> arena_;  // stable addresses
};

struct Registry {
  std::map<std::string, const Node*> by_kind;  // "group/Kind"
};

// Nodes live in a builder that is never destroyed (the registry is a static).
Registry build(Builder& b) {
  Registry r;
  const Node* S = b.leaf(Type::kString);
  const Node* I = b.leaf(Type::kInteger);
  const Node* N = b.leaf(Type::kNumber);
  const Node* B = b.leaf(Type::kBoolean);
  const Node* IOS = b.leaf(Type::kIntOrString);
  const Node* ANY = b.leaf(Type::kAny);
  const Node* SA = b.arr(S);
  const Node* SMAP = b.map(S);
  const Node* QMAP = b.map(IOS);
  const Node* ANYA = b.arr(ANY);

  const std::string meta = "io.k8s.apimachinery.pkg.apis.meta.v1.";
  const std::string core = "io.k8s.api.core.v1.";

  const Node* owner_ref = b.obj(meta + "OwnerReference", {{"apiVersion", S},
                                                          {"kind", S},
                                                          {"name", S},
                                                          {"uid", S},
                                                          {"controller", B},
                                                          {"blockOwnerDeletion", B}});
  const Node* managed = b.obj(meta + "ManagedFieldsEntry", {{"manager", S},
                                                            {"operation", S},
                                                            {"apiVersion", S},
                                                            {"time", S},
                                                            {"fieldsType", S},
                                                            {"fieldsV1", ANY},
                                                            {"subresource", S}});
  const Node* object_meta = b.obj(meta + "ObjectMeta",
                                  {{"name", S},
                                   {"generateName", S},
                                   {"namespace", S},
                                   {"selfLink", S},
                                   {"uid", S},
                                   {"resourceVersion", S},
                                   {"generation", I},
                                   {"creationTimestamp", S},
                                   {"deletionTimestamp", S},
                                   {"deletionGracePeriodSeconds", I},
                                   {"labels", SMAP},
                                   {"annotations", SMAP},
                                   {"ownerReferences", b.arr(owner_ref)},
                                   {"finalizers", SA},
                                   {"managedFields", b.arr(managed)}},
                                  "Standard object's metadata.");
  const Node* label_selector =
      b.obj(meta + "LabelSelector",
            {{"matchLabels", SMAP},
             {"matchExpressions", b.arr(b.obj(meta + "LabelSelectorRequirement",
                                              {{"key", S}, {"operator", S}, {"values", SA}}))}},
            "A label query over a set of resources.");
  const Node* condition = b.obj("", {{"type", S},
                                     {"status", S},
                                     {"observedGeneration", I},
                                     {"lastProbeTime", S},
                                     {"lastHeartbeatTime", S},
                                     {"lastUpdateTime", S},
                                     {"lastTransitionTime", S},
                                     {"reason", S},
                                     {"message", S}});
  const Node* conditions = b.arr(condition);
  const Node* object_ref = b.obj(core + "ObjectReference", {{"kind", S},
                                                            {"namespace", S},
                                                            {"name", S},
                                                            {"uid", S},
                                                            {"apiVersion", S},
                                                            {"resourceVersion", S},
                                                            {"fieldPath", S}});
  const Node* local_ref = b.obj(core + "LocalObjectReference", {{"name", S}});
  const Node* key_ref = b.obj("", {{"name", S}, {"key", S}, {"optional", B}});
  const Node* named_ref = b.obj("", {{"name", S}, {"optional", B}});

  // --- Pod ---
  const Node* env_var =
      b.obj(core + "EnvVar",
            {{"name", S},
             {"value", S},
             {"valueFrom",
              b.obj("", {{"fieldRef", b.obj("", {{"apiVersion", S}, {"fieldPath", S}})},
                         {"resourceFieldRef",
                          b.obj("", {{"containerName", S}, {"resource", S}, {"divisor", IOS}})},
                         {"configMapKeyRef", key_ref},
                         {"secretKeyRef", key_ref},
                         {"fileKeyRef", ANY}})}});
  const Node* env_from =
      b.obj(core + "EnvFromSource",
            {{"prefix", S}, {"configMapRef", named_ref}, {"secretRef", named_ref}});
  const Node* container_port =
      b.obj(core + "ContainerPort",
            {{"name", S}, {"hostPort", I}, {"containerPort", I}, {"protocol", S}, {"hostIP", S}});
  const Node* resources = b.obj(core + "ResourceRequirements",
                                {{"limits", QMAP},
                                 {"requests", QMAP},
                                 {"claims", b.arr(b.obj("", {{"name", S}, {"request", S}}))}});
  const Node* volume_mount = b.obj(core + "VolumeMount", {{"name", S},
                                                          {"readOnly", B},
                                                          {"recursiveReadOnly", S},
                                                          {"mountPath", S},
                                                          {"subPath", S},
                                                          {"mountPropagation", S},
                                                          {"subPathExpr", S}});
  const Node* exec_action = b.obj("", {{"command", SA}});
  const Node* http_get =
      b.obj("", {{"path", S},
                 {"port", IOS},
                 {"host", S},
                 {"scheme", S},
                 {"httpHeaders", b.arr(b.obj("", {{"name", S}, {"value", S}}))}});
  const Node* tcp_socket = b.obj("", {{"port", IOS}, {"host", S}});
  const Node* probe = b.obj(core + "Probe", {{"exec", exec_action},
                                             {"httpGet", http_get},
                                             {"tcpSocket", tcp_socket},
                                             {"grpc", b.obj("", {{"port", I}, {"service", S}})},
                                             {"initialDelaySeconds", I},
                                             {"timeoutSeconds", I},
                                             {"periodSeconds", I},
                                             {"successThreshold", I},
                                             {"failureThreshold", I},
                                             {"terminationGracePeriodSeconds", I}});
  const Node* handler = b.obj("", {{"exec", exec_action},
                                   {"httpGet", http_get},
                                   {"tcpSocket", tcp_socket},
                                   {"sleep", b.obj("", {{"seconds", I}})}});
  const Node* profile = b.obj("", {{"type", S}, {"localhostProfile", S}});
  const Node* se_linux = b.obj("", {{"user", S}, {"role", S}, {"type", S}, {"level", S}});
  const Node* security_context =
      b.obj(core + "SecurityContext", {{"capabilities", b.obj("", {{"add", SA}, {"drop", SA}})},
                                       {"privileged", B},
                                       {"seLinuxOptions", se_linux},
                                       {"windowsOptions", ANY},
                                       {"runAsUser", I},
                                       {"runAsGroup", I},
                                       {"runAsNonRoot", B},
                                       {"readOnlyRootFilesystem", B},
                                       {"allowPrivilegeEscalation", B},
                                       {"procMount", S},
                                       {"seccompProfile", profile},
                                       {"appArmorProfile", profile}});
  const Node* container = b.obj(
      core + "Container",
      {{"name", S},
       {"image", S},
       {"command", SA},
       {"args", SA},
       {"workingDir", S},
       {"ports", b.arr(container_port)},
       {"envFrom", b.arr(env_from)},
       {"env", b.arr(env_var)},
       {"resources", resources},
       {"resizePolicy", b.arr(b.obj("", {{"resourceName", S}, {"restartPolicy", S}}))},
       {"restartPolicy", S},
       {"restartPolicyRules", ANYA},
       {"volumeMounts", b.arr(volume_mount)},
       {"volumeDevices", b.arr(b.obj("", {{"name", S}, {"devicePath", S}}))},
       {"livenessProbe", probe},
       {"readinessProbe", probe},
       {"startupProbe", probe},
       {"lifecycle", b.obj("", {{"postStart", handler}, {"preStop", handler}, {"stopSignal", S}})},
       {"terminationMessagePath", S},
       {"terminationMessagePolicy", S},
       {"imagePullPolicy", S},
       {"securityContext", security_context},
       {"stdin", B},
       {"stdinOnce", B},
       {"tty", B},
       {"targetContainerName", S}},
      "A single application container that you want to run within a pod.");
  const Node* key_to_path = b.arr(b.obj("", {{"key", S}, {"path", S}, {"mode", I}}));
  const Node* volume = b.obj(
      core + "Volume",
      {{"name", S},
       {"emptyDir", b.obj("", {{"medium", S}, {"sizeLimit", IOS}})},
       {"hostPath", b.obj("", {{"path", S}, {"type", S}})},
       {"configMap",
        b.obj("", {{"name", S}, {"items", key_to_path}, {"defaultMode", I}, {"optional", B}})},
       {"secret",
        b.obj("",
              {{"secretName", S}, {"items", key_to_path}, {"defaultMode", I}, {"optional", B}})},
       {"persistentVolumeClaim", b.obj("", {{"claimName", S}, {"readOnly", B}})},
       {"nfs", b.obj("", {{"server", S}, {"path", S}, {"readOnly", B}})},
       {"projected", ANY},
       {"downwardAPI", ANY},
       {"csi", ANY},
       {"ephemeral", ANY},
       {"image", ANY},
       {"iscsi", ANY},
       {"rbd", ANY},
       {"fc", ANY},
       {"cephfs", ANY},
       {"glusterfs", ANY},
       {"awsElasticBlockStore", ANY},
       {"gcePersistentDisk", ANY},
       {"azureDisk", ANY},
       {"azureFile", ANY},
       {"gitRepo", ANY},
       {"flexVolume", ANY},
       {"flocker", ANY},
       {"vsphereVolume", ANY},
       {"quobyte", ANY},
       {"photonPersistentDisk", ANY},
       {"portworxVolume", ANY},
       {"scaleIO", ANY},
       {"storageos", ANY}});
  const Node* toleration =
      b.obj(core + "Toleration",
            {{"key", S}, {"operator", S}, {"value", S}, {"effect", S}, {"tolerationSeconds", I}});
  const Node* pod_security = b.obj(core + "PodSecurityContext",
                                   {{"seLinuxOptions", se_linux},
                                    {"windowsOptions", ANY},
                                    {"runAsUser", I},
                                    {"runAsGroup", I},
                                    {"runAsNonRoot", B},
                                    {"supplementalGroups", b.arr(I)},
                                    {"supplementalGroupsPolicy", S},
                                    {"fsGroup", I},
                                    {"sysctls", b.arr(b.obj("", {{"name", S}, {"value", S}}))},
                                    {"fsGroupChangePolicy", S},
                                    {"seccompProfile", profile},
                                    {"appArmorProfile", profile},
                                    {"seLinuxChangePolicy", S}});
  const Node* pod_spec =
      b.obj(core + "PodSpec",
            {{"volumes", b.arr(volume)},
             {"initContainers", b.arr(container)},
             {"containers", b.arr(container)},
             {"ephemeralContainers", b.arr(container)},
             {"restartPolicy", S},
             {"terminationGracePeriodSeconds", I},
             {"activeDeadlineSeconds", I},
             {"dnsPolicy", S},
             {"nodeSelector", SMAP},
             {"serviceAccountName", S},
             {"serviceAccount", S},
             {"automountServiceAccountToken", B},
             {"nodeName", S},
             {"hostNetwork", B},
             {"hostPID", B},
             {"hostIPC", B},
             {"shareProcessNamespace", B},
             {"securityContext", pod_security},
             {"imagePullSecrets", b.arr(local_ref)},
             {"hostname", S},
             {"hostnameOverride", S},
             {"subdomain", S},
             {"affinity", ANY},
             {"schedulerName", S},
             {"tolerations", b.arr(toleration)},
             {"hostAliases", b.arr(b.obj("", {{"ip", S}, {"hostnames", SA}}))},
             {"priorityClassName", S},
             {"priority", I},
             {"dnsConfig", b.obj("", {{"nameservers", SA},
                                      {"searches", SA},
                                      {"options", b.arr(b.obj("", {{"name", S}, {"value", S}}))}})},
             {"readinessGates", b.arr(b.obj("", {{"conditionType", S}}))},
             {"runtimeClassName", S},
             {"enableServiceLinks", B},
             {"preemptionPolicy", S},
             {"overhead", QMAP},
             {"topologySpreadConstraints", ANYA},
             {"setHostnameAsFQDN", B},
             {"os", b.obj("", {{"name", S}})},
             {"hostUsers", B},
             {"schedulingGates", b.arr(b.obj("", {{"name", S}}))},
             {"resourceClaims", ANYA},
             {"resources", resources}},
            "PodSpec is a description of a pod.");
  const Node* container_state_body = b.obj("", {{"reason", S},
                                                {"message", S},
                                                {"startedAt", S},
                                                {"finishedAt", S},
                                                {"exitCode", I},
                                                {"signal", I},
                                                {"containerID", S}});
  const Node* container_state =
      b.obj(core + "ContainerState", {{"waiting", container_state_body},
                                      {"running", container_state_body},
                                      {"terminated", container_state_body}});
  const Node* container_status =
      b.obj(core + "ContainerStatus", {{"name", S},
                                       {"state", container_state},
                                       {"lastState", container_state},
                                       {"ready", B},
                                       {"restartCount", I},
                                       {"image", S},
                                       {"imageID", S},
                                       {"containerID", S},
                                       {"started", B},
                                       {"allocatedResources", QMAP},
                                       {"resources", resources},
                                       {"volumeMounts", ANYA},
                                       {"user", ANY},
                                       {"allocatedResourcesStatus", ANYA},
                                       {"stopSignal", S}});
  const Node* ips = b.arr(b.obj("", {{"ip", S}}));
  const Node* pod_status =
      b.obj(core + "PodStatus", {{"observedGeneration", I},
                                 {"phase", S},
                                 {"conditions", conditions},
                                 {"message", S},
                                 {"reason", S},
                                 {"nominatedNodeName", S},
                                 {"hostIP", S},
                                 {"hostIPs", ips},
                                 {"podIP", S},
                                 {"podIPs", ips},
                                 {"startTime", S},
                                 {"initContainerStatuses", b.arr(container_status)},
                                 {"containerStatuses", b.arr(container_status)},
                                 {"ephemeralContainerStatuses", b.arr(container_status)},
                                 {"qosClass", S},
                                 {"resize", S},
                                 {"resourceClaimStatuses", ANYA},
                                 {"extendedResourceClaimStatus", ANY}});
  const Node* pod_template =
      b.obj(core + "PodTemplateSpec", {{"metadata", object_meta}, {"spec", pod_spec}},
            "Describes the pods that will be created.");

  auto add = [&](Node* n) { r.by_kind[n->group + "/" + n->kind] = n; };
  auto top = [&](Props extra) {
    std::vector<std::pair<std::string, const Node*>> v{
        {"apiVersion", S}, {"kind", S}, {"metadata", object_meta}};
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  auto root = [&](const std::string& name, const std::string& group, const std::string& version,
                  const std::string& kind, Props extra, const std::string& description) {
    Node* n = b.root(name, group, version, kind, {}, description);
    n->props = top(extra);
    add(n);
  };

  root(core + "Pod", "", "v1", "Pod", {{"spec", pod_spec}, {"status", pod_status}},
       "Pod is a collection of containers that can run on a host.");

  // --- Namespace ---
  root(core + "Namespace", "", "v1", "Namespace",
       {{"spec", b.obj("", {{"finalizers", SA}})},
        {"status", b.obj("", {{"phase", S}, {"conditions", conditions}})}},
       "Namespace provides a scope for Names.");

  // --- Node ---
  const Node* taint =
      b.obj(core + "Taint", {{"key", S}, {"value", S}, {"effect", S}, {"timeAdded", S}});
  root(core + "Node", "", "v1", "Node",
       {{"spec", b.obj(core + "NodeSpec", {{"podCIDR", S},
                                           {"podCIDRs", SA},
                                           {"providerID", S},
                                           {"unschedulable", B},
                                           {"taints", b.arr(taint)},
                                           {"configSource", ANY},
                                           {"externalID", S}})},
        {"status",
         b.obj(core + "NodeStatus",
               {{"capacity", QMAP},
                {"allocatable", QMAP},
                {"phase", S},
                {"conditions", conditions},
                {"addresses", b.arr(b.obj("", {{"type", S}, {"address", S}}))},
                {"daemonEndpoints", b.obj("", {{"kubeletEndpoint", b.obj("", {{"Port", I}})}})},
                {"nodeInfo", b.obj(core + "NodeSystemInfo", {{"machineID", S},
                                                             {"systemUUID", S},
                                                             {"bootID", S},
                                                             {"kernelVersion", S},
                                                             {"osImage", S},
                                                             {"containerRuntimeVersion", S},
                                                             {"kubeletVersion", S},
                                                             {"kubeProxyVersion", S},
                                                             {"operatingSystem", S},
                                                             {"architecture", S},
                                                             {"swap", ANY}})},
                {"images", b.arr(b.obj("", {{"names", SA}, {"sizeBytes", I}}))},
                {"volumesInUse", SA},
                {"volumesAttached", ANYA},
                {"config", ANY},
                {"runtimeHandlers", ANYA},
                {"features", ANY},
                {"declaredFeatures", SA}})}},
       "Node is a worker node in Kubernetes.");

  // --- Service ---
  const Node* service_port = b.obj(core + "ServicePort", {{"name", S},
                                                          {"protocol", S},
                                                          {"appProtocol", S},
                                                          {"port", I},
                                                          {"targetPort", IOS},
                                                          {"nodePort", I}});
  root(core + "Service", "", "v1", "Service",
       {{"spec", b.obj(core + "ServiceSpec", {{"ports", b.arr(service_port)},
                                              {"selector", SMAP},
                                              {"clusterIP", S},
                                              {"clusterIPs", SA},
                                              {"type", S},
                                              {"externalIPs", SA},
                                              {"sessionAffinity", S},
                                              {"loadBalancerIP", S},
                                              {"loadBalancerSourceRanges", SA},
                                              {"externalName", S},
                                              {"externalTrafficPolicy", S},
                                              {"healthCheckNodePort", I},
                                              {"publishNotReadyAddresses", B},
                                              {"sessionAffinityConfig", ANY},
                                              {"ipFamilies", SA},
                                              {"ipFamilyPolicy", S},
                                              {"allocateLoadBalancerNodePorts", B},
                                              {"loadBalancerClass", S},
                                              {"internalTrafficPolicy", S},
                                              {"trafficDistribution", S}})},
        {"status", b.obj(core + "ServiceStatus", {{"loadBalancer", b.obj("", {{"ingress", ANYA}})},
                                                  {"conditions", conditions}})}},
       "Service is a named abstraction of software service.");

  // --- Endpoints ---
  const Node* ep_addr =
      b.obj(core + "EndpointAddress",
            {{"ip", S}, {"hostname", S}, {"nodeName", S}, {"targetRef", object_ref}});
  root(core + "Endpoints", "", "v1", "Endpoints",
       {{"subsets",
         b.arr(b.obj(
             core + "EndpointSubset",
             {{"addresses", b.arr(ep_addr)},
              {"notReadyAddresses", b.arr(ep_addr)},
              {"ports",
               b.arr(b.obj(core + "EndpointPort",
                           {{"name", S}, {"port", I}, {"protocol", S}, {"appProtocol", S}}))}}))}},
       "Endpoints is a collection of endpoints that implement the actual service.");

  // --- Event ---
  root(core + "Event", "", "v1", "Event",
       {{"involvedObject", object_ref},
        {"reason", S},
        {"message", S},
        {"source", b.obj(core + "EventSource", {{"component", S}, {"host", S}})},
        {"firstTimestamp", S},
        {"lastTimestamp", S},
        {"count", I},
        {"type", S},
        {"eventTime", S},
        {"series", b.obj("", {{"count", I}, {"lastObservedTime", S}})},
        {"action", S},
        {"related", object_ref},
        {"reportingComponent", S},
        {"reportingInstance", S}},
       "Event is a report of an event somewhere in the cluster.");

  // --- ConfigMap / Secret ---
  root(core + "ConfigMap", "", "v1", "ConfigMap",
       {{"data", SMAP}, {"binaryData", SMAP}, {"immutable", B}},
       "ConfigMap holds configuration data for pods to consume.");
  root(core + "Secret", "", "v1", "Secret",
       {{"data", SMAP}, {"stringData", SMAP}, {"type", S}, {"immutable", B}},
       "Secret holds secret data of a certain type.");

  // --- apps/v1 ---
  const std::string apps = "io.k8s.api.apps.v1.";
  const Node* rolling =
      b.obj(apps + "RollingUpdateDeployment", {{"maxUnavailable", IOS}, {"maxSurge", IOS}});
  root(apps + "Deployment", "apps", "v1", "Deployment",
       {{"spec", b.obj(apps + "DeploymentSpec",
                       {{"replicas", I},
                        {"selector", label_selector},
                        {"template", pod_template},
                        {"strategy", b.obj(apps + "DeploymentStrategy",
                                           {{"type", S}, {"rollingUpdate", rolling}})},
                        {"minReadySeconds", I},
                        {"revisionHistoryLimit", I},
                        {"paused", B},
                        {"progressDeadlineSeconds", I}})},
        {"status", b.obj(apps + "DeploymentStatus", {{"observedGeneration", I},
                                                     {"replicas", I},
                                                     {"updatedReplicas", I},
                                                     {"readyReplicas", I},
                                                     {"availableReplicas", I},
                                                     {"unavailableReplicas", I},
                                                     {"terminatingReplicas", I},
                                                     {"conditions", conditions},
                                                     {"collisionCount", I}})}},
       "Deployment enables declarative updates for Pods and ReplicaSets.");
  root(apps + "ReplicaSet", "apps", "v1", "ReplicaSet",
       {{"spec", b.obj(apps + "ReplicaSetSpec", {{"replicas", I},
                                                 {"minReadySeconds", I},
                                                 {"selector", label_selector},
                                                 {"template", pod_template}})},
        {"status", b.obj(apps + "ReplicaSetStatus", {{"replicas", I},
                                                     {"fullyLabeledReplicas", I},
                                                     {"readyReplicas", I},
                                                     {"availableReplicas", I},
                                                     {"terminatingReplicas", I},
                                                     {"observedGeneration", I},
                                                     {"conditions", conditions}})}},
       "ReplicaSet ensures that a specified number of pod replicas are running at any given "
       "time.");

  // --- autoscaling/v2 ---
  const std::string as = "io.k8s.api.autoscaling.v2.";
  const Node* target =
      b.obj(as + "MetricTarget",
            {{"type", S}, {"value", IOS}, {"averageValue", IOS}, {"averageUtilization", I}});
  const Node* current = b.obj(as + "MetricValueStatus",
                              {{"value", IOS}, {"averageValue", IOS}, {"averageUtilization", I}});
  const Node* metric_ident = b.obj("", {{"name", S}, {"selector", label_selector}});
  const Node* xref =
      b.obj(as + "CrossVersionObjectReference", {{"kind", S}, {"name", S}, {"apiVersion", S}});
  const Node* scaling_rules = b.obj(
      as + "HPAScalingRules",
      {{"stabilizationWindowSeconds", I},
       {"selectPolicy", S},
       {"policies",
        b.arr(b.obj(as + "HPAScalingPolicy", {{"type", S}, {"value", I}, {"periodSeconds", I}}))},
       {"tolerance", IOS}});
  root(as + "HorizontalPodAutoscaler", "autoscaling", "v2", "HorizontalPodAutoscaler",
       {{"spec",
         b.obj(as + "HorizontalPodAutoscalerSpec",
               {{"scaleTargetRef", xref},
                {"minReplicas", I},
                {"maxReplicas", I},
                {"metrics",
                 b.arr(b.obj(
                     as + "MetricSpec",
                     {{"type", S},
                      {"resource",
                       b.obj(as + "ResourceMetricSource", {{"name", S}, {"target", target}})},
                      {"containerResource",
                       b.obj("", {{"name", S}, {"container", S}, {"target", target}})},
                      {"pods", b.obj("", {{"metric", metric_ident}, {"target", target}})},
                      {"object", b.obj("", {{"describedObject", xref},
                                            {"metric", metric_ident},
                                            {"target", target}})},
                      {"external", b.obj("", {{"metric", metric_ident}, {"target", target}})}}))},
                {"behavior", b.obj(as + "HorizontalPodAutoscalerBehavior",
                                   {{"scaleUp", scaling_rules}, {"scaleDown", scaling_rules}})}})},
        {"status",
         b.obj(as + "HorizontalPodAutoscalerStatus",
               {{"observedGeneration", I},
                {"lastScaleTime", S},
                {"currentReplicas", I},
                {"desiredReplicas", I},
                {"currentMetrics",
                 b.arr(b.obj(
                     as + "MetricStatus",
                     {{"type", S},
                      {"resource", b.obj("", {{"name", S}, {"current", current}})},
                      {"containerResource",
                       b.obj("", {{"name", S}, {"container", S}, {"current", current}})},
                      {"pods", b.obj("", {{"metric", metric_ident}, {"current", current}})},
                      {"object", b.obj("", {{"describedObject", xref},
                                            {"metric", metric_ident},
                                            {"current", current}})},
                      {"external", b.obj("", {{"metric", metric_ident}, {"current", current}})}}))},
                {"conditions", conditions}})}},
       "HorizontalPodAutoscaler is the configuration for a horizontal pod autoscaler.");

  // --- coordination.k8s.io/v1 ---
  root("io.k8s.api.coordination.v1.Lease", "coordination.k8s.io", "v1", "Lease",
       {{"spec", b.obj("io.k8s.api.coordination.v1.LeaseSpec", {{"holderIdentity", S},
                                                                {"leaseDurationSeconds", I},
                                                                {"acquireTime", S},
                                                                {"renewTime", S},
                                                                {"leaseTransitions", I},
                                                                {"strategy", S},
                                                                {"preferredHolder", S}})}},
       "Lease defines a lease concept.");

  // --- discovery.k8s.io/v1 ---
  const std::string disc = "io.k8s.api.discovery.v1.";
  root(disc + "EndpointSlice", "discovery.k8s.io", "v1", "EndpointSlice",
       {{"addressType", S},
        {"endpoints",
         b.arr(b.obj(disc + "Endpoint",
                     {{"addresses", SA},
                      {"conditions", b.obj(disc + "EndpointConditions",
                                           {{"ready", B}, {"serving", B}, {"terminating", B}})},
                      {"hostname", S},
                      {"targetRef", object_ref},
                      {"nodeName", S},
                      {"zone", S},
                      {"hints", b.obj(disc + "EndpointHints",
                                      {{"forZones", b.arr(b.obj("", {{"name", S}}))},
                                       {"forNodes", b.arr(b.obj("", {{"name", S}}))}})},
                      {"deprecatedTopology", SMAP}},
                     "Endpoint represents a single logical \"backend\" implementing a service."))},
        {"ports", b.arr(b.obj(disc + "EndpointPort",
                              {{"name", S}, {"protocol", S}, {"port", I}, {"appProtocol", S}}))}},
       "EndpointSlice represents a subset of the endpoints that implement a service.");

  // --- minik8s.io/v1 ---
  root("io.minik8s.v1.DNS", "minik8s.io", "v1", "DNS",
       {{"spec",
         b.obj("io.minik8s.v1.DNSSpec",
               {{"host", S},
                {"paths", b.arr(b.obj("io.minik8s.v1.DNSPath",
                                      {{"path", S}, {"serviceName", S}, {"servicePort", I}}))}},
               "A host name and the paths under it, each forwarded to a service.")},
        {"status", ANY}},
       "DNS maps a host name and URL paths to services.");

  // GPUJob and SlurmCluster (docs/gpu.md).
  const std::string mk = "io.minik8s.v1.";
  root(
      mk + "GPUJob", "minik8s.io", "v1", "GPUJob",
      {{"spec",
        b.obj(
            mk + "GPUJobSpec",
            {{"source",
              b.obj(mk + "GPUJobSource", {{"hash", S}, {"filename", S}},
                    "The program: a blob in the blob store (hash) and its file name; .tar, "
                    ".tar.gz, .tgz and .zip unpack into the job directory, any other file is "
                    "copied in as that name.")},
             {"build", S},
             {"run", S},
             {"cancel", B},
             {"slurm",
              b.obj(mk + "GPUJobSlurm",
                    {{"cluster", S},
                     {"partition", S},
                     {"nodes", I},
                     {"ntasksPerNode", I},
                     {"cpusPerTask", I},
                     {"gpus", I},
                     {"mem", S},
                     {"time", S},
                     {"account", S},
                     {"qos", S},
                     {"output", S},
                     {"error", S},
                     {"sbatchArgs", SA}},
                    "Slurm settings, named as sbatch names them: the SlurmCluster (cluster), "
                    "--partition, --nodes, --ntasks-per-node, --cpus-per-task, --gres=gpu:N "
                    "(gpus), --mem, --time, --account, --qos, --output, --error and extra "
                    "long options (sbatchArgs).")}},
            "What to run (source, build, run), where (slurm) and whether to cancel it; only cancel "
            "may change (false to true).")},
       {"status",
        b.obj(mk + "GPUJobStatus",
              {{"phase", S},
               {"jobId", S},
               {"submitTime", S},
               {"startTime", S},
               {"endTime", S},
               {"exitCode", I},
               {"nodeList", S},
               {"reason", S},
               {"message", S},
               {"queryCommand", S},
               {"workDir", S},
               {"submitterPod", S},
               {"buildLog", S},
               {"result",
                b.obj(mk + "GPUJobResult", {{"hash", S}, {"size", I}, {"files", SA}},
                      "The result archive (tar.gz) in the blob store and the files in it.")},
               {"observedGeneration", I},
               {"conditions", conditions}},
              "What the submitter saw: the phase, Slurm's job id, times, nodes and reason, the "
              "query command, the build log's tail when the build failed, the result archive.")}},
      "GPUJob is a program built and run as a Slurm batch job by a submitter pod of its own.");
  root(mk + "SlurmCluster", "minik8s.io", "v1", "SlurmCluster",
       {{"spec",
         b.obj(
             mk + "SlurmClusterSpec",
             {{"controller", b.obj(mk + "SlurmController", {{"host", S}, {"name", S}, {"port", I}},
                                   "slurmctld: its address (host), its SlurmctldHost name and port "
                                   "(default 6817).")},
              {"clusterName", S},
              {"auth", b.obj(mk + "SlurmAuth",
                             {{"type", S},
                              {"secretRef", b.obj(mk + "SlurmSecretRef",
                                                  {{"namespace", S}, {"name", S}, {"key", S}},
                                                  "The Secret key holding the munge key (key "
                                                  "default munge.key).")}},
                             "How submitters authenticate to Slurm: munge, with the key from a "
                             "Secret.")},
              {"workDir", S},
              {"nodeSelector", SMAP},
              {"submitterImage", S},
              {"pollIntervalSeconds", I}},
             "Where slurmctld is, the cluster's shared job directory, the munge key, and where and "
             "how submitter pods run.")},
        {"status", ANY}},
       "SlurmCluster is a Slurm cluster GPUJobs are submitted to.");

  // --- serverless.minik8s.io/v1 ---
  const std::string sl = "io.minik8s.serverless.v1.";
  root(sl + "Function", "serverless.minik8s.io", "v1", "Function",
       {{"spec",
         b.obj(sl + "FunctionSpec",
               {{"runtime", S},
                {"handler", S},
                {"code", b.obj(sl + "FunctionCode", {{"hash", S}, {"inline", S}, {"filename", S}},
                               "The code: exactly one of hash (an upload in the code store) "
                               "and inline (source text).")},
                {"env", b.arr(b.obj(sl + "FunctionEnvVar", {{"name", S}, {"value", S}},
                                    "An environment variable of the function's instances."))},
                {"resources", resources},
                {"timeoutSeconds", I},
                {"scale", b.obj(sl + "FunctionScale",
                                {{"minScale", I},
                                 {"maxScale", I},
                                 {"targetConcurrency", I},
                                 {"scaleToZeroAfterSeconds", I}},
                                "Autoscaling bounds: minScale..maxScale instances (0..100), "
                                "targetConcurrency requests per instance, and the idle time "
                                "before scaling to zero.")}},
               "A Python function: its runtime, handler, code, environment and scale settings.")},
        {"status", b.obj(sl + "FunctionStatus",
                         {{"revision", S},
                          {"revisionHash", S},
                          {"codeHash", S},
                          {"url", S},
                          {"readyInstances", I},
                          {"desiredInstances", I},
                          {"observedGeneration", I},
                          {"conditions", conditions}},
                         "What the function controller observed: the current revision, its "
                         "URL, ready and desired instances, conditions.")}},
       "Function is a serverless Python function invoked through the gateway.");
  // Workflow, WorkflowRun, Trigger (docs/workflows.md). States, inputs,
  // outputs and results are free-form JSON (their shape is checked by the
  // Workflow strategy's state machine parser, not field by field here).
  root(sl + "Workflow", "serverless.minik8s.io", "v1", "Workflow",
       {{"spec", b.obj(sl + "WorkflowSpec",
                       {{"startAt", S}, {"maxSteps", I}, {"timeoutSeconds", I}, {"states", b.map(ANY)}},
                       "A state machine: the first state, the states by name (Task, Choice, Parallel, "
                       "Map, Pass, Wait, Succeed, Fail), the step limit and the run timeout.")},
        {"status", ANY}},
       "Workflow is a state machine of function calls, run by WorkflowRuns.");
  const Node* step = b.obj(sl + "WorkflowStep",
                           {{"key", S},
                            {"state", S},
                            {"type", S},
                            {"function", S},
                            {"instance", S},
                            {"attempt", I},
                            {"status", S},
                            {"input", ANY},
                            {"output", ANY},
                            {"error", ANY},
                            {"startTime", S},
                            {"endTime", S},
                            {"durationMs", N},
                            {"functionMs", N}},
                           "One visit of a state: its key, status, input, output and timing.");
  root(sl + "WorkflowRun", "serverless.minik8s.io", "v1", "WorkflowRun",
       {{"spec", b.obj(sl + "WorkflowRunSpec", {{"workflow", S}, {"input", ANY}, {"cancel", B}},
                       "The Workflow to run (same namespace), its input (any JSON) and whether "
                       "to cancel the run.")},
        {"status", b.obj(sl + "WorkflowRunStatus",
                         {{"phase", S},
                          {"startTime", S},
                          {"completionTime", S},
                          {"output", ANY},
                          {"error", ANY},
                          {"definition", ANY},
                          {"workflowGeneration", I},
                          {"steps", b.arr(step)},
                          {"observedGeneration", I},
                          {"conditions", conditions}},
                         "What the executor did: the phase, output or error, and one record per step.")}},
       "WorkflowRun is one execution of a Workflow with an input.");
  root(sl + "Trigger", "serverless.minik8s.io", "v1", "Trigger",
       {{"spec",
         b.obj(sl + "TriggerSpec",
               {{"target", b.obj(sl + "TriggerTarget", {{"function", S}, {"workflow", S}},
                                 "Exactly one of a Function and a Workflow (same namespace).")},
                {"input", ANY},
                {"suspend", B},
                {"schedule", S},
                {"concurrencyPolicy", S},
                {"fileChange", b.obj(sl + "TriggerFileChange",
                                     {{"node", S},
                                      {"path", S},
                                      {"events", SA},
                                      {"pattern", S},
                                      {"includeContent", B}},
                                     "Files changing in a directory of a node.")},
                {"objectChange", b.obj(sl + "TriggerObjectChange",
                                       {{"apiVersion", S},
                                        {"kind", S},
                                        {"namespace", S},
                                        {"labelSelector", S},
                                        {"on", SA}},
                                       "API objects of a kind being added, modified or deleted.")}},
               "What fires (exactly one of schedule, fileChange and objectChange) and what it "
               "calls.")},
        {"status", b.obj(sl + "TriggerStatus",
                         {{"lastFired", S},
                          {"firings", I},
                          {"skipped", I},
                          {"lastResult", b.obj("", {{"result", S}, {"id", S}, {"message", S}})},
                          {"nextFire", S},
                          {"observedGeneration", I},
                          {"conditions", conditions}},
                         "Firings so far, the last one's time and result, the next scheduled time.")}},
       "Trigger calls a Function or starts a Workflow on a schedule, a file change or an object "
       "change.");
  // --- rbac.authorization.k8s.io/v1 and authorization.k8s.io/v1 (docs/auth.md) ---
  const std::string rbac = "io.k8s.api.rbac.v1.";
  const Node* policy_rule = b.obj(rbac + "PolicyRule",
                                  {{"verbs", SA},
                                   {"apiGroups", SA},
                                   {"resources", SA},
                                   {"resourceNames", SA},
                                   {"nonResourceURLs", SA}},
                                  "PolicyRule holds information that describes a policy rule.");
  const Node* rules = b.arr(policy_rule);
  const Node* role_ref = b.obj(rbac + "RoleRef", {{"apiGroup", S}, {"kind", S}, {"name", S}},
                               "RoleRef contains information that points to the role being used");
  const Node* subjects = b.arr(b.obj(rbac + "Subject",
                                     {{"kind", S}, {"apiGroup", S}, {"name", S}, {"namespace", S}},
                                     "Subject contains a reference to the object or user "
                                     "identities a role binding applies to."));
  root(rbac + "Role", "rbac.authorization.k8s.io", "v1", "Role", {{"rules", rules}},
       "Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by "
       "a RoleBinding.");
  root(rbac + "ClusterRole", "rbac.authorization.k8s.io", "v1", "ClusterRole",
       {{"rules", rules},
        {"aggregationRule",
         b.obj(rbac + "AggregationRule", {{"clusterRoleSelectors", b.arr(label_selector)}},
               "Accepted and stored; minik8s does not aggregate ClusterRoles.")}},
       "ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as "
       "a unit by a RoleBinding or ClusterRoleBinding.");
  root(rbac + "RoleBinding", "rbac.authorization.k8s.io", "v1", "RoleBinding",
       {{"roleRef", role_ref}, {"subjects", subjects}},
       "RoleBinding references a role, but does not contain it.");
  root(rbac + "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
       {{"roleRef", role_ref}, {"subjects", subjects}},
       "ClusterRoleBinding references a ClusterRole, but not contain it.");
  const std::string az = "io.k8s.api.authorization.v1.";
  const Node* res_attrs = b.obj(az + "ResourceAttributes", {{"namespace", S},
                                                           {"verb", S},
                                                           {"group", S},
                                                           {"version", S},
                                                           {"resource", S},
                                                           {"subresource", S},
                                                           {"name", S},
                                                           {"fieldSelector", ANY},
                                                           {"labelSelector", ANY}});
  const Node* non_res_attrs = b.obj(az + "NonResourceAttributes", {{"path", S}, {"verb", S}});
  const Node* review_status = b.obj(az + "SubjectAccessReviewStatus", {{"allowed", B},
                                                                       {"denied", B},
                                                                       {"reason", S},
                                                                       {"evaluationError", S}});
  root(az + "SelfSubjectAccessReview", "authorization.k8s.io", "v1", "SelfSubjectAccessReview",
       {{"spec", b.obj(az + "SelfSubjectAccessReviewSpec",
                       {{"resourceAttributes", res_attrs}, {"nonResourceAttributes", non_res_attrs}})},
        {"status", review_status}},
       "SelfSubjectAccessReview checks whether or the current user can perform an action.");
  root(az + "SubjectAccessReview", "authorization.k8s.io", "v1", "SubjectAccessReview",
       {{"spec", b.obj(az + "SubjectAccessReviewSpec", {{"resourceAttributes", res_attrs},
                                                        {"nonResourceAttributes", non_res_attrs},
                                                        {"user", S},
                                                        {"groups", SA},
                                                        {"extra", ANY},
                                                        {"uid", S}})},
        {"status", review_status}},
       "SubjectAccessReview checks whether or not a user or group can perform an action.");
  root(az + "SelfSubjectRulesReview", "authorization.k8s.io", "v1", "SelfSubjectRulesReview",
       {{"spec", b.obj(az + "SelfSubjectRulesReviewSpec", {{"namespace", S}})},
        {"status", ANY}},
       "SelfSubjectRulesReview enumerates the set of actions the current user can perform within "
       "a namespace.");
  // --- certificates.k8s.io/v1 (docs/auth.md "CertificateSigningRequest") ---
  const std::string cert = "io.k8s.api.certificates.v1.";
  root(cert + "CertificateSigningRequest", "certificates.k8s.io", "v1",
       "CertificateSigningRequest",
       {{"spec", b.obj(cert + "CertificateSigningRequestSpec",
                       {{"request", S},
                        {"signerName", S},
                        {"expirationSeconds", I},
                        {"usages", SA},
                        {"username", S},
                        {"uid", S},
                        {"groups", SA},
                        {"extra", ANY}},
                       "What is requested: a PEM CERTIFICATE REQUEST (base64), the signer, "
                       "usages; the requester's identity is set by the server.")},
        {"status",
         b.obj(cert + "CertificateSigningRequestStatus",
               {{"conditions", b.arr(b.obj(cert + "CertificateSigningRequestCondition",
                                           {{"type", S},
                                            {"status", S},
                                            {"reason", S},
                                            {"message", S},
                                            {"lastUpdateTime", S},
                                            {"lastTransitionTime", S}}))},
                {"certificate", S}},
               "Approved/Denied/Failed conditions and the issued certificate (PEM, base64).")}},
       "CertificateSigningRequest asks a signer for a certificate; once approved the signer "
       "writes status.certificate.");
  return r;
}

const Registry& registry() {
  static Builder* builder = new Builder();  // owns the nodes for the process lifetime
  static const Registry r = build(*builder);
  return r;
}

void walk(const Node& n, const Json& v, const std::string& path, std::vector<std::string>& out) {
  switch (n.type) {
    case Type::kObject:
      if (!v.is_object()) return;
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string p = path.empty() ? it.key() : path + "." + it.key();
        const Node* child = n.prop(it.key());
        if (!child) {
          out.push_back(p);
        } else {
          walk(*child, it.value(), p, out);
        }
      }
      return;
    case Type::kMap:
      if (!v.is_object() || !n.elem) return;
      for (auto it = v.begin(); it != v.end(); ++it) {
        walk(*n.elem, it.value(), path + "." + it.key(), out);
      }
      return;
    case Type::kArray:
      if (!v.is_array() || !n.elem) return;
      for (size_t i = 0; i < v.size(); ++i) {
        walk(*n.elem, v[i], path + "[" + std::to_string(i) + "]", out);
      }
      return;
    default:
      return;
  }
}

}  // namespace

const Node* kind_schema(const std::string& group, const std::string& kind) {
  const auto& m = registry().by_kind;
  auto it = m.find(group + "/" + kind);
  return it == m.end() ? nullptr : it->second;
}

void unknown_fields(const Node& root, const Json& obj, std::vector<std::string>& paths) {
  walk(root, obj, "", paths);
}

}  // namespace minik8s::api::schema
