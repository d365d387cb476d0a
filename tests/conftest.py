"""Fixtures: a real Sävy server (real embedded model, real uvicorn on loopback) and fakes for units."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from savy.app import create_app, serve_in_thread
from savy.engine import GenParams, GenStats, Segment
from savy.rules import RuleBook
from savy.schemas import RewriteResponse
from savy.settings import REPO_ROOT, Settings

TOKEN = "test-token-0123456789abcdef"
SEEDS = REPO_ROOT.parent / "shared" / "seeds"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server in a thread, with the app's state reachable for white-box checks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.url = f"http://127.0.0.1:{settings.port}"

    def start(self) -> "LiveServer":
        self.server, self.thread = serve_in_thread(self.settings, self.app)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.app.state.savy

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.state.engine.idle:
            if time.monotonic() > deadline:
                raise TimeoutError("engine still busy")
            time.sleep(0.02)

    def client(self, token: str | None = TOKEN, timeout: float | httpx.Timeout = 120) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@pytest.fixture(scope="session")
def savy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The assembled model (253 MB) is reused across runs when SAVY_TEST_HOME is shared; the
    # default is a per-session temp dir, so tests never touch the user's real SAVY_HOME.
    return tmp_path_factory.mktemp("savy-home")


@pytest.fixture(scope="session")
def live(savy_home: Path) -> Iterator[LiveServer]:
    """The real server with the real embedded model: what a user runs."""
    settings = Settings(home=savy_home, port=free_port(), token=TOKEN, n_threads=2, queue_size=4,
                        request_timeout_s=120, read_timeout_s=5)
    server = LiveServer(settings).start()
    yield server
    server.stop()


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


WEB = Path(__file__).parent / "web"


@pytest.fixture(scope="session")
def web_modules() -> Path:
    """tests/web/node_modules: the npm packages the browser tests use (editor libraries, web-ext),
    installed from the lockfile when missing or older than it (`make test` does it first)."""
    import shutil
    import subprocess

    npm = shutil.which("npm")
    assert npm, "npm is needed for the browser tests (`make test` installs it)"
    installed = WEB / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (WEB / "package-lock.json").stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=900)
    return WEB / "node_modules"


@pytest.fixture(scope="session")
def book() -> RuleBook:
    return RuleBook.load(REPO_ROOT / "prompts")


class FakeEngine:
    """Same interface as LlamaEngine; replays scripted outputs. For pipeline-logic unit tests."""

    name = "fake"
    ready = True
    idle = True

    def __init__(self, outputs: Sequence[str], delay: float = 0.0) -> None:
        self.outputs = list(outputs)
        self.calls: list[tuple[Sequence[Segment], GenParams]] = []
        self.delay = delay

    def count_tokens(self, segments: Sequence[Segment]) -> int:
        return sum(len(t.split()) for t, _ in segments)

    async def stream(self, segments: Sequence[Segment], params: GenParams, stats: GenStats,
                     timeout_s: float) -> AsyncIterator[str]:
        import asyncio

        self.calls.append((segments, params))
        text = self.outputs.pop(0) if self.outputs else ""
        yield ""
        if self.delay > timeout_s:
            await asyncio.sleep(timeout_s)
            stats.finish_reason = "timeout"
            return
        for word in text.split(" "):
            stats.completion_tokens += 1
            yield word + " "
        stats.finish_reason = "stop"


class NoScoreEngine:
    """An engine that can neither write nor rank: the pipeline composes with stable picks (the
    rules-only rewrite). Real engines are tested elsewhere; this one tests the construction."""

    name = "none"
    ready = True

    def count_tokens(self, segments: object) -> int:
        return 1


def rules_only(book: RuleBook, draft: str, customer: str | None, language: str = "auto") -> RewriteResponse:
    import asyncio

    from savy.guard import Guard
    from savy.pipeline import Rewriter
    from savy.prompt import PromptBuilder
    from savy.schemas import RewriteRequest

    rw = Rewriter(book, NoScoreEngine(), PromptBuilder(book, "adapter"), Guard(book), 64, 30)  # type: ignore[arg-type]
    return asyncio.run(rw.run(RewriteRequest(draft=draft, customer_message=customer, language=language)))
