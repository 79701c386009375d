// GrpcRuntime against an in-process fake runtime.v1 server on a unix socket:
// request conversion, response conversion and the error mapping of
// include/minik8s/cri/runtime.h. Also checks the extracted descriptor.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "api.grpc.pb.h"
#include "minik8s/cri/grpc_runtime.h"

namespace minik8s::cri {
namespace {

namespace v1 = ::runtime::v1;
namespace fs = std::filesystem;

TEST(CriDescriptor, RuntimeV1HasTheUpstreamServices) {
  const auto* file = v1::VersionRequest::descriptor()->file();
  EXPECT_EQ(file->package(), "runtime.v1");
  EXPECT_EQ(file->name(), "api.proto");
  EXPECT_EQ(file->dependency_count(), 0);
  const auto* rs = file->FindServiceByName("RuntimeService");
  const auto* is = file->FindServiceByName("ImageService");
  ASSERT_NE(rs, nullptr);
  ASSERT_NE(is, nullptr);
  // 31 RPCs in all (RECIPES.md): 26 RuntimeService + 5 ImageService.
  EXPECT_EQ(rs->method_count(), 26);
  EXPECT_EQ(is->method_count(), 5);
  for (const char* m : {"RunPodSandbox", "CreateContainer", "StartContainer", "ExecSync", "Exec",
                        "ListContainerStats", "UpdateContainerResources", "ContainerStatus"}) {
    EXPECT_NE(rs->FindMethodByName(m), nullptr) << m;
  }
  EXPECT_NE(is->FindMethodByName("PullImage"), nullptr);
  // Field numbers the wire format depends on (cri-api v0.25).
  EXPECT_EQ(v1::ContainerConfig::descriptor()->FindFieldByName("linux")->number(), 15);
  EXPECT_EQ(v1::LinuxContainerResources::descriptor()->FindFieldByName("oom_score_adj")->number(),
            5);
}

TEST(CriGrpcRuntime, ContainerStateNames) {
  EXPECT_STREQ(to_string(ContainerState::kCreated), "created");
  EXPECT_STREQ(to_string(ContainerState::kRunning), "running");
  EXPECT_STREQ(to_string(ContainerState::kExited), "exited");
  EXPECT_STREQ(to_string(ContainerState::kUnknown), "unknown");
}

TEST(CriGrpcRuntime, MalformedEndpointsAreInvalid) {
  for (const char* e : {"", "tcp://127.0.0.1:1", "relative/path.sock", "unix://relative"}) {
    auto r = make_grpc_runtime({e});
    ASSERT_FALSE(r.is_ok()) << e;
    EXPECT_EQ(r.status().code(), Code::kInvalid) << e;
  }
  EXPECT_TRUE(make_grpc_runtime({"unix:///run/containerd/containerd.sock"}).is_ok());
  EXPECT_TRUE(make_grpc_runtime({"/run/containerd/containerd.sock"}).is_ok());
}

TEST(CriGrpcRuntime, MissingSocketIsUnavailable) {
  GrpcRuntimeOptions o;
  o.endpoint = "unix:///tmp/minik8s-test-" + std::to_string(::getpid()) + "-no-such.sock";
  o.call_timeout = std::chrono::milliseconds(2000);
  auto r = make_grpc_runtime(o);
  ASSERT_TRUE(r.is_ok());
  auto v = (*r)->version();
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().code(), Code::kUnavailable) << v.status().to_string();
}

// Records requests; answers from canned data.
class FakeRuntimeService final : public v1::RuntimeService::Service {
 public:
  grpc::Status Version(grpc::ServerContext*, const v1::VersionRequest*,
                       v1::VersionResponse* r) override {
    r->set_runtime_name("containerd");
    r->set_runtime_version("1.6.20~ds1");
    r->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }
  grpc::Status RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* q,
                             v1::RunPodSandboxResponse* r) override {
    std::lock_guard lk(mu);
    sandbox_req = *q;
    r->set_pod_sandbox_id("sb1");
    return grpc::Status::OK;
  }
  grpc::Status CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* q,
                               v1::CreateContainerResponse* r) override {
    std::lock_guard lk(mu);
    create_req = *q;
    r->set_container_id("c1");
    return grpc::Status::OK;
  }
  grpc::Status StartContainer(grpc::ServerContext*, const v1::StartContainerRequest* q,
                              v1::StartContainerResponse*) override {
    if (q->container_id() == "exists") return {grpc::StatusCode::ALREADY_EXISTS, "already running"};
    if (q->container_id() == "slow") return {grpc::StatusCode::DEADLINE_EXCEEDED, "too slow"};
    return {grpc::StatusCode::UNKNOWN,
            "failed to create containerd task: exec: \"nope\": not found"};
  }
  grpc::Status ContainerStatus(grpc::ServerContext*, const v1::ContainerStatusRequest* q,
                               v1::ContainerStatusResponse* r) override {
    if (q->container_id() != "c1")
      return {grpc::StatusCode::NOT_FOUND, "an error occurred when try to find container \"" +
                                               q->container_id() + "\": not found"};
    auto* s = r->mutable_status();
    s->set_id("c1");
    s->mutable_metadata()->set_name("main");
    s->mutable_metadata()->set_attempt(2);
    s->set_state(v1::CONTAINER_EXITED);
    s->set_exit_code(137);
    s->set_reason("OOMKilled");
    s->set_started_at(5);
    s->set_finished_at(9);
    s->set_log_path("/logs/main/2.log");
    s->mutable_image()->set_image("busybox:1.36");
    s->set_image_ref("sha256:abc");
    (*s->mutable_labels())["app"] = "x";
    return grpc::Status::OK;
  }
  grpc::Status ListContainers(grpc::ServerContext*, const v1::ListContainersRequest* q,
                              v1::ListContainersResponse* r) override {
    std::lock_guard lk(mu);
    list_req = *q;
    auto* c = r->add_containers();
    c->set_id("c1");
    c->set_pod_sandbox_id("sb1");
    c->mutable_metadata()->set_name("main");
    c->set_state(v1::CONTAINER_RUNNING);
    return grpc::Status::OK;
  }
  grpc::Status ListContainerStats(grpc::ServerContext*, const v1::ListContainerStatsRequest*,
                                  v1::ListContainerStatsResponse* r) override {
    auto* s = r->add_stats();
    s->mutable_attributes()->set_id("c1");
    s->mutable_attributes()->mutable_metadata()->set_name("main");
    s->mutable_cpu()->set_timestamp(77);
    s->mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(123456);
    s->mutable_memory()->mutable_working_set_bytes()->set_value(4096);
    return grpc::Status::OK;
  }
  grpc::Status PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest*,
                                v1::PodSandboxStatusResponse* r) override {
    auto* s = r->mutable_status();
    s->set_id("sb1");
    s->set_state(v1::SANDBOX_READY);
    s->mutable_metadata()->set_name("p");
    s->mutable_network()->set_ip("10.88.0.5");
    s->mutable_network()->add_additional_ips()->set_ip("fd00::5");
    return grpc::Status::OK;
  }
  grpc::Status ExecSync(grpc::ServerContext*, const v1::ExecSyncRequest* q,
                        v1::ExecSyncResponse* r) override {
    r->set_stdout(q->cmd(0));
    r->set_stderr("err");
    r->set_exit_code(3);
    return grpc::Status::OK;
  }
  std::mutex mu;
  v1::RunPodSandboxRequest sandbox_req;
  v1::CreateContainerRequest create_req;
  v1::ListContainersRequest list_req;
};

