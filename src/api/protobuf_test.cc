#include "minik8s/api/protobuf.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

namespace minik8s::api {
namespace {

// A tiny protobuf encoder for building test bodies.
class Msg {
 public:
  Msg& varint(uint32_t field, uint64_t v) {
    put_varint((static_cast<uint64_t>(field) << 3) | 0);
    put_varint(v);
    return *this;
  }
  Msg& sint(uint32_t field, int64_t v) { return varint(field, static_cast<uint64_t>(v)); }
  Msg& str(uint32_t field, std::string_view s) {
    put_varint((static_cast<uint64_t>(field) << 3) | 2);
    put_varint(s.size());
    out_.append(s);
    return *this;
  }
  Msg& msg(uint32_t field, const Msg& m) { return str(field, m.out_); }
  Msg& entry(uint32_t field, std::string_view key, std::string_view value) {
    return msg(field, Msg().str(1, key).str(2, value));
  }
  Msg& fixed64(uint32_t field, uint64_t v) {
    put_varint((static_cast<uint64_t>(field) << 3) | 1);
    for (int i = 0; i < 8; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  Msg& fixed32(uint32_t field, uint32_t v) {
    put_varint((static_cast<uint64_t>(field) << 3) | 5);
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  Msg& raw(std::string_view bytes) {
    out_.append(bytes);
    return *this;
  }
  const std::string& bytes() const { return out_; }

 private:
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  std::string out_;
};

std::string body(std::string_view api_version, std::string_view kind, const Msg& object,
                 std::string_view content_encoding = "") {
  Msg unknown;
  unknown.msg(1, Msg().str(1, api_version).str(2, kind));
  unknown.msg(2, object);
  unknown.str(3, content_encoding).str(4, "");
  return std::string(kK8sProtobufMagic) + unknown.bytes();
}

Msg meta(std::string_view name) { return Msg().str(1, name); }

Msg int_or_string(int32_t v) { return Msg().varint(1, 0).sint(2, v); }
Msg int_or_string(std::string_view s) { return Msg().varint(1, 1).str(3, s); }
Msg quantity(std::string_view s) { return Msg().str(1, s); }

Json decode_ok(const std::string& b) {
  auto r = decode_k8s_protobuf(b);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : Json();
}

std::string fixture(const std::string& name) {
  auto path = std::filesystem::path(MINIK8S_SOURCE_DIR) / "test/data/protobuf" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- bodies captured from stock kubectl 1.32 ---

TEST(ProtobufKubectl, CreateNamespace) {
  Json j = decode_ok(fixture("namespace.bin"));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n1"},
                               "spec":{},"status":{}})"))
      << j.dump();
}

TEST(ProtobufKubectl, CreateConfigMapFromLiteral) {
  Json j = decode_ok(fixture("configmap.bin"));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1"},
                               "data":{"a":"b"}})"))
      << j.dump();
}

TEST(ProtobufKubectl, CreateSecretGeneric) {
  Json j = decode_ok(fixture("secret.bin"));
  // --from-literal=k=v: data is []byte, so JSON carries base64("v").
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s1"},
                               "data":{"k":"dg=="}})"))
      << j.dump();
}

TEST(ProtobufKubectl, CreateServiceClusterIP) {
  Json j = decode_ok(fixture("service_clusterip.bin"));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"Service",
      "metadata":{"name":"sc1","labels":{"app":"sc1"}},
      "spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],
              "selector":{"app":"sc1"},"type":"ClusterIP"}})"))
      << j.dump();
}

TEST(ProtobufKubectl, CreateServiceNodePort) {
  Json j = decode_ok(fixture("service_nodeport.bin"));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"Service",
      "metadata":{"name":"sv1","labels":{"app":"sv1"}},
      "spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],
              "selector":{"app":"sv1"},"type":"NodePort"}})"))
      << j.dump();
}

