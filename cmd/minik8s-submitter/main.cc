// minik8s-submitter: follows one GPUJob through Slurm (docs/gpu.md "The
// submitter"). The GPUJob controller runs it as the command of the job's
// submitter Pod with MINIK8S_SERVER, GPUJOB_NAMESPACE and GPUJOB_NAME; the
// flags override them (tests, running it by hand on a login node).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
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
  auto rest = minik8s::client::make_http_rest_client(ro);
  if (!rest) {
    std::fprintf(stderr, "minik8s-submitter: %s\n", rest.status().message().c_str());
    return 1;
  }
  minik8s::client::Client client(**rest);
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
