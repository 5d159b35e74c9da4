"""``/internal/logs`` (the buffered console as one string), ``/internal/logs/raw`` (entries and
terminal size) and ``PATCH /internal/logs/subscribe`` (``{clientId, enabled}``: push new entries to
that websocket client as ``logs`` events)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from web.errors import is_loopback_peer
from web.json_body import read_json

if TYPE_CHECKING:
    from web.server import PlexusServer


def logs_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    logs = server.logs

    def entries_for(request: web.Request) -> list[dict]:
        entries = logs.snapshot()
        if server.verbose_errors or is_loopback_peer(request):
            return entries
        return server.redactor.log_entries(entries)  # no tracebacks or local paths for remote clients

    async def joined(request: web.Request) -> web.Response:
        return web.json_response("".join(f"{e['t']} - {e['m']}" for e in entries_for(request)))

    async def raw(request: web.Request) -> web.Response:
        return web.json_response({"entries": entries_for(request), "size": logs.terminal_size()})

    async def subscribe(request: web.Request) -> web.Response:
        body = await read_json(request)
        client_id = body.get("clientId") if isinstance(body, dict) else None
        if not isinstance(client_id, str) or not client_id:
            return web.json_response({"error": "clientId is required"}, status=400)
        logs.subscribe(client_id, bool(body.get("enabled")))
        return web.Response(status=200)

    return [("GET", "/internal/logs", joined), ("GET", "/internal/logs/raw", raw),
            ("PATCH", "/internal/logs/subscribe", subscribe)]
