// Unknown-field detection (schema.cc) and the OpenAPI documents built from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/table.h"

namespace minik8s::api {
namespace {

Json J(const char* text) { return Json::parse(text); }

std::vector<std::string> unknown(const char* api_version, const char* kind, const Json& obj) {
  const ResourceType* t = find_kind(api_version, kind);
  EXPECT_NE(t, nullptr);
  std::vector<std::string> paths;
  if (t && t->unknown_fields) t->unknown_fields(obj, paths);
  return paths;
}

using Paths = std::vector<std::string>;

TEST(UnknownFieldsTest, ReportsNestedPaths) {
  Json pod = J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labelz":{}},
    "spec":{"containers":[{"name":"a","image":"x"},{"name":"b","imagee":"y",
      "ports":[{"containerPort":80,"hostport":1}],"resources":{"limits":{"anything/goes":"1"}},
      "livenessProbe":{"httpGet":{"path":"/","port":"http","bogus":1}}}],
      "nodeSelector":{"any.key/x":"y"},"restartpolicy":"Always"},
    "extra":true})");
  Paths got = unknown("v1", "Pod", pod);
  std::sort(got.begin(), got.end());
  Paths want = {"extra",
                "metadata.labelz",
                "spec.containers[1].imagee",
                "spec.containers[1].livenessProbe.httpGet.bogus",
                "spec.containers[1].ports[0].hostport",
                "spec.restartpolicy"};
  EXPECT_EQ(got, want);

  Json d = J(R"({"spec":{"replicas":1,"template":{"metadata":{"labels":{"a":"b"},"lables":{}},
    "spec":{"containers":[{"name":"a","image":"x","envv":[]}]}},"strategy":{"rollingUpdate":{"maxSurge":1,"max":2}}}})");
  got = unknown("apps/v1", "Deployment", d);
  std::sort(got.begin(), got.end());
  want = {"spec.strategy.rollingUpdate.max", "spec.template.metadata.lables",
          "spec.template.spec.containers[0].envv"};
  EXPECT_EQ(got, want);

  EXPECT_EQ(
      unknown(
          "minik8s.io/v1", "DNS",
          J(R"({"spec":{"host":"h","paths":[{"path":"/","serviceName":"s","servicePort":1,"weight":3}]},"host":"x"})")),
      (Paths{"host", "spec.paths[0].weight"}));
  // Wrong JSON types are left to validation.
  EXPECT_TRUE(unknown("v1", "Pod", J(R"({"spec":{"containers":"x","volumes":7}})")).empty());
}

