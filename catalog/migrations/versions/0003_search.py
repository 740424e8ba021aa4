"""search: indexes, tag side table, text index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:10:00.000000

Everything camera and snapshot search needs at province scale (about
200,000 cameras and tens of millions of snapshots), on each engine in its
own way. None of it is in the models: these objects are kept by triggers
and read by `catalog.queries`, and `catalog.queries.search_schema.include_object`
keeps Alembic's autogenerate from proposing to drop them.

Both engines:

- `camera_tags (tag, uid)`: one row per string in a camera's `tags` JSON
  list, kept by triggers on `cameras` (insert, update of `uid`/`tags`,
  delete), so `tag=` is an indexed semi-join instead of reading JSON.
- composite indexes that answer a filter in uid order, so a page of one
  department, status, kind or cell is a range scan: `(department_id, uid)`,
  `(status, uid)`, `(kind, uid)`, `(grid_id, uid)`; `(lon, lat, …)` for boxes.
- `snapshots (captured_at, id, camera_uid)`: newest-first scans of a time
  window that decide area membership from the index alone.
- `snapshot_tally (shard, n)`: the number of snapshots, kept by triggers on
  insert and delete, so `/stats` does not count tens of millions of rows.

SQLite: uids already compare by code point (BINARY). `camera_text` is a
narrow copy of each camera's name and address with a stable integer key
(the rowid of `cameras` is not stable: VACUUM and table rebuilds may renumber
it), kept by triggers on `cameras`; `camera_fts` is a contentless FTS5
trigram index of it, kept by triggers on `camera_text`, with two `fts5vocab`
views (`camera_fts_row`, `camera_fts_instance`) through which one- and
two-character searches find their trigrams by prefix. A covering index
`(uid, status, department_id, kind, grid_id, lon, lat)` serves walks in
uid order.

PostgreSQL: the uid order of the API is code point order, `COLLATE "C"`,
so the uid indexes are built on `uid COLLATE "C"`; `pg_trgm` GIN indexes
on `name` and `address` serve `ILIKE '%…%'` of three characters or more
(when the extension is not installable the search stays exact, only slower);
a GIN index of `camgrid_text_grams(name, address)`, every one- and
two-character piece of the lowered texts, serves shorter searches.

A later migration that rebuilds `cameras` or `snapshots` on SQLite
(`batch_alter_table` copies the table) drops their triggers with it and must
create them again (`_SQLITE_CAMERA_TRIGGERS`, and the tally's in
`_SQLITE_TALLY`); `tests/integration/test_search.py` checks that every
trigger exists at head.
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_CAMERA_INDEXES = (
    "CREATE INDEX ix_search_cameras_department ON cameras (department_id, uid)",
    "CREATE INDEX ix_search_cameras_status ON cameras (status, uid)",
    "CREATE INDEX ix_search_cameras_kind ON cameras (kind, uid)",
    "CREATE INDEX ix_search_cameras_grid ON cameras (grid_id, uid)",
    # Boxes: the columns after (lon, lat) let counts, candidate lists and the
    # light (uid, lon, lat) reads of `near` come from the index alone.
    "CREATE INDEX ix_search_cameras_lon_lat ON cameras"
    " (lon, lat, status, department_id, kind, grid_id, uid)",
    # A walk in uid order decides most filters from this index alone.
    "CREATE INDEX ix_search_cameras_walk ON cameras"
    " (uid, status, department_id, kind, grid_id, lon, lat)",
    "CREATE INDEX ix_search_snapshots_time ON snapshots (captured_at, id, camera_uid)",
)

# Each indexed column ends in two PAD characters (U+0001), so every character
# of the text starts a trigram; 'delete' must repeat exactly what was indexed.
_PADDED = "{row}.name || char(1, 1), {row}.address || char(1, 1)"

_SQLITE_TABLES = (
    """CREATE TABLE camera_tags (
        tag TEXT NOT NULL,
        uid TEXT NOT NULL,
        PRIMARY KEY (tag, uid)
    ) WITHOUT ROWID""",
    "CREATE INDEX ix_search_camera_tags_uid ON camera_tags (uid)",
    """CREATE TABLE camera_text (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        address TEXT NOT NULL
    )""",
    """CREATE VIRTUAL TABLE camera_fts USING fts5(
        name, address, content='', tokenize='trigram'
    )""",
    "CREATE VIRTUAL TABLE camera_fts_row USING fts5vocab(camera_fts, 'row')",
    "CREATE VIRTUAL TABLE camera_fts_instance USING fts5vocab(camera_fts, 'instance')",
    f"""CREATE TRIGGER camera_text_ai AFTER INSERT ON camera_text BEGIN
        INSERT INTO camera_fts (rowid, name, address) VALUES (new.id, {_PADDED.format(row="new")});
    END""",
    f"""CREATE TRIGGER camera_text_ad AFTER DELETE ON camera_text BEGIN
        INSERT INTO camera_fts (camera_fts, rowid, name, address)
        VALUES ('delete', old.id, {_PADDED.format(row="old")});
    END""",
    f"""CREATE TRIGGER camera_text_au AFTER UPDATE ON camera_text BEGIN
        INSERT INTO camera_fts (camera_fts, rowid, name, address)
        VALUES ('delete', old.id, {_PADDED.format(row="old")});
        INSERT INTO camera_fts (rowid, name, address) VALUES (new.id, {_PADDED.format(row="new")});
    END""",
)

# The string elements of a camera's tags (anything else in the JSON is no tag).
_SQLITE_TAGS_OF_NEW = """
    INSERT OR IGNORE INTO camera_tags (tag, uid)
    SELECT value, new.uid FROM json_each(
        CASE json_type(new.tags) WHEN 'array' THEN new.tags ELSE '[]' END
    ) WHERE type = 'text';
