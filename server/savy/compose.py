"""The compose stage: the constrained rewrite for a small model.

A 270M model copies well and writes new sentences badly, so the reply keeps the agent's own
sentences, greeting, line breaks and sign-off where they stand; flagged phrases get their rule's
fix; and one opening and one closing are *chosen* from a curated bank (`prompts/bank/<lang>.toml`)
among the entries that fit the customer's situation: ranked by the model when there is one (see
`Engine.score`), picked stably without it. Whatever is picked is grammatical by construction.
"""

from __future__ import annotations

import re
import tomllib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from .analyse import _SIGNOFF, Analysis, Finding
from .rules import FLAGS, LANGS
from .rulesonly import fix_findings

# a greeting line ("Hei Maria,\n") or a greeting at the start of the first line ("Hi John, ...")
GREETING = re.compile(r"^\s*(?:hei|hej|moi|moikka|hyvä|terve|hello|hi|hey|dear|good (?:morning|afternoon|evening))\b"
                      # a short line of its own ("Hei Maria,\n"), or the greeting words before the
                      # first comma on a longer line ("Hi Sam, order #5512 ships Friday.\n…")
                      r"(?:[^\n.!?]{0,40}[,!.]?[ \t]*\n+|[^\n.!?,]{0,40}[,!.]\s+)", re.IGNORECASE)
SITUATIONS = ("thanks", "praise", "positive", "humour", "valuable_help", "shame", "worry", "waiting",
              "order", "negative", "neutral", "refusal")
PARTS = ("opener", "closing")


@dataclass(frozen=True)
class Entry:
    """One sentence of the bank, in each form of address it has."""

    part: str
    lang: str
    when: tuple[str, ...]
    rule: str
    tags: frozenset[str]
    texts: dict[str, str]  # "te" / "sinä" (Finnish) or "you" (English)

    def text(self, address: str) -> str:
        if self.lang == "en":
            return self.texts["you"]
        return self.texts["sinä" if address == "sinä" else "te"]

    @property
    def address_free(self) -> bool:
        return len(set(self.texts.values())) == 1


@dataclass(frozen=True)
class Filler:
    rule: str
    message: dict[str, str]
    whole: dict[str, re.Pattern[str]]  # the sentence is one of these ...
    yes: dict[str, re.Pattern[str]]  # ... or one of these, when the customer asked nothing


@dataclass
class Bank:
    """The openings and closings, with the rules that choose which fit (prompts/compose.toml)."""

    entries: list[Entry]
    order: tuple[str, ...]
    signals: dict[str, tuple[str, ...]]
    not_when_negative: frozenset[str]
    refusal: dict[str, list[re.Pattern[str]]]
    already: dict[str, dict[str, list[re.Pattern[str]]]]
    never: dict[str, frozenset[str]]
    not_when_apology: frozenset[str] = frozenset()
    # rules whose unfixable finding takes its whole short, fact-free sentence with it
    drop_sentence: frozenset[str] = frozenset()
    # rules whose finding takes a fact-free sentence of hindsight with it (these patterns)
    hindsight_rules: frozenset[str] = frozenset()
    hindsight: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    # thanks for something done (a question closed with "Thanks!" is thanks in advance)
    thanks_for: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    # thanks to a named colleague, and the openings that would claim the writer's own help
    thanked_names: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    own_help: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    # whole sentences that say nothing an opening does not (prompts/compose.toml [[filler]])
    filler: list[Filler] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> "Bank":
        cfg = tomllib.loads((root / "compose.toml").read_text(encoding="utf-8"))
        entries = []
        for lang in LANGS:
            path = root / "bank" / f"{lang}.toml"
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            for part in PARTS:
                for i, e in enumerate(data.get(part, [])):
                    where = f"{path.name} {part} #{i + 1}"
                    when = tuple(e["when"])
                    if bad := [w for w in when if w not in SITUATIONS]:
                        raise ValueError(f"{where}: unknown situation {bad}")
                    texts = {"you": e["text"]} if lang == "en" else {"te": e["te"], "sinä": e["sina"]}
                    entries.append(Entry(part, lang, when, e["rule"], frozenset(e.get("tags", [])),
                                         {k: v.strip() for k, v in texts.items()}))
        rx = lambda pats: [re.compile(p, FLAGS) for p in pats]  # noqa: E731
        return cls(
            entries=entries,
            order=tuple(cfg["order"]),
            signals={k: tuple(v) for k, v in cfg["signals"].items()},
            not_when_negative=frozenset(cfg.get("not_when_negative", [])),
            not_when_apology=frozenset(cfg.get("not_when_apology", [])),
            refusal={lg: rx(cfg["refusal"].get(lg, [])) for lg in LANGS},
            already={tag: {lg: rx(p) for lg, p in by_lang.items()} for tag, by_lang in cfg["already"].items()},
            never={k: frozenset(v) for k, v in cfg.get("never", {}).items()},
            drop_sentence=frozenset(cfg.get("drop_sentence", {}).get("rules", [])),
            hindsight_rules=frozenset(cfg.get("drop_sentence", {}).get("hindsight_rules", [])),
            hindsight={lg: rx(p) for lg, p in cfg.get("drop_sentence", {}).get("hindsight", {}).items()},
            thanks_for={lg: rx(p) for lg, p in cfg.get("thanks_for", {}).items()},
            thanked_names={lg: rx(p) for lg, p in cfg.get("thanked_other", {}).get("names", {}).items()},
            own_help={lg: rx(p) for lg, p in cfg.get("thanked_other", {}).get("claims", {}).items()},
            filler=[Filler(f["rule"], f["message"], {lg: _whole(f.get(lg, [])) for lg in LANGS},
                           {lg: _whole(f.get("yes", {}).get(lg, [])) for lg in LANGS}) for f in cfg.get("filler", [])],
        )

    def texts(self) -> list[str]:
        """Every sentence the bank can add (the guard treats their words as ours)."""
        return [t for e in self.entries for t in e.texts.values()]

    def refuses(self, lang: str, text: str) -> bool:
        return any(rx.search(text) for rx in self.refusal.get(lang, []))

    def has(self, tag: str, lang: str, text: str) -> bool:
        return any(rx.search(text) for rx in self.already.get(tag, {}).get(lang, []))


