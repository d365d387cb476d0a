"""The guard stage: a rewrite is returned only if it keeps every fact of the draft and adds none.

Every model rewrite passes `check` before it leaves the server; so does the rules-only rewrite.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property

from .analyse import WEEKDAYS, Analysis, Finding, address_markers, detect_language, extract_facts, find_patterns
from .rules import FLAGS, RuleBook

_WORD = re.compile(r"\w+", re.UNICODE)
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_DIGITS = re.compile(r"\d+")


@dataclass
class Guard:
    book: RuleBook

    @cached_property
    def _cfg(self) -> dict:
        return tomllib.loads(self.book.text("guard.toml"))

    @cached_property
    def _promises(self) -> dict[str, list[re.Pattern[str]]]:
        return {lg: [re.compile(p, FLAGS) for p in pats]
                for lg, pats in self._cfg["promises"].items()}

    @cached_property
    def _leaks(self) -> list[re.Pattern[str]]:
        return [re.compile(p, FLAGS) for p in self._cfg["leaks"]["all"]]

    def check(self, a: Analysis, draft: str, rewrite: str, style: bool = True) -> list[str]:
        """Problems with `rewrite` as a rewrite of `draft`; empty means it may be returned.
        With style=False, an anti-pattern the rewrite still contains is not counted (the
        rules-only rewrite, which changes only what its rule files can fix safely)."""
        text = rewrite.strip()
        if not text:
            return ["empty rewrite"]
        problems: list[str] = []
        problems += self._facts(draft, a, text)
        problems += self._promises_added(a.language, draft, text)
        problems += [f"leaked prompt text {m.group(0)!r}" for rx in self._leaks
                     for m in [rx.search(text)] if m]
        if detect_language(text, fallback=a.language) != a.language:
            problems.append(f"language changed from {a.language}")
        wrong = address_markers(text, a.address)
        if wrong:
            problems.append(f"form of address changed from {a.address}: {', '.join(wrong[:3])}")
        problems += _repetition(text)
        cfg = self._cfg["length"]
        n, d = len(text), len(draft.strip())
        if n < cfg["min_ratio"] * d:
            problems.append(f"too short ({n} chars for a {d}-char draft)")
        if n > cfg["max_ratio"] * d + cfg["max_extra_chars"]:
            problems.append(f"too long ({n} chars for a {d}-char draft)")
        if style:
            problems += self.leftovers(a, text)
        return problems

    def leftover_findings(self, a: Analysis, text: str) -> list[Finding]:
        """The anti-patterns `text` still contains, with their spans in `text`."""
        return find_patterns(self.book, text, a.language, a.customer_emotion, a.signals)

    def leftovers(self, a: Analysis, text: str) -> list[str]:
        left = self.leftover_findings(a, text)
        if not left:
            return []
        return ["still contains " + ", ".join(f'"{f.text}" ({f.rule_id})' for f in left[:3])]

    @cached_property
    def _our_words(self) -> frozenset[str]:
        """Capitalised words our own phrases and fixes may add ("Kiitos", "Thank"): not names."""
        texts = [p for part in self.book.phrases.values() for lang in part.values()
                 for table in lang.values() for opts in table.values() for p in opts]
        texts += [r.with_ for rule in self.book.rules for r in rule.replacements]
        return frozenset(w.lower() for t in texts for w in _WORD.findall(t))

    def _facts(self, draft: str, a: Analysis, text: str) -> list[str]:
        problems = []
        got = extract_facts(text)
        got_keys = {f.key for f in got}
        low = text.lower()
        for f in a.facts:
            # jargon ("L2") or an endearment ("Sir") inside a flagged phrase may be fixed away
            flagged = f.kind in ("id", "name", "when") and any(
                x.start <= f.start and f.end <= x.end for x in a.findings)
            # as a whole token: the "3" of "3 working days" is not kept by "EXC-3390"
            present = re.search(rf"(?<![\w]){re.escape(f.text)}(?![\w])", text) is not None
            if not present and f.key not in got_keys and not flagged and not (
                    f.kind == "name" and f.text.lower() in low):
                problems.append(f"lost fact {f.text!r}")
        want_keys = {f.key for f in a.facts}
        draft_low = draft.lower()
        for f in got:
            if f.kind == "name" and f.text.lower() in self._our_words:
                continue
            # "ma 17.3." -> "maanantaina 17.3.": a weekday spelled out next to a date the draft gives
            if f.kind == "when" and f.key[5:] in WEEKDAYS and any(x.kind == "datetime" for x in a.facts):
                continue
            if f.key not in want_keys and f.text.lower() not in draft_low:
                problems.append(f"new {f.kind} {f.text!r}")
        # the last line of defence: no digit run that the draft does not have
        draft_digits = set(_DIGITS.findall(draft))
        extra = sorted(set(_DIGITS.findall(text)) - draft_digits)
        if extra and not any(p.startswith("new ") for p in problems):
            problems.append("new number " + ", ".join(extra[:3]))
        return problems

    def _promises_added(self, lang: str, draft: str, text: str) -> list[str]:
        out = []
        for rx in self._promises.get(lang, []):
            m = rx.search(text)
            if m and not rx.search(draft):
                out.append(f"new promise {m.group(0)!r}")
        return out


def _repetition(text: str) -> list[str]:
    sents = [re.sub(r"\W+", " ", s).strip().lower() for s in _SENT_SPLIT.split(text)]
    sents = [s for s in sents if len(s) > 12]
    if len(sents) != len(set(sents)):
        return ["repeats a sentence"]
    words = [w.lower() for w in _WORD.findall(text)]
    seen: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 3):
        g = tuple(words[i:i + 4])
        seen[g] = seen.get(g, 0) + 1
        if seen[g] >= 3:
            return [f"repetition loop ({' '.join(g)!r})"]
    return []
