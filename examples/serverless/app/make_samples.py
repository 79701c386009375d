#!/usr/bin/python3
"""Makes the document pipeline's sample inputs, whose right answers are known.

  make_samples.py [OUTDIR]     (default: ./samples)

Writes, with Pillow and Debian's DejaVu fonts (python3-pil, fonts-dejavu-core;
scripts/deps.sh installs both):
  page.png     a page of English text (PAGE_TEXT), rotated by PAGE_SKEW degrees
               like a crooked scan, with a little noise
  digit.png    one digit (DIGIT) drawn large in a bold font, nothing else
  page.json, digit.json   request bodies: {"name", "image": "<base64 PNG>"}
  expected.json  what the pipeline must find: words OCR must read, the digit
Deterministic: the same files every time (fixed noise seed, no timestamps).
"""
import base64
import json
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
PAGE_TEXT = (
    "Serverless functions run on a small cluster. A workflow chains the functions "
    "into a pipeline. The pipeline reads a scanned page, cleans the image and "
    "extracts the text with a recognition model. The text is then summarised: the "
    "most frequent words become keywords, and the sentences with the most keywords "
    "form the summary. Short inputs such as a single digit take another path, where "
    "a classifier trained on handwritten digits recognises the number."
)
# Words OCR must find on the page (lower case).
PAGE_WORDS = ["serverless", "functions", "cluster", "workflow", "pipeline", "scanned",
              "keywords", "summary", "classifier", "handwritten"]
PAGE_SKEW = 2.5
DIGIT = 7


def wrap(draw, text, font, width):
    lines, line = [], ""
    for word in text.split():
        trial = (line + " " + word).strip()
        if draw.textlength(trial, font=font) <= width:
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def page():
    font = ImageFont.truetype(os.path.join(FONT_DIR, "DejaVuSerif.ttf"), 26)
    img = Image.new("L", (1100, 560), 255)
    draw = ImageDraw.Draw(img)
    y = 50
    for line in wrap(draw, PAGE_TEXT, font, 1000):
        draw.text((50, y), line, font=font, fill=20)
        y += 40
    rng = random.Random(14)
    px = img.load()
    for _ in range(1500):  # specks of dust
        x, y = rng.randrange(img.width), rng.randrange(img.height)
        px[x, y] = rng.randrange(0, 256)
    img = img.rotate(-PAGE_SKEW, resample=Image.BICUBIC, expand=True, fillcolor=255)
    return img


def digit():
    font = ImageFont.truetype(os.path.join(FONT_DIR, "DejaVuSans-Bold.ttf"), 160)
    img = Image.new("L", (200, 220), 255)
    draw = ImageDraw.Draw(img)
    draw.text((100, 110), str(DIGIT), font=font, fill=0, anchor="mm")
    return img


def write_png(img, path):
    img.save(path, format="PNG")
    with open(path, "rb") as f:
        return f.read()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "samples"
    os.makedirs(out, exist_ok=True)
    for name, img in (("page", page()), ("digit", digit())):
        data = write_png(img, os.path.join(out, name + ".png"))
        body = {"name": name + ".png", "image": base64.b64encode(data).decode("ascii")}
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(body, f)
    expected = {"page": {"kind": "text", "words": PAGE_WORDS, "skew": PAGE_SKEW},
                "digit": {"kind": "digit", "digit": DIGIT}}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print("wrote %s/{page,digit}.png, {page,digit}.json, expected.json" % out)


if __name__ == "__main__":
    main()
