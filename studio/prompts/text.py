"""Text helpers of the prompts: one-line clauses and sentences, display names, words and
whole-phrase matching."""

from __future__ import annotations

import re

from studio.names import display_name

_WORD_RE = re.compile(r"#[0-9a-f]{6}\b|\d+mm\b|[^\W\d_]+(?:'[^\W\d_]+)*")


_SPACE_RE = re.compile(r"\s+")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def _one_line(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def _clause(text: str) -> str:
    """Single-line text without trailing punctuation, to be joined into a sentence."""
    return _one_line(text).rstrip(" .;,:")


def _sentence(text: str) -> str:
    """Single-line text ending in one full stop (or its own ! / ?)."""
    text = _one_line(text).rstrip(" ;,:")
    if not text:
        return ""
    return text if text[-1] in ".!?\"')" else text + "."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _display_name(name: str) -> str:
    """'OSKAR'S UMBRELLA SHOP' -> "Oskar's Umbrella Shop"; mixed-case names stay as typed."""
    return display_name(_one_line(name))


def _norm(text: str) -> str:
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    """Lower-case word tokens; possessive 's dropped so "Oskar's" matches "Oskar"."""
    return [w.removesuffix("'s") for w in _WORD_RE.findall(text.lower())]


def _contains_phrase(haystack: str, phrase: str) -> bool:
    """Whole-word, case-insensitive phrase match."""
    needle = _norm(phrase)
    return bool(needle) and f" {needle} " in f" {_norm(haystack)} "


def _count_words(text: str) -> int:
    return len(text.split())


def _seconds(value: float) -> str:
    return f"{value:g}"