TEST(ProtobufKubectl, CreateDeploymentWithReplicasAndPort) {
  Json j = decode_ok(fixture("deployment.bin"));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"d1","labels":{"app":"d1"}},
      "spec":{"replicas":2,"selector":{"matchLabels":{"app":"d1"}},
              "template":{"metadata":{"labels":{"app":"d1"}},
                          "spec":{"containers":[{"name":"nginx","image":"nginx",
                                                 "ports":[{"containerPort":80}],
                                                 "resources":{}}]}},
              "strategy":{}}})"))
      << j.dump();
}

TEST(ProtobufKubectl, CreateDeploymentWithCommand) {
  Json j = decode_ok(fixture("deployment_cmd.bin"));
  EXPECT_EQ(j["spec"]["replicas"], 1) << j.dump();
  EXPECT_EQ(j["spec"]["template"]["spec"]["containers"][0],
            Json::parse(R"({"name":"busybox","image":"busybox","command":["sleep","3600"],
                            "resources":{}})"))
      << j.dump();
}

TEST(ProtobufKubectl, AutoscaleDeploymentPostsAutoscalingV1) {
  Json j = decode_ok(fixture("hpa_v1.bin"));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler",
      "metadata":{"name":"d1"},
      "spec":{"scaleTargetRef":{"kind":"Deployment","name":"d1","apiVersion":"apps/v1"},
              "minReplicas":1,"maxReplicas":3,"targetCPUUtilizationPercentage":50}})"))
      << j.dump();
}

// --- hand-built bodies ---

// kubectl create token SA --audience a --duration 20m --bound-object-kind Pod ...
TEST(ProtobufDecode, TokenRequestAndReviews) {
  Msg spec;
  spec.str(1, "a").str(1, "b");
  spec.msg(3, Msg().str(1, "Pod").str(2, "v1").str(3, "p1").str(4, "u1"));
  spec.varint(4, 1200);
  Json j =
      decode_ok(body("authentication.k8s.io/v1", "TokenRequest", Msg().msg(1, Msg()).msg(2, spec)));
  EXPECT_EQ(j, Json::parse(
                   R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{},
      "spec":{"audiences":["a","b"],"expirationSeconds":1200,
              "boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1","uid":"u1"}}})"))
      << j.dump();
  j = decode_ok(body("authentication.k8s.io/v1", "TokenReview",
                     Msg().msg(2, Msg().str(1, "tok").str(2, "x"))));
  EXPECT_EQ(j["spec"], Json::parse(R"({"token":"tok","audiences":["x"]})")) << j.dump();
  j = decode_ok(body("authentication.k8s.io/v1", "SelfSubjectReview", Msg().msg(1, Msg())));
  EXPECT_EQ(j["kind"], "SelfSubjectReview");
}

// kubectl create serviceaccount posts a protobuf ServiceAccount.
TEST(ProtobufDecode, ServiceAccount) {
  Json j = decode_ok(body("v1", "ServiceAccount",
                          Msg()
                              .msg(1, meta("robot"))
                              .msg(2, Msg().str(1, "Secret").str(3, "robot-token"))
                              .msg(3, Msg().str(1, "pull"))
                              .varint(4, 0)));
  EXPECT_EQ(j,
            Json::parse(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"robot"},
                               "secrets":[{"kind":"Secret","name":"robot-token"}],
                               "imagePullSecrets":[{"name":"pull"}],
                               "automountServiceAccountToken":false})"))
      << j.dump();
  Json bare = decode_ok(body("v1", "ServiceAccount", Msg().msg(1, meta("sa1"))));
  EXPECT_EQ(bare,
            Json::parse(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa1"}})"))
      << bare.dump();
}