def _whole(patterns: Sequence[str]) -> re.Pattern[str]:
    """One pattern that matches a whole sentence made of one of `patterns` (end punctuation aside)."""
    body = "|".join(f"(?:{p})" for p in patterns) or r"(?!)"
    return re.compile(rf"\s*(?:{body})\s*[.!…]*\s*", FLAGS)


@lru_cache(maxsize=4)
def load_bank(root: Path) -> Bank:
    return Bank.load(root)


@dataclass
class Frame:
    """The draft cut into what stays where it is: greeting, body, sign-off."""

    head: str
    body: str
    tail: str

    @property
    def inline_head(self) -> bool:  # "Hi John, <opener> …" on one line
        return bool(self.head) and not self.head.endswith("\n")


# a sign-off line ("Ystävällisin terveisin", "Best,") followed by at most a few short lines
# (name, title, team) to the end: the whole block stays below the closing
_SIGNOFF_BLOCK = re.compile(
    r"(?im)^[ \t]*(?:(?:terveisin|(?:ystävällisin|parhain|lämpimin|hyvää\s+päivänjatkoa\s+ja)\s+terveisin"
    r"|best(?:\s+wishes|\s+regards)?|(?:kind|warm|many)\s+regards|regards|sincerely|yours\s+sincerely|thanks|"
    r"thank\s+you|cheers|br|warmly|warm\s+wishes|all\s+the\s+best|with\s+thanks|many\s+thanks|thanks\s+again"
    r"|speak\s+soon|ystävällisesti|yst\.\s*terv\.?)[ \t]*[,.!]?[ \t]*"
    # "t. Tiina / Asiakaspalvelu": the short forms carry the name on their own line
    r"|(?:t|terv|br)\.?[ \t]+(?-i:[A-ZÅÄÖ])[^\n]{0,58})(?:\n[^\n]{1,60}){0,4}\s*\Z"
    # the last line alone: "– Sara, support", "– Despatch", "Thanks, Fraud team", "Kiitos, Maija / tuki"
    # (a few words, no sentence end; a dash line below another dash line is a list, not a name)
    r"|(?<=\n)[ \t]*(?:[–—-]{1,2}[ \t]*|(?:thanks|thank\s+you|cheers|best|regards|kiitos|terveisin)"
    r",[ \t]+)(?-i:[A-ZÅÄÖ])[^\s.!?]*(?:[ \t,/]+[^\s.!?]+){0,4}[ \t]*\Z")


