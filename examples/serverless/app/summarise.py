"""doc-summarise: keywords and a two-sentence summary of OCR text.

Event: the output of doc-ocr ({"text", "words", "name", ...}). Returns
{"kind": "text", "name", "words", "keywords" (the most frequent words that
are not stopwords, most frequent first, ties alphabetical), "summary" (the
best-scoring sentences in their original order: a sentence scores the mean
frequency of its non-stopwords; fragments of fewer than three score 0), "text"}. Pure Python; the image is not
passed on.
"""
import re
from collections import Counter

KEYWORDS = 8
SUMMARY_SENTENCES = 2
MIN_SENTENCE_WORDS = 3
TOKEN = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
one two into onto via per may might must shall upon then thus such each every
""".split())


def handler(event, context):
    text = event.get("text")
    if not isinstance(text, str):
        raise ValueError('no text: want {"text": "..."} (the output of doc-ocr)')
    flat = " ".join(text.split())
    words = [w for w in TOKEN.findall(flat.lower()) if w not in STOPWORDS and len(w) > 2]
    freq = Counter(words)
    keywords = [w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:KEYWORDS]]
    sentences = [s.strip() for s in SENTENCE_END.split(flat) if s.strip()]

    def score(s):
        ws = [w for w in TOKEN.findall(s.lower()) if w not in STOPWORDS and len(w) > 2]
        # Fragments (OCR splits a sentence at a stray period) do not summarise.
        return sum(freq[w] for w in ws) / len(ws) if len(ws) >= MIN_SENTENCE_WORDS else 0.0

    best = sorted(range(len(sentences)), key=lambda i: (-score(sentences[i]), i))[:SUMMARY_SENTENCES]
    return {
        "kind": "text",
        "name": event.get("name", "upload"),
        "words": event.get("words", len(words)),
        "keywords": keywords,
        "summary": " ".join(sentences[i] for i in sorted(best)),
        "text": text,
    }
