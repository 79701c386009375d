// Table-driven decoder for Kubernetes protobuf bodies. See protobuf.h.
//
// Field numbers come from Kubernetes' generated.proto files (k8s.io/api
// core/v1 and apps/v1; k8s.io/apimachinery meta/v1, runtime, intstr,
// resource). The "pointer" flag mirrors whether the Go field is a pointer:
// Go's marshaller writes every non-pointer scalar even when zero, so those are
// dropped when zero (as `omitempty` would), while pointer fields are written
// only when set and so are always kept.
#include "minik8s/api/protobuf.h"

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>

#include "minik8s/util/base64.h"
#include "minik8s/util/time.h"
#include "minik8s/util/utf8.h"

namespace minik8s::api {
namespace {

// ---------------------------------------------------------------------------
// Field tables.

enum class Type : uint8_t {
  kString,
  kInt32,
  kInt64,
  kBool,
  kBytes,        // []byte -> base64 string
  kMessage,      // nested object
  kInline,       // embedded Go struct: its fields land in the parent object
  kStringMap,    // map<string, string>
  kBytesMap,     // map<string, bytes> -> values base64
  kQuantityMap,  // map<string, resource.Quantity> -> values strings
  kTime,         // meta/v1 Time -> RFC 3339
  kMicroTime,    // meta/v1 MicroTime -> RFC 3339 with microseconds
  kIntOrString,  // util/intstr IntOrString -> int or string
  kQuantity,     // resource.Quantity -> string
};

enum Flag : uint8_t {
  kPlain = 0,
  kRepeated = 1,  // JSON array
  kPointer = 2,   // Go pointer: keep zero values that are present
};

struct MessageSpec;

struct FieldSpec {
  uint32_t number;
  const char* name;
  Type type;
  uint8_t flags = kPlain;
  const MessageSpec* message = nullptr;
};

struct MessageSpec {
  const char* name;
  std::span<const FieldSpec> fields;

