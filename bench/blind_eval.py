"""Blind quality run: a baseline Sävy (another checkout's `server/savy`, e.g. the last release) vs
this one, on cases written by a helper that never saw Sävy's code, patterns or training data. Both
run in this process, each with its own engine, interleaved per case (timings compare as a ratio
under the same load).

    git worktree add /tmp/base <commit> && mv /tmp/base/server/savy /tmp/base/server/savy_old
    .venv/bin/python bench/blind_eval.py CASES.jsonl OUTDIR /tmp/base

Writes OUTDIR/for_judge.jsonl (each case with outputs "A" and "B" in a per-case random order, no
source named), OUTDIR/key.jsonl (which of A/B is which pipeline, its source, timing and warnings),
and prints the median time per pipeline and their ratio.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy.app import build_state  # noqa: E402
from savy.schemas import RewriteRequest  # noqa: E402
from savy.settings import Settings  # noqa: E402


async def main(cases_path: Path, out: Path, base: Path) -> None:
    cases = [json.loads(x) for x in cases_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    sys.path.insert(0, str(base / "server"))
    import savy_old.app  # type: ignore[import-not-found]
    import savy_old.settings  # type: ignore[import-not-found]

    old = savy_old.app.build_state(savy_old.settings.Settings(n_threads=2))
    state = build_state(Settings(n_threads=2))
    pipes = {"new": state.rewriter, "baseline": old.rewriter}
    rng = random.Random(20261207)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {k: [] for k in pipes}
    with (out / "for_judge.jsonl").open("w", encoding="utf-8") as fj, (out / "key.jsonl").open("w", encoding="utf-8") as fk:
        for c in cases:
            req = RewriteRequest(draft=c["draft"], customer_message=c["customer"] or None, language=c["lang"])
            got = {}
            for name in rng.sample(list(pipes), 2):  # alternate which runs first
                t0 = time.monotonic()
                r = await pipes[name].run(req)
                dt = time.monotonic() - t0
                times[name].append(dt)
                got[name] = (r, dt)
            order = rng.sample(list(pipes), 2)
            fj.write(json.dumps({"id": c["id"], "lang": c["lang"], "customer": c["customer"], "draft": c["draft"],
                                 "A": got[order[0]][0].rewrite, "B": got[order[1]][0].rewrite},
                                ensure_ascii=False) + "\n")
            fk.write(json.dumps({"id": c["id"], "A": order[0], "B": order[1],
                                 **{n: {"source": r.source, "s": round(dt, 2), "warnings": r.warnings,
                                        "opener": getattr(r, "opener", None),
                                        "alternatives": [a.opener for a in getattr(r, "alternatives", [])]}
                                    for n, (r, dt) in got.items()}}, ensure_ascii=False) + "\n")
            print(c["id"], {n: (r.source, round(dt, 2)) for n, (r, dt) in got.items()}, flush=True)
    for n, ts in times.items():
        print(f"{n}: median {statistics.median(ts):.2f} s, p90 {sorted(ts)[int(0.9 * len(ts))]:.2f} s over {len(ts)}")
    print(f"median ratio new/baseline: {statistics.median(times['new']) / statistics.median(times['baseline']):.2f}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
