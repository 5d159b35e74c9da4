"""``/jobs``: the queue and history as one list of jobs (what ComfyUI's official frontend reads for
its Job Queue and Media Assets panels), one job's detail, and cancelling jobs.

Bad query values are a 400 with ``{"error": ...}``; ``pagination.limit`` is always a number.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from execution.jobs.history import JOB_STATUS_TO_STATE
from web.errors import is_loopback_peer
from web.json_body import read_json

if TYPE_CHECKING:
    from web.server import PlexusServer

MAX_JOB_IDS = 100
SORT_KEYS = ("created_at", "execution_duration")


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _non_negative(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise web.HTTPBadRequest(text=f'{{"error": "{name} must be a non-negative integer"}}',
                                 content_type="application/json")
    return int(value)


def jobs_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    queue = server.queue

    async def list_jobs(request: web.Request) -> web.Response:
        query = request.query
        statuses = [s.strip() for s in query.get("status", "").split(",") if s.strip()]
        unknown = [s for s in statuses if s not in JOB_STATUS_TO_STATE]
        if unknown:
            return _error(f"unknown status {unknown[0]!r}; use one of {sorted(JOB_STATUS_TO_STATE)}")
        sort_by = query.get("sort_by", "created_at")
        sort_order = query.get("sort_order", "desc")
        if sort_by not in SORT_KEYS or sort_order not in ("asc", "desc"):
            return _error(f"sort_by must be one of {list(SORT_KEYS)} and sort_order asc or desc")
        limit, offset = _non_negative(request, "limit"), _non_negative(request, "offset") or 0
        ids = [i for i in query.get("ids", "").split(",") if i]
        if len(ids) > MAX_JOB_IDS:
            return _error(f"at most {MAX_JOB_IDS} ids")
        jobs, total = queue.jobs([JOB_STATUS_TO_STATE[s] for s in statuses], None if ids else limit,
                                 0 if ids else offset, workflow_id=query.get("workflow_id") or None,
                                 by_duration=sort_by == "execution_duration", ascending=sort_order == "asc")
        if ids:  # a handful of known jobs: filter, then page
            wanted = set(ids)
            matching = [job for job in jobs if job["id"] in wanted]
            total = len(matching)
            jobs = matching[offset:offset + limit if limit is not None else None]
        return web.json_response({"jobs": jobs, "pagination": {
            "offset": offset, "limit": limit if limit is not None else total, "total": total,
            "has_more": offset + len(jobs) < total}})

    async def get_job(request: web.Request) -> web.Response:
        job = queue.job(request.match_info["job_id"])
        if job is None:
            return _error("Job not found", status=404)
        if not (server.verbose_errors or is_loopback_peer(request)):
            job = server.redactor.job(job)  # no tracebacks or local paths for remote clients
        try:
            return web.json_response(job, dumps=lambda value: json.dumps(value, allow_nan=False))
        except (RecursionError, ValueError) as exc:  # a row stored before the depth limit
            queue.quarantine(job["id"], f"stored job cannot be serialised: {type(exc).__name__}")
            return _error("Job not found", status=404)

    def cancel(job_ids: list[str]) -> bool:
        running = set(server.pool.running_ids())
        cancelled = False
        for job_id in job_ids:
            if job_id in running:
                cancelled = server.pool.interrupt(job_id) or cancelled
        if queue.delete_pending(i for i in job_ids if i not in running):
            cancelled = True
            server.queue_changed()
        return cancelled

    async def cancel_one(request: web.Request) -> web.Response:
        return web.json_response({"cancelled": cancel([request.match_info["job_id"]])})

    async def cancel_many(request: web.Request) -> web.Response:
        body = await read_json(request)
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list) or not all(isinstance(i, str) and i for i in job_ids):
            return _error("job_ids must be a list of job ids")
        return web.json_response({"cancelled": cancel(job_ids)})

    return [("GET", "/jobs", list_jobs), ("POST", "/jobs/cancel", cancel_many),
            ("GET", "/jobs/{job_id}", get_job), ("POST", "/jobs/{job_id}/cancel", cancel_one)]
