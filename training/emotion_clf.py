"""Train the learned tone reader (server/savy/tone.py) and choose how it votes in read_emotion.

    PYTHONPATH=server .venv/bin/python training/emotion_clf.py            # CV report + model
    PYTHONPATH=server .venv/bin/python training/emotion_clf.py --quick    # smaller grid

numpy only. Multinomial logistic regression with L2 on hashed character n-grams (within words,
with boundary marks) and word unigrams of the lower-cased customer message, fitted by L-BFGS from
zeros (deterministic; the seed only shuffles the cross-validation folds).

Data discipline: only the DEVELOPMENT rows of training/data are read (rows sorted by id, every
row but each 4th: i % 4 != 3); the held-out quarter is dropped before anything else and never
scored. Hyperparameters (features, L2, one model or one per language) and the combination rule
with the regex signals are chosen by k-fold cross-validation within the development rows.
eval/cases.jsonl is scored at the end for the report only (nothing is chosen on it).

Caveat the report repeats: the regex signals were themselves tuned on these development rows, so
their cross-validated accuracy here is in-sample and flatters them (and any rule leaning on them).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # modest: one core
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from savy import analyse as A  # noqa: E402
from savy import tone as T  # noqa: E402
from savy.rules import RuleBook  # noqa: E402

SEED = 20261124
K = 5
LAB = {lab: i for i, lab in enumerate(T.LABELS)}


def dev_rows() -> list[dict]:
    rows = [json.loads(line) for p in sorted((ROOT / "training" / "data").glob("*.jsonl"))
            for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: r["id"])
    return [r for i, r in enumerate(rows) if i % 4 != 3]  # the held-out quarter is never kept


def cut(text: str) -> str:
    """What read_emotion reads of a message."""
    if len(text) > 2 * A.EMOTION_SPAN:
        return text[:A.EMOTION_SPAN] + "\n" + text[-A.EMOTION_SPAN:]
    return text


# -- the model ---------------------------------------------------------------------------------
class Design:
    """Sparse binary rows (scaled by 1/sqrt(nnz), as ToneModel.proba does) over compact columns."""

    def __init__(self, feats: list[np.ndarray]):
        self.cols, inv = np.unique(np.concatenate(feats), return_inverse=True)
        lens = np.array([len(f) for f in feats])
        self.indptr = np.concatenate(([0], np.cumsum(lens)))
        self.idx = inv.astype(np.int64)
        self.rowid = np.repeat(np.arange(len(feats)), lens)
        self.val = np.repeat(1 / np.sqrt(np.maximum(lens, 1)), lens)
        self.n = len(feats)

        C = len(T.LABELS)
        k = np.arange(C)
        self.row3 = (self.rowid[:, None] * C + k).ravel()
        self.idx3 = (self.idx[:, None] * C + k).ravel()
        self.val3 = np.repeat(self.val, C)

    def dot(self, W: np.ndarray) -> np.ndarray:
        """X @ W"""
        return np.bincount(self.row3, weights=W.ravel()[self.idx3] * self.val3,
                           minlength=self.n * W.shape[1]).reshape(self.n, W.shape[1])

    def tdot(self, G: np.ndarray) -> np.ndarray:
        """X.T @ G"""
        return np.bincount(self.idx3, weights=G.ravel()[self.row3] * self.val3,
                           minlength=len(self.cols) * G.shape[1]).reshape(len(self.cols), G.shape[1])


def softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def fit(X: Design, y: np.ndarray, lam: float, iters: int = 200, m: int = 10,
        init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy + lam/2 |W|^2 (bias unpenalised), minimised by L-BFGS with Armijo
    backtracking, from zeros or from `init` (a warm start along the L2 path). Returns (W over
    X.cols, bias)."""
    C = len(T.LABELS)
    Y = np.eye(C)[y]
    D = len(X.cols)

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[:D * C].reshape(D, C), theta[D * C:]
        Z = X.dot(W) + b
        Zm = Z - Z.max(axis=1, keepdims=True)
        logp = Zm - np.log(np.exp(Zm).sum(axis=1, keepdims=True))
        loss = -(logp * Y).sum() / X.n + lam / 2 * (W * W).sum()
        G = (np.exp(logp) - Y) / X.n
        gW = X.tdot(G) + lam * W
        return loss, np.concatenate([gW.ravel(), G.sum(axis=0)])

    theta = np.zeros(D * C + C) if init is None else np.concatenate([init[0].ravel(), init[1]])
    loss, g = f(theta)
    S, Yh = [], []
    for it in range(iters):
        q = g.copy()
        alphas = []
        for s, yv in reversed(list(zip(S, Yh))):
            a = s @ q / (yv @ s)
            alphas.append(a)
            q -= a * yv
        if S:
            q *= (S[-1] @ Yh[-1]) / (Yh[-1] @ Yh[-1])
        for (s, yv), a in zip(zip(S, Yh), reversed(alphas)):
            q += s * (a - yv @ q / (yv @ s))
        d = -q
        if g @ d >= 0:
            d, S, Yh = -g, [], []
        step = 1.0 if S else 1.0 / max(1.0, np.linalg.norm(g))
        while True:
            new = theta + step * d
            nl, ng = f(new)
            if nl <= loss + 1e-4 * step * (g @ d) or step < 1e-10:
                break
            step *= 0.5
        s, yv = new - theta, ng - g
        if yv @ s > 1e-12:
            S.append(s)
            Yh.append(yv)
            if len(S) > m:
                S.pop(0)
                Yh.pop(0)
        done = abs(loss - nl) < 1e-7 * max(1.0, abs(loss))
        theta, loss, g = new, nl, ng
        if done or np.abs(g).max() < 1e-6:
            break
    fit.iterations = it + 1
    return theta[:D * C].reshape(D, C), theta[D * C:]