  const FieldSpec* find(uint32_t number) const {
    for (const FieldSpec& f : fields) {
      if (f.number == number) return &f;
    }
    return nullptr;
  }
};

constexpr Type S = Type::kString;
constexpr Type I32 = Type::kInt32;
constexpr Type I64 = Type::kInt64;
constexpr Type B = Type::kBool;
constexpr Type M = Type::kMessage;
constexpr uint8_t R = kRepeated;
constexpr uint8_t P = kPointer;

// --- apimachinery meta/v1 ---

const FieldSpec kOwnerReferenceFields[] = {
    {1, "kind", S},       {3, "name", S},          {4, "uid", S},
    {5, "apiVersion", S}, {6, "controller", B, P}, {7, "blockOwnerDeletion", B, P},
};
const MessageSpec kOwnerReference{"OwnerReference", kOwnerReferenceFields};

// selfLink (4) and managedFields (17) are deliberately not decoded.
const FieldSpec kObjectMetaFields[] = {
    {1, "name", S},
    {2, "generateName", S},
    {3, "namespace", S},
    {5, "uid", S},
    {6, "resourceVersion", S},
    {7, "generation", I64},
    {8, "creationTimestamp", Type::kTime},
    {9, "deletionTimestamp", Type::kTime, P},
    {10, "deletionGracePeriodSeconds", I64, P},
    {11, "labels", Type::kStringMap},
    {12, "annotations", Type::kStringMap},
    {13, "ownerReferences", M, R, &kOwnerReference},
    {14, "finalizers", S, R},
};
const MessageSpec kObjectMeta{"ObjectMeta", kObjectMetaFields};

const FieldSpec kLabelSelectorRequirementFields[] = {
    {1, "key", S}, {2, "operator", S}, {3, "values", S, R}};
const MessageSpec kLabelSelectorRequirement{"LabelSelectorRequirement",
                                            kLabelSelectorRequirementFields};

const FieldSpec kLabelSelectorFields[] = {
    {1, "matchLabels", Type::kStringMap},
    {2, "matchExpressions", M, R, &kLabelSelectorRequirement},
};
const MessageSpec kLabelSelector{"LabelSelector", kLabelSelectorFields};

// --- core/v1: small shared pieces ---

const FieldSpec kLocalObjectReferenceFields[] = {{1, "name", S}};
const MessageSpec kLocalObjectReference{"LocalObjectReference", kLocalObjectReferenceFields};

const FieldSpec kObjectFieldSelectorFields[] = {{1, "apiVersion", S}, {2, "fieldPath", S}};
const MessageSpec kObjectFieldSelector{"ObjectFieldSelector", kObjectFieldSelectorFields};

const FieldSpec kResourceFieldSelectorFields[] = {
    {1, "containerName", S}, {2, "resource", S}, {3, "divisor", Type::kQuantity}};
const MessageSpec kResourceFieldSelector{"ResourceFieldSelector", kResourceFieldSelectorFields};

// ConfigMapKeySelector and SecretKeySelector share numbers.
const FieldSpec kKeySelectorFields[] = {
    {1, "localObjectReference", Type::kInline, kPlain, &kLocalObjectReference},
    {2, "key", S},
    {3, "optional", B, P},
};
const MessageSpec kKeySelector{"KeySelector", kKeySelectorFields};

const FieldSpec kEnvVarSourceFields[] = {
    {1, "fieldRef", M, P, &kObjectFieldSelector},
    {2, "resourceFieldRef", M, P, &kResourceFieldSelector},
    {3, "configMapKeyRef", M, P, &kKeySelector},
    {4, "secretKeyRef", M, P, &kKeySelector},
};
const MessageSpec kEnvVarSource{"EnvVarSource", kEnvVarSourceFields};

const FieldSpec kEnvVarFields[] = {
    {1, "name", S}, {2, "value", S}, {3, "valueFrom", M, P, &kEnvVarSource}};
const MessageSpec kEnvVar{"EnvVar", kEnvVarFields};

// ConfigMapEnvSource and SecretEnvSource share numbers.
const FieldSpec kEnvRefFields[] = {
    {1, "localObjectReference", Type::kInline, kPlain, &kLocalObjectReference},
    {2, "optional", B, P},
};
const MessageSpec kEnvRef{"EnvSource", kEnvRefFields};

const FieldSpec kEnvFromSourceFields[] = {
    {1, "prefix", S}, {2, "configMapRef", M, P, &kEnvRef}, {3, "secretRef", M, P, &kEnvRef}};
const MessageSpec kEnvFromSource{"EnvFromSource", kEnvFromSourceFields};

const FieldSpec kContainerPortFields[] = {
    {1, "name", S},     {2, "hostPort", I32}, {3, "containerPort", I32},
    {4, "protocol", S}, {5, "hostIP", S},
};
const MessageSpec kContainerPort{"ContainerPort", kContainerPortFields};

const FieldSpec kResourceClaimFields[] = {{1, "name", S}, {2, "request", S}};
const MessageSpec kResourceClaim{"ResourceClaim", kResourceClaimFields};

const FieldSpec kResourceRequirementsFields[] = {
    {1, "limits", Type::kQuantityMap},
    {2, "requests", Type::kQuantityMap},
    {3, "claims", M, R, &kResourceClaim},
};
const MessageSpec kResourceRequirements{"ResourceRequirements", kResourceRequirementsFields};

const FieldSpec kVolumeMountFields[] = {
    {1, "name", S},
    {2, "readOnly", B},
    {3, "mountPath", S},
    {4, "subPath", S},
    {5, "mountPropagation", S, P},
    {6, "subPathExpr", S},
    {7, "recursiveReadOnly", S, P},
};
const MessageSpec kVolumeMount{"VolumeMount", kVolumeMountFields};

// --- probes and lifecycle ---

const FieldSpec kExecActionFields[] = {{1, "command", S, R}};
const MessageSpec kExecAction{"ExecAction", kExecActionFields};

const FieldSpec kHTTPHeaderFields[] = {{1, "name", S}, {2, "value", S}};
const MessageSpec kHTTPHeader{"HTTPHeader", kHTTPHeaderFields};

const FieldSpec kHTTPGetActionFields[] = {
    {1, "path", S},   {2, "port", Type::kIntOrString},        {3, "host", S},
    {4, "scheme", S}, {5, "httpHeaders", M, R, &kHTTPHeader},
};
const MessageSpec kHTTPGetAction{"HTTPGetAction", kHTTPGetActionFields};

const FieldSpec kTCPSocketActionFields[] = {{1, "port", Type::kIntOrString}, {2, "host", S}};
const MessageSpec kTCPSocketAction{"TCPSocketAction", kTCPSocketActionFields};

const FieldSpec kGRPCActionFields[] = {{1, "port", I32}, {2, "service", S, P}};
const MessageSpec kGRPCAction{"GRPCAction", kGRPCActionFields};

const FieldSpec kProbeHandlerFields[] = {
    {1, "exec", M, P, &kExecAction},
    {2, "httpGet", M, P, &kHTTPGetAction},
    {3, "tcpSocket", M, P, &kTCPSocketAction},
    {4, "grpc", M, P, &kGRPCAction},
};
const MessageSpec kProbeHandler{"ProbeHandler", kProbeHandlerFields};

const FieldSpec kProbeFields[] = {
    {1, "handler", Type::kInline, kPlain, &kProbeHandler},
    {2, "initialDelaySeconds", I32},
    {3, "timeoutSeconds", I32},
    {4, "periodSeconds", I32},
    {5, "successThreshold", I32},
    {6, "failureThreshold", I32},
    {7, "terminationGracePeriodSeconds", I64, P},
};
const MessageSpec kProbe{"Probe", kProbeFields};

const FieldSpec kSleepActionFields[] = {{1, "seconds", I64}};
const MessageSpec kSleepAction{"SleepAction", kSleepActionFields};

const FieldSpec kLifecycleHandlerFields[] = {
    {1, "exec", M, P, &kExecAction},
    {2, "httpGet", M, P, &kHTTPGetAction},
    {3, "tcpSocket", M, P, &kTCPSocketAction},
    {4, "sleep", M, P, &kSleepAction},
};
const MessageSpec kLifecycleHandler{"LifecycleHandler", kLifecycleHandlerFields};

const FieldSpec kLifecycleFields[] = {
    {1, "postStart", M, P, &kLifecycleHandler},
    {2, "preStop", M, P, &kLifecycleHandler},
};
const MessageSpec kLifecycle{"Lifecycle", kLifecycleFields};

// --- security contexts ---

const FieldSpec kCapabilitiesFields[] = {{1, "add", S, R}, {2, "drop", S, R}};
const MessageSpec kCapabilities{"Capabilities", kCapabilitiesFields};

const FieldSpec kSecurityContextFields[] = {
    {1, "capabilities", M, P, &kCapabilities},
    {2, "privileged", B, P},
    {4, "runAsUser", I64, P},
    {5, "runAsNonRoot", B, P},
    {6, "readOnlyRootFilesystem", B, P},
    {7, "allowPrivilegeEscalation", B, P},
    {8, "runAsGroup", I64, P},
    {9, "procMount", S, P},
};
const MessageSpec kSecurityContext{"SecurityContext", kSecurityContextFields};

const FieldSpec kSysctlFields[] = {{1, "name", S}, {2, "value", S}};
const MessageSpec kSysctl{"Sysctl", kSysctlFields};

const FieldSpec kPodSecurityContextFields[] = {
    {2, "runAsUser", I64, P},         {3, "runAsNonRoot", B, P}, {4, "supplementalGroups", I64, R},
    {5, "fsGroup", I64, P},           {6, "runAsGroup", I64, P}, {7, "sysctls", M, R, &kSysctl},
    {9, "fsGroupChangePolicy", S, P},
};
const MessageSpec kPodSecurityContext{"PodSecurityContext", kPodSecurityContextFields};

// --- containers ---

const FieldSpec kContainerResizePolicyFields[] = {{1, "resourceName", S}, {2, "restartPolicy", S}};
const MessageSpec kContainerResizePolicy{"ContainerResizePolicy", kContainerResizePolicyFields};

const FieldSpec kContainerFields[] = {
    {1, "name", S},
    {2, "image", S},
    {3, "command", S, R},
    {4, "args", S, R},
    {5, "workingDir", S},
    {6, "ports", M, R, &kContainerPort},
    {7, "env", M, R, &kEnvVar},
    {8, "resources", M, kPlain, &kResourceRequirements},
    {9, "volumeMounts", M, R, &kVolumeMount},
    {10, "livenessProbe", M, P, &kProbe},
    {11, "readinessProbe", M, P, &kProbe},
    {12, "lifecycle", M, P, &kLifecycle},
    {13, "terminationMessagePath", S},
    {14, "imagePullPolicy", S},
    {15, "securityContext", M, P, &kSecurityContext},
    {16, "stdin", B},
    {17, "stdinOnce", B},
    {18, "tty", B},
    {19, "envFrom", M, R, &kEnvFromSource},
    {20, "terminationMessagePolicy", S},
    {22, "startupProbe", M, P, &kProbe},
    {23, "resizePolicy", M, R, &kContainerResizePolicy},
    {24, "restartPolicy", S, P},
};
const MessageSpec kContainer{"Container", kContainerFields};

// --- volumes ---

const FieldSpec kKeyToPathFields[] = {{1, "key", S}, {2, "path", S}, {3, "mode", I32, P}};
const MessageSpec kKeyToPath{"KeyToPath", kKeyToPathFields};

const FieldSpec kHostPathFields[] = {{1, "path", S}, {2, "type", S, P}};
const MessageSpec kHostPath{"HostPathVolumeSource", kHostPathFields};

const FieldSpec kEmptyDirFields[] = {{1, "medium", S}, {2, "sizeLimit", Type::kQuantity, P}};
const MessageSpec kEmptyDir{"EmptyDirVolumeSource", kEmptyDirFields};

const FieldSpec kSecretVolumeFields[] = {
    {1, "secretName", S},
    {2, "items", M, R, &kKeyToPath},
    {3, "defaultMode", I32, P},
    {4, "optional", B, P},
};
const MessageSpec kSecretVolume{"SecretVolumeSource", kSecretVolumeFields};

const FieldSpec kConfigMapVolumeFields[] = {
    {1, "localObjectReference", Type::kInline, kPlain, &kLocalObjectReference},
    {2, "items", M, R, &kKeyToPath},
    {3, "defaultMode", I32, P},
    {4, "optional", B, P},
};
const MessageSpec kConfigMapVolume{"ConfigMapVolumeSource", kConfigMapVolumeFields};

const FieldSpec kPVCVolumeFields[] = {{1, "claimName", S}, {2, "readOnly", B}};
const MessageSpec kPVCVolume{"PersistentVolumeClaimVolumeSource", kPVCVolumeFields};

const FieldSpec kDownwardAPIFileFields[] = {
    {1, "path", S},
    {2, "fieldRef", M, P, &kObjectFieldSelector},
    {3, "resourceFieldRef", M, P, &kResourceFieldSelector},
    {4, "mode", I32, P},
};
const MessageSpec kDownwardAPIFile{"DownwardAPIVolumeFile", kDownwardAPIFileFields};

const FieldSpec kDownwardAPIVolumeFields[] = {{1, "items", M, R, &kDownwardAPIFile},
                                              {2, "defaultMode", I32, P}};
const MessageSpec kDownwardAPIVolume{"DownwardAPIVolumeSource", kDownwardAPIVolumeFields};

const FieldSpec kVolumeSourceFields[] = {
    {1, "hostPath", M, P, &kHostPath},
    {2, "emptyDir", M, P, &kEmptyDir},
    {6, "secret", M, P, &kSecretVolume},
    {10, "persistentVolumeClaim", M, P, &kPVCVolume},
    {16, "downwardAPI", M, P, &kDownwardAPIVolume},
    {19, "configMap", M, P, &kConfigMapVolume},
};
const MessageSpec kVolumeSource{"VolumeSource", kVolumeSourceFields};

const FieldSpec kVolumeFields[] = {{1, "name", S},
                                   {2, "volumeSource", Type::kInline, kPlain, &kVolumeSource}};
const MessageSpec kVolume{"Volume", kVolumeFields};

// --- pods ---

const FieldSpec kTolerationFields[] = {
    {1, "key", S},
    {2, "operator", S},
    {3, "value", S},
    {4, "effect", S},
    {5, "tolerationSeconds", I64, P},
};
const MessageSpec kToleration{"Toleration", kTolerationFields};

const FieldSpec kHostAliasFields[] = {{1, "ip", S}, {2, "hostnames", S, R}};
const MessageSpec kHostAlias{"HostAlias", kHostAliasFields};

const FieldSpec kPodDNSConfigOptionFields[] = {{1, "name", S}, {2, "value", S, P}};
const MessageSpec kPodDNSConfigOption{"PodDNSConfigOption", kPodDNSConfigOptionFields};

const FieldSpec kPodDNSConfigFields[] = {
    {1, "nameservers", S, R}, {2, "searches", S, R}, {3, "options", M, R, &kPodDNSConfigOption}};
const MessageSpec kPodDNSConfig{"PodDNSConfig", kPodDNSConfigFields};

// Not decoded: affinity (18), ephemeralContainers, readinessGates,
// topologySpreadConstraints, os, schedulingGates, resourceClaims, resources.
const FieldSpec kPodSpecFields[] = {
    {1, "volumes", M, R, &kVolume},
    {2, "containers", M, R, &kContainer},
    {3, "restartPolicy", S},
    {4, "terminationGracePeriodSeconds", I64, P},
    {5, "activeDeadlineSeconds", I64, P},
    {6, "dnsPolicy", S},
    {7, "nodeSelector", Type::kStringMap},
    {8, "serviceAccountName", S},
    {9, "serviceAccount", S},
    {10, "nodeName", S},
    {11, "hostNetwork", B},
    {12, "hostPID", B},
    {13, "hostIPC", B},
    {14, "securityContext", M, P, &kPodSecurityContext},
    {15, "imagePullSecrets", M, R, &kLocalObjectReference},
    {16, "hostname", S},
    {17, "subdomain", S},
    {19, "schedulerName", S},
    {20, "initContainers", M, R, &kContainer},
    {21, "automountServiceAccountToken", B, P},
    {22, "tolerations", M, R, &kToleration},
    {23, "hostAliases", M, R, &kHostAlias},
    {24, "priorityClassName", S},
    {25, "priority", I32, P},
    {26, "dnsConfig", M, P, &kPodDNSConfig},
    {27, "shareProcessNamespace", B, P},
    {29, "runtimeClassName", S, P},
    {30, "enableServiceLinks", B, P},
    {31, "preemptionPolicy", S, P},
    {32, "overhead", Type::kQuantityMap},
    {35, "setHostnameAsFQDN", B, P},
    {37, "hostUsers", B, P},
};
const MessageSpec kPodSpec{"PodSpec", kPodSpecFields};

const FieldSpec kPodTemplateSpecFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                            {2, "spec", M, kPlain, &kPodSpec}};
const MessageSpec kPodTemplateSpec{"PodTemplateSpec", kPodTemplateSpecFields};

// Status (3) is owned by the server and not decoded.
const FieldSpec kPodFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                {2, "spec", M, kPlain, &kPodSpec}};
const MessageSpec kPod{"Pod", kPodFields};

