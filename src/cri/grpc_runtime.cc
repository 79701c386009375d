// GrpcRuntime: cri::Runtime over the generated runtime.v1 stubs.
#include "minik8s/cri/grpc_runtime.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <unordered_map>

#include "api.grpc.pb.h"

namespace minik8s::cri {

const char* to_string(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated:
      return "created";
    case ContainerState::kRunning:
      return "running";
    case ContainerState::kExited:
      return "exited";
    case ContainerState::kUnknown:
      return "unknown";
  }
  return "unknown";
}

namespace {

namespace v1 = ::runtime::v1;

Status from_grpc(const grpc::Status& s, const char* rpc) {
  if (s.ok()) return Status::ok();
  std::string msg = s.error_message();
  if (msg.empty()) msg = std::string(rpc) + " failed";
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return {Code::kNotFound, msg};
    case grpc::StatusCode::ALREADY_EXISTS:
      return {Code::kAlreadyExists, msg};
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return {Code::kTimeout, msg};
    case grpc::StatusCode::UNAVAILABLE:
      return {Code::kUnavailable, msg};
    default:
      return {Code::kInternal, msg};
  }
}

v1::Protocol to_proto(const std::string& p) {
  if (p == "UDP") return v1::UDP;
  if (p == "SCTP") return v1::SCTP;
  return v1::TCP;
}

template <typename Map>
void put_map(Map* out, const Labels& in) {
  for (const auto& [k, v] : in) (*out)[k] = v;
}

template <typename Map>
Labels get_map(const Map& in) {
  return Labels(in.begin(), in.end());
}

void to_proto(const SandboxConfig& c, v1::PodSandboxConfig* p) {
  auto* md = p->mutable_metadata();
  md->set_name(c.name);
  md->set_uid(c.uid);
  md->set_namespace_(c.namespace_);
  md->set_attempt(c.attempt);
  p->set_hostname(c.hostname);
  p->set_log_directory(c.log_directory);
  auto* dns = p->mutable_dns_config();
  for (const auto& s : c.dns.servers) dns->add_servers(s);
  for (const auto& s : c.dns.searches) dns->add_searches(s);
  for (const auto& s : c.dns.options) dns->add_options(s);
  for (const auto& pm : c.port_mappings) {
    auto* m = p->add_port_mappings();
    m->set_protocol(to_proto(pm.protocol));
    m->set_container_port(pm.container_port);
    m->set_host_port(pm.host_port);
    m->set_host_ip(pm.host_ip);
  }
  put_map(p->mutable_labels(), c.labels);
  put_map(p->mutable_annotations(), c.annotations);
  auto* linux_cfg = p->mutable_linux();
  linux_cfg->set_cgroup_parent(c.cgroup_parent);
  auto* ns = linux_cfg->mutable_security_context()->mutable_namespace_options();
  ns->set_network(c.host_network ? v1::NODE : v1::POD);
  ns->set_pid(v1::CONTAINER);  // Kubernetes' default: no shared process namespace
  ns->set_ipc(v1::POD);
}

void to_proto(const Resources& r, v1::LinuxContainerResources* p) {
  p->set_cpu_period(r.cpu_period);
  p->set_cpu_quota(r.cpu_quota);
  p->set_cpu_shares(r.cpu_shares);
  p->set_memory_limit_in_bytes(r.memory_limit_bytes);
  // A negative value makes runc fail on these machines (RECIPES.md).
  p->set_oom_score_adj(std::max<int64_t>(0, r.oom_score_adj));
}

ContainerState from_proto(v1::ContainerState s) {
  switch (s) {
    case v1::CONTAINER_CREATED:
      return ContainerState::kCreated;
    case v1::CONTAINER_RUNNING:
      return ContainerState::kRunning;
    case v1::CONTAINER_EXITED:
      return ContainerState::kExited;
    default:
      return ContainerState::kUnknown;
  }
}

v1::ContainerState to_proto(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated:
      return v1::CONTAINER_CREATED;
    case ContainerState::kRunning:
      return v1::CONTAINER_RUNNING;
    case ContainerState::kExited:
      return v1::CONTAINER_EXITED;
    case ContainerState::kUnknown:
      break;
  }
  return v1::CONTAINER_UNKNOWN;
}