def predict(W: np.ndarray, b: np.ndarray, cols: np.ndarray, feats: list[np.ndarray]) -> np.ndarray:
    pos = {int(c): i for i, c in enumerate(cols)}
    Z = np.tile(b, (len(feats), 1))
    for r, f in enumerate(feats):
        known = [pos[int(c)] for c in f if int(c) in pos]
        if known:
            Z[r] += W[known].sum(axis=0) / np.sqrt(len(f))
    return softmax(Z)


def oof_proba(feats: list[np.ndarray], y: np.ndarray, folds: np.ndarray, lams: list[float],
              groups: np.ndarray | None = None) -> dict[float, np.ndarray]:
    """Out-of-fold probabilities for each L2 strength (fitted strongest first, each warm-started
    from the last); with `groups` (language), one model per group."""
    P = {lam: np.zeros((len(y), len(T.LABELS))) for lam in lams}
    gs = [None] if groups is None else sorted(set(groups))
    for k in range(K):
        for g in gs:
            sel = np.ones(len(y), bool) if g is None else groups == g
            tr, te = np.flatnonzero(sel & (folds != k)), np.flatnonzero(sel & (folds == k))
            X = Design([feats[i] for i in tr])
            init = None
            for lam in sorted(lams, reverse=True):
                init = fit(X, y[tr], lam, init=init)
                P[lam][te] = predict(*init, X.cols, [feats[i] for i in te])
    return P


# -- combination with the signals --------------------------------------------------------------
def combined(book: RuleBook, sig: list[tuple], P: np.ndarray, vote: dict | None) -> np.ndarray:
    out = []
    for (neg, pos, strong, names), p in zip(sig, P):
        k = int(p.argmax())
        tone = (T.LABELS[k], float(p[k])) if vote is not None else None
        out.append(LAB[A.combine_emotion(book.scoring, neg, pos, strong, names, tone, vote)[0]])
    return np.array(out)


VOTE_GRID = [{"votes": v, "min_prob": t} for v in (1, 2, 3, 4)
             for t in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)]


def best_vote(book, sig, P, y, sel, sig_pred) -> tuple[dict, float, dict, float]:
    """The vote rule by cross-validated accuracy, with a one-standard-error rule toward the
    classifier: the signals' accuracy on these rows is in-sample (they were tuned on them), so
    among the rules within one standard error of the best, the one that changes the most of the
    signals' readings is chosen. Returns (chosen, its acc, argmax rule, its acc)."""
    ss = [sig[i] for i in sel]
    scored = []
    for i, v in enumerate(VOTE_GRID):
        pred = combined(book, ss, P[sel], v)
        scored.append((float((pred == y[sel]).mean()), int((pred != sig_pred[sel]).sum()), -i, v))
    top = max(scored, key=lambda t: (t[0], t[2]))
    se = (top[0] * (1 - top[0]) / len(sel)) ** 0.5
    pick = max((t for t in scored if t[0] >= top[0] - se), key=lambda t: (t[1], t[0], t[2]))
    return pick[3], pick[0], top[3], top[0]


