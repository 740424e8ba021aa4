"""The catalog's pool hands connections to callers in the order they asked."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from sqlalchemy import exc
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import greenlet_spawn

from catalog.fair_pool import FairQueuePool


def _memory() -> Any:
    """A real sqlite3 connection (the pool only hands it around)."""
    return sqlite3.connect(":memory:")


async def _order_served(pool_class: type[AsyncAdaptedQueuePool]) -> list[str]:
    """Who gets the pool's one connection after it comes back: two callers were
    waiting for it, and a third arrived just before it came back."""
    pool = pool_class(_memory, pool_size=1, max_overflow=0)
    served: list[str] = []

    async def use(name: str) -> None:
        connection = await greenlet_spawn(pool.connect)
        served.append(name)
        await greenlet_spawn(connection.close)

    held = await greenlet_spawn(pool.connect)
    waiting = [asyncio.create_task(use(f"waiter {i}")) for i in range(2)]
    await asyncio.sleep(0.01)  # both are waiting now
    newcomer = asyncio.create_task(use("newcomer"))  # runs before a waiter wakes up
    await greenlet_spawn(held.close)
    await asyncio.wait_for(asyncio.gather(*waiting, newcomer), 5)
    await greenlet_spawn(pool.dispose)
    return served


async def test_waiting_callers_are_served_before_a_newcomer() -> None:
    assert await _order_served(FairQueuePool) == ["waiter 0", "waiter 1", "newcomer"]


async def test_sqlalchemys_own_pool_serves_the_newcomer_first() -> None:
    """Why `FairQueuePool` exists: under load some searches waited again and again."""
    assert (await _order_served(AsyncAdaptedQueuePool))[0] == "newcomer"


@pytest.mark.parametrize("outcome", ["timeout", "cancel"])
async def test_a_caller_that_stops_waiting_loses_no_connection(outcome: str) -> None:
    pool = FairQueuePool(_memory, pool_size=1, max_overflow=0, timeout=0.05)
    held = await greenlet_spawn(pool.connect)
    gives_up = asyncio.create_task(greenlet_spawn(pool.connect))
    await asyncio.sleep(0.01)
    if outcome == "cancel":
        gives_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gives_up
    else:
        # SQLAlchemy's own message: what a caller gets when no connection frees up in time.
        limit = "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.05"
        with pytest.raises(exc.TimeoutError, match=limit):
            await gives_up
    await greenlet_spawn(held.close)
    again = await asyncio.wait_for(greenlet_spawn(pool.connect), 1)  # the connection is back
    await greenlet_spawn(again.close)
    await greenlet_spawn(pool.dispose)
