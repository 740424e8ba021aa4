"""Text search (`q`): a literal, case-insensitive substring of a camera's name or address.

The rule is `ILIKE '%q%'` with `%`, `_` and `\\` made literal: on SQLite,
case-insensitive for ASCII letters; on PostgreSQL, equal under the
database's `lower()` (for a multi-byte encoding PostgreSQL's ILIKE is LIKE
on `lower()` of both sides). `text_condition` decides it, written as a
substring test on lowered text (`instr` / `strpos`: the same answers, no
pattern matching, and no index is tempted to serve it) except where an
index is meant to (`indexable`). On SQLite it reads the text from
`camera_text`, which triggers keep equal to the cameras' own.

Indexes only propose candidates, a superset of the answer (`text_candidates`):

- SQLite, three characters or more: the FTS5 trigram index `camera_fts`. It
  folds case over all of Unicode, a superset of ASCII folding.
- SQLite, two characters: `camera_bigrams`, every two-character piece of the
  lowered texts, which decides the search exactly and lists each piece's
  cameras in uid order (`bigram_of`; the search walks it as it walks a
  column's index, `catalog.queries.camera_drivers`).
- SQLite, one character: every indexed text ends in two `FTS_PAD`
  characters, so each of its characters starts a trigram; the cameras whose
  text holds `q` are among those with a trigram term that starts with `q`,
  found in the `fts5vocab` views by a range of terms.
- PostgreSQL, three characters or more: `pg_trgm` GIN indexes serve the ILIKE.
- PostgreSQL, one or two characters: a GIN index of every one- and
  two-character piece of the lowered name and address (`camgrid_text_grams`).

Short searches use an index only when every letter of `q` is ASCII or
uncased, because only then is the index's folding of `q` known to keep its
length and, on SQLite, known here at all (FTS5 folds with its own tables).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    String,
    bindparam,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import array

from catalog.models import Camera
from catalog.queries.reader import Reader, connection_of
from catalog.queries.search_schema import (
    FTS_PAD,
    camera_bigrams,
    camera_fts,
    camera_fts_instance,
    camera_fts_row,
    camera_text,
)

__all__ = [
    "TRIGRAM",
    "Candidates",
    "StandIn",
    "bigram_of",
    "bigram_piece",
    "capped_count",
    "escape_like",
    "pg_text_estimate",
    "text_candidates",
    "text_condition",
    "text_form",
    "text_params",
]

#: The largest code point: `prefix + TOP` bounds every term that starts with `prefix`.
TOP: Final = "\U0010ffff"
TRIGRAM: Final = 3
# Trigram terms read to bound a short search's matches; more terms mean "common".
_MOST_TERMS: Final = 400


@dataclass(frozen=True)
class Candidates:
    """A superset of some filter's cameras: their uids, and how many there are at most.

    `count` is exact up to `cap` and means "more than `cap`" above it, or is
    an upper bound; either way the caller can compare the filters it could
    start from and knows when a list of candidates stays within `cap`.
    `exact` says that every candidate is a camera of the filter: read from
    them, the filter needs no test. `few`, where set, is `uids` when there
    are at most parameter `few_most` of them, and nothing otherwise, found
    by one read of the index instead of a count and then the list.
    """

    uids: Select[str]
    count: ScalarSelect[int]
    exact: bool = False
    few: Select[str] | None = None


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards and the escape character itself made literal (escape `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_condition(q: str, dialect: str, *, indexable: bool = False) -> ColumnElement[bool]:
    """The exact rule: `q` is a substring of the name or the address, ignoring case.

    `indexable` writes it as ILIKE, which `pg_trgm` indexes serve; otherwise
    as a substring test of the lowered text, which no index serves.
    """
    if indexable or "\x00" in q:
        pattern = _bound("q_pattern", _pattern(q), q)
        return or_(
            Camera.name.ilike(pattern, escape="\\"), Camera.address.ilike(pattern, escape="\\")
        )
    bigram = bigram_of(dialect, q)
    if bigram is not None:
        # Correlated to `cameras` only: a walk may join `camera_bigrams` itself.
        pieces = camera_bigrams.alias("held_bigrams")
        return exists().where(bigram_piece(pieces.c.bigram, bigram), pieces.c.uid == Camera.uid)
    needle = func.lower(_bound("q_text", q, q))
    if dialect == "sqlite":
        # Read from `camera_text`, the triggers' narrow copy: a search that
        # stays on the covering indexes of `cameras` never reads a camera's
        # (wide) row to decide its text.
        holds = or_(
            func.instr(func.lower(camera_text.c.name), needle) > 0,
            func.instr(func.lower(camera_text.c.address), needle) > 0,
        )
        return exists().where(camera_text.c.uid == Camera.uid, holds)
    return or_(
        func.strpos(func.lower(Camera.name), needle) > 0,
        func.strpos(func.lower(Camera.address), needle) > 0,
    )


def capped_count(stmt: Select[str], cap: int) -> ScalarSelect[int]:
    """`min(rows of stmt, cap + 1)`, reading at most `cap + 1` rows: above `cap` means "more".

    The rows are counted, not read: with no column to fetch, PostgreSQL can
    answer from its indexes and the visibility map.
    """
    rows = stmt.with_only_columns(literal(1), maintain_column_froms=True).limit(cap + 1).subquery()
    return select(func.count()).select_from(rows).scalar_subquery()


def bigram_of(dialect: str, q: str) -> str | None:
    """The `camera_bigrams` piece that decides a search for `q`, if one does (SQLite).

    Two characters, each ASCII or uncased: their lowered form is the one
    SQLite's `lower()` gave the pieces, and a lowered text holds it exactly
    when it is one of the text's pieces.
    """
    if dialect != "sqlite" or len(q) != 2 or "\x00" in q or not _short_and_plain(q):
        return None
    return StandIn(q.lower()) if isinstance(q, StandIn) else q.lower()


def bigram_piece(column: Any, bigram: str) -> ColumnElement[bool]:
    """`column` (of `camera_bigrams`) is the piece `bigram`, bound as parameter `q_bigram`."""
    return column == _bound("q_bigram", bigram, bigram)  # type: ignore[no-any-return]


class StandIn(str):
    """A form's `q` (`text_form`): the binds built for it hold no value, so that a
    statement of the form run without `text_params` fails instead of searching for
    the stand-in."""


def _bound(name: str, value: str, q: str) -> BindParameter[str]:
    """Parameter `name` of `q`'s statements: `value`, or for a stand-in a value to give."""
    if isinstance(q, StandIn):
        return bindparam(name, type_=String, required=True)
    return bindparam(name, value, type_=String)


