#include "minik8s/api/resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "kinds_test_util.h"

namespace minik8s::api {
namespace {

using kinds_test::check;
using kinds_test::dump;
using kinds_test::has_error;
using kinds_test::J;
using kinds_test::kind;

// ------------------------------------------------------------------- lookups

TEST(ResourceLookupTest, AllKindsInDiscoveryOrder) {
  std::vector<std::string> names;
  for (const ResourceType* t : all_resources()) names.push_back(t->qualified_plural());
  std::vector<std::string> want = {"namespaces",
                                   "pods",
                                   "nodes",
                                   "services",
                                   "endpoints",
                                   "events",
                                   "configmaps",
                                   "secrets",
                                   "deployments.apps",
                                   "replicasets.apps",
                                   "horizontalpodautoscalers.autoscaling",
                                   "leases.coordination.k8s.io",
                                   "dnses.minik8s.io",
                                   "endpointslices.discovery.k8s.io",
                                   "functions.serverless.minik8s.io",
                                   "workflows.serverless.minik8s.io",
                                   "workflowruns.serverless.minik8s.io",
                                   "triggers.serverless.minik8s.io",
                                   "gpujobs.minik8s.io",
                                   "slurmclusters.minik8s.io",
                                   "serviceaccounts",
                                   "tokenreviews.authentication.k8s.io",
                                   "selfsubjectreviews.authentication.k8s.io",
                                   "clusterrolebindings.rbac.authorization.k8s.io",
                                   "clusterroles.rbac.authorization.k8s.io",
                                   "rolebindings.rbac.authorization.k8s.io",
                                   "roles.rbac.authorization.k8s.io",
                                   "selfsubjectaccessreviews.authorization.k8s.io",
                                   "subjectaccessreviews.authorization.k8s.io",
                                   "selfsubjectrulesreviews.authorization.k8s.io",
                                   "certificatesigningrequests.certificates.k8s.io"};
  EXPECT_EQ(names, want);
}

TEST(ResourceLookupTest, FindResourceAndKind) {
  const ResourceType* pods = find_resource("", "v1", "pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ(pods->kind, "Pod");
  EXPECT_TRUE(pods->namespaced);
  EXPECT_TRUE(pods->has_status);
  EXPECT_EQ(find_resource("apps", "v1", "deployments")->kind, "Deployment");
  EXPECT_TRUE(find_resource("apps", "v1", "deployments")->has_scale);
  EXPECT_EQ(find_resource("apps", "v2", "deployments"), nullptr);
  EXPECT_EQ(find_resource("", "v1", "deployments"), nullptr);
  EXPECT_EQ(find_kind("autoscaling/v2", "HorizontalPodAutoscaler")->plural,
            "horizontalpodautoscalers");
  EXPECT_EQ(find_kind("minik8s.io/v1", "DNS")->plural, "dnses");
  EXPECT_FALSE(find_kind("v1", "Node")->namespaced);
  EXPECT_FALSE(find_kind("v1", "Namespace")->namespaced);
  EXPECT_EQ(find_kind("v1", "Deployment"), nullptr);
  EXPECT_EQ(find_kind("v1", "Pod")->field_selectors.front(), "spec.nodeName");
}

TEST(ResourceLookupTest, FindByUserName) {
  auto plural = [](const char* n) {
    const ResourceType* t = find_by_user_name(n);
    return t ? t->qualified_plural() : std::string("<null>");
  };
  EXPECT_EQ(plural("po"), "pods");
  EXPECT_EQ(plural("pod"), "pods");
  EXPECT_EQ(plural("Pod"), "pods");
  EXPECT_EQ(plural("PODS"), "pods");
  EXPECT_EQ(plural("svc"), "services");
  EXPECT_EQ(plural("ns"), "namespaces");
  EXPECT_EQ(plural("no"), "nodes");
  EXPECT_EQ(plural("ep"), "endpoints");
  EXPECT_EQ(plural("ev"), "events");
  EXPECT_EQ(plural("cm"), "configmaps");
  EXPECT_EQ(plural("deploy"), "deployments.apps");
  EXPECT_EQ(plural("rs"), "replicasets.apps");
  EXPECT_EQ(plural("hpa"), "horizontalpodautoscalers.autoscaling");
  EXPECT_EQ(plural("HorizontalPodAutoscaler"), "horizontalpodautoscalers.autoscaling");
  EXPECT_EQ(plural("lease"), "leases.coordination.k8s.io");
  EXPECT_EQ(plural("dns"), "dnses.minik8s.io");
  EXPECT_EQ(plural("dnses"), "dnses.minik8s.io");
  EXPECT_EQ(plural("deployments.apps"), "deployments.apps");
  EXPECT_EQ(plural("deploy.apps"), "deployments.apps");
  EXPECT_EQ(plural("deployments.v1.apps"), "deployments.apps");
  EXPECT_EQ(plural("leases.coordination.k8s.io"), "leases.coordination.k8s.io");
  EXPECT_EQ(plural("deployments.batch"), "<null>");
  EXPECT_EQ(plural("nothing"), "<null>");
  EXPECT_EQ(plural(""), "<null>");
}

TEST(ResourceLookupTest, NameChecks) {
  EXPECT_EQ(check_dns1123_label("web-1"), "");
  EXPECT_NE(check_dns1123_label("Web"), "");
  EXPECT_NE(check_dns1123_label("a.b"), "");
  EXPECT_NE(check_dns1123_label("-a"), "");
  EXPECT_NE(check_dns1123_label(std::string(64, 'a')), "");
  EXPECT_EQ(check_dns1123_subdomain("a.example.com"), "");
  EXPECT_NE(check_dns1123_subdomain("a..b"), "");
  EXPECT_NE(check_dns1123_subdomain("a_b"), "");
  EXPECT_NE(check_dns1123_subdomain(""), "");
}

// ------------------------------------------------------------------ defaults

TEST(DefaultsTest, MinimalPod) {
  const ResourceType& t = kind("v1", "Pod");
  Json pod = J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d"},
    "spec":{"containers":[
      {"name":"a","image":"nginx","ports":[{"containerPort":80}],
       "resources":{"limits":{"cpu":"500m","memory":"128Mi"}}},
      {"name":"b","image":"nginx:1.25"},
      {"name":"c","image":"reg:5000/x:latest"},
      {"name":"d","image":"reg:5000/x"}]}})");
  t.set_defaults(pod);
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["restartPolicy"], "Always");
  EXPECT_EQ(spec["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(spec["schedulerName"], "default-scheduler");
  const Json& a = spec["containers"][0];
  EXPECT_EQ(a["imagePullPolicy"], "Always");
  EXPECT_EQ(a["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ(a["terminationMessagePolicy"], "File");
  EXPECT_EQ(a["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(a["resources"]["requests"], J(R"({"cpu":"500m","memory":"128Mi"})"));
  EXPECT_EQ(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(spec["containers"][1]["resources"], Json::object());
  EXPECT_EQ(spec["containers"][2]["imagePullPolicy"], "Always");
  EXPECT_EQ(spec["containers"][3]["imagePullPolicy"], "Always");  // registry port is no tag
  // Explicit values stay.
  Json p2 = J(R"({"spec":{"restartPolicy":"Never","containers":[{"name":"a","image":"x:1",
    "imagePullPolicy":"Never","resources":{"limits":{"cpu":"1"},"requests":{"cpu":"100m"}}}]}})");
  t.set_defaults(p2);
  EXPECT_EQ(p2["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(p2["spec"]["containers"][0]["imagePullPolicy"], "Never");
  EXPECT_EQ(p2["spec"]["containers"][0]["resources"]["requests"]["cpu"], "100m");
}

TEST(DefaultsTest, PodInitialStatusCarriesQosClass) {
  const ResourceType& t = kind("v1", "Pod");
  ASSERT_TRUE(t.clear_status_on_create);
  Json pod = J(R"({"spec":{"containers":[{"name":"a","image":"x",
    "resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}})");
  t.set_defaults(pod);
  t.initial_status(pod);
  EXPECT_EQ(pod["status"]["phase"], "Pending");
  EXPECT_EQ(pod["status"]["qosClass"], "Guaranteed");
  Json be = J(R"({"spec":{"containers":[{"name":"a","image":"x"}]}})");
  t.initial_status(be);
  EXPECT_EQ(be["status"]["qosClass"], "BestEffort");
}

TEST(DefaultsTest, MinimalDeploymentAndReplicaSet) {
  Json d = J(R"({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},
    "template":{"metadata":{"labels":{"app":"web"}},
                "spec":{"containers":[{"name":"w","image":"nginx:1.25"}]}}}})");
  kind("apps/v1", "Deployment").set_defaults(d);
  EXPECT_EQ(d["spec"]["replicas"], 1);
  EXPECT_EQ(
      d["spec"]["strategy"],
      J(R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}})"));
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(d["spec"]["progressDeadlineSeconds"], 600);
  EXPECT_EQ(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");

  Json recreate = J(R"({"spec":{"replicas":0,"strategy":{"type":"Recreate"}}})");
  kind("apps/v1", "Deployment").set_defaults(recreate);
  EXPECT_EQ(recreate["spec"]["replicas"], 0);
  EXPECT_FALSE(recreate["spec"]["strategy"].contains("rollingUpdate"));

  Json rs = J(R"({"spec":{"template":{"spec":{"containers":[{"name":"w","image":"x"}]}}}})");
  kind("apps/v1", "ReplicaSet").set_defaults(rs);
  EXPECT_EQ(rs["spec"]["replicas"], 1);
  EXPECT_EQ(rs["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
}

TEST(DefaultsTest, ServiceSecretHpaNamespace) {
  Json s = J(
      R"({"spec":{"selector":{"app":"web"},"ports":[{"port":80},{"port":443,"targetPort":8443,"protocol":"UDP"}]}})");
  kind("v1", "Service").set_defaults(s);
  EXPECT_EQ(s["spec"]["type"], "ClusterIP");
  EXPECT_EQ(s["spec"]["sessionAffinity"], "None");
  EXPECT_EQ(s["spec"]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(s["spec"]["ports"][0]["targetPort"], 80);
  EXPECT_EQ(s["spec"]["ports"][1]["targetPort"], 8443);
  EXPECT_EQ(s["spec"]["ports"][1]["protocol"], "UDP");

  Json sec = J(R"({"stringData":{"user":"admin"}})");
  kind("v1", "Secret").set_defaults(sec);
  EXPECT_EQ(sec["type"], "Opaque");
  EXPECT_EQ(sec["data"]["user"], "YWRtaW4=");
  EXPECT_FALSE(sec.contains("stringData"));

  Json hpa = J(R"({"spec":{"maxReplicas":5}})");
  kind("autoscaling/v2", "HorizontalPodAutoscaler").set_defaults(hpa);
  EXPECT_EQ(hpa["spec"]["minReplicas"], 1);

  Json ns = J(R"({"metadata":{"name":"dev"}})");
  kind("v1", "Namespace").initial_status(ns);
  EXPECT_EQ(ns["status"]["phase"], "Active");
}

// ---------------------------------------------------------------- validation

const char* kGoodPod = R"({"apiVersion":"v1","kind":"Pod",
  "metadata":{"name":"web-1","namespace":"default","labels":{"app":"web","example.com/tier":"front"},
              "annotations":{"note":"anything goes: here"}},
  "spec":{
    "volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"c"}}],
    "initContainers":[{"name":"init","image":"busybox","command":["true"]}],
    "containers":[{"name":"web","image":"nginx:1.25",
      "ports":[{"name":"http","containerPort":80},{"containerPort":53,"protocol":"UDP"}],
      "env":[{"name":"MY_VAR","value":"1"},{"name":"my.env-name","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
      "resources":{"requests":{"cpu":"100m","memory":"64Mi","nvidia.com/gpu":"1"},
                   "limits":{"cpu":"1","memory":"128Mi","nvidia.com/gpu":"1"}},
      "volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"cfg","mountPath":"/etc/cfg"}]}],
    "nodeSelector":{"kubernetes.io/os":"linux"},
    "tolerations":[{"key":"gpu","operator":"Exists","effect":"NoSchedule"},{"operator":"Exists"}]}})";

TEST(ValidationTest, GoodObjectsHaveNoErrors) {
  EXPECT_EQ(dump(check(kind("v1", "Pod"), J(kGoodPod))), "");
  EXPECT_EQ(dump(check(kind("v1", "Namespace"), J(R"({"metadata":{"name":"dev"}})"))), "");
  EXPECT_EQ(dump(check(kind("v1", "Node"), J(R"({"metadata":{"name":"node-1.example"},
    "spec":{"podCIDR":"10.244.1.0/24","taints":[{"key":"k","value":"v","effect":"NoExecute"}]}})"))),
            "");
  EXPECT_EQ(dump(check(kind("v1", "Service"), J(R"({"metadata":{"name":"web","namespace":"d"},
    "spec":{"type":"NodePort","selector":{"app":"web"},"clusterIP":"10.96.0.10",
    "ports":[{"name":"http","port":80,"targetPort":"http","nodePort":30080},{"name":"https","port":443}]}})"))),
            "");
  EXPECT_EQ(dump(check(kind("v1", "Service"), J(R"({"metadata":{"name":"ext","namespace":"d"},
    "spec":{"type":"ExternalName","externalName":"example.com"}})"))),
            "");
  EXPECT_EQ(dump(check(kind("v1", "ConfigMap"), J(R"({"metadata":{"name":"c","namespace":"d"},
    "data":{"app.properties":"a=b","KEY_1":"x"}})"))),
            "");
  EXPECT_EQ(dump(check(kind("v1", "Secret"), J(R"({"metadata":{"name":"s","namespace":"d"},
    "data":{"password":"c2VjcmV0","k":"YQ=="}})"))),
            "");
  EXPECT_EQ(dump(check(kind("coordination.k8s.io/v1", "Lease"),
                       J(R"({"metadata":{"name":"node-1","namespace":"kube-node-lease"},
    "spec":{"holderIdentity":"node-1","leaseDurationSeconds":40,"renewTime":"2024-01-01T00:00:00.000000Z"}})"))),
            "");
  EXPECT_EQ(dump(check(kind("minik8s.io/v1", "DNS"), J(R"({"metadata":{"name":"d","namespace":"d"},
    "spec":{"host":"example.com","paths":[{"path":"/a","serviceName":"svc-a","servicePort":80}]}})"))),
            "");
}

TEST(ValidationTest, ObjectMeta) {
  const ResourceType& pod = kind("v1", "Pod");
  auto errs = check(
      pod, J(R"({"metadata":{"namespace":"d"},"spec":{"containers":[{"name":"a","image":"x"}]}})"));
  EXPECT_TRUE(has_error(errs, "metadata.name", "Required value")) << dump(errs);
  errs = check(
      pod,
      J(R"({"metadata":{"generateName":"web-","namespace":"d"},"spec":{"containers":[{"name":"a","image":"x"}]}})"));
  EXPECT_EQ(dump(errs), "");
  errs = check(pod, J(R"({"metadata":{"name":"Bad_Name","namespace":"d",
    "labels":{"bad key":"v","ok":"-bad-"},"annotations":{"a":"b"}},
    "spec":{"containers":[{"name":"a","image":"x"}]}})"));
  EXPECT_TRUE(has_error(errs, "metadata.name",
                        "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "metadata.labels", "Invalid value: \"bad key\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "metadata.labels", "Invalid value: \"-bad-\"")) << dump(errs);
  // Names with dots: fine for pods, not for namespaces or services (labels).
  EXPECT_EQ(
      dump(check(
          pod,
          J(R"({"metadata":{"name":"a.b","namespace":"d"},"spec":{"containers":[{"name":"a","image":"x"}]}})"))),
      "");
  errs = check(kind("v1", "Namespace"), J(R"({"metadata":{"name":"a.b"}})"));
  EXPECT_TRUE(has_error(errs, "metadata.name", "RFC 1123 label")) << dump(errs);
  errs = check(kind("v1", "Service"),
               J(R"({"metadata":{"name":"1svc","namespace":"d"},"spec":{"ports":[{"port":80}]}})"));
  EXPECT_TRUE(has_error(errs, "metadata.name", "DNS-1035 label")) << dump(errs);
  // Scope.
  errs = check(pod,
               J(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"}]}})"));
  EXPECT_TRUE(has_error(errs, "metadata.namespace", "Required value")) << dump(errs);
  errs = check(kind("v1", "Node"), J(R"({"metadata":{"name":"n","namespace":"d"}})"));
  EXPECT_TRUE(has_error(errs, "metadata.namespace", "Forbidden")) << dump(errs);
  // Annotation size.
  Json big = J(R"({"metadata":{"name":"c","namespace":"d"}})");
  big["metadata"]["annotations"]["big"] = std::string(300 * 1024, 'x');
  errs = check(kind("v1", "ConfigMap"), big);
  EXPECT_TRUE(has_error(errs, "metadata.annotations", "Too long")) << dump(errs);
  // Not even an object: no crash.
  errs.clear();
  pod.validate(J("[1,2]"), nullptr, errs);
  EXPECT_FALSE(errs.empty());
  errs.clear();
  pod.validate(J(R"({"metadata":7,"spec":"x"})"), nullptr, errs);
  EXPECT_FALSE(errs.empty());
}

Json pod_with(const char* spec) {
  Json p = J(R"({"metadata":{"name":"p","namespace":"d"}})");
  p["spec"] = Json::parse(spec);
  return p;
}

TEST(ValidationTest, PodSpecErrors) {
  const ResourceType& t = kind("v1", "Pod");
  auto errs = check(t, pod_with(R"({"containers":[]})"));
  EXPECT_TRUE(has_error(errs, "spec.containers", "Required value")) << dump(errs);

  errs = check(t, pod_with(R"({"initContainers":[{"name":"a","image":"x"}],
    "containers":[{"name":"a","image":"x"},{"name":"Bad","image":"x"},{"name":"c"}]})"));
  EXPECT_TRUE(has_error(errs, "spec.containers[0].name", "Duplicate value: \"a\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[1].name", "Invalid value: \"Bad\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[2].image", "Required value")) << dump(errs);

  errs = check(t, pod_with(R"({"containers":[{"name":"a","image":"x","ports":[
    {"containerPort":70000},{"name":"http","containerPort":80},{"name":"http","containerPort":81},
    {"containerPort":82,"protocol":"XTP"},{"name":"p"}]}]})"));
  EXPECT_TRUE(has_error(errs, "spec.containers[0].ports[0].containerPort",
                        "Invalid value: 70000: must be between 1 and 65535, inclusive"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].ports[2].name", "Duplicate value: \"http\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].ports[3].protocol",
                        "Unsupported value: \"XTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].ports[4].containerPort", "Required value"))
      << dump(errs);

  errs = check(t, pod_with(R"({"containers":[{"name":"a","image":"x","resources":{
    "limits":{"cpu":"1","memory":"12Qi"},"requests":{"cpu":"2","bogus":"1"}}}]})"));
  EXPECT_TRUE(
      has_error(errs, "spec.containers[0].resources.limits[memory]", "Invalid value: \"12Qi\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].resources.requests[cpu]",
                        "must be less than or equal to cpu limit of 1"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].resources.requests[bogus]",
                        "must be a standard resource"))
      << dump(errs);

  // Extended resources: whole numbers, requests == limits, a limit required.
  errs = check(t, pod_with(R"({"containers":[
    {"name":"a","image":"x","resources":{"limits":{"nvidia.com/gpu":"500m"}}},
    {"name":"b","image":"x","resources":{"limits":{"nvidia.com/gpu":"2"},"requests":{"nvidia.com/gpu":"1"}}},
    {"name":"c","image":"x","resources":{"requests":{"example.com/foo":"1"}}},
    {"name":"d","image":"x","resources":{"limits":{"nvidia.com/gpu":1.5}}}]})"));
  EXPECT_TRUE(has_error(errs, "spec.containers[0].resources.limits[nvidia.com/gpu]",
                        "Invalid value: \"500m\": must be an integer"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[1].resources.requests[nvidia.com/gpu]",
                        "Invalid value: \"1\": must be equal to nvidia.com/gpu limit of 2"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[2].resources.limits",
                        "Required value: Limit must be set for non overcommitable resources"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[3].resources.limits[nvidia.com/gpu]", "must be an integer"))
      << dump(errs);
  // A lone limit is defaulted into requests and fits; cpu may still be overcommitted.
  errs = check(t, pod_with(R"({"containers":[{"name":"a","image":"x","resources":{
    "limits":{"nvidia.com/gpu":"2","cpu":"2"},"requests":{"cpu":"1"}}}]})"));
  EXPECT_EQ(dump(errs), "");
  errs = check(t, pod_with(R"({"containers":[{"name":"a","image":"x","resources":{
    "limits":{"nvidia.com/gpu":"1","kubernetes.io/whatever":"1500m"},
    "requests":{"nvidia.com/gpu":"1","kubernetes.io/whatever":"1"}}}]})"));
  EXPECT_EQ(dump(errs), "");

  errs = check(
      t, pod_with(R"({"restartPolicy":"Sometimes","containers":[{"name":"a","image":"x"}]})"));
  EXPECT_TRUE(has_error(
      errs, "spec.restartPolicy",
      "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""))
      << dump(errs);

  errs = check(t, pod_with(R"({"volumes":[{"name":"v","emptyDir":{}},{"name":"v","emptyDir":{}},
      {"name":"none"},{"name":"two","emptyDir":{},"hostPath":{"path":"/x"}}],
    "containers":[{"name":"a","image":"x","volumeMounts":[{"name":"missing","mountPath":"/m"},{"name":"v"}],
      "env":[{"name":"1BAD","value":"x"},{"value":"y"}]}]})"));
  EXPECT_TRUE(has_error(errs, "spec.volumes[1].name", "Duplicate value: \"v\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.volumes[2]", "must specify a volume type")) << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.volumes[3].hostPath", "may not specify more than 1 volume type"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].volumeMounts[0].name", "Not found: \"missing\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].volumeMounts[1].mountPath", "Required value"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].env[0].name", "Invalid value: \"1BAD\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.containers[0].env[1].name", "Required value")) << dump(errs);

  errs = check(t, pod_with(R"({"nodeSelector":{"bad key":"v"},
    "tolerations":[{"key":"k","operator":"Maybe"},{"key":"k","effect":"Sometimes"},{"key":"k","operator":"Exists","value":"v"}],
    "containers":[{"name":"a","image":"x"}]})"));
  EXPECT_TRUE(has_error(errs, "spec.nodeSelector", "Invalid value: \"bad key\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.tolerations[0].operator", "Unsupported value: \"Maybe\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.tolerations[1].effect", "Unsupported value: \"Sometimes\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.tolerations[2].operator", "value must be empty")) << dump(errs);
}

