"""The Plexus editor as the frontend at ``/`` (the default)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

PLEXUS_EDITOR_VERSION = ""  # served from this checkout; no separate release number


class PlexusEditor:
    name = "plexus"
    version = PLEXUS_EDITOR_VERSION

    def root_routes(self) -> list[tuple[str, str, Any]]:
        from web.routes.static import editor_index

        return [("GET", "/", editor_index)]
