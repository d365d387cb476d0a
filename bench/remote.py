"""The remote-engine path against the embedded one, in one run, on the same model.

Starts `python -m llama_cpp.server` with the embedded GGUF on a loopback port, builds two Sävy
pipelines in this process — one on the embedded llama.cpp engine, one on the remote engine — with
the same prompt style (chat) and rewrite mode (free), and sends the same cases through both,
interleaved (which goes first alternates). Prints the median time per path and their ratio (the
overhead of HTTP + SSE + the server's own template handling), then N concurrent agents against
the one remote server: throughput and p50/p95 latency as N grows.

    .venv/bin/python bench/remote.py [CASES.jsonl] [--n 12] [--agents 1,2,4]
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy.app import build_state  # noqa: E402
from savy.model import resolve  # noqa: E402
from savy.schemas import RewriteRequest  # noqa: E402
from savy.settings import Settings, default_home  # noqa: E402

KEY = "bench-key-0123456789abcdef"


def start_remote(model: Path, port: int, threads: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads), "--api_key", KEY,
                             "--model_alias", "gemma-3-270m"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(360):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {KEY}"},
                         timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="?", default=str(ROOT / "eval" / "blind-dev" / "cases.jsonl"))
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--agents", default="1,2,4")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cases = [json.loads(x) for x in Path(args.cases).read_text(encoding="utf-8").splitlines() if x.strip()][: args.n]
    home = Path(tempfile.mkdtemp(prefix="savy-bench-"))
    model, _ = resolve(default_home(), None)
    port = 18000 + int(time.time()) % 1000
    proc = start_remote(model, port, args.threads)
    try:
        common = {"home": home, "token": "bench-token-0123456789", "n_threads": args.threads, "prompt_style": "chat",
                  "rewrite_mode": "free", "adapter": False, "request_timeout_s": 300}
        local = build_state(Settings(**common))
        remote = build_state(Settings(**common, engine_url=f"http://127.0.0.1:{port}/v1", engine_api_key=KEY,
                                      engine_model="gemma-3-270m", engine_concurrency=8, queue_size=16))
        times: dict[str, list[float]] = {"embedded": [], "remote": []}
        pipes = {"embedded": local.rewriter, "remote": remote.rewriter}
        for i, c in enumerate(cases):
            req = RewriteRequest(draft=c["draft"], customer_message=c["customer"] or None, language=c["lang"])
            for name in (("embedded", "remote") if i % 2 == 0 else ("remote", "embedded")):
                t0 = time.monotonic()
                await pipes[name].run(req)
                times[name].append(time.monotonic() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"same {len(cases)} rewrites, chat style, free mode, {args.threads} threads each, interleaved")
        print("| path | median s | p90 s |")
        print("|---|---|---|")
        for k, v in times.items():
            print(f"| {k} | {med[k]:.2f} | {pct(v, 0.9):.2f} |")
        print(f"remote/embedded median ratio: {med['remote'] / med['embedded']:.2f}\n")

        print("| agents at once | rewrites | wall s | rewrites/min | p50 s | p95 s |")
        print("|---|---|---|---|---|---|")
        for n in [int(x) for x in args.agents.split(",")]:
            lat: list[float] = []

            async def agent(k: int, lat: list[float] = lat) -> None:
                for j in range(2):
                    c = cases[(k * 2 + j) % len(cases)]
                    t0 = time.monotonic()
                    await remote.rewriter.run(RewriteRequest(draft=c["draft"], customer_message=c["customer"] or None,
                                                             language=c["lang"]))
                    lat.append(time.monotonic() - t0)

            t0 = time.monotonic()
            await asyncio.gather(*(agent(k) for k in range(n)))
            wall = time.monotonic() - t0
            print(f"| {n} | {len(lat)} | {wall:.1f} | {60 * len(lat) / wall:.1f} | {pct(lat, 0.5):.2f} | {pct(lat, 0.95):.2f} |")
        local.engine.stop()  # type: ignore[attr-defined]
        await remote.engine.aclose()  # type: ignore[attr-defined]
    finally:
        proc.kill()


if __name__ == "__main__":
    asyncio.run(main())