TEST(ValidationTest, PodUpdatesOnlyChangeImagesAndFriends) {
  const ResourceType& t = kind("v1", "Pod");
  Json old = J(kGoodPod);
  t.set_defaults(old);
  Json img = old;
  img["spec"]["containers"][0]["image"] = "nginx:1.26";
  img["spec"]["activeDeadlineSeconds"] = 100;
  img["spec"]["tolerations"].push_back(J(R"({"key":"new","operator":"Exists"})"));
  img["metadata"]["labels"]["extra"] = "yes";
  EXPECT_EQ(dump(check(t, img, &old)), "");
  // Binding: nodeName set once.
  Json bound = old;
  bound["spec"]["nodeName"] = "node-1";
  EXPECT_EQ(dump(check(t, bound, &old)), "");
  Json moved = bound;
  moved["spec"]["nodeName"] = "node-2";
  EXPECT_TRUE(has_error(check(t, moved, &bound), "spec", "Forbidden: pod updates may not change"));
  Json ports = old;
  ports["spec"]["containers"][0]["ports"][0]["containerPort"] = 81;
  auto errs = check(t, ports, &old);
  EXPECT_TRUE(has_error(errs, "spec", "Forbidden: pod updates may not change fields other than"))
      << dump(errs);
  Json removed = old;
  removed["spec"]["tolerations"].erase(0);
  EXPECT_TRUE(has_error(check(t, removed, &old), "spec", "Forbidden"));
  // Status-only changes leave spec alone.
  Json status = old;
  status["status"] = J(R"({"phase":"Running"})");
  EXPECT_EQ(dump(check(t, status, &old)), "");
}

