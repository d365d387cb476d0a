"""The guard stage: a rewrite is returned only if it keeps every fact of the draft and adds none.

Every model rewrite passes `check` before it leaves the server; so does the rules-only rewrite.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .analyse import WEEKDAYS, Analysis, Fact, address_markers, detect_language, extract_facts, find_patterns
from .compose import load_bank
from .rules import FLAGS, RuleBook

_WORD = re.compile(r"\w+", re.UNICODE)
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_DIGITS = re.compile(r"\d+")
# a word, hyphenated parts included ("opiskelija-alennus"); not a case ending after a number ("10:ksi")
_FI_WORD = re.compile(r"(?<![\w:])[^\W\d_]+(?:-[^\W\d_]+)*(?![\w-])")

log = logging.getLogger("savy.guard")


def finnish_lexicon() -> Callable[[str], bool] | None:
    """`known(word)` from Voikko's Finnish morphology (pyvoikko, pure Python: the `finnish` extra),
    or None when it is not installed. Loading the transducer takes a few seconds: once per process."""
    try:
        import pyvoikko  # type: ignore[import-untyped]
    except ImportError:
        log.warning("pyvoikko is not installed: Finnish rewrites are not checked for made-up words "
                    "(pip install 'savy[finnish]')")
        return None

    @lru_cache(maxsize=65536)
    def known(word: str) -> bool:
        return bool(pyvoikko.analyse(word)) or (word != word.lower() and bool(pyvoikko.analyse(word.lower())))
    return known


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

    def check(self, a: Analysis, draft: str, rewrite: str, style: bool = True,
              meaning: bool = True) -> list[str]:
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
        if a.language == "fi":
            problems += self.unknown_words(text, draft, a.customer_clean)
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
        if meaning:
            problems += self.meaning(a, draft, text)
        return problems

    # -- meaning -----------------------------------------------------------------------------
    @cached_property
    def _meaning(self) -> dict:
        m = self._cfg["meaning"]
        return {
            "max_lost": float(m.get("max_lost_share", 0.0)),
            "keep_share": float(m.get("keep_share", 1.0)),
            "stop": {lg: frozenset(w.lower() for w in ws) for lg, ws in m["stop"].items()},
            "keep": {name: {lg: [re.compile(p, FLAGS) for p in pats] for lg, pats in c.items()}
                     for name, c in m["keep"].items()},
            "claims": {name: ({lg: [re.compile(p, FLAGS) for p in pats] for lg, pats in c["claim"].items()},
                              [re.compile(p, FLAGS) for p in c["support"]], frozenset(c.get("support_emotion", [])),
                              frozenset(c.get("support_signals", [])))
                       for name, c in m["claims"].items()},
        }

    @cached_property
    def _stem(self) -> Callable[[str], str]:
        import snowballstemmer  # type: ignore[import-untyped]

        stemmer = snowballstemmer.stemmer("english")
        return lru_cache(maxsize=65536)(stemmer.stemWord)

    def lemmas(self, word: str, lang: str) -> frozenset[str]:
        """The forms a word may take in a rewrite and still be the same word: its base forms."""
        w = word.lower()
        if lang == "en":
            return frozenset({w, self._stem(w)})
        out = {w} | _name_stems(w)
        if self._lexicon is not None:
            out |= _fi_baseforms(word)
        return frozenset(out)

    def _content_words(self, text: str, lang: str) -> list[str]:
        stop = self._meaning["stop"].get(lang, frozenset())
        out = []
        for w in _CONTENT_WORD.findall(text):
            w = _POSSESSIVE.sub("", w)
            if w.lower() in stop or len(w) < 2:
                continue
            if lang == "fi" and self._lexicon is not None and (
                    _fi_baseforms(w) & stop or _fi_classes(w) - _FI_CONTENT == _fi_classes(w) != frozenset()):
                continue  # a pronoun, adverb or particle: no content of its own
            out.append(w)
        return out

    def _same_kind(self, w: str, v: str, lang: str) -> bool:
        """Both verbs (a voice or tense changed), or both unknown words (a name misspelt)."""
        if lang != "fi" or self._lexicon is None:
            return False
        cw, cv = _fi_classes(w), _fi_classes(v)
        return (not cw and not cv) or ("teonsana" in cw and "teonsana" in cv)

    def meaning(self, a: Analysis, draft: str, text: str) -> list[str]:
        """What `text` changes of the draft's sense: content words lost, a negation, ability,
        obligation, restriction or condition dropped, or a claim about the customer that nothing
        supports. The draft's flagged phrases may go (their rule rephrases them)."""
        lang, cfg = a.language, self._meaning
        kept = _without_spans(draft, [(f.start, f.end) for f in a.findings])
        problems = []
        written = self._content_words(text, lang)
        have: set[str] = set().union(*(self.lemmas(w, lang) for w in written))
        got = {w.lower() for w in written}
        words = list(dict.fromkeys(self._content_words(kept, lang)))
        lost = [w for w in words if not (self.lemmas(w, lang) & have)]
        # a name-like word ("PUK-koodi", "OmaNetistä") is kept like a fact, unless its core stands
        # on in the rewrite ("SIM" -> "SIM-kortti") or the draft defines it ("CPE = your router")
        defined = {x for seg in _DEFINED.findall(kept) for x in _CONTENT_WORD.findall(seg)}
        key = [w for w in lost if _NAMELIKE.search(w) and w not in defined
               and not re.search(r"(?<!\w)" + re.escape(re.split(r"[-:]", w)[0]) + r"(?![^\W_])", text)]
        # a near miss of a lost word is the same word changed ("lukittui" -> "lukittiin")
        near = [f"{w} -> {v}" for w in lost for v in got if len(w) >= 6 and w.lower() != v
                and w.lower()[:5] == v[:5] and self._same_kind(w, v, lang)]
        if lang == "fi":  # another word of the same family kept it ("korjattu" -> "korjaus")
            stems = {x[:5] for x in have if len(x) >= 5}
            lost = [w for w in lost if not any(x[:5] in stems for x in self.lemmas(w, lang) if len(x) >= 5)]
        if key or near:
            problems.append("changed the meaning: " + ", ".join(repr(w) for w in (key + near)[:4]))
        elif len(lost) >= 2 and len(lost) > cfg["max_lost"] * len(words):
            problems.append("changed the meaning: lost " + ", ".join(repr(w) for w in lost[:4]))
        for name, pats in cfg["keep"].items():
            rxs = pats.get(lang, [])
            want = sum(len(rx.findall(kept)) for rx in rxs)
            if want and sum(len(rx.findall(text)) for rx in rxs) < max(1, cfg["keep_share"] * want):
                problems.append(f"changed the meaning: dropped a word of {name}")
        basis = f"{draft}\n{a.customer_clean}"
        for name, (claims, support, moods, signals) in cfg["claims"].items():
            if a.customer_emotion in moods or signals & set(a.signals):
                continue
            for rx in claims.get(lang, []):
                m = rx.search(text)
                if m and not rx.search(draft) and not any(s.search(basis) for s in support):
                    problems.append(f"claims what nobody said ({name}: {m.group(0)!r})")
                    break
        if lang == "fi" and self._lexicon is not None:
            problems += [f"broken Finnish {p!r}" for p in _aux_with_past(text)]
        return problems

    def leftovers(self, a: Analysis, text: str) -> list[str]:
        left = find_patterns(self.book, text, a.language, a.customer_emotion, a.signals)
        if not left:
            return []
        return ["still contains " + ", ".join(f'"{f.text}" ({f.rule_id})' for f in left[:3])]

    @cached_property
    def _lexicon(self) -> Callable[[str], bool] | None:
        return finnish_lexicon()

    @property
    def checks_finnish_words(self) -> bool:
        return self._lexicon is not None

    def warm(self) -> None:
        """Load what the first Finnish check would (the server does this at start-up)."""
        if self._lexicon is not None:
            self._lexicon("kiitos")

    @cached_property
    def _allowed_words(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self._cfg.get("words", {}).get("fi", []))

    def unknown_words(self, text: str, draft: str, customer: str = "") -> list[str]:
        """Finnish words in `text` that are not Finnish: a 270M model invents forms ("viemärökoodia",
        "turhauttavanna"). Words of the draft, the customer's message and our own phrases, names
        (capitalised) and words in guard.toml's list pass."""
        known = self._lexicon
        if known is None:
            return []
        seen = {w.lower() for w in _WORD.findall(f"{draft} {customer}")} | self._our_words | self._allowed_words
        bad = []
        for m in _FI_WORD.finditer(text):
            w = m.group(0)
            if w[0].isupper() or len(w) < 3 or w.lower() in seen:
                continue
            if not known(w) and not all(p.lower() in seen or known(p) for p in w.split("-") if p):
                bad.append(w)
        return [f"not a Finnish word {w!r}" for w in dict.fromkeys(bad)][:3]

    @cached_property
    def _our_words(self) -> frozenset[str]:
        """Capitalised words our own phrases and fixes may add ("Kiitos", "Thank"): not names."""
        texts = [r.with_ for rule in self.book.rules for r in rule.replacements]
        texts += load_bank(self.book.root).texts()
        return frozenset(w.lower() for t in texts for w in _WORD.findall(t))

    def _facts(self, draft: str, a: Analysis, text: str) -> list[str]:
        problems = []
        got = extract_facts(text)
        got_keys = {f.key for f in got}
        low = text.lower()
        for f in a.facts:
            flagged = self._goes_with_phrase(f, a)
            # as a whole token: the "3" of "3 working days" is not kept by "EXC-3390"
            # ... and "2" is not kept by "2:nnen" (an inflected number is another word: "2nd")
            present = re.search(rf"(?<![\w]){re.escape(f.text)}(?![\w]|:[^\W\d_])", text) is not None
            if not present and f.key not in got_keys and not flagged and not (
                    f.kind == "name" and (f.text.lower() in low or (
                        a.language == "fi" and any(same_name(f.text, w) for w in _capitalised(text, f.text))))):
                problems.append(f"lost fact {f.text!r}")
        want_keys = {f.key for f in a.facts}
        draft_low = draft.lower()
        for f in got:
            if f.kind == "name" and f.text.lower() in self._our_words:
                continue
            # "ma 17.3." -> "maanantaina 17.3.": a weekday spelled out next to a date the draft gives
            if f.kind == "when" and f.key[5:] in WEEKDAYS and any(x.kind == "datetime" for x in a.facts):
                continue
            if f.kind == "name" and a.language == "fi" and any(
                    same_name(f.text, w) for w in _capitalised(draft, f.text)):
                continue  # the draft's "Jussille" is the rewrite's "Jussin"
            # "02.00–02.15" (a bare time) -> "klo 02.00–02.15": the same time, now recognised as one
            clock = f.key[9:] if f.kind == "datetime" else ""
            if re.fullmatch(r"\d{1,2}[.:]\d{2}", clock) and re.search(
                    rf"(?<![\w.:]){re.escape(clock)}(?![\w:]|\.\d)", draft_low):
                continue
            if f.key not in want_keys and f.text.lower() not in draft_low:
                problems.append(f"new {f.kind} {f.text!r}")
        # the last line of defence: no digit run that the draft does not have
        draft_digits = set(_DIGITS.findall(draft))
        extra = sorted(set(_DIGITS.findall(text)) - draft_digits)
        if extra and not any(p.startswith("new ") for p in problems):
            problems.append("new number " + ", ".join(extra[:3]))
        return problems

    def _goes_with_phrase(self, f: Fact, a: Analysis) -> bool:
        """A fact inside a flagged phrase may be fixed away with it when it is the jargon or the
        salutation itself ("L2" of "escalated to L2", "Sir" of "Dear Sir/Madam"), never when it is a
        reference the phrase points at ("7b" of "pending adjudication per section 7b")."""
        if f.kind not in ("id", "name", "when"):
            return False
        for x in a.findings:
            if x.start <= f.start and f.end <= x.end:
                if f.kind != "id" or any(rx.search(f.text) for rx in
                                         self.book.by_id[x.rule_id].draft_patterns.get(a.language, [])):
                    return True
        return False

    def _promises_added(self, lang: str, draft: str, text: str) -> list[str]:
        out = []
        for rx in self._promises.get(lang, []):
            m = rx.search(text)
            if m and not rx.search(draft):
                out.append(f"new promise {m.group(0)!r}")
        return out


