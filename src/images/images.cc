#include "minik8s/images/images.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include "containerd_socket.h"
#include "oci.h"
#include "process.h"
#include "sha256.h"

namespace minik8s::images {

extern const char kPauseSource[];
extern const char kPythonRuntimeSource[];

namespace {

namespace fs = std::filesystem;

// Bump when a recipe changes in a way its inputs do not capture.
constexpr char kRecipeVersion[] = "minik8s-images-v1";
constexpr char kBusyboxBinary[] = "/bin/busybox";
constexpr char kPythonSuite[] = "bookworm";
const std::vector<std::string> kPythonPackages = {"python3"};

// What mmdebstrap makes a Debian rootfs of.
struct DebianRootfs {
  std::vector<std::string> packages;
  // Removed after installation with dpkg --purge --force-depends: packages a
  // dependency pulls in that nothing needs at run time.
  std::vector<std::string> purge;
};
const DebianRootfs kPythonRootfs = {kPythonPackages, {}};

// python-ml-runtime: models and data all come from these packages (tesseract's
// English LSTM model, scikit-learn's bundled digits); nothing is fetched at run
// time. Debian's python3-scipy depends on python3-pythran, which pulls in g++,
// the Boost and Python headers and openblas-dev (~500 MB, for compiling
// Pythran code, which scipy does not do at run time): purged again. The
// packages' test suites go too (kPythonMlDroppedDirs; 54 MB; a dpkg
// path-exclude would break py3compile in their postinst).
const DebianRootfs kPythonMlRootfs = {
    {"python3", "python3-numpy", "python3-pil", "python3-sklearn", "tesseract-ocr",
     "tesseract-ocr-eng", "fonts-dejavu-core"},
    {"python3-pythran", "python3-gast", "python3-beniget", "python3-ply", "libxsimd-dev",
     "python3-all", "python3-all-dev", "python3-dev", "python3.11-dev", "libpython3-all-dev",
     "libpython3-dev", "libpython3.11-dev", "libexpat1-dev", "zlib1g-dev", "libboost-dev",
     "libboost1.74-dev", "libopenblas-dev", "libopenblas-pthread-dev", "g++", "g++-12", "gcc",
     "gcc-12", "cpp", "cpp-12", "libstdc++-12-dev", "libgcc-12-dev", "libc6-dev", "libc-dev-bin",
     "linux-libc-dev", "libcrypt-dev", "libnsl-dev", "libtirpc-dev", "rpcsvc-proto", "binutils",
     "binutils-x86-64-linux-gnu", "binutils-common", "libbinutils", "libctf0", "libctf-nobfd0",
     "libgprofng0", "libasan8", "libtsan2", "libubsan1", "liblsan0", "libitm1", "libcc1-0",
     "libisl23", "libmpc3", "libmpfr6", "perl", "perl-modules-5.36", "libperl5.36",
     "libgdbm-compat4", "libjs-jquery", "libjs-underscore", "libjs-sphinxdoc"}};
// python-kubernetes: Debian's Kubernetes client (what scripts/deps.sh installs
// on the host) for in-cluster clients (docs/auth.md "In-cluster clients").
// Its own image: python3-kubernetes and its dependencies add 58 MB unpacked
// (13 MB gzipped, +25 s of mmdebstrap) to the python rootfs, which
// python-runtime shares and every node imports at start.
const DebianRootfs kPythonKubernetesRootfs = {{"python3", "python3-kubernetes"}, {}};
const std::vector<std::string> kPythonDpkgExcludes = {"/usr/share/doc/*",     "/usr/share/man/*",
                                                      "/usr/share/info/*",    "/usr/share/locale/*",
                                                      "/usr/share/lintian/*", "/usr/share/linda/*"};
// Default cache of `image build` without --data-dir: `minik8s up` with data
// dir /var/lib/minik8s builds into <data dir>/images. Which containerd the
// subcommands talk to is containerd_socket.h's business.
constexpr char kDefaultImageCacheDir[] = "/var/lib/minik8s/images";
constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Recipe {
  std::string name;
  std::vector<std::string> refs;
  // Everything the output depends on, hashed into the cache key.
  std::function<Result<std::string>()> inputs;
  // Fills rootfs (an empty directory); work is scratch space; cache_dir is
  // the build's cache (for intermediate results a recipe keeps, under the
  // image's lock).
  std::function<Status(const std::string& rootfs, const std::string& work,
                       const std::string& cache_dir)>
      prepare;
  OciImageSpec spec;
};

Status write_text(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return internal_error("write " + path + " failed");
  if (::chmod(path.c_str(), mode) < 0) return internal_error("chmod " + path + " failed");
  return Status::ok();
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status make_dirs(const std::string& root, const std::vector<std::pair<std::string, mode_t>>& dirs) {
  for (const auto& [d, mode] : dirs) {
    std::error_code ec;
    std::string path = root + "/" + d;
    fs::create_directories(path, ec);
    if (ec) return internal_error("mkdir " + path + ": " + ec.message());
    ::chmod(path.c_str(), mode);
  }
  return Status::ok();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// ---- pause ----
Result<std::string> pause_inputs() {
  auto gcc = run_checked({"gcc", "--version"});
  if (!gcc)
    return Status(Code::kUnavailable, "gcc is needed to build pause: " + gcc.status().message());
  return std::string(kRecipeVersion) + "\npause\n" + first_line(*gcc) + "\n" + kPauseSource;
}

Status pause_prepare(const std::string& rootfs, const std::string& work, const std::string&) {
  const std::string src = work + "/pause.c";
  if (auto s = write_text(src, kPauseSource, 0644); !s) return s;
  const std::string bin = rootfs + "/pause";
  if (auto r = run_checked({"gcc", "-Os", "-static", "-s", "-o", bin, src}); !r) return r.status();
  ::chmod(bin.c_str(), 0755);
  return Status::ok();
}

// ---- busybox ----
Result<std::string> busybox_inputs() {
  auto d = sha256_file(kBusyboxBinary);
  if (!d) {
    return Status(Code::kUnavailable,
                  std::string("busybox image needs ") + kBusyboxBinary +
                      " (Debian package busybox-static): " + d.status().message());
  }
  return std::string(kRecipeVersion) + "\nbusybox\n" + d->hex + "\n";
}

Status busybox_prepare(const std::string& rootfs, const std::string&, const std::string&) {
  if (auto s = make_dirs(rootfs, {{"bin", 0755},
                                  {"sbin", 0755},
                                  {"usr/bin", 0755},
                                  {"usr/sbin", 0755},
                                  {"etc", 0755},
                                  {"dev", 0755},
                                  {"proc", 0755},
                                  {"sys", 0755},
                                  {"tmp", 01777},
                                  {"root", 0700},
                                  {"home", 0755},
                                  {"var/run", 0755},
                                  {"var/tmp", 01777}});
      !s) {
    return s;
  }
  std::error_code ec;
  fs::copy_file(kBusyboxBinary, rootfs + "/bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) return internal_error(std::string("copy ") + kBusyboxBinary + ": " + ec.message());
  ::chmod((rootfs + "/bin/busybox").c_str(), 0755);
  auto list = run_checked({kBusyboxBinary, "--list-full"});
  if (!list) return list.status();
  std::istringstream lines(*list);
  std::string applet;
  while (std::getline(lines, applet)) {
    if (applet.empty() || applet == "bin/busybox" || applet.find("..") != std::string::npos ||
        applet.front() == '/') {
      continue;
    }
    std::string link = rootfs + "/" + applet;
    fs::create_directories(fs::path(link).parent_path(), ec);
    if (fs::is_symlink(link, ec)) continue;
    fs::create_symlink("/bin/busybox", link, ec);
    if (ec) return internal_error("symlink " + link + ": " + ec.message());
  }
  if (auto s = write_text(rootfs + "/etc/passwd",
                          "root:x:0:0:root:/root:/bin/sh\n"
                          "nobody:x:65534:65534:nobody:/home:/bin/false\n",
                          0644);
      !s) {
    return s;
  }
  if (auto s = write_text(rootfs + "/etc/group", "root:x:0:\nnogroup:x:65534:\n", 0644); !s)
    return s;
  return Status::ok();
}

// ---- python ----
// mmdebstrap installs no Recommends: only what the packages depend on.
std::vector<std::string> python_command(const std::string& rootfs,
                                        const DebianRootfs& what = kPythonRootfs) {
  std::vector<std::string> cmd = {"mmdebstrap", "--quiet", "--variant=minbase"};
  std::string include = "--include=";
  for (size_t i = 0; i < what.packages.size(); ++i) {
    include += (i ? "," : "") + what.packages[i];
  }
  cmd.push_back(include);
  cmd.push_back("--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr");
  for (const auto& e : kPythonDpkgExcludes) cmd.push_back("--dpkgopt=path-exclude=" + e);
  if (!what.purge.empty()) {
    // mmdebstrap runs the hook with sh; the names are constants above.
    std::string hook = "--customize-hook=chroot \"$1\" dpkg --purge --force-depends";
    for (const auto& p : what.purge) hook += " " + p;
    cmd.push_back(hook);
  }
  cmd.push_back(kPythonSuite);
  cmd.push_back(rootfs);
  return cmd;
}

Result<std::string> debian_inputs(const char* name, const DebianRootfs& what) {
  auto v = run_process({"mmdebstrap", "--version"});
  if (!v || v->exit_code != 0) {
    return Status(Code::kUnavailable,
                  std::string(name) + " image needs mmdebstrap (Debian package mmdebstrap)");
  }
  std::string in = std::string(kRecipeVersion) + "\n" + name + "\n" + first_line(v->out) + "\n";
  for (const auto& a : python_command("ROOTFS", what)) in += a + "\n";
  return in;
}

Result<std::string> python_inputs() { return debian_inputs("python", kPythonRootfs); }

Status debian_prepare(const std::string& rootfs, const DebianRootfs& what) {
  ProcessOptions opts;
  opts.env = {{"SOURCE_DATE_EPOCH", "0"}};
  if (auto r = run_checked(python_command(rootfs, what), opts); !r) return r.status();
  // Device nodes and host-specific files do not belong in an image layer:
  // the runtime provides /dev, resolv.conf and hostname.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(rootfs + "/dev", ec)) fs::remove_all(e.path(), ec);
  for (const char* f : {"etc/resolv.conf", "etc/hostname", "etc/machine-id"}) {
    fs::remove(rootfs + "/" + f, ec);
  }
  return Status::ok();
}

Status python_prepare(const std::string& rootfs, const std::string&, const std::string&) {
  return debian_prepare(rootfs, kPythonRootfs);
}

// ---- python-runtime: the python rootfs plus the function runtime server ----
constexpr char kRuntimeServerPath[] = "opt/minik8s/runtime/server.py";

Result<std::string> python_runtime_inputs() {
  auto in = python_inputs();
  if (!in) return in.status();
  return *in + "python-runtime\n" + kRuntimeServerPath + "\n" + kPythonRuntimeSource;
}

Status python_runtime_prepare(const std::string& rootfs, const std::string& work,
                              const std::string& cache_dir) {
  if (auto s = python_prepare(rootfs, work, cache_dir); !s) return s;
  if (auto s = make_dirs(rootfs, {{"opt/minik8s/runtime", 0755}}); !s) return s;
  return write_text(rootfs + "/" + kRuntimeServerPath, kPythonRuntimeSource, 0644);
}

// ---- python-kubernetes: python plus the Kubernetes client ----
Result<std::string> python_kubernetes_inputs() {
  return debian_inputs("python-kubernetes", kPythonKubernetesRootfs);
}

Status python_kubernetes_prepare(const std::string& rootfs, const std::string&,
                                 const std::string&) {
  return debian_prepare(rootfs, kPythonKubernetesRootfs);
}

// ---- python-ml-runtime: python-runtime plus numpy, Pillow, scikit-learn, tesseract ----
// Directories named "tests" under this one are removed (test suites).
constexpr char kPythonMlDroppedDirs[] = "usr/lib/python3/dist-packages";

Result<std::string> python_ml_runtime_inputs() {
  auto in = debian_inputs("python-ml", kPythonMlRootfs);
  if (!in) return in.status();
  return *in + "python-ml-runtime\nno tests under " + kPythonMlDroppedDirs + "\n" +
         kRuntimeServerPath + "\n" + kPythonRuntimeSource;
}

Status python_ml_runtime_prepare(const std::string& rootfs, const std::string&,
                                 const std::string&) {
  if (auto s = debian_prepare(rootfs, kPythonMlRootfs); !s) return s;
  std::vector<fs::path> tests;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(rootfs + "/" + kPythonMlDroppedDirs, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec) && it->path().filename() == "tests") {
      tests.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  if (ec) {
    return internal_error(std::string("walking ") + kPythonMlDroppedDirs + ": " + ec.message());
  }
  for (const auto& t : tests) {
    fs::remove_all(t, ec);
    if (ec) return internal_error("removing " + t.string() + ": " + ec.message());
  }
  if (auto s = make_dirs(rootfs, {{"opt/minik8s/runtime", 0755}}); !s) return s;
  return write_text(rootfs + "/" + kRuntimeServerPath, kPythonRuntimeSource, 0644);
}

// ---- slurm-submitter: the Slurm client and munge, plus minik8s-submitter ----
// The GPUJob submitter (docs/gpu.md "The submitter"): Debian minbase with
// slurm-client (sbatch, squeue, scontrol, sacct, scancel) and munge (munged
// runs in the pod with the cluster's key), plus the host's
// minik8s-submitter binary and the shared libraries it loads that the Debian
// rootfs lacks (ldd), copied to the same paths. The Debian part (mmdebstrap,
// ~45 s) is cached on its own as <cache_dir>/slurm-submitter.rootfs.tar with
// its inputs' hash beside it, so a rebuilt submitter only re-packs the layer.
// The munge postinst's generated key is removed: the pod brings the
// cluster's.
const DebianRootfs kSlurmRootfs = {{"slurm-client", "munge", "unzip"}, {}};
constexpr char kSubmitterBinaryName[] = "minik8s-submitter";
constexpr char kSubmitterInImage[] = "usr/local/bin/minik8s-submitter";
constexpr char kSubmitterEnv[] = "MINIK8S_SUBMITTER";
constexpr char kSlurmRootfsTar[] = "slurm-submitter.rootfs.tar";

// $MINIK8S_SUBMITTER, else minik8s-submitter next to the running binary
// (build/bin/ holds both).
Result<std::string> submitter_binary() {
  std::string path;
  if (const char* env = std::getenv(kSubmitterEnv); env && *env) {
    path = env;
  } else {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return internal_error("reading /proc/self/exe: " + ec.message());
    path = (self.parent_path() / kSubmitterBinaryName).string();
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Status(Code::kUnavailable,
                  "the slurm-submitter image needs the minik8s-submitter binary: " + path +
                      " does not exist (build it with `cmake --build build --target "
                      "minik8s-submitter`, which puts it next to minik8s, or set " +
                      kSubmitterEnv + " to its path)");
  }
  return path;
}

// The absolute paths of the shared libraries binary loads (ldd), sorted; none
// for a static binary. A library ldd cannot find is an error.
Result<std::vector<std::string>> library_closure(const std::string& binary) {
  auto r = run_process({"ldd", binary});
  if (!r) return r.status();
  if (r->exit_code != 0) {
    if ((r->out + r->err).find("not a dynamic executable") != std::string::npos) {
      return std::vector<std::string>{};
    }
    return internal_error("ldd " + binary + " failed: " + first_line(r->err + r->out));
  }
  std::vector<std::string> libs;
  std::istringstream lines(r->out);
  std::string line;
  while (std::getline(lines, line)) {
    // "\tlibfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x…)", "\t/lib64/ld-linux-x86-64.so.2
    // (0x…)", "\tlinux-vdso.so.1 (0x…)", "\tlibbar.so => not found"
    if (line.find("=> not found") != std::string::npos) {
      return internal_error("ldd " + binary + ": a library is missing:" + line);
    }
    auto arrow = line.find("=> ");
    size_t start = arrow == std::string::npos ? line.find_first_not_of(" \t") : arrow + 3;
    if (start == std::string::npos || line[start] != '/') continue;
    auto end = line.find(" (", start);
    libs.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
  }
  std::sort(libs.begin(), libs.end());
  libs.erase(std::unique(libs.begin(), libs.end()), libs.end());
  return libs;
}

Result<std::string> slurm_rootfs_inputs() {
  auto in = debian_inputs("slurm-submitter-rootfs", kSlurmRootfs);
  if (!in) return in.status();
  return *in + "without etc/munge/munge.key\n";
}

Result<std::string> slurm_submitter_inputs() {
  auto rootfs = slurm_rootfs_inputs();
  if (!rootfs) return rootfs.status();
  auto bin = submitter_binary();
  if (!bin) return bin.status();
  auto bin_hash = sha256_file(*bin);
  if (!bin_hash) return bin_hash.status();
  auto libs = library_closure(*bin);
  if (!libs) return libs.status();
  std::string in = std::string(kRecipeVersion) + "\nslurm-submitter\nrootfs " +
                   sha256_hex(*rootfs) + "\n" + kSubmitterInImage + " " + bin_hash->hex + "\n";
  for (const auto& lib : *libs) {
    auto h = sha256_file(lib);
    if (!h) return h.status();
    in += lib + " " + h->hex + "\n";
  }
  return in;
}

// Makes (or reuses) the cached Debian rootfs tar.
Result<std::string> slurm_rootfs_tar(const std::string& work, const std::string& cache_dir) {
  auto in = slurm_rootfs_inputs();
  if (!in) return in.status();
  const std::string key = sha256_hex(*in) + "\n";
  const std::string tar = cache_dir + "/" + kSlurmRootfsTar;
  const std::string inputs_file = tar + ".inputs";
  std::error_code ec;
  if (auto stored = read_text(inputs_file);
      stored && *stored == key && fs::is_regular_file(tar, ec)) {
    return tar;
  }
  const std::string debian = work + "/debian";
  fs::create_directory(debian, ec);
  ::chmod(debian.c_str(), 0755);
  if (auto s = debian_prepare(debian, kSlurmRootfs); !s) return s;
  fs::remove(debian + "/etc/munge/munge.key", ec);
  const std::string tmp = work + "/debian.tar";
  if (auto r = run_checked({"tar", "-C", debian, "--numeric-owner", "-cf", tmp, "."}); !r)
    return r.status();
  fs::remove_all(debian, ec);
  fs::remove(inputs_file, ec);
  fs::rename(tmp, tar, ec);
  if (ec) return internal_error("rename to " + tar + ": " + ec.message());
  if (auto s = write_text(inputs_file, key, 0644); !s) return s;
  return tar;
}

Status slurm_submitter_prepare(const std::string& rootfs, const std::string& work,
                               const std::string& cache_dir) {
  auto bin = submitter_binary();
  if (!bin) return bin.status();
  auto libs = library_closure(*bin);
  if (!libs) return libs.status();
  auto tar = slurm_rootfs_tar(work, cache_dir);
  if (!tar) return tar.status();
  if (auto r = run_checked({"tar", "-C", rootfs, "--numeric-owner", "-xpf", *tar}); !r)
    return r.status();
  std::error_code ec;
  const std::string dest = rootfs + "/" + kSubmitterInImage;
  fs::create_directories(fs::path(dest).parent_path(), ec);
  fs::copy_file(*bin, dest, fs::copy_options::overwrite_existing, ec);
  if (ec) return internal_error("copy " + *bin + ": " + ec.message());
  ::chmod(dest.c_str(), 0755);
  // Libraries the rootfs lacks, as regular files at the path the loader
  // found them (the rootfs' /lib is a relative link to usr/lib: merged-usr).
  for (const auto& lib : *libs) {
    const std::string in_image = rootfs + lib;
    if (fs::exists(in_image, ec)) continue;
    fs::create_directories(fs::path(in_image).parent_path(), ec);
    const fs::path real = fs::canonical(lib, ec);
    if (!ec) fs::copy_file(real, in_image, ec);
    if (ec) return internal_error("copy " + lib + " into the image: " + ec.message());
    ::chmod(in_image.c_str(), 0644);
  }
  return Status::ok();
}

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> kRecipes = [] {
    std::vector<Recipe> r;
    {
      Recipe p{"pause", {"minik8s.io/pause:1.0"}, pause_inputs, pause_prepare, {}};
      p.spec.cmd = {"/pause"};
      p.spec.env = {kDefaultPath};
      p.spec.created_by = "minik8s image build pause (gcc -Os -static -s images/pause.c)";
      r.push_back(p);
    }
    {
      Recipe b{"busybox",
               {"docker.io/library/busybox:1.36", "docker.io/library/busybox:latest"},
               busybox_inputs,
               busybox_prepare,
               {}};
      b.spec.cmd = {"sh"};
      b.spec.env = {kDefaultPath};
      b.spec.created_by = "minik8s image build busybox (busybox-static)";
      r.push_back(b);
    }
    {
      Recipe y{"python", {"docker.io/library/python:3.11"}, python_inputs, python_prepare, {}};
      y.spec.cmd = {"python3"};
      y.spec.env = {kDefaultPath, "LANG=C.UTF-8"};
      y.spec.created_by = "minik8s image build python (mmdebstrap minbase + python3)";
      y.spec.gzip_level = 1;
      y.spec.root_owned = false;
      r.push_back(y);
    }
    {
      Recipe f{"python-runtime",
               {"minik8s.io/python-runtime:1"},
               python_runtime_inputs,
               python_runtime_prepare,
               {}};
      f.spec.cmd = {"python3", "-u", std::string("/") + kRuntimeServerPath};
      f.spec.env = {kDefaultPath, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1",
                    "PORT=8080"};
      f.spec.exposed_ports = {"8080/tcp"};
      f.spec.created_by = "minik8s image build python-runtime (python + runtimes/python/server.py)";
      f.spec.gzip_level = 1;
      f.spec.root_owned = false;
      r.push_back(f);
    }
    {
      Recipe m{"python-ml-runtime",
               {"minik8s.io/python-ml-runtime:1"},
               python_ml_runtime_inputs,
               python_ml_runtime_prepare,
               {}};
      m.spec.cmd = {"python3", "-u", std::string("/") + kRuntimeServerPath};
      // OMP_THREAD_LIMIT=1, OPENBLAS_NUM_THREADS=1: tesseract's OpenMP and
      // openblas threads would oversubscribe a CPU-limited instance and slow
      // it down (tesseract's own advice).
      m.spec.env = {kDefaultPath,
                    "LANG=C.UTF-8",
                    "PYTHONUNBUFFERED=1",
                    "PYTHONDONTWRITEBYTECODE=1",
                    "PORT=8080",
                    "OMP_THREAD_LIMIT=1",
                    "OPENBLAS_NUM_THREADS=1"};
      m.spec.exposed_ports = {"8080/tcp"};
      m.spec.created_by =
          "minik8s image build python-ml-runtime (python-runtime + numpy, Pillow, scikit-learn, "
          "tesseract-ocr)";
      m.spec.gzip_level = 1;
      m.spec.root_owned = false;
      r.push_back(m);
    }
    {
      Recipe sl{"slurm-submitter",
                {"minik8s.io/slurm-submitter:1"},
                slurm_submitter_inputs,
                slurm_submitter_prepare,
                {}};
      sl.spec.cmd = {kSubmitterBinaryName};
      sl.spec.env = {kDefaultPath, "LANG=C.UTF-8"};
      sl.spec.created_by =
          "minik8s image build slurm-submitter (mmdebstrap minbase + slurm-client, munge, unzip; "
          "minik8s-submitter)";
      sl.spec.gzip_level = 1;
      sl.spec.root_owned = false;
      r.push_back(sl);
    }
    {
      Recipe k{"python-kubernetes",
               {"minik8s.io/python-kubernetes:1"},
               python_kubernetes_inputs,
               python_kubernetes_prepare,
               {}};
      k.spec.cmd = {"python3"};
      k.spec.env = {kDefaultPath, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1",
                    "PYTHONDONTWRITEBYTECODE=1"};
      k.spec.created_by =
          "minik8s image build python-kubernetes (mmdebstrap minbase + python3, "
          "python3-kubernetes)";
      k.spec.gzip_level = 1;
      k.spec.root_owned = false;
      r.push_back(k);
    }
    for (auto& x : r) x.spec.refs = x.refs;
    return r;
  }();
  return kRecipes;
}

const Recipe* find_recipe(const std::string& name) {
  for (const auto& r : recipes()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string known_list() {
  std::string s;
  for (const auto& n : known_images()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Holds an exclusive flock on a file for its lifetime.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) < 0 && errno == EINTR) {
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string ctr_address(const std::string& socket) {
  const std::string scheme = "unix://";
  return socket.rfind(scheme, 0) == 0 ? socket.substr(scheme.size()) : socket;
}

}  // namespace

std::vector<std::string> known_images() {
  std::vector<std::string> names;
  for (const auto& r : recipes()) names.push_back(r.name);
  return names;
}

std::string image_ref(const std::string& name) {
  const Recipe* r = find_recipe(name);
  return r ? r->refs.front() : std::string();
}

Result<BuiltImage> build_image(const std::string& name, const std::string& cache_dir) {
  const Recipe* recipe = find_recipe(name);
  if (!recipe) return invalid("unknown image \"" + name + "\" (known: " + known_list() + ")");
  if (cache_dir.empty()) return invalid("cache dir must not be empty");
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec) return internal_error("mkdir " + cache_dir + ": " + ec.message());

  BuiltImage out;
  out.name = name;
  out.ref = recipe->refs.front();
  out.archive = cache_dir + "/" + name + ".tar";
  const std::string inputs_file = out.archive + ".inputs";

  auto inputs = recipe->inputs();
  if (!inputs) return inputs.status();
  const std::string key = sha256_hex(*inputs) + "\n";

  FileLock lock(cache_dir + "/" + name + ".lock");
  if (!lock.ok()) return internal_error("cannot lock " + cache_dir + "/" + name + ".lock");
  if (auto stored = read_text(inputs_file);
      stored && *stored == key && fs::is_regular_file(out.archive, ec)) {
    out.cached = true;
    return out;
  }

  std::string tmpl = cache_dir + "/." + name + ".build.XXXXXX";
  if (!::mkdtemp(tmpl.data())) return internal_error("mkdtemp in " + cache_dir + " failed");
  const std::string work = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{work};
  const std::string rootfs = work + "/rootfs";
  fs::create_directory(rootfs, ec);
  ::chmod(rootfs.c_str(), 0755);
  if (auto s = recipe->prepare(rootfs, work, cache_dir); !s) {
    return Status(s.code(), "building image " + name + ": " + s.message());
  }
  const std::string tmp_archive = work + "/image.tar";
  auto info = write_oci_archive(rootfs, recipe->spec, work, tmp_archive);
  if (!info)
    return Status(info.status().code(), "building image " + name + ": " + info.status().message());
  fs::remove(inputs_file, ec);
  fs::rename(tmp_archive, out.archive, ec);
  if (ec) return internal_error("rename to " + out.archive + ": " + ec.message());
  if (auto s = write_text(inputs_file, key, 0644); !s) return s;
  return out;
}

Status import_archive(const std::string& archive, const std::string& containerd_socket) {
  std::error_code ec;
  if (!fs::is_regular_file(archive, ec)) return not_found("archive " + archive + " not found");
  if (containerd_socket.empty()) return invalid("containerd socket must be set");
  auto r = run_checked({"ctr", "--address", ctr_address(containerd_socket), "--namespace", "k8s.io",
                        "images", "import", "--snapshotter", "overlayfs", archive});
  if (!r) {
    return Status(r.status().code() == Code::kUnavailable ? Code::kUnavailable : Code::kInternal,
                  "importing " + archive + ": " + r.status().message());
  }
  return Status::ok();
}

Result<std::vector<std::string>> list_images(const std::string& containerd_socket) {
  if (containerd_socket.empty()) return invalid("containerd socket must be set");
  auto r = run_checked({"ctr", "--address", ctr_address(containerd_socket), "--namespace", "k8s.io",
                        "images", "ls"});
  if (!r) return r.status();
  std::vector<std::string> out;
  std::istringstream lines(*r);
  std::string line;
  bool header = true;
  while (std::getline(lines, line)) {
    if (header) {
      header = false;
      continue;
    }
    // REF TYPE DIGEST SIZE(2 fields: "1.2 MiB") PLATFORMS LABELS
    std::istringstream fields(line);
    std::string ref, type, digest, size, unit;
    if (!(fields >> ref >> type >> digest >> size >> unit)) continue;
    if (ref.rfind("sha256:", 0) == 0) continue;  // CRI's by-ID aliases
    out.push_back(ref + "\t" + size + " " + unit);
  }
  return out;
}

int run_image_command(int argc, char** argv) {
  CLI::App app{
      "minik8s image: build offline OCI images, import archives into containerd, list images"};
  app.name("minik8s image");
  app.require_subcommand(1);
  const std::string socket_help =
      "containerd socket (default: $CONTAINERD_ADDRESS, else the running cluster: "
      "$MINIK8S_DATA_DIR, ./.run, /var/lib/minik8s)";
  const std::string data_dir_help =
      "the cluster's data dir (as given to `minik8s up`): its node's containerd";

  auto* build =
      app.add_subcommand("build", "build OCI archives from local sources (" + known_list() + ")");
  std::vector<std::string> names;
  std::string cache_dir;
  std::string build_import, build_data_dir;
  build->add_option("names", names, "images to build: " + known_list())->required();
  build->add_option("--cache-dir", cache_dir,
                    "where archives are written and cached (default: DIR/images with "
                    "--data-dir, else " +
                        std::string(kDefaultImageCacheDir) + ")");
  build->add_option("--import", build_import,
                    "also import each archive into the containerd at this socket");
  build->add_option("--data-dir", build_data_dir,
                    "build into this cluster's image cache (DIR/images) and import into its node");

  auto* import = app.add_subcommand(
      "import", "import OCI or Docker archives into containerd (namespace k8s.io)");
  std::vector<std::string> files;
  std::string import_socket, import_data_dir;
  import->add_option("files", files, "archive files (.tar)")->required();
  import->add_option("--address,-a", import_socket, socket_help);
  import->add_option("--data-dir", import_data_dir, data_dir_help);

  auto* ls = app.add_subcommand("ls", "list images in containerd (namespace k8s.io)");
  std::string ls_socket, ls_data_dir;
  ls->add_option("--address,-a", ls_socket, socket_help);
  ls->add_option("--data-dir", ls_data_dir, data_dir_help);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // The containerd a subcommand talks to (containerd_socket.h has the order).
  auto resolve = [](const char* cmd, std::string address,
                    std::string data_dir) -> std::optional<std::string> {
    auto r = resolve_containerd_socket(
        socket_lookup_from_environment(std::move(address), std::move(data_dir)), probe_unix_socket);
    if (!r) {
      std::cerr << "minik8s image " << cmd << ": " << r.status().message() << "\n";
      return std::nullopt;
    }
    return r->socket;
  };

  if (build->parsed()) {
    for (const auto& n : names) {
      if (!find_recipe(n)) {
        std::cerr << "minik8s image build: unknown image \"" << n << "\" (known: " << known_list()
                  << ")\n";
        return 2;
      }
    }
    if (cache_dir.empty()) {
      cache_dir = build_data_dir.empty() ? kDefaultImageCacheDir
                                         : (fs::path(build_data_dir) / "images").string();
    }
    // Only an explicit --import or --data-dir imports; resolved before building.
    std::string import_to;
    if (!build_import.empty() || !build_data_dir.empty()) {
      auto s = resolve("build", build_import, build_data_dir);
      if (!s) return 1;
      import_to = *s;
    }
    for (const auto& n : names) {
      auto b = build_image(n, cache_dir);
      if (!b) {
        std::cerr << "minik8s image build: " << b.status().message() << "\n";
        return 1;
      }
      std::cout << b->ref << "\t" << b->archive << (b->cached ? "\t(cached)" : "\t(built)") << "\n";
      if (!import_to.empty()) {
        if (auto s = import_archive(b->archive, import_to); !s) {
          std::cerr << "minik8s image build: " << s.message() << "\n";
          return 1;
        }
        std::cout << b->ref << "\timported into " << import_to << "\n";
      }
    }
    return 0;
  }
  if (import->parsed()) {
    auto socket = resolve("import", import_socket, import_data_dir);
    if (!socket) return 1;
    for (const auto& f : files) {
      if (auto s = import_archive(f, *socket); !s) {
        std::cerr << "minik8s image import: " << s.message() << "\n";
        return 1;
      }
      std::cout << "imported " << f << " into " << *socket << "\n";
    }
    return 0;
  }
  if (ls->parsed()) {
    auto socket = resolve("ls", ls_socket, ls_data_dir);
    if (!socket) return 1;
    auto l = list_images(*socket);
    if (!l) {
      std::cerr << "minik8s image ls: " << l.status().message() << "\n";
      return 1;
    }
    std::cout << "REF\tSIZE\n";
    for (const auto& line : *l) std::cout << line << "\n";
    return 0;
  }
  return 2;
}

}  // namespace minik8s::images