TEST(ValidationTest, ServiceErrors) {
  const ResourceType& t = kind("v1", "Service");
  auto svc = [](const char* spec) {
    Json s = J(R"({"metadata":{"name":"web","namespace":"d"}})");
    s["spec"] = Json::parse(spec);
    return s;
  };
  auto errs = check(t, svc(R"({"selector":{"app":"web"}})"));
  EXPECT_TRUE(has_error(errs, "spec.ports", "Required value")) << dump(errs);
  errs = check(t, svc(R"({"type":"Fancy","clusterIP":"300.1.1.1","selector":{"bad key":"x"},
    "ports":[{"port":0},{"name":"a","port":70000,"protocol":"XTP","targetPort":"Bad_Name"},
             {"name":"a","port":81,"nodePort":30001,"targetPort":0}]})"));
  EXPECT_TRUE(has_error(errs, "spec.type", "Unsupported value: \"Fancy\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.clusterIP", "Invalid value: \"300.1.1.1\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.selector", "Invalid value: \"bad key\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.ports[0].name", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.ports[0].port", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.ports[1].port", "Invalid value: 70000")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.ports[1].protocol", "Unsupported value: \"XTP\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.ports[1].targetPort", "Invalid value: \"Bad_Name\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.ports[2].name", "Duplicate value: \"a\"")) << dump(errs);
  // targetPort 0 is defaulted to the port, so no error there.
  EXPECT_FALSE(has_error(errs, "spec.ports[2].targetPort", "")) << dump(errs);

  errs = check(t, svc(R"({"ports":[{"port":80,"nodePort":30080}]})"));
  EXPECT_TRUE(has_error(errs, "spec.ports[0].nodePort",
                        "Forbidden: may not be used when `type` is 'ClusterIP'"))
      << dump(errs);
  errs = check(t, svc(R"({"type":"NodePort","ports":[{"port":80,"nodePort":80}]})"));
  EXPECT_TRUE(has_error(errs, "spec.ports[0].nodePort", "The range of valid ports is 30000-32767"))
      << dump(errs);
  errs = check(t, svc(R"({"type":"ExternalName"})"));
  EXPECT_TRUE(has_error(errs, "spec.externalName", "Required value")) << dump(errs);
  EXPECT_FALSE(has_error(errs, "spec.ports", "")) << dump(errs);
  // Headless services need no ports.
  EXPECT_EQ(dump(check(t, svc(R"({"clusterIP":"None","selector":{"app":"x"}})"))), "");

  // clusterIP is immutable once set.
  Json old = svc(R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})");
  t.set_defaults(old);
  Json changed = svc(R"({"clusterIP":"10.96.0.6","ports":[{"port":80}]})");
  errs = check(t, changed, &old);
  EXPECT_TRUE(has_error(errs, "spec.clusterIP", "field is immutable")) << dump(errs);
  EXPECT_EQ(dump(check(t, svc(R"({"clusterIP":"10.96.0.5","ports":[{"port":81}]})"), &old)), "");
  EXPECT_EQ(dump(check(t, svc(R"({"ports":[{"port":80}]})"), &old)), "");
}

