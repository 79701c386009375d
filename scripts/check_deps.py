#!/usr/bin/python3
"""Proves that scripts/deps.sh installs everything the build and the tests use.

The closure check (docs/development.md, "Dependencies"):
  1. The allowed packages: what `apt-get install --no-install-recommends`
     of deps.sh's package list installs on an empty machine (apt's own
     simulation against an empty dpkg status: Depends and PreDepends, with
     alternatives resolved as apt resolves them), together with what a
     minimal Debian 12 already has (Essential and Priority: required
     packages, and apt).
  2. What is used, each mapped to the Debian package that owns the file:
     - every header the compiler read (`ninja -t deps`),
     - every library and object the link lines name (`ninja -t commands`),
     - every shared library the built binaries load (`ldd`),
     - every program the build runs (`ninja -t commands`: compilers behind
       ccache, ar/ranlib, protoc, grpc_cpp_plugin, cmake),
     - every external command the shell scripts and tests invoke, and that
       the C++ code runs (a word in command position in scripts/, test/,
       .ci/, the Makefile; a string literal naming a program in src/ and
       cmd/) that resolves on PATH,
     - every module the Python tests import.
  3. Anything used whose package is outside the allowed set fails the check,
     naming the file, the package and where it was seen.

Usage: scripts/check_deps.py BUILD_DIR [EXTRA_BUILD_DIR...] [--without PKG]... [--verbose]
  EXTRA_BUILD_DIR  more build trees to read when they exist (build-fuzz/,
                   the clang build of the fuzzers)
  --without PKG   pretend deps.sh does not list PKG (the self-test: dropping
                  libyaml-cpp-dev must fail, naming it).
Stdlib only; run with Debian's /usr/bin/python3.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Programs that are not Debian packages on purpose. Each needs a reason; a
# test that uses one must skip with a clear line when it is missing.
NOT_DEBIAN = {
    "kubectl": "not a Debian package at a usable version (1.27+); the kubectl tests skip without it",
    "nvcc": "NVIDIA's CUDA toolkit (/usr/local/cuda), not Debian's; test/e2e/gpu_examples.sh skips the CUDA builds without it",
    "nvidia-smi": "comes with the NVIDIA driver; the GPU tests and benchmarks skip without it",
}

# Programs the minik8s binaries run by a name held in a variable or a config
# (the scan of string literals in src/ finds the rest): containerd and its
# runtime and CNI plugins, the kube-proxy and network agent tools, nginx.
RUNTIME_PROGRAMS = {
    "containerd": "src/cri/containerd.cc (managed containerd)",
    "ctr": "src/images (image import)",
    "runc": "containerd's default runtime (src/cri/containerd_config.cc)",
    "/usr/lib/cni/bridge": "CNI plugin named in the node's CNI config",
    "/usr/lib/cni/host-local": "CNI plugin named in the node's CNI config",
    "/usr/lib/cni/loopback": "CNI plugin named in the node's CNI config",
    "/usr/lib/cni/portmap": "CNI plugin named in the node's CNI config",
    "nginx": "src/ingress/nginx.cc (DNS objects' data plane)",
    "conntrack": "src/proxy (stale UDP entries)",
    "iptables-save": "src/proxy, src/network",
    "iptables-restore": "src/proxy, src/network",
    "modprobe": "src/network/network_agent.cc (br_netfilter)",
    "mount": "src/kubelet (volumes)",
    "umount": "src/kubelet (volumes)",
}

SHELL_WORDS = set("""
if then else elif fi case esac for while until do done in function select time
return exit break continue local export readonly declare typeset unset shift set
source eval exec trap wait read echo printf cd pwd pushd popd test true false
kill let alias type command builtin hash ulimit umask getopts mapfile readarray
jobs disown bg fg caller enable help history logout shopt suspend times compgen
complete dirs
""".split())


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def canon(path):
    """Merged /usr: /bin, /sbin, /lib* live under /usr on Debian 12."""
    path = os.path.normpath(path)
    for top in ("/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"):
        if path.startswith(top):
            return "/usr" + path
    return path


class Owners:
    """File path → owning package, from dpkg's own lists (fast: no dpkg -S)."""

    def __init__(self):
        self.by_path = {}
        info = "/var/lib/dpkg/info"
        for name in os.listdir(info):
            if not name.endswith(".list"):
                continue
            pkg = name[:-5].split(":")[0]
            with open(os.path.join(info, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    self.by_path.setdefault(canon(line.rstrip("\n")), pkg)
        # dpkg-divert moves a packaged file aside; the diverted path is the
        # diverting package's.
        try:
            out = run(["dpkg-divert", "--list"])
        except (OSError, subprocess.CalledProcessError):
            out = ""
        for m in re.finditer(r"diversion of (\S+) to (\S+) by (\S+)", out):
            self.by_path.setdefault(canon(m.group(2)), m.group(3))

    def owner(self, path):
        for p in (canon(path), canon(os.path.realpath(path))):
            if p in self.by_path:
                return self.by_path[p]
        return None


def installed_base():
    """Packages a minimal Debian 12 (mmdebstrap --variant=minbase) has."""
    out = run(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\t${Status}\n"])
    base = {"apt"}
    for line in out.splitlines():
        pkg, essential, prio, status = line.split("\t")
        if status.endswith(" installed") and (essential == "yes" or prio == "required"):
            base.add(pkg)
    return base


def deps_sh_packages():
    text = open(os.path.join(ROOT, "scripts/deps.sh"), encoding="utf-8").read()
    m = re.search(r"^PKGS=\((.*?)\)", text, re.S | re.M)
    if not m:
        sys.exit("check_deps: no PKGS=(...) in scripts/deps.sh")
    pkgs = re.sub(r"#.*", "", m.group(1)).split()
    for more in re.findall(r"^PKGS\+=\((.*?)\)", text, re.S | re.M):  # appended lists
        pkgs += re.sub(r"#.*", "", more).split()
    return pkgs


def closure(pkgs):
    """What `apt-get install --no-install-recommends PKGS` installs on a machine
    that has nothing: apt's own simulation against an empty dpkg status, so
    alternatives and virtual packages resolve as a real install resolves them
    (`apt-cache depends --recurse` would allow every alternative)."""
    proc = subprocess.run(["apt-get", "-s", "-o", "Dir::State::status=/dev/null", "install",
                           "--no-install-recommends"] + sorted(pkgs),
                          capture_output=True, text=True)
    names = {m.group(1) for m in re.finditer(r"^Inst (\S+) ", proc.stdout, re.M)}
    if proc.returncode != 0 or not names:
        sys.exit("check_deps: apt-get could not resolve scripts/deps.sh's packages:\n" +
                 proc.stdout[-2000:] + proc.stderr[-2000:])
    return {n.split(":")[0] for n in names}


class Uses:
    def __init__(self):
        self.files = {}  # path -> first place it was seen

    def add(self, path, where):
        self.files.setdefault(path, where)


def build_uses(build, uses):
    if not os.path.exists(os.path.join(build, "build.ninja")):
        sys.exit(f"check_deps: {build}/build.ninja not found: build first")
    cache = {}  # CMakeCache.txt: NAME -> value
    for line in open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8", errors="replace"):
        m = re.match(r"^([\w.-]+):\w+=(.*)$", line.rstrip("\n"))
        if m:
            cache[m.group(1)] = m.group(2).strip()
    src_roots = [ROOT + "/", os.path.abspath(build) + "/"]
    if cache.get("CMAKE_HOME_DIRECTORY"):  # the tree this build is of
        src_roots.append(cache["CMAKE_HOME_DIRECTORY"].rstrip("/") + "/")
    src_roots = tuple(src_roots)

    def external(p):
        return os.path.isabs(p) and not p.startswith(src_roots) and not p.startswith("/tmp/")

    # Headers, from the compiler's dependency output that ninja records.
    target = None
    for line in run(["ninja", "-C", build, "-t", "deps"]).splitlines():
        if line and not line[0].isspace():
            target = line.split(":")[0]
        elif line.strip():
            p = os.path.normpath(os.path.join(build, line.strip()))
            if external(p):
                uses.add(p, f"header of {target}")
    # Link inputs (absolute paths and -lNAME on the link lines) and the
    # programs the build runs (the first word of every command, and the
    # compiler behind a launcher such as ccache): the compilers, ar/ranlib,
    # protoc and its gRPC plugin, cmake -E. Only what the build really runs
    # counts — CMakeCache.txt also names tools CMake found but never uses.
    cc = shutil.which("c++") or "c++"
    libs = {}
    for line in run(["ninja", "-C", build, "-t", "commands"]).splitlines():
        for seg in re.split(r"&&|;|\|\|", line):
            words = seg.split()
            if words and words[0] == "cd":
                continue
            words = [w for w in words if w != ":"]
            if not words:
                continue
            progs = [words[0]]
            if os.path.basename(words[0]) == "ccache" and len(words) > 1:
                progs.append(words[1])
            for prog in progs:
                if external(prog):
                    uses.add(prog, "build command")
            for w in words[1:]:
                tail = w.rsplit("=", 1)[-1]  # --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin
                if tail != w and external(tail) and os.path.isfile(tail) and os.access(tail, os.X_OK):
                    uses.add(tail, "program named on a build command")
                if external(w) and re.search(r"\.(a|so(\.\d+)*|o)$", w):
                    uses.add(w, "link line")
                elif w.startswith("-l") and len(w) > 2 and re.match(r"^-l[\w+.-]+$", w):
                    libs[w[2:]] = True
    # The build tool itself never appears among the commands it runs.
    if external(cache.get("CMAKE_MAKE_PROGRAM", "")):
        uses.add(cache["CMAKE_MAKE_PROGRAM"], "CMAKE_MAKE_PROGRAM")
    for lib in libs:
        for suffix in (".so", ".a"):
            p = run([cc, f"-print-file-name=lib{lib}{suffix}"]).strip()
            if os.path.isabs(p) and os.path.exists(p):
                uses.add(p, f"-l{lib} on a link line")
                break
    # Shared libraries of the binaries.
    for sub in ("bin", "tests", "bench"):
        d = os.path.join(build, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            exe = os.path.join(d, name)
            if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
                continue
            with open(exe, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue
            try:
                out = run(["ldd", exe])
            except subprocess.CalledProcessError:
                continue
            for m in re.finditer(r"(/\S+) \(0x", out):
                uses.add(m.group(1), f"ldd {sub}/{name}")


def script_files():
    out = []
    for top in ("scripts", "test", ".ci", "examples", "images", "bench", "deploy"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in names:
                p = os.path.join(dirpath, n)
                if n.endswith((".sh", ".bash")) or (os.access(p, os.X_OK) and
                                                    open(p, "rb").read(2) == b"#!" and
                                                    b"sh" in open(p, "rb").readline()):
                    out.append(p)
    out.append(os.path.join(ROOT, "Makefile"))
    return sorted(set(out))


CMD_START = re.compile(r"(?:^|[;&|(`{!]|\$\(|\bthen\b|\bdo\b|\belse\b|\bif\b|\belif\b|\bwhile\b|\buntil\b|"
                       r"\bexec\b|\btime\b|--(?=\s))\s*"
                       r"((?:[A-Za-z_]\w*=(?:[^\s$]|\$(?!\())*\s+)*)([A-Za-z_.][\w.+-]*)")
WRAPPERS = {"env", "timeout", "flock", "setsid", "nohup", "nice", "xargs", "sudo",
            "stdbuf", "unshare", "nsenter", "chroot", "watch", "strace", "ionice"}


def code_only(s):
    """The parts of a shell line that are code: quoted text becomes "" unless
    it is a $( ) inside double quotes or the script of `sh -c '...'`."""
    out = []
    frames = [0]  # open parentheses per code frame; frame > 0 is a $( in "..."
    in_dq = []    # for each nested frame: was it opened inside double quotes
    i, dq = 0, False
    while i < len(s):
        c = s[i]
        if dq:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                dq = False
                out.append('""')
            elif s.startswith("$(", i) and not s.startswith("$((", i):
                frames.append(0)
                in_dq.append(True)
                dq = False
                out.append(" $( ")
                i += 2
                continue
            i += 1
            continue
        if c == "\\":
            out.append(" ")
            i += 2
            continue
        if c == "'":
            j = s.find("'", i + 1)
            j = len(s) if j < 0 else j
            if re.search(r"\b(?:ba)?sh\s+-c\s+$", s[:i]):
                out.append(" ; " + code_only(s[i + 1:j]) + " ; ")
            else:
                out.append("''")
            i = j + 1
            continue
        if c == '"':
            dq = True
            i += 1
            continue
        if c == "(":
            frames[-1] += 1
        elif c == ")":
            if frames[-1] > 0:
                frames[-1] -= 1
            elif len(frames) > 1:
                frames.pop()
                dq = in_dq.pop()
                out.append(" ; ")
                i += 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def script_commands(uses, verbose):
    """Words in command position in the shell scripts (and Makefile recipes)."""
    found = {}
    for path in script_files():
        rel = os.path.relpath(path, ROOT)
        makefile = path.endswith("Makefile")
        heredoc = None
        for n, raw in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
            line = raw.rstrip("\n")
            if heredoc is not None:
                if line.strip() == heredoc:
                    heredoc = None
                continue
            if makefile:
                if not raw.startswith("\t"):
                    continue
                line = line.lstrip("\t@-")
            if line.lstrip().startswith("#"):
                continue
            m = re.search(r"(?<![<\d\s])\s*<<-?\s*['\"]?([A-Za-z_]\w*)['\"]?", line)
            if m and "$((" in line[:m.start()]:
                m = None
            if m:
                heredoc = m.group(1)
            # commands after `kubectl exec POD --` run inside the container
            line = re.sub(r"(?:\bkubectl|\bmkctl|MKCTL\}?|KUBECTL\}?|\bk)\b[\"']?\s[^|;&]*\bexec\b.*?\s--\s.*",
                          "", line)
            line = code_only(line)
            # drop a trailing comment
            line = re.sub(r"(^|\s)#.*$", "", line)
            words = []
            for m in CMD_START.finditer(line):
                words.append(m.group(2))
                # the command after a wrapper (timeout 5 wget, env X=1 cmd, flock 9 cmd)
                if m.group(2) in WRAPPERS:
                    for w in line[m.end():].split():
                        if w.startswith(("-", "$", "/tmp", '"')) or "=" in w or re.match(r"^[\d.]+[smh]?$", w):
                            continue
                        words.append(w)
                        break
            for w in words:
                if w in SHELL_WORDS:
                    continue
                found.setdefault(w, f"{rel}:{n}")
    resolve_commands(found, uses, verbose)


def cxx_commands(uses, verbose):
    """String literals in src/ and cmd/ that name a program to run."""
    found = {}
    lit = re.compile(r'"((?:/usr)?/s?bin/[\w.+-]+|[a-z][\w.+-]*)"')
    for top in ("src", "cmd"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in names:
                if not n.endswith((".cc", ".h")) or n.endswith("_test.cc"):
                    continue
                p = os.path.join(dirpath, n)
                for i, line in enumerate(open(p, encoding="utf-8", errors="replace"), 1):
                    # A literal that is the first element of an argument list
                    # or a program name passed to a spawn helper.
                    for m in re.finditer(r'\{\s*' + lit.pattern + r'\s*,\s*"', line):
                        found.setdefault(m.group(1), f"{os.path.relpath(p, ROOT)}:{i}")
                    for m in re.finditer(r'"((?:/usr)?/s?bin/[\w.+-]+)"', line):
                        found.setdefault(m.group(1), f"{os.path.relpath(p, ROOT)}:{i}")
    resolve_commands(found, uses, verbose, required=False)
    resolve_commands(dict(RUNTIME_PROGRAMS), uses, verbose, required=True)


def resolve_commands(found, uses, verbose, required=False):
    for word, where in sorted(found.items()):
        if word in NOT_DEBIAN:
            continue
        if word.startswith("/"):
            path = word if os.path.exists(word) else None
        else:
            path = shutil.which(word, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if not path:
            if required:  # named as a program to run, and not on this machine
                uses.add(f"<command {word}>", f"run at {where}, not found on PATH")
            continue  # a function, a variable, or not a command at all
        if path.startswith(ROOT + "/"):
            continue
        if verbose:
            print(f"  command {word} -> {path} ({where})")
        uses.add(path, f"command '{word}' at {where}")


def python_imports(uses):
    mods = {}
    local = set()  # the project's own modules (test/robustness/harness.py, ...)
    for top in ("scripts", "test", "bench", "examples", "images"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            local.update(n[:-3] for n in names if n.endswith(".py"))
            for n in names:
                if n.endswith(".py") and "example" not in os.path.relpath(dirpath, ROOT):
                    p = os.path.join(dirpath, n)
                    for i, line in enumerate(open(p, encoding="utf-8", errors="replace"), 1):
                        m = re.match(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w., ]+))", line)
                        if m:
                            for mod in (m.group(1) or m.group(2)).split(","):
                                mod = mod.strip().split(" ")[0].split(".")[0]
                                if mod:
                                    mods.setdefault(mod, f"{os.path.relpath(p, ROOT)}:{i}")
    mods = {m: w for m, w in mods.items() if m not in local}
    if not mods:
        return
    code = ("import importlib.util,sys\n"
            "for m in sys.argv[1:]:\n"
            "  s=importlib.util.find_spec(m)\n"
            "  o=getattr(s,'origin',None) if s else None\n"
            "  print(m, o or '-')\n")
    out = run(["/usr/bin/python3", "-c", code] + sorted(mods))
    for line in out.splitlines():
        mod, origin = line.split(" ", 1)
        if origin.startswith("/"):
            uses.add(origin, f"python import '{mod}' at {mods[mod]}")
        elif origin == "-":
            uses.add(f"<python module {mod}>", f"python import '{mod}' at {mods[mod]} (not found by /usr/bin/python3)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("extra", nargs="*")
    ap.add_argument("--without", action="append", default=[])
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    listed = [p for p in deps_sh_packages() if p not in args.without]
    allowed = closure(set(listed) | installed_base()) if listed else installed_base()
    owners = Owners()
    uses = Uses()
    build_uses(args.build, uses)
    for extra in args.extra:
        if os.path.exists(os.path.join(extra, "build.ninja")):
            build_uses(extra, uses)
    script_commands(uses, args.verbose)
    cxx_commands(uses, args.verbose)
    python_imports(uses)

    problems = {}
    unowned = []
    for path, where in sorted(uses.files.items()):
        if path.startswith("<"):
            unowned.append((path, where))
            continue
        pkg = owners.owner(path)
        if pkg is None:
            if os.path.exists(path):  # e.g. something installed by hand under /usr/local
                unowned.append((path, where))
            continue
        if pkg not in allowed:
            problems.setdefault(pkg, []).append((path, where))

    print(f"check_deps: {len(uses.files)} files used (headers, libraries, programs, modules); "
          f"{len(listed)} packages in deps.sh, {len(allowed)} in their closure with the base system")
    rc = 0
    for pkg, items in sorted(problems.items()):
        rc = 1
        print(f"check_deps: MISSING package {pkg}: used but not installed by scripts/deps.sh "
              f"(add it, or a package that depends on it, to PKGS)")
        for path, where in items[:5]:
            print(f"    {path}  ({where})")
        if len(items) > 5:
            print(f"    ... and {len(items) - 5} more files")
    for path, where in unowned:
        rc = 1
        if path.startswith("<"):
            print(f"check_deps: NOT INSTALLED {path[1:-1]} ({where}): add its package to scripts/deps.sh")
        else:
            print(f"check_deps: NOT FROM A PACKAGE {path} ({where}): install it through scripts/deps.sh, "
                  f"or list it in NOT_DEBIAN in scripts/check_deps.py with the reason")
    if rc == 0:
        print("check_deps: OK — every file used comes from a package scripts/deps.sh installs")
    return rc


if __name__ == "__main__":
    sys.exit(main())