Sandbox from_proto(const v1::PodSandbox& p) {
  Sandbox s;
  s.id = p.id();
  s.name = p.metadata().name();
  s.uid = p.metadata().uid();
  s.namespace_ = p.metadata().namespace_();
  s.attempt = p.metadata().attempt();
  s.state = p.state() == v1::SANDBOX_READY ? SandboxState::kReady : SandboxState::kNotReady;
  s.created_at = p.created_at();
  s.labels = get_map(p.labels());
  s.annotations = get_map(p.annotations());
  return s;
}

Container from_proto(const v1::Container& p) {
  Container c;
  c.id = p.id();
  c.sandbox_id = p.pod_sandbox_id();
  c.name = p.metadata().name();
  c.attempt = p.metadata().attempt();
  c.image = p.image().image();
  c.image_ref = p.image_ref();
  c.state = from_proto(p.state());
  c.created_at = p.created_at();
  c.labels = get_map(p.labels());
  c.annotations = get_map(p.annotations());
  return c;
}

Image from_proto(const v1::Image& p) {
  Image i;
  i.id = p.id();
  i.repo_tags.assign(p.repo_tags().begin(), p.repo_tags().end());
  i.repo_digests.assign(p.repo_digests().begin(), p.repo_digests().end());
  i.size = p.size();
  return i;
}

// "unix:///path", "unix:/path" or "/path" → gRPC target "unix:/path".
Result<std::string> grpc_target(const std::string& endpoint) {
  std::string path;
  if (endpoint.rfind("unix://", 0) == 0) {
    path = endpoint.substr(7);
  } else if (endpoint.rfind("unix:", 0) == 0) {
    path = endpoint.substr(5);
  } else if (!endpoint.empty() && endpoint[0] == '/') {
    path = endpoint;
  } else {
    return invalid("CRI endpoint \"" + endpoint +
                   "\": want unix:///path/to/socket or an absolute socket path");
  }
  if (path.empty() || path[0] != '/') {
    return invalid("CRI endpoint \"" + endpoint + "\": the socket path must be absolute");
  }
  if (path.size() >= 108)
    return invalid("CRI endpoint \"" + endpoint + "\": socket path too long for a unix socket");
  return "unix:" + path;
}

class GrpcRuntime final : public Runtime {
  using RuntimeStub = v1::RuntimeService::Stub;
  using ImageStub = v1::ImageService::Stub;

 public:
  GrpcRuntime(const GrpcRuntimeOptions& options, std::shared_ptr<grpc::Channel> channel)
      : options_(options),
        runtime_(v1::RuntimeService::NewStub(channel)),
        images_(v1::ImageService::NewStub(channel)) {}

