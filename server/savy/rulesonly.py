"""The rules' deterministic fixes: each flagged phrase that its rule has a [[replace]] for is
replaced where it stands, so that the sentence still reads right (compose.py builds on this)."""

from __future__ import annotations

import re

from .analyse import Analysis


# where a sentence starts: the text's start, a line break, or . ! ? (and a closing quote) and space
_SENTENCE_START = re.compile(r"(?:\A|\n|[.!?][\"'”’»)]*[ \t]+)[ \t]*\Z")
_END_PUNCT = re.compile(r"[.!?…]+\s*\Z")
_KEEPS_CAPITAL = re.compile(r"I(?:\b|['’])")  # English "I", "I'm", "I'll"


def splice(text: str, start: int, end: int, fixed: str) -> str:
    """Put `fixed` in place of text[start:end] so that it reads right where it lands: a capital
    letter where a sentence starts, lower case inside one, no sentence-ending punctuation where the
    sentence goes on (", your refund …"), a sentence end where the flagged text had one."""
    before, original, after = text[:start], text[start:end], text[end:]
    at_start = _SENTENCE_START.search(before) is not None
    if not fixed.strip():  # a removal: no stray comma where a sentence now starts, no " ,"
        if at_start:
            after = re.sub(r"\A[ \t]*[,;:]?[ \t]*", "", after)
            after = after[:1].upper() + after[1:]
        elif re.match(r"[,.!?;:]", after):
            before = before.rstrip(" \t")
        return before + fixed + after
    nxt = after.lstrip(" \t")[:1]
    if end_mark := _END_PUNCT.search(original):  # the flagged text ended its sentence: so does the fix
        if not _END_PUNCT.search(fixed):
            fixed += end_mark.group(0)
    elif nxt and (nxt in ",;:–—-" or nxt.islower()):  # the sentence goes on after the fix
        fixed = _END_PUNCT.sub("", fixed)
    letter = re.search(r"[^\W\d_]", fixed)
    if letter:
        i = letter.start()
        if at_start and not fixed[:i].strip():
            fixed = fixed[:i] + fixed[i].upper() + fixed[i + 1:]
        elif not at_start and not _KEEPS_CAPITAL.match(fixed, i):
            fixed = fixed[:i] + fixed[i].lower() + fixed[i + 1:]
    return before + fixed + after


def fix_findings(a: Analysis, draft: str) -> str:
    """Replace each flagged phrase that its rule has a [[replace]] for (the finding's `suggestion`,
    computed by the analyzer for this language and form of address); leave the rest as written."""
    text = draft
    for f in sorted(a.findings, key=lambda f: f.start, reverse=True):
        if f.suggestion is not None:
            text = splice(text, f.start, f.end, f.suggestion)
    return re.sub(r"[ \t]{2,}", " ", text).strip()
