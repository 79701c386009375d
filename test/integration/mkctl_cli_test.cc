// mkctl run in-process against a real in-process ApiServer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/cli/mkctl.h"
#include "minik8s/storage/storage.h"

namespace minik8s::cli {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

struct CliRun {
  int rc;
  std::string out;
  std::string err;
};

class MkctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mk-mkctl-it-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    storage::SqliteOptions so;
    so.path = (dir_ / "db.sqlite").string();
    so.compaction_interval = std::chrono::milliseconds(0);
    auto store = storage::open_sqlite_storage(so);
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
    apiserver::ApiServerOptions ao;
    ao.port = 0;
    auto srv = apiserver::ApiServer::start(*store_, ao);
    ASSERT_TRUE(srv) << srv.status().to_string();
    server_ = std::move(*srv);
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  CliRun mkctl(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {"--server", server_->url()});
    std::ostringstream out, err;
    std::istringstream in(stdin_text);
    int rc = run_mkctl(args, out, err, in);
    return {rc, out.str(), err.str()};
  }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Storage> store_;
  std::unique_ptr<apiserver::ApiServer> server_;
};

constexpr const char* kPod = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
    tier: frontend
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports:
    - containerPort: 80
)";

constexpr const char* kTwo = R"(apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: v1
kind: Pod
metadata:
  name: a
  labels: {group: x}
spec:
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: b
  namespace: other
  labels: {group: x}
spec:
  containers: [{name: c, image: busybox}]
)";

