"""Load the rule set and emotion signals from `prompts/` (data, never code)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

LANGS = ("fi", "en")
FLAGS = re.IGNORECASE | re.UNICODE
# votes an emotion needs when signals.toml has no [scoring]
SCORING_DEFAULTS = {"negative_min": 1, "positive_min": 1}


def _compile(patterns: list[str], where: str) -> list[re.Pattern[str]]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p, FLAGS))
        except re.error as exc:
            raise ValueError(f"{where}: bad pattern {p!r}: {exc}") from exc
    return out


@dataclass(frozen=True)
class Replacement:
    lang: str
    pattern: re.Pattern[str]
    with_: str
    address: str | None = None


@dataclass(frozen=True)
class Rule:
    """One rule file: guidance for the prompt, patterns for the analyzer, fixes for rules-only."""

    id: str
    order: int
    kind: str
    title: dict[str, str]
    guidance: dict[str, str]
    message: dict[str, str]
    source: dict[str, str]
    draft_patterns: dict[str, list[re.Pattern[str]]]
    customer_patterns: dict[str, list[re.Pattern[str]]]
    replacements: list[Replacement]
    examples: list[dict[str, str]]
    # the draft is only flagged when the customer's emotion is one of these (empty: always)
    flag_when: tuple[str, ...] = ()
    # the rule applies to every request whose customer emotion is one of these
    on_emotion: tuple[str, ...] = ()
    # the draft is only flagged when the customer's message shows one of these signals
    flag_when_signals: tuple[str, ...] = ()

    def fix(self, text: str, lang: str, address: str) -> str | None:
        """The deterministic replacement for a flagged `text` (the first [[replace]] of the draft's
        language and form of address that matches it), or None when the rule has none."""
        for rep in self.replacements:
            if rep.lang != lang or (rep.address and address in ("te", "sinä") and rep.address != address):
                continue
            if rep.pattern.search(text):
                return rep.pattern.sub(rep.with_, text, count=1)
        return None

    @classmethod
    def from_toml(cls, path: Path) -> "Rule":
        d = tomllib.loads(path.read_text(encoding="utf-8"))
        rid = d.get("id")
        if rid != path.stem:
            raise ValueError(f"{path.name}: id {rid!r} must equal the file name")
        for key in ("title", "guidance", "message"):
            if set(d.get(key, {})) < set(LANGS):
                raise ValueError(f"{path.name}: {key} needs fi and en")
        det = d.get("detect", {})
        return cls(
            id=rid,
            order=int(d.get("order", 100)),
            kind=d.get("kind", "tone"),
            title=d["title"],
            guidance=d["guidance"],
            message=d["message"],
            source=d["source"],
            draft_patterns={lg: _compile(det.get(f"draft_{lg}", []), path.name) for lg in LANGS},
            customer_patterns={lg: _compile(det.get(f"customer_{lg}", []), path.name) for lg in LANGS},
            replacements=[
                Replacement(r["lang"], re.compile(r["pattern"], FLAGS), r["with"], r.get("address"))
                for r in d.get("replace", [])
            ],
            examples=d.get("examples", []),
            flag_when=tuple(det.get("flag_when", ())),
            on_emotion=tuple(det.get("on_emotion", ())),
            flag_when_signals=tuple(det.get("flag_when_signals", ())),
        )


@dataclass(frozen=True)
class Signal:
    name: str
    emotion: str
    weight: int
    patterns: dict[str, list[re.Pattern[str]]]
    # a weak cue may vote once per separate place it matches, up to this many times
    max_votes: int = 1

    @cached_property
    def any_of(self) -> dict[str, re.Pattern[str]]:
        """One alternation per language: a single scan of the text instead of one per pattern."""
        return {lg: re.compile("|".join(f"(?:{p.pattern})" for p in ps), FLAGS)
                for lg, ps in self.patterns.items() if ps}


@dataclass
class RuleBook:
    """Everything in `prompts/`: rules, signals and prompt templates (the bank: compose.py)."""

    root: Path
    rules: list[Rule]
    signals: list[Signal]
    negation: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    # votes an emotion needs before the analyzer reads it (signals.toml [scoring])
    scoring: dict[str, int] = field(default_factory=lambda: dict(SCORING_DEFAULTS))
    _texts: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, root: Path) -> "RuleBook":
        if not (root / "rules").is_dir():
            raise FileNotFoundError(f"no rules in {root}/rules (set SAVY_PROMPTS_DIR)")
        rules = sorted((Rule.from_toml(p) for p in (root / "rules").glob("*.toml")),
                       key=lambda r: (r.order, r.id))
        sig_data = tomllib.loads((root / "signals.toml").read_text(encoding="utf-8"))
        signals = [
            Signal(name, s.get("emotion", "neutral"), int(s.get("weight", 1)),
                   {lg: _compile(s.get(lg, []), f"signals.{name}") for lg in LANGS},
                   max(1, int(s.get("max_votes", 1))))
            for name, s in sig_data.get("signals", {}).items()
        ]
        negation = {lg: _compile(sig_data.get("negation", {}).get(lg, []), "negation") for lg in LANGS}
        scoring = {**SCORING_DEFAULTS, **{k: int(v) for k, v in sig_data.get("scoring", {}).items()}}
        for sig in signals:
            sig.any_of  # noqa: B018 — compile at load, not on the first request
            return cls(root, rules, signals, negation, scoring)

    @cached_property
    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def text(self, name: str) -> str:
        """A prompt text file from `prompts/` (e.g. `completion.txt`), read once."""
        if name not in self._texts:
            self._texts[name] = (self.root / name).read_text(encoding="utf-8")
        return self._texts[name]