TEST(ProtobufDecode, ObjectMetaFieldsAndTime) {
  Msg m = meta("x");
  m.str(2, "gen-").str(3, "ns1").str(4, "/self/link").str(5, "uid-1").str(6, "42").varint(7, 3);
  m.msg(8, Msg().varint(1, 1795636579));                 // creationTimestamp
  m.msg(9, Msg().varint(1, 1795636579).varint(2, 500));  // deletionTimestamp
  m.varint(10, 0);                                       // *int64 present zero: kept
  m.entry(11, "app", "web").entry(11, "tier", "");
  m.entry(12, "note", "hello");
  m.msg(13, Msg().str(1, "ReplicaSet").str(3, "rs").str(4, "u2").str(5, "apps/v1").varint(6, 1));
  m.str(14, "f1").str(14, "f2");
  m.msg(17, Msg().str(1, "kubectl"));  // managedFields: skipped
  Json j = decode_ok(body("v1", "ConfigMap", Msg().msg(1, m)));
  EXPECT_EQ(j["metadata"], Json::parse(R"({
      "name":"x","generateName":"gen-","namespace":"ns1","uid":"uid-1",
      "resourceVersion":"42","generation":3,
      "creationTimestamp":"2026-11-25T19:56:19Z","deletionTimestamp":"2026-11-25T19:56:19Z",
      "deletionGracePeriodSeconds":0,
      "labels":{"app":"web","tier":""},"annotations":{"note":"hello"},
      "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u2",
                          "controller":true}],
      "finalizers":["f1","f2"]})"))
      << j.dump();
}

TEST(ProtobufDecode, ZeroValuesOfNonPointerFieldsAreOmitted) {
  Msg m = meta("x");
  m.str(3, "").varint(7, 0).msg(8, Msg());  // empty namespace, generation 0, zero Time
  Msg spec;
  spec.msg(2, Msg().str(1, "c").str(2, "img").str(14, "").varint(16, 0));
  spec.varint(11, 0);  // hostNetwork false: omitted
  spec.varint(30, 0);  // enableServiceLinks *bool false: kept
  spec.varint(4, 0);   // terminationGracePeriodSeconds *int64 0: kept
  Json j = decode_ok(body("v1", "Pod", Msg().msg(1, m).msg(2, spec)));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},
      "spec":{"containers":[{"name":"c","image":"img"}],"enableServiceLinks":false,
              "terminationGracePeriodSeconds":0}})"))
      << j.dump();
}

TEST(ProtobufDecode, ConfigMapBinaryDataAndImmutable) {
  Msg cm = Msg().msg(1, meta("c"));
  cm.entry(2, "k", "v").entry(3, "bin", std::string("\x00\xff\x10", 3)).varint(4, 1);
  Json j = decode_ok(body("v1", "ConfigMap", cm));
  EXPECT_EQ(j["data"], Json::parse(R"({"k":"v"})"));
  EXPECT_EQ(j["binaryData"], Json::parse(R"({"bin":"AP8Q"})"));
  EXPECT_EQ(j["immutable"], true);
}

TEST(ProtobufDecode, SecretBytesAreBase64WithPadding) {
  Msg s = Msg().msg(1, meta("s"));
  s.entry(2, "one", "a").entry(2, "two", "ab").entry(2, "three", "abc").entry(2, "empty", "");
  s.str(3, "kubernetes.io/tls").entry(4, "plain", "text").varint(5, 0);
  Json j = decode_ok(body("v1", "Secret", s));
  EXPECT_EQ(j["data"], Json::parse(R"({"one":"YQ==","two":"YWI=","three":"YWJj","empty":""})"));
  EXPECT_EQ(j["type"], "kubernetes.io/tls");
  EXPECT_EQ(j["stringData"], Json::parse(R"({"plain":"text"})"));
  EXPECT_EQ(j["immutable"], false);  // *bool present: kept even when false
}

