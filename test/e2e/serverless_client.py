#!/usr/bin/python3
"""HTTP client for the serverless e2e test and benchmark (stdlib only).

  serverless_client.py fuzz URL [--n 1000] [--seed S] [--threads 4] [--huge 3] [--slow 10]
      N invocations with random bodies: JSON objects, arrays, scalars, empty
      bodies, invalid JSON, random bytes, query strings, GET and POST; HUGE
      of them 7 MiB (over the gateway's 6 MiB limit); SLOW clients that send
      half a request and stall while the others run. Prints the status
      histogram; exits 1 on a connection error or a status other than
      200 (valid JSON), 400 (invalid JSON) or 413 (huge), or on a wrong
      status for the body it sent.
  serverless_client.py loop URL STOPFILE
      one POST {"n": i} at a time until STOPFILE exists; one line per
      request: "<epoch> <status> <X-Instance>".
  serverless_client.py time URL [--n 20] [--body JSON] [--conc 1] [--seconds 0]
      latency of POSTs (client side: connect + request + full response), one
      new connection per request; with --seconds, CONC threads keep
      requests going for that long (keep-alive) and the instances seen are
      sampled. Prints JSON: n, errors, statuses, p50_ms, p99_ms, max_ms,
      rps, instances (per X-Instance count).
"""
import argparse
import http.client
import json
import random
import socket
import sys
import threading
import time
import urllib.parse


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80, u.path + ("?" + u.query if u.query else "")