// --- namespaces, config maps, secrets ---

const FieldSpec kNamespaceSpecFields[] = {{1, "finalizers", S, R}};
const MessageSpec kNamespaceSpec{"NamespaceSpec", kNamespaceSpecFields};
const FieldSpec kNamespaceStatusFields[] = {{1, "phase", S}};
const MessageSpec kNamespaceStatus{"NamespaceStatus", kNamespaceStatusFields};
const FieldSpec kNamespaceFields[] = {
    {1, "metadata", M, kPlain, &kObjectMeta},
    {2, "spec", M, kPlain, &kNamespaceSpec},
    {3, "status", M, kPlain, &kNamespaceStatus},
};
const MessageSpec kNamespace{"Namespace", kNamespaceFields};

const FieldSpec kConfigMapFields[] = {
    {1, "metadata", M, kPlain, &kObjectMeta},
    {2, "data", Type::kStringMap},
    {3, "binaryData", Type::kBytesMap},
    {4, "immutable", B, P},
};
const MessageSpec kConfigMap{"ConfigMap", kConfigMapFields};

const FieldSpec kSecretFields[] = {
    {1, "metadata", M, kPlain, &kObjectMeta}, {2, "data", Type::kBytesMap}, {3, "type", S},
    {4, "stringData", Type::kStringMap},      {5, "immutable", B, P},
};
const MessageSpec kSecret{"Secret", kSecretFields};

