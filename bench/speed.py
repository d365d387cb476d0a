"""Speed figures, printed (not asserted): raw llama-cpp-python vs the server's stream, time to first
token with and without prefix reuse, and prompt-lookup speculative decoding.

Run: `make bench` (or `.venv/bin/python bench/speed.py --rounds 5`). Everything runs in one process
on one machine, interleaved, so the ratios are fair even on a noisy shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy.analyse import analyse  # noqa: E402
from savy.app import serve_in_thread as serve  # noqa: E402
from savy.engine import GenParams, GenStats, LlamaEngine  # noqa: E402
from savy.model import ADAPTER_PATH, resolve  # noqa: E402
from savy.prompt import PromptBuilder  # noqa: E402
from savy.rules import RuleBook  # noqa: E402
from savy.settings import Settings  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
CASES = [
    {"draft": "Ei kestä. Tilaus TIL-20931 lähti eilen, toimitus 3-5 arkipäivää. Hinta oli 12,90 €.",
     "customer_message": "Kiitos tosi paljon nopeasta avusta!"},
    {"draft": "Order #55120 ships on March 3. No refund for the shipping fee of €4.90.",
     "customer_message": "This is ridiculous, I've waited two weeks!!"},
    {"draft": "Pahoittelemme odotusta. Lasku 88123 on korjattu, uusi summa on 42,50 €. Eräpäivä on 15.1.2026.",
     "customer_message": "Olen odottanut vastausta jo viikon."},
]
N_TOKENS = 96


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def raw_decode(llm, tokens: list[int], n: int) -> tuple[float, int, str]:  # type: ignore[no-untyped-def]
    """Plain llama-cpp-python: greedy generate n tokens (EOS ignored); decode tokens/s."""
    llm.reset()
    t0 = time.perf_counter()
    t_first, count, out = None, 0, []
    for tok in llm.generate(tokens, temp=0.0, reset=False):
        now = time.perf_counter()
        if t_first is None:
            t_first = now
        count += 1
        out.append(tok)
        if count >= n:
            break
    t_end = time.perf_counter()
    raw_decode.first_ms = (t_first - t0) * 1000  # type: ignore[attr-defined]
    return (count - 1) / (t_end - t_first), count, llm.detokenize(out).decode("utf-8", "replace")


def stream_once(client: httpx.Client, payload: dict) -> dict:
    """Client-side view of one streamed rewrite: first-delta latency and attempt-1 tokens/s."""
    t0 = time.perf_counter()
    first = last = None
    tok_first = tok_last = 0
    done = None
    event = None
    with client.stream("POST", "/v1/rewrite/stream", json=payload) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "delta" and data["attempt"] == 1:
                    now = time.perf_counter()
                    if first is None:
                        first, tok_first = now, data["tokens"]
                    last, tok_last = now, data["tokens"]
                elif event == "done":
                    done = data
    tps = (tok_last - tok_first) / (last - first) if first and last and last > first else float("nan")
    return {"ttft_ms": (first - t0) * 1000 if first else float("nan"), "tps": tps,
            "tokens": tok_last, "source": done["source"] if done else "error"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--adapter-only", action="store_true", help="only the adapter-vs-base generation speed")
    args = ap.parse_args()

    home = Path(os.environ.get("SAVY_HOME") or tempfile.mkdtemp(prefix="savy-bench-"))
    path, name = resolve(home, None)
    book = RuleBook.load(ROOT / "prompts")
    print(f"# Sävy speed — {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"threads={args.threads}, model={name}, {time.strftime('%Y-%m-%d %H:%M')}")

    # 1. raw llama-cpp-python vs the server's stream, interleaved, on one prompt. The base model
    # mostly stops at once on the real rewrite prompt, so throughput is measured on a prompt that
    # makes it generate continuously (a copy of prompts/ whose completion template counts).
    from llama_cpp import Llama

    counting = Path(tempfile.mkdtemp(prefix="savy-bench-prompts-"))
    shutil.copytree(ROOT / "prompts", counting, dirs_exist_ok=True)
    (counting / "completion.txt").write_text(
        "Counting from 1 to 1000: " + ", ".join(str(i) for i in range(1, 40)) + ",", encoding="utf-8")
    cbook = RuleBook.load(counting)
    llm = Llama(model_path=str(path), n_ctx=8192, n_threads=args.threads, n_threads_batch=args.threads,
                swa_full=True, verbose=False)

    def tokens_of(b: RuleBook, c: dict) -> list[int]:
        segs = PromptBuilder(b, "completion").build(analyse(b, c["draft"], c["customer_message"]), c["draft"])
        toks = [llm.token_bos()]
        for text, trusted in segs:
            toks += llm.tokenize(text.encode(), add_bos=False, special=trusted)
        return toks

    long_case = {"draft": " ".join(f"Rivi {i}: tilaus TIL-{4000 + i} on käsitelty." for i in range(20)),
                 "customer_message": "Mikä tilanne?"}
    ctoks = tokens_of(cbook, long_case)

    # 1a. Sävy's adapter on top of the base: llama.cpp applies the LoRA at every token, and some
    # tensors lose their repacked CPU layout, so generation can be slower. Interleaved, same prompt.
    if ADAPTER_PATH.is_file():
        lora_llm = Llama(model_path=str(path), lora_path=str(ADAPTER_PATH), n_ctx=8192, n_threads=args.threads,
                         n_threads_batch=args.threads, swa_full=True, verbose=False)
        base_tps, lora_tps = [], []
        for _ in range(args.rounds):
            base_tps.append(raw_decode(llm, ctoks, N_TOKENS)[0])
            lora_tps.append(raw_decode(lora_llm, ctoks, N_TOKENS)[0])
        del lora_llm
        print(f"\n## Sävy adapter vs base model (raw llama-cpp-python, {N_TOKENS} tokens, interleaved x{args.rounds})")
        print(f"base                 : {median(base_tps):6.1f} tokens/s")
        print(f"base + savy-adapter  : {median(lora_tps):6.1f} tokens/s")
        print(f"ratio adapter/base   : {median(lora_tps) / median(base_tps):6.2f}")
    if args.adapter_only:
        return

    settings = Settings(home=home, port=18765, token=TOKEN, n_threads=args.threads, queue_size=4,
                        prompts_dir=counting, max_new_tokens=N_TOKENS, adapter=False)
    server, th = serve(settings)
    client = httpx.Client(base_url="http://127.0.0.1:18765", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=300)
    raw_tps, srv_tps = [], []
    for _ in range(args.rounds):
        raw_tps.append(raw_decode(llm, ctoks, N_TOKENS)[0])
        s1 = stream_once(client, long_case)
        if s1["tokens"] >= 8:
            srv_tps.append(s1["tps"])
    server.should_exit = True
    th.join(timeout=30)
    print(f"\n## Generation speed (greedy, one prompt, {N_TOKENS} tokens, interleaved x{args.rounds})")
    print(f"raw llama-cpp-python : {median(raw_tps):6.1f} tokens/s")
    print(f"server /stream       : {median(srv_tps):6.1f} tokens/s  (client-side, from first to last delta)")
    print(f"ratio server/raw     : {median(srv_tps) / median(raw_tps):6.2f}")


    # the real rewrite prompt: the server's own first-token time for warm requests
    settings = Settings(home=home, port=18767, token=TOKEN, n_threads=args.threads, queue_size=4)
    server, th = serve(settings)
    client = httpx.Client(base_url="http://127.0.0.1:18767", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=300)
    firsts, sources = [], []
    for r in range(args.rounds):
        for c in CASES:
            body = client.post("/v1/rewrite", json=c).json()
            sources.append(body["source"])
            if r > 0:  # round 0 may wait for the start-up warm-up
                firsts.append(body["timings"]["first_token_ms"] - body["timings"]["queue_ms"])
    server.should_exit = True
    th.join(timeout=30)
    print(f"\n## Warm requests on the real prompt ({len(firsts)} requests)")
    print(f"first token (server-side, queue excluded): median {median(firsts):.0f} ms, max {max(firsts):.0f} ms")
    print("sources:", dict(Counter(sources)))
    builder = PromptBuilder(book, "completion")
    prompts = [tokens_of(book, c) for c in CASES]

    # 2. time to first token with and without prefix reuse (engine level)
    eng = LlamaEngine(path, name=name, n_threads=args.threads, n_ctx=8192, queue_size=2)
    eng.start()
    eng.wait_ready()
    segs = [builder.build(analyse(book, c["draft"], c["customer_message"]), c["draft"]) for c in CASES]

    async def first_token(s: list, reset: bool) -> GenStats:
        if reset:
            eng.llm.reset()  # type: ignore[union-attr]
        st = GenStats()
        async for _ in eng.stream(s, GenParams(max_tokens=1), st, 120):
            pass
        return st

    cold, warm = [], []
    for _ in range(args.rounds):
        for s in segs:
            cold.append(asyncio.run(first_token(s, True)))
            warm.append(asyncio.run(first_token(segs[(segs.index(s) + 1) % len(segs)], False)))
    print("\n## Time to first token (engine, prompt of "
          f"{cold[0].prompt_tokens} tokens, {warm[0].prompt_reused_tokens} reusable)")
    print(f"cold (no reuse) : median {median([c.first_token_ms for c in cold]):6.0f} ms")
    print(f"warm (reuse)    : median {median([w.first_token_ms for w in warm]):6.0f} ms")
    eng.stop()

    # 3. prompt-lookup speculative decoding on the same prompts (greedy, identical output expected)
    print("\n## Prompt-lookup speculative decoding (n_ctx=4096; it needs logits for every position)")
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    plain = Llama(model_path=str(path), n_ctx=4096, n_threads=args.threads, swa_full=True, verbose=False)
    # llama-cpp-python's draft_model path needs logits_all=True (else it overflows its score
    # buffer on prompts longer than n_batch): a 4096 x 262144 float buffer, filled for every token
    spec = Llama(model_path=str(path), n_ctx=4096, n_threads=args.threads, swa_full=True, verbose=False,
                 logits_all=True, draft_model=LlamaPromptLookupDecoding(max_ngram_size=3, num_pred_tokens=8))
    p_tps, s_tps, p_ttft, s_ttft, same = [], [], [], [], 0
    for _ in range(max(1, args.rounds // 2)):
        for toks in prompts:
            a = raw_decode(plain, toks, N_TOKENS)
            p_ttft.append(raw_decode.first_ms)  # type: ignore[attr-defined]
            b = raw_decode(spec, toks, N_TOKENS)
            s_ttft.append(raw_decode.first_ms)  # type: ignore[attr-defined]
            p_tps.append(a[0])
            s_tps.append(b[0])
            same += a[2] == b[2]
    print(f"plain       : {median(p_tps):6.1f} tokens/s, cold first token {median(p_ttft):.0f} ms")
    print(f"speculative : {median(s_tps):6.1f} tokens/s, cold first token {median(s_ttft):.0f} ms  "
          f"(decode ratio {median(s_tps) / median(p_tps):.2f}, identical output {same}/{len(p_tps)})")


if __name__ == "__main__":
    main()
