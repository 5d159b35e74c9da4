"""What a client sees when something goes wrong, and what it never sees.

- Every 4xx is answered in ComfyUI's error shape (``{"error": {type, message, details,
  extra_info}, "node_errors": {}}``), whatever raised it.
- An unexpected exception is logged with its traceback on the server and answered with a 500 in
  the same shape; the traceback goes to the client only when it is on loopback or with
  ``--verbose-errors``. The fuzz tests hold the server to zero of them.
- Secrets are redacted where they are echoed (``--auth-token`` in ``/system_stats``' ``argv``),
  and tracebacks and this machine's absolute paths are removed from the execution errors that
  ``/history``, ``/jobs`` and the websocket show to remote clients, and from the console lines
  that ``/internal/logs`` shows them.
"""
from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any, Awaitable, Callable, Iterable

from aiohttp import web

from web.json_body import error_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECRET_FLAGS = ("--auth-token",)
_ERROR_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "request_too_large"}


def is_loopback_peer(request: web.Request) -> bool:
    from web.security import is_loopback_host

    return bool(request.remote) and is_loopback_host(request.remote or "")


def error_middleware(verbose_errors: bool = False):
    @web.middleware
    async def shape_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json":
                raise
            kind = _ERROR_TYPES.get(exc.status, "http_error")
            headers = {k: v for k, v in exc.headers.items() if k not in ("Content-Type", "Content-Length")}
            return web.json_response(error_body(kind, exc.text or exc.reason), status=exc.status, headers=headers)
        except OSError as exc:
            if exc.errno in (errno.ENAMETOOLONG, errno.EILSEQ):  # a name the file system refuses
                return web.json_response(error_body("bad_request", "invalid file name",
                                                    os.strerror(exc.errno)), status=400)
            return _server_error(request, exc, verbose_errors)
        except Exception as exc:  # noqa: BLE001 - logged; the server keeps running
            return _server_error(request, exc, verbose_errors)

    return shape_errors


def _server_error(request: web.Request, exc: BaseException, verbose_errors: bool) -> web.Response:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    print(f"[plexus] {request.method} {request.path}: unexpected error\n{''.join(lines)}",
          file=sys.stderr, flush=True)
    details = "".join(lines) if verbose_errors or is_loopback_peer(request) else type(exc).__name__
    return web.json_response(error_body("server_error", "Internal server error", details), status=500)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """``argv`` with the values of secret flags replaced."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            redacted.append("<redacted>")
            hide_next = False
            continue
        flag, equals, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            redacted.append(f"{flag}=<redacted>" if equals else arg)
            hide_next = not equals
        else:
            redacted.append(arg)
    return redacted


class ErrorRedactor:
    """Removes tracebacks and local absolute paths from execution errors shown to a remote client."""

    def __init__(self, roots: Iterable[str]) -> None:
        # Longest first, so a folder inside another is replaced by its own name.
        self.roots = sorted({str(r) for r in roots if r and len(str(r)) > 1}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for root in self.roots:
            if root in value:
                value = value.replace(root, "<server>")
        return value

    def error(self, data: Any) -> Any:
        """One ``execution_error`` payload (a dict), redacted; anything else unchanged."""
        if not isinstance(data, dict):
            return data
        cleaned = dict(data)
        if "traceback" in cleaned:
            cleaned["traceback"] = []
        for key in ("exception_message", "reason", "message"):
            if isinstance(cleaned.get(key), str):
                cleaned[key] = self.text(cleaned[key])
        return cleaned

    def messages(self, messages: Any) -> Any:
        """A history ``messages`` list (``[[type, data], ...]``) with its errors redacted."""
        if not isinstance(messages, list):
            return messages
        return [[m[0], self.error(m[1])] if isinstance(m, list) and len(m) == 2 and m[0] == "execution_error"
                else m for m in messages]

    def history(self, history: dict) -> dict:
        for entry in history.values():
            status = entry.get("status") if isinstance(entry, dict) else None
            if isinstance(status, dict):
                status["messages"] = self.messages(status.get("messages"))
        return history

    def log_entries(self, entries: list[dict]) -> list[dict]:
        """Console entries (``{"t", "m"}``) without tracebacks, local paths replaced."""
        return [dict(e, m=self.text(str(e.get("m", "")))) for e in entries
                if "Traceback (most recent call last)" not in str(e.get("m", ""))]

    def job(self, job: dict) -> dict:
        job["messages"] = self.messages(job.get("messages"))
        job["execution_error"] = self.error(job.get("execution_error"))
        return job