// --- services ---

const FieldSpec kServicePortFields[] = {
    {1, "name", S},       {2, "protocol", S},
    {3, "port", I32},     {4, "targetPort", Type::kIntOrString},
    {5, "nodePort", I32}, {6, "appProtocol", S, P},
};
const MessageSpec kServicePort{"ServicePort", kServicePortFields};

const FieldSpec kClientIPConfigFields[] = {{1, "timeoutSeconds", I32, P}};
const MessageSpec kClientIPConfig{"ClientIPConfig", kClientIPConfigFields};
const FieldSpec kSessionAffinityConfigFields[] = {{1, "clientIP", M, P, &kClientIPConfig}};
const MessageSpec kSessionAffinityConfig{"SessionAffinityConfig", kSessionAffinityConfigFields};

const FieldSpec kServiceSpecFields[] = {
    {1, "ports", M, R, &kServicePort},
    {2, "selector", Type::kStringMap},
    {3, "clusterIP", S},
    {4, "type", S},
    {5, "externalIPs", S, R},
    {7, "sessionAffinity", S},
    {8, "loadBalancerIP", S},
    {9, "loadBalancerSourceRanges", S, R},
    {10, "externalName", S},
    {11, "externalTrafficPolicy", S},
    {12, "healthCheckNodePort", I32},
    {13, "publishNotReadyAddresses", B},
    {14, "sessionAffinityConfig", M, P, &kSessionAffinityConfig},
    {17, "ipFamilyPolicy", S, P},
    {18, "clusterIPs", S, R},
    {19, "ipFamilies", S, R},
    {20, "allocateLoadBalancerNodePorts", B, P},
    {21, "loadBalancerClass", S, P},
    {22, "internalTrafficPolicy", S, P},
    {23, "trafficDistribution", S, P},
};
const MessageSpec kServiceSpec{"ServiceSpec", kServiceSpecFields};

const FieldSpec kServiceFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                    {2, "spec", M, kPlain, &kServiceSpec}};
const MessageSpec kService{"Service", kServiceFields};

// --- apps/v1 ---

const FieldSpec kRollingUpdateDeploymentFields[] = {{1, "maxUnavailable", Type::kIntOrString, P},
                                                    {2, "maxSurge", Type::kIntOrString, P}};
const MessageSpec kRollingUpdateDeployment{"RollingUpdateDeployment",
                                           kRollingUpdateDeploymentFields};

const FieldSpec kDeploymentStrategyFields[] = {
    {1, "type", S}, {2, "rollingUpdate", M, P, &kRollingUpdateDeployment}};
const MessageSpec kDeploymentStrategy{"DeploymentStrategy", kDeploymentStrategyFields};

const FieldSpec kDeploymentSpecFields[] = {
    {1, "replicas", I32, P},
    {2, "selector", M, P, &kLabelSelector},
    {3, "template", M, kPlain, &kPodTemplateSpec},
    {4, "strategy", M, kPlain, &kDeploymentStrategy},
    {5, "minReadySeconds", I32},
    {6, "revisionHistoryLimit", I32, P},
    {7, "paused", B},
    {9, "progressDeadlineSeconds", I32, P},
};
const MessageSpec kDeploymentSpec{"DeploymentSpec", kDeploymentSpecFields};

const FieldSpec kDeploymentFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                       {2, "spec", M, kPlain, &kDeploymentSpec}};
const MessageSpec kDeployment{"Deployment", kDeploymentFields};

const FieldSpec kReplicaSetSpecFields[] = {
    {1, "replicas", I32, P},
    {2, "selector", M, P, &kLabelSelector},
    {3, "template", M, kPlain, &kPodTemplateSpec},
    {4, "minReadySeconds", I32},
};
const MessageSpec kReplicaSetSpec{"ReplicaSetSpec", kReplicaSetSpecFields};

const FieldSpec kReplicaSetFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                       {2, "spec", M, kPlain, &kReplicaSetSpec}};
const MessageSpec kReplicaSet{"ReplicaSet", kReplicaSetFields};

// --- autoscaling/v1 and autoscaling/v2 ---

const FieldSpec kCrossVersionObjectReferenceFields[] = {
    {1, "kind", S}, {2, "name", S}, {3, "apiVersion", S}};
const MessageSpec kCrossVersionObjectReference{"CrossVersionObjectReference",
                                               kCrossVersionObjectReferenceFields};

// `kubectl autoscale` (1.32) posts autoscaling/v1.
const FieldSpec kHPASpecV1Fields[] = {
    {1, "scaleTargetRef", M, kPlain, &kCrossVersionObjectReference},
    {2, "minReplicas", I32, P},
    {3, "maxReplicas", I32},
    {4, "targetCPUUtilizationPercentage", I32, P},
};
const MessageSpec kHPASpecV1{"HorizontalPodAutoscalerSpec", kHPASpecV1Fields};
const FieldSpec kHPAV1Fields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                  {2, "spec", M, kPlain, &kHPASpecV1}};
const MessageSpec kHPAV1{"HorizontalPodAutoscaler", kHPAV1Fields};

const FieldSpec kMetricTargetFields[] = {
    {1, "type", S},
    {2, "value", Type::kQuantity, P},
    {3, "averageValue", Type::kQuantity, P},
    {4, "averageUtilization", I32, P},
};
const MessageSpec kMetricTarget{"MetricTarget", kMetricTargetFields};

const FieldSpec kMetricIdentifierFields[] = {{1, "name", S},
                                             {2, "selector", M, P, &kLabelSelector}};
const MessageSpec kMetricIdentifier{"MetricIdentifier", kMetricIdentifierFields};

const FieldSpec kResourceMetricSourceFields[] = {{1, "name", S},
                                                 {2, "target", M, kPlain, &kMetricTarget}};
const MessageSpec kResourceMetricSource{"ResourceMetricSource", kResourceMetricSourceFields};

const FieldSpec kContainerResourceMetricSourceFields[] = {
    {1, "name", S}, {2, "target", M, kPlain, &kMetricTarget}, {3, "container", S}};
const MessageSpec kContainerResourceMetricSource{"ContainerResourceMetricSource",
                                                 kContainerResourceMetricSourceFields};

// PodsMetricSource and ExternalMetricSource share numbers.
const FieldSpec kMetricSourceFields[] = {{1, "metric", M, kPlain, &kMetricIdentifier},
                                         {2, "target", M, kPlain, &kMetricTarget}};
const MessageSpec kMetricSource{"MetricSource", kMetricSourceFields};