  Result<VersionInfo> version() override {
    v1::VersionRequest req;
    req.set_version("v1");
    v1::VersionResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::Version, "Version", req, &resp); !s) return s;
    return VersionInfo{resp.runtime_name(), resp.runtime_version(), resp.runtime_api_version()};
  }

  Result<std::string> run_pod_sandbox(const SandboxConfig& config) override {
    v1::RunPodSandboxRequest req;
    to_proto(config, req.mutable_config());
    v1::RunPodSandboxResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::RunPodSandbox, "RunPodSandbox", req, &resp); !s)
      return s;
    return resp.pod_sandbox_id();
  }

  Status stop_pod_sandbox(const std::string& sandbox_id) override {
    v1::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(sandbox_id);
    v1::StopPodSandboxResponse resp;
    return call(*runtime_, &RuntimeStub::StopPodSandbox, "StopPodSandbox", req, &resp);
  }

  Status remove_pod_sandbox(const std::string& sandbox_id) override {
    v1::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(sandbox_id);
    v1::RemovePodSandboxResponse resp;
    return call(*runtime_, &RuntimeStub::RemovePodSandbox, "RemovePodSandbox", req, &resp);
  }

  Result<SandboxStatus> pod_sandbox_status(const std::string& sandbox_id) override {
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(sandbox_id);
    v1::PodSandboxStatusResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::PodSandboxStatus, "PodSandboxStatus", req, &resp);
        !s)
      return s;
    const auto& st = resp.status();
    SandboxStatus out;
    out.sandbox.id = st.id();
    out.sandbox.name = st.metadata().name();
    out.sandbox.uid = st.metadata().uid();
    out.sandbox.namespace_ = st.metadata().namespace_();
    out.sandbox.attempt = st.metadata().attempt();
    out.sandbox.state =
        st.state() == v1::SANDBOX_READY ? SandboxState::kReady : SandboxState::kNotReady;
    out.sandbox.created_at = st.created_at();
    out.sandbox.labels = get_map(st.labels());
    out.sandbox.annotations = get_map(st.annotations());
    out.ip = st.network().ip();
    for (const auto& ip : st.network().additional_ips()) out.additional_ips.push_back(ip.ip());
    return out;
  }

  Result<std::vector<Sandbox>> list_pod_sandboxes(const Labels& label_selector) override {
    v1::ListPodSandboxRequest req;
    if (!label_selector.empty())
      put_map(req.mutable_filter()->mutable_label_selector(), label_selector);
    v1::ListPodSandboxResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::ListPodSandbox, "ListPodSandbox", req, &resp); !s)
      return s;
    std::vector<Sandbox> out;
    out.reserve(resp.items_size());
    for (const auto& p : resp.items()) out.push_back(from_proto(p));
    return out;
  }

  Result<std::string> create_container(const std::string& sandbox_id, const ContainerConfig& config,
                                       const SandboxConfig& sandbox_config) override {
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(sandbox_id);
    auto* c = req.mutable_config();
    c->mutable_metadata()->set_name(config.name);
    c->mutable_metadata()->set_attempt(config.attempt);
    c->mutable_image()->set_image(config.image);
    for (const auto& s : config.command) c->add_command(s);
    for (const auto& s : config.args) c->add_args(s);
    c->set_working_dir(config.working_dir);
    for (const auto& kv : config.envs) {
      auto* e = c->add_envs();
      e->set_key(kv.key);
      e->set_value(kv.value);
    }
    for (const auto& m : config.mounts) {
      auto* pm = c->add_mounts();
      pm->set_container_path(m.container_path);
      pm->set_host_path(m.host_path);
      pm->set_readonly(m.readonly);
    }
    for (const auto& d : config.devices) {
      auto* pd = c->add_devices();
      pd->set_container_path(d.container_path);
      pd->set_host_path(d.host_path);
      pd->set_permissions(d.permissions);
    }
    put_map(c->mutable_labels(), config.labels);
    put_map(c->mutable_annotations(), config.annotations);
    c->set_log_path(config.log_path);
    c->set_stdin(config.stdin_);
    c->set_stdin_once(config.stdin_once);
    c->set_tty(config.tty);
    auto* lc = c->mutable_linux();
    to_proto(config.resources, lc->mutable_resources());
    auto* ns = lc->mutable_security_context()->mutable_namespace_options();
    ns->set_network(sandbox_config.host_network ? v1::NODE : v1::POD);
    ns->set_pid(v1::CONTAINER);
    ns->set_ipc(v1::POD);
    to_proto(sandbox_config, req.mutable_sandbox_config());
    v1::CreateContainerResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::CreateContainer, "CreateContainer", req, &resp); !s)
      return s;
    return resp.container_id();
  }

  Status start_container(const std::string& container_id) override {
    v1::StartContainerRequest req;
    req.set_container_id(container_id);
    v1::StartContainerResponse resp;
    return call(*runtime_, &RuntimeStub::StartContainer, "StartContainer", req, &resp);
  }

  Status stop_container(const std::string& container_id, int64_t timeout_seconds) override {
    v1::StopContainerRequest req;
    req.set_container_id(container_id);
    req.set_timeout(std::max<int64_t>(0, timeout_seconds));
    v1::StopContainerResponse resp;
    auto extra = std::chrono::seconds(std::max<int64_t>(0, timeout_seconds));
    return call(*runtime_, &RuntimeStub::StopContainer, "StopContainer", req, &resp, extra);
  }

  Status remove_container(const std::string& container_id) override {
    v1::RemoveContainerRequest req;
    req.set_container_id(container_id);
    v1::RemoveContainerResponse resp;
    return call(*runtime_, &RuntimeStub::RemoveContainer, "RemoveContainer", req, &resp);
  }

  Result<std::vector<Container>> list_containers(const ContainerFilter& filter) override {
    v1::ListContainersRequest req;
    auto* f = req.mutable_filter();
    if (filter.id) f->set_id(*filter.id);
    if (filter.sandbox_id) f->set_pod_sandbox_id(*filter.sandbox_id);
    if (filter.state) f->mutable_state()->set_state(to_proto(*filter.state));
    put_map(f->mutable_label_selector(), filter.label_selector);
    v1::ListContainersResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::ListContainers, "ListContainers", req, &resp); !s)
      return s;
    std::vector<Container> out;
    out.reserve(resp.containers_size());
    for (const auto& c : resp.containers()) out.push_back(from_proto(c));
    return out;
  }

  Result<ContainerStatus> container_status(const std::string& container_id) override {
    v1::ContainerStatusRequest req;
    req.set_container_id(container_id);
    v1::ContainerStatusResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::ContainerStatus, "ContainerStatus", req, &resp); !s)
      return s;
    const auto& st = resp.status();
    ContainerStatus out;
    out.container.id = st.id();
    out.container.name = st.metadata().name();
    out.container.attempt = st.metadata().attempt();
    out.container.image = st.image().image();
    out.container.image_ref = st.image_ref();
    out.container.state = from_proto(st.state());
    out.container.created_at = st.created_at();
    out.container.labels = get_map(st.labels());
    out.container.annotations = get_map(st.annotations());
    out.started_at = st.started_at();
    out.finished_at = st.finished_at();
    out.exit_code = st.exit_code();
    out.reason = st.reason();
    out.message = st.message();
    out.log_path = st.log_path();
    return out;
  }

  Status update_container_resources(const std::string& container_id,
                                    const Resources& resources) override {
    v1::UpdateContainerResourcesRequest req;
    req.set_container_id(container_id);
    to_proto(resources, req.mutable_linux());
    v1::UpdateContainerResourcesResponse resp;
    return call(*runtime_, &RuntimeStub::UpdateContainerResources, "UpdateContainerResources", req, &resp);
  }

  Result<ExecSyncResult> exec_sync(const std::string& container_id,
                                   const std::vector<std::string>& cmd,
                                   int64_t timeout_seconds) override {
    v1::ExecSyncRequest req;
    req.set_container_id(container_id);
    for (const auto& s : cmd) req.add_cmd(s);
    req.set_timeout(std::max<int64_t>(0, timeout_seconds));
    v1::ExecSyncResponse resp;
    auto extra = std::chrono::seconds(std::max<int64_t>(0, timeout_seconds));
    if (Status s = call(*runtime_, &RuntimeStub::ExecSync, "ExecSync", req, &resp, extra); !s) return s;
    return ExecSyncResult{resp.stdout(), resp.stderr(), resp.exit_code()};
  }

  Result<std::string> exec(const ExecRequest& request) override {
    v1::ExecRequest req;
    req.set_container_id(request.container_id);
    for (const auto& s : request.cmd) req.add_cmd(s);
    req.set_tty(request.tty);
    req.set_stdin(request.stdin_);
    req.set_stdout(request.stdout_);
    // With a TTY, stderr is merged into stdout; CRI rejects asking for both.
    req.set_stderr(request.tty ? false : request.stderr_);
    v1::ExecResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::Exec, "Exec", req, &resp); !s) return s;
    return resp.url();
  }

  Result<std::vector<ContainerStats>> list_container_stats() override {
    v1::ListContainerStatsRequest req;
    v1::ListContainerStatsResponse resp;
    if (Status s = call(*runtime_, &RuntimeStub::ListContainerStats, "ListContainerStats", req, &resp); !s) {
      return s;
    }
    // CRI stats carry no sandbox id; one ListContainers call joins it in.
    std::unordered_map<std::string, std::string> sandbox_of;
    {
      v1::ListContainersRequest lreq;
      v1::ListContainersResponse lresp;
      Ctx ctx(options_.call_timeout);
      if (runtime_->ListContainers(&ctx.c, lreq, &lresp).ok()) {
        for (const auto& c : lresp.containers()) sandbox_of[c.id()] = c.pod_sandbox_id();
      }
    }
    std::vector<ContainerStats> out;
    out.reserve(resp.stats_size());
    for (const auto& st : resp.stats()) {
      ContainerStats c;
      c.id = st.attributes().id();
      if (auto it = sandbox_of.find(c.id); it != sandbox_of.end()) c.sandbox_id = it->second;
      c.name = st.attributes().metadata().name();
      c.labels = get_map(st.attributes().labels());
      c.timestamp = st.cpu().timestamp() ? st.cpu().timestamp() : st.memory().timestamp();
      c.cpu_usage_core_nanos = st.cpu().usage_core_nano_seconds().value();
      c.memory_working_set_bytes = st.memory().working_set_bytes().value();
      out.push_back(std::move(c));
    }
    return out;
  }

  Result<std::vector<Image>> list_images() override {
    v1::ListImagesRequest req;
    v1::ListImagesResponse resp;
    if (Status s = call(*images_, &ImageStub::ListImages, "ListImages", req, &resp); !s) return s;
    std::vector<Image> out;
    out.reserve(resp.images_size());
    for (const auto& i : resp.images()) out.push_back(from_proto(i));
    return out;
  }

  Result<std::optional<Image>> image_status(const std::string& image) override {
    v1::ImageStatusRequest req;
    req.mutable_image()->set_image(image);
    v1::ImageStatusResponse resp;
    if (Status s = call(*images_, &ImageStub::ImageStatus, "ImageStatus", req, &resp); !s) return s;
    if (!resp.has_image() || resp.image().id().empty()) return std::optional<Image>{};
    return std::optional<Image>{from_proto(resp.image())};
  }

  Result<std::string> pull_image(const std::string& image,
                                 const SandboxConfig* sandbox_config) override {
    v1::PullImageRequest req;
    req.mutable_image()->set_image(image);
    if (sandbox_config) to_proto(*sandbox_config, req.mutable_sandbox_config());
    v1::PullImageResponse resp;
    if (Status s = call(*images_, &ImageStub::PullImage, "PullImage", req, &resp); !s) return s;
    return resp.image_ref();
  }

  Status remove_image(const std::string& image) override {
    v1::RemoveImageRequest req;
    req.mutable_image()->set_image(image);
    v1::RemoveImageResponse resp;
    return call(*images_, &ImageStub::RemoveImage, "RemoveImage", req, &resp);
  }

 private:
  // One unary call with this runtime's deadline (call_timeout + extra); the
  // gRPC status as a Status naming the method.
  template <class Stub, class Req, class Resp>
  Status call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const char* name,
              const Req& req, Resp* resp, std::chrono::milliseconds extra = std::chrono::milliseconds(0)) {
    Ctx ctx(options_.call_timeout + extra);
    return from_grpc((stub.*method)(&ctx.c, req, resp), name);
  }

  // A ClientContext with this call's deadline.
  struct Ctx {
    explicit Ctx(std::chrono::milliseconds timeout) {
      c.set_deadline(std::chrono::system_clock::now() + timeout);
    }
    grpc::ClientContext c;
  };

  const GrpcRuntimeOptions options_;
  // Stubs are thread-safe; the channel multiplexes concurrent calls.
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
};

}  // namespace

Result<std::unique_ptr<Runtime>> make_grpc_runtime(const GrpcRuntimeOptions& options) {
  auto target = grpc_target(options.endpoint);
  if (!target) return target.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  // containerd restarts (supervisor, agent restarts) must not leave the
  // channel in gRPC's default multi-second reconnect back-off.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // The socket path stands for the authority (no DNS name applies).
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
  auto channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  if (!channel) return internal_error("cannot create a gRPC channel to " + options.endpoint);
  return std::unique_ptr<Runtime>(std::make_unique<GrpcRuntime>(options, std::move(channel)));
}

}  // namespace minik8s::cri
