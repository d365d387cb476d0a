"""uvicorn's HTTP/1.1 protocol with read deadlines: a client gets `read_timeout_s` to send its
request headers, and as long again for its body; a connection that stalls is closed, so idle
half-open connections cannot pile up (uvicorn itself only times out idle keep-alive connections)."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(read_timeout_s: float) -> type[asyncio.Protocol]:
    """An H11Protocol subclass that closes a connection stalled in its headers or its body."""

    class SavyH11Protocol(H11Protocol):
        _read_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # waiting for the rest of the headers or the body: keep (or start) the clock running;
            # a request read in full is the app's now, and its own timeout applies
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                if self._read_timer is None:
                    self._arm()
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            self._disarm()  # idle between requests: uvicorn's keep-alive timeout applies
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._read_timer = self.loop.call_later(read_timeout_s, self._stalled, self.conn.their_state)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _stalled(self, state: Any) -> None:
            self._read_timer = None
            if self.conn.their_state is state:  # no progress to the next part since the clock started
                self.transport.close()
            elif self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                self._arm()  # moved on from headers to a body that stalls in turn: a fresh deadline

    return SavyH11Protocol