TEST(ProtobufDecode, ServiceSpecAndIntOrString) {
  Msg spec;
  spec.msg(1, Msg()
                  .str(1, "http")
                  .str(2, "TCP")
                  .str(6, "http")
                  .varint(3, 80)
                  .msg(4, int_or_string("web"))
                  .varint(5, 30080));
  spec.msg(1, Msg().str(1, "m").varint(3, 9090).msg(4, int_or_string(9091)));
  spec.entry(2, "app", "x").str(3, "10.0.0.5").str(18, "10.0.0.5").str(4, "NodePort");
  spec.str(5, "1.2.3.4").str(7, "ClientIP").str(10, "").str(11, "Local");
  spec.str(17, "SingleStack").str(19, "IPv4").str(22, "Cluster");
  spec.msg(14, Msg().msg(1, Msg().varint(1, 600)));
  Msg svc = Msg().msg(1, meta("s")).msg(2, spec).msg(3, Msg().msg(1, Msg()));
  Json j = decode_ok(body("v1", "Service", svc));
  EXPECT_EQ(j["spec"], Json::parse(R"({
      "ports":[{"name":"http","protocol":"TCP","appProtocol":"http","port":80,
                "targetPort":"web","nodePort":30080},
               {"name":"m","port":9090,"targetPort":9091}],
      "selector":{"app":"x"},"clusterIP":"10.0.0.5","clusterIPs":["10.0.0.5"],
      "type":"NodePort","externalIPs":["1.2.3.4"],"sessionAffinity":"ClientIP",
      "externalTrafficPolicy":"Local","ipFamilyPolicy":"SingleStack","ipFamilies":["IPv4"],
      "internalTrafficPolicy":"Cluster",
      "sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}}})"))
      << j.dump();
  EXPECT_FALSE(j.contains("status"));
}

Msg full_container() {
  Msg c;
  c.str(1, "app").str(2, "nginx:1.27").str(3, "sh").str(3, "-c").str(4, "echo hi").str(5, "/w");
  c.msg(6, Msg().str(1, "http").varint(2, 8080).varint(3, 80).str(4, "TCP").str(5, "0.0.0.0"));
  c.msg(7, Msg().str(1, "PLAIN").str(2, "v"));
  c.msg(7,
        Msg()
            .str(1, "FROM_CM")
            .msg(3, Msg().msg(3, Msg().msg(1, Msg().str(1, "cm1")).str(2, "key1").varint(3, 1))));
  c.msg(7, Msg()
               .str(1, "FROM_SECRET")
               .msg(3, Msg().msg(4, Msg().msg(1, Msg().str(1, "sec1")).str(2, "pw"))));
  c.msg(7, Msg().str(1, "POD_IP").msg(3, Msg().msg(1, Msg().str(1, "v1").str(2, "status.podIP"))));
  c.msg(8, Msg()
               .msg(1, Msg().str(1, "cpu").msg(2, quantity("500m")))
               .msg(1, Msg().str(1, "memory").msg(2, quantity("128Mi")))
               .msg(2, Msg().str(1, "cpu").msg(2, quantity("100m"))));
  c.msg(9, Msg().str(1, "data").varint(2, 1).str(3, "/data").str(4, "sub"));
  c.msg(10,
        Msg()
            .msg(1, Msg().msg(
                        2, Msg().str(1, "/healthz").msg(2, int_or_string("http")).str(4, "HTTP")))
            .varint(2, 5)
            .varint(4, 10)
            .varint(6, 3));
  c.msg(11, Msg().msg(1, Msg().msg(3, Msg().msg(1, int_or_string(80)))).varint(3, 1));
  c.msg(22, Msg().msg(1, Msg().msg(1, Msg().str(1, "cat").str(1, "/ready"))));
  c.str(13, "/dev/termination-log").str(14, "IfNotPresent").str(20, "File");
  c.msg(15, Msg().varint(2, 0).varint(4, 1000).varint(8, 2000).varint(6, 1).varint(7, 0));
  c.varint(16, 1).varint(18, 1);
  return c;
}