const FieldSpec kObjectMetricSourceFields[] = {
    {1, "describedObject", M, kPlain, &kCrossVersionObjectReference},
    {2, "target", M, kPlain, &kMetricTarget},
    {3, "metric", M, kPlain, &kMetricIdentifier},
};
const MessageSpec kObjectMetricSource{"ObjectMetricSource", kObjectMetricSourceFields};

const FieldSpec kMetricSpecFields[] = {
    {1, "type", S},
    {2, "object", M, P, &kObjectMetricSource},
    {3, "pods", M, P, &kMetricSource},
    {4, "resource", M, P, &kResourceMetricSource},
    {5, "external", M, P, &kMetricSource},
    {7, "containerResource", M, P, &kContainerResourceMetricSource},
};
const MessageSpec kMetricSpec{"MetricSpec", kMetricSpecFields};

const FieldSpec kHPAScalingPolicyFields[] = {
    {1, "type", S}, {2, "value", I32}, {3, "periodSeconds", I32}};
const MessageSpec kHPAScalingPolicy{"HPAScalingPolicy", kHPAScalingPolicyFields};

const FieldSpec kHPAScalingRulesFields[] = {
    {1, "selectPolicy", S, P},
    {2, "policies", M, R, &kHPAScalingPolicy},
    {3, "stabilizationWindowSeconds", I32, P},
    {4, "tolerance", Type::kQuantity, P},
};
const MessageSpec kHPAScalingRules{"HPAScalingRules", kHPAScalingRulesFields};

const FieldSpec kHPABehaviorFields[] = {{1, "scaleUp", M, P, &kHPAScalingRules},
                                        {2, "scaleDown", M, P, &kHPAScalingRules}};
const MessageSpec kHPABehavior{"HorizontalPodAutoscalerBehavior", kHPABehaviorFields};

const FieldSpec kHPASpecV2Fields[] = {
    {1, "scaleTargetRef", M, kPlain, &kCrossVersionObjectReference},
    {2, "minReplicas", I32, P},
    {3, "maxReplicas", I32},
    {4, "metrics", M, R, &kMetricSpec},
    {5, "behavior", M, P, &kHPABehavior},
};
const MessageSpec kHPASpecV2{"HorizontalPodAutoscalerSpec", kHPASpecV2Fields};
const FieldSpec kHPAV2Fields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                  {2, "spec", M, kPlain, &kHPASpecV2}};
const MessageSpec kHPAV2{"HorizontalPodAutoscaler", kHPAV2Fields};

// --- authentication/v1 (kubectl create token, auth whoami) ---

const FieldSpec kBoundObjectReferenceFields[] = {
    {1, "kind", S}, {2, "apiVersion", S}, {3, "name", S}, {4, "uid", S}};
const MessageSpec kBoundObjectReference{"BoundObjectReference", kBoundObjectReferenceFields};
const FieldSpec kTokenRequestSpecFields[] = {
    {1, "audiences", S, R},
    {3, "boundObjectRef", M, P, &kBoundObjectReference},
    {4, "expirationSeconds", I64, P},
};
const MessageSpec kTokenRequestSpec{"TokenRequestSpec", kTokenRequestSpecFields};
const FieldSpec kTokenRequestFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                         {2, "spec", M, kPlain, &kTokenRequestSpec}};
const MessageSpec kTokenRequest{"TokenRequest", kTokenRequestFields};
const FieldSpec kTokenReviewSpecFields[] = {{1, "token", S}, {2, "audiences", S, R}};
const MessageSpec kTokenReviewSpec{"TokenReviewSpec", kTokenReviewSpecFields};
const FieldSpec kTokenReviewFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                        {2, "spec", M, kPlain, &kTokenReviewSpec}};
const MessageSpec kTokenReview{"TokenReview", kTokenReviewFields};
const FieldSpec kSelfSubjectReviewFields[] = {{1, "metadata", M, kPlain, &kObjectMeta}};
const MessageSpec kSelfSubjectReview{"SelfSubjectReview", kSelfSubjectReviewFields};
// v1 ServiceAccount (kubectl create serviceaccount).
const FieldSpec kObjectReferenceFields[] = {
    {1, "kind", S},       {2, "namespace", S},       {3, "name", S},     {4, "uid", S},
    {5, "apiVersion", S}, {6, "resourceVersion", S}, {7, "fieldPath", S}};
const MessageSpec kObjectReference{"ObjectReference", kObjectReferenceFields};
const FieldSpec kServiceAccountFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                           {2, "secrets", M, R, &kObjectReference},
                                           {3, "imagePullSecrets", M, R, &kLocalObjectReference},
                                           {4, "automountServiceAccountToken", B, P}};
const MessageSpec kServiceAccount{"ServiceAccount", kServiceAccountFields};
// rbac.authorization.k8s.io/v1 (kubectl create role|clusterrole|rolebinding|
// clusterrolebinding) and authorization.k8s.io/v1 (kubectl auth can-i).
const FieldSpec kPolicyRuleFields[] = {{1, "verbs", S, R},
                                       {2, "apiGroups", S, R},
                                       {3, "resources", S, R},
                                       {4, "resourceNames", S, R},
                                       {5, "nonResourceURLs", S, R}};
const MessageSpec kPolicyRule{"PolicyRule", kPolicyRuleFields};
const FieldSpec kAggregationRuleFields[] = {{1, "clusterRoleSelectors", M, R, &kLabelSelector}};
const MessageSpec kAggregationRule{"AggregationRule", kAggregationRuleFields};
const FieldSpec kRoleFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                 {2, "rules", M, R, &kPolicyRule}};
const MessageSpec kRole{"Role", kRoleFields};
const FieldSpec kClusterRoleFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                        {2, "rules", M, R, &kPolicyRule},
                                        {3, "aggregationRule", M, P, &kAggregationRule}};
const MessageSpec kClusterRole{"ClusterRole", kClusterRoleFields};
const FieldSpec kSubjectFields[] = {
    {1, "kind", S}, {2, "apiGroup", S}, {3, "name", S}, {4, "namespace", S}};
const MessageSpec kSubject{"Subject", kSubjectFields};
const FieldSpec kRoleRefFields[] = {{1, "apiGroup", S}, {2, "kind", S}, {3, "name", S}};
const MessageSpec kRoleRef{"RoleRef", kRoleRefFields};
const FieldSpec kRoleBindingFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                        {2, "subjects", M, R, &kSubject},
                                        {3, "roleRef", M, kPlain, &kRoleRef}};
const MessageSpec kRoleBinding{"RoleBinding", kRoleBindingFields};

const FieldSpec kResourceAttributesFields[] = {
    {1, "namespace", S}, {2, "verb", S},        {3, "group", S}, {4, "version", S},
    {5, "resource", S},  {6, "subresource", S}, {7, "name", S}};