const char* kGoodDeployment = R"({"apiVersion":"apps/v1","kind":"Deployment",
  "metadata":{"name":"web","namespace":"default"},
  "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
    "template":{"metadata":{"labels":{"app":"web","tier":"front"}},
      "spec":{"containers":[{"name":"web","image":"nginx:1.25","ports":[{"containerPort":80}]}]}}}})";

TEST(ValidationTest, WorkloadErrors) {
  const ResourceType& d = kind("apps/v1", "Deployment");
  const ResourceType& rs = kind("apps/v1", "ReplicaSet");
  EXPECT_EQ(dump(check(d, J(kGoodDeployment))), "");
  Json good_rs = J(kGoodDeployment);
  good_rs["kind"] = "ReplicaSet";
  EXPECT_EQ(dump(check(rs, good_rs)), "");

  // int32 fields: a larger value would wrap in the controllers.
  Json huge = J(kGoodDeployment);
  huge["spec"]["replicas"] = 4294967296LL;
  huge["spec"]["progressDeadlineSeconds"] = 3000000000LL;
  auto huge_errs = check(d, huge);
  EXPECT_TRUE(has_error(huge_errs, "spec.replicas", "must be less than or equal to 2147483647")) << dump(huge_errs);
  EXPECT_TRUE(has_error(huge_errs, "spec.progressDeadlineSeconds", "must be less than or equal to 2147483647"))
      << dump(huge_errs);

  Json bad = J(kGoodDeployment);
  bad["spec"]["replicas"] = -1;
  bad["spec"]["selector"]["matchLabels"]["app"] = "other";
  bad["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  bad["spec"]["template"]["spec"]["containers"][0]["image"] = "";
  bad["spec"]["strategy"] = J(R"({"type":"Sideways"})");
  auto errs = check(d, bad);
  EXPECT_TRUE(
      has_error(errs, "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.template.metadata.labels",
                        "`selector` does not match template `labels`"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.template.spec.restartPolicy", "Unsupported value: \"Never\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.template.spec.containers[0].image", "Required value"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.strategy.type", "Unsupported value: \"Sideways\""))
      << dump(errs);

  Json nosel = J(kGoodDeployment);
  nosel["spec"].erase("selector");
  EXPECT_TRUE(has_error(check(rs, nosel), "spec.selector", "Required value"));

  Json zero = J(kGoodDeployment);
  zero["spec"]["strategy"] =
      J(R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}})");
  errs = check(d, zero);
  EXPECT_TRUE(has_error(errs, "spec.strategy.rollingUpdate.maxUnavailable",
                        "may not be 0 when `maxSurge` is 0"))
      << dump(errs);
  Json pct = J(kGoodDeployment);
  pct["spec"]["strategy"] = J(R"({"rollingUpdate":{"maxSurge":"abc","maxUnavailable":"150%"}})");
  errs = check(d, pct);
  EXPECT_TRUE(has_error(errs, "spec.strategy.rollingUpdate.maxSurge", "Invalid value: \"abc\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.strategy.rollingUpdate.maxUnavailable",
                        "must not be greater than 100%"))
      << dump(errs);

  // Selector immutable on update; replicas may change.
  Json old = J(kGoodDeployment);
  d.set_defaults(old);
  Json scaled = old;
  scaled["spec"]["replicas"] = 5;
  EXPECT_EQ(dump(check(d, scaled, &old)), "");
  Json resel = old;
  resel["spec"]["selector"]["matchLabels"]["tier"] = "front";
  errs = check(d, resel, &old);
  EXPECT_TRUE(has_error(errs, "spec.selector", "field is immutable")) << dump(errs);
}