TEST(ProtobufDecode, ContainerFields) {
  Msg spec = Msg().msg(2, full_container());
  Json j = decode_ok(body("v1", "Pod", Msg().msg(1, meta("p")).msg(2, spec)));
  EXPECT_EQ(j["spec"]["containers"][0], Json::parse(R"({
      "name":"app","image":"nginx:1.27","command":["sh","-c"],"args":["echo hi"],
      "workingDir":"/w",
      "ports":[{"name":"http","hostPort":8080,"containerPort":80,"protocol":"TCP",
                "hostIP":"0.0.0.0"}],
      "env":[{"name":"PLAIN","value":"v"},
             {"name":"FROM_CM","valueFrom":{"configMapKeyRef":{"name":"cm1","key":"key1",
                                                              "optional":true}}},
             {"name":"FROM_SECRET","valueFrom":{"secretKeyRef":{"name":"sec1","key":"pw"}}},
             {"name":"POD_IP","valueFrom":{"fieldRef":{"apiVersion":"v1",
                                                       "fieldPath":"status.podIP"}}}],
      "resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"100m"}},
      "volumeMounts":[{"name":"data","readOnly":true,"mountPath":"/data","subPath":"sub"}],
      "livenessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTP"},
                       "initialDelaySeconds":5,"periodSeconds":10,"failureThreshold":3},
      "readinessProbe":{"tcpSocket":{"port":80},"timeoutSeconds":1},
      "startupProbe":{"exec":{"command":["cat","/ready"]}},
      "terminationMessagePath":"/dev/termination-log","imagePullPolicy":"IfNotPresent",
      "terminationMessagePolicy":"File",
      "securityContext":{"privileged":false,"runAsUser":1000,"runAsGroup":2000,
                         "readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false},
      "stdin":true,"tty":true})"))
      << j.dump();
}

