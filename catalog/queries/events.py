"""A camera's status history: every change of status or reason, newest first.

Order is `at` descending, then `id` descending; `since` is inclusive and
`until` exclusive. Events are written by polls, syncs and overrides and are
never edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import CameraStatusEvent
from catalog.queries.cursors import decode_cursor, decode_time, encode_cursor, encode_time

__all__ = ["EventPage", "list_status_events"]


@dataclass(frozen=True)
class EventPage:
    """One page of status events and the cursor of the next one (None on the last page)."""

    items: list[CameraStatusEvent]
    next_cursor: str | None


async def list_status_events(
    session: AsyncSession,
    camera_uid: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> EventPage:
    """One camera's status events, newest first.

    Raises `InvalidCursor` for a cursor this ordering did not hand out.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    stmt = select(CameraStatusEvent).where(CameraStatusEvent.camera_uid == camera_uid)
    if since is not None:
        stmt = stmt.where(CameraStatusEvent.at >= since)
    if until is not None:
        stmt = stmt.where(CameraStatusEvent.at < until)
    if cursor is not None:
        at_raw, last_id = decode_cursor(cursor, "event", (str, int))
        at = decode_time(at_raw)
        stmt = stmt.where(
            or_(
                CameraStatusEvent.at < at,
                and_(CameraStatusEvent.at == at, CameraStatusEvent.id < int(last_id)),
            )
        )
    stmt = stmt.order_by(CameraStatusEvent.at.desc(), CameraStatusEvent.id.desc()).limit(limit + 1)
    found = list(await session.scalars(stmt))
    if len(found) > limit:
        last = found[limit - 1]
        return EventPage(found[:limit], encode_cursor("event", encode_time(last.at), last.id))
    return EventPage(found, None)
