"""The durable job queue and history: one SQLite database (WAL) in the user directory.

Every job is a row of ``jobs``. Its ``state`` moves ``pending -> running -> success|error|
interrupted``; finished rows *are* the history. A job is committed before ``POST /prompt``
answers, so after a ``kill -9`` and a restart:

- pending jobs are still there, in their order (``number``, then insertion ``seq``);
- a job left ``running`` is re-queued (keeping its number, first in line: ``lane`` 0) or marked
  ``interrupted`` with the reason, as ``on_crash`` says (``recover_running``);
- history rows are untouched, and a caller-chosen ``prompt_id`` is the primary key, so nothing
  can be stored twice.

Running jobs hold a lease (``worker_id``, ``lease_expires``). Workers that stay alive renew it;
``recover_expired`` hands back the jobs of workers that vanished (a Ray actor on a lost machine).

Stdlib only. One connection, serialised by a lock: SQLite allows one writer anyway, and each
statement takes microseconds, so the aiohttp loop may call it directly.
"""
from __future__ import annotations

import json
import math
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from execution.jobs.history import HistoryQueries, queue_item
from execution.jobs.rows import quarantine_bad_rows, quarantine_rows, storable_json

FINISHED_STATES = ("success", "error", "interrupted")
_PLAIN_JSON = json.JSONEncoder(allow_nan=False)  # one encoder, not one per json.dumps call
AUTO_CHECKPOINT_PAGES = 10000
MAX_ATTEMPTS = 3  # a job that took the server down this many times is failed, not re-queued again

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    prompt_id     TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL,
    number        REAL NOT NULL,
    state         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    extra_data    TEXT NOT NULL,
    outputs       TEXT NOT NULL,
    client_id     TEXT,
    created       REAL NOT NULL,
    started       REAL,
    finished      REAL,
    finish_seq    INTEGER,
    worker_id     TEXT,
    lease_expires REAL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lane          INTEGER NOT NULL DEFAULT 1,
    result        TEXT
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (state, lane, number, seq);
CREATE INDEX IF NOT EXISTS jobs_history ON jobs (finish_seq) WHERE finish_seq IS NOT NULL;
"""


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a database made by an older Plexus up to the current table, keeping every row."""
    present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    body = _SCHEMA[_SCHEMA.index("(") + 1:_SCHEMA.rindex(")")]
    for line in body.split(","):
        name, _, declaration = line.strip().partition(" ")
        if name and name not in present:
            if "NOT NULL" in declaration and "DEFAULT" not in declaration:
                declaration = declaration.replace("NOT NULL", "")  # SQLite cannot add those
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration.strip()}")


@dataclass
class QueuedJob:
    """A job as the queue hands it to a worker (and as ``GET /queue`` lists it)."""

    prompt_id: str
    number: float
    prompt: dict
    extra_data: dict
    outputs: list[str]
    client_id: str | None = None
    created: float = 0.0
    started: float | None = None
    attempts: int = 0

    def queue_item(self) -> list:
        """ComfyUI's queue tuple ``[number, prompt_id, prompt, extra_data, outputs]``."""
        return queue_item(self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs)


@dataclass
class JobOutcome:
    """What a finished job leaves in history."""

    status: str  # success | error | interrupted
    outputs: dict = field(default_factory=dict)  # node id -> ui
    messages: list = field(default_factory=list)  # [[event type, data], ...]
    meta: dict = field(default_factory=dict)  # node id -> {node_id, display_node, ...}
    error: dict | None = None


class DuplicatePromptId(ValueError):
    pass


class InvalidJob(ValueError):
    """A job the queue cannot store (so it is never acknowledged)."""