def frame(text: str) -> Frame:
    head, body = "", text.strip()
    if g := GREETING.match(body):
        head, body = body[:g.end()], body[g.end():]
    tail = ""
    block = _SIGNOFF_BLOCK.search(body)
    if block and block.group(0).lstrip()[:1] in "-–—" and body[:block.start()].rstrip().rsplit("\n", 1)[-1].lstrip()[:1] in "-–—•*":
        block = None  # the last item of a list
    if block and body[:block.start()].strip():
        kept = body[:block.start()].rstrip()
        return Frame(head, kept, body[len(kept):].rstrip())
    signoffs = list(_SIGNOFF.finditer(body))
    s = signoffs[-1] if signoffs else None
    if s is not None and s.end() >= len(body.rstrip()) - 1:
        kept = body[:s.start()].rstrip()
        body, tail = kept, body[len(kept):].rstrip()  # the sign-off with the break before it
        if "\n" not in tail[: len(tail) - len(tail.lstrip())]:
            tail = "\n" + tail.lstrip()  # "… sent. t. Laura": the sign-off gets its own line
    return Frame(head, body, tail)


@dataclass
class Plan:
    """What a composed rewrite is made of: the fixed draft framed, and the candidates for each part."""

    frame: Frame
    situation: str | None = None
    openers: list[str] = field(default_factory=list)
    closings: list[str] = field(default_factory=list)
    # what each candidate does (its bank tags), so an opener and a closing never say the same thing
    tags: dict[str, frozenset[str]] = field(default_factory=dict)
    # the analysis the text was built from: a dropped sentence counts as a fixed finding
    analysis: Analysis | None = None

    def closing_for(self, opener: str | None, ranked_closings: Sequence[str]) -> str | None:
        """The best closing that does not repeat what the opener does (one thanks, one apology)
        nor its words ("… asia mietityttää. … jos asia vielä mietityttää.")."""
        taken = self.tags.get(opener or "", frozenset()) & STACKING
        said = _long_words(opener or "")
        return next((c for c in ranked_closings if not (self.tags.get(c, frozenset()) & taken)
                     and not (_long_words(c) & said)), None)


# tags an opener and a closing may not share
STACKING = frozenset({"thanks", "apology"})
# at most this many candidates are ranked per part (each costs a short model pass); a situation
# with fewer than MIN_CANDIDATES fitting entries is topped up from the next one that holds
MAX_CANDIDATES = 8
MIN_CANDIDATES = 3


def situations(bank: Bank, a: Analysis, draft: str) -> list[str]:
    """The situations that hold, strongest first."""
    found = []
    for s in bank.order:
        if s == "emotion":
            found.append(a.customer_emotion)
        elif s == "refusal":
            if bank.refuses(a.language, draft):
                found.append(s)
        elif set(bank.signals.get(s, ())) & set(a.signals):
            found.append(s)
    if a.customer_emotion == "negative":
        found = [s for s in found if s not in bank.not_when_negative]
    elif bank.has("apology", a.language, draft):
        found = [s for s in found if s not in bank.not_when_apology] or ["neutral"]
    msg = a.customer_clean
    if "thanks" in found and "?" in msg and not any(rx.search(msg) for rx in bank.thanks_for.get(a.language, [])):
        # thanks in advance: nothing to be welcome for, and the politeness is no upbeat mood
        found = [("neutral" if s == "positive" else s) for s in found if s != "thanks"]
    return found


def _candidates(bank: Bank, part: str, a: Analysis, sits: Sequence[str],
                body: str) -> tuple[str | None, list[Entry]]:
    lang = a.language
    never: set[str] = set()
    for s in sits:
        never |= bank.never.get(s, frozenset())
    if a.customer_emotion == "negative":
        never |= bank.never.get("negative", frozenset())
    done = {tag for tag in bank.already if bank.has(tag, lang, body)}
    first: str | None = None
    found: list[Entry] = []
    for s in sits:  # the strongest situation's entries first; the next ones' when it has few
        out = [e for e in bank.entries if e.part == part and e.lang == lang and s in e.when
               and not (e.tags & never) and not (e.tags & done) and e not in found]
        if lang == "fi" and a.address not in ("te", "sinä"):
            out = [e for e in out if e.address_free] or out  # unknown form: prefer address-free ones
        if out:
            first = first or s
            found += out
        if len(found) >= MIN_CANDIDATES:
            break
    return first, found


