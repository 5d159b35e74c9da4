"""ComfyUI's classic frontend module paths, for pack web extensions written the ComfyUI way.

Extensions import ``import { app } from "../../scripts/app.js"`` (also ``api.js``, ``widgets.js``,
``ui.js``, ``utils.js``). The editor page maps those URLs to ``web/editor/compat/*.js`` with an
import map; these routes answer the same URLs for any other loader with a module that re-exports
the editor's (``app``/``ComfyApp``, ``api``/``ComfyApi``, ``ComfyWidgets``, ``addValueControlWidget(s)``,
``$el``, ``ComfyDialog``, ``addStylesheet``, ``applyTextReplacements``, ``clone``...).
"""
from __future__ import annotations

from typing import Any

CLASSIC_MODULES = ("app", "api", "widgets", "ui", "utils")
SCRIPTS = {f"/scripts/{name}.js": f'// Plexus: ComfyUI\'s scripts/{name}.js for pack extensions\n'
                                   f'export * from "/editor/compat/{name}.js";\n'
           for name in CLASSIC_MODULES}


def _registered_paths(routes: Any) -> set[str]:
    paths = set()
    for route in routes:
        path = route[1] if isinstance(route, tuple) else getattr(route, "path", None)
        if path:
            paths.add(path)
    return paths


def add_routes(server: Any) -> None:
    """Register the module routes on the server's plugin route table (once per table). A static
    site at ``/`` (ComfyUI's official frontend) serves its own ``/scripts/*.js``: nothing is added."""
    frontend = getattr(server, "frontend", None)
    if frontend is not None and getattr(frontend, "name", "plexus") != "plexus":
        return
    routes = server.routes
    present = _registered_paths(routes)
    for path, source in SCRIPTS.items():
        if path in present:
            continue

        async def serve(_request: Any, source: str = source) -> Any:
            from aiohttp import web

            return web.Response(text=source, content_type="application/javascript",
                                headers={"Cache-Control": "no-cache"})

        routes.get(path)(serve)
