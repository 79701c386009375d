#!/usr/bin/python3
"""Sends documents through the pipeline over the gateway and times them.

  client.py chain GATEWAY NAMESPACE FILE.json...     the functions one by one
  client.py workflow GATEWAY NAMESPACE FILE.json...  POST /workflows/NS/docpipe

GATEWAY is http://HOST:PORT (a Function's status.url up to /functions/...).
FILE.json is a request body as make_samples.py writes it ({"name", "image"}).
Prints one JSON object per file: {"file", "result" (the pipeline's answer,
without the echoed text), "ocrText", "path" (functions called), "ms" (wall
time), "stepsMs"}. Exits 1 on an HTTP error, printing the answer. A 503 (no instance became
ready within the gateway's queue timeout, 30 s by default) is tried again,
twice: the first python3-ml instance on a node waits for the node to import
the ML image, which can take longer on a busy machine. Python standard
library only.
"""
import json
import sys
import time
import urllib.error
import urllib.request

MIN_WORDS = 8  # workflow.yaml's Choice
TIMEOUT = 300


RETRIES_503 = 2


def post(url, body):
    data = json.dumps(body).encode()
    t0 = time.monotonic()
    for attempt in range(RETRIES_503 + 1):
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                out = json.loads(r.read())
            break
        except urllib.error.HTTPError as e:
            answer = e.read()[:2000].decode("utf-8", "replace")
            if e.code == 503 and attempt < RETRIES_503:
                sys.stderr.write("POST %s: 503, trying again: %s\n" % (url, answer))
                continue
            sys.stderr.write("POST %s: HTTP %d: %s\n" % (url, e.code, answer))
            sys.exit(1)
    return out, (time.monotonic() - t0) * 1000.0


def chain(gw, ns, body):
    fn = lambda name: "%s/functions/%s/%s" % (gw, ns, name)
    steps = []
    t0 = time.monotonic()
    pre, ms = post(fn("doc-preprocess"), body)
    steps.append(ms)
    ocr, ms = post(fn("doc-ocr"), pre)
    steps.append(ms)
    last = "doc-summarise" if ocr["words"] >= MIN_WORDS else "doc-digit"
    res, ms = post(fn(last), ocr)
    steps.append(ms)
    total = (time.monotonic() - t0) * 1000.0
    return res, ocr["text"], ["doc-preprocess", "doc-ocr", last], total, steps


def workflow(gw, ns, body):
    res, ms = post("%s/workflows/%s/docpipe" % (gw, ns), body)
    return res, res.get("text", ""), ["docpipe"], ms, []


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ("chain", "workflow"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    mode, gw, ns = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    for path in sys.argv[4:]:
        with open(path) as f:
            body = json.load(f)
        res, text, called, ms, steps = (chain if mode == "chain" else workflow)(gw, ns, body)
        res = dict(res)
        res.pop("text", None)
        print(json.dumps({"file": path, "result": res, "ocrText": text, "path": called,
                          "ms": round(ms, 1), "stepsMs": [round(s, 1) for s in steps]}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