def text_form(dialect: str, q: str) -> StandIn | None:
    """A text whose search runs the statements of `q`'s, with other values, or None.

    Every statement binds `q` by name (`text_params`); what they are depends
    only on what kind of text `q` is. On SQLite: two plain characters
    (`bigram_of`), one plain character, one or two others, or three or more
    that FTS5 finds exactly or not; on PostgreSQL: one or two plain
    characters, one or two others, or three or more ("plain": ASCII or
    uncased). Each kind's statements are built once, for its stand-in here,
    and serve every text of the kind; they bind its values without one
    (`StandIn`). None for an empty text (no filter) and
    for a text with NUL (an ILIKE of its own).
    """
    if not q or "\x00" in q:
        return None
    if len(q) >= TRIGRAM:
        exact = dialect == "sqlite" and _phrase_is_exact(q)
        return StandIn("\x02\x02\x02" if exact else "aaa")
    if bigram_of(dialect, q) is not None:
        return StandIn("\x02\x02")
    return StandIn("\x02" if _short_and_plain(q) else "\u00c9")


def text_params(dialect: str, q: str) -> dict[str, str]:
    """The parameters by which the statements of `q` bind it, for a search of its `text_form`."""
    params = {"q_text": q}
    if dialect != "sqlite":
        return params | {"q_pattern": _pattern(q), "q_gram": q}
    bigram = bigram_of(dialect, q)
    if bigram is not None:
        params["q_bigram"] = bigram
    if len(q) >= TRIGRAM:
        params["fts_phrase"] = _phrase(q)
    elif _short_and_plain(q):
        params |= {"fts_low": q.lower(), "fts_high": q.lower() + TOP}
    return params


def _pattern(q: str) -> str:
    """`q` as an ILIKE pattern that holds it anywhere."""
    return f"%{escape_like(q)}%"


def _phrase(q: str) -> str:
    """`q` as one FTS5 phrase: the trigram index finds it as a substring, folded."""
    return '"' + q.replace('"', '""') + '"'


def _phrase_is_exact(q: str) -> bool:
    """Whether the trigram index finds exactly the texts that hold `q` (three or more characters).

    A phrase of the trigram index is a substring of the text folded by
    Unicode's rules; for text without case (Chinese, digits, most
    punctuation) that is the rule itself. A cased letter of the text may
    fold to one of `q` where lower() does not (the Kelvin sign to k).
    """
    return FTS_PAD not in q and all(ch.lower() == ch == ch.upper() for ch in q)


def _short_and_plain(q: str) -> bool:
    """One or two characters, each ASCII or without case (so folding keeps it one character)."""
    return len(q) < TRIGRAM and all(ch.isascii() or ch.lower() == ch == ch.upper() for ch in q)


