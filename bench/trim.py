"""The trimmed vocabulary against the full one, in one run, on this machine.

1. Raw decoding: the embedded model with Sävy's adapter, full GGUF vs trimmed GGUF, the same prompt
   tokens (full-vocabulary ids, mapped), greedy 96 new tokens, interleaved `--reps` times: tokens/s,
   time to first token, and whether the generated text is identical.
2. Through Sävy: two pipelines in this process (SAVY_TRIM_VOCAB=1 and 0, the default compose mode
   and a free-mode pair), the same cases interleaved: median rewrite time and identical rewrites.
3. File size, model load time and the resident memory a fresh process needs for each.

    .venv/bin/python bench/trim.py [CASES.jsonl] [--n 24] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy.app import build_state  # noqa: E402
from savy.model import ADAPTER_PATH, resolve  # noqa: E402
from savy.schemas import RewriteRequest  # noqa: E402
from savy.settings import Settings, default_home  # noqa: E402
from savy.trim import VocabMap, kept_ids, trimmed_path  # noqa: E402

PROMPT = ("<draft>\nHei, tilauksesi 4412 lähti tänään ja on perillä torstaina. Seurantakoodi JJFI88231.\n</draft>\n"
          "<customer>\nMissä mun paketti on?? Oon odottanut jo viikon!\n</customer>\n<rewrite>\n")


def raw(full: Path, trim: Path, reps: int) -> None:
    from llama_cpp import Llama

    ids = kept_ids()
    vm = VocabMap(full, ids)
    models = {"full": Llama(model_path=str(full), n_ctx=2048, n_threads=2, lora_path=str(ADAPTER_PATH), verbose=False),
              "trimmed": Llama(model_path=str(trim), n_ctx=2048, n_threads=2, lora_path=str(ADAPTER_PATH), verbose=False)}
    prompts = {"full": [models["full"].token_bos()] + models["full"].tokenize(PROMPT.encode(), add_bos=False, special=False),
               "trimmed": [models["trimmed"].token_bos()] + vm.tokenize(PROMPT.encode(), add_bos=False, special=False)}
    rates: dict[str, list[float]] = {k: [] for k in models}
    texts: dict[str, str] = {}
    for _ in range(reps):
        for name, llm in models.items():
            llm.reset()
            llm.eval(prompts[name])
            out, t0 = [], time.monotonic()
            for _ in range(96):
                tok = llm.sample(temp=0.0)
                out.append(tok)
                llm.eval([tok])
            rates[name].append(96 / (time.monotonic() - t0))
            texts[name] = llm.detokenize(out).decode("utf-8", "replace")
    print(f"raw decoding, 96 greedy tokens, interleaved x{reps}, 2 threads, Sävy's adapter:")
    print("| model | vocabulary | tok/s (median) |")
    print("|---|---|---|")
    for name in models:
        print(f"| {name} | {models[name].n_vocab():,} | {statistics.median(rates[name]):.1f} |")
    print(f"trimmed/full decoding speed: {statistics.median(rates['trimmed']) / statistics.median(rates['full']):.2f}x; "
          f"generated text identical: {texts['full'] == texts['trimmed']}\n")


async def through_savy(cases: list[dict], mode: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="savy-bench-"))
    common = {"home": home, "token": "bench-token-0123456789", "n_threads": 2, "rewrite_mode": mode}
    pipes = {"full": build_state(Settings(**common, trim_vocab=False)).rewriter,
             "trimmed": build_state(Settings(**common, trim_vocab=True)).rewriter}
    times: dict[str, list[float]] = {k: [] for k in pipes}
    same = 0
    for i, c in enumerate(cases):
        req = RewriteRequest(draft=c["draft"], customer_message=c["customer"] or None, language=c["lang"])
        got = {}
        for name in (("full", "trimmed") if i % 2 == 0 else ("trimmed", "full")):
            t0 = time.monotonic()
            got[name] = (await pipes[name].run(req)).rewrite
            times[name].append(time.monotonic() - t0)
        same += got["full"] == got["trimmed"]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"through Sävy, {mode} mode, {len(cases)} cases interleaved: median full {med['full']:.2f} s, "
          f"trimmed {med['trimmed']:.2f} s, ratio {med['trimmed'] / med['full']:.2f}; identical rewrites {same}/{len(cases)}")
    for p in pipes.values():
        p.engine.stop()  # type: ignore[attr-defined]


def footprint(path: Path) -> tuple[float, float]:
    # resident memory after loading and one short generation (VmRSS: what the process holds then)
    code = ("import time; from llama_cpp import Llama; t=time.monotonic(); "
            f"m=Llama(model_path={str(path)!r}, n_ctx=2048, n_threads=2, verbose=False); d=time.monotonic()-t; "
            "m.eval([m.token_bos()] + m.tokenize(b'Hei, tilaus 4412 on matkalla.', add_bos=False)); m.sample(); "
            "rss=[l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]; print(d, rss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def server(trim: bool) -> tuple[float, float, float]:
    """`savy serve` as a user starts it (models already built): seconds until /v1/health says ready,
    then its resident memory after one rewrite, and that rewrite's time over HTTP."""
    import os

    import httpx

    port = 18700 + int(trim)
    env = {**os.environ, "SAVY_TRIM_VOCAB": "1" if trim else "0", "SAVY_PORT": str(port), "SAVY_N_THREADS": "2",
           "SAVY_TOKEN": "bench-token-0123456789"}
    t0 = time.monotonic()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("savy")), "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).json().get("ready"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() - t0 > 120:
                raise SystemExit("savy serve did not start")
            time.sleep(0.05)
        ready = time.monotonic() - t0
        body = {"draft": "Tilauksesi 4412 lähti tänään.", "customer_message": "Missä tilaukseni on?"}
        headers = {"Authorization": "Bearer bench-token-0123456789"}
        t1 = time.monotonic()
        httpx.post(f"{url}/v1/rewrite", json=body, headers=headers, timeout=120)
        took = time.monotonic() - t1
        rss = int([ln for ln in open(f"/proc/{proc.pid}/status") if ln.startswith("VmRSS")][0].split()[1]) / 1024
        return ready, rss, took
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="?", default=str(ROOT / "eval" / "blind-dev" / "cases.jsonl"))
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    full, _ = resolve(default_home(), None)
    trim = trimmed_path(full, default_home())
    print("| model | file MB | load s | RSS after load + one token, MB |")
    print("|---|---|---|---|")
    for name, p in (("full", full), ("trimmed", trim)):
        load, rss = footprint(p)
        print(f"| {name} | {p.stat().st_size / 1e6:.0f} | {load:.2f} | {rss:.0f} |")
    print()
    print("| savy serve | ready after s | RSS after a rewrite, MB | first rewrite over HTTP, s |")
    print("|---|---|---|---|")
    for on in (False, True):
        ready, rss, took = server(on)
        print(f"| {'trimmed' if on else 'full'} | {ready:.2f} | {rss:.0f} | {took:.2f} |")
    print()
    raw(full, trim, args.reps)
    cases = [json.loads(x) for x in Path(args.cases).read_text(encoding="utf-8").splitlines() if x.strip()]
    asyncio.run(through_savy(cases[: args.n], "compose"))
    asyncio.run(through_savy(cases[: max(4, args.n // 3)], "free"))


if __name__ == "__main__":
    main()
