"""One rewrite, top to bottom: analyse -> prompt -> engine -> guard (-> rules-only fallback)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from dataclasses import dataclass

from . import compose
from .analyse import Analysis, analyse
from .engine import Engine, GenParams, GenStats, Segment
from .errors import EngineBusy, EngineTimeout, SavyError
from .guard import Guard
from .prompt import PromptBuilder
from .rules import RuleBook
from .schemas import Alternative, AppliedRule, RewriteRequest, RewriteResponse, Timings
from .work import CpuPool

log = logging.getLogger("savy.pipeline")

# room kept in the context for the longest bank sentence scored after the prompt, or an answer
MARGIN_TOKENS = 64

# on_event(kind, text, attempt, tokens): kind is "admitted" (the engine accepted the job) or
# "delta"; tokens counts the attempt's generated tokens so far (for progress displays)
OnEvent = Callable[[str, str, int, int], Awaitable[None]]


@dataclass
class Rewriter:
    """Owns the stages; `run` is the whole request."""

    book: RuleBook
    engine: Engine
    builder: PromptBuilder
    guard: Guard
    max_new_tokens: int
    timeout_s: float
    log_text: bool = False
    # "compose": keep the agent's sentences and choose an opening and closing from the bank (the
    # embedded small model); "free": the model writes the whole rewrite (a bigger model)
    mode: str = "compose"
    # where the CPU-bound stages run (None: on the caller's thread, as in unit tests and the CLI)
    cpu: CpuPool | None = None

    async def offload(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a CPU-bound stage off the event loop (in `cpu`, or here when there is none)."""
        return fn(*args) if self.cpu is None else await self.cpu.run(fn, *args)

    @property
    def bank(self) -> compose.Bank:
        return compose.load_bank(self.book.root)

    def attempts(self, max_tokens: int, stop: tuple[str, ...]) -> list[GenParams]:
        """Greedy first (a rewrite should copy facts exactly); one retry with different sampling."""
        return [
            GenParams(max_tokens=max_tokens, temperature=0.0, stop=stop),
            GenParams(max_tokens=max_tokens, temperature=0.7, top_p=0.9, top_k=40,
                      repeat_penalty=1.1, seed=1234, stop=stop),
        ]

    async def run(self, req: RewriteRequest, on_event: OnEvent | None = None) -> RewriteResponse:
        t0 = time.monotonic()
        deadline = t0 + self.timeout_s
        a = await self.offload(analyse, self.book, req.draft, req.customer_message, req.language)
        await self._fits(a, req)
        if self.mode == "compose":
            return await self._compose(a, req.draft, deadline, t0, on_event, use_model=True)
        segments = self.builder.build(a, req.draft)
        draft_tokens = self.engine.count_tokens([(req.draft, False)])
        max_tokens = min(self.max_new_tokens, int(draft_tokens * 2.5) + 64)
        warnings: list[str] = []
        total = GenStats()
        for n, params in enumerate(self.attempts(max_tokens, self.builder.stop), start=1):
            stats = GenStats()
            text = ""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EngineTimeout(self.timeout_s)
            try:
                async for delta in self.engine.stream(segments, params, stats, remaining):
                    text += delta
                    if on_event is not None:
                        await on_event("delta" if delta else "admitted", delta, n, stats.completion_tokens)
            except EngineBusy:
                if n == 1:
                    raise
                warnings.append("The engine was busy for a second attempt.")
                break
            _add(total, stats)
            if stats.finish_reason == "timeout":
                raise EngineTimeout(self.timeout_s)
            problems = await self.offload(self.guard.check, a, req.draft, text)
            if self.log_text:
                log.debug("attempt %d text=%r problems=%s", n, text, problems)
            if not problems:
                return self._response(a, text.strip(), "model", warnings, total, t0)
            warnings.append(f"Model attempt {n} rejected by the guard: {'; '.join(problems)}.")
        warnings.append("Using the rules-only rewrite.")
        return await self._compose(a, req.draft, deadline, t0, on_event, use_model=False,
                                   warnings=warnings, total=total)

    async def _compose(self, a: Analysis, draft: str, deadline: float, t0: float,
                       on_event: OnEvent | None, use_model: bool,
                       warnings: list[str] | None = None, total: GenStats | None = None) -> RewriteResponse:
        """The constrained rewrite: the agent's sentences kept, flagged phrases fixed by their rules,
        an opening and a closing from the bank ranked by the model (see compose.py)."""
        pl = await self.offload(compose.plan, self.bank, a, draft)
        a = pl.analysis or a
        score = getattr(self.engine, "score", None) if use_model else None
        total = total or GenStats()
        warnings = warnings or []
        prompt = self.builder.build(a, draft)
        seed = draft
        openers: list[str] = list(pl.openers)
        closings: list[str] = list(pl.closings)
        source = "rules"
        if score is not None and (len(pl.openers) > 1 or len(pl.closings) > 1):
            # a stream's answer starts once the first scoring job is queued (a full queue is a 503)
            admitted = False

            async def on_admitted() -> None:
                nonlocal admitted
                if not admitted and on_event is not None:
                    admitted = True
                    await on_event("admitted", "", 1, 0)

            if len(pl.openers) > 1:
                conts = [compose.placed_opener(pl.frame, o) for o in pl.openers]
                scores = await self._score(score, [*prompt, (pl.frame.head, False)], conts, total, deadline,
                                           on_admitted)
                openers = compose.ranked(pl.openers, scores)
            if len(pl.closings) > 1:
                before = compose.opened(pl.frame, openers[0] if openers else None)
                conts = [compose.closing_join(before, c) for c in pl.closings]
                scores = await self._score(score, [*prompt, (before, False)], conts, total, deadline, on_admitted)
                closings = compose.ranked(pl.closings, scores)
            source = "model"
        else:
            openers = compose.stable_order(pl.openers, seed)
            closings = compose.stable_order(pl.closings, seed + "|c")
            if on_event is not None and use_model:
                await on_event("admitted", "", 1, 0)
        chosen, alternatives = await self.offload(self._checked, a, draft, pl, openers, closings)
        if chosen is None:
            warnings.append("No framed rewrite passed the checks; returning the draft unchanged.")
            return self._response(a, draft, "draft", warnings, total, t0)
        text, opener = chosen
        if on_event is not None:
            await on_event("delta", text, 1, total.completion_tokens)
        warnings += [f"{p[0].upper()}{p[1:]}: the rules could not fix it automatically."
                     for p in await self.offload(self.guard.leftovers, a, text)]
        return self._response(a, text, source, warnings, total, t0, opener=opener,
                              alternatives=alternatives)

    async def _fits(self, a: Analysis, req: RewriteRequest) -> None:
        """A prompt longer than the model's context is refused before it is queued (413, naming
        the longer field), so no request can make the engine chew on it first. A remote engine's
        count is an estimate: near the limit, the remote is asked to count where it can."""
        limit = getattr(self.engine, "context_tokens", None)
        if limit is None:
            return
        segments = self.builder.build(a, req.draft)
        need = self.engine.count_tokens(segments) + 2 * MARGIN_TOKENS
        exact = getattr(self.engine, "exact_tokens", None)
        if need > limit and exact is not None and (n := await exact(segments)) is not None:
            need = n + 2 * MARGIN_TOKENS
        if need > limit:
            customer = self.engine.count_tokens([(a.customer_clean, False)])
            draft = self.engine.count_tokens([(req.draft, False)])
            field = "customer_message" if customer > draft else "draft"
            raise SavyError(413, "too_long_for_model",
                            f"The text is too long for the model: the prompt needs about {need} tokens "
                            f"and the model's context is {limit}; shorten the {field.replace('_', ' ')}.",
                            field=field)

    def _checked(self, a: Analysis, draft: str, pl: compose.Plan, openers: list[str],
                 closings: list[str]) -> tuple[tuple[str, str | None] | None, list[Alternative]]:
        """The best-ranked version the guard passes, and up to three others as alternatives."""
        chosen: tuple[str, str | None] | None = None
        alternatives: list[Alternative] = []
        for opener in [*openers[:4], None]:
            closing = pl.closing_for(opener, closings)
            text = compose.assemble(pl, opener, closing)
            problems = self.guard.check(a, draft, text, style=False)
            if problems and closing is not None:
                text = compose.assemble(pl, opener, None)
                problems = self.guard.check(a, draft, text, style=False)
            if problems:
                if self.log_text:
                    log.debug("composed text=%r problems=%s", text, problems)
                continue
            if chosen is None:
                chosen = (text, opener)
            elif opener is not None and len(alternatives) < 3:
                alternatives.append(Alternative(opener=opener, rewrite=text))
        return chosen, alternatives

    async def _score(self, score: Callable[..., Awaitable[list[float]]], segments: list[Segment],
                     conts: list[str], total: GenStats, deadline: float,
                     on_admitted: Callable[[], Awaitable[None]]) -> list[float]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EngineTimeout(self.timeout_s)
        stats = GenStats()
        scores = await score(segments, conts, stats, remaining, on_admitted)
        _add(total, stats)
        return scores

    def _response(self, a: Analysis, text: str, source: str, warnings: list[str],
                  stats: GenStats, t0: float, opener: str | None = None,
                  alternatives: list[Alternative] | None = None) -> RewriteResponse:
        total_ms = (time.monotonic() - t0) * 1000
        log.info("rewrite source=%s lang=%s emotion=%s prompt_tokens=%d reused=%d completion_tokens=%d "
                 "first_token_ms=%s total_ms=%.0f", source, a.language, a.customer_emotion,
                 stats.prompt_tokens, stats.prompt_reused_tokens, stats.completion_tokens,
                 f"{stats.first_token_ms:.0f}" if stats.first_token_ms else "-", total_ms)
        return RewriteResponse(
            rewrite=text,
            language=a.language,  # type: ignore[arg-type]
            customer_emotion=a.customer_emotion,  # type: ignore[arg-type]
            applied_rules=[AppliedRule(id=r.id, title=r.title[a.language]) for r in a.applied],
            warnings=warnings,
            source=source,  # type: ignore[arg-type]
            opener=opener,
            alternatives=alternatives or [],
            model=self.engine.name,
            timings=Timings(total_ms=round(total_ms, 1), prompt_tokens=stats.prompt_tokens,
                            completion_tokens=stats.completion_tokens,
                            queue_ms=round(stats.queue_ms, 1),
                            first_token_ms=round(stats.first_token_ms, 1) if stats.first_token_ms else None,
                            prompt_reused_tokens=stats.prompt_reused_tokens),
        )


def _add(total: GenStats, s: GenStats) -> None:
    if total.first_token_ms is None:
        total.first_token_ms = s.first_token_ms
        total.queue_ms = s.queue_ms
        total.prompt_reused_tokens = s.prompt_reused_tokens
    total.prompt_tokens += s.prompt_tokens
    total.completion_tokens += s.completion_tokens
    total.gen_ms += s.gen_ms
