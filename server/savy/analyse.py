"""The analyse stage (no model, a few milliseconds): language, form of address, the customer's
emotion and signals, the draft's anti-patterns with spans, and the draft's facts."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .rules import Rule, RuleBook, Signal
from .tone import load as load_tone_model
from .tone import tone_votes

# -- text hygiene ------------------------------------------------------------------------------
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
_DELIMITER_LOOKALIKE = re.compile(
    r"<\s*/?\s*(?:customer|draft|rewrite|rules?|system|instructions?|start_of_turn|end_of_turn|"
    r"bos|eos|im_start|im_end|s|\|[a-z_]+\|)\s*>|\[/?INST\]|<<\s*/?SYS\s*>>",
    re.IGNORECASE,
)


def clean_untrusted(text: str) -> str:
    """Customer text is quoted data: drop invisible characters and anything shaped like our
    prompt delimiters or a chat template's control tokens."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    prev = None
    while prev != text:  # nested look-alikes such as "<cust<draft>omer>"
        prev, text = text, _DELIMITER_LOOKALIKE.sub(" ", text)
    return text.strip()


# -- language and address ----------------------------------------------------------------------
_FI_WORDS = re.compile(
    r"\b(?:ja|on|ei|että|se|ovat|olen|olet|olette|kiitos|voi|voit|voitte|tilau\w*|lasku\w*|"
    r"teidän|sinun|meidän|tämä|tässä|tästä|mutta|kun|jos|niin|myös|vielä|nyt|kanssa|asia\w*|"
    r"hyvä\w*|pahoittel\w*|valitettavasti|ystävällisin|terveisin|t\.|mukava\w*|ole|olkaa|"
    r"sen|siitä|siis|kuin|jo|jotta|saat|saatte|mitä|miten|koska|heti|huomenna|tänään)\b",
    re.IGNORECASE)
_EN_WORDS = re.compile(
    r"\b(?:the|and|is|are|you|your|we|our|it|to|of|for|this|that|with|have|has|will|can|"
    r"please|thanks?|thank|order|sorry|not|be|on|in|was|there|here|hi|hello|regards|best|"
    r"i|my|me|an?|do|does|did|would|could|should|just|today|tomorrow)\b",
    re.IGNORECASE)
_FI_LETTERS = re.compile(r"[äöå]", re.IGNORECASE)


def detect_language(text: str, fallback: str = "en") -> str:
    fi = len(_FI_WORDS.findall(text)) + 0.5 * len(_FI_LETTERS.findall(text))
    en = len(_EN_WORDS.findall(text))
    if fi == en:
        return fallback
    return "fi" if fi > en else "en"


_TE = re.compile(
    r"\b(?:te|teidän|teille|teitä|teiltä|teillä|teissä|teihin|teistä|olette|voitte|saatte|"
    r"haluatte|tiedätte|pystytte|tarvitsette|teette|otatte|näette|lähetätte|odotatte|maksatte|"
    r"löydätte|muistatte|ymmärrätte|ottakaa|olkaa|lähettäkää|kertokaa|odottakaa|soittakaa|"
    r"tarkistakaa|ilmoittakaa|katsokaa|käyttäkää|voisitteko|voisitte|olisitte|saisitte|"
    r"\w{2,}itte|"  # the past tense: kerroitte, jaksoitte, olitte, odotitte
    r"\w{3,}(?:nne|nnekin|nneko|anne|änne))\b",
    re.IGNORECASE)
_SINA = re.compile(
    r"\b(?:sinä|sinun|sinulle|sinua|sinulta|sinulla|sinussa|sinuun|sinusta|sä|sun|sulle|sua|"
    r"olet|voit|saat|haluat|tiedät|pystyt|tarvitset|teet|otat|näet|lähetät|odotat|maksat|löydät|"
    r"muistat|ymmärrät|ota|lähetä|kerro|odota|soita|tarkista|ilmoita|katso|käytä|voisitko|"
    r"ole|"
    r"voisit|olisit|saisit|"
    # the past tense; a bare "-it" is also a plural ("kortit"), so only common verbs
    r"kerroit|jaksoit|ilmoitit|huomasit|odotit|olit|teit|otit|pystyit|halusit|maksoit|sait|löysit|"
    r"tilasit|lähetit|palautit|kysyit|soitit|kirjoitit|muistit|ymmärsit|autoit|"
    # -isi after a, ä, o, u… is the conditional ("pitäisi", "kannattaisi"), not "your"; after an i it is
    # "your" again ("sähköpostiisi", "tiliisi")
    r"\w{3,}(?:esi|(?<=[^aeouyäö])isi|asi|äsi|osi|usi|ysi|ösi)(?:kin)?)\b",
    re.IGNORECASE)
