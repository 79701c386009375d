// `minik8s up` (server + agent as children of one supervisor process) and
// `minik8s down` (remove everything up or an agent created under a data dir).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent_state.h"
#include "node_services.h"
#include "minik8s/api/resource.h"
#include "minik8s/auth/credentials.h"
#include "minik8s/client/client.h"
#include "minik8s/client/kubeconfig.h"
#include "minik8s/cri/containerd.h"
#include "minik8s/cri/grpc_runtime.h"
#include "minik8s/images/images.h"
#include "minik8s/kubelet/parts.h"
#include "minik8s/util/file.h"
#include "minik8s/util/signals.h"
#include "node.h"

namespace minik8s::agent {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// fork + exec /proc/self/exe with args; the child gets the default signal mask.
pid_t spawn_self(const std::vector<std::string>& args) {
  std::error_code ec;
  std::string exe = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return -1;
  std::vector<char*> argv;
  argv.push_back(exe.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string read_file(const fs::path& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The exit of a child, if it exited (reaped).
std::optional<int> exited(pid_t pid) {
  int st = 0;
  if (waitpid(pid, &st, WNOHANG) != pid) return std::nullopt;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool node_ready(client::Client& c, const std::string& node) {
  auto n = c.get(*api::find_kind("v1", "Node"), "", node);
  if (!n) return false;
  // The Node comes from the server: read it defensively (a wrong-typed field is "not ready").
  try {
    auto conds = n->at("status").at("conditions");
    for (const auto& cond : conds) {
      if (cond.is_object() && cond.value("type", "") == "Ready") return cond.value("status", "") == "True";
    }
  } catch (const nlohmann::json::exception&) {
  }
  return false;
}

}  // namespace

int run_up(int argc, char** argv) {
  CLI::App app{"minik8s up: server + agent + private containerd on this host", "up"};
  std::string data_dir, listen = "127.0.0.1:6443", node_name, kubelet_listen = "127.0.0.1:10250", node_ip,
                        image_cache, gateway_listen;
  std::string log_level = "info";
  std::string scheduler_policy = "least-allocated";
  std::string gpus;
  app.add_option("--data-dir", data_dir, "state directory (server/, agent/, images/, kubeconfig)")
      ->required();
  app.add_option("--listen", listen, "API server HOST:PORT");
  std::string advertise_address;
  app.add_option(
      "--advertise-address", advertise_address,
      "address pods reach the API server at (the kubernetes Service's endpoint; the server listens "
      "there too, same port). Default: the default route's address when --listen is loopback; "
      "none: pods cannot reach the API server");
  app.add_option("--node-name", node_name, "node name (default: hostname)");
  app.add_option("--gateway-listen", gateway_listen,
                 "function gateway HOST:PORT (default: --listen's host, port 31080)");
  app.add_option("--kubelet-listen", kubelet_listen, "kubelet HTTP server HOST:PORT");
  app.add_option("--scheduler-policy", scheduler_policy, "least-allocated | round-robin | random");
  app.add_option("--node-ip", node_ip, "node InternalIP (default: the kubelet listen address, when it names one)");
  app.add_option("--image-cache", image_cache,
                 "directory for built offline images (default DIR/images)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_option("--gpus", gpus, "the agent's --gpus: auto (default), 0 or N");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", data_dir.c_str(), ec.message().c_str());
    return 1;
  }
  const fs::path dir = fs::canonical(data_dir);
  if (node_name.empty()) {
    NodeConfig c;
    fill_defaults(c);
    node_name = c.node_name;
  }
  if (image_cache.empty()) image_cache = (dir / "images").string();

  const sigset_t sigs = block_stop_signals({SIGCHLD});
  (void)write_file_atomically((dir / "up.pid").string(), std::to_string(getpid()) + "\n");

  pid_t server = 0, agent = 0;
  int rc = 0;
  auto shutdown = [&](int code) {
    if (agent > 0) terminate_process(agent, 20s);
    if (server > 0) terminate_process(server, 20s);
    std::error_code e;
    fs::remove(dir / "up.pid", e);
    return code;
  };
  // A child that exited: report and stop the other.
  auto check_children = [&]() -> std::optional<int> {
    for (auto [pid, name] : {std::pair{&server, "server"}, std::pair{&agent, "agent"}}) {
      if (*pid <= 0) continue;
      if (auto code = exited(*pid)) {
        spdlog::error("minik8s up: the {} (pid {}) exited with {}; stopping", name, *pid, *code);
        *pid = 0;
        return shutdown(1);
      }
    }
    return std::nullopt;
  };

  fs::remove(dir / "server" / "kubeconfig", ec);  // a stale one would look ready
  if (gateway_listen.empty()) {
    const std::string host = listen.substr(0, listen.rfind(':'));
    gateway_listen = host + (listen.substr(listen.rfind(':') + 1) == "0" ? ":0" : ":31080");
  }
  // In-cluster clients (kubernetes.default.svc) need the API server at an
  // address pods reach: a loopback --listen is not one, so the server also
  // listens on the host's default-route address and publishes it as the
  // kubernetes Service's endpoint (Kubernetes' advertise address).
  const std::string listen_host = listen.substr(0, listen.rfind(':'));
  if (advertise_address.empty() && (listen_host == "127.0.0.1" || listen_host == "localhost")) {
    advertise_address = default_node_ip();  // 127.0.0.1 when there is no default route
    if (advertise_address == "127.0.0.1") {
      spdlog::warn(
          "minik8s up: no default route: pods will not reach the API server (--advertise-address)");
      advertise_address = "none";
    }
  }
  std::vector<std::string> server_args = {
      "server", "--data-dir", (dir / "server").string(), "--listen", listen, "--scheduler-policy",
      scheduler_policy, "--log-level", log_level,
      // its agent's kubelet may listen on loopback (the default)
      "--local-node", node_name, "--gateway-listen", gateway_listen};
  if (!advertise_address.empty() && advertise_address != "none") {
    server_args.push_back("--advertise-address");
    server_args.push_back(advertise_address);
  }
  server = spawn_self(server_args);
  if (server < 0) return shutdown(1);
  spdlog::info("minik8s up: server started (pid {})", server);

  // The API server: its kubeconfig appears once it serves; then /readyz.
  std::string url;
  std::unique_ptr<client::RestClient> rest;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;;) {
    if (auto r = check_children()) return *r;
    if (int s = wait_for_signal(sigs, 50ms); s == SIGTERM || s == SIGINT) return shutdown(0);
    if (std::chrono::steady_clock::now() > deadline) {
      spdlog::error("minik8s up: the server was not ready within 60 s");
      return shutdown(1);
    }
    if (url.empty()) {
      auto kc = client::load_kubeconfig((dir / "server" / "kubeconfig").string());
      if (!kc || kc->server.empty()) continue;
      url = kc->server;
      client::HttpRestClientOptions ro = client::rest_options(*kc);
      ro.timeout = 5s;
      auto r = client::make_http_rest_client(ro);
      if (!r) {
        spdlog::error("minik8s up: {}", r.status().to_string());
        return shutdown(1);
      }
      rest = std::move(*r);
    }
    auto ready = rest->request("GET", "/readyz", "", "application/json", "");
    if (ready && ready->status == 200) break;
  }
  if (Status st = write_file_atomically((dir / "kubeconfig").string(),
                                        read_file(dir / "server" / "kubeconfig"));
      !st) {
    spdlog::error("minik8s up: {}", st.message());
    return shutdown(1);
  }

  // The agent's own credential (docs/auth.md "Node credentials"): a client
  // certificate CN system:node:<node>, O system:nodes from the server's CA,
  // so the Node authorizer and RBAC govern it, not the admin's rights. A
  // plain-HTTP server (no CA) has no authentication: the admin kubeconfig.
  fs::path agent_kubeconfig = dir / "kubeconfig";
  if (url.rfind("https://", 0) == 0) {
    auto ca = auth::CertificateAuthority::load((dir / "server" / "pki" / "ca.crt").string(),
                                               (dir / "server" / "pki" / "ca.key").string());
    auto cred =
        ca ? auth::issue_node_credential(*ca, node_name) : Result<auth::KeyPair>(ca.status());
    if (!cred) {
      spdlog::error("minik8s up: the node credential for {}: {}", node_name,
                    cred.status().message());
      return shutdown(1);
    }
    agent_kubeconfig = dir / "agent" / "kubelet.conf";
    fs::create_directories(dir / "agent", ec);
    mode_t old_mask = ::umask(077);  // the key: owner only
    Status st = write_file_atomically(
        agent_kubeconfig.string(),
        auth::client_kubeconfig(url, ca->cert_pem(), *cred, "", "system:node:" + node_name));
    ::umask(old_mask);
    if (!st) {
      spdlog::error("minik8s up: {}", st.message());
      return shutdown(1);
    }
  }

  // The kubelet must be reachable at the node's InternalIP: when it listens
  // on one address (127.0.0.1 by default), that address is the node IP.
  // clang-format off
  std::vector<std::string> agent_args = {"agent", "--server", url, "--kubeconfig", agent_kubeconfig.string(),
                                         "--data-dir", (dir / "agent").string(),
                                         "--node-name", node_name, "--role", "control-plane", "--role", "worker",
                                         "--listen", kubelet_listen, "--image-cache", image_cache,
                                         "--log-level", log_level};
  // clang-format on
  if (node_ip.empty()) {
    auto host = kubelet_listen.substr(0, kubelet_listen.rfind(':'));
    if (!host.empty() && host != "0.0.0.0") node_ip = host;
  }
  if (!node_ip.empty()) {
    agent_args.push_back("--node-ip");
    agent_args.push_back(node_ip);
  }
  if (!gpus.empty()) {
    agent_args.push_back("--gpus");
    agent_args.push_back(gpus);
  }
  agent = spawn_self(agent_args);
  if (agent < 0) return shutdown(1);
  spdlog::info("minik8s up: agent started (pid {})", agent);

  client::Client client(*rest);
  bool ready = false;
  auto started = std::chrono::steady_clock::now();
  for (;;) {
    if (auto r = check_children()) return *r;
    int s = wait_for_signal(sigs, ready ? 1000ms : 100ms);
    if (s == SIGTERM || s == SIGINT) {
      spdlog::info("minik8s up: signal {}: stopping server and agent (pods keep running)", s);
      rc = shutdown(0);
      break;
    }
    if (!ready && node_ready(client, node_name)) {
      ready = true;
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::printf("minik8s up: ready — export KUBECONFIG=%s (node %s Ready after %.1f s)\n",
                  (dir / "kubeconfig").c_str(), node_name.c_str(), secs);
      std::printf("minik8s up: functions are invoked at http://%s/functions/<namespace>/<name>\n",
                  gateway_listen.c_str());
      std::fflush(stdout);
    }
  }
  return rc;
}

// ------------------------------------------------------------------ down

namespace {

// Removes what one agent data dir holds in the runtime, cgroups and CNI.
void clean_agent_dir(const fs::path& agent_dir, std::vector<std::string>& problems) {
  auto state = read_agent_state(agent_dir.string());
  AgentState st;
  if (state) {
    st = *state;
  } else {
    st.managed = fs::exists(agent_dir / "containerd");
  }
  if (st.pid > 0 && is_minik8s_process(st.pid)) {
    std::printf("stopping agent (pid %d)\n", st.pid);
    terminate_process(st.pid, 20s);
  }
  std::unique_ptr<cri::ManagedContainerd> containerd;
  std::string endpoint = st.endpoint;
  if (st.managed && fs::exists(agent_dir / "containerd")) {
    cri::ContainerdOptions co;
    co.data_dir = agent_dir.string();
    co.sandbox_image = images::image_ref("pause");
    co.netns = st.netns;
    co.ready_timeout = 10s;
    containerd = std::make_unique<cri::ManagedContainerd>(co);
    if (Status s = containerd->start(); !s) {
      problems.push_back("starting containerd to remove pods: " + s.to_string());
      containerd.reset();
      endpoint.clear();
    } else {
      endpoint = "unix://" + containerd->socket_path();
    }
  }
  if (!endpoint.empty()) {
    cri::GrpcRuntimeOptions go;
    go.endpoint = endpoint;
    go.call_timeout = 30s;
    auto rt = cri::make_grpc_runtime(go);
    if (rt) {
      // A shared runtime: only this node's pods; our own containerd: everything.
      cri::Labels sel;
      if (!containerd && !st.node_name.empty()) sel["minik8s.io/node"] = st.node_name;
      auto sandboxes = (*rt)->list_pod_sandboxes(sel);
      if (sandboxes) {
        for (const auto& sb : *sandboxes) {
          auto containers =
              (*rt)->list_containers(cri::ContainerFilter{std::nullopt, sb.id, std::nullopt, {}});
          if (containers) {
            for (const auto& c : *containers) {
              (void)(*rt)->stop_container(c.id, 0);
              (void)(*rt)->remove_container(c.id);
            }
          }
          if (Status s = (*rt)->stop_pod_sandbox(sb.id); !s)
            problems.push_back("stop sandbox " + sb.id + ": " + s.message());
          if (Status s = (*rt)->remove_pod_sandbox(sb.id); !s)
            problems.push_back("remove sandbox " + sb.id + ": " + s.message());
        }
        std::printf("removed %zu pod sandbox(es) of %s\n", sandboxes->size(),
                    st.node_name.empty() ? agent_dir.c_str() : st.node_name.c_str());
      } else {
        problems.push_back("listing sandboxes: " + sandboxes.status().message());
      }
    }
  }
  // Routes, VXLAN device, bridge, iptables chains, nginx, hosts block.
  if (state) teardown_node_services(st, problems);
  // Pod cgroups, then the node's own cgroup directory in each hierarchy.
  if (!st.cgroup_root.empty() && st.cgroup_root != "/" &&
      st.cgroup_root.find("..") == std::string::npos) {
    kubelet::PodCgroups cg("/sys/fs/cgroup", st.cgroup_root);
    for (const auto& uid : cg.list()) {
      if (Status s = cg.remove(uid); !s)
        problems.push_back("cgroup of pod " + uid + ": " + s.message());
    }
    std::error_code ec;
    for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      fs::path node_cg = h.path() / st.cgroup_root.substr(1);
      if (fs::is_directory(node_cg)) ::rmdir(node_cg.c_str());
      ::rmdir(node_cg.parent_path().c_str());  // "/minik8s" when no other node uses it
    }
  }
  // containerd itself (by its PID), then the CNI bridge(s) its config named.
  if (containerd) {
    containerd->stop();
    containerd.reset();
    const fs::path conf_dir = agent_dir / "containerd" / "cni" / "net.d";
    for (const auto& br : cni_bridges(conf_dir.string())) {
      if (!fs::exists("/sys/class/net/" + br)) continue;
      std::string cmd = "ip link del " + br;
      if (br.find_first_not_of(
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
              std::string::npos ||
          std::system(cmd.c_str()) != 0) {
        problems.push_back("could not delete bridge " + br);
      } else {
        std::printf("deleted bridge %s\n", br.c_str());
      }
    }
    for (const auto& net : cni_networks(conf_dir.string())) {
      // host-local's default state dir; only networks named for minik8s are ours to drop.
      if (net.rfind("minik8s", 0) == 0 && net.find('/') == std::string::npos) {
        std::error_code ec;
        fs::remove_all(fs::path("/var/lib/cni/networks") / net, ec);
      }
    }
  }
}

}  // namespace

int run_down(int argc, char** argv) {
  CLI::App app{
      "minik8s down: remove everything `minik8s up` (or an agent) created under a data dir",
      "down"};
  std::string data_dir;
  app.add_option("--data-dir", data_dir, "the data dir given to up / agent")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::error_code ec;
  if (!fs::exists(data_dir, ec)) {
    std::printf("nothing to remove: %s does not exist\n", data_dir.c_str());
    return 0;
  }
  const fs::path dir = fs::canonical(data_dir, ec);
  if (ec || dir == "/" || dir.empty()) {
    std::fprintf(stderr, "error: refusing to remove %s\n", data_dir.c_str());
    return 2;
  }
  std::vector<std::string> problems;
  // 1. A running `up` (its children stop with it).
  if (fs::exists(dir / "up.pid")) {
    pid_t pid = 0;
    std::ifstream(dir / "up.pid") >> pid;
    if (pid > 0 && is_minik8s_process(pid)) {
      std::printf("stopping minik8s up (pid %d)\n", pid);
      terminate_process(pid, 30s);
    }
  }
  // 2. Each agent dir: DIR itself (down --data-dir AGENT_DIR) and DIR/agent (an up dir).
  for (const fs::path& a : {dir, dir / "agent"}) {
    if (fs::exists(a / "agent.json") || fs::exists(a / "containerd")) clean_agent_dir(a, problems);
  }
  // 3. Mounts under DIR (pod tmpfs volumes, subPath bind mounts, overlay
  // rootfs, netns files), deepest first; stacked mounts need another pass.
  for (int pass = 0; pass < 8 && !mounts_under(dir.string()).empty(); ++pass) {
    for (const auto& m : mounts_under(dir.string())) {
      if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        problems.push_back("umount " + m + ": " + std::strerror(errno));
      }
    }
  }
  // 4. The data — never while a mount is left: remove_all would go through a
  // subPath bind mount into the host directory it binds.
  if (auto left = mounts_under(dir.string()); !left.empty()) {
    problems.push_back("still mounted, not removing " + dir.string() + ": " + left.front());
  } else {
    fs::remove_all(dir, ec);
    if (ec) problems.push_back("removing " + dir.string() + ": " + ec.message());
  }
  for (const auto& p : problems) std::fprintf(stderr, "warning: %s\n", p.c_str());
  if (fs::exists(dir)) {
    std::fprintf(stderr, "error: %s could not be removed completely\n", dir.c_str());
    return 1;
  }
  std::printf("minik8s down: removed %s\n", dir.c_str());
  return 0;
}

}  // namespace minik8s::agent