TEST(UnknownFieldsTest, NoneForRealisticKubectlOutput) {
  Json deploy = J(R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {
    "annotations": {
      "deployment.kubernetes.io/revision": "1",
      "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}\n"
    },
    "creationTimestamp": "2024-05-01T10:00:00Z", "generation": 2,
    "labels": {"app": "web"}, "name": "web", "namespace": "default",
    "resourceVersion": "1234", "uid": "0b6f3c0e-1111-2222-3333-444455556666",
    "managedFields": [{"apiVersion": "apps/v1", "fieldsType": "FieldsV1",
      "fieldsV1": {"f:spec": {"f:replicas": {}}}, "manager": "kubectl-client-side-apply",
      "operation": "Update", "time": "2024-05-01T10:00:00Z"},
      {"apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}},
       "manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
       "time": "2024-05-01T10:00:05Z"}]
  },
  "spec": {
    "progressDeadlineSeconds": 600, "replicas": 3, "revisionHistoryLimit": 10,
    "selector": {"matchLabels": {"app": "web"},
                 "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
    "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
    "template": {
      "metadata": {"creationTimestamp": null, "labels": {"app": "web"},
                   "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}},
      "spec": {
        "containers": [{
          "name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
          "args": ["--port", "80"], "command": ["nginx"], "workingDir": "/",
          "env": [{"name": "A", "value": "1"},
                  {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                  {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}},
                  {"name": "LIM", "valueFrom": {"resourceFieldRef": {"containerName": "web", "resource": "limits.cpu", "divisor": "1m"}}}],
          "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
          "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
          "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP",
                             "httpHeaders": [{"name": "X", "value": "y"}]},
                             "failureThreshold": 3, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
          "livenessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5},
          "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}},
          "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
          "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}},
          "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                              "runAsNonRoot": true, "runAsUser": 1000, "readOnlyRootFilesystem": true},
          "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
          "volumeMounts": [{"mountPath": "/data", "name": "data"}, {"mountPath": "/cfg", "name": "cfg", "readOnly": true}]
        }],
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "securityContext": {"fsGroup": 2000}, "terminationGracePeriodSeconds": 30,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "imagePullSecrets": [{"name": "reg"}], "serviceAccountName": "default", "serviceAccount": "default",
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420, "items": [{"key": "a", "path": "a"}]}},
                    {"name": "sec", "secret": {"secretName": "s", "defaultMode": 420}},
                    {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                    {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}}]
      }
    }
  },
  "status": {
    "availableReplicas": 3, "observedGeneration": 2, "readyReplicas": 3, "replicas": 3, "updatedReplicas": 3,
    "conditions": [{"lastTransitionTime": "2024-05-01T10:00:05Z", "lastUpdateTime": "2024-05-01T10:00:05Z",
                    "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable",
                    "status": "True", "type": "Available"}]
  }})");
  EXPECT_EQ(unknown("apps/v1", "Deployment", deploy), Paths{});

  Json rs = deploy;
  rs["kind"] = "ReplicaSet";
  rs["spec"].erase("strategy");
  rs["spec"].erase("progressDeadlineSeconds");
  rs["spec"].erase("revisionHistoryLimit");
  rs["metadata"]["ownerReferences"] =
      J(R"([{"apiVersion":"apps/v1","kind":"Deployment","name":"web",
    "uid":"x","controller":true,"blockOwnerDeletion":true}])");
  rs["status"] = J(
      R"({"replicas":3,"fullyLabeledReplicas":3,"readyReplicas":3,"availableReplicas":3,"observedGeneration":1})");
  EXPECT_EQ(unknown("apps/v1", "ReplicaSet", rs), Paths{});

  Json pod = J(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"web-abc","generateName":"web-","namespace":"default","uid":"u","resourceVersion":"9",
      "creationTimestamp":"2024-05-01T10:00:00Z","labels":{"app":"web","pod-template-hash":"abc"},
      "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"x","controller":true,"blockOwnerDeletion":true}],
      "finalizers":["x/y"],"deletionTimestamp":"2024-05-01T10:10:00Z","deletionGracePeriodSeconds":30},
    "spec":{"containers":[{"name":"a","image":"x","resources":{},"stdin":true,"tty":true}],
      "initContainers":[{"name":"i","image":"x","restartPolicy":"Always"}],
      "nodeName":"node-1","hostNetwork":false,"priority":0,"enableServiceLinks":true,
      "preemptionPolicy":"PreemptLowerPriority","readinessGates":[{"conditionType":"x/ready"}],
      "dnsConfig":{"nameservers":["1.1.1.1"],"searches":["a"],"options":[{"name":"ndots","value":"2"}]},
      "hostname":"h","subdomain":"s","activeDeadlineSeconds":60,"os":{"name":"linux"}},
    "status":{"phase":"Running","hostIP":"192.168.1.10","hostIPs":[{"ip":"192.168.1.10"}],
      "podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}],"qosClass":"BestEffort",
      "startTime":"2024-05-01T10:00:01Z","nominatedNodeName":"n",
      "conditions":[{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2024-05-01T10:00:03Z"}],
      "initContainerStatuses":[{"name":"i","ready":true,"restartCount":0,"image":"x","imageID":"sha256:1",
        "containerID":"containerd://1","started":true,"state":{"running":{"startedAt":"2024-05-01T10:00:02Z"}}}],
      "containerStatuses":[{"name":"a","ready":true,"restartCount":2,"image":"x","imageID":"sha256:1",
        "containerID":"containerd://2","started":true,"state":{"running":{"startedAt":"2024-05-01T10:00:02Z"}},
        "lastState":{"terminated":{"exitCode":1,"reason":"Error","startedAt":"2024-05-01T10:00:01Z",
          "finishedAt":"2024-05-01T10:00:02Z","containerID":"containerd://0"}}}]}})");
  EXPECT_EQ(unknown("v1", "Pod", pod), Paths{});

  Json svc = J(R"({"apiVersion":"v1","kind":"Service",
    "metadata":{"name":"web","namespace":"default","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},
    "spec":{"clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"externalTrafficPolicy":"Cluster",
      "internalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack",
      "ports":[{"name":"http","nodePort":30080,"port":80,"protocol":"TCP","targetPort":"http","appProtocol":"http"}],
      "selector":{"app":"web"},"sessionAffinity":"None","type":"NodePort",
      "sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}}},
    "status":{"loadBalancer":{}}})");
  EXPECT_EQ(unknown("v1", "Service", svc), Paths{});

  Json hpa = J(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler",
    "metadata":{"name":"web","namespace":"default"},
    "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
      "minReplicas":1,"maxReplicas":10,
      "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}},
                 {"type":"Pods","pods":{"metric":{"name":"qps"},"target":{"type":"AverageValue","averageValue":"1k"}}}],
      "behavior":{"scaleDown":{"stabilizationWindowSeconds":300,"selectPolicy":"Max",
                  "policies":[{"type":"Percent","value":100,"periodSeconds":15}]},
                  "scaleUp":{"stabilizationWindowSeconds":0,"selectPolicy":"Max",
                  "policies":[{"type":"Pods","value":4,"periodSeconds":15}]}}},
    "status":{"currentReplicas":3,"desiredReplicas":3,"lastScaleTime":"2024-05-01T10:00:00Z",
      "currentMetrics":[{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":73,"averageValue":"150m"}}}],
      "conditions":[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-05-01T10:00:00Z","reason":"ReadyForNewScale","message":"m"}]}})");
  EXPECT_EQ(unknown("autoscaling/v2", "HorizontalPodAutoscaler", hpa), Paths{});

  Json node = J(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},
    "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"],"taints":[{"key":"k","effect":"NoSchedule"}]},
    "status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4"},
      "conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"x","lastTransitionTime":"x","reason":"KubeletReady","message":"ok"}],
      "addresses":[{"type":"InternalIP","address":"192.168.1.10"}],
      "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
      "nodeInfo":{"architecture":"amd64","bootID":"b","containerRuntimeVersion":"containerd://1.7","kernelVersion":"6.1",
        "kubeProxyVersion":"v1","kubeletVersion":"v1","machineID":"m","operatingSystem":"linux","osImage":"Debian","systemUUID":"s"},
      "images":[{"names":["nginx"],"sizeBytes":1000}]}})");
  EXPECT_EQ(unknown("v1", "Node", node), Paths{});

  Json ev = J(R"({"apiVersion":"v1","kind":"Event","metadata":{"name":"e","namespace":"d"},
    "involvedObject":{"kind":"Pod","name":"p","namespace":"d","uid":"u","apiVersion":"v1","resourceVersion":"1","fieldPath":"spec.containers{a}"},
    "reason":"Pulled","message":"m","source":{"component":"kubelet","host":"n1"},"firstTimestamp":"x",
    "lastTimestamp":"x","count":1,"type":"Normal","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"n1"})");
  EXPECT_EQ(unknown("v1", "Event", ev), Paths{});
  Json lease = J(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease"},
    "spec":{"holderIdentity":"n1","leaseDurationSeconds":40,"renewTime":"2024-05-01T10:00:00.000000Z"}})");
  EXPECT_EQ(unknown("coordination.k8s.io/v1", "Lease", lease), Paths{});
  Json ep = J(R"({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web","namespace":"d"},
    "subsets":[{"addresses":[{"ip":"10.244.1.5","nodeName":"n1","targetRef":{"kind":"Pod","name":"p","namespace":"d","uid":"u"}}],
    "ports":[{"name":"http","port":80,"protocol":"TCP"}]}]})");
  EXPECT_EQ(unknown("v1", "Endpoints", ep), Paths{});
  EXPECT_EQ(
      unknown("v1", "Secret",
              J(R"({"data":{"a":"b"},"stringData":{"c":"d"},"type":"Opaque","immutable":true})")),
      Paths{});
  EXPECT_EQ(unknown("v1", "ConfigMap", J(R"({"data":{"a":"b"},"binaryData":{"c":"AA=="}})")),
            Paths{});
  EXPECT_EQ(unknown("v1", "Namespace",
                    J(R"({"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})")),
            Paths{});
}