# words ending like possessive -si / -nne that are not second person
_NOT_ADDRESS = frozenset(
    "uusi kuusi vesi käsi kaksi yksi vuosi susi mesi lapsi joksi siksi miksi toiseksi kolmeksi "
    "ensiksi lisäksi viimeksi ainakin esimerkiksi heti vasi yhdeksi aluksi lopuksi onneksi "
    "palasi pääsi nousi laski tarjosi aukesi selvisi katosi hävisi "
    "valmiiksi kotiin sisäksi kuukausi viikoksi hetkeksi hyväksi pian tänne sinne minne "
    "henne ranne panne jonne tonne minnekin sinnekin tännekin kenne ratsi lasi mansi "
    "tilanne liikenne tallenne rakenne kuljetusliikenne puhelinliikenne".split())


def detect_address(text: str, language: str) -> str:
    """Finnish drafts: 'te' (formal) or 'sinä' (informal); English: 'you'."""
    if language == "en":
        return "you"
    te = len(_markers(_TE, text))
    sina = len(_markers(_SINA, text))
    if te == sina:
        return "unknown"
    return "te" if te > sina else "sinä"


def address_markers(text: str, address: str) -> list[str]:
    """Words in `text` that belong to the *other* form of address than `address`."""
    rx = _SINA if address == "te" else _TE if address == "sinä" else None
    if rx is None:
        return []
    return _markers(rx, text)


# "ei ole", "eikä sitä vielä ole": after a negation "ole" is "is (not)", not the imperative
_NEGATION_BEFORE = re.compile(r"\b(?:ei|en|emme|eivät|eikä|enkä|emmekä|eivätkä)(?:\s+\w+){0,2}\s+\Z", re.I)


def _markers(rx: re.Pattern[str], text: str) -> list[str]:
    out = []
    for m in rx.finditer(text):
        w = m.group(0)
        if w.lower() in _NOT_ADDRESS or w[1:] != w[1:].lower():  # "OmaVesi" is a name, not "your"
            continue
        if w.lower() == "ole" and _NEGATION_BEFORE.search(text, max(0, m.start() - 40), m.start()):
            continue
        out.append(w)
    return out


# -- facts -------------------------------------------------------------------------------------
_MONTHS_EN = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
              r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_MONTHS_FI = r"(?:tammi|helmi|maalis|huhti|touko|kesä|heinä|elo|syys|loka|marras|joulu)kuu\w*"
_WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Finnish weekday stems; their case endings vary ("perjantaina", "perjantaihin")
_WEEKDAYS_FI = ("maanantai", "tiistai", "keskiviikko", "keskiviiko", "torstai", "perjantai", "lauantai", "sunnuntai")
WEEKDAYS = frozenset(_WEEKDAYS_EN + _WEEKDAYS_FI)
_WEEKDAY_FI_STEM = re.compile(f"({'|'.join(_WEEKDAYS_FI)})")
_NUM = r"\d+(?:[ \u00a0\u202f]\d{3})*(?:[.,]\d+)?"
_CURRENCY = r"(?:€|eur(?:o(?:a|n|lla|t)?)?\b|e\b|\$|usd\b|£|gbp\b|sek\b|kr\b|snt\b|senttiä\b)"
FACT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]", re.I)),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    # a bare web address: portal.kiteline.example/docs, kauppa.fi
    ("url", re.compile(r"\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s<>\"')\]]*[^\s<>\"')\].,;:!?])?(?![\w@])")),
    # a menu path: Settings > Subscription > Pause, Asetukset › Tilaus
    ("path", re.compile(r"[A-ZÅÄÖ][\w-]*(?: [A-ZÅÄÖ&][\w-]*){0,2}(?:\s?(?:>|›|→)\s?[A-ZÅÄÖ][\w-]*(?: [A-ZÅÄÖ&][\w-]*){0,2}){1,6}")),
    ("amount", re.compile(rf"(?:[€$£]\s?{_NUM}|{_NUM}\s?{_CURRENCY})", re.I)),
    ("percent", re.compile(rf"{_NUM}\s?(?:%|prosent\w*|percent)", re.I)),
    ("phone", re.compile(r"(?<![\w.,])(?:\+\d{1,3}[ \u00a0-]?)?\(?0?\d{1,4}\)?(?:[ \u00a0-]\d{2,4}){2,4}(?![\w.,]\d)")),
    ("datetime", re.compile(
        rf"\b(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:\d{{4}}|\d{{2}})?(?!\d)|\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b|"
        rf"\b{_MONTHS_EN}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b|\b\d{{1,2}}(?:st|nd|rd|th)\b|\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTHS_EN}\b(?: \d{{4}})?|"
        rf"\b\d{{1,2}}\. ?{_MONTHS_FI}|"
        rf"\b(?:klo|kello)\s?\d{{1,2}}(?:[.:]\d{{2}})?|\b\d{{1,2}}:\d{{2}}(?:\s?[ap]\.?m\.?)?|\b\d{{1,2}}\s?[ap]\.?m\.?(?!\w)",
        re.I)),
    # relative days and weekdays are facts too: "issued today" must not become "issued"
    ("when", re.compile(
        r"\b(?:today|tonight|tomorrow|yesterday|this (?:morning|afternoon|evening|week|month)|"
        rf"next (?:week|month)|(?:{'|'.join(_WEEKDAYS_EN)})s?|"
        r"tänään|huomenna|ylihuomenna|eilen|toissapäivänä|tänä (?:aamuna|iltana)|(?:tällä|ensi) viikolla|ensi kuussa|"
        rf"(?:{'|'.join(_WEEKDAYS_FI)})\w*)\b", re.I)),
    # a street address: "Rantatie 2", "Mannerheimintie 12 B 5", "12 High Street"
    ("address", re.compile(
        r"\b[A-ZÅÄÖ][a-zåäö-]*(?:tie|katu|kuja|polku|väylä|rinne|tori|kaari|raitti|bulevardi|puistikko|ranta)"
        r" \d+(?: ?[A-H](?: ?\d+)?)?\b(?!:[^\W\d_])|\b\d+[A-Za-z]? [A-Z][a-z]+ (?:Street|St|Road|Rd|Avenue|Ave|Lane|Way|Drive|Close)\b")),
    # "#55120", "TIL-20931", "2025-INC-0817", "10482A"... and a sub-numbered reference: "section 7b"
    ("id", re.compile(r"#\s?\w*\d[\w-]*|\b[A-ZÅÄÖ]{1,6}[-_/]?\d[\w/-]*\b|\b\d[\w-]*[A-Za-z][\w-]*\d\b|\b\d{5,}\b"
                      r"|\b\d{1,3}[abcABC]\b(?!-)")),
    ("number", re.compile(rf"(?<![\w]){_NUM}(?![\w]|:[^\W\d_])")),  # "2:nnen" is "2nd", not 2
]
# a capitalised word that is not the first word of a sentence: a likely name. The word before it must
# be a word or a comma/dash: after ".", "?", a quote or an emoji ("eh? 😄 Power failure") a sentence starts.
_NAME = re.compile(r"(?<=[\w,;)\]–—-][ \t])(?:[A-ZÅÄÖ][a-zåäöéü]+(?:-[A-ZÅÄÖ][a-zåäöéü]+)?)(?![\w-])")
# the sign-off word in any case, the name capitalised ("Thanks for your order" has no name in it)
_SIGNOFF = re.compile(r"(?:^|\n|(?<=[.!?])[ \t])\s*(?i:t\.|terv\.|terveisin|ystävällisin terveisin|parhain terveisin|"
                      r"best|regards|best regards|kind regards|thanks|cheers|br)[,.]?\s*\n?\s*"
                      r"(?P<name>[A-ZÅÄÖ][\wåäöéü-]+(?: [A-ZÅÄÖ][\wåäöéü-]+)?)"
                      # a sign-off name ends its line ("Thanks. Your DNS change is done" has no name in it)
                      r"(?=[ \t]*(?:$|\n|[,(/|–—-]|(?:and|ja|&)\s))")


@dataclass(frozen=True)
class Fact:
    kind: str
    text: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return fact_key(self.kind, self.text)


