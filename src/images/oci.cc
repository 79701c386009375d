#include "oci.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "process.h"
#include "sha256.h"

namespace minik8s::images {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kManifestType[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kConfigType[] = "application/vnd.oci.image.config.v1+json";
constexpr char kLayerType[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kIndexType[] = "application/vnd.oci.image.index.v1+json";

Status write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return internal_error("write " + path + " failed");
  ::chmod(path.c_str(), 0644);
  return Status::ok();
}

// Stores data as a blob and returns its descriptor fields.
Result<std::pair<std::string, uint64_t>> put_blob(const std::string& blobs,
                                                  const std::string& data) {
  std::string hex = sha256_hex(data);
  if (auto s = write_file(blobs + "/" + hex, data); !s) return s;
  return std::make_pair("sha256:" + hex, static_cast<uint64_t>(data.size()));
}

std::vector<std::string> tar_reproducible_flags(bool root_owned) {
  std::vector<std::string> f = {"--numeric-owner", "--sort=name", "--mtime=@0", "--format=gnu"};
  if (root_owned) {
    f.push_back("--owner=0");
    f.push_back("--group=0");
  }
  return f;
}

}  // namespace

std::string ref_tag(const std::string& ref) {
  auto at = ref.find('@');
  std::string name = at == std::string::npos ? ref : ref.substr(0, at);
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return name.substr(colon + 1);
  }
  return "latest";
}

Result<OciArchiveInfo> write_oci_archive(const std::string& rootfs_dir, const OciImageSpec& spec,
                                         const std::string& work_dir, const std::string& out_path) {
  if (spec.refs.empty()) return invalid("OCI image needs at least one reference");
  std::error_code ec;
  if (!fs::is_directory(rootfs_dir, ec))
    return invalid("rootfs " + rootfs_dir + " is not a directory");
  const std::string layout = work_dir + "/oci";
  const std::string blobs = layout + "/blobs/sha256";
  fs::create_directories(blobs, ec);
  if (ec) return internal_error("mkdir " + blobs + ": " + ec.message());
  for (const auto& d : {layout, layout + "/blobs", blobs}) ::chmod(d.c_str(), 0755);

  // Layer: top-level entries given explicitly (sorted) so member names have no "./".
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(rootfs_dir, ec)) top.push_back(e.path().filename());
  if (ec) return internal_error("list " + rootfs_dir + ": " + ec.message());
  std::sort(top.begin(), top.end());
  const std::string layer_tar = work_dir + "/layer.tar";
  std::vector<std::string> tar_cmd = {"tar", "-C", rootfs_dir, "-cf", layer_tar};
  for (auto& f : tar_reproducible_flags(spec.root_owned)) tar_cmd.push_back(f);
  tar_cmd.push_back("--");
  for (auto& t : top) tar_cmd.push_back(t);
  if (top.empty()) return invalid("rootfs " + rootfs_dir + " is empty");
  if (auto r = run_checked(tar_cmd); !r) return r.status();
  auto diff = sha256_file(layer_tar);
  if (!diff) return diff.status();

  const std::string layer_gz = work_dir + "/layer.tar.gz";
  int level = std::clamp(spec.gzip_level, 1, 9);
  ProcessOptions gz_opts;
  gz_opts.stdout_file = layer_gz;
  if (auto r = run_checked({"gzip", "-n", "-" + std::to_string(level), "-c", layer_tar}, gz_opts);
      !r) {
    return r.status();
  }
  fs::remove(layer_tar, ec);
  auto layer = sha256_file(layer_gz);
  if (!layer) return layer.status();
  fs::rename(layer_gz, blobs + "/" + layer->hex, ec);
  if (ec) return internal_error("rename layer: " + ec.message());
  ::chmod((blobs + "/" + layer->hex).c_str(), 0644);

  OciArchiveInfo info;
  info.diff_id = "sha256:" + diff->hex;
  info.layer_digest = "sha256:" + layer->hex;
  info.layer_size = layer->size;

  json config_section = json::object();
  if (!spec.env.empty()) config_section["Env"] = spec.env;
  if (!spec.entrypoint.empty()) config_section["Entrypoint"] = spec.entrypoint;
  if (!spec.cmd.empty()) config_section["Cmd"] = spec.cmd;
  if (!spec.working_dir.empty()) config_section["WorkingDir"] = spec.working_dir;
  for (const auto& p : spec.exposed_ports) config_section["ExposedPorts"][p] = json::object();
  json config = {
      {"architecture", spec.architecture},
      {"os", spec.os},
      {"created", "1970-01-01T00:00:00Z"},
      {"config", config_section},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {info.diff_id}}}},
      {"history",
       {{{"created", "1970-01-01T00:00:00Z"},
         {"created_by", spec.created_by.empty() ? "minik8s image build" : spec.created_by}}}},
  };
  auto config_blob = put_blob(blobs, config.dump());
  if (!config_blob) return config_blob.status();
  info.config_digest = config_blob->first;

  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kManifestType},
      {"config",
       {{"mediaType", kConfigType}, {"digest", config_blob->first}, {"size", config_blob->second}}},
      {"layers",
       {{{"mediaType", kLayerType}, {"digest", info.layer_digest}, {"size", info.layer_size}}}},
  };
  auto manifest_blob = put_blob(blobs, manifest.dump());
  if (!manifest_blob) return manifest_blob.status();
  info.manifest_digest = manifest_blob->first;

  json manifests = json::array();
  for (const auto& ref : spec.refs) {
    manifests.push_back({
        {"mediaType", kManifestType},
        {"digest", manifest_blob->first},
        {"size", manifest_blob->second},
        {"platform", {{"architecture", spec.architecture}, {"os", spec.os}}},
        {"annotations", {{kImageNameAnnotation, ref}, {kRefNameAnnotation, ref_tag(ref)}}},
    });
  }
  json index = {{"schemaVersion", 2}, {"mediaType", kIndexType}, {"manifests", manifests}};
  if (auto s = write_file(layout + "/index.json", index.dump()); !s) return s;
  if (auto s = write_file(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"); !s)
    return s;

  std::vector<std::string> out_cmd = {"tar", "-C", layout, "-cf", out_path};
  for (auto& f : tar_reproducible_flags(true)) out_cmd.push_back(f);
  for (const char* e : {"--", "blobs", "index.json", "oci-layout"}) out_cmd.push_back(e);
  if (auto r = run_checked(out_cmd); !r) return r.status();
  ::chmod(out_path.c_str(), 0644);
  return info;
}

}  // namespace minik8s::images
