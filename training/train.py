"""Train the Sävy LoRA adapter on Gemma 3 270M (loaded from the same GGUF the server runs).

    pip install -e '.[train]'
    python training/train.py --gguf-dir DIR --out training/runs/r1 --epochs 1 --lr 4e-4
    python training/export.py training/runs/r1/epoch1 models/savy-adapter.gguf

DIR holds gemma-3-270m-q4_k_m.gguf (the server assembles it into SAVY_HOME/models). Measured on a
shared 2-core VM without native bf16: fp32, ~75-95 tokens/s, about 55 minutes for one epoch.

The prompt format is prompts/adapter.txt (the server uses the same file). Loss is on the rewrite
tokens only; the 262k-vocab LM head runs only at those positions (the head dominates CPU cost).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
from savy.analyse import clean_untrusted  # noqa: E402
from savy.prompt import render  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def bf16_is_fast() -> bool:
    """bf16 autocast pays off only on CPUs with native bf16 matmul (AVX512-BF16/AMX); elsewhere
    PyTorch falls back to a reference kernel ~400x slower than fp32 (measured: 0.3 vs 128 GFLOP/s)."""
    a, b = torch.randn(256, 640), torch.randn(640, 1024)

    def rate(dt: torch.dtype) -> float:
        x, y = a.to(dt), b.to(dt)
        x @ y
        t = time.perf_counter()
        for _ in range(3):
            x @ y
        return 1 / (time.perf_counter() - t)

    return rate(torch.bfloat16) > 0.5 * rate(torch.float32)


def load_examples(data_dir: Path) -> tuple[list[dict], list[dict], str]:
    files = sorted(data_dir.glob("*.jsonl"))
    h = hashlib.sha256()
    rows = []
    for f in files:
        raw = f.read_bytes()
        h.update(raw)
        rows += [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    train = [r for r in rows if r.get("split") != "heldout"]
    held = [r for r in rows if r.get("split") == "heldout"]
    return train, held, h.hexdigest()


def encode(tok, template: str, ex: dict) -> tuple[list[int], int]:  # type: ignore[no-untyped-def]
    """Token ids and prompt length. Segments are tokenized one by one, as the server's engine does."""
    segs = render(template, {"customer": clean_untrusted(ex["customer"]) or "-", "draft": ex["draft"].strip()})
    p_ids = [tok.bos_token_id]
    for text, _trusted in segs:
        p_ids += tok(text, add_special_tokens=False)["input_ids"]
    t_ids = tok(ex["rewrite"].strip() + "</rewrite>", add_special_tokens=False)["input_ids"]
    return p_ids + t_ids, len(p_ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf-dir", type=Path, required=True, help="dir holding gemma-3-270m-q4_k_m.gguf")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-tokens", type=int, default=1200, help="padded tokens per step")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only N examples (smoke test)")
    ap.add_argument("--init", type=Path, help="continue from this saved adapter (e.g. runs/r1/epoch1)")
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                    help="bf16 autocast (auto: only where this CPU/GPU does bf16 matmul fast)")
    args = ap.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "train_log.jsonl").open("a")

    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and bf16_is_fast())
    template = (ROOT / "prompts" / "adapter.txt").read_text(encoding="utf-8")
    train, held, data_hash = load_examples(ROOT / "training" / "data")
    if args.limit:
        train = train[: args.limit]
    t0 = time.time()
    gguf = "gemma-3-270m-q4_k_m.gguf"
    tok = AutoTokenizer.from_pretrained(args.gguf_dir, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(args.gguf_dir, gguf_file=gguf, torch_dtype=torch.float32)
    print(f"loaded base in {time.time() - t0:.0f}s", flush=True)
    model.config.save_pretrained(args.out / "base_config")
    tok.save_pretrained(args.out / "base_config")
    if args.init:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.init, is_trainable=True)
    else:
        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.05,
                                                 target_modules=TARGETS, task_type="CAUSAL_LM"))
    model.print_trainable_parameters()

    encoded = [encode(tok, template, ex) for ex in train]
    # length-bucketed batches: little padding, fixed order per seed
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    batches, cur, width = [], [], 0
    for i in order:
        w = max(width, len(encoded[i][0]))
        if cur and w * (len(cur) + 1) > args.batch_tokens:
            batches.append(cur)
            cur, w = [], len(encoded[i][0])
        cur.append(i)
        width = w
    if cur:
        batches.append(cur)
    steps = len(batches) * args.epochs
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 30) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    inner = model.base_model.model  # Gemma3ForCausalLM
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    meta = {"data_sha256": data_hash, "train_examples": len(train), "heldout_examples": len(held),
            "epochs": args.epochs, "rank": args.rank, "alpha": args.alpha, "lr": args.lr,
            "targets": TARGETS, "seed": args.seed, "batches_per_epoch": len(batches),
            "threads": args.threads, "torch": torch.__version__, "bf16": use_bf16,
            "init": str(args.init) if args.init else None}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta), flush=True)

    step, seen_tokens, t_start = 0, 0, time.time()
    model.train()
    for epoch in range(1, args.epochs + 1):
        random.shuffle(batches)
        for b in batches:
            seqs = [encoded[i] for i in b]
            width = max(len(s) for s, _ in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            labels = torch.full((len(seqs), width), -100, dtype=torch.long)
            for r, (s, p_len) in enumerate(seqs):
                ids[r, : len(s)] = torch.tensor(s)
                mask[r, : len(s)] = 1
                labels[r, p_len: len(s)] = torch.tensor(s[p_len:])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
                # predict token t+1 from position t, only where t+1 is a rewrite token
                tgt = labels[:, 1:]
                sel = tgt != -100
                h = hidden[:, :-1][sel]
                logits = inner.lm_head(h).float()
                if getattr(inner.config, "final_logit_softcapping", None):
                    cap = inner.config.final_logit_softcapping
                    logits = torch.tanh(logits / cap) * cap
                loss = torch.nn.functional.cross_entropy(logits, tgt[sel])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            seen_tokens += int(mask.sum())
            if step % 10 == 0 or step == 1:
                rec = {"step": step, "epoch": epoch, "loss": round(loss.item(), 4),
                       "lr": sched.get_last_lr()[0], "tok_per_s": round(seen_tokens / (time.time() - t_start), 1),
                       "elapsed_s": round(time.time() - t_start)}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(rec, flush=True)
        model.save_pretrained(args.out / f"epoch{epoch}")
        print(f"saved epoch {epoch} after {time.time() - t_start:.0f}s", flush=True)
    log.close()


if __name__ == "__main__":
    main()
