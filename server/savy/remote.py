"""A remote engine: the `Engine` protocol over an OpenAI-compatible HTTP API, for teams that run a
bigger model on a shared inference server (vLLM, llama.cpp's llama-server, Ollama, LM Studio, TGI,
llama-cpp-python's server). Sävy keeps everything else — analysis, rules, prompt, guards, the
rules-only fallback, its own token and Origin checks.

`chat` prompts go to `/chat/completions` as one user message (the server applies its model's chat
template); `completion` and `adapter` prompts go to `/completions`. Both stream (SSE).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx

from .engine import GenParams, GenStats, Segment
from .errors import EngineBusy, EngineTimeout, SavyError

# untrusted text cannot carry a chat template's control tokens to a remote tokenizer that parses
# them ("<end_of_turn>", "<|im_end|>", "[INST]"): a zero-width joiner breaks each such marker
_MARKER = re.compile(r"<(?=\|?/?[A-Za-z_][\w|]{0,40}\|?>)|\[(?=/?INST\])")
PROBE_TIMEOUT_S = 3.0


def neutralise(text: str) -> str:
    return _MARKER.sub(lambda m: m.group(0) + "\u200d", text)


def estimate_tokens(text: str) -> int:
    """A conservative token count when the remote cannot count: a digit can be a token of its own,
    other text averages well under one token per two bytes in the tokenizers of current models."""
    digits = sum(c.isdigit() for c in text)
    return digits + (len(text.encode("utf-8")) - digits + 1) // 2 + 4


class RemoteEngine:
    """Sends each rewrite to `url` (e.g. http://gpu-box:8000/v1); at most `concurrency` at once, up
    to `queue_size` more waiting, the rest get 503 busy."""

    def __init__(self, url: str, *, model: str, api_key: str | None, style: str, concurrency: int,
                 queue_size: int, timeout_s: float, ca_bundle: Path | None, context_tokens: int) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.style = style
        self.name = f"{model or 'remote model'} at {self.url}"
        self._key = api_key
        self._concurrency = concurrency
        self._limit = concurrency + queue_size
        self._timeout_s = timeout_s
        self._context_tokens = context_tokens
        self._verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            self._verify = ssl.create_default_context(cafile=str(ca_bundle))
        self._inflight = 0
        self._sem: asyncio.Semaphore | None = None
        self._client: httpx.AsyncClient | None = None
        self._up = False

    # ---- what the pipeline reads ----

    @property
    def ready(self) -> bool:
        return self._up

    @property
    def idle(self) -> bool:
        return self._inflight == 0

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def count_tokens(self, segments: Sequence[Segment]) -> int:
        return sum(estimate_tokens(t) for t, _ in segments)

    # ---- HTTP ----

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "text/event-stream, application/json"}
        if self._key:
            h["Authorization"] = f"Bearer {self._key}"
        return h

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=self._concurrency + 2, max_keepalive_connections=self._concurrency)
            self._client = httpx.AsyncClient(verify=self._verify, limits=limits, trust_env=False,
                                             timeout=httpx.Timeout(self._timeout_s, connect=PROBE_TIMEOUT_S))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _unavailable(self, why: str) -> SavyError:
        self._up = False
        return SavyError(503, "engine_unavailable", f"The engine at {self.url} is not answering ({why}).",
                         headers={"Retry-After": "5"})

    async def probe(self) -> bool:
        """Whether the remote answers (GET /models): what /v1/health reports."""
        try:
            r = await self._http().get(f"{self.url}/models", headers=self._headers(), timeout=PROBE_TIMEOUT_S)
            self._up = r.status_code == 200
        except httpx.HTTPError:
            self._up = False
        return self._up

    async def exact_tokens(self, segments: Sequence[Segment]) -> int | None:
        """The remote's own count of the prompt's tokens where it offers one (llama-cpp-python's
        POST /extras/tokenize, llama.cpp's POST /tokenize, both at the server root), else None."""
        text = "".join(t if trusted else neutralise(t) for t, trusted in segments)
        root = self.url.removesuffix("/v1")
        for url, body in ((f"{root}/extras/tokenize", {"input": text, "model": self.model or None}),
                          (f"{root}/tokenize", {"content": text})):
            try:
                r = await self._http().post(url, json=body, headers=self._headers(), timeout=PROBE_TIMEOUT_S)
                tokens = r.json().get("tokens") if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError, AttributeError):
                continue
            if isinstance(tokens, list):
                return len(tokens)
        return None

    def _body(self, segments: Sequence[Segment], params: GenParams) -> tuple[str, dict[str, object]]:
        text = "".join(t if trusted else neutralise(t) for t, trusted in segments)
        body: dict[str, object] = {"model": self.model, "stream": True, "max_tokens": params.max_tokens,
                                   "temperature": params.temperature, "top_p": params.top_p}
        if params.stop:
            body["stop"] = list(params.stop)[:4]  # the OpenAI API takes at most four
        if params.seed is not None:
            body["seed"] = params.seed
        if self.style == "chat":
            body["messages"] = [{"role": "user", "content": text}]
            return "/chat/completions", body
        body["prompt"] = text
        return "/completions", body

    async def _check(self, r: httpx.Response) -> None:
        if r.status_code == 200:
            return
        await r.aread()
        if r.status_code in (401, 403):
            self._up = False
            raise SavyError(503, "engine_auth", f"The engine at {self.url} refused Sävy's credentials "
                            f"(HTTP {r.status_code}): check the SAVY_ENGINE_API_KEY setting.")
        if r.status_code in (429, 503):
            retry = r.headers.get("Retry-After", "")
            raise EngineBusy(int(retry) if retry.isdigit() else 2)
        raise SavyError(503, "engine_error", f"The engine at {self.url} answered HTTP {r.status_code}.",
                        headers={"Retry-After": "5"})

    async def stream(self, segments: Sequence[Segment], params: GenParams, stats: GenStats,
                     timeout_s: float) -> AsyncIterator[str]:
        """Yield "" once admitted, then text deltas (see Engine). Closing the iterator closes the
        upstream request at once."""
        if self._inflight >= self._limit:
            raise EngineBusy()
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._concurrency)
        self._inflight += 1
        t0 = time.monotonic()
        timeout_s = min(timeout_s, self._timeout_s)  # SAVY_ENGINE_TIMEOUT_S bounds the whole answer
        deadline = t0 + timeout_s
        try:
            yield ""
            try:
                await asyncio.wait_for(self._sem.acquire(), timeout=max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                stats.finish_reason = "timeout"
                raise EngineTimeout(timeout_s) from None
            try:
                stats.queue_ms = (time.monotonic() - t0) * 1000
                async for piece in self._request(segments, params, stats, deadline, timeout_s):
                    yield piece
            finally:
                self._sem.release()
        finally:
            self._inflight -= 1

    async def _request(self, segments: Sequence[Segment], params: GenParams, stats: GenStats,
                       deadline: float, timeout_s: float) -> AsyncIterator[str]:
        path, body = self._body(segments, params)
        stats.prompt_tokens = self.count_tokens(segments)
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                async with self._http().stream("POST", self.url + path, json=body, headers=self._headers()) as r:
                    await self._check(r)
                    self._up = True
                    done = finished = False
                    async for line in r.aiter_lines():
                        if not line.startswith("data:"):
                            continue  # SSE comments, event names, keep-alives
                        data = line[5:].strip()
                        if data == "[DONE]":
                            done = True
                            break
                        try:
                            choice = json.loads(data)["choices"][0]
                        except (ValueError, KeyError, IndexError, TypeError):
                            raise SavyError(503, "engine_error",
                                            f"The engine at {self.url} sent a malformed stream.") from None
                        piece = (choice.get("delta") or {}).get("content") if self.style == "chat" else choice.get("text")
                        if piece:
                            if stats.first_token_ms is None:
                                stats.first_token_ms = (time.monotonic() - started) * 1000
                            stats.completion_tokens += 1
                            yield piece
                        if choice.get("finish_reason"):
                            finished = True
                            stats.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
                    if not (done or finished):  # cut off: the text so far may be half a sentence
                        raise SavyError(503, "engine_error", f"The engine at {self.url} ended the stream early.",
                                        headers={"Retry-After": "5"})
        except TimeoutError:
            stats.finish_reason = "timeout"
            raise EngineTimeout(timeout_s) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise self._unavailable(type(e).__name__) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            raise SavyError(503, "engine_error", f"The engine at {self.url} broke off the answer ({type(e).__name__}).",
                            headers={"Retry-After": "5"}) from None
        finally:
            stats.gen_ms = (time.monotonic() - started) * 1000