TEST(OpenApiTest, IndexListsEveryGroupVersion) {
  Json idx = openapi_v3_index();
  ASSERT_TRUE(idx.contains("paths"));
  for (const char* p : {"api/v1", "apis/apps/v1", "apis/autoscaling/v2",
                        "apis/coordination.k8s.io/v1", "apis/minik8s.io/v1",
                        "apis/discovery.k8s.io/v1", "apis/serverless.minik8s.io/v1",
                        "apis/authentication.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1",
                        "apis/authorization.k8s.io/v1", "apis/certificates.k8s.io/v1"}) {
    ASSERT_TRUE(idx["paths"].contains(p)) << p;
    std::string url = idx["paths"][p]["serverRelativeURL"];
    EXPECT_EQ(url.rfind(std::string("/openapi/v3/") + p + "?hash=", 0), 0u) << url;
  }
  EXPECT_EQ(idx["paths"].size(), 11u);
  EXPECT_EQ(openapi_v3_index(), idx);  // stable
}

TEST(OpenApiTest, DeploymentDocumentHasPatchOperationAndSchema) {
  Json doc = openapi_v3_document("apis/apps/v1");
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["openapi"], "3.0.0");
  const Json& item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
  ASSERT_TRUE(item.contains("patch")) << doc["paths"].dump();
  const Json& patch = item["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"],
            J(R"({"group":"apps","version":"v1","kind":"Deployment"})"));
  bool has_fv = false;
  for (const Json& p : patch["parameters"]) {
    if (p["name"] == "fieldValidation" && p["in"] == "query") has_fv = true;
  }
  EXPECT_TRUE(has_fv);
  Json types = Json::array();
  for (auto it = patch["requestBody"]["content"].begin();
       it != patch["requestBody"]["content"].end(); ++it) {
    types.push_back(it.key());
  }
  EXPECT_EQ(
      types,
      J(R"(["application/apply-patch+yaml","application/json-patch+json","application/merge-patch+json"])"));
  EXPECT_EQ(patch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.Deployment");

  const Json& schemas = doc["components"]["schemas"];
  const Json& dep = schemas["io.k8s.api.apps.v1.Deployment"];
  EXPECT_EQ(dep["x-kubernetes-group-version-kind"],
            J(R"([{"group":"apps","version":"v1","kind":"Deployment"}])"));
  EXPECT_EQ(dep["properties"]["spec"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
  // Every $ref resolves inside the document.
  std::function<void(const Json&)> check_refs = [&](const Json& v) {
    if (v.is_object()) {
      if (v.contains("$ref")) {
        std::string r = v["$ref"];
        std::string name = r.substr(std::string("#/components/schemas/").size());
        EXPECT_TRUE(schemas.contains(name)) << r;
      }
      for (const auto& x : v) check_refs(x);
    } else if (v.is_array()) {
      for (const auto& x : v) check_refs(x);
    }
  };
  check_refs(doc);
  EXPECT_TRUE(schemas.contains("io.k8s.api.core.v1.PodSpec"));
  EXPECT_TRUE(schemas.contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
  EXPECT_EQ(schemas["io.k8s.api.core.v1.Container"]["properties"]["image"]["type"], "string");
  EXPECT_TRUE(item["patch"].contains("requestBody"));
}

TEST(OpenApiTest, CoreAndCustomDocuments) {
  Json core = openapi_v3_document("api/v1");
  ASSERT_TRUE(core.is_object());
  EXPECT_TRUE(core["paths"].contains("/api/v1/namespaces/{namespace}/pods/{name}"));
  EXPECT_TRUE(core["paths"].contains("/api/v1/nodes/{name}"));
  EXPECT_TRUE(core["paths"].contains("/api/v1/namespaces/{name}"));
  EXPECT_EQ(
      core["paths"]["/api/v1/nodes/{name}"]["patch"]["x-kubernetes-group-version-kind"]["kind"],
      "Node");
  EXPECT_TRUE(core["components"]["schemas"].contains("io.k8s.api.core.v1.Pod"));
  EXPECT_FALSE(core["components"]["schemas"].contains("io.k8s.api.apps.v1.Deployment"));
  Json dns = openapi_v3_document("/apis/minik8s.io/v1");
  ASSERT_TRUE(dns.is_object());
  EXPECT_EQ(dns["components"]["schemas"]["io.minik8s.v1.DNS"]["x-kubernetes-group-version-kind"][0]
               ["kind"],
            "DNS");
  EXPECT_TRUE(dns["paths"].contains("/apis/minik8s.io/v1/namespaces/{namespace}/dnses/{name}"));
  Json disc = openapi_v3_document("apis/discovery.k8s.io/v1");
  ASSERT_TRUE(disc.is_object());
  EXPECT_EQ(disc["components"]["schemas"]["io.k8s.api.discovery.v1.EndpointSlice"]
                ["x-kubernetes-group-version-kind"][0]["group"],
            "discovery.k8s.io");
  EXPECT_EQ(disc["paths"]["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}"]
                ["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "EndpointSlice");
  EXPECT_TRUE(openapi_v3_document("apis/batch/v1").is_null());
  EXPECT_TRUE(openapi_v3_document("").is_null());
}

}  // namespace
}  // namespace minik8s::api
