"""One rewrite, top to bottom: analyse -> prompt -> engine -> guard (-> rules-only fallback)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .analyse import Analysis, analyse
from .engine import Engine, GenParams, GenStats
from .errors import EngineBusy, EngineTimeout
from .guard import Guard
from .prompt import PromptBuilder
from .rules import RuleBook
from .rulesonly import rewrite_rules
from .schemas import AppliedRule, RewriteRequest, RewriteResponse, Timings

log = logging.getLogger("savy.pipeline")

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
        a = analyse(self.book, req.draft, req.customer_message, req.language)
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
            problems = self.guard.check(a, req.draft, text)
            if self.log_text:
                log.debug("attempt %d text=%r problems=%s", n, text, problems)
            if not problems:
                return self._response(a, text.strip(), "model", warnings, total, t0)
            warnings.append(f"Model attempt {n} rejected by the guard: {'; '.join(problems)}.")
        fallback = rewrite_rules(self.book, a, req.draft)
        problems = self.guard.check(a, req.draft, fallback, style=False)
        if not problems:
            warnings.append("Using the rules-only rewrite.")
            warnings += [f"{p[0].upper()}{p[1:]}: the rules could not fix it automatically."
                         for p in self.guard.leftovers(a, fallback)]
            return self._response(a, fallback, "rules", warnings, total, t0)
        warnings.append(f"Rules-only rewrite rejected too ({'; '.join(problems)}); returning the draft unchanged.")
        return self._response(a, req.draft, "draft", warnings, total, t0)

    def _response(self, a: Analysis, text: str, source: str, warnings: list[str],
                  stats: GenStats, t0: float) -> RewriteResponse:
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
