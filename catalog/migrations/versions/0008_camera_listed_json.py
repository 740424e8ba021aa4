"""cameras.listed_json: each camera's list shape, written when the camera is

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
which the API writes in the CRS asked for. Triggers write it on every insert
and on every update of a column it shows:

- SQLite: after the row is written, an update of `listed_json` alone, which
  is in no trigger's column list, so it fires nothing again;
- PostgreSQL: before the row is written, into the row itself.

The column is not in the models: nothing but these triggers writes it and
only `catalog.queries.camera_rows` reads it (`search_schema.include_object`
keeps it out of autogenerate). A later migration that changes what the list
shape shows must write the triggers and every row again; one that rebuilds
`cameras` must create the triggers again, as for those of 0003.
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


def _sqlite_time(column: str) -> str:
    """A stored UTC time (`YYYY-MM-DD HH:MM:SS.ffffff`) as RFC 3339: `T`, `Z`, no zero micros."""
    return f"replace(replace({column}, ' ', 'T'), '.000000', '') || 'Z'"


def _pg_time(column: str) -> str:
    """A timestamptz as RFC 3339 in UTC: `T`, `Z`, no zero micros."""
    utc = f"to_char(timezone('UTC', {column}), 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    return f"replace({utc}, '.000000', '') || 'Z'"


def _listed(dialect: str, row: str) -> str:
    """The SQL of the list shape's JSON text of the camera `row` (a table or NEW)."""
    if dialect == "sqlite":
        time, tags, gb28181 = _sqlite_time, "json({})", "json({})"
        build = "json_object"
    else:
        time, tags, gb28181 = _pg_time, "{}::json", "{}"
        build = "json_build_object"
    fields = {
        "uid": f"{row}.uid",
        "department": f"{row}.department_id",
        "id": f"{row}.camera_id",
        "name": f"{row}.name",
        "address": f"{row}.address",
        "grid_id": f"{row}.grid_id",
        "kind": f"{row}.kind",
        # JSON null (and NULL) tags list as no tags.
        "tags": tags.format(f"coalesce(nullif(CAST({row}.tags AS TEXT), 'null'), '[]')"),
        "status": f"{row}.status",
        "status_reason": f"{row}.status_reason",
        "status_since": time(f"{row}.status_since"),
        "last_snapshot_at": time(f"{row}.last_snapshot_at"),
        "gb28181": gb28181.format(f"{row}.gb28181"),
    }
    pairs = ", ".join(f"'{key}', {sql}" for key, sql in fields.items())
    return f"CAST({build}({pairs}) AS TEXT)"


_SQLITE_WRITE_NEW = (
    f"UPDATE cameras SET listed_json = {_listed('sqlite', 'cameras')} WHERE rowid = new.rowid;"
)
_SQLITE_TRIGGERS = {
    "cameras_listed_ai": f"AFTER INSERT ON cameras BEGIN {_SQLITE_WRITE_NEW} END",
    "cameras_listed_au": f"AFTER UPDATE OF {_SHOWN} ON cameras BEGIN {_SQLITE_WRITE_NEW} END",
}
_PG_FUNCTION = f"""CREATE FUNCTION camgrid_listed_json() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.listed_json := {_listed("postgresql", "NEW")};
    RETURN NEW;
END $$"""
_PG_TRIGGER = f"""CREATE TRIGGER cameras_listed BEFORE INSERT OR UPDATE OF {_SHOWN}
    ON cameras FOR EACH ROW EXECUTE FUNCTION camgrid_listed_json()"""


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.execute("ALTER TABLE cameras ADD COLUMN listed_json TEXT")
    if dialect == "sqlite":
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    op.execute(f"UPDATE cameras SET listed_json = {_listed(dialect, 'cameras')}")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER cameras_listed ON cameras")
        op.execute("DROP FUNCTION camgrid_listed_json()")
    op.execute("ALTER TABLE cameras DROP COLUMN listed_json")