TEST(ProtobufDecode, PodSpecFieldsAndVolumes) {
  Msg spec;
  spec.msg(
      1,
      Msg().str(1, "scratch").msg(2, Msg().msg(2, Msg().str(1, "Memory").msg(2, quantity("1Gi")))));
  spec.msg(1,
           Msg().str(1, "host").msg(2, Msg().msg(1, Msg().str(1, "/var/log").str(2, "Directory"))));
  spec.msg(1,
           Msg().str(1, "cfg").msg(2, Msg().msg(19, Msg()
                                                        .msg(1, Msg().str(1, "app-config"))
                                                        .msg(2, Msg().str(1, "a").str(2, "a.txt"))
                                                        .varint(3, 420))));
  spec.msg(1, Msg().str(1, "sec").msg(
                  2, Msg().msg(6, Msg().str(1, "app-secret").varint(3, 256).varint(4, 1))));
  spec.msg(20, Msg().str(1, "init").str(2, "busybox"));
  spec.msg(2, Msg().str(1, "main").str(2, "nginx"));
  spec.str(3, "Never").varint(4, 30).varint(5, 600).str(6, "ClusterFirst");
  spec.entry(7, "disk", "ssd").str(8, "sa").str(10, "node-1").varint(11, 1).str(19, "sched");
  spec.msg(
      14,
      Msg().varint(2, 1000).varint(6, 3000).varint(5, 2000).varint(3, 1).varint(4, 5).varint(4, 6));
  spec.msg(15, Msg().str(1, "regcred"));
  spec.msg(22, Msg().str(1, "k").str(2, "Equal").str(3, "v").str(4, "NoSchedule"));
  spec.msg(22, Msg().str(2, "Exists").str(4, "NoExecute").varint(5, 300));
  spec.sint(25, -5).varint(30, 1);
  Json j = decode_ok(body("v1", "Pod", Msg().msg(1, meta("p")).msg(2, spec)));
  EXPECT_EQ(j["spec"], Json::parse(R"({
      "volumes":[{"name":"scratch","emptyDir":{"medium":"Memory","sizeLimit":"1Gi"}},
                 {"name":"host","hostPath":{"path":"/var/log","type":"Directory"}},
                 {"name":"cfg","configMap":{"name":"app-config",
                                            "items":[{"key":"a","path":"a.txt"}],
                                            "defaultMode":420}},
                 {"name":"sec","secret":{"secretName":"app-secret","defaultMode":256,
                                         "optional":true}}],
      "initContainers":[{"name":"init","image":"busybox"}],
      "containers":[{"name":"main","image":"nginx"}],
      "restartPolicy":"Never","terminationGracePeriodSeconds":30,"activeDeadlineSeconds":600,
      "dnsPolicy":"ClusterFirst","nodeSelector":{"disk":"ssd"},"serviceAccountName":"sa",
      "nodeName":"node-1","hostNetwork":true,"schedulerName":"sched",
      "securityContext":{"runAsUser":1000,"runAsGroup":3000,"fsGroup":2000,"runAsNonRoot":true,
                         "supplementalGroups":[5,6]},
      "imagePullSecrets":[{"name":"regcred"}],
      "tolerations":[{"key":"k","operator":"Equal","value":"v","effect":"NoSchedule"},
                     {"operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],
      "priority":-5,"enableServiceLinks":true})"))
      << j.dump();
}

TEST(ProtobufDecode, PackedRepeatedScalars) {
  Msg packed;  // supplementalGroups [1, 300] packed into one length-delimited field
  packed.raw(std::string("\x22\x03\x01\xac\x02", 5));
  Msg spec = Msg().msg(14, packed);
  Json j = decode_ok(body("v1", "Pod", Msg().msg(1, meta("p")).msg(2, spec)));
  EXPECT_EQ(j["spec"]["securityContext"]["supplementalGroups"], Json::parse("[1,300]"));
}

TEST(ProtobufDecode, DeploymentSpec) {
  Msg selector = Msg()
                     .entry(1, "app", "web")
                     .msg(2, Msg().str(1, "tier").str(2, "In").str(3, "a").str(3, "b"));
  Msg tmpl = Msg()
                 .msg(1, Msg().msg(8, Msg()).entry(11, "app", "web"))
                 .msg(2, Msg().msg(2, Msg().str(1, "web").str(2, "nginx")));
  Msg strategy = Msg()
                     .str(1, "RollingUpdate")
                     .msg(2, Msg().msg(1, int_or_string(0)).msg(2, int_or_string("25%")));
  Msg spec;
  spec.varint(1, 0).msg(2, selector).msg(3, tmpl).msg(4, strategy).varint(5, 5).varint(6, 3);
  spec.varint(7, 1).varint(9, 120);
  Msg status = Msg().varint(1, 7);  // status: not decoded
  Json j = decode_ok(
      body("apps/v1", "Deployment", Msg().msg(1, meta("web")).msg(2, spec).msg(3, status)));
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web"},
      "spec":{"replicas":0,
              "selector":{"matchLabels":{"app":"web"},
                          "matchExpressions":[{"key":"tier","operator":"In",
                                               "values":["a","b"]}]},
              "template":{"metadata":{"labels":{"app":"web"}},
                          "spec":{"containers":[{"name":"web","image":"nginx"}]}},
              "strategy":{"type":"RollingUpdate",
                          "rollingUpdate":{"maxUnavailable":0,"maxSurge":"25%"}},
              "minReadySeconds":5,"revisionHistoryLimit":3,"paused":true,
              "progressDeadlineSeconds":120}})"))
      << j.dump();
}

TEST(ProtobufDecode, ReplicaSetSpec) {
  Msg spec = Msg()
                 .varint(1, 3)
                 .msg(2, Msg().entry(1, "a", "b"))
                 .varint(4, 2)
                 .msg(3, Msg().msg(2, Msg().msg(2, Msg().str(1, "c").str(2, "i"))));
  Json j = decode_ok(body("apps/v1", "ReplicaSet", Msg().msg(1, meta("rs")).msg(2, spec)));
  EXPECT_EQ(j["spec"], Json::parse(R"({"replicas":3,"selector":{"matchLabels":{"a":"b"}},
      "minReadySeconds":2,"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}})"))
      << j.dump();
}

