"""The guard against what good agents write: the adapter's 2,088 hand-written gold rewrites.

Every problem the guard finds in a gold rewrite is either a flaw in that example or a false alarm
that would throw away a good model answer. The ceiling pins today's figure (90 of 2,088, 4.3%) so a
stricter check that starts rejecting good text fails here rather than quietly in the evaluation.
"""

from __future__ import annotations

import json
from collections import Counter

from savy.analyse import analyse
from savy.guard import Guard
from savy.rules import RuleBook
from savy.settings import REPO_ROOT


def test_guard_accepts_the_gold_rewrites(book: RuleBook) -> None:
    guard = Guard(book)
    rows = [json.loads(line) for f in sorted((REPO_ROOT / "training" / "data").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 2000
    rejected: dict[str, list[str]] = {}
    for r in rows:
        a = analyse(book, r["draft"], r["customer"] or None, r["lang"])
        problems = guard.check(a, r["draft"], r["rewrite"], meaning=False)
        if problems:
            rejected[r["id"]] = problems
    kinds = Counter(p.split(" '")[0].split(' "')[0].split(":")[0] for ps in rejected.values() for p in ps)
    assert len(rejected) <= 0.045 * len(rows), (len(rejected), kinds.most_common(8))
    # the Finnish word check in particular: a good agent's Finnish is all known words
    assert not [i for i, ps in rejected.items() if any("not a Finnish word" in p for p in ps)]


def test_meaning_guard_on_the_gold_rewrites(book: RuleBook) -> None:
    """The meaning guard against free human rewrites, which paraphrase (and sometimes do drop advice
    or a refusal). At most the 5% the rewriting issue asks for (today 97 of 2,088, 4.6%), so a
    stricter check shows here (docs/eval-blind.md says what made it fair)."""
    guard = Guard(book)
    rows = [json.loads(line) for f in sorted((REPO_ROOT / "training" / "data").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    rejected = [r["id"] for r in rows
                if guard.meaning(analyse(book, r["draft"], r["customer"] or None, r["lang"]), r["draft"], r["rewrite"])]
    assert len(rejected) <= 0.05 * len(rows), len(rejected)
