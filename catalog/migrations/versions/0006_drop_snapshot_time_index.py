"""drop ix_snapshots_captured_at: ix_search_snapshots_time begins with the same column

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:45:00

`ix_snapshots_captured_at (captured_at)` is a prefix of
`ix_search_snapshots_time (captured_at, id, camera_uid)` (made by 0003, with
`camera_uid` INCLUDEd on PostgreSQL), which serves every range of times that
the shorter one served, retention's oldest-first order included. Each stored
snapshot paid for both: the shorter one took 41.5 bytes a snapshot in the demo's
SQLite catalog, about 400 MB at ten million snapshots.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_snapshots_captured_at", table_name="snapshots")


def downgrade() -> None:
    op.create_index("ix_snapshots_captured_at", "snapshots", ["captured_at"], unique=False)
