"""A bare `minik8s server` on loopback for the robustness suite, and the
checks every phase shares: the process is alive, /readyz answers, and its
RSS and open fds come back to the baseline taken before the phase.

Only the server this module started is ever signalled (by its PID); its data
directory is a fresh temporary one (prefix mkrob-) removed at the end.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
FAILED = []


def log(msg):
    print(msg, flush=True)


def check(ok, what):
    """Prints a [PASS]/[FAIL] line; failures are remembered for the exit code."""
    log(("[PASS] " if ok else "[FAIL] ") + what)
    if not ok:
        FAILED.append(what)
    return ok


def finish():
    if FAILED:
        log(f"{len(FAILED)} check(s) failed:")
        for f in FAILED:
            log("  - " + f)
        sys.exit(1)
    log("all checks passed")


def poll(pred, timeout, interval=0.05):
    """pred() until it is truthy or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Server:
    def __init__(self, bin_dir, args=(), nofile=None, as_bytes=None):
        self.dir = tempfile.mkdtemp(prefix="mkrob-")
        cmd = [os.path.join(bin_dir, "minik8s"), "server", "--data-dir", self.dir,
               "--listen", "127.0.0.1:0", "--log-level", "warn",
               # Plain HTTP: the hostile bytes go straight to the HTTP code
               # (the TLS layer in front of it has its own tests).
               "--insecure-http", *args]
        if nofile is not None or as_bytes is not None:
            pre = ["prlimit"]
            if nofile is not None:
                pre.append(f"--nofile={nofile}")
            if as_bytes is not None:
                pre.append(f"--as={as_bytes}")
            cmd = pre + ["--"] + cmd
        self.log_path = os.path.join(self.dir, "server.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        kubeconfig = os.path.join(self.dir, "kubeconfig")

        def port():
            if self.proc.poll() is not None:
                return -1
            try:
                with open(kubeconfig) as f:
                    m = re.search(r"server: http://127\.0\.0\.1:(\d+)", f.read())
                    return int(m.group(1)) if m else 0
            except OSError:
                return 0
        p = poll(port, 30)
        if p <= 0:
            self.stop()
            raise RuntimeError("server did not start; log:\n" + self.tail())
        self.port = p
        if not poll(lambda: self.ready(2), 30, 0.1):
            self.stop()
            raise RuntimeError("server never became ready; log:\n" + self.tail())

    # --- process facts -------------------------------------------------
    def alive(self):
        return self.proc.poll() is None

    # Facts about a process that may have died: 0 once it is gone (every
    # phase also checks alive()).
    def _proc(self, read):
        try:
            return read()
        except (OSError, ValueError, IndexError):
            return 0

    def rss(self):
        def read():
            with open(f"/proc/{self.pid}/statm") as f:
                return int(f.read().split()[1]) * PAGE
        return self._proc(read)

    def fds(self):
        return self._proc(lambda: len(os.listdir(f"/proc/{self.pid}/fd")))

    def threads(self):
        return self._proc(lambda: len(os.listdir(f"/proc/{self.pid}/task")))

    def cpu_seconds(self):
        def read():
            with open(f"/proc/{self.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        return self._proc(read)

    def soft_limit(self, name):
        """The soft limit named (e.g. "Max open files") from /proc/PID/limits."""
        def read():
            with open(f"/proc/{self.pid}/limits") as f:
                for line in f:
                    if line.startswith(name):
                        return line[len(name):].split()[0]
            return "unlimited"
        return self._proc(read)

    def set_soft_limit(self, resource, value):
        """prlimit on the running server, soft limit only (so it can be raised back)."""
        r = subprocess.run(["prlimit", f"--pid={self.pid}", f"--{resource}={value}:"],
                           capture_output=True, text=True)
        return r.returncode == 0 or check(False, f"prlimit --{resource}={value}: {r.stderr.strip()}")

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    # --- requests --------------------------------------------------------
    def request(self, method, path, body=None, ctype="application/json", timeout=10):
        """(status, body bytes); status -1 when the connection failed."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Accept": "application/json"}
            if body is not None:
                if not isinstance(body, (bytes, bytearray)):
                    body = json.dumps(body).encode()
                headers["Content-Type"] = ctype
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            return -1, b""
        finally:
            c.close()

    def ready(self, timeout=5):
        s, b = self.request("GET", "/readyz", timeout=timeout)
        return s == 200

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    # --- baseline --------------------------------------------------------
    def baseline(self):
        """Settles the server (a few requests, so lazily made threads and
        caches exist) and records its RSS and fd count."""
        for _ in range(20):
            self.request("GET", "/api/v1/namespaces/default/configmaps")
        self.base_rss, self.base_fds = self.rss(), self.fds()
        log(f"baseline: RSS {self.base_rss >> 20} MiB, {self.base_fds} fds, "
            f"{self.threads()} threads")

    def back_to_baseline(self, phase, rss_slack, fd_slack=2, timeout=30):
        """The fd count comes back to the baseline (+fd_slack: the in-process
        controllers may be mid-request; the store keeps up to 16 idle SQLite
        read connections of 2 fds each, opened on demand) and RSS to within
        rss_slack bytes of it."""
        if not check(self.alive(), f"{phase}: the server is still running"):
            return
        fds = poll(lambda: self.fds() <= self.base_fds + fd_slack, timeout) and self.fds()
        check(fds is not False and self.fds() <= self.base_fds + fd_slack,
              f"{phase}: open fds back to baseline ({self.fds()} now, {self.base_fds} before)")
        if self.fds() > self.base_fds + fd_slack:
            self.show_fds()
        ok = poll(lambda: self.rss() <= self.base_rss + rss_slack, timeout)
        check(bool(ok), f"{phase}: RSS back within {rss_slack >> 20} MiB of baseline "
              f"({self.rss() >> 20} MiB now, {self.base_rss >> 20} MiB before)")
        check(self.alive() and self.ready(), f"{phase}: server alive and /readyz answers")

    def show_fds(self):
        """What the server's open fds are, summarised, and its TCP sockets."""
        kinds = {}
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            target = re.sub(r"\d+", "N", target)
            kinds[target] = kinds.get(target, 0) + 1
        log("open fds: " + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))
        ss = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        states = {}
        for line in ss.splitlines():
            if f"pid={self.pid}," in line:
                states[line.split()[0]] = states.get(line.split()[0], 0) + 1
        log(f"server TCP sockets by state: {states}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        if FAILED:
            log("server log (tail):\n" + self.tail())
        shutil.rmtree(self.dir, ignore_errors=True)
