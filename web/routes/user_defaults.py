"""User files the official ComfyUI frontend reads at start-up, answered with their empty value
when the user has none (a missing file means "nothing customised", not an error):
``/user.css`` and ``/userdata/user.css`` (no CSS), ``/userdata/comfy.templates.json`` (no saved
node templates). The user's own file, when it exists, is served as is. The ``workflows`` and
``subgraphs`` folders the frontend lists are created with the user's folder."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from web.security import confine

if TYPE_CHECKING:
    from web.server import PlexusServer

DEFAULT_USER = "default"
EMPTY_VALUES = {"user.css": ("", "text/css"), "comfy.templates.json": ("[]", "application/json")}
LISTED_FOLDERS = ("workflows", "subgraphs")


def prepare_user_storage(user_root: Path) -> None:
    for name in LISTED_FOLDERS:
        (Path(user_root) / DEFAULT_USER / name).mkdir(parents=True, exist_ok=True)


def user_defaults_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    user_root = Path(server.services.paths.user_dir)

    def file_or_empty(name: str) -> web.StreamResponse:
        path = confine(user_root, DEFAULT_USER, name)
        body, content_type = EMPTY_VALUES[name]
        if path.is_file():
            return web.FileResponse(path, headers={"Content-Type": content_type, "X-Content-Type-Options": "nosniff"})
        return web.Response(text=body, content_type=content_type)

    async def user_css(request: web.Request) -> web.StreamResponse:
        return file_or_empty("user.css")

    async def saved_node_templates(request: web.Request) -> web.StreamResponse:
        return file_or_empty("comfy.templates.json")

    return [("GET", "/user.css", user_css), ("GET", "/userdata/user.css", user_css),
            ("GET", "/userdata/comfy.templates.json", saved_node_templates)]