const MessageSpec kResourceAttributes{"ResourceAttributes", kResourceAttributesFields};
const FieldSpec kNonResourceAttributesFields[] = {{1, "path", S}, {2, "verb", S}};
const MessageSpec kNonResourceAttributes{"NonResourceAttributes", kNonResourceAttributesFields};
const FieldSpec kSelfSubjectAccessReviewSpecFields[] = {
    {1, "resourceAttributes", M, P, &kResourceAttributes},
    {2, "nonResourceAttributes", M, P, &kNonResourceAttributes}};
const MessageSpec kSelfSubjectAccessReviewSpec{"SelfSubjectAccessReviewSpec",
                                               kSelfSubjectAccessReviewSpecFields};
const FieldSpec kSelfSubjectAccessReviewFields[] = {
    {1, "metadata", M, kPlain, &kObjectMeta},
    {2, "spec", M, kPlain, &kSelfSubjectAccessReviewSpec}};
const MessageSpec kSelfSubjectAccessReview{"SelfSubjectAccessReview",
                                           kSelfSubjectAccessReviewFields};
const FieldSpec kSubjectAccessReviewSpecFields[] = {
    {1, "resourceAttributes", M, P, &kResourceAttributes},
    {2, "nonResourceAttributes", M, P, &kNonResourceAttributes},
    {3, "user", S},
    {4, "groups", S, R},
    {6, "uid", S}};
const MessageSpec kSubjectAccessReviewSpec{"SubjectAccessReviewSpec",
                                           kSubjectAccessReviewSpecFields};
const FieldSpec kSubjectAccessReviewFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                                {2, "spec", M, kPlain, &kSubjectAccessReviewSpec}};
const MessageSpec kSubjectAccessReview{"SubjectAccessReview", kSubjectAccessReviewFields};
const FieldSpec kSelfSubjectRulesReviewSpecFields[] = {{1, "namespace", S}};
const MessageSpec kSelfSubjectRulesReviewSpec{"SelfSubjectRulesReviewSpec",
                                              kSelfSubjectRulesReviewSpecFields};
const FieldSpec kSelfSubjectRulesReviewFields[] = {
    {1, "metadata", M, kPlain, &kObjectMeta}, {2, "spec", M, kPlain, &kSelfSubjectRulesReviewSpec}};
const MessageSpec kSelfSubjectRulesReview{"SelfSubjectRulesReview", kSelfSubjectRulesReviewFields};

// certificates.k8s.io/v1 (k8s.io/api/certificates/v1/generated.proto);
// spec.extra (6, map of ExtraValue) is skipped: the server sets it.
const FieldSpec kCsrSpecFields[] = {{1, "request", Type::kBytes},
                                   {2, "username", S},
                                   {3, "uid", S},
                                   {4, "groups", S, R},
                                   {5, "usages", S, R},
                                   {7, "signerName", S},
                                   {8, "expirationSeconds", I32, P}};
const MessageSpec kCsrSpec{"CertificateSigningRequestSpec", kCsrSpecFields};
const FieldSpec kCsrConditionFields[] = {{1, "type", S},
                                         {6, "status", S},
                                         {2, "reason", S},
                                         {3, "message", S},
                                         {4, "lastUpdateTime", Type::kTime},
                                         {5, "lastTransitionTime", Type::kTime}};
const MessageSpec kCsrCondition{"CertificateSigningRequestCondition", kCsrConditionFields};
const FieldSpec kCsrStatusFields[] = {{1, "conditions", M, R, &kCsrCondition},
                                      {2, "certificate", Type::kBytes}};
const MessageSpec kCsrStatus{"CertificateSigningRequestStatus", kCsrStatusFields};
const FieldSpec kCsrFields[] = {{1, "metadata", M, kPlain, &kObjectMeta},
                                {2, "spec", M, kPlain, &kCsrSpec},
                                {3, "status", M, kPlain, &kCsrStatus}};
const MessageSpec kCsr{"CertificateSigningRequest", kCsrFields};

struct KindEntry {
  std::string_view api_version;
  std::string_view kind;
  const MessageSpec* spec;
};
const KindEntry kKinds[] = {
    {"v1", "Namespace", &kNamespace},
    {"v1", "ConfigMap", &kConfigMap},
    {"v1", "Secret", &kSecret},
    {"v1", "Service", &kService},
    {"v1", "Pod", &kPod},
    {"v1", "ServiceAccount", &kServiceAccount},
    {"apps/v1", "Deployment", &kDeployment},
    {"apps/v1", "ReplicaSet", &kReplicaSet},
    {"autoscaling/v1", "HorizontalPodAutoscaler", &kHPAV1},
    {"autoscaling/v2", "HorizontalPodAutoscaler", &kHPAV2},
    {"authentication.k8s.io/v1", "TokenRequest", &kTokenRequest},
    {"authentication.k8s.io/v1", "TokenReview", &kTokenReview},
    {"authentication.k8s.io/v1", "SelfSubjectReview", &kSelfSubjectReview},
    {"rbac.authorization.k8s.io/v1", "Role", &kRole},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", &kClusterRole},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", &kRoleBinding},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &kRoleBinding},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", &kSelfSubjectAccessReview},
    {"authorization.k8s.io/v1", "SubjectAccessReview", &kSubjectAccessReview},
    {"authorization.k8s.io/v1", "SelfSubjectRulesReview", &kSelfSubjectRulesReview},
    {"certificates.k8s.io/v1", "CertificateSigningRequest", &kCsr},
};

// ---------------------------------------------------------------------------
// Wire format.