class JobQueue(HistoryQueries):
    def __init__(self, db_path: str | Path, *, durable: bool = False, history_max: int = 10000) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.history_max = history_max
        self._owner_lock: Any = None
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("PRAGMA busy_timeout=5000")
        # WAL checkpoints (the only fsyncs in NORMAL mode) run from checkpoint(), off the request
        # path; the automatic one stays as a safety net for a queue used without a supervisor.
        self._db.execute(f"PRAGMA wal_autocheckpoint={AUTO_CHECKPOINT_PAGES}")
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._closed = False
        self._db.executescript(_SCHEMA)
        _add_missing_columns(self._db)
        self._db.executescript(_INDEXES)
        # Rows nothing could read back (a hand-edited or older database) must not stop the server.
        self.quarantined = quarantine_bad_rows(self._db, time.time())
        for prompt_id, reason in self.quarantined:
            print(f"[plexus] queue: job {prompt_id!r} moved to jobs_quarantine: {reason}", file=sys.stderr)
        # Counters are derived from the rows (no extra writes per job): numbers keep growing past
        # every stored job, so new prompts never jump ahead of jobs queued before a restart.
        seq, number, finish_seq = self._db.execute(
            "SELECT MAX(seq), MAX(number), MAX(finish_seq) FROM jobs").fetchone()
        self._seq = seq or 0
        self._number = int(max(number or 0, 0)) + 1 if number is not None else 0
        self._finish_seq = finish_seq or 0
        self._history_count = self._db.execute("SELECT COUNT(*) FROM jobs WHERE finish_seq IS NOT NULL").fetchone()[0]
        self._active = self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')").fetchone()[0]
        # Pending jobs this object knows of: a hint that spares an idle worker an empty claim.
        self._pending = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state='pending'").fetchone()[0]

    def checkpoint(self) -> None:
        """Copy the WAL into the database on a second connection: writers are not blocked."""
        with self._checkpoint_lock:
            if self._closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(str(self.db_path), check_same_thread=False,
                                                     isolation_level=None)
                self._checkpointer.execute("PRAGMA busy_timeout=1000")
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._checkpoint_lock, self._lock:  # never close a connection another thread is using
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            self._db.close()
        if self._owner_lock is not None:
            self._owner_lock.close()
            self._owner_lock = None

    def claim_ownership(self) -> bool:
        """Make this process the database's only server (a lock the OS drops when the process
        dies, even by ``kill -9``). False when another live server holds it: starting a second
        one would hand that server's running job back as if it had crashed."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no guard
            return True
        handle = open(f"{self.db_path}.owner", "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._owner_lock = handle
        return True

    # -- enqueue ---------------------------------------------------------------------------------
    def next_number(self, front: bool = False) -> int:
        """ComfyUI's numbering: a running counter; ``front`` uses its negative, ahead of everything."""
        with self._lock:
            number = self._number
            return -number if front else number

    def enqueue(self, prompt_id: str, prompt: dict, extra_data: dict, outputs: list[str], *,
                number: float | None = None, front: bool = False, client_id: str | None = None) -> float:
        """Store a pending job durably and return its number. Raises DuplicatePromptId, or
        InvalidJob for anything that could not be stored and read back."""
        return self._insert(prompt_id, prompt, extra_data, outputs, number, front, client_id).number

    def enqueue_running(self, prompt_id: str, prompt: dict, extra_data: dict, outputs: list[str], *,
                        worker_id: str, lease_seconds: float = 60.0, number: float | None = None,
                        front: bool = False, client_id: str | None = None) -> QueuedJob:
        """Store a job already claimed by ``worker_id`` (an idle worker, nothing pending): one
        statement instead of an insert and a claim. After a crash it is handed back like any
        running job (``recover_running``). Raises as ``enqueue`` does."""
        return self._insert(prompt_id, prompt, extra_data, outputs, number, front, client_id,
                            worker_id=worker_id, lease_seconds=lease_seconds)

    def _insert(self, prompt_id: str, prompt: dict, extra_data: dict, outputs: list[str], number: float | None,
                front: bool, client_id: str | None, *, worker_id: str | None = None,
                lease_seconds: float = 60.0) -> QueuedJob:
        if number is not None and not (isinstance(number, (int, float)) and math.isfinite(number)):
            raise InvalidJob(f"number must be a finite number, not {number!r}")
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidJob("client_id must be a string")
        try:
            prompt_json = _PLAIN_JSON.encode(prompt)
            extra_json = _PLAIN_JSON.encode(extra_data)
            outputs_json = _PLAIN_JSON.encode(outputs)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidJob(f"the job is not plain JSON: {exc}") from exc
        running = worker_id is not None
        with self._lock:
            counter = self._number
            counted = number is None
            if counted:  # ComfyUI: a given number is used as is; a counted one is negated by front
                number = -counter if front else counter
            self._seq += 1
            now = time.time()
            try:  # one statement, one commit (autocommit mode)
                self._db.execute(
                    "INSERT INTO jobs(prompt_id, seq, number, state, prompt, extra_data, outputs, client_id, created,"
                    " started, worker_id, lease_expires, attempts) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (prompt_id, self._seq, float(number), "running" if running else "pending", prompt_json,
                     extra_json, outputs_json, client_id, now, now if running else None, worker_id,
                     now + lease_seconds if running else None, 1 if running else 0))
            except sqlite3.IntegrityError as exc:
                self._seq -= 1
                if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                    raise DuplicatePromptId(prompt_id) from exc
                raise InvalidJob(f"the job could not be stored: {exc}") from exc
            if counted:
                self._number = counter + 1
            self._active += 1
            if not running:
                self._pending += 1
        # The caller's dicts, not copies read back: they were just encoded, so they are plain JSON.
        return QueuedJob(prompt_id=prompt_id, number=number, prompt=prompt, extra_data=extra_data,
                         outputs=list(outputs), client_id=client_id, created=now,
                         started=now if running else None, attempts=1 if running else 0)

    # -- claiming and leases ---------------------------------------------------------------------
    def claim(self, worker_id: str, lease_seconds: float = 60.0, prompt_id: str | None = None) -> QueuedJob | None:
        """Atomically take the first pending job: re-queued crashed jobs first (``lane`` 0), then
        the lowest number, then the oldest. With ``prompt_id``: that job, if it is still pending
        (a scheduler's choice, such as the cluster's model affinity)."""
        now = time.time()
        target = "?" if prompt_id is not None else \
            "(SELECT prompt_id FROM jobs WHERE state='pending' ORDER BY lane, number, seq LIMIT 1)"
        params = (worker_id, now + lease_seconds, now) + ((prompt_id,) if prompt_id is not None else ())
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET state='running', worker_id=?, lease_expires=?, started=?, attempts=attempts+1 "
                f"WHERE state='pending' AND prompt_id = {target} "
                "RETURNING prompt_id, number, prompt, extra_data, outputs, client_id, created, started, attempts",
                params).fetchone()
            if row:
                self._pending -= 1
            elif prompt_id is None:
                self._pending = 0  # exact: the search ran under the lock
        return _job(row) if row else None

    def may_have_pending(self) -> bool:
        """False only when no job is pending as far as this object knows (another process's
        inserts are not seen: a worker still claims after each wait)."""
        return self._pending > 0

    def renew_leases(self, worker_id: str, lease_seconds: float = 60.0) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET lease_expires=? WHERE state='running' AND worker_id=?",
                             (time.time() + lease_seconds, worker_id))

    def recover_running(self, on_crash: str = "requeue", *, worker_id: str | None = None,
                        expired_only: bool = False, reason: str = "the server stopped while it ran") -> list[str]:
        """Hand back running jobs: all of them (start-up), one worker's, or those with expired leases.

        ``on_crash='requeue'`` puts them back in front with their number; ``'fail'`` (or a job
        that already took down ``MAX_ATTEMPTS`` workers) records them as interrupted, with the reason.
        """
        where, params = "state='running'", []
        if worker_id is not None:
            where += " AND worker_id=?"
            params.append(worker_id)
        if expired_only:
            where += " AND lease_expires < ?"
            params.append(time.time())
        with self._lock:
            rows = self._db.execute(f"SELECT prompt_id, attempts FROM jobs WHERE {where}", params).fetchall()
            for prompt_id, attempts in rows:
                if on_crash == "requeue" and attempts < MAX_ATTEMPTS:
                    self._db.execute("UPDATE jobs SET state='pending', worker_id=NULL, lease_expires=NULL, "
                                     "started=NULL, lane=0 WHERE prompt_id=?", (prompt_id,))
                    self._pending += 1
                else:
                    why = reason if on_crash != "requeue" else f"{reason} ({attempts} times; given up)"
                    message = ["execution_interrupted", {"prompt_id": prompt_id, "node_id": None,
                                                         "node_type": None, "executed": [], "reason": why,
                                                         "timestamp": int(time.time() * 1000)}]
                    self._finish(prompt_id, JobOutcome("interrupted", messages=[message],
                                                       error={"reason": why}))
        return [r[0] for r in rows]

    # -- finishing -------------------------------------------------------------------------------
    def complete(self, prompt_id: str, outcome: JobOutcome) -> None:
        with self._lock:
            self._finish(prompt_id, outcome)

    def _finish(self, prompt_id: str, outcome: JobOutcome) -> None:
        self._finish_seq += 1
        result = storable_json({"outputs": outcome.outputs, "messages": outcome.messages, "meta": outcome.meta,
                                "error": outcome.error})
        params = (outcome.status, time.time(), self._finish_seq, result, prompt_id)
        if not 0 < self.history_max <= self._history_count:  # nothing to trim: one statement, one commit
            if self._db.execute(_FINISH_UPDATE, params).rowcount:
                self._active -= 1
                self._history_count += 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        if self._db.execute(_FINISH_UPDATE, params).rowcount:
            self._active -= 1
            self._trim_history()
        self._db.execute("COMMIT")

    def _trim_history(self) -> None:
        self._history_count += 1
        excess = self._history_count - self.history_max
        if self.history_max <= 0 or excess <= 0:
            return
        self._db.execute("DELETE FROM jobs WHERE prompt_id IN (SELECT prompt_id FROM jobs WHERE finish_seq IS NOT NULL "
                         "ORDER BY finish_seq LIMIT ?)", (excess,))
        self._history_count -= excess

    # -- pending-queue edits ---------------------------------------------------------------------
    def delete_pending(self, prompt_ids: Iterable[str]) -> int:
        ids = list(prompt_ids)
        with self._lock:
            cursor = self._db.executemany("DELETE FROM jobs WHERE state='pending' AND prompt_id=?",
                                          [(i,) for i in ids])
            self._active -= max(0, cursor.rowcount)
            self._pending -= max(0, cursor.rowcount)
            return cursor.rowcount

    def clear_pending(self) -> int:
        with self._lock:
            deleted = self._db.execute("DELETE FROM jobs WHERE state='pending'").rowcount
            self._active -= deleted
            self._pending = 0
            return deleted

    def delete_history(self, prompt_ids: Iterable[str]) -> int:
        with self._lock:
            cursor = self._db.executemany("DELETE FROM jobs WHERE finish_seq IS NOT NULL AND prompt_id=?",
                                          [(i,) for i in prompt_ids])
            self._history_count -= max(0, cursor.rowcount)
            return cursor.rowcount

    def clear_history(self) -> int:
        with self._lock:
            self._history_count = 0
            return self._db.execute("DELETE FROM jobs WHERE finish_seq IS NOT NULL").rowcount

    # -- reading ---------------------------------------------------------------------------------
    def remaining(self) -> int:
        """Pending plus running, ComfyUI's ``queue_remaining``."""
        return self._active

    def pending(self, limit: int | None = None) -> list[QueuedJob]:
        return self._jobs("state='pending' ORDER BY lane, number, seq LIMIT ?", (limit if limit is not None else -1,))

    def running(self) -> list[QueuedJob]:
        return self._jobs("state='running' ORDER BY started")

    def _jobs(self, where: str, params: tuple = ()) -> list[QueuedJob]:
        with self._lock:
            rows = self._db.execute(
                "SELECT prompt_id, number, prompt, extra_data, outputs, client_id, created, started, attempts "
                f"FROM jobs WHERE {where}", params).fetchall()
        return [_job(r) for r in rows]

    def state_of(self, prompt_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM jobs WHERE prompt_id=?", (prompt_id,)).fetchone()
        return row[0] if row else None

    def number_of(self, prompt_id: str) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT number FROM jobs WHERE prompt_id=?", (prompt_id,)).fetchone()
        return row[0] if row else None

    def quarantine(self, prompt_id: str, reason: str) -> None:
        """Move one row that turned out unreadable (found while serving it) out of the way."""
        with self._lock:
            row = self._db.execute("SELECT rowid, state, finish_seq FROM jobs WHERE prompt_id=?",
                                   (prompt_id,)).fetchone()
            if row is None:
                return
            quarantine_rows(self._db, [(row[0], reason)], time.time())
            if row[1] in ("pending", "running"):
                self._active -= 1
            if row[1] == "pending":
                self._pending -= 1
            if row[2] is not None:
                self._history_count -= 1
        print(f"[plexus] queue: job {prompt_id!r} moved to jobs_quarantine: {reason}", file=sys.stderr)

    def integrity_ok(self) -> bool:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


_FINISH_UPDATE = ("UPDATE jobs SET state=?, finished=?, finish_seq=?, result=?, worker_id=NULL, lease_expires=NULL "
                  "WHERE prompt_id=? AND state IN ('pending', 'running')")


def _job(row: tuple) -> QueuedJob:
    return QueuedJob(prompt_id=row[0], number=row[1], prompt=json.loads(row[2]), extra_data=json.loads(row[3]),
                     outputs=json.loads(row[4]), client_id=row[5], created=row[6], started=row[7],
                     attempts=row[8])

