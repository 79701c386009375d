// minik8s-submitter: follows one GPUJob through Slurm (docs/gpu.md "The
// submitter"). The GPUJob controller runs it as the command of the job's
// submitter Pod with MINIK8S_SERVER, GPUJOB_NAMESPACE and GPUJOB_NAME; the
// flags override them (tests, running it by hand on a login node). It
// authenticates with the pod's projected ServiceAccount token
// ($MINIK8S_TOKEN_FILE, default /var/run/secrets/kubernetes.io/serviceaccount/token,
// when it exists), re-read when the kubelet rotates it.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/gpu/submitter.h"
#include "minik8s/util/signals.h"

namespace {

const char* kUsage =
    "usage: minik8s-submitter [--server URL] [--namespace NS] [--name NAME]\n"
    "                         [--run-dir DIR] [--slurm-bin-dir DIR] [--no-munge] [--poll-ms N]\n"
    "  defaults: $MINIK8S_SERVER, $GPUJOB_NAMESPACE (default \"default\"), $GPUJOB_NAME,\n"
    "  run dir /run/minik8s (munge key, socket, slurm.conf).\n";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

constexpr const char* kTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";

// A RestClient that sends the token in a file as its bearer token, and
// makes a fresh client when the file changes (the kubelet rewrites a
// projected token before it expires). Thread-safe: the EventRecorder's
// thread shares it.
class TokenFileRestClient : public minik8s::client::RestClient {
 public:
  TokenFileRestClient(minik8s::client::HttpRestClientOptions base, std::string token_file)
      : base_(std::move(base)), file_(std::move(token_file)) {}

  minik8s::Status init() {
    auto c = current();
    return c ? minik8s::Status::ok() : c.status();
  }
  minik8s::Result<minik8s::client::HttpResponse> request(const std::string& method,
                                                         const std::string& path,
                                                         const std::string& body,
                                                         const std::string& content_type,
                                                         const std::string& accept) override {
    auto c = current();
    if (!c) return c.status();
    return (*c)->request(method, path, body, content_type, accept);
  }
  minik8s::Result<std::unique_ptr<minik8s::client::LineStream>> watch(
      const std::string& path, const std::string& accept) override {
    auto c = current();
    if (!c) return c.status();
    return (*c)->watch(path, accept);
  }

 private:
  minik8s::Result<std::shared_ptr<minik8s::client::RestClient>> current() {
    struct stat st {};
    std::lock_guard lock(mu_);
    if (::stat(file_.c_str(), &st) == 0 &&
        (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec || !client_)) {
      std::ifstream in(file_);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string token = ss.str();
      while (!token.empty() &&
             (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
        token.pop_back();
      if (!token.empty()) {
        auto o = base_;
        o.bearer_token = token;
        auto r = minik8s::client::make_http_rest_client(o);
        if (!r) return r.status();
        client_ = std::move(*r);
        mtime_ = st.st_mtim;
      }
    }
    if (!client_) return minik8s::Status(minik8s::Code::kUnauthorized, "no token in " + file_);
    return client_;
  }

  const minik8s::client::HttpRestClientOptions base_;
  const std::string file_;
  std::mutex mu_;  // guards client_ and mtime_
  std::shared_ptr<minik8s::client::RestClient> client_;
  timespec mtime_{};
};

}  // namespace

int main(int argc, char** argv) {
  std::string server = env_or("MINIK8S_SERVER", "");
  minik8s::gpu::SubmitterOptions opts;
  opts.ns = env_or("GPUJOB_NAMESPACE", "default");
  opts.name = env_or("GPUJOB_NAME", "");
  std::string bin_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "minik8s-submitter: %s needs a value\n%s", flag, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--server")
      server = value("--server");
    else if (a == "--namespace")
      opts.ns = value("--namespace");
    else if (a == "--name")
      opts.name = value("--name");
    else if (a == "--run-dir")
      opts.run_dir = value("--run-dir");
    else if (a == "--slurm-bin-dir")
      bin_dir = value("--slurm-bin-dir");
    else if (a == "--no-munge")
      opts.start_munge = false;
    else if (a == "--poll-ms")
      opts.poll_interval = std::chrono::milliseconds(std::atol(value("--poll-ms")));
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "minik8s-submitter: unknown argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (server.empty() || opts.name.empty()) {
    std::fprintf(stderr,
                 "minik8s-submitter: the API server (MINIK8S_SERVER) and the job (GPUJOB_NAME) are "
                 "required\n%s",
                 kUsage);
    return 2;
  }
  sigset_t stop = minik8s::block_stop_signals();
  opts.wait = [&stop](std::chrono::milliseconds d) {
    return minik8s::wait_for_signal(stop, d) != 0;
  };
  opts.out = &std::cout;
  minik8s::client::HttpRestClientOptions ro;
  ro.server = server;
  if (const char* ca = std::getenv("MINIK8S_SERVER_CA")) ro.tls.ca_pem = ca;  // https: the cluster CA
  std::unique_ptr<minik8s::client::RestClient> rest;
  const std::string token_file = env_or("MINIK8S_TOKEN_FILE", kTokenFile);
  struct stat token_st {};
  if (::stat(token_file.c_str(), &token_st) == 0) {
    auto t = std::make_unique<TokenFileRestClient>(ro, token_file);
    if (minik8s::Status st = t->init(); !st.is_ok()) {
      std::fprintf(stderr, "minik8s-submitter: %s\n", st.message().c_str());
      return 1;
    }
    rest = std::move(t);
  } else {
    auto r = minik8s::client::make_http_rest_client(ro);  // no token: tests, plain-HTTP servers
    if (!r) {
      std::fprintf(stderr, "minik8s-submitter: %s\n", r.status().message().c_str());
      return 1;
    }
    rest = std::move(*r);
  }
  minik8s::client::Client client(*rest);
  auto runner = minik8s::gpu::make_exec_runner(bin_dir);
  minik8s::gpu::Submitter submitter(client, *runner, opts);
  minik8s::Status st = submitter.run();
  if (!st.is_ok()) {
    std::fprintf(stderr, "minik8s-submitter: %s/%s: %s\n", opts.ns.c_str(), opts.name.c_str(),
                 st.message().c_str());
    return 1;
  }
  return 0;
}