"""

_SQLITE_CAMERA_TRIGGERS = (
    # `DELETE … new.uid` first: an INSERT OR REPLACE without recursive triggers
    # removes the old row without running the delete trigger.
    f"""CREATE TRIGGER cameras_search_ai AFTER INSERT ON cameras BEGIN
        DELETE FROM camera_tags WHERE uid = new.uid;
        {_SQLITE_TAGS_OF_NEW}
        INSERT INTO camera_text (uid, name, address) VALUES (new.uid, new.name, new.address)
        ON CONFLICT (uid) DO UPDATE SET name = excluded.name, address = excluded.address;
    END""",
    f"""CREATE TRIGGER cameras_search_tags_au AFTER UPDATE OF uid, tags ON cameras BEGIN
        DELETE FROM camera_tags WHERE uid = old.uid;
        {_SQLITE_TAGS_OF_NEW}
    END""",
    """CREATE TRIGGER cameras_search_text_au AFTER UPDATE OF uid, name, address ON cameras
    BEGIN
        UPDATE camera_text SET uid = new.uid, name = new.name, address = new.address
        WHERE uid = old.uid;
    END""",
    """CREATE TRIGGER cameras_search_ad AFTER DELETE ON cameras BEGIN
        DELETE FROM camera_tags WHERE uid = old.uid;
        DELETE FROM camera_text WHERE uid = old.uid;
    END""",
)


_SQLITE_TALLY = (
    "CREATE TABLE snapshot_tally (shard INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    "INSERT INTO snapshot_tally (shard, n) SELECT 0, count(*) FROM snapshots",
    """CREATE TRIGGER snapshots_tally_ai AFTER INSERT ON snapshots BEGIN
        UPDATE snapshot_tally SET n = n + 1 WHERE shard = 0;
    END""",
    """CREATE TRIGGER snapshots_tally_ad AFTER DELETE ON snapshots BEGIN
        UPDATE snapshot_tally SET n = n - 1 WHERE shard = 0;
    END""",
)


def _create_sqlite_camera_triggers() -> None:
    """(Re)create the triggers on `cameras` that keep the search tables in step (SQLite)."""
    for statement in _SQLITE_CAMERA_TRIGGERS:
        op.execute(statement)


def _sqlite_upgrade() -> None:
    for statement in (*_SQLITE_CAMERA_INDEXES, *_SQLITE_TABLES, *_SQLITE_TALLY):
        op.execute(statement)
    _create_sqlite_camera_triggers()
    op.execute(
        "INSERT INTO camera_tags (tag, uid) SELECT DISTINCT t.value, c.uid FROM cameras c,"
        " json_each(CASE json_type(c.tags) WHEN 'array' THEN c.tags ELSE '[]' END) t"
        " WHERE t.type = 'text'"
    )
    op.execute(
        "INSERT INTO camera_text (uid, name, address) SELECT uid, name, address FROM cameras"
    )
    op.execute("INSERT INTO camera_fts (camera_fts) VALUES ('optimize')")


def _sqlite_downgrade() -> None:
    for trigger in ("cameras_search_ai", "cameras_search_tags_au", "cameras_search_text_au",
                    "cameras_search_ad"):  # fmt: skip
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TRIGGER snapshots_tally_ai")
    op.execute("DROP TRIGGER snapshots_tally_ad")
    op.execute("DROP TABLE snapshot_tally")
    op.execute("DROP TABLE camera_fts_instance")
    op.execute("DROP TABLE camera_fts_row")
    op.execute("DROP TABLE camera_fts")
    op.execute("DROP TABLE camera_text")
    op.execute("DROP TABLE camera_tags")
    for statement in _SQLITE_CAMERA_INDEXES:
        op.execute(f"DROP INDEX {statement.split()[2]}")


_PG_INDEXES = (
    'CREATE INDEX ix_search_cameras_uid ON cameras (uid COLLATE "C")',
    'CREATE INDEX ix_search_cameras_department ON cameras (department_id, uid COLLATE "C")',
    'CREATE INDEX ix_search_cameras_status ON cameras (status, uid COLLATE "C")',
    'CREATE INDEX ix_search_cameras_kind ON cameras (kind, uid COLLATE "C")',
    'CREATE INDEX ix_search_cameras_grid ON cameras (grid_id, uid COLLATE "C")',
    "CREATE INDEX ix_search_cameras_lon_lat ON cameras (lon, lat)",
    "CREATE INDEX ix_search_snapshots_time ON snapshots (captured_at, id) INCLUDE (camera_uid)",
)

_PG_TAGS = (
    """CREATE TABLE camera_tags (
        tag TEXT NOT NULL,
        uid TEXT NOT NULL,
        CONSTRAINT pk_camera_tags PRIMARY KEY (tag, uid)
    )""",
    'CREATE INDEX ix_search_camera_tags_tag ON camera_tags (tag, uid COLLATE "C")',
    "CREATE INDEX ix_search_camera_tags_uid ON camera_tags (uid)",
    """CREATE FUNCTION camgrid_camera_tags() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM camera_tags WHERE uid = OLD.uid;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO camera_tags (tag, uid)
            SELECT DISTINCT e #>> '{}', NEW.uid
            FROM jsonb_array_elements(CASE jsonb_typeof(NEW.tags::jsonb)
                                      WHEN 'array' THEN NEW.tags::jsonb ELSE '[]' END) AS e
            WHERE jsonb_typeof(e) = 'string'
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$""",
    """CREATE TRIGGER cameras_search_tags AFTER INSERT OR DELETE OR UPDATE OF uid, tags
    ON cameras FOR EACH ROW EXECUTE FUNCTION camgrid_camera_tags()""",
    """INSERT INTO camera_tags (tag, uid)
    SELECT DISTINCT e #>> '{}', c.uid FROM cameras c,
    jsonb_array_elements(CASE jsonb_typeof(c.tags::jsonb)
                         WHEN 'array' THEN c.tags::jsonb ELSE '[]' END) AS e
    WHERE jsonb_typeof(e) = 'string'""",
)


# Every one- and two-character piece of the lowered name and address, for
# searches shorter than a trigram (queries never put it under a LIMIT, where
# the planner could prefer computing it row by row to reading the index).
_PG_GRAMS = (
    """CREATE FUNCTION camgrid_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT g), '{}') FROM (
            SELECT substr(t, i, 1) AS g FROM generate_series(1, char_length(t)) AS i
            UNION ALL
            SELECT substr(t, i, 2) FROM generate_series(1, char_length(t) - 1) AS i
        ) AS pieces
    $$""",
    """CREATE FUNCTION camgrid_text_grams(name text, address text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT camgrid_grams(lower(name)) || camgrid_grams(lower(address))
    $$""",
    "CREATE INDEX ix_search_cameras_grams ON cameras USING gin (camgrid_text_grams(name, address))",
)


# Statement-level triggers with transition tables: one update per INSERT or
# COPY, whatever its rows; each session adds to a shard of its own, so that
# concurrent writers do not queue on one row.
_PG_TALLY = (
    """CREATE TABLE snapshot_tally (
        shard INTEGER NOT NULL CONSTRAINT pk_snapshot_tally PRIMARY KEY,
        n BIGINT NOT NULL
    )""",
    "INSERT INTO snapshot_tally (shard, n) SELECT 0, count(*) FROM snapshots",
    """CREATE FUNCTION camgrid_snapshot_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        delta BIGINT;
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            DELETE FROM snapshot_tally;
            RETURN NULL;
        ELSIF TG_OP = 'INSERT' THEN
            SELECT count(*) INTO delta FROM inserted;
        ELSE
            SELECT -count(*) INTO delta FROM deleted;
        END IF;
        IF delta <> 0 THEN
            INSERT INTO snapshot_tally (shard, n) VALUES (pg_backend_pid() % 16, delta)
            ON CONFLICT (shard) DO UPDATE SET n = snapshot_tally.n + excluded.n;
        END IF;
        RETURN NULL;
    END
    $$""",
    """CREATE TRIGGER snapshots_tally_insert AFTER INSERT ON snapshots
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION camgrid_snapshot_tally()""",
    """CREATE TRIGGER snapshots_tally_delete AFTER DELETE ON snapshots
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION camgrid_snapshot_tally()""",
    """CREATE TRIGGER snapshots_tally_truncate AFTER TRUNCATE ON snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION camgrid_snapshot_tally()""",
)


def _pg_trgm() -> bool:
    """Install pg_trgm when this server has it and we may; False (and a warning) if not."""
    bind = op.get_bind()
    available = bind.exec_driver_sql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).scalar()
    if not available:
        reason = "not available on this server"
    else:
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DBAPIError as exc:
            reason = str(exc.orig)
        else:
            return True
    logging.getLogger("alembic.runtime.migration").warning(
        "pg_trgm: %s; text search stays exact but walks the cameras", reason
    )
    return False


def _pg_upgrade() -> None:
    for statement in (*_PG_INDEXES, *_PG_TAGS, *_PG_GRAMS, *_PG_TALLY):
        op.execute(statement)
    if _pg_trgm():
        op.execute(
            "CREATE INDEX ix_search_cameras_name_trgm ON cameras USING gin (name gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_search_cameras_address_trgm ON cameras"
            " USING gin (address gin_trgm_ops)"
        )


def _pg_downgrade() -> None:
    for trigger in ("snapshots_tally_insert", "snapshots_tally_delete", "snapshots_tally_truncate"):
        op.execute(f"DROP TRIGGER {trigger} ON snapshots")
    op.execute("DROP FUNCTION camgrid_snapshot_tally()")
    op.execute("DROP TABLE snapshot_tally")
    op.execute("DROP INDEX ix_search_cameras_grams")
    op.execute("DROP FUNCTION camgrid_text_grams(text, text)")
    op.execute("DROP FUNCTION camgrid_grams(text)")
    op.execute("DROP INDEX IF EXISTS ix_search_cameras_name_trgm")
    op.execute("DROP INDEX IF EXISTS ix_search_cameras_address_trgm")
    op.execute("DROP TRIGGER cameras_search_tags ON cameras")
    op.execute("DROP FUNCTION camgrid_camera_tags()")
    op.execute("DROP TABLE camera_tags")
    for statement in _PG_INDEXES:
        op.execute(f"DROP INDEX {statement.split()[2]}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _pg_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_downgrade()
    else:
        _pg_downgrade()
