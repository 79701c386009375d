"""Tests of the function runtime server (server.py), each against a real server.

Every test starts its own server process on a free port (PORT=0; the port is
read from the "listening on" line): /init is once per process, and a handler
may touch os.environ and sys.modules. Run with /usr/bin/python3:

  python3 test_server.py            # protocol tests (ctest label unit)
  python3 test_server.py Robustness # the /init fuzz test (label robustness)
"""

import base64
import http.client
import io
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zipfile

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
PYTHON = sys.executable or "/usr/bin/python3"


class Runtime:
    """A server.py process; stdout and stderr lines are collected in queues."""

    def __init__(self):
        # The code directories go to a temp dir of the test's, removed at close.
        self.tmp = tempfile.TemporaryDirectory(prefix="mk-runtime-test-")
        env = dict(os.environ, PORT="0", PYTHONDONTWRITEBYTECODE="1", TMPDIR=self.tmp.name)
        self.proc = subprocess.Popen([PYTHON, "-u", SERVER], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out, self.err = queue.Queue(), queue.Queue()
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, q=q: [q.put(l) for l in s],
                             daemon=True).start()
        line = self.err.get(timeout=10)
        assert "listening on" in line, line
        self.port = int(line.rsplit(":", 1)[1])

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.tmp.cleanup()

    def request(self, method, path, body=None, headers=None, timeout=20):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            ctype = resp.getheader("Content-Type", "")
            value = json.loads(data) if ctype == "application/json" else data.decode()
            return resp.status, value, resp
        finally:
            conn.close()

    def init(self, source=None, filename="main.py", handler="main.handler", raw=None, **extra):
        code = raw if raw is not None else source.encode()
        payload = {"namespace": "default", "function": "fn", "revision": "1",
                   "handler": handler, "filename": filename,
                   "code": base64.b64encode(code).decode(), "env": {}, "timeoutSeconds": 30}
        payload.update(extra)
        return self.request("POST", "/init", payload)

    def lines(self, q, want, deadline=10):
        """Collects lines from q until one contains want (or the deadline)."""
        seen, end = [], time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                seen.append(q.get(timeout=0.1))
            except queue.Empty:
                continue
            if want in seen[-1]:
                return seen
        raise AssertionError("no line with %r in %r" % (want, seen))


def zip_bytes(members, symlinks=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, target)
    return buf.getvalue()


ECHO = """
import os
def handler(event, context):
    print("handled", context.request_id)
    return {"event": event, "greeting": os.environ.get("GREETING")}
"""


class RuntimeTest(unittest.TestCase):
    def setUp(self):
        self.rt = Runtime()
        self.addCleanup(self.rt.close)

    def assert_code_invalid(self, resp, fragment):
        status, body, _ = resp
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "CodeInvalid")
        self.assertIn(fragment, body["message"])
        self.assertNotIn("\n", body["message"])
        # The server survived and is still unspecialised.
        self.assertEqual(self.rt.request("GET", "/healthz")[1]["state"], "pool")
        self.assertEqual(os.listdir(self.rt.tmp.name), [])  # the code dir is removed


