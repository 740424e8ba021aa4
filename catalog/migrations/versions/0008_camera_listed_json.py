"""cameras.listed_json: each camera's list shape, written when the camera is (SQLite)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 07:40:00

A page of 100 cameras in the list shape cost SQLite about 0.45 ms to write as
JSON at every read (`json_object` of fourteen fields, the tags and GB/T 28181
columns parsed again, both times reformatted), two thirds of the page's
statement: more than finding the cameras. An operator reads a camera far
more often than ingest or a department changes it.

`cameras.listed_json` holds the JSON object of the list shape (DESIGN.md, "A
camera") but for `community`, which is the camera's cell's, and `location`,
which the API writes in the CRS asked for. Triggers write it after every
insert and after every update of a column it shows. The update they make
changes only `listed_json`, which is in no trigger's column list, so it
fires nothing again. The column is not in the models: nothing but these
triggers writes it and only `catalog.queries.camera_rows` reads it
(`search_schema.include_object` keeps it out of autogenerate). A later
migration that changes what the list shape shows must write the triggers
and every row again; one that rebuilds `cameras` must create the triggers
again, as for those of 0003.

PostgreSQL: nothing changes. Stored there too (by a trigger before each
write), the column doubled the camera rows (130 MB at 200,000 cameras, past
the default shared buffers). In bench.catalog plain pages got 0.1 to 0.9 ms
faster (p50) and the searches that read many rows (a 20 km box, a Latin
text) about a tenth slower, while PostgreSQL's p99s moved more than that
from one run to the next (bbox_20km 27.5 to 42.4 ms). Not worth rows twice
as wide and a trigger run on every update ingest makes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns of `cameras` the list shape shows.
_SHOWN = (
    "uid, department_id, camera_id, name, address, grid_id, kind, tags, status,"
    " status_reason, status_since, last_snapshot_at, gb28181"
)


def _time(column: str) -> str:
    """A stored UTC time (`YYYY-MM-DD HH:MM:SS.ffffff`) as RFC 3339: `T`, `Z`, no zero micros."""
    return f"replace(replace({column}, ' ', 'T'), '.000000', '') || 'Z'"


def _listed(row: str) -> str:
    """The SQL of the list shape's JSON text of the camera `row`."""
    fields = {
        "uid": f"{row}.uid",
        "department": f"{row}.department_id",
        "id": f"{row}.camera_id",
        "name": f"{row}.name",
        "address": f"{row}.address",
        "grid_id": f"{row}.grid_id",
        "kind": f"{row}.kind",
        # JSON null (and NULL) tags list as no tags.
        "tags": f"json(coalesce(nullif({row}.tags, 'null'), '[]'))",
        "status": f"{row}.status",
        "status_reason": f"{row}.status_reason",
        "status_since": _time(f"{row}.status_since"),
        "last_snapshot_at": _time(f"{row}.last_snapshot_at"),
        "gb28181": f"json({row}.gb28181)",
    }
    return "json_object(" + ", ".join(f"'{key}', {sql}" for key, sql in fields.items()) + ")"


_WRITE_NEW = f"UPDATE cameras SET listed_json = {_listed('cameras')} WHERE rowid = new.rowid;"
_TRIGGERS = {
    "cameras_listed_ai": f"AFTER INSERT ON cameras BEGIN {_WRITE_NEW} END",
    "cameras_listed_au": f"AFTER UPDATE OF {_SHOWN} ON cameras BEGIN {_WRITE_NEW} END",
}


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    op.execute("ALTER TABLE cameras ADD COLUMN listed_json TEXT")
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute(f"UPDATE cameras SET listed_json = {_listed('cameras')}")


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("ALTER TABLE cameras DROP COLUMN listed_json")
