"""Full-text search over answers, thinking and titles: SQLite FTS5, or LIKE when FTS5 is missing.

The index is derived data, kept out of the numbered migrations: on open, :func:`sync_index`
creates it (or re-creates its triggers and rebuilds it) when SQLite has FTS5, and drops the
triggers when it has not, so writes keep working on an SQLite built without FTS5 and search falls
back to ``LIKE`` (with a logged warning).

Two external-content FTS5 tables (no second copy of the text): ``messages_fts(content, thinking)``
over ``messages`` and ``conversations_fts(title)`` over ``conversations``. Triggers keep them in
sync. A message is indexed only once it is no longer ``streaming``: appending streamed text then
costs one row update and no re-indexing; the finished answer is indexed once.

Tokenizer: ``trigram`` (SQLite ≥ 3.34) matches any substring of three or more characters in any
script, which Chinese and Japanese need (they have no spaces between words). Queries with a term
shorter than three characters fall back to ``LIKE``. Without trigram, ``unicode61`` with prefix
queries is used.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from qwen_desktop.core.storage.records import MATCH_END, MATCH_START

log = logging.getLogger(__name__)

TOKENIZERS = ("trigram case_sensitive 0", "unicode61 remove_diacritics 2")
"""FTS5 tokenizers in order of preference."""

SNIPPET_TOKENS = 16
"""Tokens of context :func:`search_messages` shows around a hit (FTS5 ``snippet``)."""
LIKE_SNIPPET_CHARS = 60
"""Characters of context on each side of a hit in the ``LIKE`` fallback."""
LIKE_ROW_LIMIT = 5000
"""Most matching messages the ``LIKE`` fallback reads before grouping by conversation."""

_TRIGGERS = (
    "messages_fts_insert",
    "messages_fts_delete",
    "messages_fts_update",
    "conversations_fts_insert",
    "conversations_fts_delete",
    "conversations_fts_update",
)

_TRIGGER_SQL = (
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
    WHEN new.status <> 'streaming' BEGIN
        INSERT INTO messages_fts (rowid, content, thinking)
        VALUES (new.id, new.content, new.thinking);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
    WHEN old.status <> 'streaming' BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, thinking)
        VALUES ('delete', old.id, old.content, old.thinking);
    END
    """,
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, thinking, status ON messages
    WHEN old.status <> 'streaming' OR new.status <> 'streaming' BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, thinking)
        SELECT 'delete', old.id, old.content, old.thinking WHERE old.status <> 'streaming';
        INSERT INTO messages_fts (rowid, content, thinking)
        SELECT new.id, new.content, new.thinking WHERE new.status <> 'streaming';
    END
    """,
    """
    CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversations_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO conversations_fts (conversations_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversations_fts (conversations_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO conversations_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
)


@dataclass(frozen=True)
class FullTextIndex:
    """An active FTS5 index and the tokenizer it was built with."""

    tokenizer: str

    @property
    def substring(self) -> bool:
        """True for the trigram tokenizer (matches inside words; terms need ≥ 3 characters)."""
        return self.tokenizer.startswith("trigram")


@dataclass(frozen=True)
class RawHit:
    """A search hit before the store attaches the conversation record."""

    conversation_id: int
    message_id: int | None
    snippet: str


def available_tokenizer(db: sqlite3.Connection) -> str | None:
    """The best FTS5 tokenizer this SQLite supports, or None when it has no FTS5."""
    for tokenizer in TOKENIZERS:
        try:
            db.execute(
                f"CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x, tokenize='{tokenizer}')"
            )
        except sqlite3.OperationalError:
            continue
        db.execute("DROP TABLE temp.fts5_probe")
        return tokenizer
    return None


def _schema_sql(db: sqlite3.Connection, name: str) -> str | None:
    row = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def sync_index(db: sqlite3.Connection, enabled: bool | None = None) -> FullTextIndex | None:
    """Make the full-text index match what this SQLite can do; returns it, or None for LIKE.

    Args:
        db: An autocommit connection to a database at the latest schema version, with no
            ``streaming`` messages left (the store recovers them first), so a rebuild is exact.
        enabled: False forces the LIKE fallback (tests, or an SQLite whose FTS5 misbehaves);
            None uses FTS5 when it is available.
    """
    tokenizer = available_tokenizer(db) if enabled is not False else None
    if tokenizer is None:
        if enabled is None:
            log.warning("SQLite has no FTS5 here: chat search falls back to slower LIKE matching.")
        db.execute("BEGIN IMMEDIATE")
        for trigger in _TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        db.execute("COMMIT")
        return None
    existing = _schema_sql(db, "messages_fts")
    if existing is not None:
        tokenizer = next((t for t in TOKENIZERS if t in existing), tokenizer)
    present = {
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    }
    if existing is not None and present.issuperset(_TRIGGERS):
        return FullTextIndex(tokenizer)
    log.info("Building the chat search index (tokenizer %s).", tokenizer)
    db.execute("BEGIN IMMEDIATE")
    try:
        if existing is None:
            db.execute(
                "CREATE VIRTUAL TABLE messages_fts USING fts5(content, thinking, "
                f"content='messages', content_rowid='id', tokenize='{tokenizer}')"
            )
        if _schema_sql(db, "conversations_fts") is None:
            db.execute(
                "CREATE VIRTUAL TABLE conversations_fts USING fts5(title, "
                f"content='conversations', content_rowid='id', tokenize='{tokenizer}')"
            )
        for trigger in _TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in _TRIGGER_SQL:
            db.execute(statement)
        for table, source, columns, where in (
            ("messages_fts", "messages", "content, thinking", "WHERE status <> 'streaming'"),
            ("conversations_fts", "conversations", "title", ""),
        ):
            db.execute(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
            db.execute(
                f"INSERT INTO {table} (rowid, {columns}) SELECT id, {columns} FROM {source} {where}"
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return FullTextIndex(tokenizer)


def match_expression(query: str, index: FullTextIndex) -> str | None:
    """The FTS5 query for what a person typed: every word must occur (any order).

    Words are quoted, so FTS5 syntax (``AND``, ``*``, ``"``, ``:``) in the text is matched
    literally. Returns None when the index cannot answer it (a word shorter than three
    characters with the trigram tokenizer): use :func:`search_like` instead.
    """
    terms = query.split()
    if not terms:
        return None
    if index.substring and any(len(term) < 3 for term in terms):
        return None
    suffix = "" if index.substring else "*"
    return " ".join('"' + term.replace('"', '""') + '"' + suffix for term in terms)


def search_fts(
    db: sqlite3.Connection, expression: str, limit: int
) -> tuple[list[RawHit], list[RawHit]]:
    """Titles and messages matching ``expression``; returns (title hits, best message hit per
    conversation), each best first (BM25)."""
    titles = [
        RawHit(int(row[0]), None, str(row[1]))
        for row in db.execute(
            "SELECT rowid, highlight(conversations_fts, 0, ?, ?) FROM conversations_fts "
            "WHERE conversations_fts MATCH ? ORDER BY rank LIMIT ?",
            (MATCH_START, MATCH_END, expression, limit),
        )
    ]
    best = db.execute(
        """
        WITH hits AS (
            SELECT m.conversation_id AS cid, m.id AS mid, bm25(messages_fts) AS score
            FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid
            WHERE messages_fts MATCH ?1
        ), ranked AS (
            SELECT cid, mid, score,
                   row_number() OVER (PARTITION BY cid ORDER BY score, mid DESC) AS n
            FROM hits
        )
        SELECT cid, mid FROM ranked WHERE n = 1 ORDER BY score LIMIT ?2
        """,
        (expression, limit),
    ).fetchall()
    snippets: dict[int, str] = {}
    if best:
        marks = ",".join("?" * len(best))
        snippets = {
            int(row[0]): str(row[1])
            for row in db.execute(
                f"SELECT rowid, snippet(messages_fts, -1, ?, ?, '…', {SNIPPET_TOKENS}) "
                f"FROM messages_fts WHERE messages_fts MATCH ? AND rowid IN ({marks})",
                (MATCH_START, MATCH_END, expression, *(int(row[1]) for row in best)),
            )
        }
    messages = [RawHit(int(cid), int(mid), snippets.get(int(mid), "")) for cid, mid in best]
    return titles, messages


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def like_snippet(text: str, terms: list[str]) -> str:
    """Text around the first occurrence of any term, every occurrence wrapped in match marks."""
    folded = text.lower()
    lowered = [t.lower() for t in terms if t]
    starts = [i for i in (folded.find(t) for t in lowered) if i != -1]
    if not starts:
        return text[: 2 * LIKE_SNIPPET_CHARS]
    first = min(starts)
    begin = max(0, first - LIKE_SNIPPET_CHARS)
    end = min(len(text), first + LIKE_SNIPPET_CHARS)
    window, window_folded = text[begin:end], folded[begin:end]
    marks = [False] * len(window)
    for term in lowered:
        at = window_folded.find(term)
        while at != -1:
            for i in range(at, min(at + len(term), len(window))):
                marks[i] = True
            at = window_folded.find(term, at + 1)
    out: list[str] = ["…"] if begin > 0 else []
    inside = False
    for char, marked in zip(window, marks, strict=True):
        if marked != inside:
            out.append(MATCH_START if marked else MATCH_END)
            inside = marked
        out.append(char)
    if inside:
        out.append(MATCH_END)
    if end < len(text):
        out.append("…")
    return "".join(out)


def search_like(
    db: sqlite3.Connection, query: str, limit: int
) -> tuple[list[RawHit], list[RawHit]]:
    """The ``LIKE`` fallback: same result shape as :func:`search_fts`, newest messages first.

    ``LIKE`` ignores case for ASCII letters only (SQLite's rule).
    """
    terms = query.split()
    if not terms:
        return [], []
    patterns = [_like_pattern(t) for t in terms]
    title_where = " AND ".join("title LIKE ? ESCAPE '\\'" for _ in terms)
    titles = [
        RawHit(int(row[0]), None, like_snippet(str(row[1]), terms))
        for row in db.execute(
            f"SELECT id, title FROM conversations WHERE {title_where} "
            "ORDER BY updated_at DESC, id DESC LIMIT ?",
            (*patterns, limit),
        )
    ]
    message_where = " AND ".join(
        "(content LIKE ? ESCAPE '\\' OR thinking LIKE ? ESCAPE '\\')" for _ in terms
    )
    params = [p for p in patterns for _ in range(2)]
    seen: dict[int, RawHit] = {}
    for cid, mid, content, thinking in db.execute(
        f"SELECT conversation_id, id, content, thinking FROM messages "
        f"WHERE status <> 'streaming' AND {message_where} ORDER BY id DESC LIMIT ?",
        (*params, LIKE_ROW_LIMIT),
    ):
        if cid in seen:
            continue
        text = content if any(t.lower() in content.lower() for t in terms) else thinking
        seen[int(cid)] = RawHit(int(cid), int(mid), like_snippet(str(text), terms))
        if len(seen) >= limit:
            break
    return titles, list(seen.values())