class InitTest(RuntimeTest):
    def test_healthz_before_and_after_init(self):
        self.assertEqual(self.rt.request("GET", "/healthz")[:2],
                         (200, {"state": "pool", "function": None, "revision": None}))
        self.assertEqual(self.rt.request("POST", "/invoke", {})[0], 503)
        self.assertEqual(self.rt.init(ECHO)[:2], (200, {"ok": True}))
        self.assertEqual(self.rt.request("GET", "/healthz")[1],
                         {"state": "ready", "function": "fn", "revision": "1"})

    def test_py_file_is_its_filename_and_env_applies(self):
        src = "import os\ndef go(event, context):\n    return [__file__.rsplit('/', 1)[1], os.environ['GREETING']]\n"
        status, body, _ = self.rt.init(src, filename="hello.py", handler="hello.go",
                                       env={"GREETING": "hi"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.rt.request("POST", "/invoke", {})[1], ["hello.py", "hi"])

    def test_zip_with_two_modules_and_a_package(self):
        code = zip_bytes({"main.py": "import helper\nfrom pkg import util\n"
                                     "def handler(e, c):\n    return helper.twice(util.ONE)\n",
                          "helper.py": "def twice(x):\n    return 2 * x\n",
                          "pkg/__init__.py": "", "pkg/util.py": "ONE = 21\n"})
        self.assertEqual(self.rt.init(raw=code, filename="fn.zip")[0], 200)
        self.assertEqual(self.rt.request("POST", "/invoke", {})[1], 42)

    def test_package_handler_in_zip(self):
        code = zip_bytes({"app/__init__.py": "def handler(e, c):\n    return 'pkg'\n"})
        self.assertEqual(self.rt.init(raw=code, filename="fn.zip", handler="app.handler")[0], 200)
        self.assertEqual(self.rt.request("POST", "/invoke")[1], "pkg")

    def test_syntax_error_names_file_and_line(self):
        self.assert_code_invalid(self.rt.init("x = 1\ndef handler(e, c)\n    return 1\n"),
                                 "main.py:2: ")

    def test_syntax_error_in_a_zip_module(self):
        code = zip_bytes({"main.py": "import lib.broken\n", "lib/__init__.py": "",
                          "lib/broken.py": "\n\n)\n"})
        self.assert_code_invalid(self.rt.init(raw=code, filename="f.zip"), "lib/broken.py:3: ")

    def test_import_error(self):
        self.assert_code_invalid(self.rt.init("import no_such_module_xyz\n"),
                                 "ModuleNotFoundError: No module named 'no_such_module_xyz'")

    def test_exception_at_import_names_the_line(self):
        self.assert_code_invalid(self.rt.init("a = 1\nraise ValueError('boom')\n"),
                                 "main.py:2: ValueError: boom")

    def test_missing_function(self):
        self.assert_code_invalid(self.rt.init("def other(e, c): pass\n"),
                                 "module 'main' has no function 'handler'")

    def test_missing_module(self):
        self.assert_code_invalid(self.rt.init(raw=zip_bytes({"other.py": ""}), filename="f.zip"),
                                 "zip has no module 'main' (main.py or main/__init__.py)")
        self.assert_code_invalid(self.rt.init("def handler(e, c): pass\n", filename="x.py"),
                                 "has no module 'main'")

    def test_module_shadowing_the_standard_library(self):
        self.assert_code_invalid(self.rt.init("def handler(e, c): pass\n", filename="json.py",
                                              handler="json.handler"), "clashes")

    def test_bad_payloads(self):
        rt = self.rt
        self.assert_code_invalid(rt.request("POST", "/init", "not json"), "not JSON")
        self.assert_code_invalid(rt.request("POST", "/init", [1]), "JSON object")
        self.assert_code_invalid(rt.init("", handler="nodot"), "module.function")
        self.assert_code_invalid(rt.init("", filename="../x.py"), "plain name")
        self.assert_code_invalid(rt.init("", filename="x.txt"), ".py or .zip")
        self.assert_code_invalid(rt.init("", code="%%%"), "base64")
        self.assert_code_invalid(rt.init("", env={"A": 1}), "env")
        self.assert_code_invalid(rt.init(raw=b"PK not a zip", filename="f.zip"), "bad zip")

    def test_zip_slip_is_rejected(self):
        for name in ("../evil.py", "/abs.py", "a/../../evil.py"):
            self.assert_code_invalid(
                self.rt.init(raw=zip_bytes({"main.py": "", name: "x"}), filename="f.zip"),
                "escapes the code directory")
        self.assert_code_invalid(
            self.rt.init(raw=zip_bytes({"main.py": ""}, symlinks=[("link", "/etc/passwd")]),
                         filename="f.zip"), "symlink")
        self.assertFalse(os.path.exists("/tmp/evil.py"))

    def test_oversize_zip(self):
        big = zip_bytes({"main.py": "", "a.bin": b"\0" * (40 << 20), "b.bin": b"\0" * (30 << 20)})
        self.assertLess(len(big), 1 << 20)  # a zip bomb: small in, big out
        self.assert_code_invalid(self.rt.init(raw=big, filename="f.zip"), "more than 67108864")
        many = zip_bytes({"f%d" % i: "" for i in range(10001)})
        self.assert_code_invalid(self.rt.init(raw=many, filename="f.zip"), "10001 entries")

    def test_failed_init_can_be_corrected(self):
        self.assertEqual(self.rt.init("def handler(e, c)\n")[0], 400)
        self.assertEqual(self.rt.init("def handler(e, c):\n    return 'fixed'\n")[0], 200)
        self.assertEqual(self.rt.request("POST", "/invoke")[1], "fixed")

    def test_reinit_same_payload_ok_different_conflict(self):
        self.assertEqual(self.rt.init(ECHO)[0], 200)
        self.assertEqual(self.rt.init(ECHO)[:2], (200, {"ok": True}))
        status, body, _ = self.rt.init(ECHO, revision="2")
        self.assertEqual(status, 409, body)
        self.assertEqual(self.rt.request("GET", "/healthz")[1]["revision"], "1")


class InvokeTest(RuntimeTest):
    def setUp(self):
        super().setUp()
        self.assertEqual(self.rt.init(ECHO, env={"GREETING": "hello"})[0], 200)

    def test_json_result_and_print_reaches_stdout(self):
        status, body, resp = self.rt.request("POST", "/invoke", {"a": 1},
                                             headers={"X-Request-Id": "req-7"})
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        self.assertEqual(resp.getheader("X-Request-Id"), "req-7")
        self.assertEqual(body, {"event": {"a": 1}, "greeting": "hello"})
        self.rt.lines(self.rt.out, "handled req-7")
        self.assertTrue(any(l.startswith("POST /invoke 200 ")
                            for l in self.rt.lines(self.rt.err, "POST /invoke")))

    def test_keep_alive_without_delayed_ack_stalls(self):
        # Headers and body in two writes with Nagle on cost 40 ms per request
        # on a kept-alive connection (the client's delayed ACK); the gateway
        # reuses connections, so the median must stay far below that.
        conn = http.client.HTTPConnection("127.0.0.1", self.rt.port, timeout=20)
        self.addCleanup(conn.close)
        times = []
        for _ in range(21):
            t0 = time.monotonic()
            conn.request("POST", "/invoke", body='{"a": 1}')
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.read()
            times.append(time.monotonic() - t0)
        self.assertLess(sorted(times)[10], 0.030, times)

    def test_query_merges_without_overriding_body(self):
        body = self.rt.request("POST", "/invoke?a=q&b=2", {"a": "body"})[1]
        self.assertEqual(body["event"], {"a": "body", "b": "2"})

    def test_non_object_and_empty_bodies(self):
        self.assertEqual(self.rt.request("POST", "/invoke?x=1", [1, 2])[1]["event"],
                         {"body": [1, 2], "x": "1"})
        self.assertEqual(self.rt.request("POST", "/invoke", "7")[1]["event"], {"body": 7})
        self.assertEqual(self.rt.request("POST", "/invoke")[1]["event"], {})
        self.assertEqual(self.rt.request("POST", "/invoke", "{bad")[0], 400)


class HandlerTest(RuntimeTest):
    SOURCE = """
import os, threading, time
def text(e, c):
    return "héllo"
def boom(e, c):
    raise KeyError("missing")
def ctx(e, c):
    return {"function_name": c.function_name, "namespace": c.namespace,
            "revision": c.revision, "request_id": c.request_id,
            "remaining": c.get_remaining_time_in_millis()}
barrier = threading.Barrier(2, timeout=10)
def slow(e, c):
    barrier.wait()  # both requests must be in the handler at once
    return "together"
def unserialisable(e, c):
    return object()
def leave(e, c):
    os._exit(3)
"""

    def init(self, name):
        status, body, _ = self.rt.init(self.SOURCE, handler="main." + name, revision="4")
        self.assertEqual(status, 200, body)

    def test_str_is_text_plain_utf8(self):
        self.init("text")
        status, body, resp = self.rt.request("POST", "/invoke")
        self.assertEqual((status, body), (200, "héllo"))
        self.assertEqual(resp.getheader("Content-Type"), "text/plain; charset=utf-8")

    def test_exception_is_500_with_traceback(self):
        self.init("boom")
        status, body, _ = self.rt.request("POST", "/invoke", {}, headers={"X-Request-Id": "r"})
        self.assertEqual(status, 500)
        self.assertEqual(body["error"], "KeyError")
        self.assertEqual(body["message"], "'missing'")
        self.assertIn('raise KeyError("missing")', body["traceback"])
        self.assertNotIn("server.py", body["traceback"])  # the handler's frames only
        self.assertEqual(self.rt.request("GET", "/healthz")[0], 200)

    def test_unserialisable_result_is_500(self):
        self.init("unserialisable")
        status, body, _ = self.rt.request("POST", "/invoke")
        self.assertEqual((status, body["error"]), (500, "TypeError"))

    def test_context_fields(self):
        self.init("ctx")
        body = self.rt.request("POST", "/invoke", {},
                               headers={"X-Request-Id": "abc", "X-Deadline-Ms": "5000"})[1]
        self.assertEqual({k: body[k] for k in ("function_name", "namespace", "revision",
                                               "request_id")},
                         {"function_name": "fn", "namespace": "default", "revision": "4",
                          "request_id": "abc"})
        self.assertTrue(4000 < body["remaining"] <= 5000, body)
        # Without the gateway's header: the Function's timeoutSeconds (30).
        body = self.rt.request("POST", "/invoke")[1]
        self.assertTrue(25000 < body["remaining"] <= 30000, body)
        self.assertIsNone(body["request_id"])

    def test_two_slow_requests_overlap(self):
        self.init("slow")
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            self.rt.request("POST", "/invoke")[:2])) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [(200, "together")] * 2)

    def test_os_exit_ends_the_process(self):
        self.init("leave")
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.rt.request("POST", "/invoke")
        self.assertEqual(self.rt.proc.wait(10), 3)

    def test_unknown_routes_and_oversized_body(self):
        self.assertEqual(self.rt.request("GET", "/nope")[0], 404)
        self.assertEqual(self.rt.request("POST", "/nope", {})[0], 404)
        status, _, _ = self.rt.request("POST", "/invoke", headers={"Content-Length": "999999999999"})
        self.assertEqual(status, 413)
        self.assertEqual(self.rt.request("GET", "/healthz")[0], 200)