def plan(bank: Bank, a: Analysis, draft: str) -> Plan:
    """Fix the draft's flagged phrases, frame it, and list the openers and closings that fit."""
    a = drop_sentences(bank, a, draft)
    fr = frame(sentence_case(fix_findings(a, draft)))
    sits = situations(bank, a, draft)
    first = fr.body.split("\n", 1)[0]
    # with no customer message there is nothing to answer: no opener claims what they said
    open_sits = sits if a.customer_clean.strip() else [s for s in sits if s == "refusal"]
    s_open, openers = _candidates(bank, "opener", a, open_sits, first)
    first_word = _first_word(fr.body)
    said = _trigrams(first) | _bigrams(fr.body)
    openers = [e for e in openers if _first_word(e.text(a.address)) != first_word
               and not ((_trigrams(e.text(a.address)) | _bigrams(e.text(a.address))) & said)]
    if _fix_opens(a, draft):  # "Ei kestä." -> "Ole hyvä, mukava olla avuksi!" already opens it
        openers = []
    if thanked_someone_else(bank, a, fr):  # "Kiitos Markulle!": not "Mukava kuulla, että olin avuksi"
        openers = [e for e in openers if not any(rx.search(e.text(a.address)) for rx in bank.own_help.get(a.language, []))]
    last = fr.body.rsplit("\n", 1)[-1]
    _, closings = _candidates(bank, "closing", a, sits, f"{last} {fr.tail}")
    closings = [e for e in closings if not (_bigrams(e.text(a.address)) & _bigrams(fr.body))]
    tags: dict[str, frozenset[str]] = {}
    for e in [*openers, *closings]:
        tags[e.text(a.address)] = tags.get(e.text(a.address), frozenset()) | e.tags
    return Plan(fr, s_open, _spread(openers, a.address, draft),
                _spread(closings, a.address, draft + "|c"), tags, a)


# a lower-case word that starts a sentence ("k. done. refund in 3-5 days"): after . ! ? that ends a
# word of 3+ letters that is no abbreviation, or at a line's start; the word is 2+ lower-case letters
# ("t. Tero" stays)
# and no address (so "iPhone", "eBay", "npm-7", "https://…", "info@…", "kauppa.fi" stay)
_LOWER_START = re.compile(r"(?:\A|(?<=\n)|(?<=[^\W\d_]{3}[.!?] )|(?<=[^\W\d_]{3}[.!?]  ))([a-zåäö])(?=[a-zåäö]+(?:[\s,!?;]|\.(?!\w)|\Z))")
_ABBREVIATION = re.compile(r"\b(?:esim|yms|jne|tms|mm|ym|ns|vrt|puh|nro|klo|approx|incl|excl|etc|vs|resp|tel|ca)[.]\s+\Z", re.I)


def sentence_case(text: str) -> str:
    """Capitalise the agent's lower-case sentence starts; nothing else changes."""
    return _LOWER_START.sub(lambda m: m.group(1) if _ABBREVIATION.search(text[:m.start()]) else m.group(1).upper(), text)


def thanked_someone_else(bank: Bank, a: Analysis, fr: Frame) -> bool:
    """Whether the customer thanks a named person who is not the one signing the draft."""
    names = {n for rx in bank.thanked_names.get(a.language, []) for m in rx.finditer(a.customer_clean)
             for n in m.groups() if n}
    signer = fr.tail + " " + fr.head  # "t. Markku", or a greeting that names the agent ("Moi, Markku täällä")
    return any(not re.search(rf"\b{re.escape(n[:4])}", signer) for n in names)


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|\Z|(?=\n))[ \t]*")


def drop_sentences(bank: Bank, a: Analysis, draft: str) -> Analysis:
    """A joke to an upset customer that no rule can rephrase ("Gremlins strike again, eh?") goes
    with its sentence when the flagged words are at least half of that short sentence and it states
    no fact ("Your parcel is lost, haha." stays); so does a sentence of hindsight blame, and a filler
    sentence ("Selvä.", "Thank you for contacting us."); other sentences are never touched."""
    if not bank.drop_sentence and not bank.hindsight_rules and not bank.filler:
        return a
    sentences = [m for m in _SENTENCE.finditer(draft) if m.group(0).strip()]
    findings = list(a.findings)
    asks = "?" in a.customer_clean
    for fl in bank.filler if len(sentences) >= 2 else []:
        for s in sentences:
            if not (fl.whole[a.language].fullmatch(s.group(0)) or not asks and fl.yes[a.language].fullmatch(s.group(0))):
                continue
            if any(x.start < s.end() and s.start() < x.end for x in a.facts):
                continue
            findings = [x for x in findings if not (s.start() <= x.start and x.end <= s.end())]
            findings.append(Finding(fl.rule, s.start(), s.end(), s.group(0), fl.message[a.language], ""))
    for f in a.findings:
        if f.suggestion is not None or f.rule_id not in bank.drop_sentence | bank.hindsight_rules:
            continue
        s = next((m for m in sentences if m.start() <= f.start and f.end <= m.end()), None)
        if s is None or len(sentences) < 2:
            continue
        words = len(re.findall(r"\w+", s.group(0)))
        if f.rule_id in bank.hindsight_rules:
            if words > 25 or not any(rx.search(s.group(0)) for rx in bank.hindsight.get(a.language, [])):
                continue
        else:
            flagged = sum(len(re.findall(r"\w+", x.text)) for x in a.findings
                          if s.start() <= x.start and x.end <= s.end() and x.rule_id in bank.drop_sentence)
            if words > 12 or 2 * flagged < words:
                continue
        if any(x.start < s.end() and s.start() < x.end for x in a.facts):
            continue
        findings = [x for x in findings if not (s.start() <= x.start and x.end <= s.end())]
        findings.append(Finding(f.rule_id, s.start(), s.end(), s.group(0), f.message, ""))
    return replace(a, findings=sorted(findings, key=lambda x: x.start)) if findings != a.findings else a