def confusion(y: np.ndarray, pred: np.ndarray) -> list[str]:
    c = Counter(zip(y.tolist(), pred.tolist()))
    out = ["| label → read | " + " | ".join(T.LABELS) + " |", "|---|---|---|---|"]
    out += [f"| {T.LABELS[a]} | " + " | ".join(str(c[(a, b)]) for b in range(3)) + " |" for a in range(3)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a smaller grid")
    ap.add_argument("--fresh", action="store_true", help="ignore cached OOF probabilities")
    ap.add_argument("--out", type=Path, default=ROOT / "prompts" / T.MODEL_FILE)
    ap.add_argument("--report", type=Path, default=ROOT / "training" / "emotion_clf_report.md")
    args = ap.parse_args()
    t0 = time.time()

    book = RuleBook.load(ROOT / "prompts")
    rows = dev_rows()
    texts = [cut(r["customer"] or "") for r in rows]
    y = np.array([LAB[r["emotion"]] for r in rows])
    langs = np.array([r["lang"] for r in rows])
    folds = np.random.default_rng(SEED).permutation(len(rows)) % K
    sig = [A.signal_scores(book, t, r["lang"]) for t, r in zip(texts, rows)]
    sig_pred = combined(book, sig, np.zeros((len(rows), 3)), None)
    sig_acc = float((sig_pred == y).mean())
    print(f"{len(rows)} development rows; signals alone {sig_acc:.3f} (in-sample: tuned on these rows)")

    specs = [T.FeatureSpec(dim=1 << 18, nmin=2, nmax=5), T.FeatureSpec(dim=1 << 18, nmin=1, nmax=4),
             T.FeatureSpec(dim=1 << 18, nmin=2, nmax=5, bigrams=True)]
    lams = [1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4]
    if args.quick:
        specs, lams = specs[:1], [3e-5, 1e-4]
    grid = []
    cache: dict = {}
    memo = Path("/tmp/emotion_clf_oof.npz")  # OOF probabilities, so a re-run of the tail is cheap
    old = dict(np.load(memo)) if memo.exists() and not args.fresh else {}
    for spec in specs:
        feats = [T.features(t, spec) for t in texts]
        for per_lang in (False, True):
            if per_lang and spec != specs[0]:
                continue
            keys = {lam: f"{spec}|{lam}|{per_lang}" for lam in lams}
            if all(k in old for k in keys.values()):
                Ps = {lam: old[k] for lam, k in keys.items()}
            else:
                Ps = oof_proba(feats, y, folds, lams, langs if per_lang else None)
                old.update({keys[lam]: P for lam, P in Ps.items()})
                np.savez(memo, **old)
            for lam, P in Ps.items():
                acc = float((P.argmax(1) == y).mean())
                ll = float(-np.log(P[np.arange(len(y)), y] + 1e-12).mean())
                grid.append((acc, -ll, spec, lam, per_lang))
                cache[(spec, lam, per_lang)] = P
                print(f"  {spec} lam={lam:g} per_lang={per_lang}: acc {acc:.3f} logloss {ll:.3f}"
                      f"  [{time.time() - t0:.0f}s]", flush=True)
    acc, nll, spec, lam, per_lang = max(grid, key=lambda t: (round(t[0], 3), t[1]))
    P = cache[(spec, lam, per_lang)]
    clf_pred = P.argmax(1)
    print(f"chosen: {spec} lam={lam:g} per_lang={per_lang} (acc {acc:.3f})")

    # combination rule: chosen on all OOF predictions; its figure estimated by nested CV (the
    # rule chosen on four folds' OOF predictions, scored on the fifth)
    vote, comb_in, vote_max, comb_max = best_vote(book, sig, P, y, np.arange(len(y)), sig_pred)
    nested = np.zeros(len(y), dtype=int)
    nested_max = np.zeros(len(y), dtype=int)
    for k in range(K):
        v, _, vm, _ = best_vote(book, sig, P, y, np.flatnonzero(folds != k), sig_pred)
        te = np.flatnonzero(folds == k)
        nested[te] = combined(book, [sig[i] for i in te], P[te], v)
        nested_max[te] = combined(book, [sig[i] for i in te], P[te], vm)
    comb_pred = combined(book, sig, P, vote)
    table = []
    for v in VOTE_GRID:
        pv = combined(book, sig, P, v)
        table.append((v, float((pv == y).mean()), int((pv != sig_pred).sum())))

    # final model: all development rows, the chosen features and L2
    feats = [T.features(t, spec) for t in texts]
    if per_lang:
        raise SystemExit("per-language model chosen: ToneModel stores one model; extend save()")
    X = Design(feats)
    W, b = fit(X, y, lam)
    full = np.zeros((spec.dim, 3), dtype=np.float32)
    full[X.cols] = W
    note = {"trained": "training/emotion_clf.py on the 1,566 development rows of training/data "
                       "(sorted ids, i % 4 != 3); held-out rows never read",
            "chosen_by": f"{K}-fold cross-validation within the development rows (seed {SEED})",
            "l2": lam, "cv_accuracy_classifier": round(acc, 4),
            "cv_accuracy_combined_nested": round(float((nested == y).mean()), 4)}
    T.save(args.out, spec, full, b, vote, note)
    print(f"saved {args.out} ({args.out.stat().st_size} bytes)")

    # check: the saved float16 model reproduces the in-memory one
    T._load.cache_clear()
    m = T.load(args.out.parent)
    agree = np.mean([m.predict(t)[0] == T.LABELS[k] for t, k in
                     zip(texts, predict(W, b, X.cols, feats).argmax(1))])
    print(f"saved model agrees with the in-memory one on {agree:.4f} of training rows")

    # eval/cases.jsonl, report only
    cases = [json.loads(x) for x in (ROOT / "eval" / "cases.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    cases = [c for c in cases if "emotion" in c]
    load = A.load_tone_model
    A.load_tone_model = lambda root: None
    c_sig = sum(A.analyse(book, c["draft"], c["customer"] or None, "auto").customer_emotion == c["emotion"] for c in cases)
    A.load_tone_model = load
    c_comb = sum(A.analyse(book, c["draft"], c["customer"] or None, "auto").customer_emotion == c["emotion"] for c in cases)

    # latency: read_emotion on a 1,000-character message
    msg = ("Tilasin paketin kolme viikkoa sitten eikä sitä ole vieläkään tullut, ja seurantakoodi "
           "näyttää samaa tilaa. I have emailed twice and nobody answers. ") * 8
    msg = msg[:1000]
    def timing(fn) -> float:
        for _ in range(20):
            fn()
        ts = []
        for _ in range(300):
            a = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - a)
        return float(np.median(ts) * 1000)
    A.load_tone_model = lambda root: None
    t_sig = timing(lambda: A.read_emotion(book, msg, "fi"))
    A.load_tone_model = load
    t_comb = timing(lambda: A.read_emotion(book, msg, "fi"))

    n = len(y)
    out = ["# Learned tone reader: cross-validated figures", "",
           f"Written by `training/emotion_clf.py`. {n} development rows of training/data (sorted ids, "
           "i % 4 != 3); held-out rows never read. "
           f"{K}-fold CV, folds shuffled with seed {SEED}.", "",
           "| reader | CV accuracy, development rows |", "|---|---|",
           f"| signals alone (in-sample: the regexes were tuned on these rows) | {sig_acc:.1%} |",
           f"| classifier alone (out-of-fold) | {acc:.1%} |",
           f"| combined, chosen rule (1-SE toward the classifier) on all OOF predictions | {comb_in:.1%} |",
           f"| … nested (rule chosen on 4 folds, scored on the 5th) | {(nested == y).mean():.1%} |",
           f"| combined, most accurate rule `{json.dumps(vote_max)}` on all OOF predictions | {comb_max:.1%} |",
           f"| … nested | {(nested_max == y).mean():.1%} |", "",
           f"Chosen: {spec}, L2 {lam:g}, one model for both languages: {not per_lang}. "
           f"Combination: `{json.dumps(vote)}`.", "",
           "Combined (rule on all OOF), confusion:", "", *confusion(y, comb_pred), "",
           "Signals alone, confusion:", "", *confusion(y, sig_pred), "",
           "Classifier alone (OOF), confusion:", "", *confusion(y, clf_pred), "",
           "Feature / L2 grid (classifier alone, OOF):", "", "| features | L2 | per language | acc | log loss |",
           "|---|---|---|---|---|"]
    out += [f"| {s.nmin}-{s.nmax} grams, dim 2^{s.dim.bit_length() - 1}, bigrams {s.bigrams} | {la:g} | {pl} | "
            f"{a:.1%} | {-l:.3f} |" for a, l, s, la, pl in grid]
    out += ["", "Combination grid (combined OOF accuracy, all development rows):", "",
            "| votes | min prob | acc | readings changed vs signals |", "|---|---|---|---|"]
    out += [f"| {v['votes']} | {v['min_prob']} | {a:.1%} | {c} |" for v, a, c in table]
    out += ["", f"eval/cases.jsonl ({len(cases)} cases with an emotion; report only): signals alone "
            f"{c_sig / len(cases):.1%} ({c_sig}), combined {c_comb / len(cases):.1%} ({c_comb}).", "",
            f"read_emotion on a 1,000-character message, median of 300: signals only {t_sig:.3f} ms, "
            f"with the model {t_comb:.3f} ms (+{t_comb - t_sig:.3f} ms).",
            f"Model file: {args.out.stat().st_size:,} bytes.", ""]
    args.report.write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))
    print(f"[{time.time() - t0:.0f}s]")


if __name__ == "__main__":
    main()