TEST(ProtobufDecode, HorizontalPodAutoscalerV2) {
  Msg target = Msg().str(1, "Utilization").varint(4, 60);
  Msg spec;
  spec.msg(1, Msg().str(1, "Deployment").str(2, "web").str(3, "apps/v1")).varint(2, 1).varint(3, 5);
  spec.msg(4, Msg().str(1, "Resource").msg(4, Msg().str(1, "cpu").msg(2, target)));
  spec.msg(4, Msg()
                  .str(1, "Resource")
                  .msg(4, Msg()
                              .str(1, "memory")
                              .msg(2, Msg().str(1, "AverageValue").msg(3, quantity("200Mi")))));
  spec.msg(5, Msg().msg(2, Msg().varint(3, 0).str(1, "Max").msg(
                               2, Msg().str(1, "Pods").varint(2, 2).varint(3, 60))));
  Json j = decode_ok(
      body("autoscaling/v2", "HorizontalPodAutoscaler", Msg().msg(1, meta("web")).msg(2, spec)));
  EXPECT_EQ(j["spec"], Json::parse(R"({
      "scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},
      "minReplicas":1,"maxReplicas":5,
      "metrics":[{"type":"Resource","resource":{"name":"cpu",
                   "target":{"type":"Utilization","averageUtilization":60}}},
                 {"type":"Resource","resource":{"name":"memory",
                   "target":{"type":"AverageValue","averageValue":"200Mi"}}}],
      "behavior":{"scaleDown":{"stabilizationWindowSeconds":0,"selectPolicy":"Max",
                  "policies":[{"type":"Pods","value":2,"periodSeconds":60}]}}})"))
      << j.dump();
}

TEST(ProtobufDecode, NamespaceSpecAndStatus) {
  Msg ns =
      Msg().msg(1, meta("n")).msg(2, Msg().str(1, "kubernetes")).msg(3, Msg().str(1, "Active"));
  Json j = decode_ok(body("v1", "Namespace", ns));
  EXPECT_EQ(j["spec"], Json::parse(R"({"finalizers":["kubernetes"]})"));
  EXPECT_EQ(j["status"], Json::parse(R"({"phase":"Active"})"));
}

TEST(ProtobufDecode, UnknownFieldsOfEveryWireTypeAreSkipped) {
  Msg m = meta("x").varint(99, 5).fixed64(98, 1).fixed32(97, 2).str(96, "junk");
  Msg cm =
      Msg().msg(1, m).varint(50, 1).fixed32(51, 7).msg(52, Msg().str(1, "z")).entry(2, "a", "b");
  Msg unknown;  // runtime.Unknown with an extra field too
  unknown.msg(1, Msg().str(1, "v1").str(2, "ConfigMap").varint(3, 1)).msg(2, cm).fixed64(9, 0);
  Json j = decode_ok(std::string(kK8sProtobufMagic) + unknown.bytes());
  EXPECT_EQ(j, Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},
                               "data":{"a":"b"}})"))
      << j.dump();
}

TEST(ProtobufDecode, UnknownKindIsUnsupported) {
  auto r = decode_k8s_protobuf(body("apps/v1", "StatefulSet", Msg().msg(1, meta("x"))));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_EQ(r.status().http_code(), 415);
  EXPECT_NE(r.status().message().find("StatefulSet"), std::string::npos);

  // Known kind under the wrong group version.
  auto r2 = decode_k8s_protobuf(body("extensions/v1beta1", "Deployment", Msg()));
  ASSERT_FALSE(r2.is_ok());
  EXPECT_EQ(r2.status().code(), Code::kUnsupported);

  auto r3 = decode_k8s_protobuf(body("v1", "ConfigMap", Msg().msg(1, meta("x")), "gzip"));
  ASSERT_FALSE(r3.is_ok());
  EXPECT_EQ(r3.status().code(), Code::kUnsupported);
}