constexpr int kMaxDepth = 32;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool done() const { return pos_ >= data_.size(); }
  size_t offset() const { return pos_; }

  bool read_varint(uint64_t* out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      auto byte = static_cast<uint8_t>(data_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *out = value;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }

  bool read_tag(uint32_t* field, uint32_t* wire) {
    uint64_t tag = 0;
    if (!read_varint(&tag)) return false;
    *wire = static_cast<uint32_t>(tag & 7);
    uint64_t number = tag >> 3;
    if (number == 0 || number > 0x1fffffff) return false;
    *field = static_cast<uint32_t>(number);
    return true;
  }

  bool read_length_delimited(std::string_view* out) {
    uint64_t len = 0;
    if (!read_varint(&len)) return false;
    if (len > data_.size() - pos_) return false;
    *out = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }

  bool skip(uint32_t wire) {
    uint64_t ignored = 0;
    std::string_view ignored_bytes;
    switch (wire) {
      case kVarint:
        return read_varint(&ignored);
      case kFixed64:
        return advance(8);
      case kLengthDelimited:
        return read_length_delimited(&ignored_bytes);
      case kFixed32:
        return advance(4);
      default:
        return false;  // groups (3, 4) are not used by Kubernetes; 6, 7 are invalid
    }
  }

 private:
  bool advance(size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Decoding.

class Decoder {
 public:
  Status decode_message(std::string_view data, const MessageSpec& spec, Json& out, int depth);

 private:
  static Status malformed(const MessageSpec& spec, std::string_view what) {
    return bad_request("protobuf body: " + std::string(what) + " in " + spec.name);
  }
  static Status malformed_field(const MessageSpec& spec, const FieldSpec& f,
                                std::string_view what) {
    return bad_request("protobuf body: " + std::string(what) + " in " + spec.name + "." + f.name);
  }

  Status decode_field(Reader& reader, uint32_t wire, const MessageSpec& spec, const FieldSpec& f,
                      Json& out, int depth);
  Status decode_scalar(uint64_t raw, const FieldSpec& f, Json* value, bool* zero);
  Status decode_special(std::string_view data, const MessageSpec& spec, const FieldSpec& f,
                        Json* value, bool* zero);
  Status decode_map_entry(std::string_view data, const MessageSpec& spec, const FieldSpec& f,
                          Json& map);
  static Status read_string(std::string_view bytes, const MessageSpec& spec, const FieldSpec& f,
                            Json* value);
};

Status Decoder::read_string(std::string_view bytes, const MessageSpec& spec, const FieldSpec& f,
                            Json* value) {
  if (!valid_utf8(bytes)) return malformed_field(spec, f, "invalid UTF-8");
  *value = std::string(bytes);
  return Status::ok();
}

// Stores one value: appended for repeated fields; otherwise set, or removed
// when it is a zero value of a non-pointer field (Go's `omitempty`).
void store(Json& out, const FieldSpec& f, Json value, bool zero) {
  if (f.flags & kRepeated) {
    Json& arr = out[f.name];
    if (!arr.is_array()) arr = Json::array();
    arr.push_back(std::move(value));
  } else if (zero && !(f.flags & kPointer)) {
    out.erase(f.name);
  } else {
    out[f.name] = std::move(value);
  }
}

Status Decoder::decode_scalar(uint64_t raw, const FieldSpec& f, Json* value, bool* zero) {
  switch (f.type) {
    case Type::kInt32: {
      auto v = static_cast<int32_t>(static_cast<uint32_t>(raw));
      *value = v;
      *zero = v == 0;
      return Status::ok();
    }
    case Type::kInt64: {
      auto v = static_cast<int64_t>(raw);
      *value = v;
      *zero = v == 0;
      return Status::ok();
    }
    case Type::kBool:
      *value = raw != 0;
      *zero = raw == 0;
      return Status::ok();
    default:
      return internal_error("not a varint type");
  }
}

// Time, MicroTime, IntOrString and Quantity: small messages with a JSON
// scalar form. `zero` reports the Go zero value (omitted unless pointer).
Status Decoder::decode_special(std::string_view data, const MessageSpec& spec, const FieldSpec& f,
                               Json* value, bool* zero) {
  Reader r(data);
  uint64_t n1 = 0, n2 = 0;
  std::string_view s3;
  bool has_s = false;
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.read_tag(&field, &wire)) return malformed_field(spec, f, "bad tag");
    bool ok = true;
    if (f.type == Type::kQuantity) {
      if (field == 1 && wire == kLengthDelimited) {
        ok = r.read_length_delimited(&s3);
        has_s = true;
      } else {
        ok = r.skip(wire);
      }
    } else if (field == 1 && wire == kVarint) {
      ok = r.read_varint(&n1);
    } else if (field == 2 && wire == kVarint) {
      ok = r.read_varint(&n2);
    } else if (field == 3 && wire == kLengthDelimited && f.type == Type::kIntOrString) {
      ok = r.read_length_delimited(&s3);
      has_s = true;
    } else {
      ok = r.skip(wire);
    }
    if (!ok) return malformed_field(spec, f, "truncated value");
  }

  switch (f.type) {
    case Type::kTime:
    case Type::kMicroTime: {
      auto seconds = static_cast<int64_t>(n1);
      auto nanos = static_cast<int32_t>(static_cast<uint32_t>(n2));
      *zero = seconds == 0 && nanos == 0;
      // system_clock counts nanoseconds in int64 (about +-292 years); stay
      // well inside that, which covers every real timestamp (1700..2200).
      constexpr int64_t kMaxAbsSeconds = 7'000'000'000;
      if (seconds > kMaxAbsSeconds || seconds < -kMaxAbsSeconds || nanos < 0 ||
          nanos > 999'999'999) {
        return malformed_field(spec, f, "timestamp out of range");
      }
      SysTime t{std::chrono::duration_cast<SysTime::duration>(std::chrono::seconds(seconds))};
      if (f.type == Type::kTime) {
        *value = format_rfc3339(t);
      } else {
        t += std::chrono::duration_cast<SysTime::duration>(std::chrono::microseconds(nanos / 1000));
        *value = format_rfc3339_micro(t);
      }
      return Status::ok();
    }
    case Type::kIntOrString:
      if (n1 == 1) {
        if (Status s = read_string(s3, spec, f, value); !s) return s;
        *zero = s3.empty();
      } else {
        auto v = static_cast<int32_t>(static_cast<uint32_t>(n2));
        *value = v;
        *zero = v == 0;
      }
      return Status::ok();
    case Type::kQuantity:
      if (Status s = read_string(s3, spec, f, value); !s) return s;
      *zero = !has_s || s3.empty();
      return Status::ok();
    default:
      return internal_error("not a special type");
  }
}

Status Decoder::decode_map_entry(std::string_view data, const MessageSpec& spec, const FieldSpec& f,
                                 Json& map) {
  Reader r(data);
  std::string_view key, value;
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.read_tag(&field, &wire)) return malformed_field(spec, f, "bad map entry tag");
    bool ok = true;
    if (field == 1 && wire == kLengthDelimited) {
      ok = r.read_length_delimited(&key);
    } else if (field == 2 && wire == kLengthDelimited) {
      ok = r.read_length_delimited(&value);
    } else {
      ok = r.skip(wire);
    }
    if (!ok) return malformed_field(spec, f, "truncated map entry");
  }
  if (!valid_utf8(key)) return malformed_field(spec, f, "invalid UTF-8 in map key");
  std::string k(key);
  switch (f.type) {
    case Type::kStringMap:
      if (!valid_utf8(value)) return malformed_field(spec, f, "invalid UTF-8 in map value");
      map[k] = std::string(value);
      return Status::ok();
    case Type::kBytesMap:
      map[k] = base64_encode(value);
      return Status::ok();
    case Type::kQuantityMap: {
      FieldSpec quantity{f.number, f.name, Type::kQuantity};
      Json q;
      bool zero = false;
      if (Status s = decode_special(value, spec, quantity, &q, &zero); !s) return s;
      map[k] = std::move(q);
      return Status::ok();
    }
    default:
      return internal_error("not a map type");
  }
}

