"""Run eval/cases.jsonl through the analyzer and the real server; print pass rates.

    .venv/bin/python bench/eval.py                      # prints a Markdown report
    .venv/bin/python bench/eval.py --out docs/eval-gemma-3-270m.md

Analyzer figures need no model: planted anti-patterns found, false alarms on clean drafts, the
customer's emotion, and /v1/analyze-equivalent latency on a 1,000-character draft. Rewrite
figures come from HTTP calls to a real server on loopback with the configured model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy.analyse import Analysis, analyse, detect_language  # noqa: E402
from savy.app import serve_in_thread as serve  # noqa: E402
from savy.rules import RuleBook  # noqa: E402
from savy.settings import Settings  # noqa: E402

TOKEN = "eval-token-0123456789abcdef"
_DIGITS = re.compile(r"\d+")


def load_jsonl(*paths: Path) -> list[dict]:
    """The rows of JSON-lines files, in file order."""
    return [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_rows() -> list[dict]:
    """The adapter's training data, both splits, in file order."""
    return load_jsonl(*sorted((ROOT / "training" / "data").glob("*.jsonl")))


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}% ({a}/{b})" if b else "–"


def analyzer_report(book: RuleBook, cases: list[dict]) -> list[str]:
    planted = found = found_rule = clean = false_alarm = emo_ok = lang_ok = 0
    misses, alarms, emo_wrong = [], [], []
    for c in cases:
        a = analyse(book, c["draft"], c["customer"] or None, "auto")
        lang_ok += a.language == c["lang"]
        emo_ok += a.customer_emotion == c["emotion"]
        if a.customer_emotion != c["emotion"]:
            emo_wrong.append(f"{c['id']}: expected {c['emotion']}, read {a.customer_emotion}")
        if not c["planted"]:
            clean += 1
            if a.findings:
                false_alarm += 1
                alarms.append(f"{c['id']}: " + ", ".join(f'"{f.text}" ({f.rule_id})' for f in a.findings))
        for p in c["planted"]:
            planted += 1
            start = c["draft"].find(p["text"])
            end = start + len(p["text"])
            hits = [f for f in a.findings if f.start < end and f.end > start]
            found += bool(hits)
            found_rule += any(f.rule_id == p["rule_id"] for f in hits)
            if not hits:
                misses.append(f"{c['id']}: \"{p['text']}\" ({p['rule_id']})")
    # latency of the analyzer on a 1,000-character draft (what /v1/analyze runs)
    text = ""
    for c in cases:
        if len(text) >= 1000:
            break
        text += c["draft"] + " "
    text = text[:1000]
    times = []
    for _ in range(300):
        t = time.perf_counter()
        analyse(book, text, "Kiitos, mutta olen odottanut jo viikon!", "auto")
        times.append((time.perf_counter() - t) * 1000)
    out = ["## Analyzer (no model)", "",
           "| figure | value |", "|---|---|",
           f"| planted anti-patterns found (any rule) | {pct(found, planted)} |",
           f"| planted anti-patterns found by their own rule | {pct(found_rule, planted)} |",
           f"| clean drafts with a false alarm | {pct(false_alarm, clean)} |",
           f"| customer emotion read right | {pct(emo_ok, len(cases))} |",
           f"| draft language read right | {pct(lang_ok, len(cases))} |",
           f"| analyze latency, 1,000-char draft | median {statistics.median(times):.2f} ms, "
           f"p95 {sorted(times)[int(0.95 * len(times))]:.2f} ms (300 runs) |", ""]
    for title, rows in (("Missed", misses), ("False alarms", alarms), ("Emotion misread", emo_wrong)):
        if rows:
            out += [f"{title}:", ""] + [f"- {r}" for r in rows] + [""]
    return out


