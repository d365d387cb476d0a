"""The rule files themselves: grounded in the seeds, bilingual, and their patterns do what their
examples say."""

from __future__ import annotations

import pytest

from savy.analyse import find_patterns
from savy.rules import RuleBook
from savy.settings import REPO_ROOT

from .conftest import SEEDS

BOOK = RuleBook.load(REPO_ROOT / "prompts")
RULES = BOOK.rules


def test_enough_rules() -> None:
    assert len(RULES) >= 15


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_cites_its_seed(rule) -> None:  # type: ignore[no-untyped-def]
    seed = SEEDS / rule.source["seed"]
    assert seed.is_file(), rule.source
    norm = lambda s: " ".join(s.replace("’", "'").replace("”", '"').replace("“", '"').split())  # noqa: E731
    assert norm(rule.source["quote"]) in norm(seed.read_text(encoding="utf-8"))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_is_bilingual(rule) -> None:  # type: ignore[no-untyped-def]
    for part in (rule.title, rule.guidance, rule.message):
        assert part["fi"].strip() and part["en"].strip()
    langs = [e["lang"] for e in rule.examples]
    assert langs.count("fi") >= 1 and langs.count("en") >= 1


def _examples():  # type: ignore[no-untyped-def]
    for rule in RULES:
        for i, ex in enumerate(rule.examples):
            yield pytest.param(rule, ex, id=f"{rule.id}-{ex['lang']}-{i}")


@pytest.mark.parametrize("rule,ex", list(_examples()))
def test_examples_detected(rule, ex) -> None:  # type: ignore[no-untyped-def]
    lang = ex["lang"]
    # the good version trips no rule at all
    for other in RULES:
        for rx in other.draft_patterns.get(lang, []):
            assert not rx.search(ex["good"]), (other.id, rx.pattern, ex["good"])
    if rule.draft_patterns.get(lang):
        hits = find_patterns(BOOK, ex["bad"], lang, rule.flag_when[0] if rule.flag_when else "neutral")
        assert rule.id in {h.rule_id for h in hits}, (ex["bad"], [p.pattern for p in rule.draft_patterns[lang]])
    if rule.customer_patterns.get(lang) and ex.get("customer"):
        assert any(rx.search(ex["customer"]) for rx in rule.customer_patterns[lang]), ex["customer"]


def _phrases() -> list[tuple[str, str]]:
    from savy.compose import load_bank

    return [(e.lang, t) for e in load_bank(BOOK.root).entries for t in e.texts.values()]


@pytest.mark.parametrize("emotion", ["negative", "neutral", "positive"])
def test_our_own_phrases_trip_no_rule(emotion: str) -> None:
    """The rewrite adds openings and closings from prompts/bank: a pattern that flags one
    of them ("We look forward to hearing from you again!" once did) would make Sävy warn about
    its own words."""
    flagged = [(lang, p, [f.rule_id for f in find_patterns(BOOK, p, lang, emotion, None)])
               for lang, p in _phrases()]
    assert len(flagged) > 400
    assert [x for x in flagged if x[2]] == []
