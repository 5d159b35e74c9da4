"""What the queue stores must read back: strict JSON in, bad rows quarantined at start-up.

A row that a browser or the queue itself could not read (a non-finite or missing ``number``,
JSON that is invalid, non-standard (``NaN``, ``Infinity``) or nested past what a parser takes,
an unknown state) is moved to ``jobs_quarantine`` with the reason, never deleted silently, and
the server keeps starting. The checks run in SQLite (``json_valid``), once per start.
"""
from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

STATES = ("pending", "running", "success", "error", "interrupted")
MAX_STORED_DEPTH = 200  # well under Python's recursion limit, which serialising a response needs
_JSON_COLUMNS = ("prompt", "extra_data", "outputs", "result")


def _not_json(column: str, json_type: str) -> str:
    """True unless ``column`` is valid JSON of that type (CASE: json_type() raises on bad JSON)."""
    return f"CASE WHEN json_valid({column}) THEN json_type({column}) END IS NOT '{json_type}'"


# (reason, SQL condition true for a bad row). json_valid() accepts strict RFC 8259 JSON only, and
# refuses nesting deeper than SQLite's limit (1000), which is also about where Python's gives up.
_BAD_ROW_CHECKS: tuple[tuple[str, str], ...] = (
    ("prompt_id is not text", "typeof(prompt_id) != 'text'"),
    ("number is not a finite number",
     "typeof(number) NOT IN ('real', 'integer') OR number != number OR abs(number) > 1e300"),
    ("seq is not an integer", "typeof(seq) != 'integer'"),
    ("unknown state", f"state IS NULL OR state NOT IN ({', '.join(repr(s) for s in STATES)})"),
    ("prompt is not a JSON object", _not_json("prompt", "object")),
    ("extra_data is not a JSON object", _not_json("extra_data", "object")),
    ("outputs is not a JSON array", _not_json("outputs", "array")),
    ("result is not a JSON object", f"result IS NOT NULL AND ({_not_json('result', 'object')})"),
    ("created is not a number", "typeof(created) NOT IN ('real', 'integer')"),
    ("client_id is not text", "client_id IS NOT NULL AND typeof(client_id) != 'text'"),
)

_QUARANTINE_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs_quarantine (
    prompt_id TEXT, reason TEXT NOT NULL, quarantined REAL NOT NULL, row_json TEXT NOT NULL
);
"""


def quarantine_bad_rows(db: sqlite3.Connection, now: float) -> list[tuple[str, str]]:
    """Move every unreadable row of ``jobs`` to ``jobs_quarantine``; ``[(prompt_id, reason)]``."""
    cases = " ".join(f"WHEN {condition} THEN '{reason}'" for reason, condition in _BAD_ROW_CHECKS)
    bad = db.execute(f"SELECT rowid, prompt_id, CASE {cases} END AS reason FROM jobs "
                     f"WHERE reason IS NOT NULL").fetchall()
    rows = [(rowid, reason) for rowid, _, reason in bad]
    rows += _too_deep_rows(db, {rowid for rowid, _ in rows})
    return quarantine_rows(db, rows, now)


def _too_deep_rows(db: sqlite3.Connection, skip: set[int]) -> list[tuple[int, str]]:
    """Rows whose JSON nests deeper than ``MAX_STORED_DEPTH``. SQLite counts the brackets; only a
    row with enough of them to be that deep is parsed."""
    brackets = " + ".join(f"IFNULL(length({c}) - length(replace(replace({c}, '[', ''), '{{', '')), 0)"
                          for c in _JSON_COLUMNS)
    candidates = db.execute(f"SELECT rowid, {', '.join(_JSON_COLUMNS)} FROM jobs WHERE {brackets} > ?",
                            (MAX_STORED_DEPTH,)).fetchall()
    deep = []
    for rowid, *texts in candidates:
        if rowid in skip:
            continue
        for text in texts:
            if text is None:
                continue
            try:
                too_deep = json_depth_exceeds(text, json.loads(text), MAX_STORED_DEPTH)
            except (ValueError, RecursionError):
                too_deep = True
            if too_deep:
                deep.append((rowid, f"JSON nested deeper than {MAX_STORED_DEPTH} levels"))
                break
    return deep


def json_depth_exceeds(text: str | bytes, value: Any, max_depth: int) -> bool:
    """True if ``value`` (parsed from ``text``) nests containers deeper than ``max_depth``."""
    if not isinstance(value, (dict, list)):
        return False
    opening = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    if text.count(opening[0]) + text.count(opening[1]) <= max_depth:
        return False  # cannot be that deep: the common case, no walk
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > max_depth:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def quarantine_rows(db: sqlite3.Connection, rows: list[tuple[int, str]], now: float) -> list[tuple[str, str]]:
    """Move rows (``[(rowid, reason)]``) of ``jobs`` to ``jobs_quarantine``, in one transaction."""
    if not rows:
        return []
    db.executescript(_QUARANTINE_SCHEMA)
    columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    moved = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for rowid, reason in rows:
            values = db.execute(f"SELECT {', '.join(columns)} FROM jobs WHERE rowid=?", (rowid,)).fetchone()
            if values is None:
                continue
            row = {name: _printable(value) for name, value in zip(columns, values)}
            prompt_id = str(row.get("prompt_id"))
            db.execute("INSERT INTO jobs_quarantine(prompt_id, reason, quarantined, row_json) VALUES(?, ?, ?, ?)",
                       (prompt_id, reason, now, json.dumps(row)))
            db.execute("DELETE FROM jobs WHERE rowid=?", (rowid,))
            moved.append((prompt_id, reason))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return moved


def _printable(value: Any) -> Any:
    """A column value as strict JSON can hold it (the quarantine must itself read back)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def storable_json(value: Any) -> str:
    """Strict JSON (no ``NaN``/``Infinity``) for a stored column; non-finite floats become null and
    objects JSON cannot hold become their ``str``, so whatever a node reported can be read back."""
    try:
        return _STRICT_ENCODER.encode(value)
    except ValueError:  # a non-finite float somewhere: rebuild without it
        return _STRICT_ENCODER.encode(_finite(value))


# One encoder for every call (``json.dumps`` with options builds one each time, which costs more
# than encoding a small event); encoding keeps no state in it, so threads may share it.
_STRICT_ENCODER = json.JSONEncoder(allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
