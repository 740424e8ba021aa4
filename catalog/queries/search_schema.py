"""The search-side tables that migrations 0003 and 0007 create beside the models, as handles.

These objects are not models: triggers keep them in step with `cameras`,
and only `catalog.queries` reads them. They live in their own `MetaData`,
so `create_all` and Alembic's autogenerate never see them as the catalog's;
`include_object` tells autogenerate to leave their database side alone too
(env.py and the migration test both use it).

- `camera_tags (tag, uid)`: one row per string in a camera's `tags` (both engines).
- `camera_text (id, uid, name, address)`: a narrow copy of each camera's
  text with a stable integer key (SQLite only).
- `camera_bigrams (bigram, uid)`: every two-character piece of each camera's
  lowered name and address, kept by triggers on `camera_text` from
  migration 0007, with `text_positions (n)` their helper (SQLite only).
- `snapshot_tally (shard, n)`: how many snapshots there are, as the sum of
  `n` (kept by triggers on `snapshots`; both engines).
- `cameras.listed_json`: each camera's list shape as JSON text, written by
  triggers from migration 0008 (SQLite only; `LISTED_JSON`).
- `camera_fts`: a contentless FTS5 trigram index of `camera_text` by `id`,
  each column indexed with `FTS_PAD` appended, so that every character of
  the text starts a trigram (SQLite only). `camera_fts_row` and
  `camera_fts_instance` are its `fts5vocab` views.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Column, Integer, MetaData, String, Table

__all__ = [
    "FTS_PAD",
    "LISTED_JSON",
    "SEARCH_INDEX_PREFIX",
    "SEARCH_TABLES",
    "camera_bigrams",
    "camera_fts",
    "camera_fts_instance",
    "camera_fts_row",
    "camera_tags",
    "camera_text",
    "include_object",
    "snapshot_tally",
]

#: Appended to each indexed column (twice, by the triggers): a character that
#: never occurs in names, so the last two characters of a text start trigrams too.
FTS_PAD: Final = "\x01"
#: The column of `cameras` that migration 0008 adds (SQLite): see `camera_rows.rendered_shape`.
LISTED_JSON: Final = "listed_json"
#: Every index migration 0003 creates on a model's table starts with this.
SEARCH_INDEX_PREFIX: Final = "ix_search_"

search_metadata = MetaData()

camera_tags = Table(
    "camera_tags",
    search_metadata,
    Column("tag", String, primary_key=True),
    Column("uid", String, primary_key=True),
)
camera_text = Table(
    "camera_text",
    search_metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String),
    Column("name", String),
    Column("address", String),
)
camera_bigrams = Table(
    "camera_bigrams",
    search_metadata,
    Column("bigram", String, primary_key=True),
    Column("uid", String, primary_key=True),
)
camera_fts = Table(
    "camera_fts",
    search_metadata,
    Column("rowid", Integer, primary_key=True),
    Column("name", String),
    Column("address", String),
)
snapshot_tally = Table(
    "snapshot_tally",
    search_metadata,
    Column("shard", Integer, primary_key=True),
    Column("n", Integer),
)
camera_fts_row = Table(
    "camera_fts_row",
    search_metadata,
    Column("term", String),
    Column("doc", Integer),
    Column("cnt", Integer),
)
camera_fts_instance = Table(
    "camera_fts_instance",
    search_metadata,
    Column("term", String),
    Column("doc", Integer),
    Column("col", String),
    Column("offset", Integer),
)

#: Tables (and FTS5 shadow tables) of the search side.
SEARCH_TABLES: Final = frozenset(
    {
        "camera_tags",
        "camera_text",
        "camera_bigrams",
        "text_positions",
        "camera_fts",
        "camera_fts_row",
        "camera_fts_instance",
        "snapshot_tally",
        *(f"camera_fts_{shadow}" for shadow in ("data", "idx", "content", "docsize", "config")),
    }
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's `include_object` hook: leave the search side out of autogenerate."""
    if type_ == "table" and name in SEARCH_TABLES:
        return False
    if type_ == "column" and name == LISTED_JSON:
        return False
    return not (type_ == "index" and name is not None and name.startswith(SEARCH_INDEX_PREFIX))