// Issue 11 item 6: paths inside volumes stay inside them, hostPath does not
// walk back up, file modes carry no setuid bits (Kubernetes
// validateLocalDescendingPath / validateLocalNonReservedPath /
// validatePathNoBacksteps / fileModeErrorMsg).
TEST(ValidationTest, VolumePathsAndModes) {
  const ResourceType& t = kind("v1", "Pod");
  auto errs = check(t, pod_with(R"J({"volumes":[
      {"name":"h1","hostPath":{"path":"var/log"}},
      {"name":"h2","hostPath":{"path":"/var/../etc"}},
      {"name":"h3","hostPath":{"path":"/var/log","type":"Weird"}},
      {"name":"c1","configMap":{"name":"c","defaultMode":2541,
        "items":[{"key":"a","path":"../x"},{"key":"b","path":"/abs"},{"key":"c","path":"..data"},
                 {"key":"d","path":"ok/file","mode":512},{"path":"p"},{"key":"e","path":"x/../../y"}]}},
      {"name":"s1","secret":{"secretName":"s","defaultMode":-1,"items":[{"key":"a","path":"..x","mode":420}]}},
      {"name":"d1","downwardAPI":{"defaultMode":420,
        "items":[{"path":"../labels","fieldRef":{"fieldPath":"metadata.labels"}},
                 {"path":"ok","mode":4095,"fieldRef":{"fieldPath":"metadata.name"}}]}},
      {"name":"p1","projected":{"defaultMode":1024,"sources":[
        {"configMap":{"name":"c","items":[{"key":"a","path":"../a"},{"key":"b","path":"dup"}]}},
        {"secret":{"name":"s","items":[{"key":"b","path":"dup"}]}},
        {"downwardAPI":{"items":[{"path":"/etc/x","fieldRef":{"fieldPath":"metadata.name"}}]}},
        {"serviceAccountToken":{"path":"..token"}}]}}],
    "containers":[{"name":"a","image":"x","volumeMounts":[
      {"name":"h1","mountPath":"/m1","subPath":"../../etc"},
      {"name":"h1","mountPath":"/m2","subPath":"/etc"},
      {"name":"h1","mountPath":"/m3","subPath":"a/../../b"},
      {"name":"h1","mountPath":"/m4","subPathExpr":"../$(POD)"},
      {"name":"h1","mountPath":"/m5","subPath":"a","subPathExpr":"b"},
      {"name":"h1","mountPath":"relative"},
      {"name":"h1","mountPath":"/x/../y"},
      {"name":"h1","mountPath":"/ok","subPath":"a..b/..c/c.."}]}]})J"));
  const std::string v = "spec.volumes", m = "spec.containers[0].volumeMounts";
  const char* kMode = "must be a number between 0 and 0777 (octal), both inclusive";
  EXPECT_TRUE(has_error(errs, v + "[0].hostPath.path", "Invalid value: \"var/log\": must be an absolute path")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[1].hostPath.path", "Invalid value: \"/var/../etc\": must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[2].hostPath.type", "Unsupported value: \"Weird\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.defaultMode", std::string("Invalid value: 2541: ") + kMode)) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.items[0].path", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.items[1].path", "must be a relative path")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.items[2].path", "must not start with '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.items[3].mode", kMode)) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.items[4].key", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[3].configMap.items[5].path", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[4].secret.defaultMode", kMode)) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[4].secret.items[0].path", "must not start with '..'")) << dump(errs);
  EXPECT_FALSE(has_error(errs, v + "[4].secret.items[0].mode", "")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[5].downwardAPI.items[0].path", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[5].downwardAPI.items[1].mode", "Invalid value: 4095")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[6].projected.defaultMode", kMode)) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[6].projected.sources[0].configMap.items[0].path", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[6].projected.sources[1].secret.items[0].path", "conflicting duplicate paths")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[6].projected.sources[2].downwardAPI.items[0].path", "must be a relative path")) << dump(errs);
  EXPECT_TRUE(has_error(errs, v + "[6].projected.sources[3].serviceAccountToken.path", "must not start with '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[0].subPath", "Invalid value: \"../../etc\": must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[1].subPath", "Invalid value: \"/etc\": must be a relative path")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[2].subPath", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[3].subPathExpr", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[4].subPathExpr", "subPathExpr and subPath are mutually exclusive")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[5].mountPath", "must be an absolute path")) << dump(errs);
  EXPECT_TRUE(has_error(errs, m + "[6].mountPath", "must not contain '..'")) << dump(errs);
  // ".." inside a name is not a path element.
  EXPECT_FALSE(has_error(errs, m + "[7].subPath", "")) << dump(errs);
  EXPECT_FALSE(has_error(errs, m + "[7].mountPath", "")) << dump(errs);

  // The good forms pass: 0 and 0777 are both allowed.
  errs = check(t, pod_with(R"({"volumes":[
      {"name":"h","hostPath":{"path":"/var/log","type":"Directory"}},
      {"name":"c","configMap":{"name":"c","defaultMode":0,"items":[{"key":"a","path":"dir/a","mode":511}]}},
      {"name":"d","downwardAPI":{"items":[{"path":"labels","fieldRef":{"fieldPath":"metadata.labels"}}]}}],
    "containers":[{"name":"a","image":"x","volumeMounts":[{"name":"h","mountPath":"/h","subPath":"a/b"},
      {"name":"c","mountPath":"/c"},{"name":"d","mountPath":"/d"}]}]})"));
  EXPECT_EQ(dump(errs), "");

  // Pod templates go through the same checks.
  const ResourceType& d = kind("apps/v1", "Deployment");
  Json dep = J(kGoodDeployment);
  dep["spec"]["template"]["spec"]["volumes"] = J(R"([{"name":"h","hostPath":{"path":"/x/.."}}])");
  dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
      J(R"([{"name":"h","mountPath":"/h","subPath":".."}])");
  errs = check(d, dep);
  EXPECT_TRUE(has_error(errs, "spec.template.spec.volumes[0].hostPath.path", "must not contain '..'")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.template.spec.containers[0].volumeMounts[0].subPath", "must not contain '..'"))
      << dump(errs);
}

