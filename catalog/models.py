"""The catalog's tables as typed SQLAlchemy 2.0 models.

Every timestamp is stored in UTC and comes back timezone-aware on SQLite and
PostgreSQL alike (`UtcDateTime`). Coordinates are WGS-84; the values as the
department recorded them are kept beside them with their CRS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CAMERA_STATUSES = ("online", "degraded", "offline", "unknown", "retired")
ROLES = ("operator", "department", "admin")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC that always reads back timezone-aware.

    SQLite keeps naive text; PostgreSQL keeps `timestamptz`. Both sort in time
    order because every value is converted to UTC before it is written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, parse the stored text with `fromisoformat` (the dialect's regex costs
        several times more, on every time of every row of a page)."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process


naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations are stable."""

    metadata = MetaData(naming_convention=naming)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Department(Base):
    """A department that registers cameras (one department file)."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source_file: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime]


class GridCell(Base):
    """A grid cell (网格) polygon with its bounding box for cheap prefiltering."""

    __tablename__ = "grid_cells"

    grid_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    community: Mapped[str] = mapped_column(String(200), index=True)
    street: Mapped[str] = mapped_column(String(200))
    geometry: Mapped[dict[str, Any]]
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)


class Camera(Base):
    """One camera: metadata as its source reported it, and its live state."""

    __tablename__ = "cameras"

    uid: Mapped[str] = mapped_column(String(100), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(500), default="")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    orig_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    orig_lon: Mapped[float | None] = mapped_column(Float)
    orig_lat: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[str | None] = mapped_column(String(64), index=True)
    grid_from_config: Mapped[bool] = mapped_column(default=False)
    kind: Mapped[str] = mapped_column(String(16))
    snapshot_target: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    gb28181: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(100), default="config")
    interval_s: Mapped[float] = mapped_column(Float, default=300.0)
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0)
    status: Mapped[str] = mapped_column(String(16), default="unknown", index=True)
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    status_since: Mapped[datetime]
    last_snapshot_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    last_sha256: Mapped[str | None] = mapped_column(String(64))
    last_phash: Mapped[int | None] = mapped_column(BigInteger)
    same_bytes_count: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[datetime] = mapped_column(index=True)
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    # The two layers of metadata: what the source reported, and an operator's
    # override (name, location, grid) that no sync overwrites. The plain columns
    # above hold the effective values, so searches need no merging.
    reported: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    override: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Snapshot(Base):
    """One stored picture of a camera; its bytes live in the object store."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_camera_time", "camera_uid", "captured_at", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    camera_uid: Mapped[str] = mapped_column(ForeignKey("cameras.uid"))
    # ranges of times are served by ix_search_snapshots_time (migration 0003)
    captured_at: Mapped[datetime]
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    phash: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(300), unique=True)
    thumb_key: Mapped[str] = mapped_column(String(300))
    brightness: Mapped[float] = mapped_column(Float)
    sharpness: Mapped[float] = mapped_column(Float)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)


class CameraStatusEvent(Base):
    """A change of a camera's status, kept as history."""

    __tablename__ = "camera_status_events"
    __table_args__ = (Index("ix_status_events_camera_at", "camera_uid", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    camera_uid: Mapped[str] = mapped_column(ForeignKey("cameras.uid"))
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")


class Principal(Base):
    """A bearer token holder; only the token's SHA-256 is stored."""

    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[str | None] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who looked at or did what, and when. Written by the API, never edited."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    principal: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    camera_uid: Mapped[str | None] = mapped_column(String(100), index=True)
    snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    client: Mapped[str] = mapped_column(String(100), default="")
    # What the action changed when it is no camera or snapshot: the token's name
    # for token_create and token_revoke (never the token itself).
    target: Mapped[str | None] = mapped_column(String(100))


class Inventory(Base):
    """One camera list a department points camgrid at, and its last sync."""

    __tablename__ = "inventories"
    __table_args__ = (UniqueConstraint("department_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    position: Mapped[int] = mapped_column(Integer)  # index in the department file
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(Text, default="")  # URL or path, no secrets
    every_s: Mapped[float] = mapped_column(Float, default=3600.0)
    last_sync_at: Mapped[datetime | None]
    last_count: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))


class CaptureRequest(Base):
    """An on-demand capture the API recorded and an ingest worker carries out."""

    __tablename__ = "capture_requests"
    __table_args__ = (Index("ix_capture_requests_state", "state", "requested_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    camera_uid: Mapped[str] = mapped_column(ForeignKey("cameras.uid"))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|running|done|failed
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    finished_at: Mapped[datetime | None]
    snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(200))


class ServiceLease(Base):
    """A named singleton job (such as the GB/T 28181 SIP endpoint) held by one worker."""

    __tablename__ = "service_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    lease_until: Mapped[datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