def _spread(entries: Sequence[Entry], address: str, seed: str) -> list[str]:
    """Up to MAX_CANDIDATES distinct texts, a stable draft-dependent sample when there are more."""
    texts = _unique(e.text(address) for e in entries)
    if len(texts) <= MAX_CANDIDATES:
        return texts
    start = zlib.crc32(seed.encode("utf-8")) % len(texts)
    return [texts[(start + i * len(texts) // MAX_CANDIDATES) % len(texts)] for i in range(MAX_CANDIDATES)]


def _long_words(text: str) -> set[str]:
    return {w[:6] for w in re.findall(r"\w{6,}", text.lower())}


def _bigrams(text: str) -> set[tuple[str, ...]]:
    """Pairs of longer words: "autan mielelläni" twice in one reply reads mechanical."""
    w = re.findall(r"\w+", text.lower())
    return {(x, y) for x, y in zip(w, w[1:]) if len(x) >= 4 and len(y) >= 4}


def _trigrams(text: str) -> set[tuple[str, ...]]:
    w = re.findall(r"\w+", text.lower())
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}


def _fix_opens(a: Analysis, draft: str) -> bool:
    """Whether a rule's fix stands where the reply starts (after a greeting): "Eipä mitään, kiva
    kun pystyin auttamaan" -> "Olkaa hyvä, kiva …" already opens the reply."""
    g = GREETING.match(draft)
    rest = draft[g.end() if g else 0:]
    lead = len(draft) - len(rest.lstrip())
    # a fix that only takes words out ("As clearly stated" -> "As stated") or swaps one ("Tiketti" ->
    # "Tukipyyntö") opens nothing
    return any(f.start <= lead and f.suggestion and len(set(re.findall(r"\w+", f.suggestion.lower()))
                                                        - set(re.findall(r"\w+", f.text.lower()))) >= 2
               for f in a.findings)


def _unique(texts: Sequence[str] | object) -> list[str]:
    return list(dict.fromkeys(texts))  # type: ignore[arg-type]


def _first_word(s: str) -> str:
    m = re.match(r"\W*(\w+)", s)
    return m.group(1).lower() if m else ""


def placed_opener(fr: Frame, opener: str) -> str:
    """The opener as it stands after the greeting: in lower case after "Hi John, "."""
    if fr.inline_head and fr.head.rstrip().endswith(","):  # "Hi John, thank you …! Your order …"
        if not re.match(r"I\b", opener):  # English "I" stays capitalised
            return opener[0].lower() + opener[1:]
    return opener


def opened(fr: Frame, opener: str | None) -> str:
    """Greeting, opener and body: the reply up to its closing. After an opener the body starts a
    sentence ("Hei,\n\nkotivakuutuksenne …" was lower case after the greeting's comma), and the
    opener leads its first paragraph."""
    if not opener:
        return (fr.head + fr.body).rstrip()
    return f"{fr.head}{placed_opener(fr, opener)} {fr.body[:1].upper()}{fr.body[1:]}".rstrip()


def closing_join(body: str, closing: str) -> str:
    sep = " " if "\n" not in body.strip() else "\n\n"
    if sep == " " and re.search(r"[\w€%)]\Z", body.rstrip()):  # "… is on its way" + "Have a good day!"
        return ". " + closing
    return sep + closing


def assemble(pl: Plan, opener: str | None, closing: str | None) -> str:
    text = opened(pl.frame, opener)
    if closing:
        text += closing_join(text, closing)
    return (text + pl.frame.tail).strip()


def stable_order(options: Sequence[str], seed: str) -> list[str]:
    """The order without a model: the same draft always gets the same sentence first."""
    if not options:
        return []
    first = options[zlib.crc32(seed.encode("utf-8")) % len(options)]
    return [first] + [o for o in options if o != first]


def ranked(options: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Options best first (the model's mean log-probability per token; bank order breaks ties)."""
    order = sorted(range(len(options)), key=lambda i: (-scores[i], i))
    return [options[i] for i in order]
