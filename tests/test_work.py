"""The CPU pool keeps the event loop free and says "busy" instead of queueing without end."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from savy.errors import SavyError
from savy.work import CpuPool


def test_work_runs_off_the_loop_and_a_full_pool_is_busy() -> None:
    pool = CpuPool(workers=1, limit=2)
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        return threading.current_thread().name

    async def main() -> None:
        first = asyncio.create_task(pool.run(slow))
        second = asyncio.create_task(pool.run(slow))
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await asyncio.sleep(0.01)  # the loop is free while the pool works
        assert time.monotonic() - t0 < 1
        with pytest.raises(SavyError) as busy:
            await pool.run(slow)
        assert busy.value.status == 503 and busy.value.headers["Retry-After"]
        release.set()
        names = await asyncio.gather(first, second)
        assert all(n.startswith("savy-cpu") for n in names)
        assert pool.pending == 0

    asyncio.run(main())
    pool.close()
