#include "containerd_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

namespace minik8s::images {

namespace {

constexpr char kDefaultDataDir[] = "/var/lib/minik8s";
constexpr char kFlagsHint[] =
    "choose a cluster with --data-dir DIR (the dir given to `minik8s up`), $MINIK8S_DATA_DIR, "
    "or --address SOCKET";

// Tries DIR's sockets; on failure appends "  SOCKET: why" lines to tried.
std::optional<std::string> first_answering(const std::string& dir, const SocketProbe& probe,
                                           std::string& tried) {
  for (const auto& s : data_dir_sockets(dir)) {
    Status st = probe(s);
    if (st) return s;
    tried += "\n  " + s + ": " + st.message();
  }
  return std::nullopt;
}

Result<ResolvedSocket> from_data_dir(const std::string& dir, const std::string& via,
                                     const SocketProbe& probe) {
  std::string tried;
  if (auto s = first_answering(dir, probe, tried)) return ResolvedSocket{*s, via + " " + dir};
  return Status(Code::kUnavailable, "no containerd answers for data dir " + dir + " (" + via +
                                        "); tried:" + tried + "\nis `minik8s up --data-dir " + dir +
                                        "` running? Or pass --address SOCKET");
}

}  // namespace

std::vector<std::string> data_dir_sockets(const std::string& data_dir) {
  std::string dir = data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return {dir + "/agent/containerd/containerd.sock", dir + "/containerd/containerd.sock"};
}

Result<ResolvedSocket> resolve_containerd_socket(const SocketLookup& lookup,
                                                 const SocketProbe& probe) {
  if (!lookup.address.empty()) return ResolvedSocket{lookup.address, "--address"};
  if (!lookup.data_dir.empty()) return from_data_dir(lookup.data_dir, "--data-dir", probe);
  if (!lookup.env_address.empty()) {
    return ResolvedSocket{lookup.env_address, "$CONTAINERD_ADDRESS"};
  }
  if (!lookup.env_data_dir.empty()) {
    return from_data_dir(lookup.env_data_dir, "$MINIK8S_DATA_DIR", probe);
  }
  std::string tried;
  for (const auto& d : lookup.search) {
    if (auto s = first_answering(d.dir, probe, tried)) {
      return ResolvedSocket{*s, "running cluster in " + d.label};
    }
  }
  return Status(Code::kUnavailable, "no running minik8s cluster found; tried:" + tried +
                                        "\nstart one (`make run`, `minik8s up --data-dir DIR`) "
                                        "or " +
                                        kFlagsHint);
}

Status probe_unix_socket(const std::string& socket) {
  const std::string scheme = "unix://";
  const std::string path = socket.rfind(scheme, 0) == 0 ? socket.substr(scheme.size()) : socket;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return not_found(std::strerror(errno));
  if (!S_ISSOCK(st.st_mode)) return invalid("not a socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return invalid("path longer than a unix socket address allows (" +
                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return internal_error(std::string("socket: ") + std::strerror(errno));
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status(Code::kUnavailable, std::strerror(err));
  return Status::ok();
}

SocketLookup socket_lookup_from_environment(std::string address, std::string data_dir) {
  SocketLookup l;
  l.address = std::move(address);
  l.data_dir = std::move(data_dir);
  if (const char* e = std::getenv("CONTAINERD_ADDRESS"); e && *e) l.env_address = e;
  if (const char* e = std::getenv("MINIK8S_DATA_DIR"); e && *e) l.env_data_dir = e;
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (!ec) l.search.push_back({(cwd / ".run").string(), "./.run (make run)"});
  l.search.push_back({kDefaultDataDir, kDefaultDataDir});
  return l;
}

}  // namespace minik8s::images