def _sqlite_candidates(q: str, cap: int) -> Candidates | None:
    if "\x00" in q:
        return None
    if len(q) >= TRIGRAM:
        matches = select(camera_fts.c.rowid).where(
            literal_column("camera_fts").op("MATCH")(_bound("fts_phrase", _phrase(q), q))
        )
        uids = select(camera_text.c.uid).where(camera_text.c.id.in_(matches))
        # The matches, up to one past `few_most`, read once: counted, then listed.
        most = bindparam("few_most", type_=Integer)
        hits = matches.limit(most + 1).cte("text_hits").prefix_with("MATERIALIZED")
        within = select(func.count()).select_from(hits).scalar_subquery() <= most
        few = select(camera_text.c.uid).where(camera_text.c.id.in_(select(hits.c.rowid)), within)
        return Candidates(uids, capped_count(matches, cap), _phrase_is_exact(q), few)
    if not _short_and_plain(q):
        return None
    # The trigram index folds ASCII letters to lower case and leaves uncased ones.
    prefix = q.lower()
    low = _bound("fts_low", prefix, q)
    high = _bound("fts_high", prefix + TOP, q)
    docs = select(camera_fts_instance.c.doc).where(
        camera_fts_instance.c.term >= low, camera_fts_instance.c.term < high
    )
    # A document holds at least one of the terms it is counted for: the sum is
    # an upper bound. A character followed by very many others is common; its
    # terms are not all read (the count then only says "many").
    terms = (
        select(camera_fts_row.c.doc)
        .where(camera_fts_row.c.term >= low, camera_fts_row.c.term < high)
        .limit(_MOST_TERMS + 1)
        .subquery()
    )
    many = func.count() > _MOST_TERMS
    bound = select(case((many, cap + 1), else_=func.coalesce(func.sum(terms.c.doc), 0)))
    uids = select(camera_text.c.uid).where(camera_text.c.id.in_(docs))
    return Candidates(uids, bound.select_from(terms).scalar_subquery())


def _pg_candidates(q: str, cap: int, estimated: bool) -> Candidates | None:
    if "\x00" in q:
        return None
    # With `estimated`, the count is parameter `q_estimate` (`pg_text_estimate`).
    estimate = select(bindparam("q_estimate", type_=Integer)).scalar_subquery()
    if len(q) >= TRIGRAM:
        uids = select(Camera.uid).where(text_condition(q, "postgresql", indexable=True))
        return Candidates(uids, estimate if estimated else capped_count(uids, cap))
    if not _short_and_plain(q):
        return None
    grams = func.camgrid_text_grams(Camera.name, Camera.address)
    piece = array([func.lower(_bound("q_gram", q, q))])
    uids = select(Camera.uid).where(grams.op("@>")(piece))
    if estimated:
        return Candidates(uids, estimate)
    # Without statistics, counted in full, never under a LIMIT: there the
    # planner may prefer a scan that computes every row's pieces.
    full = select(func.count()).select_from(Camera).where(grams.op("@>")(piece))
    return Candidates(uids, full.scalar_subquery())


@dataclass(frozen=True)
class _PieceStats:
    """How common each common piece is (PostgreSQL's statistics of the pieces index)."""

    rows: float
    freqs: dict[str, float]
    rarest: float
    read_at: float


_STATS_KEY: Final = "camgrid_piece_stats"
_STATS_TTL_S: Final = 300.0


async def pg_text_estimate(session: Reader, q: str) -> int | None:
    """About how many cameras hold `q`, from the statistics of the pieces index.

    A piece of `q` is at least as common as `q`: the estimate is that of its
    rarest one- or two-character piece. Statistics only choose where a search
    starts, never what it finds. None without statistics (a fresh table).
    The statistics are read once per connection every few minutes.
    """
    conn = await connection_of(session)
    stats: _PieceStats | None = conn.info.get(_STATS_KEY)
    now = time.monotonic()
    if stats is None or now - stats.read_at > _STATS_TTL_S:
        stats = await _read_piece_stats(session, now)
        conn.info[_STATS_KEY] = stats
    if not stats.freqs:
        return None
    text = q.lower()
    pieces = [text] if len(text) < TRIGRAM else [text[i : i + 2] for i in range(len(text) - 1)]
    freq = min(stats.freqs.get(piece, stats.rarest) for piece in pieces)
    return int(freq * stats.rows) + 1


async def _read_piece_stats(session: Reader, now: float) -> _PieceStats:
    row = (
        await session.execute(
            sql_text(
                "SELECT c.reltuples, s.most_common_elems::text::text[], s.most_common_elem_freqs"
                " FROM pg_class c LEFT JOIN pg_stats s"
                " ON s.tablename = 'ix_search_cameras_grams' AND s.schemaname = current_schema()"
                " WHERE c.relname = 'cameras' AND c.relnamespace = current_schema()::regnamespace"
            )
        )
    ).first()
    if row is None or not row[1] or not row[2]:
        return _PieceStats(0.0, {}, 0.0, now)
    rows, elems, freqs = float(row[0]), list(row[1]), list(row[2])
    # The frequencies list every element's, then the least, the most, and nulls'.
    return _PieceStats(rows, dict(zip(elems, freqs, strict=False)), freqs[len(elems)], now)


def text_candidates(dialect: str, q: str, cap: int, estimated: bool = False) -> Candidates | None:
    """The cameras an index proposes for `q` (a superset of the answer), or None.

    On PostgreSQL with `estimated`, parameter `q_estimate` (from
    `pg_text_estimate`) stands in for counting.
    """
    if dialect == "sqlite":
        return _sqlite_candidates(q, cap)
    return _pg_candidates(q, cap, estimated)
