"""A small bounded pool for the CPU-bound stages (analyse, compose, guard), so the event loop only
ever waits: with many clients, /v1/health and new connections are still answered at once, and a
full pool says so (503 busy with Retry-After) instead of queueing without end."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import SavyError

T = TypeVar("T")


class CpuPool:
    """`await pool.run(fn, *args)` runs fn in a worker thread; at most `limit` calls wait or run."""

    def __init__(self, workers: int = 2, limit: int = 64) -> None:
        self._ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="savy-cpu")
        self.limit = limit
        self.pending = 0  # NOTE: only touched on the event loop thread, so no lock

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.pending >= self.limit:
            raise SavyError(503, "busy", "The server is busy analysing other requests; retry shortly.",
                            headers={"Retry-After": "1"})
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._ex, functools.partial(fn, *args, **kwargs))
        finally:
            self.pending -= 1

    def close(self) -> None:
        self._ex.shutdown(wait=False, cancel_futures=True)
