"""The deterministic rewrite that needs no model: fix flagged phrases from the rule files and add an
emotion-appropriate opening and closing from `prompts/phrases.toml`, in the draft's language."""

from __future__ import annotations

import re
import zlib

from .analyse import _SIGNOFF, Analysis
from .rules import RuleBook

# The customer signals that choose an opening/closing, strongest first; then the emotion.
_OPENING_ORDER = ("valuable_help", "shame", "worry", "waiting", "thanks", "praise", "humour", "order")
# a greeting line ("Hei Maria,\n") or a greeting at the start of the first line ("Hi John, ...")
_GREETING = re.compile(r"^\s*(?:hei|moi|hyvä|terve|hello|hi|hey|dear|good (?:morning|afternoon|evening))\b"
                       r"(?:[^\n]*\n+|[^\n.!?,]{0,40}[,!]\s*)", re.IGNORECASE)


def _pick(options: list[str], seed: str) -> str | None:
    if not options:
        return None
    return options[zlib.crc32(seed.encode("utf-8")) % len(options)]


def _phrase(book: RuleBook, part: str, a: Analysis, seed: str) -> str | None:
    keys = [s for s in _OPENING_ORDER if s in a.signals]
    if a.customer_emotion == "negative":
        # an upset customer gets no smile and no "thanks for your order!": calm, matter-of-fact
        keys = [k for k in keys if k not in ("humour", "praise", "thanks", "order")]
    for key in [*keys, a.customer_emotion]:
        opts = book.phrase_list(part, a.language, key, a.address)
        if key in book.phrases.get(part, {}).get(a.language, {}):
            return _pick(opts, seed)
    return None


def _first_word(s: str) -> str:
    m = re.match(r"\W*(\w+)", s)
    return m.group(1).lower() if m else ""


def rewrite_rules(book: RuleBook, a: Analysis, draft: str) -> str:
    """Fix the analysis' findings in `draft`, then frame it with an opening and a closing."""
    text = draft
    for f in sorted(a.findings, key=lambda f: f.start, reverse=True):
        rule = book.by_id[f.rule_id]
        for rep in rule.replacements:
            if rep.lang != a.language or (rep.address and a.address in ("te", "sinä") and rep.address != a.address):
                continue
            if rep.pattern.search(f.text):
                fixed = rep.pattern.sub(rep.with_, f.text, count=1)
                text = text[:f.start] + fixed + text[f.end:]
                break
    text = re.sub(r"[ \t]{2,}", " ", text).strip()

    head, body = "", text
    g = _GREETING.match(body)
    if g:
        head, body = body[:g.end()], body[g.end():]
    tail = ""
    signoffs = list(_SIGNOFF.finditer(body))
    s = signoffs[-1] if signoffs else None
    if s is not None and s.end() >= len(body.rstrip()) - 1:
        body, tail = body[:s.start()].rstrip(), body[s.start():]

    seed = draft
    opening = _phrase(book, "opening", a, seed)
    if opening and _first_word(opening) != _first_word(body) and opening.lower() not in body.lower():
        if head and not head.endswith("\n"):  # "Hi John, thank you …! Your order …"
            if not re.match(r"I\b", opening):  # English "I" stays capitalised
                opening = opening[0].lower() + opening[1:]
            body = body[:1].upper() + body[1:]
        body = f"{opening} {body}"
    closing = _phrase(book, "closing", a, seed + "|c")
    if closing and closing.lower() not in body.lower():
        sep = " " if "\n" not in body.strip() else "\n\n"
        body = f"{body.rstrip()}{sep}{closing}"
    return (head + body + ("\n" + tail.lstrip("\n") if tail else "")).strip()