TEST_F(MkctlTest, ApplyCreatesThenUnchangedThenConfigured) {
  std::string f = write("pod.yaml", kPod);
  auto r = mkctl({"apply", "-f", f});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod/web created\n");
  r = mkctl({"apply", "-f", f});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod/web unchanged\n");

  // Drop a label and change the image: the label is removed (three-way), image updated.
  std::string changed = kPod;
  changed.replace(changed.find("    tier: frontend\n"), 19, "");
  changed.replace(changed.find("nginx:1.25"), 10, "nginx:1.26");
  write("pod.yaml", changed);
  r = mkctl({"apply", "-f", f});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod/web configured\n");
  r = mkctl({"get", "pod", "web", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  Json obj = Json::parse(r.out);
  EXPECT_EQ(obj["spec"]["containers"][0]["image"], "nginx:1.26");
  EXPECT_FALSE(obj["metadata"]["labels"].contains("tier"));
  EXPECT_EQ(obj["metadata"]["labels"]["app"], "web");
  EXPECT_TRUE(obj["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration"));
  r = mkctl({"apply", "-f", f});
  EXPECT_EQ(r.out, "pod/web unchanged\n");
}

TEST_F(MkctlTest, LastAppliedIsEncodedLikeKubectl) {
  // kubectl writes the annotation with sorted keys, an annotations map,
  // Go's HTML escaping and a trailing newline; mkctl must write the same bytes
  // so that alternating the two tools reports "unchanged".
  std::string f = write("cm.yaml",
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
                        "data:\n  cmd: \"a && b > c\"\n");
  ASSERT_EQ(mkctl({"apply", "-f", f}).rc, 0);
  auto r = mkctl({"get", "cm", "cfg", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  Json obj = Json::parse(r.out);
  EXPECT_EQ(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{\"apiVersion\":\"v1\",\"data\":{\"cmd\":\"a \\u0026\\u0026 b \\u003e c\"},"
            "\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"cfg\","
            "\"namespace\":\"default\"}}\n");
}

TEST_F(MkctlTest, GetAllExpandsTheCategory) {
  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kTwo).rc, 0);
  auto r = mkctl({"get", "all", "-n", "other"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("pod/b"), std::string::npos) << r.out;
}

TEST_F(MkctlTest, ApplyFromStdinAndDirectory) {
  auto r = mkctl({"apply", "-f", "-"}, kTwo);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "namespace/other created\npod/a created\npod/b created\n");
  write("d/1.yaml", kPod);
  write("d/ignored.txt", "not yaml: [");
  r = mkctl({"apply", "-f", (dir_ / "d").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod/web created\n");
}

TEST_F(MkctlTest, GetTableNameYamlJsonSelectors) {
  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kTwo).rc, 0);
  auto r = mkctl({"get", "pods"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 4), "NAME") << r.out;
  EXPECT_NE(r.out.find("\na "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nb "), std::string::npos) << "b lives in another namespace:\n" << r.out;

  r = mkctl({"get", "po", "-A"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 9), "NAMESPACE") << r.out;
  EXPECT_NE(r.out.find("other       b "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default     a "), std::string::npos) << r.out;

  r = mkctl({"get", "pods", "-A", "-o", "name", "-l", "group=x"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod/a\npod/b\n");
  r = mkctl({"get", "pods", "-n", "other", "-o", "name"});
  EXPECT_EQ(r.out, "pod/b\n");
  r = mkctl({"get", "pod/a", "-o", "yaml"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("kind: Pod\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  name: a\n"), std::string::npos) << r.out;
  r = mkctl({"get", "pods", "-A", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  Json list = Json::parse(r.out);
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["kind"], "Pod");

  r = mkctl({"get", "pods", "--show-labels"});
  EXPECT_NE(r.out.find("LABELS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("group=x"), std::string::npos) << r.out;

  r = mkctl({"get", "pods", "-n", "empty-ns"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No resources found in empty-ns namespace.\n");
}

TEST_F(MkctlTest, GetWideAndWatch) {
  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kPod).rc, 0);
  auto narrow = mkctl({"get", "pods"});
  auto wide = mkctl({"get", "pods", "-o", "wide"});
  ASSERT_EQ(wide.rc, 0) << wide.err;
  auto header_cols = [](const std::string& out) {
    std::istringstream in(out.substr(0, out.find('\n')));
    return std::vector<std::string>(std::istream_iterator<std::string>(in), {});
  };
  EXPECT_GT(header_cols(wide.out).size(), header_cols(narrow.out).size()) << narrow.out << wide.out;

  // -w: the table, then a row per event until --request-timeout ends the watch.
  CliRun watched;
  std::thread watcher([&] { watched = mkctl({"get", "pods", "-w", "--request-timeout", "2s"}); });
  std::string late = std::string(kPod);
  late.replace(late.find("name: web"), 9, "name: late");
  auto created = mkctl({"apply", "-f", "-"}, late);
  watcher.join();
  ASSERT_EQ(created.rc, 0) << created.err;
  ASSERT_EQ(watched.rc, 0) << watched.err;
  EXPECT_EQ(watched.out.rfind("NAME", 0), 0u) << watched.out;
  EXPECT_NE(watched.out.find("\nweb "), std::string::npos) << watched.out;
  EXPECT_NE(watched.out.find("\nlate "), std::string::npos) << watched.out;
}

TEST_F(MkctlTest, DescribeShowsSectionsAndEvents) {
  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kPod).rc, 0);
  auto r = mkctl({"describe", "pod", "web"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Name:               web\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Namespace:          default\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    Image:          nginx:1.25\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Events:"), std::string::npos) << r.out;

  // An event about the pod shows up in the Events table.
  Json pod = Json::parse(mkctl({"get", "pod", "web", "-o", "json"}).out);
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "web.1"}, {"namespace", "default"}}},
             {"involvedObject",
              {{"kind", "Pod"}, {"name", "web"}, {"namespace", "default"}, {"uid", pod["metadata"]["uid"]}}},
             {"type", "Normal"},
             {"reason", "Scheduled"},
             {"message", "Successfully assigned default/web to node-1"},
             {"source", {{"component", "default-scheduler"}}}};
  r = mkctl({"create", "-f", "-"}, ev.dump());
  ASSERT_EQ(r.rc, 0) << r.err;
  r = mkctl({"describe", "pods/web"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Scheduled"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Successfully assigned default/web to node-1"), std::string::npos) << r.out;
}

TEST_F(MkctlTest, DeleteByNameFileAndSelector) {
  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kTwo).rc, 0);
  std::string f = write("pod.yaml", kPod);
  ASSERT_EQ(mkctl({"apply", "-f", f}).rc, 0);
  auto r = mkctl({"delete", "pod", "a", "--grace-period", "0"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod \"a\" deleted\n");
  r = mkctl({"delete", "-f", f});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod \"web\" deleted\n");
  r = mkctl({"delete", "pods", "-l", "group=x", "-n", "other"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod \"b\" deleted\n");
  r = mkctl({"delete", "pod", "a"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "Error from server (NotFound): pods \"a\" not found\n");
}

// A file without metadata.namespace is deleted from the namespace it was
// applied to: -n (or the kubeconfig context's namespace), not "default".
TEST_F(MkctlTest, DeleteFileUsesTheNamespaceFlag) {
  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kTwo).rc, 0);
  std::string f = write("pod.yaml", kPod);
  auto r = mkctl({"apply", "-f", f, "-n", "other"});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = mkctl({"delete", "-f", f, "-n", "other"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "pod \"web\" deleted\n");
  r = mkctl({"get", "pod", "web", "-n", "other"});
  EXPECT_EQ(r.rc, 1);
}

TEST_F(MkctlTest, ErrorsAreOneLineWithExitCodeOne) {
  auto r = mkctl({"get", "foo"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: the server doesn't have a resource type \"foo\"\n");
  r = mkctl({"get", "pod", "missing"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "Error from server (NotFound): pods \"missing\" not found\n");
  r = mkctl({"apply", "-f", (dir_ / "nope.yaml").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  r = mkctl({"apply", "-f", "-"}, "a: [1, 2\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("error: error parsing STDIN: ", 0), 0u) << r.err;
  r = mkctl({"create", "-f", "-"}, kPod);
  EXPECT_EQ(r.rc, 0) << r.err;
  r = mkctl({"create", "-f", "-"}, kPod);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("Error from server (AlreadyExists): ", 0), 0u) << r.err;
  r = mkctl({"bogus-command"});
  EXPECT_NE(r.rc, 0);
  std::ostringstream out, err;
  std::istringstream in;
  EXPECT_EQ(run_mkctl({"--server", "http://127.0.0.1:1", "get", "pods"}, out, err, in), 1);
  EXPECT_EQ(err.str().rfind("error: ", 0), 0u) << err.str();
}

TEST_F(MkctlTest, ScalePatchApiResourcesVersion) {
  constexpr const char* kDeploy = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
)";
  auto r = mkctl({"apply", "-f", "-"}, kDeploy);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "deployment.apps/web created\n");
  r = mkctl({"scale", "deploy", "web", "--replicas", "3"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "deployment.apps/web scaled\n");
  Json d = Json::parse(mkctl({"get", "deployments.apps", "web", "-o", "json"}).out);
  EXPECT_EQ(d["spec"]["replicas"], 3);
  r = mkctl({"patch", "deployment", "web", "--type", "merge", "-p", R"({"metadata":{"labels":{"x":"y"}}})"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "deployment.apps/web patched\n");
  d = Json::parse(mkctl({"get", "deploy/web", "-o", "json"}).out);
  EXPECT_EQ(d["metadata"]["labels"]["x"], "y");

  ASSERT_EQ(mkctl({"apply", "-f", "-"}, kPod).rc, 0);
  r = mkctl({"get", "deploy,pods"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\ndeployment.apps/web "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\npod/web "), std::string::npos) << r.out;
  r = mkctl({"describe", "deploy", "web"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Replicas:           3 desired"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Pod Template:\n"), std::string::npos) << r.out;

  r = mkctl({"api-resources"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u);
  EXPECT_NE(r.out.find("\npods "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("deployments"), std::string::npos) << r.out;
  r = mkctl({"version"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Server Version: v"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace minik8s::cli