class Connection(http.client.HTTPConnection):
    """HTTPConnection with TCP_NODELAY, as curl and wrk have: http.client
    sends the headers and the body in two writes, and without it Nagle holds
    the body until the headers' delayed ACK (~40 ms a request)."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def request(host, port, method, path, body, headers=None, timeout=60, conn=None):
    """→ (status, headers dict lower-cased, body bytes). Raises on I/O errors."""
    own = conn is None
    if own:
        conn = Connection(host, port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            conn.close()


def random_body(rng):
    """→ (kind, method, query, body bytes, the statuses that are right for it)."""
    kind = rng.choice(["object", "object", "object", "array", "scalar", "empty", "invalid", "bytes", "get"])
    q = ""
    if rng.random() < 0.3:
        q = "?" + urllib.parse.urlencode({"k%d" % i: rng.randint(0, 999) for i in range(rng.randint(1, 3))})
    if kind == "object":
        obj = {"k%d" % i: rng.choice([rng.randint(-10**6, 10**6), "x" * rng.randint(0, 200), None, [1, 2], {"a": 1}])
               for i in range(rng.randint(0, 8))}
        return kind, "POST", q, json.dumps(obj).encode(), {200}
    if kind == "array":
        return kind, "POST", q, json.dumps([rng.randint(0, 9) for _ in range(rng.randint(0, 5))]).encode(), {200}
    if kind == "scalar":
        return kind, "POST", q, json.dumps(rng.choice([1, 2.5, "s", True, None])).encode(), {200}
    if kind == "empty":
        return kind, "POST", q, b"", {200}
    if kind == "get":
        return kind, "GET", q, None, {200}
    if kind == "invalid":
        return kind, "POST", q, rng.choice([b"{", b"{\"a\":", b"[1,2", b"{'a': 1}", b"nul", b"{\"a\" 1}"]), {400}
    # random bytes: almost never JSON; a lone digit or whitespace would be
    data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    try:
        json.loads(data)
        return kind, "POST", q, data, {200}
    except (ValueError, UnicodeDecodeError):
        return kind, "POST", q, data, {400}


def cmd_fuzz(a):
    host, port, path = split(a.url)
    rng = random.Random(a.seed)
    jobs = [random_body(rng) for _ in range(a.n)]
    huge = b'{"blob": "' + b"x" * (7 * 1024 * 1024) + b'"}'
    for i in rng.sample(range(a.n), min(a.huge, a.n)):
        jobs[i] = ("huge", "POST", "", huge, {413})
    hist, bad, lock = {}, [], threading.Lock()
    it = iter(enumerate(jobs))

    def worker():
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                return
            i, (kind, method, q, body, ok) = nxt
            try:
                st, _, data = request(host, port, method, path + q, body)
            except Exception as e:  # noqa: BLE001 (every failure is reported)
                with lock:
                    bad.append("#%d %s: %s" % (i, kind, e))
                continue
            with lock:
                hist["%s %d" % (kind, st)] = hist.get("%s %d" % (kind, st), 0) + 1
                if st not in ok:
                    bad.append("#%d %s: status %d, wanted %s: %s" % (i, kind, st, sorted(ok), data[:200]))

    # Slow clients: half a request, then silence while the others run.
    slow = []
    for _ in range(a.slow):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
        slow.append(s)
    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in slow:
        s.close()
    print("fuzz: %d requests (seed %d, %d threads, %d huge, %d slow clients) in %.1f s"
          % (a.n, a.seed, a.threads, a.huge, a.slow, time.time() - t0))
    for k in sorted(hist):
        print("  %-12s %d" % (k, hist[k]))
    for b in bad[:20]:
        print("  UNEXPECTED " + b)
    print("fuzz: %d unexpected" % len(bad))
    return 1 if bad else 0


def cmd_loop(a):
    host, port, path = split(a.url)
    import os
    i = 0
    while not os.path.exists(a.stopfile):
        i += 1
        try:
            st, h, _ = request(host, port, "POST", path, json.dumps({"n": i}).encode(), timeout=30)
            print("%.3f %d %s" % (time.time(), st, h.get("x-instance", "-")), flush=True)
        except Exception as e:  # noqa: BLE001
            print("%.3f ERR %s" % (time.time(), str(e).replace(" ", "_")), flush=True)
        time.sleep(0.05)
    return 0


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def cmd_time(a):
    host, port, path = split(a.url)
    body = a.body.encode()
    lat, statuses, inst, errors, lock = [], {}, {}, [0], threading.Lock()
    end = time.time() + a.seconds if a.seconds > 0 else None
    count = iter(range(a.n)) if end is None else None

    def one(conn):
        t0 = time.perf_counter()
        try:
            st, h, _ = request(host, port, "POST", path, body, conn=conn, timeout=60)
        except Exception:  # noqa: BLE001
            with lock:
                errors[0] += 1
            return False
        ms = (time.perf_counter() - t0) * 1000
        with lock:
            lat.append(ms)
            statuses[st] = statuses.get(st, 0) + 1
            i = h.get("x-instance", "-")
            inst[i] = inst.get(i, 0) + 1
            if st != 200:
                errors[0] += 1
        return True

    def worker():
        conn = Connection(host, port, timeout=60) if end else None
        while True:
            if end is not None:
                if time.time() >= end:
                    break
            else:
                with lock:
                    if next(count, None) is None:
                        break
            if not one(conn) and conn is not None:
                conn.close()
                conn = Connection(host, port, timeout=60)
        if conn is not None:
            conn.close()

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(a.conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    print(json.dumps({"n": len(lat), "errors": errors[0], "statuses": statuses,
                      "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                      "max_ms": round(max(lat) if lat else 0, 2), "rps": round(len(lat) / wall, 1),
                      "instances": inst}))
    return 0 if errors[0] == 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fuzz")
    f.add_argument("url")
    f.add_argument("--n", type=int, default=1000)
    f.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    f.add_argument("--threads", type=int, default=4)
    f.add_argument("--huge", type=int, default=3)
    f.add_argument("--slow", type=int, default=10)
    lp = sub.add_parser("loop")
    lp.add_argument("url")
    lp.add_argument("stopfile")
    t = sub.add_parser("time")
    t.add_argument("url")
    t.add_argument("--n", type=int, default=20)
    t.add_argument("--body", default="{}")
    t.add_argument("--conc", type=int, default=1)
    t.add_argument("--seconds", type=float, default=0)
    a = p.parse_args()
    return {"fuzz": cmd_fuzz, "loop": cmd_loop, "time": cmd_time}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
