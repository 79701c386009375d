"""hello: the output depends on the input.

mkctl fn invoke hello -d '{"name": "Ada", "text": "to be or not to be"}'
mkctl fn invoke hello -q name=Ada
"""
import os


def handler(event, context):
    name = event.get("name") or "world"
    text = event.get("text") or ""
    words = text.split()
    return {
        "greeting": "%s, %s!" % (os.environ.get("GREETING", "Hello"), name),
        "words": len(words),
        "longest": max(words, key=len) if words else None,
        "function": context.function_name,
        "revision": context.revision,
    }
