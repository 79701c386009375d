"""wordstats: a package of two modules (main imports helpers).

Zip the files, not the folder:  (cd examples/serverless/wordstats && zip -q ../wordstats.zip *.py)
or with the stdlib:             python3 examples/serverless/make_zip.py
"""
import helpers


def handler(event, context):
    text = event.get("text") or ""
    top = int(event.get("top", 3))
    words = helpers.words(text)
    return {
        "words": len(words),
        "unique": len(set(words)),
        "top": helpers.most_common(words, top),
        "function": context.function_name,
    }
