"""The HTTP API: app factory, dependencies and routes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from . import errors
from .analyse import analyse
from .engine import Engine, GenParams, GenStats, LlamaEngine
from .errors import SavyError, error_body
from .guard import Guard
from .model import ADAPTER_NAME, resolve, resolve_lora
from .pipeline import Rewriter
from .protocol import guarded_protocol
from .remote import RemoteEngine
from .trim import kept_ids, trimmed_path
from .work import CpuPool
from .prompt import PromptBuilder
from .rules import RuleBook
from .schemas import (AnalyzeRequest, AnalyzeResponse, ErrorResponse, Fact, Finding, Health, RewriteRequest,
                      RewriteResponse, RuleOut, RulesResponse)
from .security import RequestGuard, allowed_hosts_for, load_or_create_token, token_matches
from .settings import Settings

log = logging.getLogger("savy")


class State:
    """What the routes share: settings, token, rule book, engine and the pipeline."""

    def __init__(self, settings: Settings, book: RuleBook, engine: Engine, rewriter: Rewriter,
                 token: str) -> None:
        self.settings = settings
        self.book = book
        self.engine = engine
        self.rewriter = rewriter
        self.token = token


def _state(request: Request) -> State:
    return request.app.state.savy  # type: ignore[no-any-return]


_bearer = HTTPBearer(auto_error=False)


def _require_token(request: Request,
                   cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    if cred is None or not token_matches(cred.credentials, _state(request).token):
        raise SavyError(401, "unauthorized",
                        "Missing or wrong token: send 'Authorization: Bearer <token>' (see `savy token`).",
                        headers={"WWW-Authenticate": "Bearer"})


StateDep = Annotated[State, Depends(_state)]

# The error statuses each kind of route can answer, all in the one error shape (OpenAPI document)
_ERR = {"model": ErrorResponse}
_GUARDED = {400: _ERR, 403: _ERR, 413: _ERR}
_AUTHED = {**_GUARDED, 401: _ERR}
_BODY = {**_AUTHED, 422: _ERR, 503: _ERR}
_REWRITE = {**_BODY, 504: _ERR}
TokenDep = Depends(_require_token)


def _choose_style(settings: Settings, chat_template: str | None, lora_name: str | None) -> str:
    if settings.prompt_style != "auto":
        return settings.prompt_style
    if lora_name == ADAPTER_NAME:
        return "adapter"
    return "chat" if chat_template else "completion"


def build_state(settings: Settings, engine: Engine | None = None) -> State:
    """Load rules and (unless an engine is given, as in unit tests) start the model's worker."""
    book = RuleBook.load(settings.prompts_dir)
    token = settings.token or load_or_create_token(settings.home)
    guard = Guard(book)
    warming = threading.Thread(target=guard.warm, name="savy-guard-warm", daemon=True)
    warming.start()  # the Finnish lexicon loads while the model does
    chat_template = None
    lora_name = None
    if engine is None and settings.engine_url:
        # the remote server applies its own chat template: the prompt is the user message alone
        chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
        engine = RemoteEngine(
            settings.engine_url, model=settings.engine_model,
            api_key=settings.engine_api_key.get_secret_value() if settings.engine_api_key else None,
            style=_choose_style(settings, chat_template, None), concurrency=settings.engine_concurrency,
            queue_size=settings.queue_size, timeout_s=settings.engine_timeout_s, ca_bundle=settings.engine_ca_bundle,
            context_tokens=settings.engine_context_tokens)
    elif engine is None:
        path, name = resolve(settings.home, settings.model)
        lora, lora_name = resolve_lora(settings.model, settings.lora, settings.adapter)
        full_vocab = None
        if settings.model is None and settings.trim_vocab:  # the embedded model only, never a user's own
            ids = kept_ids()
            path, full_vocab = trimmed_path(path, settings.home, ids), (path, ids)
        llama = LlamaEngine(path, name=f"{name}+{lora_name}" if lora_name else name, n_threads=settings.n_threads,
                            n_ctx=settings.n_ctx, queue_size=settings.queue_size, lora_path=lora,
                            full_vocab=full_vocab)
        llama.start()
        llama.wait_ready()
        chat_template = llama.chat_template
        engine = llama
    style = _choose_style(settings, chat_template, lora_name)
    builder = PromptBuilder(book, style, chat_template)
    warming.join()
    mode = settings.rewrite_mode
    if mode == "auto":  # a small embedded model chooses; a bigger one (own GGUF, remote) writes
        mode = "compose" if settings.model is None and not settings.engine_url else "free"
    rewriter = Rewriter(book, engine, builder, guard, settings.max_new_tokens,
                        settings.request_timeout_s, settings.log_text, mode, CpuPool())
    return State(settings, book, engine, rewriter, token)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The Sävy API. The model loads in the lifespan, so importing this module is cheap."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await asyncio.to_thread(build_state, settings, engine)
        app.state.savy = state
        if settings.log_text:
            log.warning("SAVY_LOG_TEXT is on: drafts and customer messages will be written to the log")
        log.info("Sävy ready: model=%s style=%s mode=%s threads=%d", state.engine.name,
                 state.rewriter.builder.style, state.rewriter.mode, settings.n_threads)
        # Evaluate the fixed part of the prompt (rules, examples) once now, so the first real
        # request is as fast as every later one; a request arriving meanwhile simply queues.
        warm = asyncio.create_task(_warm_up(state))
        try:
            yield
        finally:
            warm.cancel()
            stop = getattr(state.engine, "stop", None)
            if stop is not None:
                await asyncio.to_thread(stop)
            aclose = getattr(state.engine, "aclose", None)
            if aclose is not None:
                await aclose()
            if state.rewriter.cpu is not None:
                state.rewriter.cpu.close()

    docs = settings.api_docs
    app = FastAPI(title="Sävy", version="0.1.0", lifespan=lifespan,
                  description="Local warm-rewrite service for customer-service agents.",
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None)
    errors.install(app)
    app.add_middleware(RequestGuard, allowed_hosts=allowed_hosts_for(settings.host),
                       allowed_origins=settings.allowed_origins, max_body_bytes=settings.max_body_bytes)

    @app.get("/v1/health", response_model=Health, responses=_GUARDED)
    async def health(state: StateDep) -> Health:
        probe = getattr(state.engine, "probe", None)  # a remote engine: does it answer now?
        ready = await probe() if probe is not None else state.engine.ready
        return Health(status="ok", model=state.engine.name, ready=ready,
                      finnish_word_check=state.rewriter.guard.checks_finnish_words)

    @app.get("/v1/rules", response_model=RulesResponse, dependencies=[TokenDep], responses=_AUTHED)
    async def rules(state: StateDep) -> RulesResponse:
        return RulesResponse(rules=[
            RuleOut(id=r.id, kind=r.kind, title=r.title, guidance=r.guidance, message=r.message,
                    source=r.source) for r in state.book.rules])

    @app.post("/v1/analyze", response_model=AnalyzeResponse, dependencies=[TokenDep], responses=_BODY)
    async def analyze(body: AnalyzeRequest, state: StateDep) -> AnalyzeResponse:
        a = await state.rewriter.offload(analyse, state.book, body.draft, body.customer_message, body.language)
        return AnalyzeResponse(
            language=a.language,  # type: ignore[arg-type]
            address=a.address,  # type: ignore[arg-type]
            customer_emotion=a.customer_emotion,  # type: ignore[arg-type]
            signals=a.signals,
            findings=[Finding(**asdict(f)) for f in a.findings],
            facts=[Fact(**asdict(f)) for f in a.facts],
        )

    @app.post("/v1/rewrite", response_model=RewriteResponse, dependencies=[TokenDep], responses=_REWRITE)
    async def rewrite(body: RewriteRequest, request: Request, state: StateDep) -> RewriteResponse:
        work = asyncio.create_task(state.rewriter.run(body))
        gone = asyncio.create_task(_wait_disconnect(request))
        try:
            done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if work not in done:  # the client left: stop generating now
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            raise SavyError(499, "client_closed", "The client closed the connection.")
        return work.result()

    @app.post("/v1/rewrite/stream", dependencies=[TokenDep],
              responses={200: {"content": {"text/event-stream": {}}}, **_REWRITE})
    async def rewrite_stream(body: RewriteRequest, state: StateDep) -> StreamingResponse:
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def on_event(kind: str, text: str, attempt: int, tokens: int) -> None:
            await events.put((kind, {"text": text, "attempt": attempt, "tokens": tokens}))

        work = asyncio.create_task(state.rewriter.run(body, on_event))
        work.add_done_callback(lambda t: events.put_nowait(("finished", None)))
        # a client that left before the end never reads the outcome: retrieve it here, so an error
        # after the hang-up is not logged as "Task exception was never retrieved"
        work.add_done_callback(lambda t: t.cancelled() or t.exception())
        # Wait until the engine admits the job (or refuses it), so a full queue is a real 503.
        first = await events.get()
        if first[0] == "finished":
            work.result()  # raises the SavyError (busy, timeout...) as a JSON response
            events.put_nowait(first)

        async def sse() -> AsyncIterator[bytes]:
            try:
                yield b": accepted\n\n"
                while True:
                    kind, data = await events.get()
                    if kind == "delta":
                        yield _sse("delta", data)
                    elif kind == "finished":
                        break
                if work.cancelled():
                    return
                exc = work.exception()
                if exc is None:
                    yield _sse("done", work.result().model_dump())
                elif isinstance(exc, SavyError):
                    yield _sse("error", error_body(exc.code, exc.message, exc.field))
                else:
                    log.error("stream failed: %s", type(exc).__name__)
                    yield _sse("error", error_body("internal", "Internal error; the draft was not changed."))
            finally:
                if not work.done():
                    work.cancel()  # the client disconnected: free the engine

        return StreamingResponse(sse(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return app


async def _warm_up(state: State) -> None:
    probe = getattr(state.engine, "probe", None)
    if probe is not None:  # a remote engine keeps its own cache: only see whether it answers
        if not await probe():
            log.warning("the engine at %s does not answer yet", getattr(state.engine, "url", "?"))
        return
    segments = state.rewriter.builder.build(analyse(state.book, "-", None, "en"), "-")
    try:
        async for _ in state.engine.stream(segments, GenParams(max_tokens=1), GenStats(), 300):
            pass
    except SavyError as exc:
        log.warning("warm-up skipped: %s", exc.message)


def serve_in_thread(settings: Settings, app: FastAPI | None = None,
                    start_timeout_s: float = 300) -> tuple[Any, threading.Thread]:
    """Run the app on uvicorn in a background thread (tests and bench scripts); returns once it
    accepts connections. Stop it with `server.should_exit = True; thread.join()`."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app or create_app(settings), host=settings.host,
                                           port=settings.port, log_level="warning",
                                           http=guarded_protocol(settings.read_timeout_s)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Sävy server did not start")
        time.sleep(0.05)
    return server, thread


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
