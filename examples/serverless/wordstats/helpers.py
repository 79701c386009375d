"""Helpers for wordstats/main.py."""
import collections
import re

_WORD = re.compile(r"[\w']+")


def words(text):
    return [w.lower() for w in _WORD.findall(text)]


def most_common(words, n):
    return [[w, c] for w, c in collections.Counter(words).most_common(max(0, n))]