class Robustness(unittest.TestCase):
    """Random and malformed /init payloads: always an answer, never a crash."""

    def test_init_fuzz(self):
        rng = random.Random(1307)
        rt = Runtime()
        self.addCleanup(rt.close)
        valid_zip = zip_bytes({"main.py": "def handler(e, c):\n    return 1\n", "m/x.py": "y=1\n"})

        def mutate(data):
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                if b and rng.random() < 0.7:
                    b[rng.randrange(len(b))] = rng.randrange(256)
                else:
                    b[rng.randrange(len(b) + 1):0] = bytes([rng.randrange(256)])
            return bytes(b)

        def rand_value(depth=0):
            kinds = [lambda: None, rng.random,
                     lambda: "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(12))),
                     lambda: rng.choice([True, False, 0, -1, 2 ** 70, "main.handler"]),
                     lambda: [rand_value(depth + 1) for _ in range(rng.randrange(3))],
                     lambda: {rng.choice(["code", "handler", "filename", "env", "x"]):
                              rand_value(depth + 1) for _ in range(rng.randrange(4))}]
            return kinds[rng.randrange(len(kinds) if depth < 3 else 4)]()

        def payload(i):
            kind = i % 6
            if kind == 0:  # random bytes
                return bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
            if kind == 1:  # random JSON
                return json.dumps(rand_value()).encode()
            base = {"handler": "main.handler", "filename": "f.zip",
                    "code": base64.b64encode(mutate(valid_zip)).decode()}
            if kind == 2:  # a corrupted zip
                return json.dumps(base).encode()
            if kind == 3:  # random fields over a valid payload
                base[rng.choice(["handler", "filename", "env", "code", "revision"])] = rand_value()
                return json.dumps(base).encode()
            if kind == 4:  # random Python source
                src = mutate(b"def handler(e, c):\n    return [1, {'a': (2,)}]\n")
                return json.dumps({"filename": "main.py",
                                   "code": base64.b64encode(src).decode()}).encode()
            return mutate(json.dumps(base).encode())  # corrupted JSON text

        answered = 0
        for i in range(300):
            body = payload(i)
            status, resp, _ = rt.request("POST", "/init", body,
                                         headers={"Content-Type": "application/json"})
            self.assertIn(status, (200, 400, 409), (i, body[:200], resp))
            if status == 400:
                self.assertEqual(resp["error"], "CodeInvalid")
                self.assertNotIn("\n", resp["message"])
            answered += 1
            self.assertEqual(rt.request("GET", "/healthz")[0], 200, i)
            if status == 200:  # specialised: later payloads are 409 or, the same, 200
                rt.close()
                rt = Runtime()
                self.addCleanup(rt.close)
        self.assertEqual(answered, 300)
        self.assertIsNone(rt.proc.poll())


if __name__ == "__main__":
    unittest.main()
