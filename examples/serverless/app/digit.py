"""doc-digit: the fallback for pages with (almost) no text: which digit is it?

A support vector classifier (scikit-learn SVC, RBF kernel) is trained when the
module is imported, on the 1,797 8x8 handwritten digits bundled with
scikit-learn (sklearn.datasets.load_digits: no download), so an instance
pays for training once, at /init. Event: the output of doc-ocr or
doc-preprocess ({"image": "<base64 PNG>", ...}). The image is reduced the
way the training data was made (UCI optdigits: the ink's bounding box
scaled into 32x32, ink pixels counted per 4x4 block: 0..16) and classified.
Returns {"kind": "digit", "name", "digit", "scores" (the one-vs-rest
decision value per digit, rounded), "text" (what OCR read, if anything)}.
"""
import base64
import binascii
import io

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.svm import SVC

MAX_PIXELS = 25_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_DIGITS = load_digits()
MODEL = SVC(gamma=0.001, C=10.0, decision_function_shape="ovr").fit(_DIGITS.data, _DIGITS.target)


class BadInput(ValueError):
    pass


def features(img):
    """64 values 0..16 like load_digits().data, from a black-on-white image."""
    ink = np.asarray(img.convert("L")) < 128
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        raise BadInput("the image has no ink")
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = crop * 255
    # The optdigits digits fill the 32x32 box's height with a pixel or two to spare.
    box = Image.fromarray(square).resize((28, 28), Image.LANCZOS)
    canvas = Image.new("L", (32, 32), 0)
    canvas.paste(box, (2, 2))
    bits = np.asarray(canvas) >= 128
    return bits.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float64).reshape(1, 64)


def handler(event, context):
    data = event.get("image")
    if not isinstance(data, str):
        raise BadInput('no image: want {"image": "<base64 PNG>"}')
    try:
        img = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))  # the header only
        if img.width * img.height > MAX_PIXELS:
            raise BadInput("image is %dx%d: more than %d pixels" % (img.width, img.height, MAX_PIXELS))
        img.load()
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError) as e:
        raise BadInput("not an image: %s" % e)
    x = features(img)
    scores = MODEL.decision_function(x)[0]
    return {
        "kind": "digit",
        "name": event.get("name", "upload"),
        "digit": int(MODEL.predict(x)[0]),
        "scores": [round(float(s), 3) for s in scores],
        "text": event.get("text", ""),
    }
