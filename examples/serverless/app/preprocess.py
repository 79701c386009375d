"""doc-preprocess: an image in, a clean black-on-white page out.

Event: {"image": "<base64 PNG/JPEG/...>", "name": "page.png", "deskew": true}
or a fileChange trigger event with includeContent ({"content": "<base64>",
"encoding": "base64", "name": ...}). Returns {"name", "image" (base64 PNG,
1-bit-looking grayscale: 0 ink, 255 paper), "width", "height", "angle"
(degrees the page was rotated by to deskew it), "threshold"}.

Steps: grayscale → 3x3 median (specks) → Otsu threshold (numpy) → deskew (the angle in ±MAX_ANGLE
whose rotation makes the row sums of ink most uneven: text lines are then
horizontal) → threshold again. Runs in minik8s.io/python-ml-runtime:1.
Bad input raises BadInput: the invocation answers 500 {"error": "BadInput",
"message": ...} and a workflow step fails with error BadInput.
"""
import base64
import binascii
import io

import numpy as np
from PIL import Image, ImageFilter

MAX_INPUT = 4 << 20  # decoded bytes
MAX_PIXELS = 25_000_000
MAX_ANGLE = 8.0
ANGLE_STEP = 0.5
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses larger images (decompression bombs)


class BadInput(ValueError):
    pass


def image_bytes(event):
    if "image" in event:
        data = event["image"]
    elif "content" in event:
        if event.get("encoding", "base64") != "base64":
            raise BadInput("the file's content is text, not an image")
        data = event["content"]
    else:
        raise BadInput('no image: send {"image": "<base64 PNG>"} (or a fileChange event with includeContent)')
    if not isinstance(data, str):
        raise BadInput("image must be a base64 string")
    if len(data) > MAX_INPUT * 4 // 3 + 4:
        raise BadInput("image is larger than %d bytes" % MAX_INPUT)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadInput("image is not base64: %s" % e)


def otsu(gray):
    """The threshold (0..255) that best separates ink from paper."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    levels = np.arange(256)
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * levels)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 / total - m0) ** 2 / (w0 * w1)
    between = np.nan_to_num(between)
    return int(np.argmax(between))


def skew_angle(img, threshold):
    """Degrees to rotate img (counter-clockwise) by so that its text lines are horizontal."""
    small = img
    if img.width > 600:
        small = img.resize((600, max(1, img.height * 600 // img.width)), Image.BILINEAR)
    ink = Image.fromarray(((np.asarray(small) <= threshold) * 255).astype(np.uint8))
    if np.count_nonzero(np.asarray(ink)) < 50:
        return 0.0
    best, best_score = 0.0, -1.0
    steps = int(MAX_ANGLE / ANGLE_STEP)
    for i in range(-steps, steps + 1):
        angle = i * ANGLE_STEP
        rows = np.asarray(ink.rotate(angle, resample=Image.NEAREST, expand=True)).sum(axis=1,
                                                                                        dtype=np.float64)
        score = float(np.sum(np.diff(rows) ** 2))
        if score > best_score + 1e-9 or (abs(score - best_score) <= 1e-9 and abs(angle) < abs(best)):
            best, best_score = angle, score
    return best


def handler(event, context):
    raw = image_bytes(event)
    try:
        img = Image.open(io.BytesIO(raw))  # reads the header only
        if img.width * img.height > MAX_PIXELS:
            raise BadInput("image is %dx%d: more than %d pixels" % (img.width, img.height, MAX_PIXELS))
        img.load()
    except (OSError, Image.DecompressionBombError) as e:
        raise BadInput("not an image Pillow can read: %s" % e)
    # A 3x3 median takes out specks of dust without blurring strokes.
    gray = img.convert("L").filter(ImageFilter.MedianFilter(3))
    threshold = otsu(np.asarray(gray))
    deskew = str(event.get("deskew", True)).lower() not in ("false", "0", "no")
    angle = skew_angle(gray, threshold) if deskew else 0.0
    if angle:
        gray = gray.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
        threshold = otsu(np.asarray(gray))
    clean = np.where(np.asarray(gray) <= threshold, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(clean).save(out, format="PNG", optimize=False)
    return {
        "name": event.get("name", "upload"),
        "image": base64.b64encode(out.getvalue()).decode("ascii"),
        "width": int(clean.shape[1]),
        "height": int(clean.shape[0]),
        "angle": angle,
        "threshold": threshold,
    }