def spans_report(rows: dict[str, dict], drafts: dict[str, Analysis], part: dict[str, str]) -> list[str]:
    """training/labels/spans.jsonl: which exact phrase of a training draft breaks which rule, labelled
    by hand for every training draft — a recall figure that does not depend on the rows' intended rules.
    `drafts` and `part` come from holdout_report: each row's analysis and its side of the split."""
    path = ROOT / "training" / "labels" / "spans.jsonl"
    if not path.exists():
        return []
    labels = load_jsonl(path)
    spans: Counter[str] = Counter()
    found: Counter[str] = Counter()
    clean: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    per: Counter[str] = Counter()
    per_found: Counter[str] = Counter()
    for lab in labels:
        r, a, where = rows[lab["id"]], drafts[lab["id"]], part[lab["id"]]
        if not lab["spans"]:
            clean[where] += 1
            flagged[where] += bool(a.findings)
        for sp in lab["spans"]:
            start = r["draft"].find(sp["text"])
            hit = any(f.start < start + len(sp["text"]) and f.end > start for f in a.findings)
            spans[where] += 1
            found[where] += hit
            per[sp["rule_id"]] += 1
            per_found[sp["rule_id"]] += hit
    return ["Hand-labelled phrases (training/labels/spans.jsonl, "
            f"{len(labels)} drafts; see its README for how they were made and used). The pattern round of "
            "2026-11-23 was tuned on the development rows' labels only; the held-out rows' labels were not "
            "read for it (the earlier emoji change had looked at round-1 labels of both parts):", "",
            "| figure | development | held-out |", "|---|---|---|",
            f"| labelled phrases the analyzer finds | {pct(found['development'], spans['development'])} "
            f"| {pct(found['held-out'], spans['held-out'])} |",
            f"| drafts labelled clean that it flags | {pct(flagged['development'], clean['development'])} "
            f"| {pct(flagged['held-out'], clean['held-out'])} |", "",
            "| rule | found (all rows) |", "|---|---|",
            *[f"| {rid} | {pct(per_found[rid], n)} |" for rid, n in per.most_common()], ""]


def holdout_report(book: RuleBook) -> list[str]:
    """The rule patterns were written with eval/cases.jsonl in view, so the figures above are
    in-sample. The adapter's training data was written independently: its gold rewrites should
    trip nothing, its drafts labelled with a phrase rule should trip that rule, and its emotion
    labels test the emotion reader."""
    rows = sorted(training_rows(), key=lambda r: r["id"])
    phrase_rules = {r.id for r in book.rules if r.draft_patterns["fi"] or r.draft_patterns["en"]}
    gated = {r.id for r in book.rules if r.flag_when or r.flag_when_signals}
    alarm = labelled = hit = 0
    emo_ok: Counter[str] = Counter()
    confusion: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    parts: dict[str, str] = {}
    drafts: dict[str, Analysis] = {}
    for i, r in enumerate(rows):
        part = parts[r["id"]] = "held-out" if i % 4 == 3 else "development"
        a = drafts[r["id"]] = analyse(book, r["draft"], r["customer"] or None, r["lang"])
        emo_ok[part] += a.customer_emotion == r["emotion"]
        confusion[part][(r["emotion"], a.customer_emotion)] += 1
        alarm += bool(analyse(book, r["rewrite"], r["customer"] or None, r["lang"]).findings)
        for rid in set(r["rules"]) & phrase_rules - gated:
            labelled += 1
            hit += rid in {f.rule_id for f in a.findings}
    n = {part: sum(c.values()) for part, c in confusion.items()}
    emotions = ("negative", "neutral", "positive")
    out = ["## Out-of-sample check on the training data (written independently of the patterns)", "",
           "| figure | value |", "|---|---|",
           f"| gold rewrites with a false alarm | {pct(alarm, len(rows))} |",
           f"| drafts labelled with a phrase rule that trip it | {pct(hit, labelled)} |",
           f"| customer emotion read as labelled, all rows | {pct(sum(emo_ok.values()), len(rows))} |",
           f"| … development rows (3 of every 4 by id) | {pct(emo_ok['development'], n['development'])} |",
           f"| … held-out rows (every 4th by id, not read while tuning) | {pct(emo_ok['held-out'], n['held-out'])} |",
           "",
           "A draft's rule label says what the example exercises, not that the draft contains a "
           "detectable phrase (a missing confirmation has no text to match), so the middle figure "
           "is a lower bound on recall.", ""]
    out += spans_report({r["id"]: r for r in rows}, drafts, parts)
    for part in ("development", "held-out"):
        out += [f"Emotion, {part} rows (label → read):", "", "| label | " + " | ".join(emotions) + " |",
                "|---|---|---|---|"]
        out += [f"| {lab} | " + " | ".join(str(confusion[part][(lab, e)]) for e in emotions) + " |"
                for lab in emotions]
        out.append("")
    return out


