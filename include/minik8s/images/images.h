// Offline images: build OCI archives from local sources and import archives
// into a node's containerd (no registry is reachable on these machines).
//
//   pause   → minik8s.io/pause:1.0    static C program (images/pause.c)
//   busybox → docker.io/library/busybox:1.36 and docker.io/library/busybox:latest (busybox-static)
//   python  → docker.io/library/python:3.11 Debian minbase + python3 via mmdebstrap
//   python-runtime → minik8s.io/python-runtime:1 python + the function runtime
//             server (runtimes/python/server.py, embedded at build time)
//   python-ml-runtime → minik8s.io/python-ml-runtime:1 the same server on Debian
//             minbase + python3-numpy, python3-pil, python3-sklearn,
//             tesseract-ocr(-eng), fonts-dejavu-core (Function runtime python3-ml)
//   slurm-submitter → minik8s.io/slurm-submitter:1 Debian minbase + slurm-client,
//             munge, unzip and the host's minik8s-submitter (next to the
//             running binary, or $MINIK8S_SUBMITTER) with its shared libraries
//             (GPUJob submitter pods, docs/gpu.md)
//
// Archives are written to <cache_dir>/<name>.tar, reproducible (sorted,
// numeric owners, mtime 0) and cached: a rebuild whose inputs did not change
// returns at once. Import goes through `ctr --address SOCK -n k8s.io images
// import` (containerd's own tool, installed with it).
// Thread safety: functions are independent; concurrent builds of the same
// image into the same cache_dir are serialized with a lock file.
#pragma once

#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::images {

struct BuiltImage {
  // short name: pause | busybox | python | python-runtime | python-ml-runtime | slurm-submitter
  std::string name;
  std::string ref;       // image reference it is imported as
  std::string archive;   // path of the OCI archive
  bool cached = false;   // true when nothing had to be rebuilt
};

// Names build_image accepts.
std::vector<std::string> known_images();
// The reference an image name is imported as (e.g. "pause" → "minik8s.io/pause:1.0").
std::string image_ref(const std::string& name);
Result<BuiltImage> build_image(const std::string& name, const std::string& cache_dir);
// Imports an OCI or Docker archive into the containerd at socket (namespace k8s.io).
Status import_archive(const std::string& archive, const std::string& containerd_socket);
// "REF\tSIZE" lines of the images in that containerd.
Result<std::vector<std::string>> list_images(const std::string& containerd_socket);

// `minik8s image build|import|ls ...` (argv[0] = "image").
int run_image_command(int argc, char** argv);

}  // namespace minik8s::images