def fact_key(kind: str, text: str) -> str:
    """Normalise only what is truly the same: 12,90 € == 12,90 EUR == €12,90; spacing in numbers."""
    t = text.lower().replace("\u00a0", " ").replace("\u202f", " ")
    if kind in ("amount", "percent", "number", "phone"):
        digits = re.sub(r"(?<=\d)[ -](?=\d)", "", t)
        num = re.findall(r"\d+(?:[.,]\d+)?", digits)
        num = [n.replace(",", ".") for n in num]
        cur = ""
        if kind == "amount":
            cur = ("eur" if re.search(r"€|eur|\be\b|snt|sentti", t) else "usd" if "$" in t or "usd" in t
                   else "gbp" if "£" in t or "gbp" in t else "sek" if "sek" in t or "kr" in t else "")
        return f"{kind}:{cur}:{'/'.join(num)}"
    if kind == "datetime":  # "klo 14.30" == "14.30", "3 p.m." == "3 pm." == "3pm"
        return "datetime:" + re.sub(r"([ap])\.?m\b\.?", r"\1m", re.sub(r"\s+|kello|klo", "", t))
    if kind == "url":
        return "url:" + re.sub(r"^(?:https?://)?(?:www\.)?", "", t).rstrip("/")
    if kind == "path":  # "Avaa Asetukset > Tilaus" == "Asetukset > Tilaus": the menu items, not the verb
        parts = re.split(r"\s*(?:>|›|→)\s*", t)
        return "path:" + ">".join([parts[0].split()[-1], *parts[1:]])
    if kind == "when":  # a Finnish weekday may change its case ending: "perjantaina" / "perjantaihin"
        m = _WEEKDAY_FI_STEM.match(t)
        return "when:" + (m.group(1) if m else re.sub(r"\s+", " ", t).strip())
    return kind + ":" + re.sub(r"\s+", " ", t).strip()


def extract_facts(text: str) -> list[Fact]:
    """Facts in reading order; earlier patterns win overlapping spans."""
    taken: list[tuple[int, int]] = []
    facts: list[Fact] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for kind, rx in FACT_PATTERNS:
        for m in rx.finditer(text):
            a, b = m.span()
            raw = m.group(0).rstrip()
            b = a + len(raw)
            if raw and free(a, b):
                taken.append((a, b))
                facts.append(Fact(kind, raw, a, b))
    for m in _SIGNOFF.finditer(text):
        a, b = m.span("name")
        if free(a, b) and m.group("name").lower() not in GENERIC_SIGNATURES:
            taken.append((a, b))
            facts.append(Fact("name", m.group("name"), a, b))
    for m in _NAME.finditer(text):
        a, b = m.span()
        if free(a, b) and m.group(0).lower() not in COMMON_CAPITALISED:
            taken.append((a, b))
            facts.append(Fact("name", m.group(0), a, b))
    return sorted(facts, key=lambda f: f.start)


# a team's generic signature is not a person: dropping it loses no fact
GENERIC_SIGNATURES = frozenset(["customer service", "customer support", "support", "the team", "team",
                                "asiakaspalvelu", "asiakaspalvelumme", "tuki", "asiakastuki"])
# capitalised mid-sentence words that are not names
COMMON_CAPITALISED = frozenset(
    "i i'm i'll i've i'd ok okay sävy eur euro usd gbp monday tuesday wednesday thursday friday "
    "saturday sunday january february march april may june july august september october november "
    "december english finnish suomi sms pdf faq customer service support team".split())


# -- emotion and findings ----------------------------------------------------------------------
@dataclass
class Finding:
    rule_id: str
    start: int
    end: int
    text: str
    message: str
    suggestion: str | None


@dataclass
class Analysis:
    language: str
    address: str
    customer_emotion: str
    signals: list[str]
    findings: list[Finding]
    facts: list[Fact]
    applied: list[Rule] = field(default_factory=list)
    customer_clean: str = ""


def _votes(sig: Signal, text: str, langs: tuple[str, ...]) -> int:
    """How many votes `sig` casts on `text`: 0 or 1, or for a weak cue with max_votes > 1, one per
    separate place its patterns match (overlapping matches are one place)."""
    if sig.max_votes == 1:
        return int(any(sig.any_of[lg].search(text) for lg in langs if lg in sig.any_of))
    spans = sorted(m.span() for lg in langs for rx in sig.patterns.get(lg, []) for m in rx.finditer(text))
    places, end = 0, -1
    for a, b in spans:
        if a >= end:
            places += 1
        end = max(end, b)
    return min(places, sig.max_votes)


EMOTION_SPAN = 750  # characters read from each end of a long customer message (keeps analyze fast)
TONE_SIGNAL = "tone_model"  # the learned reader's vote shows in `signals` under this name


