"""camera_bigrams: a two-character text search walks an index in uid order (SQLite)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:40:00

Most Chinese words are two characters (学校, 泵站, 停车), and so are most of
an operator's searches. On SQLite these found their cameras through the
FTS5 vocabulary views: one statement counted and listed every trigram term
that starts with the two characters, a second read those cameras in uid
order. `camera_bigrams (bigram, uid)` holds every two-character piece of
each camera's lowered name and address, kept by triggers on `camera_text`.
Its primary key lists a piece's cameras in uid order, and it decides the
search exactly: a search of two characters reads its page in one
statement, as a search of one department does.

`text_positions (n)` holds 0 to 999. The triggers cannot generate a series
(SQLite allows no WITH in a trigger), so a piece starts at position
1000 * hi + lo of two of them: texts of up to a million characters, far
beyond the model's 300 (name) and 500 (address).

PostgreSQL: nothing changes (the GIN index of `camgrid_text_grams` serves
these searches there).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POSITIONS = 1000

# Every two-character piece of the lowered texts of `texts` (rows of uid, text).
_PIECES = f"""
    SELECT substr(t.text, {_POSITIONS} * hi.n + lo.n, 2) AS bigram, t.uid AS uid
    FROM ({{texts}}) AS t
    JOIN text_positions AS hi ON hi.n <= (length(t.text) - 1) / {_POSITIONS}
    JOIN text_positions AS lo
      ON lo.n BETWEEN 1 - {_POSITIONS} * hi.n AND length(t.text) - 1 - {_POSITIONS} * hi.n
"""
_ROW_TEXTS = (
    "SELECT {row}.uid AS uid, lower({row}.name) AS text"
    " UNION ALL SELECT {row}.uid, lower({row}.address)"
)


def _pieces_of(row: str) -> str:
    return _PIECES.format(texts=_ROW_TEXTS.format(row=row))


_INSERT_NEW = f"INSERT OR IGNORE INTO camera_bigrams (bigram, uid) {_pieces_of('new')};"
# By the primary key: the old row's pieces, each with its uid.
_DELETE_OLD = f"""DELETE FROM camera_bigrams WHERE uid = old.uid
    AND bigram IN (SELECT bigram FROM ({_pieces_of("old")}));"""

_TRIGGERS = {
    "camera_text_bigrams_ai": f"AFTER INSERT ON camera_text BEGIN {_INSERT_NEW} END",
    "camera_text_bigrams_ad": f"AFTER DELETE ON camera_text BEGIN {_DELETE_OLD} END",
    "camera_text_bigrams_au": (
        f"AFTER UPDATE OF uid, name, address ON camera_text BEGIN {_DELETE_OLD} {_INSERT_NEW} END"
    ),
}


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE text_positions (n INTEGER PRIMARY KEY)")
    op.execute(
        "WITH RECURSIVE p(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM p"
        f" WHERE n < {_POSITIONS - 1}) INSERT INTO text_positions (n) SELECT n FROM p"
    )
    op.execute(
        """CREATE TABLE camera_bigrams (
            bigram TEXT NOT NULL,
            uid TEXT NOT NULL,
            PRIMARY KEY (bigram, uid)
        ) WITHOUT ROWID"""
    )
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    texts = (
        "SELECT uid, lower(name) AS text FROM camera_text"
        " UNION ALL SELECT uid, lower(address) FROM camera_text"
    )
    op.execute(f"INSERT OR IGNORE INTO camera_bigrams (bigram, uid) {_PIECES.format(texts=texts)}")


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE camera_bigrams")
    op.execute("DROP TABLE text_positions")