class FakeImageService final : public v1::ImageService::Service {
 public:
  grpc::Status ImageStatus(grpc::ServerContext*, const v1::ImageStatusRequest* q,
                           v1::ImageStatusResponse* r) override {
    if (q->image().image() == "present:1") {
      r->mutable_image()->set_id("sha256:1");
      r->mutable_image()->add_repo_tags("present:1");
      r->mutable_image()->set_size(42);
    }
    return grpc::Status::OK;
  }
  grpc::Status PullImage(grpc::ServerContext*, const v1::PullImageRequest* q,
                         v1::PullImageResponse*) override {
    return {grpc::StatusCode::UNKNOWN,
            "failed to pull and unpack image \"" + q->image().image() +
                "\": failed to resolve reference: dial tcp: lookup registry-1.docker.io"};
  }
};

class CriGrpcFake : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = "/tmp/minik8s-test-" + std::to_string(::getpid()) + "-crifake-XXXXXX";
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    grpc::ServerBuilder b;
    b.AddListeningPort("unix:" + dir_ + "/cri.sock", grpc::InsecureServerCredentials());
    b.RegisterService(&rs_);
    b.RegisterService(&is_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto r = make_grpc_runtime({"unix://" + dir_ + "/cri.sock", std::chrono::milliseconds(5000)});
    ASSERT_TRUE(r.is_ok());
    rt_ = std::move(*r);
  }
  void TearDown() override {
    rt_.reset();
    if (server_) server_->Shutdown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
  FakeRuntimeService rs_;
  FakeImageService is_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Runtime> rt_;
};

