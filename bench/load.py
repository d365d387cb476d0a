"""Many agents at once against one real server (loopback only, bounded in time): what each client
gets, how fast /v1/analyze answers while the engine is busy, and whether anything hangs.

    .venv/bin/python bench/load.py --clients 200 --seconds 180

Starts `savy serve` as its own process on a free loopback port (the embedded model), then runs
the clients in this process: each loops over analyze (60%), rewrite (20%) and stream (20%, half of
them dropped after the first event) until the time is up. Prints per endpoint the statuses, p50 /
p95 latency, responses without headers after 10 s, 503s without Retry-After, the largest
`total_ms` a rewrite reported against the timeout, and the server's RSS before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "load-test-token-0123456789abcdef"
DRAFTS = [
    ("Ei kestä. Tilaus TIL-20931 lähti eilen, toimitus 3-5 arkipäivää.", "Kiitos tosi paljon avusta!"),
    ("Your refund of £42.50 was sent on 3 March. Sorry for the wait.", "I've been waiting two weeks!!"),
    ("Paketti 20417 on Postin terminaalissa. Se toimitetaan perille 3.12. mennessä.", "missä mun paketti on"),
    ("Order #5512 ships Friday. We cannot refund the shipping fee of £4.90.", "This is ridiculous."),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def client(base: str, until: float, rng: random.Random, out: dict, timeout_s: float) -> None:
    timeout = httpx.Timeout(connect=10, read=timeout_s + 30, write=10, pool=10)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, timeout=timeout, headers=headers) as c:
        while time.monotonic() < until:
            draft, customer = rng.choice(DRAFTS)
            body = {"draft": draft, "customer_message": customer}
            op = rng.choices(["analyze", "rewrite", "stream"], [6, 2, 2])[0]
            t0 = time.monotonic()
            status: int | None = None
            try:
                if op == "stream":
                    drop = rng.random() < 0.5
                    async with c.stream("POST", "/v1/rewrite/stream", json=body) as r:
                        out["headers_s"][op].append(time.monotonic() - t0)
                        status = r.status_code
                        if status == 503 and not r.headers.get("retry-after"):
                            out["no_retry_after"] += 1
                        if status == 200:
                            async for line in r.aiter_lines():
                                if drop and line.startswith("event:"):
                                    break
                    op = "stream (dropped)" if drop else op
                else:
                    r = await c.post(f"/v1/{op}", json=body)
                    status = r.status_code
                    if status == 503 and not r.headers.get("retry-after"):
                        out["no_retry_after"] += 1
                    if op == "rewrite" and status == 200:
                        out["total_ms"].append(r.json()["timings"]["total_ms"])
                out["status"][op][status] += 1
                out["latency"][op].append(time.monotonic() - t0)
            except httpx.TimeoutException:
                out["status"][op]["timeout"] += 1
            except httpx.HTTPError as exc:
                out["status"][op][type(exc).__name__] += 1
            if status == 503:
                await asyncio.sleep(rng.uniform(0.5, 1.5))


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    home = tempfile.mkdtemp(prefix="savy-load-")
    env = {**os.environ, "SAVY_HOME": home, "SAVY_TOKEN": TOKEN, "SAVY_PORT": str(port),
           "SAVY_QUEUE_SIZE": "4", "SAVY_REQUEST_TIMEOUT_S": str(args.timeout)}
    server = subprocess.Popen([str(Path(sys.executable).with_name("savy")), "serve"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).json().get("ready"):
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        rss0 = rss_mb(server.pid)
        out: dict = {"status": defaultdict(Counter), "latency": defaultdict(list),
                     "headers_s": defaultdict(list), "total_ms": [], "no_retry_after": 0}
        until = time.monotonic() + args.seconds
        rng = random.Random(7)
        await asyncio.gather(*(client(base, until, random.Random(rng.random()), out, args.timeout)
                               for _ in range(args.clients)))
        rss1 = rss_mb(server.pid)
        print(f"# {args.clients} clients for {args.seconds} s, request timeout {args.timeout} s, "
              f"{os.cpu_count()} cores\n")
        print("| endpoint | requests | statuses | p50 s | p95 s |")
        print("|---|---|---|---|---|")
        for op, c in sorted(out["status"].items()):
            lat = out["latency"][op]
            st = ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=str))
            print(f"| {op} | {sum(c.values())} | {st} | {statistics.median(lat) if lat else float('nan'):.2f} "
                  f"| {pct(lat, 0.95):.2f} |")
        late = sum(1 for xs in out["headers_s"].values() for x in xs if x > 10)
        odd = {k for c in out["status"].values() for k in c if k not in (200, 503)}
        print(f"\nstatuses other than 200/503: {sorted(map(str, odd)) or 'none'}; 503 without Retry-After: "
              f"{out['no_retry_after']}; stream headers later than 10 s: {late}")
        tm = out["total_ms"]
        print(f"rewrite total_ms: max {max(tm) if tm else float('nan'):.0f} ms (timeout {args.timeout * 1000:.0f} ms), "
              f"p50 {statistics.median(tm) if tm else float('nan'):.0f} ms over {len(tm)}")
        print(f"server RSS: {rss0:.0f} MB before, {rss1:.0f} MB after")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--timeout", type=float, default=60)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