// Kubernetes IsConfigMapKey: data keys become file names in volumes.
TEST(ValidationTest, ConfigMapAndSecretKeys) {
  for (const char* k : {"ConfigMap", "Secret"}) {
    Json obj = J(R"({"metadata":{"name":"c","namespace":"d"}})");
    obj["data"] = J(R"({"..data":"eA==","..":"eA==",".":"eA==","a b":"eA==","ok.key_-1":"eA==",".hidden":"eA=="})");
    if (std::string(k) == "ConfigMap") obj["binaryData"] = J(R"({"..x":"eA=="})");
    obj["data"][std::string(254, 'a')] = "eA==";
    auto errs = check(kind("v1", k), obj);
    EXPECT_TRUE(has_error(errs, "data", "Invalid value: \"..data\": must not start with '..'")) << k << dump(errs);
    EXPECT_TRUE(has_error(errs, "data", "Invalid value: \"..\": must not be '..'")) << k << dump(errs);
    EXPECT_TRUE(has_error(errs, "data", "Invalid value: \".\": must not be '.'")) << k << dump(errs);
    EXPECT_TRUE(has_error(errs, "data", "Invalid value: \"a b\": a valid config key")) << k << dump(errs);
    EXPECT_TRUE(has_error(errs, "data", "must be no more than 253 characters")) << k << dump(errs);
    EXPECT_EQ(dump(errs).find("ok.key_-1"), std::string::npos) << k << dump(errs);
    EXPECT_EQ(dump(errs).find(".hidden"), std::string::npos) << k << dump(errs);
    if (std::string(k) == "ConfigMap") {
      EXPECT_TRUE(has_error(errs, "binaryData", "Invalid value: \"..x\": must not start with '..'")) << dump(errs);
    }
  }
}

