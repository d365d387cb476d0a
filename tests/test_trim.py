"""The trimmed vocabulary with the real embedded model: built from the PyPI model, the same tokens in
(full-vocabulary tokenization, mapped ids), the same greedy text out, any script round-tripping
through byte fallback, Sävy's adapter applied unchanged, and the switch to turn it off."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from savy.engine import GenParams, GenStats, LlamaEngine
from savy.model import ADAPTER_PATH, _sha256, resolve
from savy.trim import VocabMap, kept_ids, trimmed_path

pytestmark = pytest.mark.model

# Finnish and English only: every token of it is kept, so both models see exactly the same ids (text
# in other scripts reaches the trimmed model as byte tokens, and may then be continued differently)
PROMPT = ("<draft>\nHei Maija, tilauksesi 4412 lähti tänään. Seurantakoodi JJFI88231.\n</draft>\n"
          "<customer>\nMissä mun paketti on?? Oon odottanut jo viikon!\n</customer>\n<rewrite>\n")


@pytest.fixture(scope="module")
def models(savy_home: Path) -> tuple[Path, Path, list[int]]:
    full, _ = resolve(savy_home, None)
    ids = kept_ids()
    return full, trimmed_path(full, savy_home, ids), ids


def test_the_trimmed_model_is_built_once_and_small(models: tuple[Path, Path, list[int]], savy_home: Path) -> None:
    full, trim, ids = models
    assert 10_000 < len(ids) < 40_000 and ids == sorted(set(ids)) and ids[:4] == [0, 1, 2, 3]
    assert trim.stat().st_size < 0.5 * full.stat().st_size
    before = trim.stat().st_mtime
    assert trimmed_path(full, savy_home, ids) == trim and trim.stat().st_mtime == before  # not rebuilt


def test_a_damaged_trimmed_model_is_built_again(models: tuple[Path, Path, list[int]], tmp_path: Path) -> None:
    full, _, ids = models
    trim = trimmed_path(full, tmp_path, ids)  # its own copy: the session's is mapped by running servers
    good = _sha256(trim)
    with trim.open("r+b") as f:
        f.seek(-16, 2)
        f.write(b"\0" * 16)
    assert trimmed_path(full, tmp_path, ids) == trim and _sha256(trim) == good


def test_any_text_round_trips_through_the_trimmed_vocabulary(models: tuple[Path, Path, list[int]]) -> None:
    from llama_cpp import Llama

    full, trim, ids = models
    vm = VocabMap(full, ids)
    llm = Llama(model_path=str(trim), vocab_only=True, verbose=False)
    for text in ("Hei Маша Петрова! Tilaus 4412 😊👍🏽 lähti.", "李雷 and Ελένη paid €12,90 — ok?", "<end_of_turn> typed"):
        tokens = vm.tokenize(text.encode(), add_bos=False, special=False)
        assert max(tokens) < llm.n_vocab()
        assert llm.detokenize(tokens).decode("utf-8") == text


def _greedy(engine: LlamaEngine) -> str:
    async def go() -> str:
        out = ""
        async for d in engine.stream([(PROMPT, False)], GenParams(max_tokens=48), GenStats(), 120):
            out += d
        return out
    return asyncio.run(go())


def test_same_greedy_text_with_the_adapter(models: tuple[Path, Path, list[int]]) -> None:
    """Sävy's adapter (LoRA on attention and feed-forward only: no vocabulary dimension) applies to
    the trimmed model unchanged, and the rewrite is the one the full model writes."""
    full, trim, ids = models
    out = {}
    for name, path, vocab in (("full", full, None), ("trimmed", trim, (full, ids))):
        e = LlamaEngine(path, name=name, n_threads=2, n_ctx=2048, queue_size=2, lora_path=ADAPTER_PATH,
                        full_vocab=vocab)
        e.start()
        assert e.wait_ready(120)
        try:
            out[name] = _greedy(e)
        finally:
            e.stop()
    assert len(out["full"]) > 20 and out["trimmed"] == out["full"]


def test_the_server_runs_the_trimmed_model_unless_told_not_to(savy_home: Path, tmp_path: Path) -> None:
    from savy.app import build_state
    from savy.settings import Settings

    on = build_state(Settings(home=savy_home, token="t" * 20, n_threads=2))
    off = build_state(Settings(home=savy_home, token="t" * 20, n_threads=2, trim_vocab=False))
    try:
        assert ".trim-" in on.engine.model_path.name  # type: ignore[attr-defined]
        assert ".trim-" not in off.engine.model_path.name  # type: ignore[attr-defined]
    finally:
        on.engine.stop()  # type: ignore[attr-defined]
        off.engine.stop()  # type: ignore[attr-defined]
    # a user's own GGUF is never modified: it runs as given
    own = tmp_path / "own.gguf"
    own.symlink_to(resolve(savy_home, None)[0])
    mine = build_state(Settings(home=savy_home, token="t" * 20, n_threads=2, model=own))
    try:
        assert mine.engine.model_path == own  # type: ignore[attr-defined]
    finally:
        mine.engine.stop()  # type: ignore[attr-defined]
