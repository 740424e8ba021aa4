"""What a search reads through: an ORM session, or a plain connection.

A page of ORM rows (`camera_rows.DETAIL`) needs a session. Every other shape
reads plain rows, which a connection gives for less: no ORM result loading
and no session to open and close, about a tenth of a search's CPU.
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = ["Reader", "connection_of", "dialect_of"]

Reader: TypeAlias = AsyncSession | AsyncConnection


def dialect_of(db: Reader) -> str:
    """The name of the engine's dialect (`sqlite`, `postgresql`)."""
    if isinstance(db, AsyncSession):
        return db.get_bind().dialect.name
    return db.dialect.name


async def connection_of(db: Reader) -> AsyncConnection:
    """The connection `db` reads through (a session's, which begins one if it has none)."""
    if isinstance(db, AsyncSession):
        return await db.connection()
    return db
