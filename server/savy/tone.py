"""A small learned reader of the customer's tone (negative / neutral / positive): multinomial
logistic regression on hashed character n-grams and words of the lower-cased message, trained by
`training/emotion_clf.py` and stored as data in `prompts/emotion_model.npz`. The analyzer's
`read_emotion` lets its confident prediction vote like a signal (`tone_model`).

Features are hashed with a fixed arithmetic hash (never Python's salted `hash()`), so the same text
gives the same features in every process; the training script imports this module, so training
and serving cannot drift apart."""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

try:  # numpy comes with llama-cpp-python; without it the analyzer reads signals only
    import numpy as np
except ImportError:  # pragma: no cover
    np = None  # type: ignore[assignment]

LABELS = ("negative", "neutral", "positive")
MODEL_FILE = "emotion_model.npz"
# a word (letters/digits) or one other visible character (an emoji, "!", "?", ":")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SEP, _BOW, _EOW = 1, 2, 3  # code points that never occur in a lower-cased word
_MUL = np.uint64(0x100000001B3) if np is not None else None
_MIX = np.uint64(0x9E3779B97F4A7C15) if np is not None else None


@dataclass(frozen=True)
class FeatureSpec:
    dim: int = 1 << 18        # hash buckets
    nmin: int = 2             # character n-grams, within words with boundary marks
    nmax: int = 5
    words: bool = True        # word (and punctuation/emoji) unigrams
    bigrams: bool = False     # word bigrams ("not happy", "ei toimi")

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def features(text: str, spec: FeatureSpec) -> "np.ndarray":
    """The sorted, unique hash buckets that `text` switches on (binary features)."""
    toks = _TOKEN.findall(text.lower())
    words = [t for t in toks if t[0].isalnum() or t[0] == "_"]
    parts = []
    if words:
        s = chr(_SEP).join(f"{chr(_BOW)}{w}{chr(_EOW)}" for w in words)
        c = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        bad = np.concatenate(([0], np.cumsum(c == _SEP)))
        for n in range(spec.nmin, spec.nmax + 1):
            m = len(c) - n + 1
            if m <= 0:
                break
            h = np.full(m, n, dtype=np.uint64)
            for k in range(n):
                h = h * _MUL + c[k:k + m]
            parts.append(h[bad[n:n + m] == bad[:m]])
    if parts:
        h = np.concatenate(parts)
        h = (h ^ (h >> np.uint64(29))) * _MIX
        h = h ^ (h >> np.uint64(32))
        parts = [(h % np.uint64(spec.dim)).astype(np.int64)]
    extra = []
    if spec.words:
        extra += [zlib.crc32(b"w\x00" + t.encode()) for t in toks]
    if spec.bigrams:
        extra += [zlib.crc32(f"b\x00{a}\x00{b}".encode()) for a, b in zip(toks, toks[1:])]
    if extra:
        parts.append(np.array(extra, dtype=np.int64) % spec.dim)
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts))


@dataclass(frozen=True)
class ToneModel:
    spec: FeatureSpec
    weights: "np.ndarray"     # (dim, 3) float32, rows in LABELS order
    bias: "np.ndarray"        # (3,)
    vote: dict                # how read_emotion counts the prediction (chosen by cross-validation)

    def proba(self, text: str) -> "np.ndarray":
        idx = features(text, self.spec)
        z = self.bias.copy()
        if len(idx):
            z = z + self.weights[idx].sum(axis=0) / np.sqrt(len(idx))
        z = np.exp(z - z.max())
        return z / z.sum()

    def predict(self, text: str) -> tuple[str, float]:
        p = self.proba(text)
        k = int(p.argmax())
        return LABELS[k], float(p[k])


def save(path: Path, spec: FeatureSpec, weights: "np.ndarray", bias: "np.ndarray", vote: dict,
         note: dict) -> None:
    """Only the buckets with a non-zero weight are stored (float16), with the spec and a note."""
    rows = np.flatnonzero(np.abs(weights).max(axis=1) > 0).astype(np.uint32)
    meta = {"spec": spec.__dict__, "vote": vote, "labels": LABELS, "note": note}
    np.savez_compressed(path, rows=rows, weights=weights[rows].astype(np.float16),
                        bias=bias.astype(np.float32), meta=np.array(json.dumps(meta, ensure_ascii=False)))


@lru_cache(maxsize=8)
def _load(path: str) -> ToneModel | None:
    if np is None or not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        spec = FeatureSpec.from_dict(meta["spec"])
        w = np.zeros((spec.dim, len(LABELS)), dtype=np.float32)
        w[z["rows"].astype(np.int64)] = z["weights"].astype(np.float32)
        return ToneModel(spec, w, z["bias"].astype(np.float32), meta["vote"])


def load(prompts_dir: Path) -> ToneModel | None:
    """The model in `prompts_dir`, read once (cached); None when it is missing or numpy is not
    installed, and the analyzer then reads signals only."""
    # keyed by path only, like the RuleBook itself: analyse calls this on every request, and a
    # per-call stat() would be I/O on the hot path for a file that does not change while serving
    return _load(str(Path(prompts_dir) / MODEL_FILE))


def tone_votes(label: str, prob: float, vote: dict) -> tuple[str | None, int]:
    """The side the prediction votes for and how many votes: a confident negative or positive
    prediction casts `vote["votes"]` votes; a neutral one, or one below `vote["min_prob"]`, none."""
    if label == "neutral" or prob < vote["min_prob"]:
        return None, 0
    return label, int(vote["votes"])
