"""The engine with the real embedded model: prefix reuse must be exact despite sliding windows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from savy.engine import GenParams, GenStats, LlamaEngine, common_prefix, repeats_tail
from savy.model import resolve

pytestmark = pytest.mark.model

PREFIX = "".join(f"Esimerkki {i}: asiakas kiitti ja sai vastauksen 'Ole hyvä!'.\n" for i in range(30))
# a request whose suffix is longer than the 512-token sliding window: it pushes the prefix's
# tail out of a window-sized SWA cache
LONG = "".join(f"Rivi {i}: tilaus TIL-{4000 + i} on käsitelty ja lähetetty asiakkaalle. " for i in range(60))
SUFFIXES = ["Tilaus TIL-500 on lähetetty. Kirjoita lämpimämmin:", "Order 501 has shipped. Warmer:"]


def run(engine: LlamaEngine, suffix: str, max_tokens: int = 32) -> tuple[str, GenStats]:
    async def go() -> tuple[str, GenStats]:
        stats, out = GenStats(), ""
        async for d in engine.stream([(PREFIX, True), (suffix, False)],
                                     GenParams(max_tokens=max_tokens), stats, 60):
            out += d
        return out, stats
    return asyncio.run(go())


def reuse_after_long_request(engine: LlamaEngine) -> list[tuple[str, str, GenStats]]:
    """For each suffix: output with the prefix reused after a short request (reference) and
    after a request longer than the sliding window."""
    out = []
    for i, s in enumerate(SUFFIXES):
        other = SUFFIXES[1 - i]
        run(engine, other)
        ref, _ = run(engine, s)  # warm, previous request short: nothing slid out
        run(engine, LONG, max_tokens=4)
        after_long, stats = run(engine, s)
        out.append((ref, after_long, stats))
    return out


def make_engine(home: Path, swa_full: bool) -> LlamaEngine:
    path, name = resolve(home, None)
    e = LlamaEngine(path, name=name, n_threads=2, n_ctx=4096, queue_size=2, swa_full=swa_full)
    e.start()
    e.wait_ready()
    return e


@pytest.fixture(scope="module")
def engine(savy_home: Path):
    e = make_engine(savy_home, swa_full=True)
    yield e
    e.stop()


def test_prefix_reuse_is_exact_with_full_swa_cache(engine: LlamaEngine) -> None:
    for ref, after_long, stats in reuse_after_long_request(engine):
        assert stats.prompt_reused_tokens > 600, stats
        assert after_long == ref


def test_naive_reuse_with_window_sized_cache_is_not_exact(savy_home: Path) -> None:
    """The control: the same sequence with a window-sized SWA cache either refuses the reuse or
    silently produces different text. This is why the server sets swa_full."""
    e = make_engine(savy_home, swa_full=False)
    try:
        results = reuse_after_long_request(e)
    finally:
        e.stop()
    assert any(stats.prompt_reused_tokens == 0 or after_long != ref
               for ref, after_long, stats in results)


def test_tokenization_keeps_untrusted_specials_as_text(engine: LlamaEngine) -> None:
    trusted = engine._tokenize([("<start_of_turn>", True)])
    untrusted = engine._tokenize([("<start_of_turn>", False)])
    assert len(trusted) == 2  # BOS + one special token
    assert len(untrusted) > 2  # spelled out as ordinary text


def test_helpers() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert repeats_tail([9, 1, 2, 3, 4, 5, 6] * 3)
    assert not repeats_tail(list(range(30)))
