// Internal to mk_images: writes a one-layer OCI image archive from a rootfs
// directory (image-spec v1.0 layout: oci-layout, index.json, blobs/sha256/...).
//
// Reproducible: the layer tar is sorted by name with numeric owners and
// mtime 0, gzip omits name and time (-n), JSON is serialized with sorted keys
// and the outer tar is written the same way, so equal inputs give a
// byte-identical archive. Thread-compatible; uses `tar` and `gzip` from PATH.
// Errors: kInternal with the failing command's stderr, kInvalid for a bad spec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::images {

inline constexpr char kImageNameAnnotation[] = "io.containerd.image.name";
inline constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";

struct OciImageSpec {
  std::vector<std::string> refs;  // full references; each gets an index.json entry
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::vector<std::string> exposed_ports;  // "8080/tcp"
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string created_by;  // history entry
  int gzip_level = 6;
  bool root_owned = true;  // record every file as 0:0 (pause, busybox)
};

struct OciArchiveInfo {
  std::string manifest_digest;  // "sha256:..."
  std::string config_digest;
  std::string layer_digest;  // compressed
  std::string diff_id;       // uncompressed
  uint64_t layer_size = 0;
};

// Builds the archive at out_path from rootfs_dir, using work_dir (created if
// needed, left for the caller to remove) for the layout and layer files.
Result<OciArchiveInfo> write_oci_archive(const std::string& rootfs_dir, const OciImageSpec& spec,
                                         const std::string& work_dir, const std::string& out_path);

// Tag part of a reference ("docker.io/library/busybox:1.36" → "1.36"; "latest" when absent).
std::string ref_tag(const std::string& ref);

}  // namespace minik8s::images
