"""The audit log: who saw or did what, when, from where.

A row is written for every image or thumbnail served (before the bytes go
out), every capture requested, every override of a camera's metadata and
every token created or revoked (`AUDIT_ACTIONS`); a token's rows name it, by
its holder's name (never the token), in `target`. Rows are only ever added:
nothing in camgrid updates or deletes them, and the API has no route that
could. Listing is newest first (`at` descending, then `id` descending);
`since` is inclusive and `until` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import AuditEntry, utcnow
from catalog.queries.cursors import decode_cursor, decode_time, encode_cursor, encode_time

__all__ = ["AUDIT_ACTIONS", "AuditPage", "list_audit", "record_access"]

#: Every `action` an audit row may have.
AUDIT_ACTIONS: Final = (
    "view_image",
    "view_thumb",
    "capture",
    "override",
    "token_create",
    "token_revoke",
)


@dataclass(frozen=True)
class AuditPage:
    """One page of audit rows and the cursor of the next one (None on the last page)."""

    items: list[AuditEntry]
    next_cursor: str | None


async def record_access(
    session: AsyncSession,
    *,
    principal: str,
    role: str,
    action: str,
    camera_uid: str | None,
    snapshot_id: int | None,
    client: str,
    at: datetime | None = None,
    target: str | None = None,
) -> AuditEntry:
    """Add an audit row and flush it; the caller commits before serving what it records.

    `target` names what a token action changed: the principal's name.
    """
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        at=at or utcnow(),
        principal=principal,
        role=role,
        action=action,
        camera_uid=camera_uid,
        snapshot_id=snapshot_id,
        # The column holds 100 characters; a proxy chain may be longer.
        client=client[:100],
        target=target,
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_audit(
    session: AsyncSession,
    *,
    principal: str | None = None,
    camera_uid: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> AuditPage:
    """Audit rows newest first, optionally of one principal and/or one camera.

    Raises `InvalidCursor` for a cursor this ordering did not hand out.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    stmt = select(AuditEntry)
    if principal is not None:
        stmt = stmt.where(AuditEntry.principal == principal)
    if camera_uid is not None:
        stmt = stmt.where(AuditEntry.camera_uid == camera_uid)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if cursor is not None:
        at_raw, last_id = decode_cursor(cursor, "audit", (str, int))
        at = decode_time(at_raw)
        stmt = stmt.where(
            or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < int(last_id)))
        )
    stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1)
    found = list(await session.scalars(stmt))
    if len(found) > limit:
        last = found[limit - 1]
        return AuditPage(found[:limit], encode_cursor("audit", encode_time(last.at), last.id))
    return AuditPage(found, None)