_POSSESSIVE = re.compile(r"['’]s\Z", re.IGNORECASE)
# a word with a capital inside or an acronym part: a name or a code ("OmaNetistä", "PUK-koodi")
_NAMELIKE = re.compile(r"\w[A-ZÅÄÖ]|\b[A-ZÅÄÖ]{2,}-")
# "SEPA DD = euroalueen suoraveloitus", "KYC = identity check": the words before "=" are defined
_DEFINED = re.compile(r"(?:^|[.\n;:])([^.\n;:=]{1,30})=")
_FI_CONTENT = frozenset({"nimisana", "teonsana", "laatusana", "nimisana_laatusana", "nimi", "etunimi",
                         "sukunimi", "paikannimi", "lyhenne"})
_CONTENT_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*", re.UNICODE)


@lru_cache(maxsize=65536)
def _fi_baseforms(word: str) -> frozenset[str]:
    """Voikko's base forms of a Finnish word (lower case); empty when it does not know it."""
    import pyvoikko  # type: ignore[import-untyped]

    found = pyvoikko.analyse(word) or pyvoikko.analyse(word.lower())
    if not found and "-" in word:  # "PUK-koodin": the compound's last part decides the form
        head, _, last = word.rpartition("-")
        return frozenset(f"{head.lower()}-{b}" for b in _fi_baseforms(last))
    return frozenset(x.BASEFORM.lower() for x in found if x.BASEFORM)