TEST_F(CriGrpcFake, VersionAndSandboxRequestConversion) {
  auto v = rt_->version();
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_EQ(v->runtime_name, "containerd");
  EXPECT_EQ(v->runtime_api_version, "v1");

  SandboxConfig sc;
  sc.name = "web";
  sc.uid = "u1";
  sc.namespace_ = "default";
  sc.attempt = 1;
  sc.hostname = "web";
  sc.log_directory = "/var/log/pods/default_web_u1";
  sc.dns.servers = {"10.96.0.10"};
  sc.dns.searches = {"default.svc.cluster.local"};
  sc.dns.options = {"ndots:5"};
  sc.port_mappings = {{"UDP", 53, 5353, "127.0.0.1"}};
  sc.labels = {{"minik8s.io/pod-uid", "u1"}};
  sc.cgroup_parent = "/minik8s/n1/podu1";
  auto id = rt_->run_pod_sandbox(sc);
  ASSERT_TRUE(id.is_ok());
  EXPECT_EQ(*id, "sb1");
  std::lock_guard lk(rs_.mu);
  const auto& c = rs_.sandbox_req.config();
  EXPECT_EQ(c.metadata().name(), "web");
  EXPECT_EQ(c.metadata().uid(), "u1");
  EXPECT_EQ(c.metadata().namespace_(), "default");
  EXPECT_EQ(c.metadata().attempt(), 1u);
  EXPECT_EQ(c.hostname(), "web");
  EXPECT_EQ(c.log_directory(), "/var/log/pods/default_web_u1");
  EXPECT_EQ(c.dns_config().servers(0), "10.96.0.10");
  EXPECT_EQ(c.dns_config().options(0), "ndots:5");
  ASSERT_EQ(c.port_mappings_size(), 1);
  EXPECT_EQ(c.port_mappings(0).protocol(), v1::UDP);
  EXPECT_EQ(c.port_mappings(0).host_port(), 5353);
  EXPECT_EQ(c.labels().at("minik8s.io/pod-uid"), "u1");
  EXPECT_EQ(c.linux().cgroup_parent(), "/minik8s/n1/podu1");
  EXPECT_EQ(c.linux().security_context().namespace_options().network(), v1::POD);
  EXPECT_EQ(c.linux().security_context().namespace_options().pid(), v1::CONTAINER);
}

TEST_F(CriGrpcFake, CreateContainerConversionClampsOomScoreAdj) {
  SandboxConfig sc;
  sc.name = "p";
  sc.host_network = true;
  ContainerConfig cc;
  cc.name = "main";
  cc.attempt = 3;
  cc.image = "busybox:1.36";
  cc.command = {"sh", "-c"};
  cc.args = {"sleep 1"};
  cc.working_dir = "/w";
  cc.envs = {{"A", "1"}};
  cc.mounts = {{"/data", "/host/data", true}};
  cc.devices = {{"/dev/nvidia0", "/dev/nvidia0", "rwm"}, {"/dev/nvidiactl", "/dev/nvidiactl", "rw"}};
  cc.log_path = "main/3.log";
  cc.resources = {100000, 50000, 512, 64 << 20, -998};
  auto id = rt_->create_container("sb1", cc, sc);
  ASSERT_TRUE(id.is_ok()) << id.status().to_string();
  EXPECT_EQ(*id, "c1");
  std::lock_guard lk(rs_.mu);
  const auto& q = rs_.create_req;
  EXPECT_EQ(q.pod_sandbox_id(), "sb1");
  EXPECT_EQ(q.config().metadata().name(), "main");
  EXPECT_EQ(q.config().metadata().attempt(), 3u);
  EXPECT_EQ(q.config().image().image(), "busybox:1.36");
  ASSERT_EQ(q.config().command_size(), 2);
  EXPECT_EQ(q.config().args(0), "sleep 1");
  EXPECT_EQ(q.config().working_dir(), "/w");
  EXPECT_EQ(q.config().envs(0).key(), "A");
  EXPECT_EQ(q.config().mounts(0).host_path(), "/host/data");
  EXPECT_TRUE(q.config().mounts(0).readonly());
  ASSERT_EQ(q.config().devices_size(), 2);
  EXPECT_EQ(q.config().devices(0).container_path(), "/dev/nvidia0");
  EXPECT_EQ(q.config().devices(0).host_path(), "/dev/nvidia0");
  EXPECT_EQ(q.config().devices(0).permissions(), "rwm");
  EXPECT_EQ(q.config().devices(1).container_path(), "/dev/nvidiactl");
  EXPECT_EQ(q.config().devices(1).permissions(), "rw");
  EXPECT_EQ(q.config().log_path(), "main/3.log");
  const auto& r = q.config().linux().resources();
  EXPECT_EQ(r.cpu_period(), 100000);
  EXPECT_EQ(r.cpu_quota(), 50000);
  EXPECT_EQ(r.cpu_shares(), 512);
  EXPECT_EQ(r.memory_limit_in_bytes(), 64 << 20);
  EXPECT_EQ(r.oom_score_adj(), 0);  // never negative (RECIPES.md)
  EXPECT_EQ(q.config().linux().security_context().namespace_options().network(), v1::NODE);
  EXPECT_EQ(q.sandbox_config().metadata().name(), "p");
}

