#include "minik8s/client/kubeconfig.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace minik8s::client {
namespace {

constexpr const char* kConfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: http://127.0.0.1:7000
- name: other
  cluster:
    server: http://10.0.0.1:6443
contexts:
- name: dev
  context:
    cluster: local
    namespace: team-a
- name: prod
  context:
    cluster: other
users: []
)";

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("mk-kubeconfig-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(Kubeconfig, CurrentContextServerAndNamespace) {
  auto cfg = parse_kubeconfig(kConfig);
  ASSERT_TRUE(cfg) << cfg.status().to_string();
  EXPECT_EQ(cfg->server, "http://127.0.0.1:7000");
  EXPECT_EQ(cfg->namespace_, "team-a");
  EXPECT_EQ(cfg->context, "dev");
  auto prod = parse_kubeconfig(kConfig, "prod");
  ASSERT_TRUE(prod);
  EXPECT_EQ(prod->server, "http://10.0.0.1:6443");
  EXPECT_EQ(prod->namespace_, "default");
}

TEST(Kubeconfig, ErrorsAreValues) {
  EXPECT_EQ(parse_kubeconfig(kConfig, "nope").status().code(), Code::kBadRequest);
  EXPECT_EQ(parse_kubeconfig("a: [unclosed").status().code(), Code::kBadRequest);
  EXPECT_EQ(parse_kubeconfig("- just\n- a list\n").status().code(), Code::kBadRequest);
  EXPECT_EQ(load_kubeconfig("/nonexistent/kubeconfig").status().code(), Code::kNotFound);
}

TEST(Kubeconfig, ResolutionOrder) {
  TempDir dir;
  std::string flag_file = dir.write("flag.yaml", kConfig);
  std::string env_file = dir.write("env.yaml", std::string(kConfig).replace(std::string(kConfig).find("7000"), 4, "7001"));
  std::string home = dir.path() + "/home";
  dir.write("home/.kube/config", std::string(kConfig).replace(std::string(kConfig).find("7000"), 4, "7002"));

  ConnectionFlags f;
  f.home = home;
  EXPECT_EQ(resolve_connection(f)->server, "http://127.0.0.1:7002");
  f.kubeconfig_env = env_file + ":" + flag_file;
  EXPECT_EQ(resolve_connection(f)->server, "http://127.0.0.1:7001");
  f.kubeconfig_path = flag_file;
  EXPECT_EQ(resolve_connection(f)->server, "http://127.0.0.1:7000");
  f.server = "http://1.2.3.4:5";
  auto r = resolve_connection(f);
  EXPECT_EQ(r->server, "http://1.2.3.4:5");
  EXPECT_EQ(r->namespace_, "team-a");

  ConnectionFlags none;
  none.home = dir.path() + "/nohome";
  EXPECT_EQ(resolve_connection(none)->server, kDefaultServer);
  ConnectionFlags missing;
  missing.kubeconfig_path = dir.path() + "/missing.yaml";
  EXPECT_EQ(resolve_connection(missing).status().code(), Code::kNotFound);
}

TEST(Kubeconfig, ReadsTlsAndCredentials) {
  TempDir dir;
  dir.write("token.txt", "s3cret\n");
  std::string path = dir.write("config", R"(apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ca.crt
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes
users:
- name: u
  user:
    client-certificate-data: aGVsbG8=
    client-key: /abs/key.pem
    tokenFile: token.txt
contexts:
- name: c
  context: {cluster: k, user: u}
)");
  auto cfg = load_kubeconfig(path);
  ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->tls.ca_file, std::filesystem::path(path).parent_path().string() + "/ca.crt");
  EXPECT_TRUE(cfg->tls.insecure_skip_verify);
  EXPECT_EQ(cfg->tls.server_name, "kubernetes");
  EXPECT_EQ(cfg->tls.cert_pem, "hello");
  EXPECT_EQ(cfg->tls.key_file, "/abs/key.pem");
  EXPECT_EQ(cfg->token, "s3cret");
  auto ro = rest_options(*cfg);
  EXPECT_EQ(ro.bearer_token, "s3cret");
  EXPECT_EQ(ro.tls.cert_pem, "hello");
  // Bad base64 is an error naming the field.
  auto bad = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x", certificate-authority-data: "!!!"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("certificate-authority-data"), std::string::npos);
}

}  // namespace
}  // namespace minik8s::client
