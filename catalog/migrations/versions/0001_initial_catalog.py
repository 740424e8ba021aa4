"""initial catalog

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 21:26:43.989973
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("camera_uid", sa.String(length=100), nullable=True),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_camera_uid"), ["camera_uid"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_principal"), ["principal"], unique=False)

    op.create_table(
        "departments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source_file", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
    )
    op.create_table(
        "grid_cells",
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("community", sa.String(length=200), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("grid_id", name=op.f("pk_grid_cells")),
    )
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_cells_community"), ["community"], unique=False)

    op.create_table(
        "principals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_principals_token_hash")),
    )
    op.create_table(
        "cameras",
        sa.Column("uid", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("orig_crs", sa.String(length=8), nullable=False),
        sa.Column("orig_lon", sa.Float(), nullable=True),
        sa.Column("orig_lat", sa.Float(), nullable=True),
        sa.Column("grid_id", sa.String(length=64), nullable=True),
        sa.Column("grid_from_config", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("snapshot_target", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("gb28181", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=200), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("last_sha256", sa.String(length=64), nullable=True),
        sa.Column("last_phash", sa.BigInteger(), nullable=True),
        sa.Column("same_bytes_count", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_cameras_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_cameras")),
    )
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cameras_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cameras_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cameras_next_due_at"), ["next_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cameras_status"), ["status"], unique=False)

    op.create_table(
        "camera_status_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("camera_uid", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_uid"], ["cameras.uid"], name=op.f("fk_camera_status_events_camera_uid_cameras")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_status_events")),
    )
    with op.batch_alter_table("camera_status_events", schema=None) as batch_op:
        batch_op.create_index("ix_status_events_camera_at", ["camera_uid", "at"], unique=False)

    op.create_table(
        "snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("camera_uid", sa.String(length=100), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("phash", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("thumb_key", sa.String(length=300), nullable=False),
        sa.Column("brightness", sa.Float(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_uid"], ["cameras.uid"], name=op.f("fk_snapshots_camera_uid_cameras")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("object_key", name=op.f("uq_snapshots_object_key")),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_snapshots_camera_time", ["camera_uid", "captured_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_snapshots_captured_at"), ["captured_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshots_captured_at"))
        batch_op.drop_index("ix_snapshots_camera_time")

    op.drop_table("snapshots")
    with op.batch_alter_table("camera_status_events", schema=None) as batch_op:
        batch_op.drop_index("ix_status_events_camera_at")

    op.drop_table("camera_status_events")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cameras_status"))
        batch_op.drop_index(batch_op.f("ix_cameras_next_due_at"))
        batch_op.drop_index(batch_op.f("ix_cameras_grid_id"))
        batch_op.drop_index(batch_op.f("ix_cameras_department_id"))

    op.drop_table("cameras")
    op.drop_table("principals")
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_cells_community"))

    op.drop_table("grid_cells")
    op.drop_table("departments")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_principal"))
        batch_op.drop_index(batch_op.f("ix_audit_log_camera_uid"))
        batch_op.drop_index("ix_audit_at")

    op.drop_table("audit_log")
