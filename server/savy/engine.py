"""The engine stage: one llama.cpp model owned by one worker thread, a bounded queue in front.

The API never touches llama.cpp directly; it talks to the small `Engine` protocol below, so a
remote OpenAI-compatible engine can be added later without touching the routes.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import EngineBusy, EngineTimeout, SavyError

log = logging.getLogger("savy.engine")

# prompt tokens evaluated per llama.cpp call: the cancel flag and the deadline are checked between
# chunks, so a dropped client frees the engine within one chunk (~0.1 s on 2 cores)
PROMPT_CHUNK = 64

# A prompt is a list of segments: (text, trusted). Trusted text (our own templates) may contain
# special tokens such as <start_of_turn>; untrusted text (draft, customer message) is tokenized
# with special-token parsing off, so typed "<end_of_turn>" stays plain text.
Segment = tuple[str, bool]


@dataclass(frozen=True)
class GenParams:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class GenStats:
    prompt_tokens: int = 0
    prompt_reused_tokens: int = 0
    prompt_evaluated_tokens: int = 0  # evaluated by this job (less than asked when it was stopped)
    completion_tokens: int = 0
    queue_ms: float = 0.0
    first_token_ms: float | None = None
    gen_ms: float = 0.0
    finish_reason: str = "stop"  # stop | length | cancelled | timeout | repetition | error


class Engine(Protocol):
    """What the pipeline needs from a text generator."""

    name: str

    @property
    def ready(self) -> bool: ...

    def count_tokens(self, segments: Sequence[Segment]) -> int: ...

    def stream(self, segments: Sequence[Segment], params: GenParams,
               stats: GenStats, timeout_s: float) -> AsyncIterator[str]:
        """Yield "" once admitted, then text deltas; raise EngineBusy if the queue is full."""
        ...


class Scorer(Protocol):
    """An engine that can rank given continuations of a prompt (the constrained rewrite's choice)."""

    async def score(self, segments: Sequence[Segment], continuations: Sequence[str],
                    stats: GenStats, timeout_s: float,
                    on_admitted: Callable[[], Awaitable[None]] | None = None) -> list[float]:
        """The mean log-probability per token of each continuation after the prompt; on_admitted
        runs once the job is in the queue (EngineBusy is raised before, when it is full)."""
        ...


@dataclass
class _Job:
    segments: Sequence[Segment]
    params: GenParams
    stats: GenStats
    loop: asyncio.AbstractEventLoop
    deadline: float
    out: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    enqueued: float = field(default_factory=time.monotonic)
    # a scoring job (no generation): the continuations to rank after the prompt
    continuations: Sequence[str] | None = None

    def stopped(self) -> bool:
        """Whether the job must end now (its client left, or its deadline passed)."""
        if self.cancel.is_set():
            self.stats.finish_reason = "cancelled"
            return True
        if time.monotonic() > self.deadline:
            self.stats.finish_reason = "timeout"
            return True
        return False

    async def next_item(self) -> object:
        """What the worker sent next; an error it sent is raised here. None when the job ended, or
        its deadline (plus a second's grace) passed with nothing sent."""
        remaining = self.deadline - time.monotonic() + 1.0
        try:
            item = await asyncio.wait_for(self.out.get(), timeout=max(remaining, 0.1))
        except asyncio.TimeoutError:
            self.stats.finish_reason = "timeout"
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def emit(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, item)
        except RuntimeError:  # the caller's event loop is gone (a CLI run that timed out): no one listens
            self.cancel.set()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def repeats_tail(tokens: Sequence[int], min_len: int = 6, times: int = 3) -> bool:
    """True when the generation ends in the same token run repeated `times` times (a loop)."""
    n = len(tokens)
    for size in range(min_len, n // times + 1):
        tail = tokens[n - size:]
        if all(tokens[n - size * (k + 1): n - size * k] == tail for k in range(1, times)):
            return True
    return False


def _stop_prefix(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that could still grow into a stop string: only that
    much is held back from the client, so deltas flow with no delay otherwise."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


class LlamaEngine:
    """llama-cpp-python behind a single worker thread (a llama.cpp context is not thread-safe)."""

    def __init__(self, model_path: Path, *, name: str, n_threads: int, n_ctx: int,
                 queue_size: int, lora_path: Path | None = None, swa_full: bool = True,
                 full_vocab: tuple[Path, list[int]] | None = None) -> None:
        self.name = name
        self.model_path = model_path
        # a trimmed model (server/savy/trim.py): the full model's path and the kept ids; text is
        # tokenized with the full vocabulary and its ids mapped, so the model sees the same tokens
        self._full_vocab = full_vocab
        self._vocab = None
        self._kw = dict(n_threads=n_threads, n_ctx=n_ctx, lora_path=lora_path, swa_full=swa_full)
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._ready = threading.Event()
        self._running = False
        self._load_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="savy-engine", daemon=True)
        self.llm = None  # owned by the worker thread only, after start()
        self.chat_template: str | None = None
        # the stats of the last jobs, newest last (tests and /v1/health could read it)
        self.recent: deque[GenStats] = deque(maxlen=32)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        self._ready.wait(timeout)
        if self._load_error is not None:
            raise self._load_error
        return self._ready.is_set()

    def stop(self) -> None:
        if self._thread.is_alive():
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.emit(SavyError(503, "shutting_down", "The server is shutting down."))
            self._queue.put(None)
            self._thread.join(timeout=10)

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._load_error is None

    @property
    def context_tokens(self) -> int:
        """The model's context window (the longest prompt plus answer it can take)."""
        return int(self._kw["n_ctx"])  # type: ignore[call-overload]

    @property
    def idle(self) -> bool:
        return not self._running and self._queue.empty()

    def _load(self) -> None:
        from llama_cpp import Llama

        kw = self._kw
        # NOTE: no prompt-lookup speculative decoding: measured slower here (docs/benchmarks.md)
        self.llm = Llama(
            model_path=str(self.model_path),
            n_ctx=kw["n_ctx"],
            n_batch=512,
            n_threads=kw["n_threads"],
            n_threads_batch=kw["n_threads"],
            lora_path=str(kw["lora_path"]) if kw["lora_path"] else None,
            # NOTE: Gemma 3 keeps a 512-token sliding window on most layers. Without the full-size
            # SWA cache, rolling the KV cache back to the shared prompt prefix would leave those
            # layers missing tokens that slid out of the window; full size keeps reuse exact.
            swa_full=kw["swa_full"],
            verbose=False,
        )
        self.chat_template = self.llm.metadata.get("tokenizer.chat_template")
        if self._full_vocab is not None:
            from .trim import VocabMap

            self._vocab = VocabMap(*self._full_vocab)

    def _run(self) -> None:
        try:
            self._load()
        except BaseException as exc:  # reported by wait_ready / health, never raised in a request
            log.error("model failed to load: %s", exc)
            self._load_error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.stats.queue_ms = (time.monotonic() - job.enqueued) * 1000
            self.recent.append(job.stats)
            if job.cancel.is_set():  # its client left while it waited
                job.stats.finish_reason = "cancelled"
                job.emit(None)
                continue
            self._running = True
            try:
                if job.continuations is not None:
                    self._score(job)
                else:
                    self._generate(job)
            except BaseException as exc:
                log.error("generation failed: %s", type(exc).__name__, exc_info=exc)
                job.stats.finish_reason = "error"
                job.emit(SavyError(500, "engine_error", "The model failed while generating."))
                self.llm.reset()  # type: ignore[union-attr]
                continue
            finally:
                self._running = False
            job.emit(None)

    # -- generation (worker thread) ----------------------------------------------------------
    def _tokenize(self, segments: Sequence[Segment]) -> list[int]:
        llm = self.llm
        assert llm is not None
        tokens = [llm.token_bos()]
        for text, trusted in segments:
            if text:
                tokens += self._tokens(text, special=trusted)
        return tokens

    def _tokens(self, text: str, special: bool) -> list[int]:
        if self._vocab is not None:
            return self._vocab.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        assert self.llm is not None
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def count_tokens(self, segments: Sequence[Segment]) -> int:
        # NOTE: tokenizing only reads the vocabulary, which is immutable, so this is safe from
        # any thread once the model is loaded.
        if self.llm is None:
            return sum(len(t) for t, _ in segments) // 3
        return len(self._tokenize(segments))

    def _prompt(self, job: _Job, extra: int = 16) -> list[int] | None:
        """Tokenize the job's prompt and bring the KV cache up to all but its last token: the prefix
        shared with the previous job is reused, the rest is evaluated in chunks with the cancel
        flag and the deadline checked between them, so no prompt can hold the engine for long.
        None when the job ended (an error or a stop was emitted or recorded)."""
        llm = self.llm
        assert llm is not None
        stats = job.stats
        tokens = self._tokenize(job.segments)
        n_ctx = llm.n_ctx()
        stats.prompt_tokens = len(tokens)
        if len(tokens) + extra > n_ctx:
            job.emit(SavyError(413, "too_long_for_model",
                               f"The prompt needs {len(tokens)} tokens; the model's context is {n_ctx}.",
                               field="draft"))
            return None
        # Reuse the KV cache for the prompt prefix shared with the previous request (the rules and
        # examples); at least one token is always evaluated so there are fresh logits to sample.
        reuse = min(common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens), len(tokens) - 1)
        if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
            llm.n_tokens = reuse
        else:
            reuse = 0
            llm.reset()
        stats.prompt_reused_tokens = reuse
        for i in range(reuse, len(tokens) - 1, PROMPT_CHUNK):
            if job.stopped():
                return None
            chunk = tokens[i:min(i + PROMPT_CHUNK, len(tokens) - 1)]
            llm.eval(chunk)
            stats.prompt_evaluated_tokens += len(chunk)
        return None if job.stopped() else tokens

    def _score(self, job: _Job) -> None:
        """Rank the job's continuations: their mean log-probability per token after the prompt."""
        import numpy as np

        llm = self.llm
        assert llm is not None and job.continuations is not None
        t0 = time.monotonic()
        longest = max((len(c) for c in job.continuations), default=0)
        tokens = self._prompt(job, extra=longest // 2 + 16)
        if tokens is None:
            return
        llm.eval(tokens[-1:])
        n_vocab = llm.n_vocab()
        first = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).copy()
        n = len(tokens)
        scores = []
        try:
            for cont in job.continuations:
                if job.stopped():
                    return
                toks = self._tokens(cont, special=False)[: llm.n_batch]
                if not toks:
                    scores.append(float("-inf"))
                    continue
                llm._batch.set_batch(batch=toks, n_past=n, logits_all=True)
                llm._ctx.decode(llm._batch)
                rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(toks), n_vocab))
                logits = np.vstack([first[None, :], rows[:-1]])
                top = logits.max(axis=1, keepdims=True)
                norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
                scores.append(float((logits[np.arange(len(toks)), toks] - norm).mean()))
                llm._ctx.kv_cache_seq_rm(-1, n, -1)
                job.stats.completion_tokens += len(toks)
        finally:
            llm._ctx.kv_cache_seq_rm(-1, n, -1)
            llm.n_tokens = n
            job.stats.gen_ms = (time.monotonic() - t0) * 1000
        if job.stats.first_token_ms is None:
            job.stats.first_token_ms = (time.monotonic() - job.enqueued) * 1000
        job.stats.finish_reason = "stop"
        job.emit(scores)

    def _generate(self, job: _Job) -> None:
        from llama_cpp import llama_cpp as C

        llm = self.llm
        assert llm is not None
        t0 = time.monotonic()
        stats, p = job.stats, job.params
        tokens = self._prompt(job)
        if tokens is None:
            return
        max_tokens = min(p.max_tokens, llm.n_ctx() - len(tokens) - 1)
        if p.seed is not None:
            llm.set_seed(p.seed)

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        sent = 0
        hold = max((len(s) for s in p.stop), default=0)  # how far back a stop string may start
        generated: list[int] = []
        stats.finish_reason = "length"
        gen = llm.generate(tokens[-1:], reset=False, temp=p.temperature, top_p=p.top_p,
                           top_k=p.top_k, min_p=p.min_p, repeat_penalty=p.repeat_penalty)
        try:
            for tok in gen:
                now = time.monotonic()
                if stats.first_token_ms is None:
                    stats.first_token_ms = (now - job.enqueued) * 1000
                if job.stopped():
                    break
                if C.llama_vocab_is_eog(llm._model.vocab, tok):
                    stats.finish_reason = "stop"
                    break
                generated.append(tok)
                stats.completion_tokens = len(generated)
                text += decoder.decode(llm.detokenize([tok]))
                cut = min((i for i in (text.find(s, max(0, sent - hold)) for s in p.stop) if i >= 0),
                          default=-1)
                if cut >= 0:
                    text = text[:cut]
                    stats.finish_reason = "stop"
                elif len(generated) >= 12 and repeats_tail(generated):
                    stats.finish_reason = "repetition"
                safe = len(text) if stats.finish_reason != "length" else len(text) - _stop_prefix(text, p.stop)
                if safe > sent:
                    job.emit(text[sent:safe])
                    sent = safe
                if stats.finish_reason != "length":
                    break
                if len(generated) >= max_tokens:
                    break
        finally:
            gen.close()
        if stats.finish_reason == "length" and len(text) > sent:
            job.emit(text[sent:])
        stats.completion_tokens = len(generated)
        stats.gen_ms = (time.monotonic() - t0) * 1000

    # -- the async face ------------------------------------------------------------------------
    def _admit(self, job: _Job) -> None:
        if self._load_error is not None:
            raise SavyError(503, "model_unavailable", f"The model failed to load: {self._load_error}")
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise EngineBusy() from None

    async def score(self, segments: Sequence[Segment], continuations: Sequence[str],
                    stats: GenStats, timeout_s: float,
                    on_admitted: Callable[[], Awaitable[None]] | None = None) -> list[float]:
        """The mean log-probability per token of each continuation after the prompt (see Scorer)."""
        job = _Job(segments, GenParams(max_tokens=0), stats, asyncio.get_running_loop(),
                   deadline=time.monotonic() + timeout_s, continuations=list(continuations))
        self._admit(job)
        try:
            if on_admitted is not None:
                await on_admitted()
            while True:
                item = await job.next_item()
                if item is None:  # ended without scores: cancelled or out of time
                    raise EngineTimeout(timeout_s)
                if isinstance(item, list):
                    return item
        finally:
            job.cancel.set()

    async def stream(self, segments: Sequence[Segment], params: GenParams, stats: GenStats,
                     timeout_s: float) -> AsyncIterator[str]:
        """Yield "" once the job is admitted, then text deltas. Raises EngineBusy when the queue is
        full; closing the iterator (or cancelling its task) stops the generation."""
        job = _Job(segments, params, stats, asyncio.get_running_loop(),
                   deadline=time.monotonic() + timeout_s)
        self._admit(job)
        try:
            yield ""
            while True:
                item = await job.next_item()
                if item is None:
                    return
                yield item  # type: ignore[misc]
        finally:
            job.cancel.set()
