"""The per-install token, and an ASGI guard that checks Host, Origin and body size before routing."""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import stat
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

TOKEN_FILE = "token"


def load_or_create_token(home: Path) -> str:
    """Read SAVY_HOME/token, creating it (mode 0600, random) on first use."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
        path.unlink()
        return load_or_create_token(home)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


_HOST_RE = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(?P<port>\d{1,5}))?$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


class RequestGuard:
    """Reject DNS-rebinding Hosts, foreign Origins and oversized bodies before any handler runs.

    Starlette's CORS middleware only decides which responses a browser may read; the handler still
    runs. This guard answers 400/403/413 itself, so a hostile page never reaches the engine.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: frozenset[str], allowed_origins: list[str],
                 max_body_bytes: int) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = tuple(allowed_origins)
        self.max_body = max_body_bytes

    async def _reject(self, send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.lower(), v)
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        m = _HOST_RE.match(host)
        if not m or m.group("host") not in self.allowed_hosts:
            await self._reject(send, 403, "forbidden_host",
                               "Host header not allowed: Sävy answers only on localhost.")
            return
        origin = headers.get(b"origin")
        if origin is not None:
            o = origin.decode("latin-1")
            if not any(o.startswith(p) for p in self.allowed_origins):
                await self._reject(send, 403, "forbidden_origin",
                                   f"Origin {o[:100]!r} is not allowed to call Sävy.")
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                await self._reject(send, 400, "bad_request", "Invalid Content-Length.")
                return
            if too_big:
                await self._reject(send, 413, "too_large",
                                   f"Request body over {self.max_body} bytes.")
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reject(send, 413, "too_large", f"Request body over {self.max_body} bytes.")


class _BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body reader passes it through unchanged (413, not 400).
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body over {limit} bytes.")


def allowed_hosts_for(bind_host: str) -> frozenset[str]:
    extra: set[str] = set()
    if bind_host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        extra.add(f"[{bind_host}]" if ":" in bind_host else bind_host.lower())
    return LOOPBACK_HOSTS | extra

