"""``/internal/logs`` (the buffered console as one string), ``/internal/logs/raw`` (entries and
terminal size) and ``PATCH /internal/logs/subscribe`` (``{clientId, enabled}``: push new entries to
that websocket client as ``logs`` events)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from web.server import PlexusServer


def logs_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    logs = server.logs

    async def joined(request: web.Request) -> web.Response:
        return web.json_response("".join(f"{e['t']} - {e['m']}" for e in logs.snapshot()))

    async def raw(request: web.Request) -> web.Response:
        return web.json_response({"entries": logs.snapshot(), "size": logs.terminal_size()})

    async def subscribe(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        client_id = body.get("clientId") if isinstance(body, dict) else None
        if not isinstance(client_id, str) or not client_id:
            return web.json_response({"error": "clientId is required"}, status=400)
        logs.subscribe(client_id, bool(body.get("enabled")))
        return web.Response(status=200)

    return [("GET", "/internal/logs", joined), ("GET", "/internal/logs/raw", raw),
            ("PATCH", "/internal/logs/subscribe", subscribe)]
