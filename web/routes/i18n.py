"""``/i18n``: node names and descriptions for the official frontend's locale messages
(``{locale: {"nodeDefs": {class: {display_name, description}}}}``), in English, from the registry."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from web.server import PlexusServer


def node_messages(object_info: dict) -> dict:
    messages = {}
    for name, info in object_info.items():
        entry = {"display_name": info.get("display_name") or name}
        if info.get("description"):
            entry["description"] = info["description"]
        messages[name] = entry
    return messages


def i18n_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    async def i18n(request: web.Request) -> web.Response:
        object_info = server.registry.object_info(server.services)
        return web.json_response({"en": {"nodeDefs": node_messages(object_info)}})

    return [("GET", "/i18n", i18n)]
