"""Sävy with a remote OpenAI-compatible engine (SAVY_ENGINE_URL): against a real server — the one
llama-cpp-python ships (`python -m llama_cpp.server`, serving the embedded GGUF on loopback) — and,
for the failures a real server will not produce on demand (401, 429 with Retry-After, garbage or
cut-off SSE, a stalled answer), a small fake one."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from savy.model import resolve
from savy.remote import RemoteEngine
from savy.settings import Settings

from .conftest import TOKEN, LiveServer, free_port

KEY = "remote-key-7f3c9a1e5d2b8046"
DRAFT = "Hei, tilauksesi 4412 lähti tänään. Seurantakoodi JJFI88231."
CUSTOMER = "Missä tilaukseni 4412 on?"


class _Remote:
    """`python -m llama_cpp.server` with the embedded model on a loopback port."""

    def __init__(self, model: Path, port: int) -> None:
        self.model, self.port = model, port
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "_Remote":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2", "--api_key", KEY,
             "--model_alias", "gemma-3-270m"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=2).status_code == 200:
                    return self
            assert self.proc.poll() is None, "llama_cpp.server exited at start"
            time.sleep(0.5)
        raise TimeoutError("llama_cpp.server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None


def _savy(home: Path, url: str, key: str = KEY, **kw: Any) -> LiveServer:
    settings = Settings(home=home, port=free_port(), token=TOKEN, n_threads=2, request_timeout_s=120,
                        engine_url=url, engine_api_key=key, engine_model="gemma-3-270m", **kw)
    return LiveServer(settings).start()


@pytest.fixture(scope="module")
def remote(savy_home: Path) -> Iterator[_Remote]:
    path, _ = resolve(savy_home, None)
    r = _Remote(path, free_port()).start()
    yield r
    r.kill()


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log line written meanwhile, by any logger."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda rec: lines.append(rec.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield lines
    root.setLevel(level)
    root.removeHandler(handler)


def test_rewrites_through_a_real_openai_compatible_server(remote: _Remote, savy_home: Path,
                                                         logs: list[str]) -> None:
    sv = _savy(savy_home, remote.url)
    try:
        with sv.client() as c:
            health = c.get("/v1/health").json()
            assert health["ready"] is True and remote.url in health["model"]
            r = c.post("/v1/rewrite", json={"draft": DRAFT, "customer_message": CUSTOMER})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["source"] in ("model", "rules") and "4412" in body["rewrite"] and "JJFI88231" in body["rewrite"]
            with c.stream("POST", "/v1/rewrite/stream", json={"draft": DRAFT, "customer_message": CUSTOMER}) as s:
                events = [ln.split(":", 1)[1].strip() for ln in s.iter_lines() if ln.startswith("event:")]
            assert events[-1] == "done", events
            everything = json.dumps([health, body]) + "\n".join(logs)
            assert KEY not in everything  # the key is sent to the engine, and nowhere else
    finally:
        sv.stop()


def test_a_wrong_key_names_the_setting(remote: _Remote, savy_home: Path, logs: list[str]) -> None:
    wrong = "wrong-key-0000000000000000"
    sv = _savy(savy_home, remote.url, key=wrong)
    try:
        with sv.client() as c:
            assert c.get("/v1/health").json()["ready"] is False
            r = c.post("/v1/rewrite", json={"draft": DRAFT, "customer_message": CUSTOMER})
        assert r.status_code == 503 and r.json()["error"]["code"] == "engine_auth", r.text
        assert "SAVY_ENGINE_API_KEY" in r.json()["error"]["message"]
        assert wrong not in r.text and wrong not in "\n".join(logs)
    finally:
        sv.stop()


def test_remote_killed_then_back(savy_home: Path) -> None:
    """The remote goes away: a clear 503 engine_unavailable within seconds, Sävy stays healthy;
    it comes back: rewrites work again without restarting Sävy."""
    path, _ = resolve(savy_home, None)
    port = free_port()
    r = _Remote(path, port).start()
    sv = _savy(savy_home, r.url)
    try:
        with sv.client() as c:
            assert c.post("/v1/rewrite", json={"draft": DRAFT}).status_code == 200
            r.kill()
            t0 = time.monotonic()
            res = c.post("/v1/rewrite", json={"draft": DRAFT})
            assert time.monotonic() - t0 < 10
            assert res.status_code == 503 and res.json()["error"]["code"] == "engine_unavailable", res.text
            assert r.url in res.json()["error"]["message"] and KEY not in res.text
            assert c.get("/v1/health").status_code == 200 and c.get("/v1/health").json()["ready"] is False
            r.start()
            assert c.post("/v1/rewrite", json={"draft": DRAFT}).status_code == 200
            assert c.get("/v1/health").json()["ready"] is True
    finally:
        sv.stop()
        r.kill()


# ---------- failures on demand: a fake OpenAI-compatible server ----------

class _Fake(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    closed = threading.Event()  # the client went away while an answer was being written

    def do_GET(self) -> None:
        self._json(200, {"data": [{"id": "fake"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = type(self).mode
        if mode == "401":
            return self._json(401, {"error": "bad key"})
        if mode == "429":
            return self._json(429, {"error": "slow down"}, {"Retry-After": "7"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = lambda t: f'data: {json.dumps({"choices": [{"delta": {"content": t}, "finish_reason": None}]})}\n\n'  # noqa: E731
        try:
            if mode == "garbage":
                self.wfile.write(b"data: {this is not json\n\n")
            elif mode == "cut":
                self.wfile.write(chunk("Hei, tilauksesi").encode())
            elif mode == "slow":
                for _ in range(600):
                    self.wfile.write(chunk(" hei").encode())
                    self.wfile.flush()
                    time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            type(self).closed.set()
        self.close_connection = True

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        out = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fake(savy_home: Path) -> Iterator[LiveServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Fake)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sv = _savy(savy_home, f"http://127.0.0.1:{httpd.server_address[1]}/v1", engine_timeout_s=3)
    yield sv
    sv.stop()
    httpd.shutdown()


@pytest.mark.parametrize("mode,status,code", [
    ("401", 503, "engine_auth"),
    ("429", 503, "busy"),
    ("garbage", 503, "engine_error"),
    ("cut", 503, "engine_error"),
    ("slow", 504, "timeout"),
])
def test_remote_failures_get_the_one_error_shape(fake: LiveServer, mode: str, status: int, code: str) -> None:
    _Fake.mode = mode
    with fake.client() as c:
        r = c.post("/v1/rewrite", json={"draft": DRAFT})
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    if mode == "429":
        assert r.headers["Retry-After"] == "7"  # the remote's own


def test_broken_stream_ends_in_a_clean_error_event(fake: LiveServer) -> None:
    _Fake.mode = "garbage"
    with fake.client() as c, c.stream("POST", "/v1/rewrite/stream", json={"draft": DRAFT}) as s:
        lines = list(s.iter_lines())
    events = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("event:")]
    assert events[-1] == "error", lines
    data = json.loads([ln for ln in lines if ln.startswith("data:")][-1][5:])
    assert data["error"]["code"] == "engine_error"


def test_a_dropped_client_closes_the_upstream_request(fake: LiveServer) -> None:
    _Fake.mode = "slow"
    _Fake.closed.clear()
    with fake.client() as c, c.stream("POST", "/v1/rewrite/stream", json={"draft": DRAFT}) as s:
        for line in s.iter_lines():
            if line.startswith("event: delta"):
                break
    assert _Fake.closed.wait(10), "the upstream request was still being answered after the client left"


def test_engine_url_is_checked() -> None:
    with pytest.raises(ValueError, match="SAVY_ENGINE_URL"):
        Settings(engine_url="http://user:pw@gpu-box:8000/v1")
    with pytest.raises(ValueError, match="SAVY_ENGINE_URL"):
        Settings(engine_url="gpu-box:8000")



def test_near_the_context_limit_the_remote_counts(remote: _Remote, savy_home: Path) -> None:
    """Sävy's own count for a remote model is a conservative estimate; a prompt it would refuse is
    counted by the remote itself (llama-cpp-python's /extras/tokenize) before a 413."""
    import asyncio

    from savy.analyse import analyse

    sv = _savy(savy_home, remote.url)
    try:
        st = sv.state
        draft = "Your order 4412 shipped today and arrives on Thursday. " * 20
        segments = st.rewriter.builder.build(analyse(st.book, draft, None, "en"), draft)
        estimate = st.engine.count_tokens(segments)
        counter = RemoteEngine(remote.url, model="gemma-3-270m", api_key=KEY, style="chat", concurrency=1,
                               queue_size=1, timeout_s=30, ca_bundle=None, context_tokens=8192)

        async def count() -> int | None:  # its own client: the server's is bound to the server's loop
            try:
                return await counter.exact_tokens(segments)
            finally:
                await counter.aclose()
        exact = asyncio.run(count())
        assert exact is not None and exact < estimate
        with sv.client() as c:
            st.engine._context_tokens = (estimate + exact) // 2 + 128  # the estimate would refuse
            assert c.post("/v1/rewrite", json={"draft": draft}).status_code == 200
            st.engine._context_tokens = exact  # too small for the real count too
            r = c.post("/v1/rewrite", json={"draft": draft})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_long_for_model"
    finally:
        sv.stop()
