"""minik8s Python function runtime (docs/serverless.md, "Runtime protocol").

Python 3.11 standard library only; runs as `python3 -u server.py` in the
image minik8s.io/python-runtime:1 and listens on 0.0.0.0:$PORT (8080).

  GET  /healthz  200 {"state": "pool"|"ready", "function", "revision"}
  POST /init     load the code once: 200 {"ok": true}; 400 CodeInvalid with
                 one line (file:line for syntax errors); 409 when already
                 initialised with a different payload (the same one is 200)
  POST /invoke   call the handler: its JSON value (application/json) or str
                 (text/plain); 500 {"error", "message", "traceback"} when it
                 raises; 503 before /init

Threads: ThreadingHTTPServer, one thread per connection. _LOCK guards the
initialisation state; after /init the handler is called concurrently from the
request threads without a lock (concurrency is the gateway's business).
Handler print() goes to stdout; one access line per request goes to stderr.
"""

import base64
import binascii
import hashlib
import importlib
import io
import json
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time
import traceback
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 64 << 20  # request bodies (the gateway caps invocations at 6 MiB)
MAX_EXTRACTED = 64 << 20  # total uncompressed size of a zip
MAX_ENTRIES = 10000  # members of a zip


class CodeInvalid(Exception):
    """A /init payload that cannot become a handler; the message is one line."""


_LOCK = threading.Lock()
_state = {"digest": None, "handler": None, "meta": {}}


def _one_line(text):
    lines = [l.strip() for l in str(text).splitlines() if l.strip()]
    return lines[0] if lines else ""


def _extract_zip(data, dest):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise CodeInvalid("bad zip: %s" % _one_line(e)) from None
    if len(infos) > MAX_ENTRIES:
        raise CodeInvalid("zip has %d entries; the limit is %d" % (len(infos), MAX_ENTRIES))
    total = 0
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise CodeInvalid("zip entry %r escapes the code directory" % name)
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise CodeInvalid("zip entry %r is a symlink" % name)
        total += info.file_size
        if total > MAX_EXTRACTED:
            raise CodeInvalid("zip expands to more than %d bytes" % MAX_EXTRACTED)
    written = 0
    for info in infos:
        target = os.path.join(dest, *[p for p in info.filename.replace("\\", "/").split("/") if p])
        if info.is_dir():
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            with zf.open(info) as src, open(target, "wb") as out:
                while True:  # count real bytes: the header's size may lie
                    chunk = src.read(1 << 16)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > MAX_EXTRACTED:
                        raise CodeInvalid("zip expands to more than %d bytes" % MAX_EXTRACTED)
                    out.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
                RuntimeError, ValueError, OSError, zlib.error) as e:  # RuntimeError: encrypted
            raise CodeInvalid("bad zip entry %r: %s" % (info.filename, _one_line(e))) from None


def _load(req):
    """Writes the code to a fresh directory, imports the module, returns the function."""
    if not isinstance(req, dict):
        raise CodeInvalid("init payload must be a JSON object")
    handler = req.get("handler") or "main.handler"
    filename = req.get("filename") or "main.py"
    code, env = req.get("code"), req.get("env") or {}
    if not isinstance(handler, str) or "." not in handler.strip("."):
        raise CodeInvalid("handler %r is not module.function" % (handler,))
    if not isinstance(filename, str) or os.path.basename(filename) != filename or \
            filename in (".", "..") or not filename.endswith((".py", ".zip")):
        raise CodeInvalid("filename %r must be a plain name ending in .py or .zip" % (filename,))
    if not isinstance(code, str):
        raise CodeInvalid("code must be a base64 string")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) and k
                                            and "=" not in k and "\0" not in k + v
                                            for k, v in env.items()):
        raise CodeInvalid("env must be an object of string names to string values")
    try:
        data = base64.b64decode(code, validate=True)
    except (binascii.Error, ValueError):
        raise CodeInvalid("code is not valid base64") from None
    module_name, func_name = handler.rsplit(".", 1)
    codedir = tempfile.mkdtemp(prefix="minik8s-fn-")
    try:
        _write_code(data, filename, codedir, module_name.split(".")[0])
    except BaseException:
        shutil.rmtree(codedir, ignore_errors=True)
        raise
    saved_env = dict(os.environ)
    os.environ.update(env)
    sys.path.insert(0, codedir)
    importlib.invalidate_caches()
    try:
        return _import(codedir, filename, module_name, func_name)
    except BaseException:  # undo, so that a corrected /init starts clean
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path.remove(codedir)
        for name, mod in list(sys.modules.items()):
            if (getattr(mod, "__file__", None) or "").startswith(codedir):
                del sys.modules[name]
        shutil.rmtree(codedir, ignore_errors=True)
        raise


def _write_code(data, filename, codedir, top):
    if filename.endswith(".zip"):
        _extract_zip(data, codedir)
    else:
        with open(os.path.join(codedir, filename), "wb") as f:
            f.write(data)
    if not (os.path.isfile(os.path.join(codedir, top + ".py"))
            or os.path.isfile(os.path.join(codedir, top, "__init__.py"))):
        what = "zip" if filename.endswith(".zip") else "code"
        raise CodeInvalid("%s has no module '%s' (%s.py or %s/__init__.py)" % (what, top, top, top))
    if top in sys.modules:  # the import would return the runtime's own module
        raise CodeInvalid("module name '%s' clashes with a standard module; rename it" % top)


