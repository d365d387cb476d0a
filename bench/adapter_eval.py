"""Base model (few-shot prompt) vs Sävy's adapter, through the real server, on three case sets:
eval/cases.jsonl, eval/blind.jsonl (written without sight of the analyzer) and the training data's
held-out split (never trained on). Prints a Markdown table and writes sample rewrites.

    .venv/bin/python bench/adapter_eval.py --out docs/eval-adapter.md --samples docs/adapter-samples.md

Both configurations run in this one process, one after the other, on the same machine.
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
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy.analyse import analyse, detect_language  # noqa: E402
from savy.app import serve_in_thread as serve  # noqa: E402
from savy.rules import RuleBook  # noqa: E402
from savy.settings import Settings  # noqa: E402

from eval import _DIGITS, TOKEN, load_jsonl, training_rows  # noqa: E402  (bench/eval.py)

JOKES = re.compile(r"haha|hehe|\blol\b|😂|😄|😅|🤣|😆|hih", re.I)
POSITIVE = {"fi": ["kiitos", "kiva", "mukava", "ilo", "hienoa", "hyvä", "ihana", "upea"],
            "en": ["thank", "glad", "great", "pleasure", "happy", "lovely", "delighted", "wonderful"]}
EMPATHY = {"fi": ["kiitos", "ymmärr", "harmi", "ikävä", "pahoit", "valitettav", "hyvä", "autan", "autamme"],
           "en": ["thank", "understand", "sorry", "apolog", "frustrat", "appreciate", "glad", "help"]}
CHECKS = ["answered by the model", "model answer passes every check", "facts kept", "no new numbers",
          "anti-patterns removed", "emotion-appropriate", "language kept", "no repetition", "length in bounds"]


def heldout_cases() -> list[dict]:
    out = []
    for r in training_rows():
        if r.get("split") != "heldout":
            continue
        n = len(r["draft"])
        out.append({"id": r["id"], "lang": r["lang"], "customer": r["customer"], "draft": r["draft"],
                    "emotion": r["emotion"], "keep": [x for x in r.get("facts", []) if x in r["draft"]],
                    "forbid": [], "warmth_any": [], "min_chars": int(0.8 * n), "max_chars": max(240, int(3.5 * n)),
                    "rules": r["rules"], "injection": False, "gold": r["rewrite"]})
    return out


def repeats(text: str) -> bool:
    sents = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 12]
    if len(sents) != len(set(sents)):
        return True
    words = text.lower().split()
    grams = Counter(tuple(words[i:i + 5]) for i in range(len(words) - 4))
    return any(v >= 3 for v in grams.values())


def score(book: RuleBook, c: dict, body: dict) -> dict[str, bool]:
    text = body["rewrite"]
    low = text.lower()
    lang = c["lang"]
    draft_findings = {f.rule_id for f in analyse(book, c["draft"], c["customer"] or None, lang).findings}
    left = {f.rule_id for f in analyse(book, text, c["customer"] or None, lang).findings} & draft_findings
    if c["emotion"] == "positive":
        markers = c["warmth_any"] or POSITIVE[lang]
        emo = any(w in low for w in markers)
    elif c["emotion"] == "negative":
        markers = c["warmth_any"] or EMPATHY[lang]
        emo = any(w in low for w in markers) and not JOKES.search(text)
    else:  # neutral: add no emotion, stay short
        emo = len(text) <= max(2.2 * len(c["draft"]), len(c["draft"]) + 160) and not JOKES.search(text)
    ok = {
        "facts kept": all(k in text for k in c["keep"]),
        "no new numbers": not (set(_DIGITS.findall(text)) - set(_DIGITS.findall(c["draft"]))),
        "anti-patterns removed": not left and not any(f.lower() in low for f in c["forbid"]),
        "emotion-appropriate": emo,
        "language kept": detect_language(text, lang) == lang,
        "no repetition": not repeats(text),
        "length in bounds": c["min_chars"] <= len(text) <= c["max_chars"],
    }
    model = body["source"] == "model"
    return {"answered by the model": model, "model answer passes every check": model and all(ok.values()), **ok}


def run(config: str, sets: dict[str, list[dict]], book: RuleBook, home: Path, port: int) -> dict:
    # "base", "adapter" (the shipped one), or NAME:PATH — another adapter GGUF in the same prompt format
    name, _, path = config.partition(":")
    extra = {"lora": Path(path), "prompt_style": "adapter"} if path else {}
    settings = Settings(home=home, port=port, token=TOKEN, adapter=(name == "adapter"), queue_size=2,
                        request_timeout_s=300, **extra)
    server, th = serve(settings)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=600)
    res: dict = {"model": "?", "sets": {}, "tps": [], "ms": []}
    try:
        for name, cases in sets.items():
            rows = []
            for c in cases:
                t = time.perf_counter()
                r = client.post("/v1/rewrite", json={"draft": c["draft"], "customer_message": c["customer"] or None})
                ms = (time.perf_counter() - t) * 1000
                if r.status_code != 200:
                    rows.append({"case": c, "ok": {k: False for k in CHECKS}, "body": None})
                    continue
                body = r.json()
                res["model"] = body["model"]
                tm = body["timings"]
                gen_s = (tm["total_ms"] - (tm["first_token_ms"] or 0)) / 1000
                if tm["completion_tokens"] >= 8 and gen_s > 0:
                    res["tps"].append(tm["completion_tokens"] / gen_s)
                res["ms"].append(ms)
                rows.append({"case": c, "ok": score(book, c, body), "body": body})
            res["sets"][name] = rows
            print(f"[{config}] {name}: done {len(rows)}", file=sys.stderr, flush=True)
    finally:
        server.should_exit = True
        th.join(timeout=30)
    return res


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "–"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--samples", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases of each set (smoke run)")
    ap.add_argument("--configs", default="base,adapter",
                    help="base, adapter (the shipped one) or NAME:PATH (another adapter GGUF, adapter prompt format)")
    ap.add_argument("--results", type=Path, help="save each configuration's answers here (JSON) ...")
    ap.add_argument("--reuse", default="", help="... and load these configurations from there instead of running them")
    ap.add_argument("--labels", default="", help="column names instead of the model name: cfg=label,...")
    args = ap.parse_args()
    sets = {"eval/cases.jsonl": load_jsonl(ROOT / "eval" / "cases.jsonl"),
            "eval/blind.jsonl": load_jsonl(ROOT / "eval" / "blind.jsonl"),
            "training held-out split": heldout_cases()}
    if args.limit:
        sets = {k: v[: args.limit] for k, v in sets.items()}
    book = RuleBook.load(ROOT / "prompts")
    home = Path(os.environ.get("SAVY_HOME") or tempfile.mkdtemp(prefix="savy-eval-"))
    results = {}
    reuse = set(filter(None, args.reuse.split(",")))
    for i, spec in enumerate(args.configs.split(",")):
        cfg = spec.partition(":")[0]
        saved = args.results / f"{cfg}.json" if args.results else None
        if cfg in reuse and saved:
            results[cfg] = json.loads(saved.read_text(encoding="utf-8"))
            continue
        results[cfg] = run(spec, sets, book, home, 18770 + i)
        if saved:
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(results[cfg], ensure_ascii=False), encoding="utf-8")
    cfgs = list(results)
    for pair in filter(None, args.labels.split(",")):  # column names, e.g. adapter=two epochs
        cfg, _, label = pair.partition("=")
        if cfg in results:
            results[cfg]["model"] = label
    lines = [f"# Base model vs Sävy adapter — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores", "",
             "Each case goes through the real server (`POST /v1/rewrite`): the model's answer is returned only "
             "if the guard passes it (`source: model`), else the rules-only rewrite (`source: rules`). "
             "Checks are computed on what the server returned.", ""]
    for name, cases in sets.items():
        lines += [f"## {name} ({len(cases)} cases)", "", "| check | " + " | ".join(
            results[c]["model"] for c in cfgs) + " |", "|---|" + "---|" * len(cfgs)]
        for chk in CHECKS:
            cells = []
            for c in cfgs:
                rows = results[c]["sets"][name]
                cells.append(pct(sum(r["ok"][chk] for r in rows), len(rows)))
            lines.append(f"| {chk} | " + " | ".join(cells) + " |")
        for c in cfgs:
            rows = results[c]["sets"][name]
            lost = sum(1 for r in rows if r["body"] and not r["ok"]["facts kept"])
            added = sum(1 for r in rows if r["body"] and not r["ok"]["no new numbers"])
            lines.append("")
            lines.append(f"{results[c]['model']}: sources {dict(Counter(r['body']['source'] for r in rows if r['body']))}; "
                         f"returned rewrites that lost a fact: {lost}, added a number: {added}")
        lines.append("")
    lines += ["## Speed (server-side, per request)", "", "| | " + " | ".join(results[c]["model"] for c in cfgs) + " |",
              "|---|" + "---|" * len(cfgs),
              "| generation tokens/s (median, answers ≥ 8 tokens) | " + " | ".join(
                  f"{statistics.median(results[c]['tps']):.1f}" if results[c]["tps"] else "–" for c in cfgs) + " |",
              "| time per rewrite, client-side (median) | " + " | ".join(
                  f"{statistics.median(results[c]['ms']):.0f} ms" for c in cfgs) + " |", ""]
    fails = []
    last = cfgs[-1]
    for name in sets:
        for r in results[last]["sets"][name]:
            bad = [k for k in CHECKS[2:] if not r["ok"][k]]
            if r["body"] and (bad or r["body"]["source"] != "model"):
                fails.append(f"- {r['case']['id']} ({r['body']['source']}): {', '.join(bad) or 'guard: ' + '; '.join(r['body']['warnings'])[:160]}")
    lines += [f"## Cases {results[last]['model']} did not answer cleanly", ""] + fails + [""]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    if args.samples:
        write_samples(results[last], sets, args.samples)


def write_samples(res: dict, sets: dict, path: Path) -> None:
    """10 Finnish + 10 English rewrites, spread evenly over the blind and held-out cases (not cherry-picked)."""
    pool = res["sets"]["eval/blind.jsonl"] + res["sets"]["training held-out split"]
    out = [f"# Sample rewrites — {res['model']}", "",
           "Ten Finnish and ten English cases, taken at even intervals from eval/blind.jsonl and the "
           "training data's held-out split (never trained on), whatever the outcome. `source` says who "
           "wrote the text: the model (passed the guard) or Sävy's rules (the model's text was rejected).", ""]
    for lang in ("fi", "en"):
        rows = [r for r in pool if r["case"]["lang"] == lang and r["body"]]
        step = max(1, len(rows) // 10)
        for r in rows[::step][:10]:
            c, b = r["case"], r["body"]
            out += [f"### {c['id']} ({lang}, customer {c['emotion']}, source: {b['source']})", "",
                    f"**Customer:** {c['customer'] or '–'}", "", f"**Draft:** {c['draft']}", "",
                    f"**Rewrite:** {b['rewrite']}", ""]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
