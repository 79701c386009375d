"""doc-ocr: text from a clean page image with tesseract (English LSTM model).

Event: the output of doc-preprocess ({"image": "<base64 PNG>", "name", ...}).
Returns {"name", "text", "words" (count of words of two or more letters:
the workflow's Choice routes on it), "image" (passed on for the digit
fallback), "ocrMs"}.

tesseract runs as a child process with an argument list (no shell), the PNG
on stdin and the text on stdout, with a timeout inside the invocation's
deadline. The model is Debian's tesseract-ocr-eng (LSTM, --oem 1); nothing
is downloaded. Runs in minik8s.io/python-ml-runtime:1.
"""
import base64
import binascii
import re
import subprocess
import time

TESSERACT = "/usr/bin/tesseract"
DEFAULT_TIMEOUT = 30.0
WORD = re.compile(r"[A-Za-z]{2,}")


class BadInput(ValueError):
    pass


class OcrFailed(RuntimeError):
    pass


def timeout_for(context):
    try:
        left = context.get_remaining_time_in_millis() / 1000.0 - 1.0
    except Exception:  # no deadline known
        return DEFAULT_TIMEOUT
    return max(1.0, min(DEFAULT_TIMEOUT, left))


def handler(event, context):
    data = event.get("image")
    if not isinstance(data, str):
        raise BadInput('no image: want {"image": "<base64 PNG>"} (the output of doc-preprocess)')
    try:
        png = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadInput("image is not base64: %s" % e)
    # --psm 3: automatic page segmentation; a lone digit yields little or no text.
    argv = [TESSERACT, "stdin", "stdout", "-l", "eng", "--oem", "1", "--psm", "3"]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, input=png, capture_output=True, timeout=timeout_for(context),
                              check=False)
    except subprocess.TimeoutExpired:
        raise OcrFailed("tesseract did not finish in time")
    ms = (time.monotonic() - t0) * 1000.0
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrFailed("tesseract exited %d: %s" % (proc.returncode, err[-1] if err else ""))
    text = proc.stdout.decode("utf-8", "replace").replace("\f", "").strip()
    return {
        "name": event.get("name", "upload"),
        "text": text,
        "words": len(WORD.findall(text)),
        "image": data,
        "ocrMs": round(ms, 1),
    }