def _import(codedir, filename, module_name, func_name):
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        where = e.filename or filename
        if where.startswith(codedir + os.sep):
            where = os.path.relpath(where, codedir)
        raise CodeInvalid("%s:%s: %s" % (where, e.lineno, e.msg)) from None
    except BaseException as e:  # the module's top level ran and failed (sys.exit too)
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.filename.startswith(codedir)]
        at = "%s:%s: " % (os.path.relpath(frames[-1].filename, codedir),
                          frames[-1].lineno) if frames else ""
        raise CodeInvalid("importing %s: %s%s: %s" % (module_name, at, type(e).__name__,
                                                       _one_line(e))) from None
    func = getattr(module, func_name, None)
    if func is None:
        raise CodeInvalid("module '%s' has no function '%s'" % (module_name, func_name))
    if not callable(func):
        raise CodeInvalid("'%s.%s' is not callable" % (module_name, func_name))
    return func


class Context:
    def __init__(self, meta, request_id, deadline):
        self.function_name = meta.get("function")
        self.namespace = meta.get("namespace")
        self.revision = meta.get("revision")
        self.request_id = request_id
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        if self._deadline is None:
            return None
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive without 40 ms stalls: headers and body leave in one write
    # (buffered, flushed after each request) with Nagle off.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "minik8s-python-runtime/1"

    def log_message(self, fmt, *args):  # the access line is written in _send
        pass

    def _send(self, status, body, ctype="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode() if ctype == "application/json" else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        rid = self.headers.get("X-Request-Id")
        if rid:
            self.send_header("X-Request-Id", rid)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        ms = (time.monotonic() - self._t0) * 1000
        sys.stderr.write("%s %s %d %.1fms\n" % (self.command, self.path, status, ms))
        sys.stderr.flush()

    def _body(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(n)

    def do_GET(self):
        self._t0 = time.monotonic()
        if urlsplit(self.path).path != "/healthz":
            return self._send(404, {"error": "NotFound", "message": "no route " + self.path})
        meta = _state["meta"]
        self._send(200, {"state": "ready" if _state["handler"] else "pool",
                         "function": meta.get("function"), "revision": meta.get("revision")})

    def do_POST(self):
        self._t0 = time.monotonic()
        route = urlsplit(self.path).path
        if route not in ("/init", "/invoke"):
            return self._send(404, {"error": "NotFound", "message": "no route " + self.path})
        body = self._body()
        if body is None:
            return self._send(413, {"error": "BadRequest", "message": "bad or oversized body"})
        if route == "/init":
            return self._init(body)
        self._invoke(body)

    def _init(self, body):
        digest = hashlib.sha256(body).hexdigest()
        with _LOCK:
            if _state["handler"]:
                if digest == _state["digest"]:
                    return self._send(200, {"ok": True})
                return self._send(409, {"error": "AlreadyInitialized", "message":
                                        "already initialised with %s revision %s" % (
                                            _state["meta"].get("function"),
                                            _state["meta"].get("revision"))})
            try:
                try:
                    req = json.loads(body)
                except (ValueError, UnicodeDecodeError) as e:
                    raise CodeInvalid("init payload is not JSON: %s" % _one_line(e)) from None
                func = _load(req)
            except CodeInvalid as e:
                return self._send(400, {"error": "CodeInvalid", "message": _one_line(e)})
            except Exception as e:  # never let a payload take the server down
                return self._send(400, {"error": "CodeInvalid", "message": "%s: %s" % (
                    type(e).__name__, _one_line(e))})
            _state["meta"] = {k: req.get(k) for k in ("namespace", "function", "revision",
                                                      "timeoutSeconds")}
            _state["digest"], _state["handler"] = digest, func
            self._send(200, {"ok": True})

    def _invoke(self, body):
        func = _state["handler"]
        if func is None:
            return self._send(503, {"error": "NotInitialized", "message": "POST /init first"})
        try:
            event = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as e:
            return self._send(400, {"error": "BadRequest", "message":
                                    "body is not JSON: " + _one_line(e)})
        if not isinstance(event, dict):
            event = {"body": event}
        for k, v in parse_qsl(urlsplit(self.path).query, keep_blank_values=True):
            event.setdefault(k, v)
        try:
            deadline = time.monotonic() + int(self.headers["X-Deadline-Ms"]) / 1000
        except (TypeError, ValueError):  # no gateway in front: the Function's timeout
            timeout = _state["meta"].get("timeoutSeconds")
            deadline = time.monotonic() + timeout if isinstance(timeout, (int, float)) else None
        ctx = Context(_state["meta"], self.headers.get("X-Request-Id"), deadline)
        try:
            result = func(event, ctx)
            if isinstance(result, str):
                return self._send(200, result, "text/plain; charset=utf-8")
            out = json.dumps(result)
        except BaseException as e:  # SystemExit too: only os._exit ends the process
            tb = traceback.format_exception(type(e), e, e.__traceback__.tb_next)  # from the handler
            return self._send(500, {"error": type(e).__name__, "message": str(e),
                                    "traceback": "".join(tb)})
        self._send(200, out.encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind asks socket.getfqdn(host): a reverse DNS
        # query through the pod's resolv.conf (cluster DNS, forwarded
        # upstream) on every instance start, for a name only CGI uses.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def make_server(port, host="0.0.0.0"):
    return Server((host, port), Handler)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    server = make_server(int(os.environ.get("PORT", "8080")))
    sys.stderr.write("minik8s python runtime listening on %s:%d\n" % server.server_address[:2])
    server.serve_forever()


if __name__ == "__main__":
    main()