def signal_scores(book: RuleBook, customer: str, lang: str) -> tuple[int, int, bool, list[str]]:
    """The regex signals' votes on `customer` (already cut to EMOTION_SPAN): negative votes,
    positive votes, whether a strong negative signal matched, and the matching signals' names."""
    scores = {"negative": 0, "positive": 0}
    signals: list[str] = []
    langs = (lang, "en" if lang == "fi" else "fi")  # customers mix languages; own language first
    negated = any(rx.search(customer) for lg in langs for rx in book.negation.get(lg, []))
    neg_min = book.scoring["negative_min"]
    strong_negative = negated
    for sig in book.signals:
        votes = _votes(sig, customer, langs)
        if votes:
            signals.append(sig.name)
            if sig.emotion in scores:
                # "not happy", "ei naurata": a negated positive word votes for the negative side
                side = "negative" if negated and sig.emotion == "positive" else sig.emotion
                scores[side] += sig.weight * votes
                strong_negative |= side == "negative" and sig.weight >= neg_min
    if negated:
        scores["negative"] += 1
    return scores["negative"], scores["positive"], strong_negative, signals


def combine_emotion(scoring: dict[str, int], neg: int, pos: int, strong_negative: bool,
                    signals: list[str], tone: tuple[str, float] | None,
                    vote: dict | None) -> tuple[str, list[str]]:
    """The emotion from the signals' votes plus the learned reader's prediction `tone` (label,
    probability), which votes like a signal named TONE_SIGNAL (`vote` says how; see savy/tone.py)."""
    neg_min, pos_min = scoring["negative_min"], scoring["positive_min"]
    if tone is not None and vote is not None:
        side, votes = tone_votes(tone[0], tone[1], vote)
        if votes:
            signals = [*signals, TONE_SIGNAL]
            if side == "negative":
                neg += votes
                strong_negative |= votes >= neg_min
            else:
                pos += votes
    # a tie goes to the negative side when one signal alone is enough to read the customer as
    # negative (an upset customer read as happy costs more); weak cues alone never win a tie
    if neg >= neg_min and (neg > pos or (neg == pos and strong_negative)):
        return "negative", signals
    if pos >= pos_min and pos >= neg:
        return "positive", signals
    return "neutral", signals


def read_emotion(book: RuleBook, customer: str, lang: str) -> tuple[str, list[str]]:
    """The customer's emotion and the signals behind it: each matching signal casts its weight
    for its emotion; `signals.toml` [scoring] says how many votes an emotion needs. When
    `prompts/emotion_model.npz` is there, the learned reader's confident prediction votes too."""
    if not customer.strip():
        return "neutral", []
    if len(customer) > 2 * EMOTION_SPAN:  # a long message shows its mood at its start and its end
        customer = customer[:EMOTION_SPAN] + "\n" + customer[-EMOTION_SPAN:]
    neg, pos, strong, signals = signal_scores(book, customer, lang)
    model = load_tone_model(book.root)
    tone = model.predict(customer) if model is not None else None
    return combine_emotion(book.scoring, neg, pos, strong, signals, tone,
                           model.vote if model is not None else None)


def find_patterns(book: RuleBook, draft: str, lang: str, emotion: str,
                  signals: list[str] | None = None, address: str = "unknown") -> list[Finding]:
    """The draft's anti-patterns. Rules gated on the customer's emotion or signals are checked only
    when those hold (signals=None means "unknown": signal-gated rules are checked)."""
    findings: list[Finding] = []
    spans: list[tuple[int, int]] = []
    for rule in book.rules:
        if rule.flag_when and emotion not in rule.flag_when:
            continue
        if rule.flag_when_signals and signals is not None and not set(rule.flag_when_signals) & set(signals):
            continue
        for rx in rule.draft_patterns.get(lang, []):
            for m in rx.finditer(draft):
                a, b = m.span()
                if a == b or any(a < e and b > s for s, e in spans):
                    continue
                spans.append((a, b))
                findings.append(Finding(rule.id, a, b, m.group(0), rule.message[lang],
                                        rule.fix(m.group(0), lang, address)))
    return sorted(findings, key=lambda f: f.start)


def analyse(book: RuleBook, draft: str, customer: str | None, language: str = "auto") -> Analysis:
    """Everything the later stages need to know about one request."""
    customer_clean = clean_untrusted(customer or "")
    lang = language if language in ("fi", "en") else detect_language(
        draft, fallback=detect_language(customer_clean) if customer_clean else "en")
    address = detect_address(draft, lang)
    emotion, signals = read_emotion(book, customer_clean, lang)
    findings = find_patterns(book, draft, lang, emotion, signals, address)
    flagged = {f.rule_id for f in findings}
    applied = []
    for rule in book.rules:
        triggered = any(rx.search(customer_clean) for rx in rule.customer_patterns.get(lang, []))
        if rule.id in flagged or emotion in rule.on_emotion or (
                triggered and (not rule.flag_when or emotion in rule.flag_when)):
            applied.append(rule)
    return Analysis(lang, address, emotion, signals, findings, extract_facts(draft), applied,
                    customer_clean)