TEST(ValidationTest, HpaErrors) {
  const ResourceType& t = kind("autoscaling/v2", "HorizontalPodAutoscaler");
  Json good = J(R"({"metadata":{"name":"web","namespace":"d"},"spec":{
    "scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
    "minReplicas":1,"maxReplicas":10,
    "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}},
               {"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"100Mi"}}}],
    "behavior":{"scaleDown":{"stabilizationWindowSeconds":300,"selectPolicy":"Max",
                "policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}}})");
  EXPECT_EQ(dump(check(t, good)), "");
  Json bad = J(R"({"metadata":{"name":"web","namespace":"d"},"spec":{
    "scaleTargetRef":{"name":""},"minReplicas":0,"maxReplicas":0,
    "metrics":[{"type":"Resource","resource":{"name":"disk","target":{"type":"Utilization"}}},
               {"type":"Resource"},{"type":"Magic"},
               {"type":"Resource","resource":{"name":"cpu","target":{"type":"Sometimes"}}}],
    "behavior":{"scaleUp":{"stabilizationWindowSeconds":4000,"selectPolicy":"Most",
                "policies":[{"type":"Bytes","value":0,"periodSeconds":1801}]},
                "scaleDown":{"policies":[]}}}})");
  auto errs = check(t, bad);
  EXPECT_TRUE(has_error(errs, "spec.scaleTargetRef.kind", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.scaleTargetRef.name", "Required value")) << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.minReplicas", "Invalid value: 0: must be greater than or equal to 1"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.maxReplicas", "Invalid value: 0")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.metrics[0].resource.name", "Unsupported value: \"disk\""))
      << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.metrics[0].resource.target.averageUtilization", "Required value"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.metrics[1].resource", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.metrics[2].type", "Unsupported value: \"Magic\""))
      << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.metrics[3].resource.target.type", "Unsupported value: \"Sometimes\""))
      << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.behavior.scaleUp.stabilizationWindowSeconds", "Invalid value: 4000"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.behavior.scaleUp.selectPolicy", "Unsupported value: \"Most\""))
      << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.behavior.scaleUp.policies[0].type", "Unsupported value: \"Bytes\""))
      << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.behavior.scaleUp.policies[0].value", "must be greater than zero"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.behavior.scaleUp.policies[0].periodSeconds",
                        "must be less than or equal to 1800"))
      << dump(errs);
  EXPECT_TRUE(
      has_error(errs, "spec.behavior.scaleDown.policies", "must specify at least one Policy"))
      << dump(errs);
  Json minmax = good;
  minmax["spec"]["minReplicas"] = 5;
  minmax["spec"]["maxReplicas"] = 3;
  EXPECT_TRUE(has_error(check(t, minmax), "spec.maxReplicas",
                        "must be greater than or equal to `minReplicas`"));
}

