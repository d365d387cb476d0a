"""Derive the kept-token list of Sävy's trimmed vocabulary (models/vocab/kept-tokens.txt).

Gemma 3 carries 262,144 tokens for 140 languages; Sävy reads and writes Finnish and English. The
list keeps every token that Finnish and English text in this repository tokenizes to with the full
vocabulary (the adapter's training data, the evaluation and blind sets, rules, bank, prompts,
docs), every byte-fallback token (<0x00>..<0xFF>: any other text still round-trips through them),
the control tokens the model and its chat template use (not the 6,000+ <unusedN> placeholders),
and the user-defined tokens (whitespace runs, markup). No closure under merge steps is needed:
Sävy never tokenizes with the trimmed vocabulary — every prompt and continuation is tokenized with
the full one and its ids mapped (server/savy/trim.py), so the trimmed tokenizer's own merges never
run.

    .venv/bin/python models/vocab/derive.py      # rewrites models/vocab/kept-tokens.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "server"))

from savy.model import resolve  # noqa: E402
from savy.settings import default_home  # noqa: E402

OUT = Path(__file__).with_name("kept-tokens.txt")


def corpus() -> list[str]:
    texts: list[str] = []
    for f in sorted((ROOT / "training" / "data").glob("*.jsonl")) + sorted((ROOT / "eval").rglob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts += [v for v in json.loads(line).values() if isinstance(v, str)]
    for pattern in ("prompts/**/*.toml", "prompts/*.txt", "docs/*.md", "README.md"):
        texts += [p.read_text(encoding="utf-8") for p in sorted(ROOT.glob(pattern))]
    return texts


def main() -> None:
    from llama_cpp import Llama

    import gguf

    path, _ = resolve(default_home(), None)
    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    reader = gguf.GGUFReader(str(path))
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    keep: set[int] = set()
    for text in corpus():
        for piece in text.split("\n\n"):  # paragraphs: the tokenizer is slow on very long strings
            keep.update(llm.tokenize(piece.encode("utf-8"), add_bos=False, special=False))
    for i, (tok, kind) in enumerate(zip(tokens, types)):
        if kind in (4, 6) or (kind == 3 and not tok.startswith("<unused")):
            keep.add(i)  # user-defined, byte fallback, control
    ids = sorted(keep)
    OUT.write_text("# token ids of the full Gemma 3 vocabulary kept by Sävy's trimmed model; "
                   "made by models/vocab/derive.py\n" + "\n".join(map(str, ids)) + "\n", encoding="utf-8")
    print(f"{len(ids)} of {len(tokens)} tokens kept -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