Status Decoder::decode_field(Reader& reader, uint32_t wire, const MessageSpec& spec,
                             const FieldSpec& f, Json& out, int depth) {
  const bool varint_type =
      f.type == Type::kInt32 || f.type == Type::kInt64 || f.type == Type::kBool;
  if (varint_type) {
    if (wire == kVarint) {
      uint64_t raw = 0;
      if (!reader.read_varint(&raw)) return malformed_field(spec, f, "truncated varint");
      Json value;
      bool zero = false;
      if (Status s = decode_scalar(raw, f, &value, &zero); !s) return s;
      store(out, f, std::move(value), zero);
      return Status::ok();
    }
    if (wire == kLengthDelimited && (f.flags & kRepeated)) {  // packed
      std::string_view packed;
      if (!reader.read_length_delimited(&packed)) return malformed_field(spec, f, "truncated");
      Reader pr(packed);
      while (!pr.done()) {
        uint64_t raw = 0;
        if (!pr.read_varint(&raw)) return malformed_field(spec, f, "truncated packed varint");
        Json value;
        bool zero = false;
        if (Status s = decode_scalar(raw, f, &value, &zero); !s) return s;
        store(out, f, std::move(value), zero);
      }
      return Status::ok();
    }
    return malformed_field(spec, f, "wrong wire type");
  }

  if (wire != kLengthDelimited) return malformed_field(spec, f, "wrong wire type");
  std::string_view bytes;
  if (!reader.read_length_delimited(&bytes)) return malformed_field(spec, f, "truncated field");

  switch (f.type) {
    case Type::kString: {
      Json value;
      if (Status s = read_string(bytes, spec, f, &value); !s) return s;
      store(out, f, std::move(value), bytes.empty());
      return Status::ok();
    }
    case Type::kBytes:
      store(out, f, base64_encode(bytes), bytes.empty());
      return Status::ok();
    case Type::kMessage: {
      if (f.flags & kRepeated) {
        Json item = Json::object();
        if (Status s = decode_message(bytes, *f.message, item, depth + 1); !s) return s;
        store(out, f, std::move(item), false);
        return Status::ok();
      }
      // A repeated occurrence of a singular message merges into the first.
      Json& sub = out[f.name];
      if (!sub.is_object()) sub = Json::object();
      return decode_message(bytes, *f.message, sub, depth + 1);
    }
    case Type::kInline:
      return decode_message(bytes, *f.message, out, depth + 1);
    case Type::kStringMap:
    case Type::kBytesMap:
    case Type::kQuantityMap: {
      Json& map = out[f.name];
      if (!map.is_object()) map = Json::object();
      return decode_map_entry(bytes, spec, f, map);
    }
    case Type::kTime:
    case Type::kMicroTime:
    case Type::kIntOrString:
    case Type::kQuantity: {
      Json value;
      bool zero = false;
      if (Status s = decode_special(bytes, spec, f, &value, &zero); !s) return s;
      // A zero Time is JSON null in Go: never worth emitting.
      if (zero && (f.type == Type::kTime || f.type == Type::kMicroTime)) {
        out.erase(f.name);
        return Status::ok();
      }
      store(out, f, std::move(value), zero);
      return Status::ok();
    }
    default:
      return internal_error("unhandled field type");
  }
}

Status Decoder::decode_message(std::string_view data, const MessageSpec& spec, Json& out,
                               int depth) {
  if (depth > kMaxDepth) return malformed(spec, "nesting too deep");
  Reader reader(data);
  while (!reader.done()) {
    uint32_t field = 0, wire = 0;
    if (!reader.read_tag(&field, &wire)) return malformed(spec, "bad field tag");
    const FieldSpec* f = spec.find(field);
    if (f == nullptr) {
      if (!reader.skip(wire)) return malformed(spec, "truncated unknown field");
      continue;
    }
    if (Status s = decode_field(reader, wire, spec, *f, out, depth); !s) return s;
  }
  return Status::ok();
}

struct Unknown {
  std::string_view api_version;
  std::string_view kind;
  std::string_view raw;
  std::string_view content_encoding;
};

Status parse_type_meta(std::string_view data, Unknown* u) {
  Reader r(data);
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.read_tag(&field, &wire)) return bad_request("protobuf body: bad TypeMeta tag");
    bool ok = true;
    if (field == 1 && wire == kLengthDelimited) {
      ok = r.read_length_delimited(&u->api_version);
    } else if (field == 2 && wire == kLengthDelimited) {
      ok = r.read_length_delimited(&u->kind);
    } else {
      ok = r.skip(wire);
    }
    if (!ok) return bad_request("protobuf body: truncated TypeMeta");
  }
  return Status::ok();
}

Status parse_unknown(std::string_view data, Unknown* u) {
  Reader r(data);
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.read_tag(&field, &wire)) return bad_request("protobuf body: bad runtime.Unknown tag");
    bool ok = true;
    std::string_view bytes;
    if (field >= 1 && field <= 4 && wire == kLengthDelimited) {
      ok = r.read_length_delimited(&bytes);
      if (ok && field == 1) {
        if (Status s = parse_type_meta(bytes, u); !s) return s;
      } else if (field == 2) {
        u->raw = bytes;
      } else if (field == 3) {
        u->content_encoding = bytes;
      }
    } else {
      ok = r.skip(wire);
    }
    if (!ok) return bad_request("protobuf body: truncated runtime.Unknown");
  }
  return Status::ok();
}

}  // namespace

Result<Json> decode_k8s_protobuf(std::string_view body) {
  try {
    if (body.size() < kK8sProtobufMagic.size() ||
        body.substr(0, kK8sProtobufMagic.size()) != kK8sProtobufMagic) {
      return bad_request("protobuf body does not start with the Kubernetes magic \"k8s\\0\"");
    }
    Unknown u;
    if (Status s = parse_unknown(body.substr(kK8sProtobufMagic.size()), &u); !s) return s;
    if (u.kind.empty()) return bad_request("protobuf body: runtime.Unknown has no kind");
    if (!u.content_encoding.empty()) {
      return Status(Code::kUnsupported, "protobuf body: content encoding \"" +
                                            std::string(u.content_encoding) +
                                            "\" is not supported; send JSON");
    }
    const MessageSpec* spec = nullptr;
    for (const KindEntry& e : kKinds) {
      if (e.api_version == u.api_version && e.kind == u.kind) spec = e.spec;
    }
    if (spec == nullptr) {
      std::string what = std::string(u.api_version) + " " + std::string(u.kind);
      if (!valid_utf8(what)) what = "this kind";
      return Status(Code::kUnsupported,
                    "protobuf decoding of " + what + " is not supported; send application/json");
    }
    Json obj = Json::object();
    if (Status s = Decoder().decode_message(u.raw, *spec, obj, 0); !s) return s;
    obj["apiVersion"] = std::string(u.api_version);
    obj["kind"] = std::string(u.kind);
    return obj;
  } catch (const std::exception& e) {  // allocation failure, json type errors
    return bad_request(std::string("protobuf body: ") + e.what());
  }
}

}  // namespace minik8s::api
