#!/usr/bin/env python3
"""Builds wordstats.zip from wordstats/ (the modules at the top level of the zip).

python3 examples/serverless/make_zip.py [OUT.zip]
"""
import os
import sys
import zipfile

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "wordstats")
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "wordstats.zip")
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src)):
        if name.endswith(".py"):
            z.write(os.path.join(src, name), name)
print(out)
