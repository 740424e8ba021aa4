"""A connection pool that hands out connections in the order they were asked for.

SQLAlchemy's `AsyncAdaptedQueuePool` keeps its idle connections in an
`asyncio.Queue` and lets a new caller take one that is idle at once. When a
connection comes back, the first waiter is woken, but a caller that arrives
before the waiter runs takes it first, and the woken waiter goes to the end
of the line. Under load (an API process with 2 connections and 16 searches
in flight) some searches are passed over again and again: their latency is
many times the others'.

`FairQueuePool` hands a returned connection straight to the longest waiter,
and a caller only takes an idle connection when nobody is waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

__all__ = ["FairQueue", "FairQueuePool"]


class FairQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The pool's idle connections and its waiters, served first come, first served."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[ConnectionPoolEntry]] = deque()

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        """Hand `item` to the longest waiter, or keep it idle when nobody waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        """An idle connection if nobody is waiting, else one in turn (Empty after `timeout` s)."""
        if not block or not self._waiters:
            try:
                return self.get_nowait()
            except Empty:
                if not block:
                    raise
        return await_(self._in_turn(timeout))

    async def _in_turn(self, within_s: float | None) -> ConnectionPoolEntry:
        waiter: asyncio.Future[ConnectionPoolEntry] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(within_s):
                return await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return waiter.result()  # handed over as the time ran out: keep it
            raise Empty() from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over, but the caller is gone
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class FairQueuePool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` whose connections go to callers in the order they asked."""

    _queue_class: Any = FairQueue
    # Logged as SQLAlchemy's pools are (its "sqlalchemy" loggers), not as camgrid's own.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.FairQueuePool"
