"""Static files: the editor page, its scripts, the canvas library and plugin web folders.

The Plexus editor is always at ``/plexus/`` (its URLs are relative, so every route is also served
under that prefix); ``/`` is whichever frontend the server was started with (``web/frontends/``).

Each is confined to its folder (symlinks resolved). JavaScript is served as
``application/javascript`` (browsers refuse modules of another type).
"""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from web.security import confine

if TYPE_CHECKING:
    from web.server import PlexusServer

WEB_ROOT = Path(__file__).resolve().parents[1]
EDITOR_DIR = WEB_ROOT / "editor"
LITEGRAPH_DIR = WEB_ROOT / "node_modules" / "@comfyorg" / "litegraph" / "dist"
CONTENT_TYPES = {".js": "application/javascript", ".mjs": "application/javascript", ".css": "text/css",
                 ".html": "text/html", ".json": "application/json", ".svg": "image/svg+xml",
                 ".map": "application/json", ".wasm": "application/wasm"}

FALLBACK_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Plexus</title></head>
<body><h1>Plexus</h1><p>The server is running; the editor is not installed in <code>web/editor/</code>.</p>
<p>API: <a href="/object_info">/object_info</a>, <a href="/queue">/queue</a>, <a href="/history">/history</a>,
<a href="/system_stats">/system_stats</a>.</p></body></html>"""


def serve_file(root: Path, relative: str) -> web.FileResponse:
    path = confine(root, relative)
    if not path.is_file():
        raise web.HTTPNotFound()
    content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] \
        or "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-cache",
                                           "X-Content-Type-Options": "nosniff"})


async def editor_index(request: web.Request) -> web.StreamResponse:
    if (EDITOR_DIR / "index.html").is_file():
        return serve_file(EDITOR_DIR, "index.html")
    return web.Response(text=FALLBACK_PAGE, content_type="text/html")


# Loaded by the official frontend only (it no-ops elsewhere): Plexus's extras shown there.
OFFICIAL_FRONTEND_EXTENSION_DIR = WEB_ROOT / "official_frontend"
OFFICIAL_FRONTEND_EXTENSION = "plexus-extras"


def static_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    async def plexus_redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/plexus/" + (f"?{request.query_string}" if request.query_string else ""))

    async def editor(request: web.Request) -> web.StreamResponse:
        return serve_file(EDITOR_DIR, request.match_info["path"])

    async def litegraph(request: web.Request) -> web.StreamResponse:
        return serve_file(LITEGRAPH_DIR, request.match_info["path"])

    async def extension(request: web.Request) -> web.StreamResponse:
        pack_name, relative = request.match_info["pack"], request.match_info["path"]
        if pack_name == OFFICIAL_FRONTEND_EXTENSION:
            return serve_file(OFFICIAL_FRONTEND_EXTENSION_DIR, relative)
        folders = getattr(server.plugin_report, "web_directories", None)
        folder = folders().get(pack_name) if callable(folders) else None  # incl. nodes.EXTENSION_WEB_DIRS
        if folder is not None:
            return serve_file(Path(folder), relative)
        for pack in getattr(server.plugin_report, "packs", None) or []:
            if pack.name == pack_name and getattr(pack, "web_dir", None):
                return serve_file(Path(pack.web_dir), relative)
        site_root = getattr(server.frontend, "root", None)  # the site's own extensions/core/...
        if site_root is not None:
            return serve_file(site_root, f"extensions/{pack_name}/{relative}")
        raise web.HTTPNotFound()

    async def editor_compat_script(request: web.Request) -> web.StreamResponse:
        # "../../scripts/app.js" from an extension under /plexus/extensions/ (the import map only
        # covers /scripts/); the compat modules read the editor's globals, so any URL serves.
        return serve_file(EDITOR_DIR / "compat", request.match_info["name"])

    routes = [("GET", "/plexus", plexus_redirect),
              ("GET", "/plexus/scripts/{name:(app|api)\\.js}", editor_compat_script)]
    for prefix in ("", "/plexus"):
        routes.append(("GET", f"{prefix}/extensions/{{pack}}/{{path:.+}}", extension))
    for prefix in ("", "/plexus"):
        routes += [("GET", f"{prefix}/editor/{{path:.+}}", editor),
                   ("GET", f"{prefix}/lib/litegraph/{{path:.+}}", litegraph)]
    return routes + [("GET", "/plexus/", editor_index)]
