"""indexes for the camera counts by department and by cell

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 01:30:00

`/stats`, `/departments` and `/grids` count cameras by status per
department and per cell. With `(department_id, status)` and `(grid_id,
status)` those counts come from the index alone instead of a scan of
`cameras`. Named `ix_search_…`, so autogenerate leaves them to migrations
(`catalog.queries.search_schema.include_object`).
"""

from collections.abc import Sequence
from typing import Final

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: Final = (
    ("ix_search_cameras_department_status", "department_id, status"),
    ("ix_search_cameras_grid_status", "grid_id, status"),
)


def upgrade() -> None:
    for name, columns in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON cameras ({columns})")


def downgrade() -> None:
    for name, _columns in _INDEXES:
        op.execute(f"DROP INDEX {name}")
