"""ComfyUI's frontend module paths, for pack web extensions written the ComfyUI way.

Extensions import ``app`` and ``api`` with ``import { app } from "../../scripts/app.js"``; these
tiny ES modules re-export Plexus's editor objects (``window.app``, ``window.app.api``: an
EventTarget with ``fetchApi`` and the websocket events as ``CustomEvent``s, as ComfyUI's is).
Other ComfyUI frontend modules (``widgets.js``, ``ui.js``...) are not provided.
"""
from __future__ import annotations

from typing import Any

SCRIPTS = {
    "/scripts/app.js": "// Plexus: ComfyUI's app module for pack extensions\n"
                       "export const app = window.app;\nexport default app;\n",
    "/scripts/api.js": "// Plexus: ComfyUI's api module for pack extensions\n"
                       "export const api = window.app?.api;\nexport default api;\n",
}


def _registered_paths(routes: Any) -> set[str]:
    paths = set()
    for route in routes:
        path = route[1] if isinstance(route, tuple) else getattr(route, "path", None)
        if path:
            paths.add(path)
    return paths


def add_routes(routes: Any) -> None:
    """Register the module routes on the server's plugin route table (once per table)."""
    present = _registered_paths(routes)
    for path, source in SCRIPTS.items():
        if path in present:
            continue

        async def serve(_request: Any, source: str = source) -> Any:
            from aiohttp import web

            return web.Response(text=source, content_type="application/javascript",
                                headers={"Cache-Control": "no-cache"})

        routes.get(path)(serve)
