"""The queue's history and job listings: read-only queries on the ``jobs`` table.

:class:`HistoryQueries` is mixed into :class:`~execution.jobs.queue.JobQueue`, which owns the
connection (``_db``) and its lock (``_lock``); these methods only read. They answer ComfyUI's
``/history`` (oldest first, the newest ``max_items``) and ``/api/jobs`` (summaries, filters, paging).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from typing import Iterable

from execution.jobs.job_outputs import reportable_error, summarize_outputs


def plain_number(number: float) -> float | int:
    """A queue number as ComfyUI shows it: an int when it is whole (SQLite stores them as REAL)."""
    return int(number) if float(number).is_integer() else number


def queue_item(number: float, prompt_id: str, prompt: dict, extra_data: dict, outputs: list[str]) -> list:
    """ComfyUI's queue tuple ``[number, prompt_id, prompt, extra_data, outputs]``."""
    return [plain_number(number), prompt_id, prompt, extra_data, outputs]


class HistoryQueries:
    _db: sqlite3.Connection
    _lock: threading.RLock

    def history(self, max_items: int | None = None, offset: int | None = None,
                prompt_id: str | None = None) -> dict[str, dict]:
        """ComfyUI's history dict, oldest first. Without an offset, the newest ``max_items``."""
        with self._lock:
            if prompt_id is not None:
                rows = self._db.execute(_HISTORY_SELECT + " AND prompt_id=?", (prompt_id,)).fetchall()
            else:
                total = self._db.execute("SELECT COUNT(*) FROM jobs WHERE finish_seq IS NOT NULL").fetchone()[0]
                start = offset if offset is not None and offset >= 0 else (
                    max(0, total - max_items) if max_items is not None else 0)
                limit = max_items if max_items is not None else -1
                rows = self._db.execute(_HISTORY_SELECT + " ORDER BY finish_seq LIMIT ? OFFSET ?",
                                        (limit, start)).fetchall()
        return {row[0]: _history_entry(row) for row in rows}

    def jobs(self, states: Iterable[str] | None = None, limit: int | None = None, offset: int = 0, *,
             workflow_id: str | None = None, by_duration: bool = False, ascending: bool = False
             ) -> tuple[list[dict], int]:
        """Jobs (pending, running, finished), newest first unless told, for ``/jobs``; and the total."""
        where, params = ["1=1"], []
        if states:
            states = list(states)
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += states
        if workflow_id is not None:
            where.append("json_extract(extra_data, '$.extra_pnginfo.workflow.id') = ?")
            params.append(workflow_id)
        condition = " AND ".join(where)
        direction = "ASC" if ascending else "DESC"
        order = f"(finished - started) {direction}, " if by_duration else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE {condition}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT prompt_id, number, state, created, started, finished, result, extra_data FROM jobs "
                f"WHERE {condition} ORDER BY {order}created {direction}, seq {direction} LIMIT ? OFFSET ?",
                (*params, limit if limit is not None else -1, max(0, offset))).fetchall()
        return [_job_summary(r) for r in rows], total

    def job(self, prompt_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT prompt_id, number, state, created, started, finished, result, extra_data, prompt, outputs "
                "FROM jobs WHERE prompt_id=?", (prompt_id,)).fetchone()
        if row is None:
            return None
        summary = _job_summary(row[:8])
        result = json.loads(row[6]) if row[6] else {}
        prompt, extra = json.loads(row[8]), json.loads(row[7]) if row[7] else {}
        summary.update(prompt=prompt, outputs_to_execute=json.loads(row[9]),
                       outputs=result.get("outputs", {}), messages=result.get("messages", []),
                       execution_error=result.get("error"),
                       workflow={"prompt": prompt, "extra_data": extra})
        return summary

    def recorded_outputs(self, prompt_id: str) -> dict | None:
        """A finished job's recorded outputs (node id -> ui); None while it is not finished."""
        with self._lock:
            row = self._db.execute("SELECT result FROM jobs WHERE prompt_id=? AND finish_seq IS NOT NULL",
                                   (prompt_id,)).fetchone()
        if row is None:
            return None
        outputs = (json.loads(row[0]) if row[0] else {}).get("outputs")
        return outputs if isinstance(outputs, dict) else {}


_HISTORY_SELECT = ("SELECT prompt_id, number, prompt, extra_data, outputs, state, result, created, started, finished "
                   "FROM jobs WHERE finish_seq IS NOT NULL")


def _history_entry(row: tuple) -> dict:
    prompt_id, number, prompt, extra_data, outputs, state, result_json, created, started, finished = row
    result = json.loads(result_json) if result_json else {}
    item = queue_item(number, prompt_id, json.loads(prompt), json.loads(extra_data), json.loads(outputs))
    return {
        "prompt": item,
        "outputs": result.get("outputs", {}),
        "status": {"status_str": "success" if state == "success" else "error",
                   "completed": state == "success", "messages": result.get("messages", [])},
        "meta": result.get("meta", {}),
    }


_JOB_STATUS = {"pending": "pending", "running": "in_progress", "success": "completed", "error": "failed",
               "interrupted": "cancelled"}
JOB_STATUS_TO_STATE = {v: k for k, v in _JOB_STATUS.items()}


def _job_summary(row: tuple) -> dict:
    prompt_id, number, state, created, started, finished, result_json, extra_json = row
    result = json.loads(result_json) if result_json else {}
    extra = json.loads(extra_json) if extra_json else {}
    workflow = (extra.get("extra_pnginfo") or {}).get("workflow") if isinstance(extra, dict) else None
    summary = {
        "id": prompt_id,
        "status": _JOB_STATUS.get(state, state),
        "priority": plain_number(number),
        "create_time": int(created * 1000),
        "execution_start_time": int(started * 1000) if started else None,
        "execution_end_time": int(finished * 1000) if finished else None,
        "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
    }
    summary.update(summarize_outputs(result.get("outputs", {})))
    error = reportable_error(result.get("error"))
    if error is not None:
        summary["execution_error"] = error
    return summary