void expect_bad(std::string_view b, const char* what) {
  auto r = decode_k8s_protobuf(b);
  ASSERT_FALSE(r.is_ok()) << what;
  EXPECT_EQ(r.status().code(), Code::kBadRequest) << what << ": " << r.status().to_string();
}

TEST(ProtobufDecode, MalformedInputIsBadRequest) {
  expect_bad("", "empty");
  expect_bad("k8s", "short magic");
  expect_bad(R"({"kind":"ConfigMap"})", "json");
  expect_bad(std::string(kK8sProtobufMagic), "magic only: no kind");
  expect_bad(std::string(kK8sProtobufMagic) + "\xff\xff\xff", "bad tag");
  // Varint longer than 10 bytes.
  expect_bad(std::string(kK8sProtobufMagic) + "\x08" + std::string(11, '\xff') + "\x01",
             "long varint");
  // Length past the end.
  expect_bad(std::string(kK8sProtobufMagic) + "\x0a\x7f\x0a", "length past end");
  // Field number 0.
  expect_bad(std::string(kK8sProtobufMagic) + std::string("\x00\x01", 2), "field zero");
  // Group wire type.
  expect_bad(std::string(kK8sProtobufMagic) + "\x0b", "group");
  // Wrong wire type for a known field: metadata.name as varint.
  expect_bad(body("v1", "ConfigMap", Msg().msg(1, Msg().varint(1, 5))), "wrong wire type");
  // Invalid UTF-8 in a string and in a map key.
  expect_bad(body("v1", "ConfigMap", Msg().msg(1, Msg().str(1, "\xc3\x28"))), "utf8");
  expect_bad(body("v1", "ConfigMap", Msg().entry(2, "\xff", "v")), "utf8 key");
  // Time far out of range.
  expect_bad(body("v1", "ConfigMap", Msg().msg(1, Msg().msg(8, Msg().sint(1, INT64_MIN)))),
             "time range");
}

TEST(ProtobufDecode, EveryTruncationInsideTheObjectIsBadRequest) {
  std::string full = fixture("deployment.bin");
  ASSERT_TRUE(decode_k8s_protobuf(full).is_ok());
  // The raw object runs from the end of its length prefix for `raw_len` bytes;
  // any cut inside it leaves the outer length pointing past the end.
  size_t raw_end = full.find("\x1a\x00\x22\x00", full.size() - 6);
  ASSERT_NE(raw_end, std::string::npos);
  // Cuts before the raw tag leave a well-formed Unknown without an object;
  // start right after the tag byte (magic, TypeMeta tag, length, TypeMeta).
  size_t raw_tag = 6 + static_cast<uint8_t>(full[5]);
  ASSERT_EQ(full[raw_tag], '\x12');
  for (size_t n = raw_tag + 1; n < raw_end; ++n) {
    auto r = decode_k8s_protobuf(std::string_view(full).substr(0, n));
    ASSERT_FALSE(r.is_ok()) << "prefix " << n;
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << "prefix " << n;
  }
}

TEST(ProtobufDecode, RandomMutationsNeverCrash) {
  std::mt19937 rng(12345);
  const std::string seeds[] = {
      fixture("deployment.bin"), fixture("service_nodeport.bin"),
      body("v1", "Pod", Msg().msg(1, meta("p")).msg(2, Msg().msg(2, full_container())))};
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b = seeds[i % 3];
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      size_t pos = 4 + rng() % (b.size() - 4);
      b[pos] = static_cast<char>(rng() & 0xff);
    }
    auto r = decode_k8s_protobuf(b);
    if (r.is_ok()) {
      ++ok;
      EXPECT_TRUE(r->is_object());
      (void)r->dump();  // must be serializable (valid UTF-8 everywhere)
    } else {
      EXPECT_TRUE(r.status().code() == Code::kBadRequest || r.status().code() == Code::kUnsupported)
          << r.status().to_string();
    }
  }
  EXPECT_GT(ok, 0);  // some mutations only change values
}

}  // namespace
}  // namespace minik8s::api
