"""Full-text search over stored segments: the FTS5 index `segments_fts` (migration 0007, kept
in step with transcript_segments by triggers). The API's GET /search and the console's meeting
search both ask here, so both read a query the same way."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass

from sqlalchemy import ColumnClause, Select, literal_column, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import TranscriptSegment
from appliance.errors import Invalid

MARK = "**"  # before and after each matched word in a snippet (documented in docs/api.md)
ELLIPSIS = "…"  # where the snippet cuts the segment's text
SNIPPET_TOKENS = 16
MAX_QUERY_CHARS = 500
HOW_TO = (
    'Write words to find all of them, "a phrase" in double quotes, word* for a prefix, '
    'OR between alternatives; put a word with punctuation in quotes ("don\'t").'
)

FTS = table("segments_fts")
MATCHED_ROWID: ColumnClause[int] = literal_column("segments_fts.rowid")
SNIPPET = f"snippet(segments_fts, 0, '{MARK}', '{MARK}', '{ELLIPSIS}', {SNIPPET_TOKENS})"


@dataclass(frozen=True)
class Hit:
    meeting_id: int
    platform: str
    native_meeting_id: str
    meeting_name: str | None
    segment_id: str
    start: float
    end: float
    speaker: str | None
    snippet: str


def parse(q: str) -> str:
    """The query as FTS5 will read it, or Invalid saying how to write one. Checked on an empty
    in-memory index with the same column, so a query the real index cannot parse is refused
    here rather than failing inside a request's SQL."""
    query = q.strip()
    if not query:
        raise Invalid(f"The search query is empty. {HOW_TO}")
    if len(query) > MAX_QUERY_CHARS:
        raise Invalid(f"The search query is longer than {MAX_QUERY_CHARS} characters.")
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
        try:
            conn.execute("SELECT rowid FROM probe WHERE probe MATCH ?", (query,)).fetchall()
        except sqlite3.OperationalError as exc:
            raise Invalid(f"Cannot read the search query {query!r} ({exc}). {HOW_TO}") from exc
    return query


def meeting_ids_matching(query: str) -> Select[int]:
    """The ids of meetings with a segment that matches, for a caller's own WHERE (the console
    adds who may see what); `query` comes from parse()."""
    return (
        select(TranscriptSegment.meeting_id).select_from(FTS)
        .join(TranscriptSegment, TranscriptSegment.id == MATCHED_ROWID)
        .where(literal_column("segments_fts").op("MATCH")(query))
    )


HITS = text(
    f"SELECT m.id, m.platform, m.native_meeting_id, json_extract(m.data, '$.name'), s.segment_id, "
    f"s.start, s.\"end\", s.speaker, {SNIPPET} "
    "FROM segments_fts JOIN transcript_segments s ON s.id = segments_fts.rowid "
    "JOIN meetings m ON m.id = s.meeting_id "
    "WHERE segments_fts MATCH :query AND m.user_id = :user_id "
    # Newest meeting first (as GET /meetings lists them), then in the order they were said.
    "ORDER BY m.id DESC, s.start, s.id LIMIT :limit OFFSET :offset"
)


async def search(session: AsyncSession, user_id: int, q: str, limit: int, offset: int) -> list[Hit]:
    """The user's own segments that match `q`, newest meeting first."""
    query = parse(q)
    rows = await session.execute(
        HITS, {"query": query, "user_id": user_id, "limit": limit, "offset": offset}
    )
    return [
        Hit(meeting_id=r[0], platform=r[1], native_meeting_id=r[2], meeting_name=r[3],
            segment_id=r[4], start=r[5], end=r[6], speaker=r[7], snippet=r[8])
        for r in rows.all()
    ]


async def first_snippets(session: AsyncSession, meeting_ids: list[int], query: str) -> dict[int, str]:
    """Each meeting's earliest matching segment as a snippet, to show why it was found."""
    if not meeting_ids:
        return {}
    rows = await session.execute(
        meeting_ids_matching(query).add_columns(literal_column(SNIPPET))
        .where(TranscriptSegment.meeting_id.in_(meeting_ids))
        .order_by(TranscriptSegment.meeting_id, TranscriptSegment.start, TranscriptSegment.id)
    )
    found: dict[int, str] = {}
    for meeting_id, snippet in rows.all():
        found.setdefault(meeting_id, snippet)
    return found


async def drop_deleted_words(session: AsyncSession) -> None:
    """Merge the index into one segment, which leaves out deleted rows: until then FTS5 keeps
    their words (lower-cased) in its pages, readable in the file after the rows are gone."""
    await session.execute(text("INSERT INTO segments_fts(segments_fts) VALUES ('optimize')"))