@lru_cache(maxsize=65536)
def _fi_classes(word: str) -> frozenset[str]:
    import pyvoikko  # type: ignore[import-untyped]

    found = pyvoikko.analyse(word) or pyvoikko.analyse(word.lower())
    return frozenset(x.CLASS for x in found if x.CLASS)


_FI_AUX = re.compile(r"\b(on|ovat|oli|olivat|olen|olet|olemme|olette|ei|en|et|emme|ette|eivät)\s+([^\W\d_]+)\b",
                     re.IGNORECASE)


def _aux_with_past(text: str) -> list[str]:
    """"on lähti": an auxiliary before a finite past-tense verb (every reading of it) is no Finnish."""
    import pyvoikko  # type: ignore[import-untyped]

    out = []
    for m in _FI_AUX.finditer(text):
        found = pyvoikko.analyse(m.group(2))
        if found and all(x.CLASS == "teonsana" and x.TENSE == "past_imperfective" and x.MOOD == "indicative"
                         and not x.PARTICIPLE for x in found):
            out.append(m.group(0))
    return out


def _without_spans(text: str, spans: list[tuple[int, int]]) -> str:
    for a, b in sorted(spans, reverse=True):
        text = text[:a] + " " + text[b:]
    return text


# Finnish case endings a name takes: "Jussi" / "Jussille" / "Jussin", "Luna" / "Lunaan"
_FI_CASE_ENDINGS = ("n", "a", "ä", "ta", "tä", "na", "nä", "ssa", "ssä", "sta", "stä", "lla", "llä", "lta",
                    "ltä", "lle", "ksi", "an", "en", "in", "on", "un", "yn", "än", "ön", "han", "hen", "hin",
                    "seen", "tta", "ttä",
                    # after a consonant an -i- joins: "Ahmed" / "Ahmedille"
                    "ia", "iä", "ille", "illa", "illä", "ilta", "iltä", "ista", "istä", "issa", "issä", "iin", "iksi")


def _name_stems(word: str) -> set[str]:
    w = word.lower()
    return {w} | {w[:-len(e)] for e in _FI_CASE_ENDINGS if w.endswith(e) and len(w) - len(e) >= 4}


def same_name(a: str, b: str) -> bool:
    """The same Finnish name in two cases ("Mikko Salo" / "Mikko Salolle"): every word but the last
    equal, the last sharing a stem of at least four letters ("Anna" / "Anne" share only "Ann")."""
    wa, wb = a.split(), b.split()
    if len(wa) != len(wb) or [w.lower() for w in wa[:-1]] != [w.lower() for w in wb[:-1]]:
        return False
    return bool(_name_stems(wa[-1]) & _name_stems(wb[-1]))


def _capitalised(text: str, like: str) -> list[str]:
    """Runs of as many capitalised words as `like` has, anywhere in `text`."""
    n = len(like.split())
    words = re.findall(r"[A-ZÅÄÖ][\w-]*", text)
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


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
