"""Tabulate blind verdicts: joins a judge's A/B verdicts with the run's key (which pipeline was A).

    .venv/bin/python bench/judge_table.py RUN_DIR VERDICTS.jsonl [VERDICTS.jsonl ...]

Prints per pipeline and language: SEND / EDIT / REJECT, meaning changed, broken language, warmer,
and the new pipeline's outcome per source (model / rules / draft)."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path


def load(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def main(run: Path, verdict_files: list[Path]) -> None:
    key = {k["id"]: k for k in load(run / "key.jsonl")}
    cases = {c["id"]: c for c in load(run / "for_judge.jsonl")}
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for vf in verdict_files:
        for v in load(vf):
            k, lang = key[v["id"]], cases[v["id"]]["lang"]
            for slot in ("A", "B"):
                pipe, j = k[slot], v[slot]
                for group in ((pipe, lang), (pipe, "all"), (f"{pipe}:{k[pipe]['source']}", "all")):
                    c = rows[group]
                    c["n"] += 1
                    c[j["verdict"]] += 1
                    c["changed"] += j["meaning"] == "changed"
                    c["broken"] += j["language"] == "broken"
                    c["warmer"] += bool(j["warmer"])
    print("| pipeline | lang | n | SEND | EDIT | REJECT | meaning changed | broken language | warmer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (pipe, lang), c in sorted(rows.items()):
        n = c["n"]
        pct = lambda x: f"{c[x]} ({100 * c[x] / n:.0f}%)"  # noqa: E731
        print(f"| {pipe} | {lang} | {n} | {pct('SEND')} | {pct('EDIT')} | {pct('REJECT')} | "
              f"{pct('changed')} | {pct('broken')} | {pct('warmer')} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
