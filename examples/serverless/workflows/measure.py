"""measure: the length of a text, the first state of the classify workflow.

Input {"text": "..."} → {"value": len(text), "words": N, "text": text,
"measuredBy": "<function>", "pod": "<instance>"}. The next state (tag-big or
tag-small, chosen on $.value) receives exactly this output.
"""
import socket


def handler(event, context):
    text = event.get("text")
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return {
        "value": len(text),
        "words": len(text.split()),
        "text": text,
        "measuredBy": context.function_name,
        "pod": socket.gethostname(),
    }
