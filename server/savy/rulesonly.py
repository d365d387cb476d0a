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


def rewrite_rules(book: RuleBook, a: Analysis, draft: str) -> str:
    """Fix the analysis' findings in `draft`, then frame it with an opening and a closing."""
    text = fix_findings(a, draft)

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
    # a thanking customer, and the draft opened with a phrase a rule replaced ("Ei kestä." -> "Ole hyvä,
    # mukava olla avuksi!"): that is the opening; a second one reads like two thank-yous in a row
    g0 = _GREETING.match(draft)
    lead = len(draft) - len(draft[g0.end() if g0 else 0:].lstrip())
    fixed_opening = a.customer_emotion == "positive" and any(
        f.start <= lead and f.suggestion is not None for f in a.findings)
    if opening and not fixed_opening and _first_word(opening) != _first_word(body) and opening.lower() not in body.lower():
        if head and not head.endswith("\n"):  # "Hi John, thank you …! Your order …"
            if not re.match(r"I\b", opening):  # English "I" stays capitalised
                opening = opening[0].lower() + opening[1:]
            body = body[:1].upper() + body[1:]
        body = f"{opening} {body}"
    closing = _phrase(book, "closing", a, seed + "|c")
    if closing and closing.lower() not in body.lower():
        sep = " " if "\n" not in body.strip() else "\n\n"
        body = body.rstrip()
        if sep == " " and re.search(r"[\w€%)]\Z", body):  # "… is on its way" + "Have a good day!"
            body += "."
        body = f"{body}{sep}{closing}"
    return (head + body + ("\n" + tail.lstrip() if tail else "")).strip()  # " t. Laura" -> "t. Laura"