TEST_F(CriGrpcFake, ErrorMappingKeepsRuntimeMessages) {
  Status s = rt_->start_container("c1");
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(s.message(), "failed to create containerd task: exec: \"nope\": not found");
  EXPECT_EQ(rt_->start_container("exists").code(), Code::kAlreadyExists);
  EXPECT_EQ(rt_->start_container("slow").code(), Code::kTimeout);
  auto st = rt_->container_status("zz");
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.status().code(), Code::kNotFound);
  EXPECT_NE(st.status().message().find("\"zz\""), std::string::npos);
  // Unimplemented on the fake → kInternal.
  EXPECT_EQ(rt_->remove_container("c1").code(), Code::kInternal);
  auto pull = rt_->pull_image("nosuch:1", nullptr);
  ASSERT_FALSE(pull.is_ok());
  EXPECT_NE(pull.status().message().find("failed to pull and unpack image \"nosuch:1\""),
            std::string::npos);
}

TEST_F(CriGrpcFake, ResponsesConvert) {
  auto st = rt_->container_status("c1");
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ(st->container.name, "main");
  EXPECT_EQ(st->container.attempt, 2u);
  EXPECT_EQ(st->container.state, ContainerState::kExited);
  EXPECT_EQ(st->container.image, "busybox:1.36");
  EXPECT_EQ(st->container.image_ref, "sha256:abc");
  EXPECT_EQ(st->container.labels.at("app"), "x");
  EXPECT_EQ(st->exit_code, 137);
  EXPECT_EQ(st->reason, "OOMKilled");
  EXPECT_EQ(st->started_at, 5);
  EXPECT_EQ(st->finished_at, 9);
  EXPECT_EQ(st->log_path, "/logs/main/2.log");

  ContainerFilter f;
  f.sandbox_id = "sb1";
  f.state = ContainerState::kRunning;
  f.label_selector = {{"k", "v"}};
  auto list = rt_->list_containers(f);
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].state, ContainerState::kRunning);
  {
    std::lock_guard lk(rs_.mu);
    EXPECT_EQ(rs_.list_req.filter().pod_sandbox_id(), "sb1");
    EXPECT_EQ(rs_.list_req.filter().state().state(), v1::CONTAINER_RUNNING);
    EXPECT_EQ(rs_.list_req.filter().label_selector().at("k"), "v");
  }

  auto stats = rt_->list_container_stats();
  ASSERT_TRUE(stats.is_ok());
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].sandbox_id, "sb1");  // joined from ListContainers
  EXPECT_EQ((*stats)[0].name, "main");
  EXPECT_EQ((*stats)[0].timestamp, 77);
  EXPECT_EQ((*stats)[0].cpu_usage_core_nanos, 123456u);
  EXPECT_EQ((*stats)[0].memory_working_set_bytes, 4096u);

  auto sb = rt_->pod_sandbox_status("sb1");
  ASSERT_TRUE(sb.is_ok());
  EXPECT_EQ(sb->sandbox.state, SandboxState::kReady);
  EXPECT_EQ(sb->ip, "10.88.0.5");
  ASSERT_EQ(sb->additional_ips.size(), 1u);
  EXPECT_EQ(sb->additional_ips[0], "fd00::5");

  auto ex = rt_->exec_sync("c1", {"hello"}, 5);
  ASSERT_TRUE(ex.is_ok());
  EXPECT_EQ(ex->stdout_, "hello");
  EXPECT_EQ(ex->stderr_, "err");
  EXPECT_EQ(ex->exit_code, 3);

  auto present = rt_->image_status("present:1");
  ASSERT_TRUE(present.is_ok());
  ASSERT_TRUE(present->has_value());
  EXPECT_EQ((*present)->id, "sha256:1");
  EXPECT_EQ((*present)->size, 42u);
  auto absent = rt_->image_status("absent:1");
  ASSERT_TRUE(absent.is_ok());
  EXPECT_FALSE(absent->has_value());
}

}  // namespace
}  // namespace minik8s::cri
