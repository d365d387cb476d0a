"""Tabulate blind verdicts: joins a judge's A/B verdicts with the run's key (which pipeline was A).

    .venv/bin/python bench/judge_table.py RUN_DIR VERDICTS.jsonl [VERDICTS.jsonl ...] [--samples N]

Prints per pipeline and language: SEND / EDIT / REJECT, meaning changed, broken language, warmer,
and each pipeline's outcome per source (model / rules / draft); with --samples, N unpicked cases
(every k-th by id, chosen before reading any output) with both rewrites and their verdicts."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path


def load(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def main(run: Path, verdict_files: list[Path], samples: int = 0) -> None:
    key = {k["id"]: k for k in load(run / "key.jsonl")}
    cases = {c["id"]: c for c in load(run / "for_judge.jsonl")}
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    verdicts = {v["id"]: v for vf in verdict_files for v in load(vf)}
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
    if samples:
        ids = sorted(verdicts)
        step = max(1, len(ids) // samples)
        for i in ids[::step][:samples]:
            c, k, v = cases[i], key[i], verdicts[i]
            print(f"\n### {i}\n\n**Customer:** {c['customer'] or '(none)'}\n\n**Draft:** {c['draft']}")
            for pipe in ("new", "baseline"):
                slot = "A" if k["A"] == pipe else "B"
                j = v[slot]
                why = f" — {j['why']}" if j["why"] else ""
                print(f"\n**{pipe}** ({k[pipe]['source']}; judged {j['verdict']}, meaning {j['meaning']}, "
                      f"{j['language']}{why}):\n\n> " + c[slot].replace("\n", "\n> "))


if __name__ == "__main__":
    args = sys.argv[1:]
    n = 0
    if "--samples" in args:
        at = args.index("--samples")
        n = int(args[at + 1])
        del args[at:at + 2]
    main(Path(args[0]), [Path(p) for p in args[1:]], n)