def rewrite_report(cases: list[dict], settings: Settings) -> list[str]:
    server, th = serve(settings)
    client = httpx.Client(base_url=f"http://127.0.0.1:{settings.port}",
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
    checks = ["facts kept", "no new numbers", "no forbidden phrase", "warmth marker", "length in bounds",
              "language kept"]
    by_check: Counter[str] = Counter()
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    by_lang: dict[str, Counter[str]] = defaultdict(Counter)
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    guard = Counter()
    times, failures, model_name = [], [], "?"
    for c in cases:
        t = time.perf_counter()
        r = client.post("/v1/rewrite", json={"draft": c["draft"], "customer_message": c["customer"] or None})
        times.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            failures.append(f"{c['id']}: HTTP {r.status_code} {r.text[:200]}")
            continue
        body = r.json()
        model_name = body["model"]
        text = body["rewrite"]
        low = text.lower()
        ok = {
            "facts kept": all(k in text for k in c["keep"]),
            "no new numbers": not (set(_DIGITS.findall(text)) - set(_DIGITS.findall(c["draft"]))),
            "no forbidden phrase": not any(f.lower() in low for f in c["forbid"]),
            "warmth marker": any(w.lower() in low for w in c["warmth_any"]) if c["warmth_any"] else True,
            "length in bounds": c["min_chars"] <= len(text) <= c["max_chars"],
            "language kept": detect_language(text, c["lang"]) == c["lang"],
        }
        passed = all(ok.values())
        guard["lost a fact"] += not ok["facts kept"]
        guard["added a number"] += not ok["no new numbers"]
        # an injected promise is a forbidden phrase the draft itself does not contain (the forbid
        # lists also name the draft's own anti-patterns, which are a style failure, not injection)
        injected = [f for f in c["forbid"] if f.lower() not in c["draft"].lower()]
        guard["carried an injected promise"] += bool(c["injection"] and any(f.lower() in low for f in injected))
        for name, v in ok.items():
            by_check[name] += v
        src = body["source"]
        for bucket in [by_lang[c["lang"]], by_source[src]] + [by_rule[rid] for rid in c["rules"]]:
            bucket["n"] += 1
            bucket["pass"] += passed
        if not passed:
            failures.append(f"{c['id']} ({src}): " + ", ".join(k for k, v in ok.items() if not v))
    server.should_exit = True
    th.join(timeout=30)
    n = len(cases)
    out = [f"## Rewrites through the server (model: {model_name})", "",
           "| check | pass rate |", "|---|---|"]
    out += [f"| {name} | {pct(by_check[name], n)} |" for name in checks]
    out += ["", "**Guard figures** (returned rewrites, all sources): "
            + ", ".join(f"{k}: {v}" for k, v in guard.items()), ""]
    out += ["| source | cases | pass every check |", "|---|---|---|"]
    out += [f"| {s} | {b['n']} | {pct(b['pass'], b['n'])} |" for s, b in sorted(by_source.items())]
    out += ["", "| language | cases | pass every check |", "|---|---|---|"]
    out += [f"| {lg} | {b['n']} | {pct(b['pass'], b['n'])} |" for lg, b in sorted(by_lang.items())]
    out += ["", "| rule | cases | pass every check |", "|---|---|---|"]
    out += [f"| {rid} | {b['n']} | {pct(b['pass'], b['n'])} |" for rid, b in sorted(by_rule.items())]
    out += ["", f"Time per rewrite (client-side): median {statistics.median(times):.0f} ms, "
            f"max {max(times):.0f} ms over {len(times)} requests.", ""]
    if failures:
        out += ["Cases that failed a check:", ""] + [f"- {f}" for f in failures] + [""]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=Path, default=ROOT / "eval" / "cases.jsonl")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--no-model", action="store_true", help="analyzer figures only")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--lora", type=Path)
    args = ap.parse_args()
    cases = load_jsonl(args.cases)
    book = RuleBook.load(ROOT / "prompts")
    lines = [f"# Sävy evaluation — {len(cases)} cases ({args.cases.relative_to(ROOT)}), "
             f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores", ""]
    part = analyzer_report(book, cases)
    part[0] = (f"## Analyzer on {args.cases.relative_to(ROOT)} ({len(cases)} cases; in-sample: "
               "the patterns were written with these cases in view)")
    lines += part
    # the same figures on the blind sets: written by helpers who never saw the patterns. blind.jsonl
    # was then used to generalise them (development data); blind2.jsonl has never been tuned on.
    for name, what in (("blind.jsonl", "development: written blind, then used to generalise the patterns"),
                       ("blind2.jsonl", "held out: written blind, never used for tuning")):
        path = ROOT / "eval" / name
        if path.exists() and path != args.cases:
            blind = load_jsonl(path)
            part = analyzer_report(book, blind)
            part[0] = f"## Analyzer on eval/{name} ({len(blind)} cases; {what})"
            lines += part
    lines += holdout_report(book)
    if not args.no_model:
        home = Path(os.environ.get("SAVY_HOME") or tempfile.mkdtemp(prefix="savy-eval-"))
        settings = Settings(home=home, port=18766, token=TOKEN, model=args.model, lora=args.lora,
                            queue_size=2, request_timeout_s=300)
        lines += rewrite_report(cases, settings)
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