TEST(ValidationTest, OtherKindsErrors) {
  auto errs = check(kind("v1", "ConfigMap"), J(R"({"metadata":{"name":"c","namespace":"d"},
    "data":{"bad/key":"x","n":5},"binaryData":{"n2":"!!notbase64"}})"));
  EXPECT_TRUE(has_error(errs, "data", "Invalid value: \"bad/key\": a valid config key"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "data[n]", "must be a string")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "binaryData[n2]", "illegal base64 data")) << dump(errs);
  errs = check(kind("v1", "Secret"), J(R"({"metadata":{"name":"s","namespace":"d"},
    "data":{"k":"not base64!"}})"));
  EXPECT_TRUE(has_error(errs, "data[k]", "illegal base64 data")) << dump(errs);
  errs = check(kind("v1", "Node"), J(R"({"metadata":{"name":"n"},
    "spec":{"podCIDR":"10.244.1.0/33","taints":[{"key":"k","effect":"Sometimes"},{"effect":"NoSchedule"}]}})"));
  EXPECT_TRUE(has_error(errs, "spec.podCIDR", "Invalid value: \"10.244.1.0/33\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.taints[0].effect", "Unsupported value: \"Sometimes\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.taints[1].key", "Required value")) << dump(errs);
  errs =
      check(kind("coordination.k8s.io/v1", "Lease"), J(R"({"metadata":{"name":"l","namespace":"d"},
    "spec":{"holderIdentity":5,"leaseDurationSeconds":"40"}})"));
  EXPECT_TRUE(has_error(errs, "spec.holderIdentity", "must be a string")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.leaseDurationSeconds", "must be an integer")) << dump(errs);
  errs = check(kind("minik8s.io/v1", "DNS"), J(R"({"metadata":{"name":"d","namespace":"d"},
    "spec":{"host":"Bad_Host","paths":[{"path":"a","serviceName":"svc","servicePort":80},
      {"path":"/b","serviceName":"Svc_B","servicePort":70000},{"path":"/b","servicePort":80}]}})"));
  EXPECT_TRUE(has_error(errs, "spec.host", "Invalid value: \"Bad_Host\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.paths[0].path", "must be an absolute path")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.paths[1].serviceName", "Invalid value: \"Svc_B\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.paths[1].servicePort", "must be between 1 and 65535"))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.paths[2].path", "Duplicate value: \"/b\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.paths[2].serviceName", "Required value")) << dump(errs);
  errs = check(kind("minik8s.io/v1", "DNS"),
               J(R"({"metadata":{"name":"d","namespace":"d"},"spec":{"paths":[]}})"));
  EXPECT_TRUE(has_error(errs, "spec.host", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "spec.paths", "Required value")) << dump(errs);
}

TEST(ValidationTest, EndpointSlice) {
  const ResourceType& t = kind("discovery.k8s.io/v1", "EndpointSlice");
  EXPECT_TRUE(t.namespaced);
  EXPECT_TRUE(t.short_names.empty());
  EXPECT_EQ(find_by_user_name("endpointslices"), &t);
  EXPECT_EQ(find_by_user_name("endpointslice.discovery.k8s.io"), &t);
  Json good = J(R"({"metadata":{"name":"web-x1","namespace":"d",
    "labels":{"kubernetes.io/service-name":"web","endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"}},
    "addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.1.2"],"conditions":{"ready":true,"serving":true,"terminating":false},
      "nodeName":"node-1","targetRef":{"kind":"Pod","name":"web-1","namespace":"d"}}],
    "ports":[{"name":"http","port":80,"protocol":"TCP"},{"name":"all"}]})");
  EXPECT_EQ(dump(check(t, good)), "");
  Json defaulted = J(R"({"ports":[{"port":80}]})");
  t.set_defaults(defaulted);
  EXPECT_EQ(defaulted["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(defaulted["ports"][0]["name"], "");
  std::vector<std::string> unknown;
  t.unknown_fields(good, unknown);
  EXPECT_TRUE(unknown.empty());
  good["endpoints"][0]["adresses"] = Json::array();
  t.unknown_fields(good, unknown);
  EXPECT_EQ(unknown, std::vector<std::string>{"endpoints[0].adresses"});

  auto errs = check(t, J(R"({"metadata":{"name":"s","namespace":"d"},"addressType":"IPv5",
    "endpoints":[{"addresses":[]},{"addresses":["10.0.0.1"],"conditions":{"ready":"yes"},"nodeName":"Bad_Node"}],
    "ports":[{"name":"http","port":70000,"protocol":"ICMP"},{"name":"http","port":81},{"name":"Bad Name"}]})"));
  EXPECT_TRUE(has_error(errs, "addressType", "Unsupported value: \"IPv5\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "endpoints[0].addresses", "Required value")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "endpoints[1].conditions.ready", "must be a boolean")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "endpoints[1].nodeName", "Invalid value: \"Bad_Node\""))
      << dump(errs);
  EXPECT_TRUE(has_error(errs, "ports[0].port", "must be between 1 and 65535")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "ports[0].protocol", "Unsupported value: \"ICMP\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "ports[1].name", "Duplicate value: \"http\"")) << dump(errs);
  EXPECT_TRUE(has_error(errs, "ports[2].name", "Invalid value: \"Bad Name\"")) << dump(errs);
  errs = check(t, J(R"({"metadata":{"name":"s","namespace":"d"},"addressType":"IPv4",
    "endpoints":[{"addresses":["fd00::1"]}]})"));
  EXPECT_TRUE(has_error(errs, "endpoints[0].addresses[0]", "must be a valid IPv4 address"))
      << dump(errs);
  errs = check(t, J(R"({"metadata":{"name":"s","namespace":"d"}})"));
  EXPECT_TRUE(has_error(errs, "addressType", "Required value")) << dump(errs);
  Json old = J(R"({"metadata":{"name":"s","namespace":"d"},"addressType":"IPv4"})");
  errs = check(t, J(R"({"metadata":{"name":"s","namespace":"d"},"addressType":"IPv6"})"), &old);
  EXPECT_TRUE(has_error(errs, "addressType", "field is immutable")) << dump(errs);
}

// Hooks never throw on odd JSON.
TEST(ValidationTest, HooksSurviveGarbage) {
  const char* bodies[] = {
      "{}",
      R"({"spec":null})",
      R"({"spec":[]})",
      R"({"spec":{"containers":"x"}})",
      R"({"spec":{"containers":[1,null,"x"],"ports":7,"template":5}})",
      R"({"metadata":{"labels":[1],"annotations":"x"},"status":7,"data":[]})",
      R"({"spec":{"metrics":[{"type":"Resource","resource":7}],"behavior":{"scaleUp":3}}})"};
  for (const ResourceType* t : all_resources()) {
    for (const char* b : bodies) {
      Json obj = J(b);
      Json copy = obj;
      EXPECT_NO_THROW({
        if (t->set_defaults) t->set_defaults(obj);
        FieldErrors errs;
        if (t->validate) t->validate(obj, nullptr, errs);
        if (t->validate) t->validate(obj, &copy, errs);
        if (t->table_cells) t->table_cells(obj);
        std::vector<std::string> paths;
        if (t->unknown_fields) t->unknown_fields(obj, paths);
        if (t->initial_status) t->initial_status(obj);
      }) << t->kind
         << " " << b;
    }
  }
}

}  // namespace
}  // namespace minik8s::api
